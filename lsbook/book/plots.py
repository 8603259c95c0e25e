"""Every figure of the book, drawn from stored data (numpy arrays, reliability bins, records).

Each function returns a ``matplotlib.figure.Figure`` built without pyplot, so a notebook shows
it exactly once (when it is displayed or glued) and nothing leaks between cells. Figure numbers
follow the replication (Wagner et al. 2023); Figure 6 of the original is the mutual-information
curve.

How the figures look, the same in all of them:

- **Size.** The book's text column is 688 px wide; it shows a PNG narrower than that at its own
  size and scales a wider one down (``book/_static/lsbook.css``). Every figure is at most
  ``COLUMN_WIDTH`` inches wide at ``DPI``, so it is shown at its own size, and its smallest text
  (``SMALL``, tick labels, legends, panel titles) is shown at 9 pt; ``tests/test_plots.py``
  measures this on every figure function. A figure of several panels puts at most
  ``MAX_COLUMNS`` side by side and adds rows, which stays legible on a phone too.
- **Colours.** A label-smoothing constant has one colour in every panel and every figure
  (``ALPHA_COLOURS``, the Okabe–Ito palette for colour-blind readers); the seed, or a
  temperature other than 1, changes the line style, never the colour (:func:`series_style`).
- **Legends** sit outside the axes (below the figure, below each panel, or in a spare panel),
  so they never cover a curve.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lsbook.errors import LsbookError

# --- Size ------------------------------------------------------------------------------------------

COLUMN_PX = 688        # the book's text column (sphinx-book-theme at a desktop width)
DPI = 100
COLUMN_WIDTH = 6.6     # inches: 660 px at DPI, and at most 680 px with the 0.1-in margins of a
                       # tight bounding box: shown at its own size in the column
PANEL_WIDTH = 4.4      # inches: a figure of a single panel
FONT = 10              # points: axis labels, the title of a single-panel figure
SMALL = 9              # points: tick labels, legends, panel titles: the smallest text of any figure
MAX_COLUMNS = 2        # panels side by side

# --- Colours ---------------------------------------------------------------------------------------

# One colour per label-smoothing constant, in every figure (Okabe–Ito palette; the α of Tables 2-4,
# of the distillation study and of the Transformer's Figure 5). An α not listed here gets a colour
# of the viridis map at its value.
ALPHA_COLOURS = {
    0.0: "#0072b2",    # blue
    0.05: "#cc79a7",   # reddish purple
    0.1: "#e69f00",    # orange
    0.15: "#56b4e9",   # sky blue
    0.3: "#009e73",    # bluish green
    0.45: "#8c564b",   # brown
    0.6: "#d55e00",    # vermillion
    0.75: "#7f3c8d",   # purple
}
# The four curves of the distillation figures (M1 teachers, M2 students without a teacher, M3
# students of the hard-label teacher, M4 students of smoothed teachers), with a marker each.
CURVE_COLOURS = {"M1": "#000000", "M2": "#cc79a7", "M3": "#009e73", "M4": "#d55e00"}
CURVE_MARKERS = {"M1": "s", "M2": "o", "M3": "^", "M4": "D"}
# Series named neither by an α nor by a curve, in the order a figure first meets them.
OTHER_COLOURS = ("#000000", "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#8c564b")
SEED_STYLES = ("-", "--", ":", "-.")  # seed 0, 1, 2, 3 (then again)

# Colours of the replication's Figure 2 (red, green, blue for the three chosen classes).
CLASS_COLOURS = ("tab:red", "tab:green", "tab:blue")

_ALPHA = re.compile(r"α\s*=\s*(\d+(?:\.\d*)?(?:e-?\d+)?)")
_SEED = re.compile(r"\bseed (\d+)")
_TEMPERATURE = re.compile(r"\bT\s*=\s*(\d+(?:\.\d*)?)")
_CURVE = re.compile(r"(M\d)\b")


def alpha_colour(alpha: float) -> str:
    """The colour of label-smoothing constant ``alpha`` in every figure of the book."""
    for known, colour in ALPHA_COLOURS.items():
        if math.isclose(float(alpha), known, abs_tol=1e-9):
            return colour
    from matplotlib import colormaps

    return to_hex(colormaps["viridis"](min(max(float(alpha), 0.0), 1.0)))


def label_alpha(label: str) -> float | None:
    """The α a series label names ("α = 0.1, seed 1" -> 0.1), or None."""
    match = _ALPHA.search(label)
    return float(match.group(1)) if match else None


def label_seed(label: str) -> int | None:
    """The seed a series label names ("α = 0.1, seed 1" -> 1), or None."""
    match = _SEED.search(label)
    return int(match.group(1)) if match else None


class SeriesStyles:
    """Colour, line style and marker of each series label of one figure; a label keeps its style
    in every panel. The colour follows the α the label names (:func:`alpha_colour`), else the
    distillation curve (M1–M4, :data:`CURVE_COLOURS`), else the next of :data:`OTHER_COLOURS`.
    The line style follows the seed ("seed 1": dashed, :data:`SEED_STYLES`); without a seed, a
    temperature written other than "T = 1" (as trained) — "T = 1.36", or "T = 1.00" for one fitted
    to 1 — or a normalised ranking is dashed."""

    def __init__(self) -> None:
        self._styles: dict[str, dict[str, str]] = {}
        self._others = 0

    def __call__(self, label: str) -> dict[str, str]:
        if label not in self._styles:
            self._styles[label] = self._new(label)
        return dict(self._styles[label])

    def _new(self, label: str) -> dict[str, str]:
        alpha, curve = label_alpha(label), _CURVE.match(label)
        style: dict[str, str] = {}
        if alpha is not None:
            style["color"] = alpha_colour(alpha)
        elif curve and curve.group(1) in CURVE_COLOURS:
            style["color"] = CURVE_COLOURS[curve.group(1)]
            style["marker"] = CURVE_MARKERS[curve.group(1)]
        else:
            style["color"] = OTHER_COLOURS[self._others % len(OTHER_COLOURS)]
            self._others += 1
        seed, temperature = label_seed(label), _TEMPERATURE.search(label)
        if seed is not None:
            style["linestyle"] = SEED_STYLES[seed % len(SEED_STYLES)]
        elif (temperature and temperature.group(1) != "1") or "normalised" in label:
            style["linestyle"] = "--"
        else:
            style["linestyle"] = "-"
        return style


def series_style(label: str) -> dict[str, str]:
    """The style :class:`SeriesStyles` gives ``label`` (colour, line style, maybe a marker)."""
    return SeriesStyles()(label)


# --- Layout ----------------------------------------------------------------------------------------

def _new_figure(width: float, height: float) -> Figure:
    if width > COLUMN_WIDTH + 1e-9:
        raise LsbookError(f"a figure is at most {COLUMN_WIDTH} in wide (the book's column), got {width}")
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _text_width(text: str, size: float = SMALL) -> float:
    """Width in inches of ``text`` set in the default font at ``size`` points."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    return text_to_path.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)[0] / 72


def _wrap(text: str, width: float, size: float = SMALL) -> str:
    """``text`` broken at spaces into lines that fit ``width`` inches at ``size`` points, less a
    margin: an axes title is centred on the axes, which the y label pushes to the right of the
    panel; "α = 0.1" and the like stay on one line."""
    room, lines = width - 0.8, []
    for paragraph in text.split("\n"):
        words = re.sub(r"\s*=\s*", "\u00a0=\u00a0", paragraph).split(" ")
        line = words[0]
        for word in words[1:]:
            if _text_width(f"{line} {word}".replace("\u00a0", " "), size) <= room:
                line = f"{line} {word}"
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return "\n".join(lines).replace("\u00a0", " ")


def _style_axes(ax) -> None:
    """Tick labels at SMALL, axis labels at FONT."""
    ax.tick_params(labelsize=SMALL)
    ax.xaxis.label.set_fontsize(FONT)
    ax.yaxis.label.set_fontsize(FONT)
    ax.xaxis.get_offset_text().set_fontsize(SMALL)
    ax.yaxis.get_offset_text().set_fontsize(SMALL)


def _handles(axes: Iterable) -> dict[str, object]:
    """Legend handles of the labelled artists of ``axes``, one per label (the first met)."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    return handles


def _legend_columns(labels: Sequence[str], width: float) -> int:
    """As many legend columns as fit ``width`` inches at SMALL, balanced over the rows."""
    entry = max(_text_width(label) for label in labels) + 4.5 * SMALL / 72  # text, handle and the gaps around it
    fit = max(1, min(len(labels), int((width - 0.1) // entry)))
    rows = math.ceil(len(labels) / fit)
    return math.ceil(len(labels) / rows)


def _legend_below(owner, axes: Iterable, width: float, markerscale: float = 1.0) -> None:
    """One legend of every label of ``axes``, below ``owner`` (the figure or one panel's subfigure)."""
    handles = _handles(axes)
    if handles:
        owner.legend(list(handles.values()), list(handles), loc="outside lower center", fontsize=SMALL,
                     ncols=_legend_columns(list(handles), width), frameon=False, markerscale=markerscale)


def _panel_figures(count: int, row_height: float) -> tuple[Figure, list]:
    """A figure of ``count`` panels, at most MAX_COLUMNS per row, one subfigure per panel (each with
    its own legend below it); a single panel is PANEL_WIDTH wide, several fill the column."""
    columns = min(count, MAX_COLUMNS)
    rows = math.ceil(count / columns)
    fig = _new_figure(COLUMN_WIDTH if columns > 1 else PANEL_WIDTH, row_height * rows)
    panels = list(fig.subfigures(rows, columns, squeeze=False).flat)
    return fig, panels[:count]


def _panel_width(fig: Figure, count: int) -> float:
    return fig.get_figwidth() / min(count, MAX_COLUMNS)


def label_vectors(alphas: Sequence[float], num_classes: int = 10, true_class: int = 1) -> Figure:
    """Figure 1: the smoothed label vector y(1−α)+α/K of one hard label, one bar group per class."""
    from lsbook.losses import smooth_targets

    alphas = list(alphas)
    if not alphas:
        raise LsbookError("alphas must name at least one label-smoothing constant")
    fig = _new_figure(COLUMN_WIDTH, 3.2)
    ax = fig.subplots()
    width = 0.8 / len(alphas)
    classes = np.arange(num_classes)
    for i, alpha in enumerate(alphas):
        targets = smooth_targets(np.array([true_class]), num_classes, alpha)[0].numpy()  # (K,)
        ax.bar(classes - 0.4 + (i + 0.5) * width, targets, width, label=f"α = {alpha:g}",
               color=alpha_colour(alpha))
    ax.set_xticks(classes)
    ax.set_xlabel("class k")
    ax.set_ylabel("target $y_k^{LS}$")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Smoothed label vectors of a hard label for class {true_class} (K = {num_classes})",
                 fontsize=FONT)
    _style_axes(ax)
    _legend_below(fig, [ax], COLUMN_WIDTH)
    return fig


@dataclass(frozen=True)
class ProjectionPanel:
    """One panel of Figure 2: penultimate activations of three classes projected on their plane."""

    title: str                  # e.g. "training set, α = 0.1"
    features: np.ndarray        # (N, n) penultimate activations as the last layer sees them
    labels: np.ndarray          # (N,) class index of each row
    head_weight: np.ndarray     # (K, n) last-layer weights; row k is the template w_k
    classes: tuple[int, int, int]  # the three classes to draw
    class_names: tuple[str, str, str]
    head_bias: np.ndarray | None = None  # (K,) folded into the templates when given


def projection_panel(record, split: str, classes: Sequence[int] | None = None,
                     fold_bias: bool = False, title: str | None = None) -> ProjectionPanel:
    """The panel of a stored run: its ``{split}_features`` (split "train" or "test") and head.

    ``classes``: three of the classes whose activations the run stored (default: the first
    three); ``fold_bias`` appends the last layer's bias to the templates as the original paper
    does (the replication's Appendix A.1 leaves it out).
    """
    arrays = record.arrays
    labels = np.asarray(arrays[f"{split}_feature_labels"])
    stored = [int(c) for c in np.unique(labels)]
    classes = tuple(int(c) for c in (classes if classes is not None else stored[:3]))
    if len(classes) != 3 or not set(classes) <= set(stored):
        raise LsbookError(f"classes must be three of the stored classes {stored}, got {list(classes)}")
    names = list(record.metrics.get("class_names") or [])
    class_names = tuple(names[c] if c < len(names) else f"class {c}" for c in classes)
    alpha = record.config.get("alpha", 0.0)
    return ProjectionPanel(
        title=title or f"{'training' if split == 'train' else 'test'} set, α = {alpha:g}",
        features=np.asarray(arrays[f"{split}_features"]), labels=labels,
        head_weight=np.asarray(arrays["head_weight"]), classes=classes, class_names=class_names,
        head_bias=np.asarray(arrays["head_bias"]) if fold_bias and "head_bias" in arrays else None)


def draw_projection(ax, panel: ProjectionPanel, title_width: float = COLUMN_WIDTH / 2) -> None:
    """Scatter the examples of the panel's three classes in the plane of their templates."""
    from lsbook.projection import penultimate_projection

    features = np.asarray(panel.features)
    labels = np.asarray(panel.labels)
    weight = np.asarray(panel.head_weight)[list(panel.classes)]  # (3, n)
    bias = None if panel.head_bias is None else np.asarray(panel.head_bias)[list(panel.classes)]
    keep = np.isin(labels, panel.classes)
    if not keep.any():
        raise LsbookError(f"no example of classes {panel.classes} in the panel {panel.title!r}")
    points = penultimate_projection(features[keep], weight, bias)  # (M, 2)
    for colour, cls, name in zip(CLASS_COLOURS, panel.classes, panel.class_names):
        mine = labels[keep] == cls
        ax.scatter(points[mine, 0], points[mine, 1], s=6, alpha=0.6, color=colour, label=name,
                   edgecolors="none")
    ax.set_title(_wrap(panel.title, title_width), fontsize=SMALL)
    ax.set_xlabel("λ = aᵀu")
    ax.set_ylabel("μ = aᵀv")
    _style_axes(ax)


def penultimate_rows(records: Sequence, classes: Sequence[int] | None = None, fold_bias: bool = False,
                     label: str = "") -> list[list[ProjectionPanel]]:
    """One model's rows of Figure 2: a row per record (e.g. without, then with label smoothing),
    columns training and test set; ``label`` (e.g. the recipe) starts every panel title."""
    if not records:
        raise LsbookError("penultimate_rows needs at least one record")
    prefix = f"{label}: " if label else ""  # draw_projection breaks a long title into lines
    return [[projection_panel(record, split, classes, fold_bias,
                              title=f"{prefix}{'training' if split == 'train' else 'test'} set, "
                                    f"α = {record.config.get('alpha', 0.0):g}")
             for split in ("train", "test")] for record in records]


def penultimate_figure(rows: Sequence[Sequence[ProjectionPanel]]) -> Figure:
    """Figure 2: a grid of projection panels, e.g. :func:`penultimate_rows` of one or more models
    (rows: without / with label smoothing; columns: training / test set). Consecutive rows that
    draw the same classes share one legend of the class names, below them."""
    rows = [list(row) for row in rows]
    if not rows or not all(rows):
        raise LsbookError("penultimate_figure needs at least one row of at least one panel")
    ncols = max(len(row) for row in rows)
    groups: list[list[list[ProjectionPanel]]] = []  # runs of rows with the same class names
    for row in rows:
        if groups and groups[-1][0][0].class_names == row[0].class_names:
            groups[-1].append(row)
        else:
            groups.append([row])
    row_height, legend_height = 2.9, 0.35
    fig = _new_figure(COLUMN_WIDTH, sum(row_height * len(g) + legend_height for g in groups))
    parts = fig.subfigures(len(groups), 1, squeeze=False,
                           height_ratios=[row_height * len(g) + legend_height for g in groups])[:, 0]
    for part, group in zip(parts, groups):
        axes = part.subplots(len(group), ncols, squeeze=False)
        for r, row in enumerate(group):
            for c in range(ncols):
                if c < len(row):
                    draw_projection(axes[r, c], row[c], COLUMN_WIDTH / ncols)
                else:
                    axes[r, c].set_axis_off()
        _legend_below(part, [axes[0, 0]], COLUMN_WIDTH, markerscale=2.5)
    return fig


def draw_reliability(ax_accuracy, ax_counts, series: Mapping[str, object],
                     styles: SeriesStyles | None = None) -> None:
    """Accuracy against confidence per bin (with the diagonal) and, below, per-bin counts.

    ``series`` maps a legend label to a ``lsbook.calibration.ReliabilityBins``; ``styles``: the
    figure's :class:`SeriesStyles` (a series keeps its colour in every panel).
    """
    styles = styles or SeriesStyles()
    ax_accuracy.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfect calibration")
    for label, bins in series.items():
        filled = np.asarray(bins.counts) > 0
        centres = (np.asarray(bins.edges[:-1]) + np.asarray(bins.edges[1:])) / 2
        style = styles(label)
        ax_accuracy.plot(np.asarray(bins.confidence)[filled], np.asarray(bins.accuracy)[filled],
                         **{"marker": "o", **style}, markersize=3, label=label)
        ax_counts.step(centres, bins.counts, where="mid", label=label,
                       color=style["color"], linestyle=style["linestyle"])
    ax_accuracy.set_xlim(0, 1)
    ax_accuracy.set_ylim(0, 1)
    ax_accuracy.set_ylabel("accuracy")
    ax_accuracy.tick_params(labelbottom=False)
    ax_counts.set_xlim(0, 1)
    ax_counts.set_yscale("symlog", linthresh=1)
    # Counts are never negative: the axis starts at 0 (empty bins lie on it) instead of
    # autoscaling into the negative half of the symlog scale, and its ticks are 0, 1, 10, ...
    top = max((float(np.max(bins.counts)) for bins in series.values() if np.size(bins.counts)), default=0.0)
    ax_counts.set_ylim(0, max(1.0, top) * 1.5)
    ax_counts.yaxis.set_major_formatter(FuncFormatter(_count_label))
    ax_counts.set_xlabel("confidence")
    for ax in (ax_accuracy, ax_counts):
        _style_axes(ax)
    ax_counts.set_ylabel("examples\nper bin", fontsize=SMALL)  # on two lines: the axis is short


def _count_label(value: float, _position=None) -> str:
    """Tick label of the per-bin count axis: a non-negative integer (powers of ten above 10⁴)."""
    if value < 0 or not math.isfinite(value):
        return ""
    if value < 1e4:
        return f"{round(value):d}"
    return f"$10^{{{round(math.log10(value))}}}$"


def reliability_series(base_record, smoothed_records: Sequence = (), temperature: float | None = None,
                       n_bins: int = 15) -> dict[str, object]:
    """Reliability bins on the test split of stored runs (Figures 3 and 9).

    Series: the α = 0 run at T = 1; the same run at ``temperature`` (default: T fitted on its
    validation split, never on test); each smoothed run at T = 1.
    """
    from lsbook.calibration import fit_temperature, reliability_bins

    arrays = base_record.arrays
    if temperature is None:
        temperature = fit_temperature(arrays["val_logits"], arrays["val_labels"])
    alpha = base_record.config.get("alpha", 0.0)
    series = {
        f"α = {alpha:g}, T = 1": reliability_bins(arrays["test_logits"], arrays["test_labels"], n_bins),
        f"α = {alpha:g}, T = {temperature:.2f}": reliability_bins(
            arrays["test_logits"], arrays["test_labels"], n_bins, temperature),
    }
    for record in smoothed_records:
        series[f"α = {record.config.get('alpha', 0.0):g}, T = 1"] = reliability_bins(
            record.arrays["test_logits"], record.arrays["test_labels"], n_bins)
    return series


def reliability_diagram(panels: Mapping[str, Mapping[str, object]]) -> Figure:
    """Figures 3, 4 and 9: one reliability diagram per panel title, with per-bin counts below and
    the panel's legend under those; two panels per row."""
    if not panels or not all(panels.values()):
        raise LsbookError("reliability_diagram needs at least one panel with at least one series")
    fig, subfigures = _panel_figures(len(panels), 5.0)
    width, styles = _panel_width(fig, len(panels)), SeriesStyles()
    for panel, (title, series) in zip(subfigures, panels.items()):
        ax_accuracy, ax_counts = panel.subplots(2, 1, height_ratios=(3, 1), sharex=True)
        draw_reliability(ax_accuracy, ax_counts, series, styles)
        ax_accuracy.set_title(_wrap(title, width), fontsize=SMALL)
        _legend_below(panel, [ax_accuracy], width)
    return fig


# Axis labels of the metrics that calibration_sweep knows; others are shown by their key.
METRIC_LABELS = {"ece": "ECE", "bleu": "BLEU", "nll": "NLL (nats)", "accuracy": "accuracy"}


EPOCH_LABELS = {"val_nll": "validation NLL (nats)", "val_temperature": "T fitted on validation",
                "val_ece": "validation ECE"}


Curves = Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]]  # label -> metric -> (x, y)


_X_LABELS = {"temperatures": "temperature T", "epochs": "epoch"}


def _curve_panels(curves: Curves, metrics: Sequence[str], x_name: str, ylabels: Mapping[str, str],
                  ring: Callable[[str, str, np.ndarray, np.ndarray], tuple[float, float] | None],
                  what: str) -> tuple[Figure, list]:
    """One panel per metric (two per row), one line per label, against ``x_name`` ("temperatures"
    or "epochs"); ``ring(label, metric, x, y)`` names a point to ring. Every panel draws a label
    in the same style, so one legend serves them all: in the spare panel of a row left
    incomplete, else below the figure. Returns the figure and the metrics' axes."""
    if not curves:
        raise LsbookError(f"{what} needs at least one curve")
    metrics = list(metrics)
    columns = min(len(metrics), MAX_COLUMNS)
    rows = math.ceil(len(metrics) / columns)
    fig = _new_figure(COLUMN_WIDTH if columns > 1 else PANEL_WIDTH, 2.9 * rows + 0.4)
    grid = list(fig.subplots(rows, columns, squeeze=False).flat)
    axes, spare = grid[:len(metrics)], grid[len(metrics):]
    styles = SeriesStyles()
    for ax, metric in zip(axes, metrics):
        for label, values in curves.items():
            style = styles(label)  # styled in the order of ``curves``, whichever panels it has
            if metric not in values:
                continue
            x, y = (np.asarray(v, dtype=float) for v in values[metric])
            if x.ndim != 1 or x.size == 0 or y.shape != x.shape:
                raise LsbookError(f"curves[{label!r}][{metric!r}] needs as many values as {x_name} "
                                  f"(a non-empty 1-D sequence), got {y.size} values for {x.size}")
            ax.plot(x, y, **{"marker": "o", **style}, markersize=2, linewidth=1.2, label=label)
            point = ring(label, metric, x, y)
            if point is not None:
                ax.plot([point[0]], [point[1]], marker="o", markersize=8, markerfacecolor="none",
                        markeredgecolor=style["color"], linestyle="none")
        ax.set_xlabel(_X_LABELS[x_name])
        ax.set_ylabel(ylabels.get(metric, metric))
        _style_axes(ax)
    for ax in spare:
        ax.set_axis_off()
    handles = _handles(axes)
    if spare and handles:
        spare[0].legend(list(handles.values()), list(handles), loc="center", fontsize=SMALL, frameon=False,
                        ncols=_legend_columns(list(handles), fig.get_figwidth() / columns))
    else:
        _legend_below(fig, axes, fig.get_figwidth())
    return fig, axes


def epoch_curves(curves: Curves, metrics: Sequence[str] = ("val_nll", "val_temperature")) -> Figure:
    """Per-epoch validation metrics of training runs, one panel per metric and one line per run:
    ``curves[label][metric]`` is (epochs, values). A ring marks the lowest validation NLL; the
    fitted-temperature panel has a line at T = 1 (calibrated)."""
    def lowest_nll(label: str, metric: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
        return (x[int(np.argmin(y))], float(y.min())) if metric == "val_nll" else None

    fig, axes = _curve_panels(curves, metrics, "epochs", EPOCH_LABELS, lowest_nll, "epoch_curves")
    for ax, metric in zip(axes, metrics):
        if metric == "val_temperature":
            ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    return fig


def calibration_sweep(curves: Curves, metrics: Sequence[str] = ("ece", "bleu", "nll"),
                      optima: Mapping[str, Mapping[str, object]] | None = None) -> Figure:
    """Figure 5: each metric against the softmax temperature T, one line per model (e.g. per α).

    ``curves[label][metric]`` is (temperatures, values): each metric may have its own temperatures
    (token metrics and BLEU are measured on different grids); a model lacking a metric is skipped
    in that panel. ``optima[label][metric]`` (anything with ``.temperature`` and ``.value``, e.g.
    ``lsbook.book.translation_report.optima``) is drawn as a ring on that curve.
    """
    def optimum(label: str, metric: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
        best = (optima or {}).get(label, {}).get(metric)
        return None if best is None else (best.temperature, best.value)

    return _curve_panels(curves, metrics, "temperatures", METRIC_LABELS, optimum, "calibration_sweep")[0]


GammaCurves = Mapping[str, tuple[Sequence[float], Sequence[float]]]  # label -> (γ values, accuracies in %)


def distillation_figure(panels: Sequence[tuple[GammaCurves, str]] | GammaCurves, title: str = "") -> Figure:
    """Figures 7 and 8: accuracy against the smoothness index γ (Eq. 3), one line per curve.

    ``panels``: (curves, title) per study, drawn one above the other (the main result first); or
    one study's curves, titled ``title``. ``curves`` maps a label (e.g. "M1 teacher") to
    (γ values, accuracies in %).
    """
    if isinstance(panels, Mapping):
        panels = [(panels, title)]
    panels = [(curves, name) for curves, name in panels]
    if not panels or not all(curves for curves, _ in panels):
        raise LsbookError("distillation_figure needs at least one curve in every panel")
    fig = _new_figure(COLUMN_WIDTH, 3.2 * len(panels) + 0.9)
    axes = list(np.atleast_1d(fig.subplots(len(panels), 1)))
    styles = SeriesStyles()
    for ax, (curves, name) in zip(axes, panels):
        for label, (gammas, accuracies) in curves.items():
            gammas, accuracies = np.asarray(gammas, float), np.asarray(accuracies, float)
            if gammas.shape != accuracies.shape:
                raise LsbookError(f"curve {label!r}: {gammas.size} γ values but {accuracies.size} accuracies")
            order = np.argsort(gammas)
            ax.plot(gammas[order], accuracies[order], **{"marker": "o", **styles(label)}, markersize=4,
                    label=label)
        ax.set_xlabel("smoothness index γ")
        ax.set_ylabel("test accuracy [%]")
        if name:
            ax.set_title(_wrap(name, COLUMN_WIDTH), fontsize=SMALL)
        _style_axes(ax)
    _legend_below(fig, axes, COLUMN_WIDTH)  # one legend for both panels: a curve keeps its colour
    return fig


def mutual_information_figure(steps: Sequence[int], curves: Mapping[str, Sequence], num_examples: int,
                              collapsed: float | None = None) -> Figure:
    """The original's Figure 6: estimated I(X; Y) in nats against training step.

    ``curves[label]`` is (S,) or (seeds, S): the line is the mean over seeds, with a band of ± one
    standard deviation only where there are two seeds or more; the legend gives each curve's
    seeds. Reference levels: log 2 (two collapsed clusters: one bit) and, when given,
    ``collapsed`` (what the estimator reads on two collapsed clusters at the same N and L:
    log 2 plus its bias). The axis is zoomed to the curves and those levels, so it need not start
    at 0, and the title says so; log N (every example distinguishable) is drawn only where it
    lies near them, else the title gives its value.
    """
    steps = np.asarray(steps, dtype=float)
    if num_examples < 2:
        raise LsbookError(f"num_examples must be >= 2, got {num_examples}")
    fig = _new_figure(COLUMN_WIDTH, 4.4)
    ax = fig.subplots()
    styles, low, high = SeriesStyles(), [], []
    for label, values in curves.items():
        values = np.atleast_2d(np.asarray(values, dtype=float))  # (seeds, S)
        if values.shape[1] != steps.size:
            raise LsbookError(f"curve {label!r} has {values.shape[1]} points for {steps.size} steps")
        mean, seeds = values.mean(axis=0), values.shape[0]
        style = styles(label)
        spread = values.std(axis=0, ddof=1) if seeds > 1 else np.zeros_like(mean)
        ax.plot(steps, mean, **{"marker": "o", **style}, markersize=3,
                label=f"{label}: mean of {seeds} seeds, band ± 1 sd" if seeds > 1 else f"{label}: 1 seed")
        if seeds > 1:
            ax.fill_between(steps, mean - spread, mean + spread, color=style["color"], alpha=0.2, linewidth=0)
        low.append(float(np.min(mean - spread)))
        high.append(float(np.max(mean + spread)))
    log_2, log_n = math.log(2), math.log(num_examples)
    ax.axhline(log_2, color="grey", linestyle="--", linewidth=1, label=f"log 2 = {log_2:.3f}")
    levels = [log_2]
    if collapsed is not None:
        ax.axhline(collapsed, color="grey", linestyle="-.", linewidth=1,
                   label=f"two collapsed clusters as this estimator reads them ({collapsed:.3f})")
        levels.append(float(collapsed))
    bottom, top = min(low + levels), max(high + levels)
    notes = []
    if log_n <= top + 0.5 * (top - bottom):  # near the curves: drawn
        ax.axhline(log_n, color="black", linestyle=":", linewidth=1, label=f"log N = {log_n:.3f} (N = {num_examples})")
        top = log_n
    else:
        notes.append(f"log N = {log_n:.3f} (N = {num_examples}) lies above the axis")
    pad = 0.08 * (top - bottom) or 0.1
    bottom = 0.0 if 0 <= bottom - pad <= 0.25 * (top - bottom) else bottom - pad  # 0 when it is close
    ax.set_ylim(bottom, top + pad)
    if bottom > 0:
        notes.insert(0, "The axis does not start at 0")
    if notes:
        ax.set_title(_wrap("; ".join(notes) + ".", COLUMN_WIDTH), fontsize=SMALL)
    ax.set_xlabel("training step")
    ax.set_ylabel("mutual information (nats)")
    _style_axes(ax)
    _legend_below(fig, [ax], COLUMN_WIDTH)
    return fig


def risk_coverage_figure(panels: Mapping[str, Mapping[str, tuple]]) -> Figure:
    """Risk–coverage curves (Xia et al. 2025): per panel title, per curve label, (coverage, selective
    risk in %); each panel has its own risk axis and its own legend below it (the p of the
    normalised max logit differs between panels); two panels per row."""
    if not panels:
        raise LsbookError("risk_coverage_figure needs at least one panel")
    fig, subfigures = _panel_figures(len(panels), 4.1)
    width, styles = _panel_width(fig, len(panels)), SeriesStyles()
    for panel, (title, curves) in zip(subfigures, panels.items()):
        ax = panel.subplots()
        for label, (coverage, risk) in curves.items():
            ax.plot(np.asarray(coverage) * 100, risk, linewidth=1.2, **styles(label), label=label)
        ax.set_title(_wrap(title, width), fontsize=SMALL)
        ax.set_xlabel("coverage (%)")
        ax.set_ylabel("selective risk (%)")
        _style_axes(ax)
        _legend_below(panel, [ax], width)
    return fig


def accuracy_by_temperature_figure(curves: Mapping[str, tuple], title: str = "") -> Figure:
    """Students' test accuracy (%) against the distillation temperature T, one line per teacher."""
    if not curves:
        raise LsbookError("accuracy_by_temperature_figure needs at least one curve")
    fig = _new_figure(PANEL_WIDTH, 3.6)
    ax = fig.subplots()
    styles = SeriesStyles()
    for label, (temperatures, accuracy) in curves.items():
        ax.plot(temperatures, accuracy, **{"marker": "o", **styles(label)}, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("temperature T")
    ax.set_ylabel("student test accuracy (%)")
    if title:
        ax.set_title(_wrap(title, PANEL_WIDTH), fontsize=SMALL)
    _style_axes(ax)
    _legend_below(fig, [ax], PANEL_WIDTH)
    return fig


def placeholder_figure(message: str) -> Figure:
    """A figure that says why there is nothing to draw (keeps figure numbers and references stable)."""
    fig = _new_figure(5.5, 2.0)
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, _wrap(message, 5.2, FONT), ha="center", va="center", fontsize=FONT)
    return fig
