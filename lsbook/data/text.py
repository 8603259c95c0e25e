"""Multi30k (en→de) for the Transformer of Section 5: sentences, tokenizers, length-bucketed batches.

- :func:`load_multi30k` reads the task-1 raw files (train 29,000 / val 1,014 /
  test_2016_flickr 1,000 pairs) after checking their sha256, as (source, target) pairs.
- :class:`Tokenizer` is a byte-level BPE (Hugging Face ``tokenizers``) trained on the *training*
  split only, one per language: English and German have separate vocabularies, as the encoder
  and decoder of the replication's PyTorch model have separate embeddings. Byte-level BPE with no
  normaliser makes ``decode(encode(s)) == s`` exact, so BLEU (sacrebleu) compares detokenised text
  with the raw references — the replication compared differently tokenised strings. Each
  tokenizer knows its language, and :func:`encode_pairs` refuses a swapped pair (the
  replication swapped the EN and DE tokenizers).
- :func:`bucket_batches` groups pairs of similar length into padded LongTensor batches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch

from lsbook.data.roots import require
from lsbook.data.verify import Verifier
from lsbook.errors import DataCorruptError, LsbookError
from lsbook.validation import check_positive_int

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")  # ids 0..3, in this order
LANGUAGES = ("en", "de")
SPLIT_FILES = {"train": "train", "val": "val", "test": "test_2016_flickr"}
DEFAULT_VOCAB_SIZE = 8000  # per language; BPE merges learned on 29k sentences


def check_language_pair(source: str, target: str) -> None:
    """Multi30k task 1 offers en and de; the pair must be two different ones of them."""
    if source not in LANGUAGES or target not in LANGUAGES or source == target:
        raise LsbookError(
            f"language pair {source}->{target} is not available; Multi30k here has en->de (or de->en)")


def read_lines(verifier: Verifier, relative: str) -> list[str]:
    """The sentences of one gzip'd file, one per line, exactly as written (newline removed)."""
    path = verifier.folder / relative
    try:
        text = verifier.read_gz(relative).decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataCorruptError(f"{path}: not UTF-8 text ({error})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def load_multi30k(root: Path | str | None = None, *, source: str = "en",
                  target: str = "de") -> dict[str, list[tuple[str, str]]]:
    """{"train", "val", "test"} -> [(source sentence, target sentence)], raw text, checked files."""
    check_language_pair(source, target)
    folder = require("multi30k", root)
    verifier = Verifier("multi30k", folder)
    splits = {}
    for split, stem in SPLIT_FILES.items():
        src = read_lines(verifier, f"{stem}.{source}.gz")
        tgt = read_lines(verifier, f"{stem}.{target}.gz")
        if len(src) != len(tgt):
            raise DataCorruptError(
                f"{folder / f'{stem}.{source}.gz'}: {len(src)} lines but {stem}.{target}.gz has {len(tgt)}")
        splits[split] = list(zip(src, tgt))
    return splits


class Tokenizer:
    """Byte-level BPE for one language; specials <pad>=0, <bos>=1, <eos>=2, <unk>=3."""

    def __init__(self, backend, language: str | None = None):
        self._backend = backend      # tokenizers.Tokenizer
        self.language = language     # "en", "de" or None (unspecified)

    @classmethod
    def train(cls, sentences: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE, *,
              language: str | None = None, min_frequency: int = 2) -> "Tokenizer":
        """Learn merges from ``sentences`` (pass the training split only)."""
        from tokenizers import Tokenizer as Backend, decoders, models, pre_tokenizers, trainers

        sentences = list(sentences)
        if not sentences:
            raise LsbookError("sentences must not be empty (train the tokenizer on the training split)")
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        check_positive_int(vocab_size, "vocab_size", minimum=len(alphabet) + len(SPECIAL_TOKENS))
        if language is not None and language not in LANGUAGES:
            raise LsbookError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        backend = Backend(models.BPE(unk_token="<unk>"))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(SPECIAL_TOKENS),
                                      initial_alphabet=alphabet, show_progress=False)
        backend.train_from_iterator(sentences, trainer=trainer, length=len(sentences))
        return cls(backend, language)

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size()

    @property
    def fingerprint(self) -> str:
        """sha256 (16 hex) of the language and the full tokenizer definition: part of a run's key."""
        text = json.dumps({"language": self.language, "tokenizer": self._backend.to_str()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def encode(self, sentence: str) -> list[int]:
        """Token ids of a sentence, without <bos>/<eos>."""
        return self._backend.encode(sentence, add_special_tokens=False).ids

    def encode_many(self, sentences: Sequence[str]) -> list[list[int]]:
        """encode() of many sentences at once (parallel in the backend)."""
        return [e.ids for e in self._backend.encode_batch(list(sentences), add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: a leading <bos> is skipped, decoding stops at the first <eos>,
        <pad> and <unk> are dropped. For ids from :meth:`encode`, decode(encode(s)) == s."""
        ids = [int(i) for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids)]
        if EOS_ID in ids:
            ids = ids[:ids.index(EOS_ID)]
        ids = [i for i in ids if i > UNK_ID]
        return self._backend.decode(ids, skip_special_tokens=False)

    def save(self, path: Path | str) -> None:
        """Write the tokenizer (and its language) as one JSON file, atomically."""
        path = Path(path)
        payload = json.dumps({"format": "lsbook-tokenizer-1", "language": self.language,
                              "tokenizer": json.loads(self._backend.to_str())})
        temporary = path.with_name(f".{path.name}.partial")
        temporary.write_text(payload)
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path | str) -> "Tokenizer":
        from tokenizers import Tokenizer as Backend

        path = Path(path)
        try:
            payload = json.loads(path.read_text())
            backend = Backend.from_str(json.dumps(payload["tokenizer"]))
        except Exception as error:  # missing file, bad JSON, not a tokenizer
            raise LsbookError(f"{path}: not a saved lsbook tokenizer ({error})") from None
        return cls(backend, payload.get("language"))

    def __repr__(self) -> str:
        return f"Tokenizer(language={self.language!r}, vocab_size={self.vocab_size}, fingerprint={self.fingerprint!r})"


def train_tokenizers(train_pairs: Sequence[tuple[str, str]], vocab_size: int = DEFAULT_VOCAB_SIZE, *,
                     source: str = "en", target: str = "de") -> tuple[Tokenizer, Tokenizer]:
    """(source tokenizer, target tokenizer), each trained on its side of the training pairs."""
    check_language_pair(source, target)
    return (Tokenizer.train([s for s, _ in train_pairs], vocab_size, language=source),
            Tokenizer.train([t for _, t in train_pairs], vocab_size, language=target))


def encode_pairs(pairs: Sequence[tuple[str, str]], source_tokenizer: Tokenizer, target_tokenizer: Tokenizer,
                 *, source: str = "en", target: str = "de") -> list[tuple[list[int], list[int]]]:
    """Token ids of (source, target) pairs; LsbookError if the tokenizers' languages are swapped."""
    check_language_pair(source, target)
    for tokenizer, language, role in ((source_tokenizer, source, "source"), (target_tokenizer, target, "target")):
        if tokenizer.language not in (None, language):
            raise LsbookError(
                f"{role} tokenizer is for {tokenizer.language!r} but the {role} language is {language!r}; "
                f"are the tokenizers swapped?")
    src = source_tokenizer.encode_many([s for s, _ in pairs])
    tgt = target_tokenizer.encode_many([t for _, t in pairs])
    return list(zip(src, tgt))


def pad_batch(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """LongTensor [B, max length] right-padded with PAD_ID."""
    out = torch.full((len(sequences), max(len(s) for s in sequences)), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        out[row, :len(sequence)] = torch.as_tensor(list(sequence), dtype=torch.long)
    return out


def bucket_batches(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], batch_size: int,
                   generator: torch.Generator | None = None, shuffle: bool = True,
                   pool_batches: int = 100) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches (src [B, S], tgt [B, T]) of token-id pairs, padded with PAD_ID.

    src is the source ids followed by <eos> (so no row is all padding); tgt is <bos> ids <eos>
    (feed tgt[:, :-1], predict tgt[:, 1:]). With ``shuffle`` the pairs are permuted by
    ``generator``, sorted by length within pools of ``pool_batches`` batches (little padding)
    and the batches are yielded in random order; without it, batches follow the input order
    so that outputs line up with references.
    """
    check_positive_int(batch_size, "batch_size")
    if len(pairs) == 0:
        raise LsbookError("pairs must not be empty")
    if shuffle:
        order = torch.randperm(len(pairs), generator=generator).tolist()
        pool = batch_size * pool_batches
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start:start + pool], key=lambda i: (len(pairs[i][0]), len(pairs[i][1])))
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    else:
        batches = [list(range(i, min(i + batch_size, len(pairs)))) for i in range(0, len(pairs), batch_size)]
    for batch in batches:
        src = pad_batch([list(pairs[i][0]) + [EOS_ID] for i in batch])
        tgt = pad_batch([[BOS_ID] + list(pairs[i][1]) + [EOS_ID] for i in batch])
        yield src, tgt
