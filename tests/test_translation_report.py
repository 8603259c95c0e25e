"""The Transformer chapter's tables and figure data, from stored (toy) translation runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from lsbook import paper
from lsbook.book import plots
from lsbook.book import translation_report as report
from lsbook.errors import LsbookError
from lsbook.store import Store
from lsbook.run_config import RunConfig
from lsbook.train import ensure_run
from test_data_fixtures import trust, write_multi30k
from test_translation_run import TINY_SETTINGS, tiny_recipe, toy_splits


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("report")
    write_multi30k(root / "data" / "multi30k", toy_splits())
    trust(monkeypatch, "multi30k", root / "data" / "multi30k")
    monkeypatch.setenv("LSBOOK_DATA", str(root / "data"))
    store = Store(root / "results")
    for alpha in (0.0, 0.1):
        ensure_run(RunConfig.of(tiny_recipe(epochs=1), alpha, 0, "smoke", translation=TINY_SETTINGS), store=store,
                   runs_root=root / "runs", progress=False)
    monkeypatch.undo()
    # the chapter looks runs up by profile; the toy runs carry their own recipe and settings
    records = store.records()
    from lsbook.book.gather import RunGrid

    grid = RunGrid("transformer-multi30k", "smoke", (0.0, 0.1), (0,))
    for record in records:
        grid.records[(record.config["alpha"], record.config["seed"])] = record
    return grid


@pytest.mark.slow
def test_calibration_row_and_table(grid):
    row = report.calibration_row(grid)
    zero = grid.records[(0.0, 0)].metrics
    assert row.baseline_ece == [zero["test_ece"]] and row.temperature == [zero["val_temperature"]]
    assert row.scaled_ece == [zero["test_ece_at_val_temperature"]]
    assert row.ece[0.1] == [grid.records[(0.1, 0)].metrics["test_ece"]]
    table = report.calibration_table(grid, [0.0, 0.1, 0.3])
    published = paper.REPLICATION_CALIBRATION["transformer-multi30k"]
    original = paper.ORIGINAL_CALIBRATION["transformer-wmt14"]
    assert f"{zero['test_ece']:.3f}" in table and f"{zero['val_temperature']:.2f} (val)" in table
    assert f"{published.baseline_ece:.3f}" in table and f"{original.scaled_ece:.3f}" in table
    assert table.count("\n") == 2 + 3  # header, rule, ours, replication, original
    assert f"{original.temperature:g}" in report.published_text()


@pytest.mark.slow
def test_findings_text_reads_the_records(grid):
    text = report.findings_text(grid)
    zero, smoothed = grid.records[(0.0, 0)].metrics, grid.records[(0.1, 0)].metrics
    assert f"{zero['test_bleu']:.2f} (α = 0)" in text and f"{smoothed['test_nll']:.3f} (α = 0.1)" in text
    raised = smoothed["test_bleu"] > zero["test_bleu"]
    assert ("Label smoothing raised BLEU" in text) == raised
    from lsbook.book.gather import RunGrid

    assert report.findings_text(RunGrid("transformer-multi30k", "cpu", (0.0,), (0,))) == "No stored run at this profile."


@pytest.mark.slow
def test_calibration_text_reads_the_records(grid):
    text = report.calibration_text(grid)
    zero, smoothed = grid.records[(0.0, 0)].metrics, grid.records[(0.1, 0)].metrics
    assert f"ECE is {zero['test_ece']:.3f} at T = 1" in text and f"T = {zero['val_temperature']:.2f}" in text
    assert f"{smoothed['test_ece']:.3f} (α = 0.1)" in text
    assert ("underconfident" in text) == any(r.metrics["val_temperature"] < 1 for r in grid.all())


@pytest.mark.slow
def test_translation_table_and_numbers(grid):
    table = report.translation_table(grid)
    assert table.count("\n") == 2 + 2
    numbers = report.summary_numbers(grid)
    assert numbers["bleu_0.1"] == grid.records[(0.1, 0)].metrics["test_bleu"]
    assert numbers["T_0"] == grid.records[(0.0, 0)].metrics["val_temperature"]


def test_translation_table_shows_uncased_bleu_and_a_dash_for_older_records():
    from types import SimpleNamespace

    from lsbook.book.gather import RunGrid

    base = {"test_bleu": 30.0, "test_bleu_greedy": 29.0, "test_bleu_at_val_temperature": 30.5,
            "test_accuracy": 0.6, "test_nll": 2.0, "test_ece": 0.05, "val_temperature": 1.1,
            "test_ece_at_val_temperature": 0.02}
    grid = RunGrid("transformer-multi30k", "smoke", (0.0, 0.1), (0,))
    grid.records[(0.0, 0)] = SimpleNamespace(metrics={**base, "test_bleu_uncased": 31.25})
    grid.records[(0.1, 0)] = SimpleNamespace(metrics=dict(base))  # stored before the uncased BLEU
    lines = report.translation_table(grid).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    column = header.index("BLEU uncased (beam, T = 1)")
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert cells[0][column] == "31.25" and cells[1][column] == "–"
    assert cells[0][header.index("BLEU (beam, T = 1)")] == "30.00"


@pytest.mark.slow
def test_figure_data(grid):
    panels = report.reliability_panels(grid)
    (series,) = panels.values()
    zero = grid.records[(0.0, 0)]
    assert set(series) == {"α = 0, T = 1", "α = 0.1, T = 1",
                           f"α = 0, T = {zero.metrics['val_temperature']:.2f} (fitted on val)"}
    for bins in series.values():
        assert bins.counts.sum() == zero.metrics["test_tokens"]
    assert series["α = 0, T = 1"].expected_calibration_error == pytest.approx(zero.metrics["test_ece"])
    plots.reliability_diagram(panels)

    curves = report.temperature_curves(grid)
    token_t, ece = curves["α = 0"]["ece"]  # each metric on the temperatures it was measured at
    assert token_t == zero.metrics["curves"]["temperatures"] and ece[token_t.index(1.0)] == zero.metrics["test_ece"]
    assert curves["α = 0"]["bleu"] == (zero.metrics["bleu_curves"]["temperatures"], zero.metrics["bleu_curves"]["test"])
    fig = plots.calibration_sweep(curves, metrics=("ece", "bleu", "nll"), optima=report.optima(curves))
    assert [len(ax.get_lines()) for ax in fig.axes] == [4, 4, 4, 0]  # two curves, each with its ring; the legend

    with pytest.raises(LsbookError, match="not among"):
        report.stored_bins(zero, 1.7)
    np.testing.assert_allclose(report.stored_bins(zero).edges, np.linspace(0, 1, 16))


@pytest.mark.slow
def test_examples_table(grid):
    table = report.examples_table(grid, count=2)
    assert toy_splits()["test"][0][1] in table and "α = 0.1" in table
    with pytest.raises(LsbookError, match="seed 5"):
        report.examples_table(grid, seed=5)


def test_setup_text_follows_the_plan():
    from lsbook.run_config import RunConfig

    plan = RunConfig.of("transformer-multi30k", 0.0, 0, "cpu")
    text = report.setup_text("cpu")
    assert f"d_model = {plan.recipe.model_kwargs['d_model']}" in text and f"{plan.recipe.epochs} epochs" in text
    assert f"lr {plan.recipe.lr:g}" in text and f"vocabulary of {plan.translation.vocab_size}" in text


def test_empty_store(tmp_path):
    empty = report.gather_translation([0.0], [0], "cpu", train=False, store=Store(tmp_path))
    assert not empty.records and empty.missing_data is None


def test_optimum_reports_the_grid_step_around_the_best_point():
    best = report.optimum(([0.5, 0.9, 0.95, 1.0, 1.5], [0.3, 0.1, 0.05, 0.08, 0.2]), "min")
    assert (best.temperature, best.value, best.step, best.at_edge) == (0.95, 0.05, pytest.approx(0.05), False)
    coarse = report.optimum(([0.5, 1.0, 1.5], [20.0, 21.0, 19.0]), "max")
    assert (coarse.temperature, coarse.step, coarse.at_edge) == (1.0, 0.5, False)
    assert report.optimum(([0.5, 1.0, 1.5], [1.0, 2.0, 3.0]), "min").at_edge
    with pytest.raises(LsbookError, match="increasing"):
        report.optimum(([1.0, 0.5], [1.0, 2.0]), "min")


def test_sampling_text_names_coarsely_located_optima():
    fine = [round(0.8 + 0.05 * i, 2) for i in range(9)]  # 0.8 ... 1.2
    curves = {"α = 0": {"ece": (fine, [abs(t - 1.0) for t in fine]), "bleu": (fine, [-abs(t - 1.1) for t in fine])}}
    assert "at most 0.05 around every one" in report.sampling_text(curves)
    curves["α = 0.3"] = {"ece": ([0.5, 0.75, 1.0, 1.25], [0.3, 0.1, 0.2, 0.4]),
                         "bleu": ([0.5, 1.0, 2.0], [1.0, 2.0, 3.0])}
    text = report.sampling_text(curves)
    assert "ECE of α = 0.3 (T = 0.75), where the grid steps by 0.25" in text
    assert "edge of the grid" in text and "BLEU of α = 0.3 (T = 2)" in text
    assert "α = 0 (" not in text


def _history_record(nll: list[float], temperature: float, seed: int = 0):
    from types import SimpleNamespace

    history = [{"epoch": i + 1, "val_nll": v, "val_temperature": temperature} for i, v in enumerate(nll)]
    return SimpleNamespace(config={"alpha": 0.0, "seed": seed},
                           metrics={"history": history, "val_temperature": temperature})


def test_regime_text_tells_a_run_past_its_best_nll_from_an_underfit_one():
    from lsbook.book.gather import RunGrid

    converged = RunGrid("transformer-multi30k-small", "paper", (0.0,), (0,),
                        {(0.0, 0): _history_record([3.0, 2.0, 1.9, 1.95], 1.35)})
    text = report.regime_text(converged)
    assert "passed its best validation NLL (1.900 after epoch 3; 1.950 after the last, epoch 4)" in text
    assert "T = 1.35: overconfident" in text
    underfit = RunGrid("transformer-multi30k", "cpu", (0.0,), (0,), {(0.0, 0): _history_record([4.0, 3.0, 2.6], 1.01)})
    text = report.regime_text(underfit)
    assert "still falling at the last epoch (2.600 after epoch 3, 0.400 lower" in text and "underfit" in text
    assert "neither over- nor underconfident" in text
    curves = report.training_curves(converged)
    assert curves["α = 0, seed 0"]["val_nll"] == ([1, 2, 3, 4], [3.0, 2.0, 1.9, 1.95])
    assert plots.epoch_curves(curves).axes[0].get_xlabel() == "epoch"
    with pytest.raises(LsbookError, match="at least one curve"):
        plots.epoch_curves({})


def test_the_main_grid_is_the_cpu_sized_paper_runs_where_stored(tmp_path):
    from lsbook.book.gather import RunGrid

    quick = RunGrid("transformer-multi30k", "cpu", (0.0,), (0,))
    assert report.main_grid(quick, (0.0,), store=Store(tmp_path)) is quick       # nothing stored
    smoke = RunGrid("transformer-multi30k", "smoke", (0.0,), (0,))
    assert report.main_grid(smoke, (0.0,)) is smoke                             # never at smoke
