"""Tables and sentences of the distillation and mutual-information chapters, from stored results.

The chapters quote numbers only through ``glue``; the sentences that compare our orderings with
the published ones are written here from the numbers, so they stay true when the book is
rebuilt at another profile or with other seeds.
"""

from __future__ import annotations

import math

import numpy as np

from lsbook import paper
from lsbook.experiments.distillation_results import TABLE4_ROWS, CurvePoint, Summary
from lsbook.experiments.mutual_info import MICurves
from lsbook.pages import markdown_table


def _percent(value: float) -> str:
    return f"{value:.2f} %"


# --- Table 4 -------------------------------------------------------------------------------------

def table4_markdown(summaries: dict[str, Summary], ours_label: str) -> str:
    """Table 4: test error [%] of ours (mean ± std over seeds) beside the replication's and the original's."""
    rows = []
    for role in TABLE4_ROWS:
        rows.append([role, summaries[role].text(unit=""),
                     f"{paper.REPLICATION_DISTILLATION_ERROR[role].value:.2f}",
                     f"{paper.ORIGINAL_DISTILLATION_ERROR[role].value:.2f}"])
    return markdown_table(["network", f"ours: {ours_label} [%]", f"{paper.REPLICATION}, MNIST [%]",
                           f"{paper.ORIGINAL}, MNIST [%]"], rows, "lrrr")


def _comparison(ours_a: Summary, ours_b: Summary, published_a: float, published_b: float,
                what_a: str, what_b: str) -> str:
    """One sentence: does a < b (errors) hold for ours as it does/does not in the original?"""
    if not ours_a.n or not ours_b.n:
        return f"The runs for {what_a} and {what_b} are not stored yet."
    ours_lower = ours_a.mean < ours_b.mean
    published_lower = published_a < published_b
    agree = "as in" if ours_lower == published_lower else "unlike"
    return (f"{what_a.capitalize()} has a {'lower' if ours_lower else 'higher'} test error than "
            f"{what_b} ({_percent(100 * ours_a.mean)} vs {_percent(100 * ours_b.mean)}), {agree} the "
            f"original ({_percent(published_a)} vs {_percent(published_b)}).")


def table4_verdict(summaries: dict[str, Summary]) -> str:
    """The two orderings of Section 6.1 checked on our numbers (Markdown)."""
    o = paper.ORIGINAL_DISTILLATION_ERROR
    teachers = _comparison(summaries["teacher with LS"], summaries["teacher without LS"],
                           o["teacher with LS"].value, o["teacher without LS"].value,
                           "the teacher trained with label smoothing", "the teacher trained with dropout")
    students = _comparison(summaries["student with LS"], summaries["student without LS"],
                           o["student with LS"].value, o["student without LS"].value,
                           "the student of the smoothed teacher", "the student of the dropout teacher")
    pairs = [(summaries["student without LS"], summaries["teacher without LS"]),
             (summaries["student with LS"], summaries["teacher with LS"])]
    better = sum(student.mean < teacher.mean for student, teacher in pairs if student.n and teacher.n)
    extra = ""
    if better:
        extra = (f" {'Both students end' if better == 2 else 'One student ends'} with a lower test "
                 f"error than {'their teachers' if better == 2 else 'its teacher'}, unlike in the papers, "
                 f"where the larger teacher is the more accurate network.")
    seeds = min(s.n for s in summaries.values())
    caution = (" Each number comes from a single seed, so a difference of a few tenths of a percent "
               "may be seed noise." if seeds == 1 else
               f" Numbers are means over {seeds} or more seeds; compare differences with the spreads.")
    return f"{teachers} {students}{extra}{caution if seeds else ''}"


# --- Figures 7 and 8 -----------------------------------------------------------------------------

def points_markdown(points: dict[str, list[CurvePoint]]) -> str:
    """Every point of the figure: curve, setting, γ and test accuracy (mean ± std over seeds)."""
    rows = []
    for curve, pts in points.items():
        for p in pts:
            gamma = f"{p.gamma.mean:.3f}" if p.gamma.n else "–"
            rows.append([curve, p.label, gamma, p.accuracy.text()])
    return markdown_table(["curve", "setting", "γ", "test accuracy"], rows, "llrr")


def _interpolate(points: list[CurvePoint], gamma: float) -> float | None:
    """Accuracy of a curve at γ by linear interpolation; None outside the curve's γ range."""
    kept = sorted((p.gamma.mean, p.accuracy.mean) for p in points if p.accuracy.n)
    if len(kept) < 2 or not kept[0][0] <= gamma <= kept[-1][0]:
        return None
    gammas, accuracies = zip(*kept)
    return float(np.interp(gamma, gammas, accuracies))


def figure_verdict(points: dict[str, list[CurvePoint]]) -> str:
    """The claims of Section 6 checked on our points: M3 above M2, M4 below M3 (Markdown)."""
    found = {name: [p for p in pts if p.accuracy.n] for name, pts in points.items()}
    if not all(found.values()):
        return "Some curves have no stored runs yet, so the orderings cannot be checked."
    sentences = []
    best = {name: max(pts, key=lambda p: p.accuracy.mean) for name, pts in found.items()}
    m2, m3 = best["M2"], best["M3"]
    sentences.append(
        f"The best student distilled from the hard-label teacher (M3, {m3.label}: "
        f"{_percent(100 * m3.accuracy.mean)}) is {'better' if m3.accuracy.mean > m2.accuracy.mean else 'not better'} "
        f"than the best student trained without a teacher (M2, {m2.label}: {_percent(100 * m2.accuracy.mean)}); "
        f"the original and the replication find distillation from a hard-label teacher better.")
    below = compared = 0
    for p in found["M4"]:
        if p.label == "α=0":
            continue  # the same run as M3 at T = 1
        reference = _interpolate(found["M3"], p.gamma.mean)
        if reference is not None:
            compared += 1
            below += p.accuracy.mean < reference
    if compared == 1:
        sentences.append(
            f"The one student of a smoothed teacher (M4, α > 0) whose γ lies within the range of the "
            f"M3 curve lies {'below' if below else 'above'} it, i.e. is {'worse' if below else 'better'} "
            f"than a student of the hard-label teacher whose targets are as smooth; the original finds "
            f"all of them below.")
    elif compared:
        sentences.append(
            f"Of the {compared} students of smoothed teachers (M4, α > 0) whose γ lies within the "
            f"range of the M3 curve, {below} {'lies' if below == 1 else 'lie'} below it, i.e. "
            f"{'is' if below == 1 else 'are'} worse than a student of the hard-label teacher whose "
            f"targets are as smooth; the original finds all of them below.")
    else:
        sentences.append("No student of a smoothed teacher (M4) has a γ within the range of the "
                         "M3 curve, so the two cannot be compared at equal smoothness.")
    m1 = found["M1"]
    base = next((p for p in m1 if p.label == "α=0"), None)
    alone = next((p for p in found["M2"] if p.label == "α=0"), None)
    if base is not None and alone is not None and base.accuracy.mean < alone.accuracy.mean:
        sentences.append(
            f"Here the hard-label teacher (M1 at α = 0: {_percent(100 * base.accuracy.mean)}) is less "
            f"accurate than the student trained alone (M2 at α = 0: {_percent(100 * alone.accuracy.mean)}), "
            f"so every distilled student learns from a network weaker than itself; in the papers the "
            f"teacher is the stronger network, and this alone can reverse the orderings.")
    if base is not None and len(m1) > 1:
        smoothed = max((p for p in m1 if p.label != "α=0"), key=lambda p: p.accuracy.mean)
        sentences.append(
            f"Label smoothing {'improves' if smoothed.accuracy.mean > base.accuracy.mean else 'does not improve'} "
            f"the teachers here (best {smoothed.label}: {_percent(100 * smoothed.accuracy.mean)} vs "
            f"{_percent(100 * base.accuracy.mean)} at α = 0).")
    return " ".join(sentences)


# --- Mutual information ----------------------------------------------------------------------------

def mi_references(curves: MICurves):
    """(unrelated, collapsed): what the estimator reads at the curves' N and L on unrelated examples
    (true value 0) and on two collapsed clusters (true value log 2); lsbook.information."""
    from lsbook.information import collapsed_reference, unrelated_reference

    return (unrelated_reference(curves.num_examples, curves.num_draws),
            collapsed_reference(curves.num_examples, curves.num_draws))


def mi_markdown(curves: MICurves) -> str:
    """Per α: Î at initialisation, its maximum (and step), its last value beside the reference on
    unrelated examples measured the same way (same N, L), and test accuracy."""
    unrelated, collapsed = mi_references(curves)
    rows = []
    for alpha in sorted(curves.values):
        values = curves.values[alpha].mean(axis=0)
        peak = int(np.argmax(values))
        accuracy = Summary(curves.test_accuracy[alpha])
        rows.append([f"{alpha:g}", f"{values[0]:.3f}", f"{values[peak]:.3f} (step {int(curves.steps[peak])})",
                     f"{values[-1]:.3f} (step {int(curves.steps[-1])})", f"{values[-1] - unrelated.mean:.3f}",
                     accuracy.text(), len(curves.seeds[alpha])])
    table = markdown_table(["α", "Î at step 0", "max Î", "last Î", "last Î − reference", "test accuracy", "seeds"],
                           rows, "lrrrrrr")
    return (table + f"\nReference, measured the same way (N = {curves.num_examples}, L = {curves.num_draws}): "
            f"{unrelated.mean:.3f} nats on unrelated examples (true value 0), {collapsed.mean:.3f} nats on two "
            f"collapsed clusters (true value log 2 = {math.log(2):.3f}).\n")


def _mi_shape(steps: np.ndarray, values: np.ndarray) -> str:
    """The course of one curve in words: where it peaks and how much it falls after the peak."""
    peak = int(np.argmax(values))
    if peak == 0:
        return f"is highest at initialisation ({values[0]:.3f} nats) and falls"
    rise, fall = values[peak] - values[0], values[peak] - values[-1]
    if fall > 0.1 * rise:
        return (f"rises from {values[0]:.3f} nats at initialisation to {values[peak]:.3f} at step "
                f"{int(steps[peak])} and then falls by {fall:.3f} nats")
    reached = int(steps[int(np.argmax(values >= values[0] + 0.9 * rise))])
    return (f"rises from {values[0]:.3f} nats at initialisation to 90 % of its peak by step {reached} "
            f"and then stays nearly flat (its last value is {fall:.3f} nats below the peak of "
            f"{values[peak]:.3f})")


def mi_verdict(curves: MICurves) -> str:
    """The original's findings checked on our curves (Markdown), read against what the estimator
    gives two collapsed clusters at the same N and L rather than against log 2."""
    from lsbook.information import unrelated_reference

    if not curves.values:
        return "No mutual-information curve is stored yet."
    log2, log_n = math.log(2), curves.log_n
    collapsed = mi_references(curves)[1].mean    # what two collapsed clusters read: log 2 + the bias
    sentences = []
    for alpha in sorted(curves.values):
        values = curves.values[alpha].mean(axis=0)
        last = values[-1]
        where = ("slightly above" if collapsed < last < collapsed + 0.25 * log2 else
                 "above" if last > collapsed else "below")
        sentences.append(
            f"With α = {alpha:g} the estimate {_mi_shape(curves.steps, values)}; it ends {where} the level "
            f"of two collapsed clusters as this estimator reads it ({collapsed:.3f} nats at N = {curves.num_examples}, "
            f"L = {curves.num_draws}: log 2 = {log2:.3f} plus its upward bias) and below log N = {log_n:.3f}.")
    if 0.0 in curves.values and len(curves.values) > 1:
        other = max(a for a in curves.values if a > 0)
        end0, end1 = curves.values[0.0].mean(axis=0)[-1], curves.values[other].mean(axis=0)[-1]
        seeds = min(len(v) for v in curves.seeds.values())
        sentences.append(
            f"At the end of training the network trained with α = {other:g} keeps "
            f"{'less' if end1 < end0 else 'more'} information about the example index than the one "
            f"trained without ({end1:.3f} vs {end0:.3f} nats, "
            f"{'one seed per curve' if seeds == 1 else f'means over {seeds} seeds'}); the original "
            f"reports less with label smoothing, and an end slightly above log 2 — where two collapsed clusters "
            f"put this estimator at the original's N = 600 and L = 5, since its bias there is "
            f"{unrelated_reference(600, 5).mean:.2f} nats.")
    return " ".join(sentences)


def placeholder_figure(message: str):
    """A figure that says why there is nothing to draw (keeps figure numbers and references stable)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 2.0), dpi=110, layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize="small")
    return fig
