"""A trained run's model with the tokenizers it was trained with, for translating new sentences."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from lsbook.data.text import EOS_ID, PAD_ID, Tokenizer, pad_batch
from lsbook.errors import LsbookError, StoreError
from lsbook.models import build
from lsbook.runtime import default_runs_root, read_checkpoint
from lsbook.store import Record
from lsbook.translation.corpus import check_fingerprints, load_tokenizers
from lsbook.translation.decoding import translate
from lsbook.translation.settings import TranslationSettings


@dataclass
class Translator:
    """A trained run's model with the very tokenizers it was trained with."""

    model: torch.nn.Module
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer
    settings: TranslationSettings

    def translate(self, sentences: list[str], *, beam_size: int | None = None, temperature: float = 1.0) -> list[str]:
        """Detokenised translations of raw source ``sentences``."""
        if not sentences:
            raise LsbookError("sentences must not be empty")
        device = next(self.model.parameters()).device
        src = pad_batch([self.source_tokenizer.encode(s) + [EOS_ID] for s in sentences]).to(device)
        ids = translate(self.model, [src], beam_size=beam_size or self.settings.beam_size,
                        length_penalty=self.settings.length_penalty, temperature=temperature,
                        max_len_a=self.settings.max_len_a, max_len_b=self.settings.max_len_b)
        return [self.target_tokenizer.decode(i) for i in ids]


def stored_transformer(record: Record) -> torch.nn.Module:
    """A fresh Transformer of the size ``record``'s run trained: the vocabularies of the tokenizers
    it trained with (its metrics' ``tokenizers``), not the config's requested size (byte-level BPE
    may learn fewer merges)."""
    tokenizers = record.metrics.get("tokenizers")
    sizes = {}
    for role in ("source", "target"):
        entry = tokenizers.get(role) if isinstance(tokenizers, dict) else None
        size = entry.get("vocab_size") if isinstance(entry, dict) else None
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise StoreError(f"run {record.key} ({record.path}): cannot rebuild its Transformer, the record "
                             f"lacks metrics['tokenizers']['{role}']['vocab_size']; use "
                             "load_translator(record) instead")
        sizes[role] = size
    return build("transformer", sizes["target"], src_vocab=sizes["source"], pad_id=PAD_ID,
                 **record.recipe.model_kwargs)


def load_translator(record: Record, *, tokenizers: tuple[Tokenizer, Tokenizer] | None = None,
                    runs_root: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Translator:
    """The model of a finished run (from its final local checkpoint) with matching tokenizers.

    ``tokenizers`` (source, target) default to those saved beside the checkpoint; tokenizers that
    are not the ones the model was trained with (fingerprints) are refused with LsbookError.
    """
    run_dir = (Path(runs_root) if runs_root is not None else default_runs_root()) / record.key
    settings = TranslationSettings(**{k: (tuple(v) if isinstance(v, list) else v)
                                      for k, v in record.config["translation"].items()})
    checkpoint = read_checkpoint(run_dir / "checkpoint.pt", key=record.key)
    recipe = record.recipe
    if checkpoint is None or checkpoint["epoch"] != recipe.epochs:
        raise LsbookError(f"run {record.key} has no finished checkpoint in {run_dir}; its weights are kept "
                          "only where it was trained (rerun it there, or train it here)")
    if tokenizers is None:
        tokenizers = load_tokenizers(run_dir, settings.source, settings.target)
    expected = {role: record.metrics["tokenizers"][role]["fingerprint"] for role in ("source", "target")}
    check_fingerprints(expected, *tokenizers, where=f"run {record.key}")
    model = build("transformer", tokenizers[1].vocab_size, src_vocab=tokenizers[0].vocab_size, pad_id=PAD_ID,
                  **recipe.model_kwargs)
    model.load_state_dict(checkpoint["model"])
    return Translator(model.to(device).eval(), tokenizers[0], tokenizers[1], settings)
