"""The distillation chapter's Table 4 and Figures 7/8, read from the stored runs of a study
(never trains) and written as tables and sentences.

Numbers are test accuracies (errors for Table 4) as mean ± sample standard deviation over the
seeds found in the store; a cell whose runs are missing says so instead of showing a number. The
chapter quotes numbers only through ``glue``; the sentences that compare our orderings with the
published ones are written here from the numbers, so they stay true when the book is rebuilt at
another profile or with other seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from lsbook import paper
from lsbook.book.pages import markdown_table
from lsbook.book.tables import Summary
from lsbook.experiments.distillation_grid import DistillationSetup, StudyRecords
from lsbook.run_config import RunConfig
from lsbook.store import Store

CURVE_LABELS = {
    "M1": "M1: teacher trained with α (γ = α)",
    "M2": "M2: student, no distillation, trained with α (γ = α)",
    "M3": "M3: student ← hard-label teacher at T",
    "M4": "M4: student ← teacher trained with α, T = 1",
}
# Table 4's rows, named as lsbook.paper names them: "teacher without LS" (dropout, α = 0),
# "teacher with LS" (α = 0.1, no dropout), and the students distilled from each.
TABLE4_ROWS = paper.DISTILLATION_ROLES


# --- The study's runs, from the store ----------------------------------------------------------------

@dataclass
class CurvePoint:
    """One point of Figure 7/8: what it is, its γ and the test accuracy over seeds."""

    label: str                               # e.g. "α=0.3" or "T=4"
    gamma: Summary                           # smoothness index (= α for M1, M2)
    accuracy: Summary                        # test accuracy (fraction)
    keys: list[str] = field(default_factory=list)  # store keys of the runs


def _point(runner: StudyRecords, label: str, specs: list[RunConfig], gamma_is_alpha: float | None) -> CurvePoint:
    accuracies, gammas, keys = [], [], []
    for spec in specs:
        record = runner.record(spec)
        if record is None:
            continue
        gamma = gamma_is_alpha if gamma_is_alpha is not None else runner.smoothness(spec)
        if gamma is None:
            continue
        accuracies.append(float(record.metrics["test_accuracy"]))
        gammas.append(float(gamma))
        keys.append(record.key)
    return CurvePoint(label, Summary(gammas), Summary(accuracies), keys)


def figure_points(setup: DistillationSetup, profile: str, seeds: Iterable[int], *,
                  store: Store | None = None) -> dict[str, list[CurvePoint]]:
    """The four curves M1–M4 of Figures 7/8 from the store: {"M1": [points...], ...}."""
    seeds = list(seeds)
    runner = StudyRecords(store)
    curves: dict[str, list[CurvePoint]] = {"M1": [], "M2": [], "M3": [], "M4": []}
    for alpha in setup.alphas:
        teachers = [setup.teacher(alpha, s, profile) for s in seeds]
        curves["M1"].append(_point(runner, f"α={alpha:g}", teachers, alpha))
        curves["M2"].append(_point(runner, f"α={alpha:g}", [setup.baseline(alpha, s, profile) for s in seeds], alpha))
        curves["M4"].append(_point(runner, f"α={alpha:g}", [setup.student(t, 1.0) for t in teachers], None))
    for temperature in setup.temperatures:
        curves["M3"].append(_point(runner, f"T={temperature:g}", [
            setup.student(setup.teacher(0.0, s, profile), temperature) for s in seeds], None))
    return curves


def plot_curves(points: dict[str, list[CurvePoint]]) -> dict[str, tuple[list[float], list[float]]]:
    """{legend label: (γ means, accuracy means in %)} of the points that have runs (for plots)."""
    curves = {}
    for name, pts in points.items():
        kept = [p for p in pts if p.accuracy.n]
        if kept:
            curves[CURVE_LABELS[name]] = ([p.gamma.mean for p in kept], [100 * p.accuracy.mean for p in kept])
    return curves


def table4_summaries(setup: DistillationSetup, profile: str, seeds: Iterable[int], *,
                     store: Store | None = None) -> dict[str, Summary]:
    """Table 4's four test errors (fractions) over seeds: teachers with dropout / with α, and
    the students distilled from each at T = 1."""
    seeds = list(seeds)
    runner = StudyRecords(store)
    rows = {name: [] for name in TABLE4_ROWS}
    for seed in seeds:
        for name, spec in setup.table4_runs(seed, profile).items():
            record = runner.record(spec)
            if record is not None:
                rows[name].append(1.0 - float(record.metrics["test_accuracy"]))
    return {name: Summary(values) for name, values in rows.items()}


def stored_records(setup: DistillationSetup, profile: str, seeds: Iterable[int], *,
                   store: Store | None = None, table4: bool = True, figure: bool = True) -> list:
    """The stored records of every run of the study (for provenance lines); never trains."""
    from lsbook.experiments.distillation_grid import expand_grid

    runner = StudyRecords(store)
    found = (runner.record(config) for config in expand_grid(setup, seeds, profile, table4=table4, figure=figure))
    return [record for record in found if record is not None]


# --- Table 4 as Markdown ---------------------------------------------------------------------------

def _percent(value: float) -> str:
    return f"{value:.2f} %"


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


# --- Figures 7 and 8 as Markdown -------------------------------------------------------------------

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
