"""The parallel corpus of a translation run: raw sentence pairs, one tokenizer per language, token ids.

The replication's code swapped the English and German tokenizers (a fault we do not repeat); here
the source tokenizer is trained on the source side of the *training* pairs only and the target
tokenizer on the target side, each labelled with its language, and :func:`check_fingerprints`
refuses tokenizers that are not the ones a stored model was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lsbook.data.text import (Tokenizer, check_language_pair, encode_pairs, load_multi30k,
                              train_tokenizers)
from lsbook.errors import LsbookError
from lsbook.validation import check_positive_int

SPLITS = ("train", "val", "test")
SUBSET_SEED = 20231101  # which sentence pairs a profile's subset keeps: fixed, not the run's seed

Pairs = list[tuple[str, str]]
IdPairs = list[tuple[list[int], list[int]]]


@dataclass
class TranslationCorpus:
    """Raw (source, target) pairs and their token ids for train/val/test, with both tokenizers."""

    source: str                  # source language, e.g. "en"
    target: str                  # target language, e.g. "de"
    raw: dict[str, Pairs]        # split -> [(source sentence, target sentence)], untouched text
    ids: dict[str, IdPairs]      # split -> [(source ids, target ids)] without specials
    source_tokenizer: Tokenizer  # trained on raw["train"] source sentences only
    target_tokenizer: Tokenizer  # trained on raw["train"] target sentences only

    @property
    def fingerprints(self) -> dict[str, str]:
        """{"source": ..., "target": ...}: what a model trained on this corpus must be used with."""
        return {"source": self.source_tokenizer.fingerprint, "target": self.target_tokenizer.fingerprint}

    def references(self, split: str) -> list[str]:
        """The raw target sentences of ``split`` (BLEU compares detokenised output with these)."""
        return [target for _, target in self.raw[split]]

    def save_tokenizers(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.source_tokenizer.save(folder / f"tokenizer.{self.source}.json")
        self.target_tokenizer.save(folder / f"tokenizer.{self.target}.json")


def check_pairs(pairs: Mapping[str, Sequence[tuple[str, str]]]) -> dict[str, Pairs]:
    """Every split present and non-empty, every item a pair of strings."""
    checked = {}
    for split in SPLITS:
        if split not in pairs:
            raise LsbookError(f"sentence pairs for split {split!r} are missing; need {', '.join(SPLITS)}")
        items = list(pairs[split])
        if not items:
            raise LsbookError(f"the {split} sentence list is empty; every split needs at least one pair")
        for item in items[:1] + items[-1:]:
            if not (isinstance(item, (tuple, list)) and len(item) == 2
                    and all(isinstance(s, str) for s in item)):
                raise LsbookError(f"{split} pairs must be (source, target) strings, got {item!r}")
        checked[split] = [(s, t) for s, t in items]
    return checked


def subset(pairs: Pairs, size: int | None, salt: int = 0) -> Pairs:
    """A fixed random subset of ``size`` pairs in their original order (all of them if None)."""
    if size is None or size >= len(pairs):
        return list(pairs)
    generator = torch.Generator().manual_seed(SUBSET_SEED + salt)
    keep = sorted(torch.randperm(len(pairs), generator=generator)[:size].tolist())
    return [pairs[i] for i in keep]


def build_corpus(pairs: Mapping[str, Sequence[tuple[str, str]]], vocab_size: int, *, source: str = "en",
                 target: str = "de", tokenizers: tuple[Tokenizer, Tokenizer] | None = None) -> TranslationCorpus:
    """Tokenize ``pairs`` (split -> pairs); trains both tokenizers on the training split unless given.

    Given ``tokenizers`` (source, target) must be labelled with the source and target languages.
    """
    check_language_pair(source, target)
    raw = check_pairs(pairs)
    vocab_size = check_positive_int(vocab_size, "vocab_size")
    if tokenizers is None:
        source_tokenizer, target_tokenizer = train_tokenizers(raw["train"], vocab_size, source=source, target=target)
    else:
        source_tokenizer, target_tokenizer = tokenizers
    ids = {split: encode_pairs(raw[split], source_tokenizer, target_tokenizer, source=source, target=target)
           for split in SPLITS}
    for split in SPLITS:
        empty = sum(1 for src, _ in ids[split] if not src)
        if empty == len(ids[split]):
            raise LsbookError(f"every {split} source sentence is empty after tokenization")
    return TranslationCorpus(source, target, raw, ids, source_tokenizer, target_tokenizer)


def load_corpus(vocab_size: int, *, source: str = "en", target: str = "de", root: Path | str | None = None,
                subsets: Mapping[str, int | None] | None = None,
                tokenizers: tuple[Tokenizer, Tokenizer] | None = None) -> TranslationCorpus:
    """Multi30k (lsbook.data.text) for ``source``→``target``, optionally subsetted per split."""
    check_language_pair(source, target)
    splits = load_multi30k(root, source=source, target=target)
    subsets = dict(subsets or {})
    chosen = {split: subset(splits[split], subsets.get(split), salt) for salt, split in enumerate(SPLITS)}
    return build_corpus(chosen, vocab_size, source=source, target=target, tokenizers=tokenizers)


def check_fingerprints(expected: Mapping[str, str], source_tokenizer: Tokenizer, target_tokenizer: Tokenizer,
                       where: str = "the stored model") -> None:
    """LsbookError unless the tokenizers are exactly those ``expected`` (a model's fingerprints)."""
    actual = {"source": source_tokenizer.fingerprint, "target": target_tokenizer.fingerprint}
    for role in ("source", "target"):
        if expected.get(role) != actual[role]:
            raise LsbookError(
                f"{role} tokenizer (fingerprint {actual[role]}) does not match {where} "
                f"(fingerprint {expected.get(role)}); use the tokenizers saved with it")


def load_tokenizers(folder: Path, source: str, target: str) -> tuple[Tokenizer, Tokenizer]:
    """The (source, target) tokenizers saved by :meth:`TranslationCorpus.save_tokenizers`."""
    return (Tokenizer.load(folder / f"tokenizer.{source}.json"),
            Tokenizer.load(folder / f"tokenizer.{target}.json"))
