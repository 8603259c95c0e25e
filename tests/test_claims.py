"""The claim ledger: the decision rule, the intervals, the ledger over a store of fabricated runs,
`python -m lsbook claims`, the "not run here" reasons, and the MI estimator's reference values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lsbook import claims, cli
from lsbook.book import scope
from lsbook.runs import why_not_run
from lsbook.calibration import expected_calibration_error, fit_temperature, reliability_bins
from lsbook.claims import (CONFIRMED, CONTRADICTED, INCONCLUSIVE, NOT_RUN, Direction, decide,
                           ledger)
from lsbook.clusters import spread_to_distance_ratio
from lsbook.errors import LsbookError
from lsbook.information import (collapsed_reference, mutual_information, shuffled_reference,
                                unrelated_reference)
from lsbook.intervals import (BinnedCalibration, Estimate, accuracy_statistic, bootstrap_over_examples,
                              difference, ece_statistic, no_interval, over_seeds)
from lsbook.store import Record, Store
from lsbook.run_config import RunConfig

# --- The decision rule -----------------------------------------------------------------------------------


def interval(low: float, high: float) -> Estimate:
    return Estimate((low + high) / 2, low, high, "test interval")


@pytest.mark.parametrize("kind, margin, low, high, expected", [
    ("increase", 0.0, 0.1, 0.3, CONFIRMED),
    ("increase", 0.0, -0.3, -0.1, CONTRADICTED),
    ("increase", 0.0, -0.1, 0.3, INCONCLUSIVE),
    ("decrease", 0.0, -0.3, -0.1, CONFIRMED),
    ("decrease", 0.0, 0.1, 0.3, CONTRADICTED),
    ("decrease", 0.0, -0.1, 0.3, INCONCLUSIVE),
    ("not_worse", 0.1, -0.05, 0.2, CONFIRMED),       # lower bound above −margin: does not hurt
    ("not_worse", 0.1, -0.4, -0.2, CONTRADICTED),    # the whole interval is a loss beyond the margin
    ("not_worse", 0.1, -0.2, 0.0, INCONCLUSIVE),
    ("not_worse", 0.1, -0.1, 0.0, CONFIRMED),        # the bound itself counts as not worse
    ("equivalent", 0.01, -0.005, 0.008, CONFIRMED),
    ("equivalent", 0.01, 0.02, 0.05, CONTRADICTED),
    ("equivalent", 0.01, -0.05, -0.02, CONTRADICTED),
    ("equivalent", 0.01, 0.005, 0.02, INCONCLUSIVE),
])
def test_every_verdict_is_reachable_and_follows_the_stated_rule(kind, margin, low, high, expected):
    verdict, why = decide(interval(low, high), Direction(kind, margin))
    assert verdict == expected
    assert why


def test_no_interval_is_inconclusive_whatever_the_point_says():
    assert decide(no_interval(5.0, "one seed"), Direction("increase"))[0] == INCONCLUSIVE
    assert decide(None, Direction("decrease"))[0] == INCONCLUSIVE


def test_the_rule_is_printed_with_its_margins():
    text = claims.rule_markdown()
    for kind in claims.DECISION_RULE:
        assert kind.replace("_", " ") in text
    assert "0.1" in text and "0.01" in text and "bootstrap" in text
    assert Direction("not_worse", 0.1).text("points") == "≥ −0.1 points"


def test_bad_directions_are_refused_with_one_line_naming_the_parameter():
    with pytest.raises(LsbookError, match="direction kind must be one of"):
        Direction("sideways")
    with pytest.raises(LsbookError, match="margin must be"):
        Direction("not_worse", -0.1)
    with pytest.raises(LsbookError, match="low must be <= high"):
        decide(Estimate(0.0, 0.2, -0.2, "x"), Direction("increase"))


# --- Intervals --------------------------------------------------------------------------------------


def test_interval_over_seeds_is_the_t_interval_of_the_mean():
    estimate = over_seeds([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) · s / √n
    assert estimate.value == pytest.approx(2.0)
    assert (estimate.low, estimate.high) == pytest.approx((2.0 - half, 2.0 + half))
    assert estimate.method == "t-interval over 3 seeds"
    with pytest.raises(LsbookError, match="at least 3"):
        over_seeds([1.0, 2.0])


def test_paired_bootstrap_finds_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(0)
    good, bad = rng.random(2000) < 0.9, rng.random(2000) < 0.8
    found = bootstrap_over_examples([difference(accuracy_statistic(good), accuracy_statistic(bad))], 2000)
    assert found.low > 0 and found.value == pytest.approx(good.mean() - bad.mean())
    assert "not over training runs" in found.method and "paired bootstrap over 2,000" in found.method
    same = bootstrap_over_examples([difference(accuracy_statistic(good), accuracy_statistic(good))], 2000)
    assert same.low == same.high == same.value == 0.0
    again = bootstrap_over_examples([difference(accuracy_statistic(good), accuracy_statistic(bad))], 2000)
    assert (again.low, again.high) == (found.low, found.high)     # fixed seed: the same every build


def test_stratified_bootstrap_keeps_every_class_even_when_classes_are_tiny():
    labels = np.repeat([0, 1, 2], 3)
    points = np.eye(3)[labels] + np.random.default_rng(4).normal(size=(9, 3)) * 0.1

    def ratio(indices):
        weights = np.zeros((indices.shape[0], 9))
        np.add.at(weights, (np.arange(indices.shape[0])[:, None], indices), 1.0)
        return spread_to_distance_ratio(points, labels, weights)

    found = bootstrap_over_examples([ratio], 9, strata=labels, what="examples")
    assert found.low <= found.value <= found.high and "within each class" in found.method
    with pytest.raises(LsbookError, match="has no example in some resample"):
        bootstrap_over_examples([ratio], 9, resamples=2000)     # without strata a class comes out empty


def test_ece_statistic_matches_the_calibration_module():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(500, 4)) * 3
    labels = rng.integers(0, 4, 500)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    statistic = ece_statistic(probabilities.max(axis=1), probabilities.argmax(axis=1) == labels)
    assert statistic(np.arange(500)[None, :])[0] == pytest.approx(expected_calibration_error(logits, labels))
    bins = reliability_bins(logits, labels)
    binned = BinnedCalibration(bins.counts, bins.accuracy, bins.confidence)
    assert binned.ece() == pytest.approx(bins.expected_calibration_error)
    resampled = binned.resampled_ece(np.random.default_rng(0), 500)
    assert abs(np.median(resampled) - binned.ece()) < 0.05


# --- The spread-to-distance ratio ---------------------------------------------------------------------


def test_spread_to_distance_ratio_measures_tightness_and_ignores_scale():
    rng = np.random.default_rng(2)
    centres = np.eye(3, 8) * 10
    labels = np.repeat([0, 1, 2], 30)
    loose = centres[labels] + rng.normal(size=(90, 8)) * 3
    tight = centres[labels] + rng.normal(size=(90, 8)) * 0.5
    assert spread_to_distance_ratio(tight, labels) < spread_to_distance_ratio(loose, labels)
    assert spread_to_distance_ratio(7 * loose, labels) == pytest.approx(spread_to_distance_ratio(loose, labels))
    ones = np.ones((2, 90))
    assert spread_to_distance_ratio(loose, labels, ones) == pytest.approx([spread_to_distance_ratio(loose, labels)] * 2)
    doubled = np.ones((1, 90))
    doubled[0, :30] = 2                                          # class 0 counted twice
    repeated = np.concatenate([loose[:30], loose])
    assert spread_to_distance_ratio(loose, labels, doubled)[0] == pytest.approx(
        spread_to_distance_ratio(repeated, np.concatenate([labels[:30], labels])))
    with pytest.raises(LsbookError, match="at least two classes"):
        spread_to_distance_ratio(loose, np.zeros(90))
    with pytest.raises(LsbookError, match="features must be"):
        spread_to_distance_ratio(loose[:, 0], labels)


# --- The mutual-information estimator's references ----------------------------------------------------


def test_unrelated_examples_read_about_0_11_nats_at_n_600_l_5_and_less_with_more_draws():
    reference = unrelated_reference(600, 5)
    assert 0.09 < reference.mean < 0.13 and reference.std < 0.02
    assert unrelated_reference(600, 20).mean < reference.mean / 3       # the bias shrinks roughly as 1/L
    assert unrelated_reference(600, 10).mean < reference.mean
    collapsed = collapsed_reference(600, 5)
    assert collapsed.mean - math.log(2) == pytest.approx(reference.mean, abs=0.03)
    informative = np.arange(600)[:, None] * 10.0 + np.random.default_rng(3).normal(size=(600, 5))
    assert mutual_information(informative) > 5
    assert shuffled_reference(informative).mean < 0.5                  # the link destroyed: near the bias
    with pytest.raises(LsbookError, match="num_draws must be"):
        unrelated_reference(600, 1)
    with pytest.raises(LsbookError, match="num_examples must be even"):
        collapsed_reference(601, 5)


# --- The ledger over a store of fabricated runs -------------------------------------------------------

N_TEST = 600
TEST_LABELS = np.random.default_rng(0).integers(0, 10, N_TEST)
FEATURE_LABELS = np.repeat([0, 1, 2], 40)


def put_run(store: Store, recipe: str, alpha: float, seed: int, *, accuracy: float, profile: str = "cpu",
            sharpness: float = 4.0, spread: float = 1.0, **plan_kwargs) -> Record:
    """Store a fabricated run of ``recipe`` under the key the engine would give it."""
    plan = RunConfig.of(recipe, alpha, seed, profile, **plan_kwargs)
    rng = np.random.default_rng(10_000 * seed + int(1000 * alpha) + 7)
    correct = rng.random(N_TEST) < accuracy
    predicted = np.where(correct, TEST_LABELS, (TEST_LABELS + rng.integers(1, 10, N_TEST)) % 10)
    logits = rng.normal(0.0, 0.3, (N_TEST, 10))
    logits[np.arange(N_TEST), predicted] += sharpness
    centres = np.eye(3, 12) * 10.0
    features = centres[FEATURE_LABELS] + rng.normal(size=(120, 12)) * spread
    head = np.concatenate([centres, rng.normal(size=(7, 12))])
    temperature = fit_temperature(logits, TEST_LABELS)
    metrics = {"test_accuracy": float(correct.mean()),
               "test_ece": expected_calibration_error(logits, TEST_LABELS),
               "val_ece": expected_calibration_error(logits, TEST_LABELS), "val_temperature": temperature,
               "test_ece_at_val_temperature": expected_calibration_error(logits, TEST_LABELS, temperature=temperature)}
    record = Record(key=plan.key, config=plan.as_dict(), metrics=metrics,
                    provenance={"device": "cpu", "device_name": "CPU: test machine", "date": "2026-01-01T00:00"},
                    arrays={"test_logits": logits.astype(np.float32), "test_labels": TEST_LABELS,
                            "val_logits": logits.astype(np.float32), "val_labels": TEST_LABELS,
                            "train_features": features.astype(np.float32), "train_feature_labels": FEATURE_LABELS,
                            "head_weight": head.astype(np.float32)})
    return store.put(record)


@pytest.fixture
def only_fashion_mnist_here(monkeypatch):
    """This machine has Fashion-MNIST and nothing else (whatever the real machine holds)."""
    import lsbook.data.roots as roots

    monkeypatch.setattr(roots, "locate", lambda name, root=None: Path("/data") if name == "fashion-mnist" else None)


def row(rows, row_id):
    return next(r for r in rows if r.id == row_id)


def test_ledger_over_fabricated_runs(tmp_path, only_fashion_mnist_here):
    store = Store(tmp_path)
    for seed in (0, 1, 2):
        put_run(store, "fcn-fmnist", 0.0, seed, accuracy=0.80, sharpness=3.0, spread=2.0, profile="paper")
        put_run(store, "fcn-fmnist", 0.05, seed, accuracy=0.85, sharpness=6.0, spread=1.5, profile="paper")
        put_run(store, "fcn-fmnist", 0.1, seed, accuracy=0.95, sharpness=9.0, spread=0.5, profile="paper")
    rows = ledger("cpu", store=store, chapters=["accuracy", "penultimate", "calibration"])
    assert {r.chapter for r in rows} == {"accuracy", "penultimate", "calibration"}
    assert all(r.verdict in claims.VERDICTS for r in rows)

    keeps = row(rows, "accuracy/fcn-fmnist")
    assert keeps.verdict == CONFIRMED and keeps.profile == "paper" and keeps.seeds == [0, 1, 2]
    assert keeps.interval == "t-interval over 3 seeds" and keeps.low > 0
    assert keeps.estimate == pytest.approx(100 * np.mean(
        [store.find(recipe="fcn-fmnist", alpha=0.1, seed=s)[0].metrics["test_accuracy"]
         - store.find(recipe="fcn-fmnist", alpha=0.0, seed=s)[0].metrics["test_accuracy"] for s in (0, 1, 2)]))
    assert row(rows, "exception/fcn-fmnist").verdict == CONTRADICTED      # α = 0.1 is better here, not worse
    assert row(rows, "clusters-full/fcn-fmnist").verdict == CONFIRMED     # spread 0.5 at α = 0.1 vs 2.0
    assert row(rows, "clusters-plane/fcn-fmnist").verdict == CONFIRMED

    raised = row(rows, "ece-raised/fcn-fmnist")
    assert "α* = 0.05" in raised.experiment or "α* = 0.1" in raised.experiment
    assert raised.verdict in (CONFIRMED, CONTRADICTED, INCONCLUSIVE)

    missing = row(rows, "accuracy/alexnet-cifar10")
    assert missing.verdict == NOT_RUN and missing.reason.startswith("data not reachable on this machine")
    assert "python -m lsbook data fetch cifar10" in missing.reason
    gain = row(rows, "holdout-gain/fcn-fmnist")
    assert gain.verdict == NOT_RUN and gain.reason.startswith("not trained yet")


def test_a_new_run_changes_the_ledger_without_code_changes(tmp_path, only_fashion_mnist_here):
    store = Store(tmp_path)
    put_run(store, "fcn-fmnist", 0.0, 0, accuracy=0.80, profile="paper")
    put_run(store, "fcn-fmnist", 0.1, 0, accuracy=0.80, profile="paper")
    first = row(ledger("cpu", store=store, chapters=["accuracy"]), "holdout-offset/fcn-fmnist")
    assert first.verdict == NOT_RUN and "--profile paper" in first.reason
    put_run(store, "fcn-fmnist-full", 0.0, 0, accuracy=0.9101)          # cpu runs: not comparable with
    put_run(store, "fcn-fmnist-full", 0.1, 0, accuracy=0.9045)          # the replication's 100 epochs
    assert row(ledger("cpu", store=store, chapters=["accuracy"]), "holdout-offset/fcn-fmnist").verdict == NOT_RUN
    put_run(store, "fcn-fmnist-full", 0.0, 0, accuracy=0.9101, profile="paper")
    put_run(store, "fcn-fmnist-full", 0.1, 0, accuracy=0.9045, profile="paper")
    rows = ledger("cpu", store=store, chapters=["accuracy"])
    offset = row(rows, "holdout-offset/fcn-fmnist")
    assert offset.verdict != NOT_RUN and offset.seeds == [0]
    assert "paired bootstrap over 600 test examples" in offset.interval
    assert abs(offset.estimate) < 1.0                                     # fabricated at the published accuracy
    gain = row(rows, "holdout-gain/fcn-fmnist")
    assert gain.verdict != NOT_RUN and gain.estimate > 5                   # 80 % -> about 91 %


def test_two_seeds_get_a_labelled_bootstrap_and_paper_runs_come_first(tmp_path, only_fashion_mnist_here):
    store = Store(tmp_path)
    for seed in (0, 1):
        put_run(store, "fcn-fmnist", 0.0, seed, accuracy=0.80, profile="paper")
        put_run(store, "fcn-fmnist", 0.1, seed, accuracy=0.80, profile="paper")
    for alpha in (0.0, 0.1):
        put_run(store, "fcn-fmnist", alpha, 0, accuracy=0.5)
    keeps = row(ledger("cpu", store=store, chapters=["accuracy"]), "accuracy/fcn-fmnist")
    assert keeps.profile == "paper" and keeps.seeds == [0, 1]
    assert keeps.interval.startswith("paired bootstrap over 600 test examples") and "2 seeds" in keeps.interval
    smoke = ledger("smoke", store=store, chapters=["accuracy"])
    assert row(smoke, "accuracy/fcn-fmnist").verdict == NOT_RUN             # smoke never reads other profiles


@pytest.mark.parametrize("profile, reason", [("smoke", "not a test: smoke runs"),
                                             ("cpu", "not a test: underfit runs")])
def test_short_runs_never_yield_a_verdict(tmp_path, only_fashion_mnist_here, profile, reason):
    store = Store(tmp_path)
    for seed in (0, 1, 2):
        put_run(store, "fcn-fmnist", 0.0, seed, accuracy=0.50, profile=profile)
        put_run(store, "fcn-fmnist", 0.1, seed, accuracy=0.95, profile=profile)
    rows = ledger(profile, store=store, chapters=["accuracy", "penultimate"])
    measured = [r for r in rows if r.estimate is not None]
    assert measured and all(r.verdict == INCONCLUSIVE and r.reason.startswith(reason) for r in measured)
    assert row(rows, "accuracy/fcn-fmnist").estimate > 40                # the estimate is still shown


def test_mutual_information_row_uses_the_excess_over_the_reference(tmp_path, only_fashion_mnist_here):
    from lsbook.experiments.mutual_info import MI_SETUPS

    setup = MI_SETUPS["fcn-fmnist"]
    store = Store(tmp_path)
    steps = list(range(0, 80, 10))
    for seed in (0, 1, 2):
        for alpha, end in ((0.0, 1.2), (0.1, 0.9 + 0.01 * seed)):
            plan = setup.config(alpha, seed, "paper")
            values = np.linspace(0.3, end, len(steps))
            store.put(Record(key=plan.key, config=plan.as_dict(), provenance={},
                             metrics={"test_accuracy": 0.8, "step_log": [{"step": s, "value": float(v)}
                                                                        for s, v in zip(steps, values)]},
                             arrays={}))
    mi = row(ledger("cpu", store=store, chapters=["mutual_information"]), "mi-fall/fcn-fmnist")
    late = lambda end: np.mean(np.linspace(0.3, end, len(steps))[-2:])  # noqa: E731 - last quarter of 8
    assert mi.estimate == pytest.approx(np.mean([late(0.9 + 0.01 * s) - late(1.2) for s in (0, 1, 2)]))
    assert mi.verdict == CONFIRMED and mi.interval == "t-interval over 3 seeds"
    assert f"{unrelated_reference(600, 5).mean:.3f} nats on unrelated examples at N = 600, L = 5" in mi.note
    other = row(ledger("cpu", store=store, chapters=["mutual_information"]), "mi-fall/resnet56-cifar10")
    assert other.verdict == NOT_RUN and "CIFAR-10 is not here" in other.reason


# --- Reasons for "not run here" --------------------------------------------------------------------------


def test_not_run_reasons_name_data_gpu_time_or_untrained(monkeypatch):
    import lsbook.data.roots as roots

    monkeypatch.setattr(roots, "locate", lambda name, root=None: None)
    assert why_not_run("alexnet-cifar10", "cpu").startswith("data not reachable on this machine: CIFAR-10")
    monkeypatch.setattr(roots, "locate", lambda name, root=None: Path("/data"))
    assert why_not_run("resnet56-cifar100", "paper").startswith("GPU time: CIFAR-100 is here")
    assert why_not_run("transformer-multi30k", "paper").startswith("GPU time")
    assert why_not_run("transformer-multi30k-small", "paper").startswith("not trained yet")
    assert why_not_run("fcn-mnist", "paper").startswith("not trained yet: MNIST is here")
    assert why_not_run("fcn-fmnist-student", "cpu").startswith("not trained yet")
    assert "synthetic stand-in images for CIFAR-10" in why_not_run("alexnet-cifar10", "smoke")


def test_scope_names_every_combination_and_why_it_shows_published_numbers(tmp_path, only_fashion_mnist_here):
    store = Store(tmp_path)
    put_run(store, "fcn-fmnist", 0.0, 0, accuracy=0.8)
    rows = {r["recipe"]: r for r in scope.combination_scope("cpu", store)}
    assert rows["fcn-fmnist"]["shows"].startswith("ours (cpu)")
    assert rows["resnet56-cifar10"]["why"].startswith("data not reachable")
    assert rows["inceptionv4-imagenet"]["why"].startswith("out of scope")
    assert "1 have runs" in scope.scope_sentence("cpu", store) or "1 has runs" in scope.scope_sentence("cpu", store)
    assert "CPU: test machine" in scope.runs_overview(store)


# --- Command line and Markdown ------------------------------------------------------------------------------


@pytest.fixture
def small_store(tmp_path, only_fashion_mnist_here):
    store = Store(tmp_path)
    for alpha in (0.0, 0.1):
        put_run(store, "fcn-fmnist", alpha, 0, accuracy=0.8)
    return tmp_path


def test_cli_prints_an_aligned_table(small_store, capsys):
    assert cli.main(["claims", "--profile", "cpu", "--results", str(small_store), "--chapter", "accuracy"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["id", "verdict"]
    table = lines[:lines.index("")]
    column = lines[0].index("verdict")
    assert all(line[column:].startswith(claims.VERDICTS) for line in table[1:])   # aligned
    assert any(line.startswith("accuracy/fcn-fmnist ") for line in table)
    assert "not run here" in out and "claims:" in out


def test_cli_prints_json_rows(small_store, capsys):
    assert cli.main(["claims", "--profile", "cpu", "--json", "--results", str(small_store)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["profile"] == "cpu" and set(data["counts"]) == set(claims.VERDICTS)
    assert sum(data["counts"].values()) == len(data["rows"])
    first = next(r for r in data["rows"] if r["id"] == "accuracy/fcn-fmnist")
    assert {"claim", "source", "experiment", "metric", "claimed", "estimate", "low", "high", "interval",
            "verdict", "reason"} <= set(first)
    assert "margins" in data["rule"] and "not_worse" in data["rule"]["directions"]


def test_cli_refuses_a_bad_profile_on_one_line(small_store, capsys):
    assert cli.main(["claims", "--profile", "fast", "--results", str(small_store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "profile" in err[0] and "smoke, cpu, paper" in err[0]


def test_chapter_rows_and_ledger_markdown(small_store):
    store = Store(small_store)
    text = claims.chapter_rows("accuracy", "cpu", store=store)
    assert "| claim |" in text and "accuracy" not in text.split("|")[1]
    assert "claims:" in text
    with pytest.raises(LsbookError, match="chapter must be one of"):
        claims.chapter_rows("preface", "cpu", store=store)


# --- The Transformer's rows ---------------------------------------------------------------------------------

N_SENTENCES = 200


def put_translation(store: Store, recipe: str, alpha: float, seed: int, profile: str, *, brevity: float,
                    per_sentence: bool = True) -> Record:
    """A fabricated translation record: BLEU statistics whose hypotheses are ``brevity`` × as long."""
    from lsbook.translation.metrics import bleu_from_statistics
    from lsbook.run_config import RunConfig

    plan = RunConfig.of(recipe, alpha, seed, profile)
    rng = np.random.default_rng(100 * seed + int(100 * alpha))
    ref_len = rng.integers(8, 20, N_SENTENCES)
    hyp_len = np.maximum(1, np.round(ref_len * brevity)).astype(np.int64)
    totals = np.stack([np.maximum(hyp_len - n, 1) for n in range(4)], axis=1)
    matches = np.floor(totals * rng.uniform(0.4, 0.7, (N_SENTENCES, 1)) ** np.arange(1, 5)).astype(np.int64)
    stats = np.concatenate([hyp_len[:, None], ref_len[:, None], matches, totals], axis=1)
    tokens = ref_len + 1
    nll = tokens * (2.0 + 0.3 * alpha + rng.normal(0, 0.05, N_SENTENCES))
    counts = np.full((1, 15), 10, np.int64)
    confidence = np.linspace(0.05, 0.95, 15)[None, :]
    arrays = {"temperatures": np.asarray([1.0]), "test_bins_counts": counts, "test_bins_confidence": confidence,
              "test_bins_accuracy": confidence - 0.05, "test_bins_fitted_counts": counts[0],
              "test_bins_fitted_confidence": confidence[0], "test_bins_fitted_accuracy": confidence[0]}
    if per_sentence:
        arrays.update(test_sentence_bleu_stats=stats, test_sentence_nll=nll, test_sentence_tokens=tokens)
    temperatures = [0.8, 1.0, 1.2, 1.4]
    optimum = 1.4 - alpha                                     # the ECE-optimal T falls with α
    metrics = {"test_bleu": bleu_from_statistics(stats), "test_nll": float(nll.sum() / tokens.sum()),
               "val_ece": 0.05, "val_temperature": 1.2, "test_nll_at_val_temperature": float(nll.sum() / tokens.sum()),
               "curves": {"temperatures": temperatures,
                          "val": {"ece": [abs(t - optimum) for t in temperatures]},
                          "test": {"nll": [2.0 + 0.3 * alpha + (t - 1) ** 2 for t in temperatures]}}}
    return store.put(Record(key=plan.key, config=plan.as_dict(), metrics=metrics, provenance={}, arrays=arrays))


def test_transformer_rows_read_the_cpu_sized_paper_runs_with_a_bootstrap_over_sentences(tmp_path):
    store = Store(tmp_path)
    for seed in (0, 1):
        put_translation(store, "transformer-multi30k-small", 0.0, seed, "paper", brevity=0.8)
        put_translation(store, "transformer-multi30k-small", 0.1, seed, "paper", brevity=1.0)
    put_translation(store, "transformer-multi30k", 0.0, 0, "cpu", brevity=1.0, per_sentence=False)
    put_translation(store, "transformer-multi30k", 0.1, 0, "cpu", brevity=0.8, per_sentence=False)
    rows = ledger("cpu", store=store, chapters=["transformer"])
    bleu, nll = row(rows, "tr-bleu"), row(rows, "tr-nll")
    assert "`transformer-multi30k-small` [paper]" in bleu.experiment and bleu.seeds == [0, 1]
    assert bleu.interval.startswith(f"paired bootstrap over {N_SENTENCES} test sentences") and bleu.low > 0
    assert bleu.verdict == CONFIRMED                       # the brevity penalty is gone at α = 0.1
    assert nll.low > 0 and nll.verdict == CONFIRMED        # NLL fabricated 0.03 nats worse at α = 0.1
    # the short cpu runs, without per-sentence scores, are what a smoke-free cpu-only store shows
    cpu_only = Store(tmp_path / "cpu-only")
    put_translation(cpu_only, "transformer-multi30k", 0.0, 0, "cpu", brevity=1.0, per_sentence=False)
    put_translation(cpu_only, "transformer-multi30k", 0.1, 0, "cpu", brevity=0.8, per_sentence=False)
    short = row(ledger("cpu", store=cpu_only, chapters=["transformer"]), "tr-bleu")
    assert "`transformer-multi30k` [cpu]" in short.experiment and short.verdict == INCONCLUSIVE
    assert "per-sentence scores" in short.interval


# --- the CIFAR-10 (JPEG re-encode) variants: runs of the paper's image classifiers on this machine ----------

def put_variant_run(store: Store, recipe: str, alpha: float, seed: int, **kwargs) -> Record:
    """A fabricated `paper` run of a variant, under the key lsbook.runs gives it (the ResNet's α 0
    and 0.1 runs carry the mutual-information probe, as the campaign trains them)."""
    from lsbook.runs import run_config

    config = run_config(recipe, alpha, seed, "paper")
    return put_run(store, recipe, alpha, seed, profile="paper", probe=config.probe, **kwargs)


def test_variant_rows_read_the_probed_paper_runs_and_name_encoding_and_schedule(tmp_path, monkeypatch):
    import lsbook.data.roots as roots

    monkeypatch.setattr(roots, "locate", lambda name, root=None: Path("/data") if name == "cifar10-jpeg" else None)
    store = Store(tmp_path)
    for seed in (0, 1, 2):
        put_variant_run(store, "resnet56-cifar10-jpeg", 0.0, seed, accuracy=0.80, sharpness=9.0, spread=2.0)
        put_variant_run(store, "resnet56-cifar10-jpeg", 0.05, seed, accuracy=0.81, sharpness=4.0, spread=1.0)
        put_variant_run(store, "resnet56-cifar10-jpeg", 0.1, seed, accuracy=0.82, sharpness=3.0, spread=0.5)
    assert store.find(recipe="resnet56-cifar10-jpeg", alpha=0.0)[0].config["step_callback"].startswith(
        "mutual_information(classes=airplane|dog")
    rows = ledger("cpu", store=store, chapters=["accuracy", "calibration"])
    accuracy = row(rows, "accuracy/resnet56-cifar10-jpeg")
    assert accuracy.profile == "paper" and accuracy.seeds == [0, 1, 2]   # the probed runs are the recipe's runs
    assert "CIFAR-10 (JPEG re-encode)" in accuracy.claim and "40 epochs" in accuracy.claim
    assert "official" not in accuracy.claim and "on CIFAR-10 at its own schedule" in accuracy.note
    for alpha in (0.05, 0.1):                                             # fixed α, no α* among them
        lower = row(rows, f"ece-lower/resnet56-cifar10-jpeg/α={alpha:g}")
        assert lower.experiment.startswith(f"`resnet56-cifar10-jpeg` [paper], α {alpha:g} vs 0")
        assert lower.verdict in (CONFIRMED, CONTRADICTED, INCONCLUSIVE)
    assert row(rows, "ece-lower/resnet56-cifar10-jpeg/α=0.05").estimate < 0   # sharpness 9 -> 4: lower ECE
    # the official CIFAR-10 rows stay, as not run here; the AlexNet variant is not trained yet
    assert row(rows, "accuracy/resnet56-cifar10").verdict == NOT_RUN
    untrained = row(rows, "accuracy/alexnet-cifar10-jpeg")
    assert untrained.verdict == NOT_RUN and untrained.reason.startswith("not trained yet")
    assert "--profile paper" in untrained.reason
    # the introduction's scope table: the official combination shows the published numbers and ours on
    # the re-encode (the probed runs count as the recipe's runs); AlexNet's variant is not stored
    combinations = {r["recipe"]: r for r in scope.combination_scope("cpu", store)}
    assert "ours on another encoding and schedule: CIFAR-10 (JPEG re-encode)" in \
        combinations["resnet56-cifar10"]["shows"]
    assert combinations["alexnet-cifar10"]["shows"] == "published numbers only"


def test_every_summary_says_what_evidence_a_verdict_rests_on(tmp_path, only_fashion_mnist_here):
    store = Store(tmp_path)
    for seed in (0, 1, 2):                                   # three seeds: an interval over training runs
        put_run(store, "fcn-fmnist", 0.0, seed, accuracy=0.50, spread=2.0, profile="paper")
        put_run(store, "fcn-fmnist", 0.1, seed, accuracy=0.95, spread=0.5, profile="paper")
    for seed in (0, 1):                                      # two seeds: a bootstrap over test examples
        put_run(store, "fcn-mnist", 0.0, seed, accuracy=0.50, profile="paper", spread=2.0)
        put_run(store, "fcn-mnist", 0.1, seed, accuracy=0.95, profile="paper", spread=0.5)
    rows = ledger("cpu", store=store, chapters=["accuracy"])
    strong, weak = row(rows, "accuracy/fcn-fmnist"), row(rows, "accuracy/fcn-mnist")
    assert (strong.verdict, strong.evidence, weak.verdict, weak.evidence) == (CONFIRMED, "seeds", CONFIRMED, "runs")
    assert row(rows, "accuracy/alexnet-cifar10").evidence == ""
    # raises accuracy and keeps accuracy, for each of the two; the exception is contradicted
    assert "4 confirmed (2 on ≥ 3 seeds, 2 on 1–2 runs)" in claims.counts_text(rows)
    assert "| **4 (2)** |" in claims.counts_markdown(rows)
    assert row(rows, "accuracy-up/fcn-fmnist").verdict == CONFIRMED and "original" in row(rows, "accuracy-up/fcn-fmnist").claim
    headline = claims.headline_markdown(rows)
    strongest, _, rest = headline.partition("\n\nOn one or two training runs")
    assert "keeps accuracy: `fcn-fmnist`" in strongest and "fcn-mnist`" not in strongest
    assert "keeps accuracy: `fcn-mnist`" in rest
    table = claims.ledger_markdown(rows).splitlines()
    assert table[:2] == [":::{table}", ":class: ledger-table"]   # kept narrow on a phone (book/_static/lsbook.css)
    assert table[3].startswith("| claim | verdict | evidence |")  # the verdict comes before the wide cells
    assert "*Not run here, data not reachable on this machine" in claims.ledger_markdown(rows)  # one line, not rows
    assert "| keeps accuracy: `alexnet-cifar10` |" not in claims.ledger_markdown(rows)
    assert any("**confirmed** | ≥ 3 seeds |" in line for line in table)


def test_seeds_with_fewer_alphas_never_move_the_best_alpha(tmp_path, only_fashion_mnist_here):
    store = Store(tmp_path)
    for seed in (0, 1, 2):
        put_run(store, "fcn-fmnist", 0.0, seed, accuracy=0.9, sharpness=5.0, profile="paper")
        put_run(store, "fcn-fmnist", 0.05, seed, accuracy=0.9, sharpness=4.0, profile="paper")
        put_run(store, "fcn-fmnist", 0.1, seed, accuracy=0.9, sharpness=2.0, profile="paper")
    for seed in (3, 4):                                      # extra seeds of α 0 and 0.1 only
        put_run(store, "fcn-fmnist", 0.0, seed, accuracy=0.9, sharpness=5.0, profile="paper")
        put_run(store, "fcn-fmnist", 0.1, seed, accuracy=0.9, sharpness=2.0, profile="paper")
    raised = row(ledger("cpu", store=store, chapters=["calibration"]), "ece-raised/fcn-fmnist")
    assert raised.seeds == [0, 1, 2] and "α* = 0.05" in raised.experiment


def test_later_work_rows_measure_selective_classification_and_calibratability(tmp_path, only_fashion_mnist_here):
    from lsbook.selective import aurc, msp_confidence

    store = Store(tmp_path)
    for seed in (0, 1, 2):
        put_run(store, "fcn-fmnist", 0.0, seed, accuracy=0.85, sharpness=6.0, profile="paper")
        put_run(store, "fcn-fmnist", 0.1, seed, accuracy=0.85, sharpness=2.0, profile="paper")
    rows = ledger("cpu", store=store, chapters=["later_work"])
    assert {r.id for r in rows} >= {f"{kind}/{recipe}" for kind in ("sc-degrades", "sc-lognorm", "calibratability")
                                    for recipe in ("fcn-fmnist", "resnet56-cifar10-jpeg", "alexnet-cifar10")}
    degrades = row(rows, "sc-degrades/fcn-fmnist")
    assert degrades.profile == "paper" and degrades.seeds == [0, 1, 2] and "Xia" in degrades.source

    def area(alpha, seed):
        record = store.find(recipe="fcn-fmnist", alpha=alpha, seed=seed)[0]
        logits = record.arrays["test_logits"]
        return aurc(msp_confidence(logits), logits.argmax(1) == record.arrays["test_labels"])

    assert degrades.estimate == pytest.approx(np.mean([area(0.1, s) - area(0.0, s) for s in (0, 1, 2)]))
    assert row(rows, "calibratability/fcn-fmnist").verdict in (CONFIRMED, CONTRADICTED, INCONCLUSIVE)
    assert row(rows, "sc-degrades/alexnet-cifar10").verdict == NOT_RUN


def test_pair_spread_is_scale_free_and_zero_for_collapsed_classes():
    from lsbook.clusters import pair_spread

    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 40)
    features = np.eye(3, 6)[labels] * 10 + rng.normal(size=(120, 6))
    assert pair_spread(features * 5, labels, 0, 2) == pytest.approx(pair_spread(features, labels, 0, 2))
    collapsed = features.copy()
    collapsed[labels == 0], collapsed[labels == 2] = features[labels == 0].mean(0), features[labels == 2].mean(0)
    assert pair_spread(collapsed, labels, 0, 2) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(LsbookError, match="at least two examples"):
        pair_spread(features, labels, 0, 5)


def test_the_similar_classes_row_reads_the_stored_activations(tmp_path, only_fashion_mnist_here):
    store = Store(tmp_path)
    for seed in (0, 1, 2):
        put_run(store, "fcn-fmnist", 0.0, seed, accuracy=0.85, spread=2.0, profile="paper")
        put_run(store, "fcn-fmnist", 0.1, seed, accuracy=0.85, spread=1.0, profile="paper")
    similar = row(ledger("cpu", store=store, chapters=["later_work"]), "ls-similar/fcn-fmnist")
    assert similar.seeds == [0, 1, 2] and "T-shirt/top and Pullover" in similar.claim
    assert similar.interval == "t-interval over 3 seeds"   # the same shrink for every pair: about 0
    assert abs(similar.estimate) < 0.2


def test_the_temperature_study_compares_the_students_of_both_teachers(tmp_path, monkeypatch):
    import lsbook.data.roots as roots
    from lsbook.experiments.distillation_grid import SETUPS

    monkeypatch.setattr(roots, "locate", lambda name, root=None: Path("/data") if name == "mnist" else None)
    setup = SETUPS["fcn-mnist-temperatures"]
    store = Store(tmp_path)
    for seed in (0, 1, 2):
        for alpha in setup.alphas:
            teacher = setup.teacher(alpha, seed, "paper")
            put_run(store, "fcn-mnist", alpha, seed, accuracy=0.95, profile="paper")
            for temperature in setup.smoothed_temperatures:
                worse = alpha > 0 and temperature > 1          # the claim, fabricated
                put_run(store, "fcn-mnist-student", 0.0, seed, accuracy=0.80 if worse else 0.90, profile="paper",
                        teacher=teacher, distill_temperature=temperature, distill_loss="original", beta=1.0)
    rows = ledger("cpu", store=store, chapters=["later_work"])
    at_one, higher = row(rows, "kd-t1/fcn-mnist-temperatures"), row(rows, "kd-hight/fcn-mnist-temperatures")
    assert at_one.verdict == CONFIRMED and at_one.estimate == pytest.approx(0.0)
    assert higher.verdict == CONFIRMED and higher.estimate < -5 and higher.seeds == [0, 1, 2]
    assert "Chandrasegaran" in higher.source


def test_an_equivalence_its_interval_can_never_confirm_says_so():
    verdict, why = decide(interval(-0.9, 0.2), Direction("equivalent", 0.2))
    assert verdict == INCONCLUSIVE and "can never confirm" in why
    verdict, why = decide(interval(-0.3, 0.05), Direction("equivalent", 0.2))
    assert verdict == INCONCLUSIVE and why == "interval crosses ±0.2"


def test_hard_labels_win_names_the_temperatures_where_the_alpha_0_nll_is_lower():
    from lsbook.claims.arms import Grid
    from lsbook.claims.measures import hard_labels_win

    def record(nll):
        return Record(key="k", config={}, metrics={"curves": {"temperatures": [0.5, 1.0, 1.5, 2.0],
                                                              "test": {"nll": nll}}}, provenance={}, arrays={})

    grid = Grid("transformer-multi30k-small", "paper", [0], [0.0, 0.1],
                {(0.0, 0): record([3.0, 2.0, 1.9, 2.1]), (0.1, 0): record([2.5, 1.9, 2.0, 2.2])})
    assert hard_labels_win(grid, 0.1) == ("hard labels give the lower test NLL at 2 of the 4 temperatures 0.5–2, "
                                     "from T = 1.5 to 2")
