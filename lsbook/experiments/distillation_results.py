"""Table 4 and Figures 7/8 computed from the stored runs of a distillation study (never trains).

Numbers are test accuracies (errors for Table 4) as mean ± sample standard deviation over the
seeds found in the store; a cell whose runs are missing says so instead of showing a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from lsbook import paper
from lsbook.experiments.distillation_grid import (BASELINE, DISTILLED, DROPOUT_TEACHER, TEACHER,
                                                  DistillationSetup, StudyRecords, RunSpec)
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


@dataclass
class Summary:
    """Mean and spread over seeds of one quantity."""

    values: list[float]                     # one per seed found

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else float("nan")

    def text(self, scale: float = 100.0, digits: int = 2, unit: str = "%") -> str:
        """"m ± s %" (or "m %" for one seed, "missing" for none)."""
        if not self.values:
            return "missing"
        if self.n == 1:
            return f"{self.mean * scale:.{digits}f}{unit}"
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f}{unit}"


@dataclass
class CurvePoint:
    """One point of Figure 7/8: what it is, its γ and the test accuracy over seeds."""

    label: str                               # e.g. "α=0.3" or "T=4"
    gamma: Summary                           # smoothness index (= α for M1, M2)
    accuracy: Summary                        # test accuracy (fraction)
    keys: list[str] = field(default_factory=list)  # store keys of the runs


def _for_seeds(seeds: Iterable[int], make: callable) -> list[RunSpec]:
    return [make(seed) for seed in seeds]


def _point(runner: StudyRecords, label: str, specs: list[RunSpec], gamma_is_alpha: float | None) -> CurvePoint:
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
    runner = StudyRecords(setup, profile, store=store)
    teacher = lambda a, s: RunSpec(TEACHER, setup.teacher_recipe, float(a), s)  # noqa: E731
    student = lambda t, temp, s: RunSpec(DISTILLED, setup.student_recipe, 0.0, s, t, float(temp))  # noqa: E731
    curves: dict[str, list[CurvePoint]] = {"M1": [], "M2": [], "M3": [], "M4": []}
    for alpha in setup.alphas:
        curves["M1"].append(_point(runner, f"α={alpha:g}", _for_seeds(seeds, lambda s: teacher(alpha, s)), alpha))
        curves["M2"].append(_point(runner, f"α={alpha:g}", _for_seeds(
            seeds, lambda s: RunSpec(BASELINE, setup.student_recipe, float(alpha), s)), alpha))
        curves["M4"].append(_point(runner, f"α={alpha:g}", _for_seeds(
            seeds, lambda s: student(teacher(alpha, s), 1.0, s)), None))
    for temperature in setup.temperatures:
        curves["M3"].append(_point(runner, f"T={temperature:g}", _for_seeds(
            seeds, lambda s: student(teacher(0.0, s), temperature, s)), None))
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
    runner = StudyRecords(setup, profile, store=store)
    rows = {name: [] for name in TABLE4_ROWS}
    for seed in seeds:
        dropout = RunSpec(DROPOUT_TEACHER, setup.dropout_teacher_recipe, 0.0, seed)
        smoothed = RunSpec(TEACHER, setup.teacher_recipe, setup.table4_alpha, seed)
        specs = dict(zip(TABLE4_ROWS, (
            dropout, smoothed, RunSpec(DISTILLED, setup.student_recipe, 0.0, seed, dropout, 1.0),
            RunSpec(DISTILLED, setup.student_recipe, 0.0, seed, smoothed, 1.0))))
        for name, spec in specs.items():
            record = runner.record(spec)
            if record is not None:
                rows[name].append(1.0 - float(record.metrics["test_accuracy"]))
    return {name: Summary(values) for name, values in rows.items()}


def stored_records(setup: DistillationSetup, profile: str, seeds: Iterable[int], *,
                   store: Store | None = None, table4: bool = True, figure: bool = True) -> list:
    """The stored records of every run of the study (for provenance lines); never trains."""
    from lsbook.experiments.distillation_grid import expand_grid

    runner = StudyRecords(setup, profile, store=store)
    found = (runner.record(spec) for spec in expand_grid(setup, seeds, table4=table4, figure=figure))
    return [record for record in found if record is not None]
