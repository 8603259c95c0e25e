"""lsbook.book.pages, lsbook.book.tables, lsbook.book.gather: what the chapters print, from fake stored
runs."""

from types import SimpleNamespace

import numpy as np
import pytest

from lsbook import paper
from lsbook.book import gather as gather_module
from lsbook.book import pages, tables
from lsbook.book.gather import RunGrid, gather
from lsbook.calibration import expected_calibration_error, fit_temperature
from lsbook.errors import DataMissingError, LsbookError
from lsbook.recipes import RECIPES


def fake_record(recipe, alpha, seed, accuracy, profile="cpu", scale_val=1.0, scale_test=1.0):
    rng = np.random.default_rng(seed + int(100 * alpha))
    labels = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 3.0 * np.eye(3)[labels]
    return SimpleNamespace(
        key=f"{recipe}-{alpha}-{seed}",
        config={"recipe": recipe, "profile": profile, "alpha": alpha, "seed": seed, "engine_version": 1,
                "resolved_recipe": {"synthetic_data": False}},
        metrics={"test_accuracy": accuracy},
        arrays={"val_logits": logits * scale_val, "val_labels": labels,
                "test_logits": logits * scale_test, "test_labels": labels},
        provenance={"device": "cpu", "device_name": "CPU: test", "torch_version": "2.x",
                    "git_commit": "abcdef0123456789", "git_dirty": False, "date": "2025-01-01T00:00",
                    "wall_seconds": 12.0})


def grid_of(recipe, accuracies, **kw):
    """accuracies: {α: [per-seed accuracy]}"""
    alphas = tuple(accuracies)
    seeds = tuple(range(max(len(v) for v in accuracies.values())))
    grid = RunGrid(recipe, "cpu", alphas, seeds)
    for alpha, values in accuracies.items():
        for seed, acc in enumerate(values):
            grid.records[(alpha, seed)] = fake_record(recipe, alpha, seed, acc, **kw)
    return grid


# --- pages -----------------------------------------------------------------------------------------

def test_markdown_table_shape_and_escaping():
    table = pages.markdown_table(["a", "b"], [["x|y", None], [1, 2.5]])
    lines = table.strip().splitlines()
    assert lines[0] == "| a | b |" and lines[1] == "|:--|--:|"
    assert lines[2] == "| x\\|y | – |"
    with pytest.raises(LsbookError, match="cells"):
        pages.markdown_table(["a"], [[1, 2]])


def test_admonition_and_smoke_notice():
    text = pages.admonition("warning", "Title", "body")
    assert text.startswith(":::{admonition} Title\n:class: warning") and text.rstrip().endswith(":::")
    assert "not results" in pages.profile_notice("smoke")
    assert "cpu" in pages.profile_notice("cpu")


def test_provenance_text_names_profile_seeds_hardware_torch_and_code():
    records = [fake_record("fcn-fmnist", 0.0, s, 0.9) for s in (0, 1)]
    text = pages.provenance_text(records)
    for part in ("2 stored runs", "profile cpu", "seeds 0, 1", "CPU: test", "torch 2.x", "abcdef0123",
                 "engine version 1"):
        assert part in text
    assert pages.provenance_text([]) == "No stored runs."
    records[1].provenance["cpu_capability"] = "AVX2"  # recorded since 2026-12-02; older records lack it
    assert "hardware CPU: test, CPU: test (AVX2);" in pages.provenance_text(records)


# --- tables --------------------------------------------------------------------------------------

def test_accuracy_table_shows_mean_and_std_beside_the_published_rows():
    grid = grid_of("alexnet-cifar10", {0.0: [0.80, 0.82], 0.1: [0.85]})
    table = tables.accuracy_table([grid], [0.0, 0.1], extra_rows=["inceptionv4-imagenet"])
    rows = [line for line in table.splitlines()[2:]]
    assert rows[0].split(" | ")[2] == "ours (cpu, 1–2 seeds per α)"  # α = 0.1 has one seed only
    mean, std = np.mean([80.0, 82.0]), np.std([80.0, 82.0], ddof=1)
    assert f"{mean:.2f} ± {std:.2f}" in rows[0] and "85.00" in rows[0]
    assert "Wagner et al. (2023) | 85.01 | 85.47" in rows[1]
    assert "Müller et al. (2019) | 86.8 ± 0.2 | 86.7 ± 0.3" in rows[2]
    assert "Inception-v4" in rows[3]


def test_accuracy_table_counts_seeds_of_a_complete_grid():
    grid = grid_of("alexnet-cifar10", {0.0: [0.80, 0.82], 0.1: [0.85, 0.84]})
    rows = tables.accuracy_table([grid], [0.0, 0.1]).splitlines()[2:]
    assert rows[0].split(" | ")[2] == "ours (cpu, 2 seeds)"


def test_accuracy_table_says_why_ours_is_missing():
    grid = RunGrid("fcn-mnist", "cpu", (0.0,), (0,), missing_data="dataset 'mnist' not found")
    table = tables.accuracy_table([grid], [0.0])
    assert "dataset not on this machine" in table and "99.06" in table


def test_calibration_fits_the_temperature_on_validation_never_on_test():
    # validation logits are sharper than test logits: the two splits give different T
    grid = grid_of("fcn-fmnist", {0.0: [0.9], 0.1: [0.9]}, scale_val=2.0, scale_test=0.7)
    record = grid.at(0.0)[0]
    result = tables.calibration_of(grid)
    t_val = fit_temperature(record.arrays["val_logits"], record.arrays["val_labels"])
    t_test = fit_temperature(record.arrays["test_logits"], record.arrays["test_labels"])
    assert result.temperatures == [pytest.approx(t_val)] and abs(t_val - t_test) > 0.1
    expected = expected_calibration_error(record.arrays["test_logits"], record.arrays["test_labels"], 15, t_val)
    assert result.scaled_ece == [pytest.approx(expected)]
    table = tables.calibration_table([grid], [0.0, 0.1])
    assert f"{t_val:.2f}" in table and "0.008" in table  # the replication's FMNIST row


def test_summaries_quote_our_numbers_or_say_there_are_none():
    grid = grid_of("fcn-fmnist", {0.0: [0.80], 0.05: [0.83], 0.1: [0.82]})
    text = tables.accuracy_summary([grid])
    assert "80.00 % at α = 0" in text and "83.00 % at its best α = 0.05 (+3.00 points)" in text
    assert "nothing of ours" in tables.accuracy_summary([RunGrid("fcn-mnist", "cpu", (0.0,), (0,))])
    assert "FCN on Fashion-MNIST" in tables.calibration_summary([grid])


def test_published_line_quotes_both_papers():
    line = tables.published_line("alexnet-cifar10", "accuracy")
    assert "Wagner et al. (2023): 85.01 % at α = 0," in line and "Müller et al. (2019): 86.8 ± 0.2 % at α = 0" in line
    line = tables.published_line("resnet56-cifar100", "calibration")
    assert "0.021 at T = 1.9" in line and "0.029 at T = 2.9" in line
    assert tables.published_line("fcn-mnist-student") == "No published numbers for this combination."
    with pytest.raises(ValueError, match="kind"):
        tables.published_line("fcn-mnist", "bleu")


def test_recipes_table_lists_every_recipe_with_table5_marks():
    table = tables.recipes_table()
    for name in RECIPES:
        assert f"`{name}`" in table
    row = next(line for line in table.splitlines() if "`resnet56-cifar100`" in line)
    assert row.count("✓") == len(paper.TABLE5_EXPERIMENTS["resnet56-cifar100"])


def test_profile_changes_table_lists_changed_fields():
    from lsbook.profiles import resolve

    table = tables.profile_changes_table("cpu")
    cpu_epochs = resolve("fcn-fmnist", "cpu").epochs
    assert f"epochs: {RECIPES['fcn-fmnist'].epochs} → {cpu_epochs}" in table.split("`fcn-fmnist`")[1]
    assert "(unchanged)" not in tables.profile_changes_table("smoke").split("fcn-fmnist")[1].split("\n")[0]


def test_stored_runs_of_another_profile_are_shown_beside_ours(monkeypatch):
    paper_record = fake_record("fcn-fmnist", 0.0, 3, 0.91, profile="paper")
    fake_store = SimpleNamespace(find=lambda recipe, profile: [paper_record] if profile == "paper" else [])
    monkeypatch.setattr("lsbook.train.find_run",
                        lambda c, store=None: paper_record if (c.profile, c.alpha, c.seed) == ("paper", 0.0, 3) else None)
    cpu = grid_of("fcn-fmnist", {0.0: [0.85], 0.1: [0.86]})
    grids = gather_module.with_stored([cpu], [0.0, 0.1], store=fake_store)
    assert [g.profile for g in grids] == ["paper", "cpu"] and grids[0].seeds == (3,)
    rows = tables.accuracy_table(grids, [0.0, 0.1]).splitlines()[2:]
    assert rows[0].startswith("| Fashion-MNIST | FCN | ours (paper, 1 seed) | 91.00 |")
    assert rows[1].startswith("|  |  | ours (cpu, 1 seed) | 85.00 |")
    assert "Wagner" in rows[2] and len(rows) == 3  # the published row once per recipe
    smoke = RunGrid("fcn-fmnist", "smoke", (0.0,), (0,))
    assert gather_module.with_stored([smoke], [0.0], store=fake_store) == [smoke]


def test_longest_grid_draws_the_runs_that_trained_longest(monkeypatch):
    def run(profile, alpha, epochs, features=True):
        record = fake_record("fcn-mnist", alpha, 0, 0.9, profile=profile)
        record.config["resolved_recipe"] = {"epochs": epochs}
        if features:
            record.arrays = {**record.arrays, "train_features": np.zeros((3, 2))}
        return record

    stored = {("paper", 0.0): run("paper", 0.0, 100), ("paper", 0.1): run("paper", 0.1, 100)}
    monkeypatch.setattr("lsbook.train.find_run", lambda c, store=None: stored.get((c.profile, c.alpha)))
    cpu = RunGrid("fcn-mnist", "cpu", (0.0, 0.1), (0,), {(a, 0): run("cpu", a, 3) for a in (0.0, 0.1)})
    chosen = gather_module.longest_grid(cpu, needs="train_features")
    assert chosen.profile == "paper" and gather_module.epochs_of(chosen) == 100
    stored[("paper", 0.1)] = run("paper", 0.1, 100, features=False)  # a paper run without features
    assert gather_module.longest_grid(cpu, needs="train_features") is cpu
    del stored[("paper", 0.1)]  # an incomplete paper grid is not drawn either
    assert gather_module.longest_grid(cpu, needs="train_features") is cpu
    stored[("paper", 0.1)] = run("paper", 0.1, 3)  # as long as cpu: paper is preferred
    assert gather_module.longest_grid(cpu).profile == "paper"
    smoke = RunGrid("fcn-mnist", "smoke", (0.0, 0.1), (0,), {(a, 0): run("smoke", a, 1) for a in (0.0, 0.1)})
    assert gather_module.longest_grid(smoke) is smoke  # a smoke page never draws other profiles' runs
    assert gather_module.longest_grid(RunGrid("fcn-mnist", "smoke", (0.0,), (0,))) is None


def test_reproducibility_table_has_one_row_per_run():
    records = [fake_record("fcn-fmnist", a, 0, 0.9) for a in (0.0, 0.1)]
    table = tables.reproducibility_table(records)
    records.append(SimpleNamespace(key="k3", config={"recipe": "smoothness-index", "profile": "cpu", "seed": 0,
                                                      "teacher_key": "t1", "engine_version": 1},
                                   metrics={"gamma": 0.1}, provenance={}))
    table = tables.reproducibility_table(records)
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 3
    assert "abcdef0123" in table and "CPU: test" in table and "90.00" in table
    assert "| `k3` | `smoothness-index` | – | 0 | t1 |" in table


# --- gather ----------------------------------------------------------------------------------------

def test_gather_reads_the_store_and_trains_only_what_is_missing(monkeypatch):
    stored = {(0.0, 0): fake_record("fcn-fmnist", 0.0, 0, 0.9)}
    trained = []
    monkeypatch.setattr("lsbook.train.find_run", lambda c, store=None: stored.get((c.alpha, c.seed)))

    def fake_ensure(c, **kw):
        trained.append((c.alpha, c.seed))
        return fake_record(c.recipe.name, c.alpha, c.seed, 0.8)

    monkeypatch.setattr("lsbook.train.ensure_run", fake_ensure)
    grid = gather("fcn-fmnist", [0.0, 0.1], [0], "cpu")
    assert trained == [(0.1, 0)] and grid.complete
    grid = gather("fcn-fmnist", [0.0, 0.1], [0], "cpu", train=False)
    assert list(grid.records) == [(0.0, 0)] and not grid.complete


def test_gather_remembers_missing_data_and_stops_trying(monkeypatch):
    calls = []
    monkeypatch.setattr("lsbook.train.find_run", lambda *a, **k: None)

    def missing(*a, **k):
        calls.append(a)
        raise DataMissingError("dataset 'mnist' not found; run `python -m lsbook data fetch mnist`")

    monkeypatch.setattr("lsbook.train.ensure_run", missing)
    grid = gather("fcn-mnist", [0.0, 0.1], [0, 1], "cpu")
    assert len(calls) == 1 and not grid.records
    assert "data fetch mnist" in grid.missing_data
    notice = pages.missing_data_notice("fcn-mnist", grid.missing_data)
    assert "Data missing: fcn-mnist" in notice and "data fetch mnist" in notice



def test_published_only_tables_and_the_nothing_stored_notice():
    table = tables.published_calibration_table(["transformer-multi30k", "transformer-wmt14"])
    multi30k = tables.describe("transformer-multi30k")[0]
    assert f"| {multi30k} | Transformer | Wagner et al. (2023) | 0.058 | 1.8 | 0.449 |" in table
    assert "| WMT14 EN-DE | Transformer | Müller et al. (2019) | 0.018 | 1.13 | 0.056 | – | 0.019 |" in table
    assert "| WMT14 EN-DE, Transformer | BLEU | 25.3 | 25.8 |" in tables.literature_table()
    notice = pages.nothing_stored_notice("x", ["python -m lsbook train a", "python -m lsbook train b"], "See above.")
    assert "```shell\npython -m lsbook train a\npython -m lsbook train b\n```" in notice
    assert notice.startswith(":::{admonition} No stored runs for x") and notice.rstrip().endswith(":::")
    nested = pages.admonition("note", "outer", pages.admonition("note", "inner", "text"))
    assert nested.startswith("::::{admonition} outer")  # the outer fence is longer than the inner


def test_missing_data_notices_list_every_combination():
    text = pages.missing_data_notices([("fcn-mnist", "dataset 'mnist' not found; run `python -m lsbook data fetch mnist`",
                                        tables.published_line("fcn-mnist")),
                                       ("alexnet-cifar10", "dataset 'cifar10' not found", "")])
    assert "Data missing on this machine: 2 combinations" in text
    assert "- `fcn-mnist`: dataset 'mnist' not found; run `python -m lsbook data fetch mnist` Published:" in text
    assert "- `alexnet-cifar10`: dataset 'cifar10' not found\n" in text


def test_the_replication_ablation_gives_each_choice_its_effect(tmp_path):
    from lsbook.book.tables import REPLICATION_ABLATION, replication_ablation_table
    from lsbook.store import Store
    from tests.test_claims import put_run

    store = Store(tmp_path)
    for seed in (0, 1):
        put_run(store, "fcn-fmnist-full", 0.0, seed, accuracy=0.90, profile="paper")
        put_run(store, "fcn-fmnist-full-epochlr", 0.0, seed, accuracy=0.95, profile="paper")
    lines = replication_ablation_table(store).splitlines()
    assert len(lines) == 2 + len(REPLICATION_ABLATION)
    base, epochlr = lines[2], next(line for line in lines if "`fcn-fmnist-full-epochlr`" in line)
    assert "| 0, 1 |" in base and base.split("|")[5].strip() == "–"       # the reference has no effect of its own
    effect = float(epochlr.split("|")[5].split("±")[0].strip().replace("−", "-"))
    accuracy = {r.config["recipe"]: [] for r in store.records()}
    for r in store.records():
        accuracy[r.config["recipe"]].append(100 * r.metrics["test_accuracy"])
    assert effect == pytest.approx(np.mean(accuracy["fcn-fmnist-full-epochlr"]) - np.mean(accuracy["fcn-fmnist-full"]),
                                   abs=0.01)
    assert "not trained yet" in next(line for line in lines if "`fcn-fmnist-full-replication`" in line)
