"""Every figure of the book, drawn from stored data (numpy arrays, reliability bins, records).

Each function returns a ``matplotlib.figure.Figure`` built without pyplot, so a notebook shows
it exactly once (when it is displayed or glued) and nothing leaks between cells. Figure numbers
follow the replication (Wagner et al. 2023); Figure 6 of the original is the mutual-information
curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lsbook.errors import LsbookError

# Colours of the replication's Figure 2 (red, green, blue for the three chosen classes).
CLASS_COLOURS = ("tab:red", "tab:green", "tab:blue")


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def label_vectors(alphas: Sequence[float], num_classes: int = 10, true_class: int = 1) -> Figure:
    """Figure 1: the smoothed label vector y(1−α)+α/K of one hard label, one bar group per class."""
    from lsbook.losses import smooth_targets

    alphas = list(alphas)
    if not alphas:
        raise LsbookError("alphas must name at least one label-smoothing constant")
    fig = _new_figure(7.0, 3.2)
    ax = fig.subplots()
    width = 0.8 / len(alphas)
    classes = np.arange(num_classes)
    for i, alpha in enumerate(alphas):
        targets = smooth_targets(np.array([true_class]), num_classes, alpha)[0].numpy()  # (K,)
        ax.bar(classes - 0.4 + (i + 0.5) * width, targets, width, label=f"α = {alpha:g}")
    ax.set_xticks(classes)
    ax.set_xlabel("class k")
    ax.set_ylabel("target $y_k^{LS}$")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Smoothed label vectors of a hard label for class {true_class} (K = {num_classes})")
    ax.legend(ncols=min(len(alphas), 4), fontsize="small")
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


def draw_projection(ax, panel: ProjectionPanel) -> None:
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
    ax.set_title(panel.title, fontsize="small")
    ax.set_xlabel("λ = aᵀu", fontsize="small")
    ax.set_ylabel("μ = aᵀv", fontsize="small")
    ax.tick_params(labelsize="x-small")


def penultimate_rows(records: Sequence, classes: Sequence[int] | None = None, fold_bias: bool = False,
                     label: str = "") -> list[list[ProjectionPanel]]:
    """One model's rows of Figure 2: a row per record (e.g. without, then with label smoothing),
    columns training and test set; ``label`` (e.g. the recipe) starts every panel title."""
    if not records:
        raise LsbookError("penultimate_rows needs at least one record")
    prefix = (f"{label}:\n" if len(label) > 30 else f"{label}: ") if label else ""  # a long name gets its own line
    return [[projection_panel(record, split, classes, fold_bias,
                              title=f"{prefix}{'training' if split == 'train' else 'test'} set, "
                                    f"α = {record.config.get('alpha', 0.0):g}")
             for split in ("train", "test")] for record in records]


def penultimate_figure(rows: Sequence[Sequence[ProjectionPanel]]) -> Figure:
    """Figure 2: a grid of projection panels, e.g. :func:`penultimate_rows` of one or more models
    (rows: without / with label smoothing; columns: training / test set)."""
    rows = [list(row) for row in rows]
    if not rows or not all(rows):
        raise LsbookError("penultimate_figure needs at least one row of at least one panel")
    ncols = max(len(row) for row in rows)
    fig = _new_figure(3.0 * ncols, 2.9 * len(rows))
    axes = np.atleast_2d(fig.subplots(len(rows), ncols, squeeze=False))
    for r, row in enumerate(rows):
        for c in range(ncols):
            if c < len(row):
                draw_projection(axes[r, c], row[c])
            else:
                axes[r, c].set_axis_off()
        axes[r, 0].legend(fontsize="x-small", markerscale=2, loc="best")
    return fig


def draw_reliability(ax_accuracy, ax_counts, series: Mapping[str, object]) -> None:
    """Accuracy against confidence per bin (with the diagonal) and, below, per-bin counts.

    ``series`` maps a legend label to a ``lsbook.calibration.ReliabilityBins``.
    """
    ax_accuracy.plot([0, 1], [0, 1], color="black", linewidth=1, label="perfect calibration")
    for label, bins in series.items():
        filled = np.asarray(bins.counts) > 0
        centres = (np.asarray(bins.edges[:-1]) + np.asarray(bins.edges[1:])) / 2
        ax_accuracy.plot(np.asarray(bins.confidence)[filled], np.asarray(bins.accuracy)[filled],
                         marker="o", markersize=3, label=label)
        ax_counts.step(centres, bins.counts, where="mid", label=label)
    ax_accuracy.set_xlim(0, 1)
    ax_accuracy.set_ylim(0, 1)
    ax_accuracy.set_ylabel("accuracy")
    ax_accuracy.legend(fontsize="x-small", loc="upper left")
    ax_counts.set_xlim(0, 1)
    ax_counts.set_yscale("symlog", linthresh=1)
    # Counts are never negative: the axis starts at 0 (empty bins lie on it) instead of
    # autoscaling into the negative half of the symlog scale, and its ticks are 0, 1, 10, ...
    top = max((float(np.max(bins.counts)) for bins in series.values() if np.size(bins.counts)), default=0.0)
    ax_counts.set_ylim(0, max(1.0, top) * 1.5)
    ax_counts.yaxis.set_major_formatter(FuncFormatter(_count_label))
    ax_counts.set_xlabel("confidence")
    ax_counts.set_ylabel("examples per bin", fontsize="small")


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
    """Figures 3, 4 and 9: one reliability diagram per panel title, with per-bin counts below."""
    if not panels or not all(panels.values()):
        raise LsbookError("reliability_diagram needs at least one panel with at least one series")
    fig = _new_figure(3.6 * len(panels), 4.2)
    grid = fig.add_gridspec(2, len(panels), height_ratios=(3, 1))
    for c, (title, series) in enumerate(panels.items()):
        ax_accuracy = fig.add_subplot(grid[0, c])
        ax_counts = fig.add_subplot(grid[1, c], sharex=ax_accuracy)
        draw_reliability(ax_accuracy, ax_counts, series)
        ax_accuracy.set_title(title, fontsize="small")
    return fig


# Axis labels of the metrics that calibration_sweep knows; others are shown by their key.
METRIC_LABELS = {"ece": "ECE", "bleu": "BLEU", "nll": "NLL (nats)", "accuracy": "accuracy"}


EPOCH_LABELS = {"val_nll": "validation NLL (nats)", "val_temperature": "T fitted on validation",
                "val_ece": "validation ECE"}


Curves = Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]]  # label -> metric -> (x, y)


_X_LABELS = {"temperatures": "temperature T", "epochs": "epoch"}


def _curve_panels(curves: Curves, metrics: Sequence[str], x_name: str, ylabels: Mapping[str, str],
                  ring: Callable[[str, str, np.ndarray, np.ndarray], tuple[float, float] | None], what: str) -> Figure:
    """One panel per metric, one line per label, against ``x_name`` ("temperatures" or "epochs");
    ``ring(label, metric, x, y)`` names a point to ring."""
    if not curves:
        raise LsbookError(f"{what} needs at least one curve")
    fig = _new_figure(3.7 * len(metrics), 3.2)
    axes = np.atleast_1d(fig.subplots(1, len(metrics), squeeze=False)[0])
    for ax, metric in zip(axes, metrics):
        for label, values in curves.items():
            if metric not in values:
                continue
            x, y = (np.asarray(v, dtype=float) for v in values[metric])
            if x.ndim != 1 or x.size == 0 or y.shape != x.shape:
                raise LsbookError(f"curves[{label!r}][{metric!r}] needs as many values as {x_name} "
                                  f"(a non-empty 1-D sequence), got {y.size} values for {x.size}")
            line, = ax.plot(x, y, marker="o", markersize=2, linewidth=1.2, label=label)
            point = ring(label, metric, x, y)
            if point is not None:
                ax.plot([point[0]], [point[1]], marker="o", markersize=8, markerfacecolor="none",
                        markeredgecolor=line.get_color(), linestyle="none")
        ax.set_xlabel(_X_LABELS[x_name])
        ax.set_ylabel(ylabels.get(metric, metric))
        ax.legend(fontsize="x-small")
    return fig


def epoch_curves(curves: Curves, metrics: Sequence[str] = ("val_nll", "val_temperature")) -> Figure:
    """Per-epoch validation metrics of training runs, one panel per metric and one line per run:
    ``curves[label][metric]`` is (epochs, values). A ring marks the lowest validation NLL; the
    fitted-temperature panel has a line at T = 1 (calibrated)."""
    def lowest_nll(label: str, metric: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
        return (x[int(np.argmin(y))], float(y.min())) if metric == "val_nll" else None

    fig = _curve_panels(curves, metrics, "epochs", EPOCH_LABELS, lowest_nll, "epoch_curves")
    for ax, metric in zip(fig.axes, metrics):
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

    return _curve_panels(curves, metrics, "temperatures", METRIC_LABELS, optimum, "calibration_sweep")


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
    fig = _new_figure(5.5, 3.6 * len(panels))
    for ax, (curves, name) in zip(np.atleast_1d(fig.subplots(len(panels), 1)), panels):
        for label, (gammas, accuracies) in curves.items():
            gammas, accuracies = np.asarray(gammas, float), np.asarray(accuracies, float)
            if gammas.shape != accuracies.shape:
                raise LsbookError(f"curve {label!r}: {gammas.size} γ values but {accuracies.size} accuracies")
            order = np.argsort(gammas)
            ax.plot(gammas[order], accuracies[order], marker="o", markersize=4, label=label)
        ax.set_xlabel("smoothness index γ")
        ax.set_ylabel("test accuracy [%]")
        if name:
            ax.set_title(name, fontsize="small")
        ax.legend(fontsize="x-small")
    return fig


def mutual_information_figure(steps: Sequence[int], curves: Mapping[str, Sequence], num_examples: int) -> Figure:
    """The original's Figure 6: estimated I(X; Y) in nats against training step.

    ``curves[label]`` is (S,) or (seeds, S); several seeds are drawn as mean ± std. The lines
    log 2 (two collapsed clusters: one bit) and log N (every example distinguishable) bound it.
    """
    steps = np.asarray(steps, dtype=float)
    if num_examples < 2:
        raise LsbookError(f"num_examples must be >= 2, got {num_examples}")
    fig = _new_figure(5.5, 3.6)
    ax = fig.subplots()
    for label, values in curves.items():
        values = np.atleast_2d(np.asarray(values, dtype=float))  # (seeds, S)
        if values.shape[1] != steps.size:
            raise LsbookError(f"curve {label!r} has {values.shape[1]} points for {steps.size} steps")
        mean = values.mean(axis=0)
        line, = ax.plot(steps, mean, marker="o", markersize=3, label=label)
        if values.shape[0] > 1:
            std = values.std(axis=0, ddof=1)
            ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.axhline(math.log(2), color="grey", linestyle="--", linewidth=1, label="log 2")
    ax.axhline(math.log(num_examples), color="black", linestyle=":", linewidth=1,
               label=f"log N (N = {num_examples})")
    ax.set_xlabel("training step")
    ax.set_ylabel("mutual information (nats)")
    ax.legend(fontsize="x-small")
    return fig


def risk_coverage_figure(panels: Mapping[str, Mapping[str, tuple]]) -> Figure:
    """Risk–coverage curves (Xia et al. 2025): per panel title, per curve label, (coverage, selective
    risk in %); the panels share the risk axis only when they are on the same dataset."""
    if not panels:
        raise LsbookError("risk_coverage_figure needs at least one panel")
    fig = _new_figure(4.2 * len(panels), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, curves) in zip(axes, panels.items()):
        for label, (coverage, risk) in curves.items():
            ax.plot(np.asarray(coverage) * 100, risk, linewidth=1.2,
                    linestyle="--" if "normalised" in label else "-", label=label)
        ax.set_title(title, fontsize="small")
        ax.set_xlabel("coverage (%)")
        ax.set_ylabel("selective risk (%)")
        ax.legend(fontsize="x-small")
    return fig


def accuracy_by_temperature_figure(curves: Mapping[str, tuple], title: str = "") -> Figure:
    """Students' test accuracy (%) against the distillation temperature T, one line per teacher."""
    if not curves:
        raise LsbookError("accuracy_by_temperature_figure needs at least one curve")
    fig = _new_figure(4.6, 3.2)
    ax = fig.subplots()
    for label, (temperatures, accuracy) in curves.items():
        ax.plot(temperatures, accuracy, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("temperature T")
    ax.set_ylabel("student test accuracy (%)")
    if title:
        ax.set_title(title, fontsize="small")
    ax.legend(fontsize="x-small")
    return fig


def placeholder_figure(message: str) -> Figure:
    """A figure that says why there is nothing to draw (keeps figure numbers and references stable)."""
    fig = _new_figure(5.5, 2.0)
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize="small")
    return fig
