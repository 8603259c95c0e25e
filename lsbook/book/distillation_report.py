"""The distillation chapter's Table 4 and Figures 7/8, read from the stored runs of a study
(never trains) and written as tables and sentences.

Numbers are test accuracies (errors for Table 4) as mean ± sample standard deviation over the
seeds found in the store; a cell whose runs are missing says so instead of showing a number. The
verdicts on the papers' orderings are the claim ledger's (:mod:`lsbook.claims`), not written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from lsbook import paper
from lsbook.book.pages import markdown_table
from lsbook.book.tables import Summary
from lsbook.experiments.distillation_grid import SETUPS, DistillationSetup, StudyRecords, expand_grid
from lsbook.profiles import chapter_defaults, considered_profiles
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

MAIN_STUDY = ("fcn-mnist", "paper")  # the replication's own experiment (Section 6.1), trained on this CPU


@dataclass(frozen=True)
class ShownStudy:
    """A study as one table or figure of the chapter shows it: at which profile, over which seeds."""

    setup: DistillationSetup
    profile: str
    seeds: tuple[int, ...]
    role: str                                # "the main result", "the `cpu` variant", or ""


def shown_studies(selected: DistillationSetup | None, profile: str, seeds: Iterable[int], *, part: str,
                  store: Store | None = None) -> list[ShownStudy]:
    """What the chapter shows for Table 4 (``part="table4"``) or Figure 7 (``part="figure"``).

    The replication's own experiment (MNIST at `paper`) comes first, as the main result, over the
    seeds that have runs of that part (:func:`study_seeds`), where the page's profile reads `paper`
    runs; the study selected at the page's profile follows as a variant (alone, when it is that
    experiment), over ``seeds`` (for a figure: those of them with stored students, if any).
    """
    if part not in ("table4", "figure"):
        raise ValueError(f"part must be 'table4' or 'figure', got {part!r}")
    name, main_profile = MAIN_STUDY
    main = SETUPS[name]
    shown: list[ShownStudy] = []
    is_main = selected is not None and selected.name == name and profile == main_profile
    if not is_main and main_profile in considered_profiles(profile):
        main_seeds = study_seeds(main, main_profile, chapter_defaults(main_profile, "distillation")["seeds"],
                                 part=part, store=store)
        if main_seeds:
            shown.append(ShownStudy(main, main_profile, main_seeds, "the main result"))
    if selected is not None:
        # A figure averages over the seeds that have its students where any are stored.
        own = (part == "figure" and study_seeds(selected, profile, seeds, part=part, store=store)) or tuple(seeds)
        shown.append(ShownStudy(selected, profile, own, f"the `{profile}` variant" if shown else ""))
    return shown


# Figure 8's studies: the original's, on CIFAR-10 (GPU time; at the page's own profile), and the same
# study on the JPEG re-encode at the schedule sized for this CPU, trained once at `paper` and
# committed, so every page that reads `paper` runs shows it.
FIGURE8_STUDIES = (("resnet56-alexnet-cifar10", None), ("resnet56-alexnet-cifar10-jpeg", "paper"))


def figure8_studies(selected_names: Iterable[str], profile: str, store: Store | None = None) -> list[ShownStudy]:
    """Figure 8's studies with stored students: the original's where the page selected it (at its
    profile), then the JPEG re-encode study at `paper` where the page reads `paper` runs, over the
    seeds of the `paper` chapter that have its students."""
    shown = []
    for name, fixed in FIGURE8_STUDIES:
        at = profile if fixed is None else fixed
        if (fixed is None and name not in selected_names) or at not in considered_profiles(profile):
            continue
        setup = SETUPS[name]
        seeds = study_seeds(setup, at, chapter_defaults(at, "distillation")["seeds"], part="figure", store=store)
        if seeds:
            shown.append(ShownStudy(setup, at, seeds, ""))
    return shown


def study_seeds(setup: DistillationSetup, profile: str, seeds: Iterable[int], *, part: str,
                store: Store | None = None) -> tuple[int, ...]:
    """The seeds among ``seeds`` with a stored run of Table 4 (any of its four), or of Figure 7 (a
    student or baseline: its M1 teachers alone are Table 2's runs, not yet a figure)."""
    runner = StudyRecords(store)
    found = []
    for seed in seeds:
        grid = expand_grid(setup, [seed], profile, table4=part == "table4", figure=part == "figure")
        if any(runner.record(config) is not None for config in grid
               if part == "table4" or config.recipe.name == setup.student_recipe):
            found.append(int(seed))
    return tuple(found)


def seeds_found(records: Iterable) -> list[int]:
    """The seeds of the stored records, sorted (what a caption says was run)."""
    return sorted({int(r.config["seed"]) for r in records})


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
    runner = StudyRecords(store)
    found = (runner.record(config) for config in expand_grid(setup, seeds, profile, table4=table4, figure=figure))
    return [record for record in found if record is not None]


# --- Table 4 as Markdown ---------------------------------------------------------------------------

def table4_markdown(summaries: dict[str, Summary], ours_label: str) -> str:
    """Table 4: test error [%] of ours (mean ± std over seeds) beside the replication's and the original's."""
    rows = []
    for role in TABLE4_ROWS:
        rows.append([role, summaries[role].text(unit=""),
                     f"{paper.REPLICATION_DISTILLATION_ERROR[role].value:.2f}",
                     f"{paper.ORIGINAL_DISTILLATION_ERROR[role].value:.2f}"])
    return markdown_table(["network", f"ours: {ours_label} [%]", f"{paper.REPLICATION}, MNIST [%]",
                           f"{paper.ORIGINAL}, MNIST [%]"], rows, "lrrr")


# --- Figures 7 and 8 as Markdown -------------------------------------------------------------------

def points_markdown(points: dict[str, list[CurvePoint]]) -> str:
    """Every point of the figure: curve, setting, γ and test accuracy (mean ± std over seeds)."""
    rows = []
    for curve, pts in points.items():
        for p in pts:
            gamma = f"{p.gamma.mean:.3f}" if p.gamma.n else "–"
            rows.append([curve, p.label, gamma, p.accuracy.text()])
    return markdown_table(["curve", "setting", "γ", "test accuracy"], rows, "llrr")


def stored_text(setup: DistillationSetup, profile: str, *, store: Store | None = None) -> str:
    """How much of Table 4 and of Figure 7/8 is stored at ``profile``, per seed, as a phrase,
    e.g. "Table 4: 4 of 4 runs for seeds 0, 1, 2; Figure 7: 9 of 23 runs for seed 0"."""
    runner = StudyRecords(store)
    figure = "Figure 8" if setup.distill_loss == "original" else "Figure 7"
    parts = []
    for name, table4 in (("Table 4", True), (figure, False)):
        if table4 and setup.dropout_teacher_recipe is None:
            continue
        counts: dict[tuple[int, int], list[int]] = {}
        for seed in chapter_defaults(profile, "distillation")["seeds"]:
            grid = expand_grid(setup, [seed], profile, table4=table4, figure=not table4)
            stored = sum(runner.record(config) is not None for config in grid)
            if stored:
                counts.setdefault((stored, len(grid)), []).append(seed)
        if not counts:
            parts.append(f"{name}: no runs stored")
        for (stored, total), seeds in counts.items():
            parts.append(f"{name}: {stored} of {total} runs for seed{'s' if len(seeds) > 1 else ''} "
                         f"{', '.join(map(str, seeds))}")
    return "; ".join(parts)
