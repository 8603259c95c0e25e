"""lsbook.book.plots: every figure renders to a PNG from tiny synthetic data, with the right axes."""

from types import SimpleNamespace

import numpy as np
import pytest

from lsbook.book import plots
from lsbook.calibration import reliability_bins
from lsbook.errors import LsbookError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def save(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000
    return path


def fake_record(alpha, n_features=6, per_class=8, classes=(0, 1, 2), num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.array(classes), per_class)
    weight = rng.normal(size=(num_classes, n_features))
    arrays = {
        "train_features": weight[labels] + 0.1 * rng.normal(size=(labels.size, n_features)),
        "train_feature_labels": labels,
        "test_features": weight[labels] + 0.2 * rng.normal(size=(labels.size, n_features)),
        "test_feature_labels": labels,
        "head_weight": weight, "head_bias": rng.normal(size=num_classes),
        "val_logits": rng.normal(size=(40, num_classes)) * 3, "val_labels": rng.integers(0, num_classes, 40),
        "test_logits": rng.normal(size=(50, num_classes)) * 3, "test_labels": rng.integers(0, num_classes, 50),
    }
    return SimpleNamespace(arrays=arrays, config={"alpha": alpha},
                           metrics={"class_names": ["zero", "one", "two", "three"]})


def test_label_vectors_draws_the_smoothed_targets(tmp_path):
    fig = plots.label_vectors([0.0, 0.2], num_classes=5, true_class=1)
    save(fig, tmp_path, "fig1")
    ax = fig.axes[0]
    heights = np.array([p.get_height() for p in ax.patches]).reshape(2, 5)  # one group per α
    np.testing.assert_allclose(heights[0], [0, 1, 0, 0, 0])
    np.testing.assert_allclose(heights[1], [0.04, 0.84, 0.04, 0.04, 0.04])
    assert ax.get_xlabel() == "class k"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["α = 0", "α = 0.2"]
    with pytest.raises(LsbookError, match="alphas"):
        plots.label_vectors([])


def test_penultimate_figure_is_a_grid_of_alpha_rows_and_split_columns(tmp_path):
    rows = plots.penultimate_rows([fake_record(0.0), fake_record(0.1)])
    fig = plots.penultimate_figure(rows)
    save(fig, tmp_path, "fig2")
    assert len(fig.axes) == 4
    grid = [[ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start] for ax in fig.axes]
    assert grid == [[0, 0], [0, 1], [1, 0], [1, 1]]  # 2 × 2: rows without / with smoothing
    assert [ax.get_title() for ax in fig.axes] == ["training set, α = 0", "test set, α = 0",
                                                   "training set, α = 0.1", "test set, α = 0.1"]
    two_models = plots.penultimate_rows([fake_record(0.0)], label="fcn-mnist") + rows
    fig = plots.penultimate_figure(two_models)
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "fcn-mnist: training set, α = 0"
    # three classes, drawn with their names, 8 points each
    assert [len(c.get_offsets()) for c in fig.axes[0].collections] == [8, 8, 8]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["zero", "one", "two"]


def test_projection_panel_checks_the_classes():
    record = fake_record(0.0)
    with pytest.raises(LsbookError, match="stored classes"):
        plots.projection_panel(record, "train", classes=(0, 1, 3))
    panel = plots.projection_panel(record, "train", classes=(2, 0, 1), fold_bias=True)
    assert panel.class_names == ("two", "zero", "one") and panel.head_bias is not None


def test_reliability_diagram_has_counts_under_each_panel(tmp_path):
    record = fake_record(0.0)
    series = plots.reliability_series(record, [fake_record(0.1, seed=1)])
    assert list(series)[0] == "α = 0, T = 1" and list(series)[2] == "α = 0.1, T = 1"
    assert list(series)[1].startswith("α = 0, T = ")  # T fitted on the validation logits
    fig = plots.reliability_diagram({"a": series, "b": {"only": series["α = 0, T = 1"]}})
    save(fig, tmp_path, "reliability")
    assert len(fig.axes) == 4  # accuracy + counts per panel
    accuracy_axes = [ax for ax in fig.axes if ax.get_ylabel() == "accuracy"]
    count_axes = [ax for ax in fig.axes if ax.get_ylabel() == "examples per bin"]
    assert len(accuracy_axes) == 2 and len(count_axes) == 2
    # the count steps add up to the number of test examples
    step = count_axes[0].get_lines()[0]
    assert step.get_ydata().sum() == 50


def test_reliability_count_axis_is_non_negative_with_empty_bins(tmp_path):
    from lsbook.calibration import ReliabilityBins

    edges = np.linspace(0, 1, 16)
    counts = np.zeros(15, dtype=np.int64)
    counts[[3, 10, 14]] = [5, 200, 3000]  # twelve empty bins
    centres = np.where(counts > 0, (edges[:-1] + edges[1:]) / 2, np.nan)
    fig = plots.reliability_diagram({"p": {"s": ReliabilityBins(edges, counts, centres, centres)},
                                     "empty": {"none": ReliabilityBins(edges, np.zeros(15, np.int64),
                                                                       np.full(15, np.nan), np.full(15, np.nan))}})
    save(fig, tmp_path, "reliability_empty_bins")
    for ax in [ax for ax in fig.axes if ax.get_ylabel() == "examples per bin"]:
        bottom, top = ax.get_ylim()
        assert bottom == 0 and top >= 1
        ticks = [t for t in ax.get_yticks() if bottom <= t <= top]
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert ticks and min(ticks) == 0 and all(float(t).is_integer() for t in ticks)
        assert labels and all(label.isdigit() for label in labels), labels
        assert min(ax.get_lines()[0].get_ydata()) == 0  # empty bins drawn at 0


def test_reliability_series_uses_a_given_temperature():
    record = fake_record(0.0)
    series = plots.reliability_series(record, temperature=2.0)
    bins = series["α = 0, T = 2.00"]
    expected = reliability_bins(record.arrays["test_logits"], record.arrays["test_labels"], 15, 2.0)
    np.testing.assert_array_equal(bins.counts, expected.counts)


def test_calibration_sweep_plots_each_metric_on_its_own_temperatures(tmp_path):
    fine, coarse = [0.5, 0.75, 1.0, 1.25, 2.0], [0.5, 1.0, 2.0]
    curves = {"α = 0": {"ece": (fine, [0.1, 0.06, 0.05, 0.1, 0.2]), "bleu": (coarse, [20, 21, 19]),
                        "nll": (fine, [2, 1.6, 1.5, 1.6, 1.8])},
              "α = 0.1": {"ece": (fine, [0.2, 0.1, 0.04, 0.08, 0.1]), "nll": (fine, [2.1, 1.7, 1.6, 1.65, 1.7])}}
    ring = SimpleNamespace(temperature=1.0, value=0.05)
    fig = plots.calibration_sweep(curves, optima={"α = 0": {"ece": ring}})
    save(fig, tmp_path, "fig5")
    assert [ax.get_ylabel() for ax in fig.axes] == ["ECE", "BLEU", "NLL (nats)"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 1, 2]  # the ring is a line of its own
    np.testing.assert_array_equal(fig.axes[1].get_lines()[0].get_xdata(), coarse)
    with pytest.raises(LsbookError, match="temperatures"):
        plots.calibration_sweep({"x": {"ece": ([0.5, 1.0, 2.0], [1, 2])}})


def test_distillation_figure_sorts_points_by_gamma(tmp_path):
    fig = plots.distillation_figure({"M1": ([0.3, 0.0, 0.15], [90, 92, 91]), "M3": ([0.1], [93])})
    save(fig, tmp_path, "fig7")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "smoothness index γ"
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0.0, 0.15, 0.3])
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [92, 91, 90])
    with pytest.raises(LsbookError):
        plots.distillation_figure({"bad": ([0.1, 0.2], [90])})


def test_distillation_figure_stacks_one_panel_per_study(tmp_path):
    fig = plots.distillation_figure([({"M1": ([0.0, 0.3], [99, 98])}, "MNIST [paper]"),
                                     ({"M2": ([0.0], [90]), "M3": ([0.1], [91])}, "Fashion-MNIST [cpu]")])
    save(fig, tmp_path, "fig7-panels")
    assert [ax.get_title() for ax in fig.axes] == ["MNIST [paper]", "Fashion-MNIST [cpu]"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 2]
    with pytest.raises(LsbookError, match="every panel"):
        plots.distillation_figure([({"M1": ([0.0], [99])}, "a"), ({}, "b")])


def test_mutual_information_figure_has_log2_and_logN(tmp_path):
    steps = [0, 10, 20]
    fig = plots.mutual_information_figure(steps, {"α = 0": [[0.5, 2.0, 1.0], [0.6, 2.2, 1.1]],
                                                  "α = 0.1": [0.4, 1.5, 0.7]}, num_examples=8)
    save(fig, tmp_path, "mi")
    ax = fig.axes[0]
    levels = sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() in ("--", ":"))
    np.testing.assert_allclose(levels, [np.log(2), np.log(8)])
    assert ax.get_ylabel() == "mutual information (nats)"
    assert len(ax.collections) == 1  # a spread band only for the curve with two seeds
    with pytest.raises(LsbookError):
        plots.mutual_information_figure(steps, {"x": [1, 2]}, num_examples=8)
