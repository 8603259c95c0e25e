"""lsbook.book.plots: every figure renders to a PNG from tiny synthetic data, with the right axes."""

import math
import struct
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

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
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["α = 0", "α = 0.2"]  # below the axes
    assert [c.patches[0].get_facecolor() for c in ax.containers] == [
        to_rgba(plots.alpha_colour(0.0)), to_rgba(plots.alpha_colour(0.2))]
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
    # one legend of the class names below the rows that draw them, none inside an axes
    assert [[t.get_text() for t in legend.get_texts()] for sub in fig.subfigs for legend in sub.legends] \
        == [["zero", "one", "two"]]
    assert not any(ax.get_legend() for ax in fig.axes)


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
    count_axes = [ax for ax in fig.axes if ax.get_ylabel() == "examples\nper bin"]
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
    for ax in [ax for ax in fig.axes if ax.get_ylabel() == "examples\nper bin"]:
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
    assert [ax.get_ylabel() for ax in fig.axes] == ["ECE", "BLEU", "NLL (nats)", ""]
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 1, 2, 0]  # the ring is a line of its own
    assert not fig.axes[3].axison and [t.get_text() for t in fig.axes[3].get_legend().get_texts()] == \
        ["α = 0", "α = 0.1"]  # the legend of all three panels, in the fourth cell of the 2 × 2 grid
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


# --- How every figure looks: legible in the book's column, one colour per α, legends outside ------

def shown_font_sizes(fig) -> tuple[int, list[tuple[float, str]]]:
    """(width in px of the PNG the book shows, [(shown size in pt, text)] smallest first).

    The PNG is what a notebook cell displays (IPython's print_figure: the figure's dpi,
    bbox_inches="tight"). The book's 688-px column scales a wider PNG down to 688 px and shows a
    narrower one at its own size, so a text of s points is shown at s × min(1, 688 / width) points
    (at 100 dpi one point of the figure is about one CSS pixel; a higher dpi makes this an
    underestimate, never an overestimate, of what a reader sees).
    """
    from IPython.core.pylabtools import print_figure

    png = print_figure(fig, "png")
    assert png.startswith(PNG_MAGIC)
    width = struct.unpack(">I", png[16:20])[0]
    scale = min(1.0, plots.COLUMN_PX / width)
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return width, sorted((t.get_fontsize() * scale, t.get_text()) for t in texts)


def _bins(seed, n=200, k=5):
    from lsbook.calibration import reliability_bins as bins

    rng = np.random.default_rng(seed)
    return bins(rng.normal(size=(n, k)) * 3, rng.integers(0, k, n), 15)


LONG_TITLE = "AlexNet, CIFAR-10 (JPEG re-encode), 40 epochs (14,080 of the original's 390,000 steps) [paper]"
EPOCHS = list(range(1, 21))


def _epoch_curves():
    """Six runs, the way translation_report.training_curves names them; α = 0, seed 1 lacks the
    temperature panel (a run that misses a metric must not shift the others' colours)."""
    curves = {}
    for alpha in (0.0, 0.1, 0.3):
        for seed in (0, 1):
            nll = [4 / e + 1.7 + alpha + 0.01 * seed for e in EPOCHS]
            temperature = [1 + 0.02 * e * (0.3 - alpha) for e in EPOCHS]
            curves[f"α = {alpha:g}, seed {seed}"] = {"val_nll": (EPOCHS, nll), "val_temperature": (EPOCHS, temperature)}
    del curves["α = 0, seed 1"]["val_temperature"]
    return curves


def _sweep_curves():
    grid, coarse = list(np.linspace(0.5, 2.0, 31)), [0.5, 1.0, 1.5, 2.0]
    return {f"α = {a:g}": {"ece": (grid, [abs(t - 1 - a) / 10 for t in grid]), "bleu": (coarse, [30 + a, 31, 30, 29]),
                           "nll": (grid, [1.8 + (t - 1) ** 2 for t in grid])} for a in (0.0, 0.1, 0.3)}


DISTILLATION_LABELS = ("M1: teacher trained with α (γ = α)", "M2: student, no distillation, trained with α (γ = α)",
                       "M3: student ← hard-label teacher at T", "M4: student ← teacher trained with α, T = 1")


def _distillation_panels():
    first = {label: ([0.0, 0.15, 0.3, 0.45, 0.6, 0.75], [99 - i * 0.1 - g for g in (0, 0.1, 0.2, 0.3, 0.4, 0.5)])
             for i, label in enumerate(DISTILLATION_LABELS)}
    second = {label: first[label] for label in DISTILLATION_LABELS[1:]}  # M1 missing: the others keep their colours
    return [(first, "FCN 1200 → FCN 800, MNIST [paper, seed 0]: the main result"),
            (second, "FCN 1200 → FCN 800, Fashion-MNIST (stand-in for MNIST) [cpu, seed 0]: the cpu variant")]


def _penultimate_rows():
    return (plots.penultimate_rows([fake_record(0.0), fake_record(0.1)], label="FCN, MNIST [paper]")
            + plots.penultimate_rows([fake_record(0.0), fake_record(0.1)],
                                     label="AlexNet, CIFAR-10 (JPEG), 40 epochs [paper]"))


def _risk_panels():
    coverage = np.linspace(0.01, 1, 50)
    return {f"{name} [paper, seed 0]": {f"α = {a:g}, {rank}": (coverage, 10 * coverage ** (2 + a))
                                        for a in (0.0, 0.1) for rank in ("softmax", "normalised max logit (p = 6)")}
            for name in ("FCN, MNIST", "FCN, Fashion-MNIST", "AlexNet, CIFAR-10 (JPEG re-encode)")}


def _reliability_panels(count):
    series = {"α = 0, T = 1": _bins(0), "α = 0, T = 1.07": _bins(1), "α = 0.05, T = 1": _bins(2),
              "α = 0.1, T = 1": _bins(3)}
    titles = ["FCN, MNIST [paper]", "FCN, MNIST [cpu]", "FCN, Fashion-MNIST [paper]", "FCN, Fashion-MNIST [cpu]",
              LONG_TITLE]
    panels = {title: dict(series) for title in titles[:count]}
    if count == 5:
        del panels[LONG_TITLE]["α = 0.05, T = 1"]  # a panel without α = 0.05: α = 0.1 keeps its colour
    return panels


# Every figure function, on fabricated data shaped like the book's (its longest titles and labels,
# its largest number of panels).
FIGURES = {
    "label vectors": lambda: plots.label_vectors([0.0, 0.1, 0.3, 0.6]),
    "penultimate, 2 models": lambda: plots.penultimate_figure(_penultimate_rows()),
    "reliability, 5 panels": lambda: plots.reliability_diagram(_reliability_panels(5)),
    "reliability, 1 panel": lambda: plots.reliability_diagram({"Transformer, Multi30k test tokens (paper)": {
        label: _bins(i) for i, label in enumerate(
            ["α = 0, T = 1", "α = 0, T = 1.36 (fitted on val)", "α = 0.1, T = 1", "α = 0.3, T = 1"])}}),
    "epoch curves": lambda: plots.epoch_curves(_epoch_curves()),
    "calibration sweep": lambda: plots.calibration_sweep(_sweep_curves()),
    "distillation, 2 panels": lambda: plots.distillation_figure(_distillation_panels()),
    "mutual information": lambda: plots.mutual_information_figure(
        np.arange(0, 14001, 875), {"α = 0": 1.6 + 0.1 * np.sin(np.arange(17)),
                                   "α = 0.1": [1.5 + 0.1 * np.cos(np.arange(17)), 1.55 + 0.1 * np.cos(np.arange(17))]},
        600, collapsed=0.81),
    "risk coverage, 3 panels": lambda: plots.risk_coverage_figure(_risk_panels()),
    "accuracy by temperature": lambda: plots.accuracy_by_temperature_figure(
        {"teacher α = 0 (seeds 0, 1, 2)": ([1, 2, 4, 8], [98.9, 99.0, 99.1, 99.0]),
         "teacher α = 0.1 (seeds 0, 1, 2)": ([1, 2, 4, 8], [98.8, 98.7, 98.5, 98.4])}, "FCN 1200 → FCN 800, MNIST [paper]"),
    "placeholder": lambda: plots.placeholder_figure("No mutual-information curve is stored at this profile."),
}

MIN_SHOWN_PT = 9


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_is_legible_in_the_column(name):
    width, sizes = shown_font_sizes(FIGURES[name]())
    smallest, text = sizes[0]
    assert smallest >= MIN_SHOWN_PT, (f"{name}: {text!r} is shown at {smallest:.1f} pt "
                                      f"(PNG {width} px wide, shown at {min(width, plots.COLUMN_PX)} px)")


def test_the_legibility_check_fails_on_a_figure_too_wide_for_the_column():
    """The check can fail: four panels in a row at 14.4 in and 110 dpi (the calibration figure as
    it was) show their 10-pt tick labels at about 4 pt; small text in a narrow figure fails too."""
    wide = Figure(figsize=(14.4, 4.2), dpi=110, layout="constrained")
    for ax in wide.subplots(1, 4):
        ax.plot([0, 1], [0, 1], label="α = 0")
        ax.legend(fontsize="x-small")
    width, sizes = shown_font_sizes(wide)
    assert width > 1500 and sizes[0][0] < 4
    narrow = Figure(figsize=(5, 3), dpi=100)
    narrow.subplots().set_title("small", fontsize="small")
    assert shown_font_sizes(narrow)[1][0] == pytest.approx((8.33, "small"), abs=0.01)


def _line_colours(fig) -> dict[str, set[str]]:
    """The colours every labelled line and bar of ``fig`` is drawn in, by label (legend entries too)."""
    colours: dict[str, set[str]] = {}
    for line in fig.findobj(Line2D):
        if line.get_label() and not line.get_label().startswith("_"):
            colours.setdefault(line.get_label(), set()).add(to_hex(line.get_color()))
    for ax in fig.axes:
        for container in ax.containers:
            colours.setdefault(container.get_label(), set()).update(to_hex(p.get_facecolor()) for p in container)
    return colours


@pytest.mark.parametrize("name", FIGURES)
def test_a_series_and_an_alpha_keep_one_colour_in_every_panel(name):
    colours = _line_colours(FIGURES[name]())
    assert all(len(c) == 1 for c in colours.values()), {k: c for k, c in colours.items() if len(c) > 1}
    by_alpha: dict[float, set[str]] = {}
    for label, colour in colours.items():
        alpha = plots.label_alpha(label)
        if alpha is not None:
            by_alpha.setdefault(alpha, set()).update(colour)
    for alpha, colour in by_alpha.items():  # the book's one colour for that α, whatever the figure
        assert colour == {plots.alpha_colour(alpha)}, (alpha, colour)
    assert len({plots.alpha_colour(a) for a in by_alpha}) == len(by_alpha)  # two αs never share one


def test_runs_of_one_alpha_differ_by_line_style_not_colour():
    """N8: each run of Fig. 5.1 has one colour in both panels, the seed sets the line style, and
    runs of different α never share a colour (the rings once shifted the colour cycle)."""
    fig = plots.epoch_curves(_epoch_curves())
    nll, temperature = fig.axes[:2]
    def styles(ax):
        return {line.get_label(): (to_hex(line.get_color()), line.get_linestyle())
                for line in ax.get_lines() if not line.get_label().startswith("_")}
    left, right = styles(nll), styles(temperature)
    assert "α = 0, seed 1" not in right and all(left[label] == style for label, style in right.items())
    (colour0, style0), (colour1, style1) = left["α = 0, seed 0"], left["α = 0, seed 1"]
    assert colour0 == colour1 and style0 != style1
    assert len({colour for colour, _ in left.values()}) == 3
    rings = [line for line in nll.get_lines() if line.get_label().startswith("_") and line.get_marker() == "o"]
    assert {to_hex(r.get_markeredgecolor()) for r in rings} <= {c for c, _ in left.values()}
    # the fitted temperature is dashed beside its own α = 0 run at T = 1
    assert plots.series_style("α = 0, T = 1.36 (fitted on val)") == {"color": plots.alpha_colour(0), "linestyle": "--"}
    assert plots.series_style("α = 0, T = 1")["linestyle"] == "-"
    assert plots.series_style("α = 0, T = 1.00")["linestyle"] == "--"  # fitted, and fitted to 1


@pytest.mark.parametrize("name", [n for n in FIGURES if n != "placeholder"])
def test_no_legend_inside_an_axes(name):
    """L9: legends sit below the figure, below a panel or in a spare panel, never over the curves."""
    fig = FIGURES[name]()
    with_data = [ax for ax in fig.axes if ax.axison]
    assert not any(ax.get_legend() for ax in with_data)
    legends = list(fig.legends) + [leg for sub in fig.findobj(lambda a: hasattr(a, "subfigs")) for leg in sub.legends]
    legends += [ax.get_legend() for ax in fig.axes if not ax.axison and ax.get_legend()]
    assert legends


def test_mutual_information_axis_is_zoomed_to_the_curves():
    """M10 / Fig. 7.1: the axis spans the curves and the reference levels, not 0 to log N, says
    that it does not start at 0 and where log N is; a band only for a curve with two seeds."""
    steps = np.arange(0, 14001, 875)
    one_seed = {"α = 0": 1.74 + 0.05 * np.sin(np.arange(17)), "α = 0.1": 1.79 + 0.05 * np.cos(np.arange(17))}
    fig = plots.mutual_information_figure(steps, one_seed, 600, collapsed=0.81)
    ax = fig.axes[0]
    bottom, top = ax.get_ylim()
    assert 0.5 < bottom < math.log(2) and 1.84 < top < 2.2  # log N = 6.4 is far above
    assert "does not start at 0" in ax.get_title() and "log N = 6.397" in ax.get_title()
    assert not ax.collections  # one seed per curve: no band
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["α = 0: 1 seed", "α = 0.1: 1 seed"] and any("0.810" in t for t in legend)
    rising = {"α = 0": np.r_[0.37, np.full(16, 1.74)]}  # from near 0: the axis starts at 0
    ax = plots.mutual_information_figure(steps, rising, 600).axes[0]
    assert ax.get_ylim()[0] == 0 and ax.get_title() == "log N = 6.397 (N = 600) lies above the axis."
    two_seeds = {"α = 0": np.vstack([one_seed["α = 0"], one_seed["α = 0"] + 0.02])}
    fig = plots.mutual_information_figure(steps, two_seeds, 600)
    assert len(fig.axes[0].collections) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()][0] == "α = 0: mean of 2 seeds, band ± 1 sd"
