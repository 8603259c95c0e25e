"""Translation runs: corpus and tokenizers (languages not swapped), bad input, resume, the stored record."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lsbook.data.text import Tokenizer
from lsbook.errors import LsbookError
from lsbook.profiles import resolve, settings_for
from lsbook.recipes import RECIPES
from lsbook.store import Store
from lsbook.translation.corpus import build_corpus, check_fingerprints, load_corpus
from lsbook.translation.metrics import (TokenLogits, bleu_from_statistics, corpus_bleu, sentence_bleu_statistics,
                                        sentence_nll, teacher_forced_logits)
from lsbook.translation.evaluation import eval_batches
from lsbook.loop import TrainOutcome, run_training
from lsbook.run_config import RunConfig
from lsbook.train import ensure_run
from lsbook.translation.run import TranslationTask
from lsbook.translation.settings import FINE_RANGE, FINE_STEP, TranslationSettings
from lsbook.translation.translator import load_translator
from test_data_fixtures import trust, write_multi30k

SUBJECTS = [("A man", "Ein Mann"), ("A woman", "Eine Frau"), ("A child", "Ein Kind"), ("Two dogs", "Zwei Hunde"),
            ("An old man", "Ein alter Mann"), ("A young girl", "Ein junges Mädchen")]
ACTIONS = [("is running", "rennt", "rennen"), ("is sleeping", "schläft", "schlafen"),
           ("is eating", "isst", "essen"), ("is reading", "liest", "lesen")]
PLACES = [("in the park.", "im Park."), ("on the street.", "auf der Straße."), ("at the beach.", "am Strand.")]


def toy_pairs() -> list[tuple[str, str]]:
    """72 English–German sentence pairs in Multi30k's style."""
    pairs = []
    for (en_s, de_s) in SUBJECTS:
        for (en_a, de_sing, de_plur) in ACTIONS:
            for (en_p, de_p) in PLACES:
                plural = en_s.startswith("Two")
                en_a2 = en_a.replace("is ", "are ") if plural else en_a
                pairs.append((f"{en_s} {en_a2} {en_p}", f"{de_s} {de_plur if plural else de_sing} {de_p}"))
    return pairs


def toy_splits() -> dict[str, list[tuple[str, str]]]:
    pairs = toy_pairs()
    return {"train": pairs[:56], "val": pairs[56:64], "test": pairs[64:]}


@pytest.fixture
def toy_data(tmp_path, monkeypatch):
    """A Multi30k folder (real file format) holding the toy corpus, trusted as if published, as $LSBOOK_DATA."""
    folder = tmp_path / "data" / "multi30k"
    write_multi30k(folder, toy_splits())
    trust(monkeypatch, "multi30k", folder)
    monkeypatch.setenv("LSBOOK_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def tiny_config(alpha: float, seed: int, epochs: int = 2) -> RunConfig:
    """A toy-sized Transformer run at smoke (tiny recipe, TINY_SETTINGS)."""
    return RunConfig.of(tiny_recipe(epochs), alpha, seed, "smoke", translation=TINY_SETTINGS)


def train_translation(config: RunConfig, device: torch.device, run_dir, on_epoch_end=None) -> TrainOutcome:
    """Train (or resume) ``config``'s Transformer in ``run_dir`` through the one loop, no store."""
    return run_training(TranslationTask(config, run_dir, progress=False), device, run_dir, progress=False,
                        on_epoch_end=on_epoch_end)


def tiny_recipe(epochs: int = 2):
    return resolve("transformer-multi30k", "smoke").replace(epochs=epochs, batch_size=16, train_subset=None,
                                                             val_subset=None, test_subset=None)


TINY_SETTINGS = TranslationSettings(vocab_size=300, beam_size=2, temperatures=(0.5, 1.0, 2.0),
                                    bleu_temperatures=(1.0, 2.0), num_examples=2, max_len_b=4)


# --- corpus and tokenizers ------------------------------------------------------------------------

def test_source_tokenizer_is_english_and_target_tokenizer_german():
    corpus = build_corpus(toy_splits(), 300)
    assert corpus.source_tokenizer.language == "en" and corpus.target_tokenizer.language == "de"
    english = [s for s, _ in corpus.raw["test"]]
    german = corpus.references("test")

    def tokens(tokenizer: Tokenizer, sentences) -> int:
        return sum(len(ids) for ids in tokenizer.encode_many(sentences))

    # each tokenizer compresses the language it was trained on (the replication swapped them)
    assert tokens(corpus.source_tokenizer, english) < tokens(corpus.target_tokenizer, english)
    assert tokens(corpus.target_tokenizer, german) < tokens(corpus.source_tokenizer, german)
    src_ids, tgt_ids = corpus.ids["test"][0]
    assert corpus.source_tokenizer.decode(src_ids) == english[0]
    assert corpus.target_tokenizer.decode(tgt_ids) == german[0]


def test_real_multi30k_tokenizers_are_not_swapped():
    from lsbook.data.roots import locate

    if locate("multi30k") is None:
        pytest.skip("Multi30k is not in the data root (python -m lsbook data fetch multi30k)")
    corpus = load_corpus(1000, subsets={"train": 512, "val": 64, "test": 64})
    english = [s for s, _ in corpus.raw["val"]]
    german = corpus.references("val")
    assert len(corpus.raw["train"]) == 512 and corpus.source_tokenizer.language == "en"
    assert (sum(map(len, corpus.source_tokenizer.encode_many(english)))
            < sum(map(len, corpus.target_tokenizer.encode_many(english))))
    assert (sum(map(len, corpus.target_tokenizer.encode_many(german)))
            < sum(map(len, corpus.source_tokenizer.encode_many(german))))


def test_swapped_tokenizers_are_refused():
    corpus = build_corpus(toy_splits(), 300)
    with pytest.raises(LsbookError, match="swapped"):
        build_corpus(toy_splits(), 300, tokenizers=(corpus.target_tokenizer, corpus.source_tokenizer))


def test_unknown_language_pair_is_refused(toy_data):
    for source, target in (("en", "fr"), ("de", "de"), ("cs", "en")):
        with pytest.raises(LsbookError, match="language pair"):
            load_corpus(300, source=source, target=target, root=toy_data)
        with pytest.raises(LsbookError, match="language pair"):
            TranslationSettings(source=source, target=target).validate()


def test_empty_sentence_lists_are_refused():
    for split in ("train", "val", "test"):
        splits = toy_splits()
        splits[split] = []
        with pytest.raises(LsbookError, match=f"{split} sentence list is empty"):
            build_corpus(splits, 300)
    splits = toy_splits()
    del splits["val"]
    with pytest.raises(LsbookError, match="'val' are missing"):
        build_corpus(splits, 300)


def test_fingerprints_must_match():
    corpus = build_corpus(toy_splits(), 300)
    check_fingerprints(corpus.fingerprints, corpus.source_tokenizer, corpus.target_tokenizer)
    other = build_corpus(toy_splits(), 280)
    with pytest.raises(LsbookError, match="target tokenizer .* does not match the stored model"):
        check_fingerprints(corpus.fingerprints, corpus.source_tokenizer, other.target_tokenizer)


# --- settings and plans ---------------------------------------------------------------------------

def test_settings_and_plans():
    assert settings_for("paper").temperatures[0] == 0.5 and settings_for("paper").temperatures[-1] == 2.0
    # Figure 5 locates every optimum in FINE_RANGE to within FINE_STEP at `paper` and at `cpu`
    for profile in ("paper", "cpu"):
        settings = settings_for(profile)
        for grid in (settings.temperatures, settings.bleu_temperatures):
            inside = [t for t in grid if FINE_RANGE[0] - FINE_STEP <= t <= FINE_RANGE[1] + FINE_STEP]
            assert inside[0] <= FINE_RANGE[0] and inside[-1] >= FINE_RANGE[1]
            assert max(np.diff(inside)) <= FINE_STEP + 1e-9, (profile, grid)
    for profile in ("smoke", "cpu", "paper"):
        settings = settings_for(profile)
        assert 1.0 in settings.temperatures and 1.0 in settings.bleu_temperatures
        assert (settings.source, settings.target) == ("en", "de")
    def config(alpha, seed, profile, recipe="transformer-multi30k", **kwargs):
        return RunConfig.of(recipe, alpha, seed, profile, **kwargs)

    plan = config(0.1, 0, "paper")
    assert plan.recipe.epochs == 18 and plan.recipe.lr == 1e-4 and plan.recipe.batch_size == 128
    assert plan.recipe.adam_betas == (0.9, 0.98) and plan.recipe.adam_eps == 1e-9
    assert plan.as_dict()["recipe"] == "transformer-multi30k" and plan.as_dict()["translation"]["vocab_size"] == 8000
    assert config(0.1, 0, "paper").key == plan.key != config(0.0, 0, "paper").key
    assert config(0.1, 0, "cpu").key != plan.key
    with pytest.raises(LsbookError, match="alpha"):
        config(1.0, 0, "cpu")
    with pytest.raises(LsbookError, match="seed"):
        config(0.1, -1, "cpu")
    with pytest.raises(LsbookError, match="profile"):
        config(0.1, 0, "laptop")
    with pytest.raises(LsbookError, match="Transformer recipes"):
        config(0.1, 0, "cpu", recipe="fcn-mnist", translation=settings_for("cpu"))
    with pytest.raises(LsbookError, match="image classifiers"):
        config(0.1, 0, "cpu", probe="mutual_information")
    # the engine passes resolved recipes (perhaps with overrides): the profile's changes still apply
    engine_cpu = resolve("transformer-multi30k", "cpu")
    assert config(0.1, 0, "cpu", recipe=engine_cpu).key == config(0.1, 0, "cpu").key
    one_epoch = config(0.1, 0, "cpu", recipe=engine_cpu.replace(epochs=1)).recipe
    assert one_epoch.epochs == 1 and one_epoch.lr == config(0.1, 0, "cpu").recipe.lr
    assert config(0.1, 0, "cpu", recipe=engine_cpu.replace(lr=3e-4)).recipe.lr == 3e-4
    with pytest.raises(LsbookError, match="constant"):
        config(0.1, 0, "cpu", recipe=resolve("transformer-multi30k", "cpu").replace(schedule="linear"))
    with pytest.raises(LsbookError, match="T = 1"):
        TranslationSettings(temperatures=(0.5, 2.0)).validate()
    with pytest.raises(LsbookError, match="unknown translation setting"):
        settings_for("cpu").replace(beam=3)


# --- training, resuming, the record ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_a_killed_run_resumes_to_the_same_result(toy_data, tmp_path, device):
    """Dropout draws from the CPU or the CUDA generator: the checkpoint keeps both states."""
    from lsbook.runtime import deterministic_algorithms, read_checkpoint

    device = torch.device(device)
    plan = tiny_config(0.1, 3)
    with deterministic_algorithms(device):
        whole = train_translation(plan, device, tmp_path / "whole")

    def kill_after_first_epoch(epoch: int) -> None:
        if epoch == 0:
            raise KeyboardInterrupt

    with deterministic_algorithms(device), pytest.raises(KeyboardInterrupt):
        train_translation(plan, device, tmp_path / "resumed", on_epoch_end=kill_after_first_epoch)
    state = read_checkpoint(tmp_path / "resumed" / "checkpoint.pt", key=plan.key)
    assert (state["cuda_rng"] is not None) == (device.type == "cuda")
    assert all(state[name] is not None for name in ("torch_rng", "python_rng", "numpy_rng", "generator"))
    if device.type == "cuda":
        torch.cuda.manual_seed_all(12345)  # another process's CUDA state: the checkpoint must restore it
    with deterministic_algorithms(device):
        resumed = train_translation(plan, device, tmp_path / "resumed")
    for a, b in zip(whole.metrics["history"], resumed.metrics["history"]):
        assert a["train_loss"] == b["train_loss"] and a["val_nll"] == b["val_nll"]
    for name in ("test_nll", "test_ece", "test_bleu", "val_temperature", "test_ece_at_val_temperature"):
        assert whole.metrics[name] == resumed.metrics[name]
    for (name, a) in whole.model.state_dict().items():
        assert torch.equal(a, resumed.model.state_dict()[name])

    # a tokenizer file replaced under a checkpoint is refused, not silently used
    other = build_corpus(toy_splits(), 280)
    other.target_tokenizer.save(tmp_path / "resumed" / "tokenizer.de.json")
    with pytest.raises(LsbookError, match="target tokenizer .* does not match the checkpoint"):
        train_translation(plan, device, tmp_path / "resumed")


@pytest.mark.slow
def test_temperature_is_fitted_on_val_not_test(toy_data, tmp_path, monkeypatch):
    import lsbook.translation.evaluation as run_module

    calls = []

    def spy(logits, labels, **kwargs):
        calls.append(torch.as_tensor(labels).clone())
        return real_fit(logits, labels, **kwargs)

    real_fit = run_module.fit_temperature
    monkeypatch.setattr(run_module, "fit_temperature", spy)
    outcome = train_translation(tiny_config(0.0, 0, epochs=1), torch.device("cpu"), tmp_path / "run")
    corpus = build_corpus(toy_splits(), 300, tokenizers=(Tokenizer.load(tmp_path / "run" / "tokenizer.en.json"),
                                                         Tokenizer.load(tmp_path / "run" / "tokenizer.de.json")))
    labels = {split: teacher_forced_logits(outcome.model, eval_batches(corpus, split, 64, torch.device("cpu"))).labels
              for split in ("val", "test")}
    # once per epoch (the history) and once for the record: always on val
    assert len(calls) == 2 and all(torch.equal(c, labels["val"]) for c in calls)
    assert not torch.equal(calls[0], labels["test"])
    assert outcome.metrics["val_tokens"] == len(labels["val"]) != outcome.metrics["test_tokens"]


@pytest.mark.slow
def test_ensure_stores_a_compact_record_and_reuses_it(toy_data, tmp_path, monkeypatch):
    store = Store(tmp_path / "results")
    kwargs = dict(store=store, runs_root=tmp_path / "runs", progress=False)
    record = ensure_run(tiny_config(0.1, 0), **kwargs)
    m = record.metrics
    assert record.config["alpha"] == 0.1 and record.config["translation"]["vocab_size"] == 300
    assert m["tokenizers"]["source"]["language"] == "en" and m["tokenizers"]["target"]["language"] == "de"
    assert m["bleu_signature"].startswith("nrefs:1|case:mixed") and 0 <= m["test_bleu"] <= 100
    assert m["curves"]["temperatures"] == [0.5, 1.0, 2.0] and len(m["curves"]["test"]["ece"]) == 3
    assert m["curves"]["test"]["ece"][1] == m["test_ece"]
    assert m["bleu_curves"]["temperatures"] == [1.0, 2.0] and m["bleu_curves"]["test"][0] == m["test_bleu"]
    assert len(m["examples"]) == 2 and m["examples"][0]["reference"] == toy_splits()["test"][0][1]
    translator = load_translator(record, runs_root=tmp_path / "runs")
    corpus = build_corpus(toy_splits(), 300, tokenizers=(translator.source_tokenizer, translator.target_tokenizer))
    assert m["test_tokens"] == sum(len(t) + 1 for _, t in corpus.ids["test"])  # every real token and EOS
    assert len(m["history"]) == 2
    for entry in m["history"]:  # per epoch: train loss and val token NLL, accuracy, ECE, fitted T
        assert {"train_loss", "val_nll", "val_accuracy", "val_ece", "val_temperature"} <= set(entry)
    last = m["history"][-1]  # the last epoch's val pass is the record's
    assert (last["val_nll"], last["val_ece"], last["val_temperature"]) == (m["val_nll"], m["val_ece"],
                                                                          m["val_temperature"])
    # compact: bins and curves, and a few numbers per test sentence; no vocabulary-wide logits
    sentences = len(corpus.ids["test"])
    assert all(np.asarray(record.arrays[name]).size <= (10 * sentences if name.startswith("test_sentence_") else 3 * 16)
               for name in record.arrays)
    assert record.arrays["test_bins_counts"].shape == (3, 15)
    assert record.arrays["test_bins_counts"][1].sum() == m["test_tokens"]
    json.dumps(m)

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr("lsbook.train.run_training", no_training)
    assert ensure_run(tiny_config(0.1, 0), **kwargs).key == record.key

    assert len(translator.translate(["A man is running in the park."])) == 1
    other = build_corpus(toy_splits(), 280)
    with pytest.raises(LsbookError, match="does not match run"):
        load_translator(record, runs_root=tmp_path / "runs",
                        tokenizers=(translator.source_tokenizer, other.target_tokenizer))
    with pytest.raises(LsbookError, match="no finished checkpoint"):
        load_translator(record, runs_root=tmp_path / "elsewhere")


@pytest.mark.slow
def test_a_transformer_recipe_by_name_trains_with_its_profiles_settings(toy_data, tmp_path, monkeypatch):
    store = Store(tmp_path / "results")
    config = RunConfig.of("transformer-multi30k", 0.1, 0, "smoke")
    record = ensure_run(config, store=store, runs_root=tmp_path / "runs", progress=False)
    assert record.key == config.key and record.config == config.as_dict()
    assert "bleu_curves" in record.metrics and record.config["translation"] == settings_for("smoke").to_dict()
    with pytest.raises(LsbookError, match="keep_model"):
        ensure_run(config, store=store, runs_root=tmp_path / "runs", keep_model=True)

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr("lsbook.train.run_training", no_training)
    assert ensure_run(config, store=store, runs_root=tmp_path / "runs").key == record.key


def test_evaluation_keeps_cased_and_uncased_bleu_of_the_same_hypotheses(monkeypatch):
    import lsbook.translation.evaluation as evaluation
    from lsbook.data.text import PAD_ID
    from lsbook.models import build

    calls = []

    def spy(hypotheses, references, *, lowercase=False):
        result = real_bleu(hypotheses, references, lowercase=lowercase)
        calls.append((list(hypotheses), list(references), lowercase, result.score))
        return result

    real_bleu = evaluation.corpus_bleu
    monkeypatch.setattr(evaluation, "corpus_bleu", spy)
    corpus = build_corpus(toy_splits(), 300)
    torch.manual_seed(0)
    model = build("transformer", corpus.target_tokenizer.vocab_size, src_vocab=corpus.source_tokenizer.vocab_size,
                  pad_id=PAD_ID, **tiny_recipe().model_kwargs)
    metrics, arrays = evaluation.evaluate_translation(model, corpus, TINY_SETTINGS, torch.device("cpu"),
                                                      progress=False)
    assert "case:mixed" in metrics["bleu_signature"] and "case:lc" in metrics["bleu_uncased_signature"]
    # the uncased scores rescore the beam-search hypotheses at T = 1 of each split, lowercased
    assert [(refs == corpus.references(split), lowercase) for split, (_, refs, lowercase, _) in
            zip(("val", "test"), calls)] == [(True, True), (True, True)]
    test_hypotheses, _, _, test_score = calls[1]
    assert metrics["test_bleu_uncased"] == test_score and metrics["val_bleu_uncased"] == calls[0][3]
    assert [e["hypothesis"] for e in metrics["examples"]] == test_hypotheses[:TINY_SETTINGS.num_examples]
    for split in ("val", "test"):
        assert 0 <= metrics[f"{split}_bleu"] <= metrics[f"{split}_bleu_uncased"] <= 100
    # the per-sentence arrays add up to the record's corpus numbers (what a bootstrap resamples)
    assert bleu_from_statistics(arrays["test_sentence_bleu_stats"]) == pytest.approx(metrics["test_bleu"], abs=1e-9)
    assert bleu_from_statistics(arrays["test_sentence_bleu_uncased_stats"], lowercase=True) == pytest.approx(
        metrics["test_bleu_uncased"], abs=1e-9)
    assert arrays["test_sentence_tokens"].sum() == metrics["test_tokens"]
    assert arrays["test_sentence_nll"].sum() / arrays["test_sentence_tokens"].sum() == pytest.approx(
        metrics["test_nll"], rel=1e-5)


def test_sentence_statistics_add_up_and_check_their_input():
    hypotheses, references = ["the cat sat on the mat", "a dog ran"], ["the cat sat on a mat", "the dog ran away"]
    rows = sentence_bleu_statistics(hypotheses, references)
    assert rows.shape == (2, 10) and rows[0, :2].tolist() == [6, 6]
    assert bleu_from_statistics(rows) == pytest.approx(corpus_bleu(hypotheses, references).score, abs=1e-9)
    assert bleu_from_statistics(rows[:1]) == pytest.approx(corpus_bleu(hypotheses[:1], references[:1]).score, abs=1e-9)
    with pytest.raises(LsbookError, match="2 hypotheses for 1 references"):
        sentence_bleu_statistics(hypotheses, references[:1])
    logits = torch.randn(5, 7)
    labels = torch.tensor([1, 2, 3, 4, 5])
    tokens = TokenLogits(logits, labels)
    per_sentence = sentence_nll(tokens, [2, 3])
    expected = torch.nn.functional.cross_entropy(logits, labels, reduction="none").double()
    assert per_sentence == pytest.approx([float(expected[:2].sum()), float(expected[2:].sum())], rel=1e-6)
    with pytest.raises(LsbookError, match="5 token logits"):
        sentence_nll(tokens, [2, 2])


def test_recipe_vocabulary_yields_to_the_profile():
    # transformer-multi30k-small names its vocabulary; a profile's translation settings still win
    def vocab(profile):
        return RunConfig.of("transformer-multi30k-small", 0.0, 0, profile).translation.vocab_size
    assert vocab("paper") == 4000 and vocab("smoke") == settings_for("smoke").vocab_size == 1000
    assert RunConfig.of("transformer-multi30k", 0.0, 0, "paper").translation.vocab_size == 8000
    with pytest.raises(LsbookError, match="vocab_size"):
        RECIPES["transformer-multi30k-small"].replace(vocab_size=0)
