"""Multi30k loading, tokenizers (round trip, specials, languages) and bucketed batches."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
import torch

from lsbook.data import sources
from lsbook.data.roots import REPOSITORY
from lsbook.data.text import (BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, bucket_batches, encode_pairs,
                              load_multi30k, train_tokenizers)
from lsbook.errors import DataCorruptError, DataMissingError, LsbookError
from test_data_fixtures import MULTI30K_SAMPLE, trust, write_multi30k

CORPUS_EN = [en for en, _ in MULTI30K_SAMPLE["train"]] * 5 + ["The quick brown fox jumps over the lazy dog."]
CORPUS_DE = [de for _, de in MULTI30K_SAMPLE["train"]] * 5 + ["Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich."]


def test_load_multi30k_gives_aligned_pairs_per_split(tmp_path, monkeypatch):
    write_multi30k(tmp_path / "multi30k")
    trust(monkeypatch, "multi30k", tmp_path / "multi30k")
    data = load_multi30k(tmp_path)
    assert set(data) == {"train", "val", "test"}
    assert data == {split: list(pairs) for split, pairs in MULTI30K_SAMPLE.items()}
    reverse = load_multi30k(tmp_path, source="de", target="en")
    assert reverse["test"][0] == (MULTI30K_SAMPLE["test"][0][1], MULTI30K_SAMPLE["test"][0][0])


def test_multi30k_checksums_are_checked(tmp_path):
    write_multi30k(tmp_path / "multi30k")  # our sample is not the published file
    with pytest.raises(DataCorruptError) as caught:
        load_multi30k(tmp_path)
    assert sources.MULTI30K_SHA256["train.en.gz"] in str(caught.value) and "train.en.gz" in str(caught.value)


def test_multi30k_errors(tmp_path, monkeypatch):
    with pytest.raises(DataMissingError, match="multi30k.*python -m lsbook data fetch multi30k"):
        load_multi30k(tmp_path)
    for source, target in (("en", "fr"), ("de", "de"), ("cs", "en")):
        with pytest.raises(LsbookError, match="language pair"):
            load_multi30k(tmp_path, source=source, target=target)
    folder = tmp_path / "multi30k"
    write_multi30k(folder)
    (folder / "val.de.gz").write_bytes(gzip.compress(b"nur eine Zeile\nund noch eine\n"))
    trust(monkeypatch, "multi30k", folder)
    with pytest.raises(DataCorruptError, match="val.en.gz: 1 lines but val.de.gz has 2"):
        load_multi30k(tmp_path)
    (folder / "val.de.gz").write_bytes(gzip.compress(b"x\n")[:-4])
    trust(monkeypatch, "multi30k", folder)
    with pytest.raises(DataCorruptError, match="val.de.gz: truncated or damaged gzip"):
        load_multi30k(tmp_path)


def test_tokenizer_specials_and_exact_round_trip():
    tokenizer = Tokenizer.train(CORPUS_EN, vocab_size=400, language="en")
    vocab = tokenizer._backend.get_vocab()
    assert [vocab[t] for t in ("<pad>", "<bos>", "<eos>", "<unk>")] == [PAD_ID, BOS_ID, EOS_ID, UNK_ID]
    for sentence in CORPUS_EN + ["Unseen words: Zürich, naïve café — 42 °C!", "  two  spaces ", ""]:
        ids = tokenizer.encode(sentence)
        assert all(i > UNK_ID for i in ids)                       # no specials inside a sentence
        assert tokenizer.decode(ids) == sentence
    ids = tokenizer.encode("A man.")
    assert tokenizer.decode([BOS_ID, *ids, EOS_ID, PAD_ID, PAD_ID]) == "A man."
    assert tokenizer.decode(torch.tensor([BOS_ID, *ids, EOS_ID, *ids])) == "A man."   # stops at <eos>
    # merges were learned: a frequent word is fewer tokens than characters
    assert len(tokenizer.encode("playhouse")) < len("playhouse")


def test_tokenizer_save_load_and_fingerprint(tmp_path):
    tokenizer = Tokenizer.train(CORPUS_DE, vocab_size=400, language="de")
    again = Tokenizer.train(CORPUS_DE, vocab_size=400, language="de")
    other = Tokenizer.train(CORPUS_EN, vocab_size=400, language="de")
    assert tokenizer.fingerprint == again.fingerprint != other.fingerprint
    tokenizer.save(tmp_path / "de.json")
    loaded = Tokenizer.load(tmp_path / "de.json")
    assert loaded.fingerprint == tokenizer.fingerprint and loaded.language == "de"
    assert loaded.vocab_size == tokenizer.vocab_size <= 400
    assert loaded.encode(CORPUS_DE[-1]) == tokenizer.encode(CORPUS_DE[-1])
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(LsbookError, match="bad.json: not a saved lsbook tokenizer"):
        Tokenizer.load(tmp_path / "bad.json")


def test_tokenizer_input_checks():
    with pytest.raises(LsbookError, match="must not be empty"):
        Tokenizer.train([], 500)
    with pytest.raises(LsbookError, match="vocab_size"):
        Tokenizer.train(CORPUS_EN, 100)
    with pytest.raises(LsbookError, match="language"):
        Tokenizer.train(CORPUS_EN, 400, language="fr")


def test_swapped_tokenizers_are_refused():
    pairs = MULTI30K_SAMPLE["train"]
    en, de = train_tokenizers(pairs, vocab_size=300)
    assert (en.language, de.language) == ("en", "de")
    encoded = encode_pairs(pairs, en, de)
    assert de.decode(encoded[0][1]) == pairs[0][1]
    with pytest.raises(LsbookError, match="swapped"):
        encode_pairs(pairs, de, en)


def test_bucket_batches_pad_mark_and_cover_every_pair():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 30, (103, 2), generator=generator).tolist()
    pairs = [([10 + k] * s, [20 + k] * t) for k, (s, t) in enumerate(lengths)]
    batches = list(bucket_batches(pairs, 8, generator=torch.Generator().manual_seed(1), pool_batches=4))
    assert sum(len(src) for src, _ in batches) == 103 and len(batches) == 13
    seen = []
    for src, tgt in batches:
        assert src.dtype == tgt.dtype == torch.long and len(src) == len(tgt)
        assert (tgt[:, 0] == BOS_ID).all()
        for row_src, row_tgt in zip(src, tgt):
            k = int(row_src[0]) - 10
            s, t = lengths[k]
            assert row_src[:s].tolist() == [10 + k] * s and row_src[s] == EOS_ID and (row_src[s + 1:] == PAD_ID).all()
            assert row_tgt[1:t + 1].tolist() == [20 + k] * t and row_tgt[t + 1] == EOS_ID
            assert (row_tgt[t + 2:] == PAD_ID).all()
            seen.append(k)
    assert sorted(seen) == list(range(103))
    # bucketing: less padding than batches of the same size in random order
    padded = sum(src.numel() for src, _ in batches)
    random_order = torch.randperm(103, generator=torch.Generator().manual_seed(2)).tolist()
    unbucketed = sum(8 * (max(lengths[k][0] for k in random_order[i:i + 8]) + 1) for i in range(0, 103, 8))
    assert padded < unbucketed
    again = list(bucket_batches(pairs, 8, generator=torch.Generator().manual_seed(1), pool_batches=4))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))


def test_bucket_batches_in_order_without_shuffle():
    pairs = [([5] * (k % 4 + 1), [6]) for k in range(10)]
    batches = list(bucket_batches(pairs, 4, shuffle=False))
    assert [len(src) for src, _ in batches] == [4, 4, 2]
    assert batches[0][0][1].tolist()[:3] == [5, 5, EOS_ID]
    with pytest.raises(LsbookError, match="batch_size"):
        next(bucket_batches(pairs, 0))
    with pytest.raises(LsbookError, match="empty"):
        next(bucket_batches([], 4))


# --- the real Multi30k files (../shared/data/multi30k or $LSBOOK_DATA/multi30k) ------------------

def real_multi30k_root() -> Path | None:
    for base in (os.environ.get("LSBOOK_DATA"), str(REPOSITORY.parent / "shared" / "data")):
        if base and (Path(base) / "multi30k" / "train.en.gz").is_file():
            return Path(base)
    return None


@pytest.mark.skipif(real_multi30k_root() is None, reason="Multi30k files not found (../shared/data/multi30k)")
def test_real_multi30k_counts_and_round_trip_rate():
    data = load_multi30k(real_multi30k_root())
    assert [len(data[s]) for s in ("train", "val", "test")] == [29_000, 1_014, 1_000]
    assert data["train"][0] == ("Two young, White males are outside near many bushes.",
                                "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.")
    en, de = train_tokenizers(data["train"], vocab_size=8000)   # the training split only
    for tokenizer, side in ((en, 0), (de, 1)):
        sentences = [pair[side] for split in ("val", "test") for pair in data[split]]
        ids = tokenizer.encode_many(sentences)
        exact = sum(tokenizer.decode(i) == s for i, s in zip(ids, sentences)) / len(sentences)
        print(f"{tokenizer.language}: vocab {tokenizer.vocab_size}, round trip {exact:.4f} of "
              f"{len(sentences)} val+test sentences, {sum(map(len, ids)) / len(ids):.1f} tokens/sentence")
        assert exact >= 0.99
