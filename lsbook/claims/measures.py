"""The measurements behind the claim table: one small function per kind of measurement.

Each function of MEASURES takes the ledger's :class:`~lsbook.claims.arms.Context`, a claim of
lsbook.claims.table and one :class:`Subject` (a recipe, a study or a set-up), finds the arms through
the one arm search (lsbook.claims.arms) and returns the difference per seed (:class:`Measured`), or
:class:`NotRun` (with the reason from lsbook.runs.why_not_run), or :class:`NoEstimate`. It never
trains. :func:`subjects` expands a claim's runs into the subjects it is tested on, and
:func:`fields` gives the words its sentence templates name.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lsbook import paper
from lsbook.claims.arms import (Context, Grid, Measured, accuracy_points, alpha_arms, best_alpha, best_of,
                                correct_predictions, ece_of, error_points, every_alpha, from_statistics, mean_of,
                                search, shifted)
from lsbook.claims.table import Claim
from lsbook.clusters import distance_spread, pair_spread, spread_to_distance_ratio
from lsbook.errors import LsbookError
from lsbook.experiments.distillation_grid import SETUPS, StudyRecords
from lsbook.experiments.mutual_info import MI_SETUPS, curve, find_curve
from lsbook.information import collapsed_reference, unrelated_reference
from lsbook.intervals import (BinnedCalibration, Statistic, aurc_statistic, bleu_statistic, bootstrap_binned,
                              difference, ratio_statistic)
from lsbook.profiles import PROFILES, chapter_defaults
from lsbook.projection import penultimate_projection
from lsbook.recipes import RECIPES, VARIANT_OF, dataset_title, recipe_title, variants_of
from lsbook.runs import why_not_run
from lsbook.selective import choose_p, msp_confidence, normalised_max_logit
from lsbook.store import Record


@dataclass(frozen=True)
class Subject:
    """What one row of a claim is tested on."""

    name: str                     # the row id's part after the claim's: a recipe or set-up ("" for alternatives)
    recipes: tuple[str, ...]      # the recipe(s) whose runs it reads; alternatives: in order of preference
    alpha: float | None           # the treatment α; None: α*, chosen among the claim's best_of

    @property
    def recipe(self) -> str:
        return self.recipes[-1] if len(self.recipes) > 1 else self.recipes[0]


@dataclass
class NotRun:
    """The runs a row needs are not stored: why (lsbook.runs.why_not_run), and where a ledger looked."""

    reason: str
    profile: str


@dataclass
class NoEstimate:
    """The runs are stored but say nothing about the claim: why."""

    reason: str
    profile: str
    seeds: list[int]
    recipe: str = ""     # the recipe measured, where a subject has alternatives


Result = Measured | NotRun | NoEstimate


def subjects(claim: Claim) -> list[Subject]:
    """The subjects ``claim`` is tested on, in the table's order, each recipe followed by its variants
    on this machine's data and schedule; a recipe with fixed α gives one subject per α."""
    runs = claim.runs
    if runs.alternatives:
        return [Subject("", runs.subjects, None if runs.best_of else runs.alphas[-1])]
    names = [n for s in runs.subjects for n in ((s, *variants_of(s)) if runs.variants and s in RECIPES else (s,))]
    found = []
    for name in names:
        if runs.best_of and name in runs.fixed:
            found += [Subject(f"{name}/α={a:g}", (name,), float(a)) for a in runs.fixed[name]]
        else:
            found.append(Subject(name, (name,), None if runs.best_of else runs.alphas[-1]))
    return found


def row_id(claim: Claim, subject: Subject) -> str:
    return f"{claim.id}/{subject.name}" if subject.name else claim.id


def published_accuracy(recipe: str, alpha: float) -> float | None:
    """The replication's Table 2 accuracy of ``recipe`` (or of the paper recipe a variant stands for)."""
    value = paper.REPLICATION_ACCURACY.get(VARIANT_OF.get(recipe, recipe), {}).get(float(alpha))
    return None if value is None else value.value


def fields(claim: Claim, subject: Subject) -> dict[str, object]:
    """The words a claim's templates name, for this subject."""
    alpha = subject.alpha
    name = "α*" if alpha is None else f"α = {alpha:g}"
    values: dict[str, object] = {
        "alpha": SMOOTHED_DEFAULT if alpha is None else alpha, "alpha_name": name,
        "smoothing": f"Label smoothing {'at' if alpha is None else 'with'} {name}",
        "smoothing_lower": f"label smoothing {'at' if alpha is None else 'with'} {name}",
        "margin": claim.direction.margin, "stand_in": "", "subject": ""}
    recipe = subject.recipe
    setup = SETUPS.get(recipe) if claim.chapter in ("distillation", "later_work") else None
    if claim.chapter == "mutual_information":
        setup = MI_SETUPS.get(recipe)
    if setup is not None:
        values["stand_in"] = f" ({setup.stand_in})" if setup.stand_in else ""
    if claim.chapter == "distillation" and recipe in SETUPS:
        study = SETUPS[recipe]
        figure = "Section 6.2 and Figure 8" if study.distill_loss == "original" else "Section 6.1 and Figure 7"
        values.update(table4_alpha=study.table4_alpha, moderate=_moderate(study),
                      figure_source=f"{paper.ORIGINAL}, Section 4; {paper.REPLICATION}, {figure}")
    if recipe == TEMPERATURE_STUDY:
        values["high_temperatures"] = ", ".join(f"{t:g}" for t in SETUPS[recipe].smoothed_temperatures if t > 1)
    if recipe in RECIPES:
        values["subject"] = recipe_title(recipe)
        values["noise"] = 100 * RECIPES[recipe].label_noise
        published_as = str(claim.options.get("published_as", VARIANT_OF.get(recipe, recipe)))
        values["on"] = f" on {dataset_title(published_as)}" if recipe in VARIANT_OF else ""
        for key, a in (("published_0", 0.0), ("published_alpha", values["alpha"])):
            value = paper.REPLICATION_ACCURACY.get(published_as, {}).get(float(a))
            values[key] = math.nan if value is None else value.value
        if "similar" in claim.options:
            names = dataset_class_names(recipe)
            similar, dissimilar = claim.options["similar"], claim.options["dissimilar"]
            values["similar"] = f"{names[similar[0]]} and {names[similar[1]]}"
            values["dissimilar"] = names[dissimilar[0][1]]
    return values


SMOOTHED_DEFAULT = 0.1       # the α a sentence about α* names where it needs a number (never measured)
TEMPERATURE_STUDY = "fcn-mnist-temperatures"


def dataset_class_names(recipe: str) -> tuple[str, ...]:
    from lsbook.data.registry import get_dataset  # lazy: the lsbook.data package imports torch

    return get_dataset(RECIPES[recipe].dataset).class_names


def _moderate(study) -> float:
    """The smallest α > 0 of a study's grid: "moderate" smoothing."""
    return min(a for a in study.alphas if a > 0)


# --- Where a missing run would come from -------------------------------------------------------------------

def home_profile(ctx: Context, claim: Claim, subject: Subject) -> str:
    """The profile whose runs a ledger would read for this row when none is stored: the claim's own
    (if it restricts them), `paper` for a variant (sized for this machine, trained as it is), the
    profile whose chapter defaults study a set-up, else the ledger's own."""
    if claim.runs.profiles:
        return claim.runs.profiles[0]
    if subject.recipe in VARIANT_OF:
        return "paper"
    if claim.chapter in ("distillation", "mutual_information"):
        chapter = claim.chapter
        for profile in (ctx.profiles[-1], *ctx.profiles):
            if profile in PROFILES and subject.recipe in chapter_defaults(profile, chapter)["setups"]:
                return profile
    return ctx.profiles[-1]


def not_run(ctx: Context, claim: Claim, subject: Subject, recipe: str | None = None,
            command: str | None = None) -> NotRun:
    """A NotRun for ``subject``: why no run of ``recipe`` (default: the subject's) is stored at the
    home profile, and what command trains it (default: a sweep of the claim's α over three seeds)."""
    home = home_profile(ctx, claim, subject)
    recipe = recipe or subject.recipe
    if command is None and claim.runs.profiles:
        alphas = " ".join(f"{a:g}" for a in sorted({0.0, *claim.runs.alphas}))
        command = f"python -m lsbook sweep {recipe} --alphas {alphas} --seeds 0 1 2 --profile {home}"
    return NotRun(why_not_run(recipe, home, command), home)


# --- Classification: accuracy --------------------------------------------------------------------------------

def _means(grid: Grid, alphas, metric: str = "test_accuracy") -> dict[float, float]:
    return {a: float(np.mean([100 * r.metrics[metric] for r in grid.at(a)])) for a in alphas}


def accuracy(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Test accuracy, treatment α minus α = 0 (paired over the shared test examples)."""
    alpha = subject.alpha
    grid = alpha_arms(ctx, claim.runs, subject.recipe, (0.0, alpha))
    if grid is None:
        return not_run(ctx, claim, subject)
    statistics = [difference(accuracy_points(grid.records[(alpha, s)]), accuracy_points(grid.records[(0.0, s)]))
                  for s in grid.seeds]
    means = _means(grid, (0.0, alpha))
    note = f"ours: {means[0.0]:.2f} % at α = 0, {means[alpha]:.2f} % at α = {alpha:g}"
    published = [published_accuracy(subject.recipe, a) for a in (0.0, alpha)]
    if None not in published:
        on = (f" on {dataset_title(VARIANT_OF[subject.recipe])} at its own schedule"
              if subject.recipe in VARIANT_OF else "")
        note += f"; {paper.REPLICATION}{on}: {published[0]:.2f} %, {published[1]:.2f} %"
    return from_statistics(grid.profile, grid.seeds, statistics, list(grid.records.values()), note=note)


HOLDOUT_ALPHAS = (0.0, 0.1)


def holdout_gain(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Test accuracy of the recipe trained on all 60,000 images minus that of fcn-fmnist (55,000),
    mean over α 0 and 0.1, on the seeds both have at the same profile."""
    trained = str(claim.options["trained"])
    full = alpha_arms(ctx, claim.runs, trained, HOLDOUT_ALPHAS)
    if full is None:
        return not_run(ctx, claim, subject, trained, f"python -m lsbook sweep {trained} --alphas 0 0.1 "
                                                     "--seeds 0 1 --profile paper")
    holdout = alpha_arms(ctx, dataclasses.replace(claim.runs, profiles=(full.profile,)), "fcn-fmnist",
                         HOLDOUT_ALPHAS)
    shared = [] if holdout is None else [s for s in full.seeds if s in holdout.seeds]
    if not shared:
        seeds = " ".join(map(str, full.seeds))
        return not_run(ctx, claim, subject, "fcn-fmnist", f"python -m lsbook sweep fcn-fmnist --alphas 0 0.1 "
                                                          f"--seeds {seeds} --profile {full.profile}")
    statistics = [mean_of([difference(accuracy_points(full.records[(a, s)]), accuracy_points(holdout.records[(a, s)]))
                           for a in HOLDOUT_ALPHAS]) for s in shared]
    records = [g.records[(a, s)] for g in (full, holdout) for a in HOLDOUT_ALPHAS for s in shared]
    return from_statistics(full.profile, shared, statistics, records, note=_holdout_note(full, holdout))


def replication_offset(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Test accuracy of the ``trained`` recipe (default: the subject) minus the replication's Table 2
    number for fcn-fmnist, mean over the claim's α."""
    alphas = tuple(sorted({0.0, *claim.runs.alphas}))
    trained = str(claim.options.get("trained", subject.recipe))
    grid = alpha_arms(ctx, claim.runs, trained, alphas)
    if grid is None:
        return not_run(ctx, claim, subject, trained)
    published = {a: published_accuracy("fcn-fmnist", a) for a in alphas}
    statistics = [mean_of([shifted(accuracy_points(grid.records[(a, s)]), -published[a]) for a in alphas])
                  for s in grid.seeds]
    measured = from_statistics(grid.profile, grid.seeds, statistics, list(grid.records.values()))
    if claim.options.get("seeds_only"):
        measured.bootstrap, measured.why_no_bootstrap = None, "the replication's number is one run"
    if alphas == HOLDOUT_ALPHAS:
        holdout = alpha_arms(ctx, dataclasses.replace(claim.runs, profiles=(grid.profile,)), "fcn-fmnist", alphas)
        measured.note = _holdout_note(grid, holdout)
    else:
        measured.note = "ours: " + ", ".join(f"{m:.2f} % at α = {a:g}" for a, m in _means(grid, alphas).items())
    return measured


def _holdout_note(full: Grid, holdout: Grid | None) -> str:
    published = {a: published_accuracy("fcn-fmnist", a) for a in HOLDOUT_ALPHAS}

    def offsets(grid: Grid) -> str:
        return ", ".join(f"{m - published[a]:+.2f} at α = {a:g}" for a, m in _means(grid, HOLDOUT_ALPHAS).items())

    text = f"offset from the replication, all 60,000 images: {offsets(full)} points"
    if holdout is not None:
        text += f"; with the 5,000 held out ({holdout.profile}): {offsets(holdout)} points"
    return text + (". These runs have no held-out split, so their 'validation' numbers and fitted temperature are "
                   "measured on training images; they serve this comparison only")


# --- Classification: the penultimate layer -------------------------------------------------------------------

def _cluster_points(record: Record, space: str) -> tuple[np.ndarray, np.ndarray]:
    """The stored training activations of the first three stored classes, projected or not."""
    features = np.asarray(record.arrays["train_features"], dtype=np.float64)
    labels = np.asarray(record.arrays["train_feature_labels"])
    classes = np.unique(labels)[:3]
    keep = np.isin(labels, classes)
    features, labels = features[keep], labels[keep]
    if space == "plane":
        features = penultimate_projection(features, np.asarray(record.arrays["head_weight"])[classes])
    return features, labels


def _geometry(function: Callable, name: str) -> Callable[[Context, Claim, Subject], Result]:
    """A measurement of the penultimate clusters by ``function`` (features, labels, weights), α minus
    α = 0, resampling the stored training examples within each class."""
    def measure(ctx: Context, claim: Claim, subject: Subject) -> Result:
        alpha, space = subject.alpha, str(claim.options.get("space", "plane"))
        grid = alpha_arms(ctx, claim.runs, subject.recipe, (0.0, alpha))
        if grid is None:
            return not_run(ctx, claim, subject)
        points = {k: _cluster_points(r, space) for k, r in grid.records.items()}
        labels = points[(0.0, grid.seeds[0])][1]
        if any(not np.array_equal(labels, y) for _, y in points.values()):
            raise LsbookError(f"{subject.recipe}: the runs stored the activations of different examples; "
                              "cannot pair them")

        def statistic(key: tuple[float, int]) -> Statistic:
            x, y = points[key]

            def resampled(indices: np.ndarray) -> np.ndarray:
                weights = np.zeros((indices.shape[0], len(y)))
                np.add.at(weights, (np.arange(indices.shape[0])[:, None], indices), 1.0)
                return function(x, y, weights)
            return resampled

        statistics = [difference(statistic((alpha, s)), statistic((0.0, s))) for s in grid.seeds]
        values = {a: np.mean([function(*points[(a, s)]) for s in grid.seeds]) for a in (0.0, alpha)}
        return from_statistics(grid.profile, grid.seeds, statistics, [], what="stored training examples",
                               strata=labels, num_examples=len(labels),
                               note=f"{name} {values[0.0]:.3f} at α = 0, {values[alpha]:.3f} at α = {alpha:g}")
    return measure


# --- Classification: calibration ---------------------------------------------------------------------------

def _calibration_grid(ctx: Context, claim: Claim, subject: Subject) -> tuple[Grid | None, float | None]:
    """The runs and the treatment α of a calibration row: the fixed α, or α* over every α a seed has."""
    if subject.alpha is not None:
        return alpha_arms(ctx, claim.runs, subject.recipe, (0.0, subject.alpha)), subject.alpha
    grid = every_alpha(ctx, claim.runs, subject.recipe)
    return grid, None if grid is None else best_alpha(grid)


def ece(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Test ECE at the treatment α (T = 1) minus that of α = 0 at T = 1, or at its fitted T."""
    grid, alpha = _calibration_grid(ctx, claim, subject)
    if grid is None:
        return not_run(ctx, claim, subject)
    fitted = claim.options.get("control_temperature") == "fitted"
    statistics = []
    for s in grid.seeds:
        base = grid.records[(0.0, s)]
        statistics.append(difference(ece_of(grid.records[(alpha, s)]),
                                     ece_of(base, float(base.metrics["val_temperature"]) if fitted else 1.0)))
    measured = from_statistics(grid.profile, grid.seeds, statistics,
                               [grid.records[(a, s)] for a in (0.0, alpha) for s in grid.seeds],
                               note=_calibration_note(grid, alpha))
    measured.arms = f"α* = {alpha:g} vs 0" if subject.alpha is None else f"α {alpha:g} vs 0"
    return measured


def _calibration_note(grid: Grid, alpha: float) -> str:
    mean = lambda values: float(np.mean(values))  # noqa: E731
    base = grid.at(0.0)
    return (f"test ECE {mean([r.metrics['test_ece'] for r in base]):.3f} at α = 0, "
            f"{mean([r.metrics['test_ece_at_val_temperature'] for r in base]):.3f} at the fitted T = "
            f"{mean([r.metrics['val_temperature'] for r in base]):.2f}, "
            f"{mean([r.metrics['test_ece'] for r in grid.at(alpha)]):.3f} at α = {alpha:g}; test ECE at every α "
            "compared: " + ", ".join(f"{mean([r.metrics['test_ece'] for r in grid.at(a)]):.3f} at {a:g}"
                                     for a in sorted(grid.alphas)))


def fitted_temperature(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """The temperature fitted on validation at the treatment α, minus 1 (below 0: underconfident)."""
    alpha = subject.alpha
    grid = alpha_arms(ctx, claim.runs, subject.recipe, (alpha,))
    if grid is None:
        return not_run(ctx, claim, subject)
    values = [float(r.metrics["val_temperature"]) - 1.0 for r in grid.at(alpha)]
    return Measured(grid.profile, grid.seeds, values, note=f"fitted T {1 + np.mean(values):.2f} at α = {alpha:g}",
                    why_no_bootstrap="a fitted temperature is one number per run")


# --- The Transformer --------------------------------------------------------------------------------------------

def transformer_grid(ctx: Context, claim: Claim, subject: Subject, alphas: tuple[float, ...] | None = None
                     ) -> Grid | None:
    """The runs of the first allowed profile and, within it, the first recipe of the subject's
    alternatives that has every arm (every α a seed has, for a claim about α*)."""
    for profile in ctx.allowed(claim.runs):
        runs = dataclasses.replace(claim.runs, profiles=(profile,))
        for recipe in subject.recipes:
            grid = (every_alpha(ctx, runs, recipe) if alphas is None and subject.alpha is None else
                    alpha_arms(ctx, runs, recipe, alphas or (0.0, subject.alpha)))
            if grid is not None:
                return grid
    return None


def _sentence_statistic(record: Record, metric: str) -> Statistic:
    """The statistic over resampled test sentences of test BLEU or test NLL (T = 1)."""
    arrays = record.arrays
    if metric == "test_bleu":
        return bleu_statistic(arrays["test_sentence_bleu_stats"])
    return ratio_statistic(arrays["test_sentence_nll"], arrays["test_sentence_tokens"])


SENTENCE_ARRAYS = ("test_sentence_bleu_stats", "test_sentence_nll", "test_sentence_tokens")


def sentences(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """A translation metric (BLEU, NLL at T = 1), α minus α = 0, resampled by test sentence."""
    metric, alpha = str(claim.options["metric"]), subject.alpha
    grid = transformer_grid(ctx, claim, subject)
    if grid is None:
        return not_run(ctx, claim, subject)
    records = list(grid.records.values())
    values = {a: float(np.mean([float(r.metrics[metric]) for r in grid.at(a)])) for a in (0.0, alpha)}
    note = f"{values[0.0]:.3f} at α = 0, {values[alpha]:.3f} at α = {alpha:g}"
    if all(name in r.arrays for r in records for name in SENTENCE_ARRAYS):
        statistics = [difference(_sentence_statistic(grid.records[(alpha, s)], metric),
                                 _sentence_statistic(grid.records[(0.0, s)], metric)) for s in grid.seeds]
        measured = from_statistics(grid.profile, grid.seeds, statistics, records, what="test sentences", note=note,
                                   num_examples=len(records[0].arrays["test_sentence_tokens"]))
    else:
        measured = Measured(grid.profile, grid.seeds, [float(grid.records[(alpha, s)].metrics[metric])
                                                       - float(grid.records[(0.0, s)].metrics[metric])
                                                       for s in grid.seeds], note=note,
                            why_no_bootstrap="these runs were stored before translation records kept per-sentence "
                                             "scores to bootstrap")
    measured.recipe = grid.recipe
    return measured


def hard_labels_win(grid: Grid, alpha: float) -> str:
    """Over which of the stored temperatures the α = 0 model's mean test NLL is below the α model's
    (the original: "at all temperatures"), read from the runs' NLL-against-T curves."""
    curves = {a: np.mean([r.metrics["curves"]["test"]["nll"] for r in grid.at(a)], axis=0) for a in (0.0, alpha)}
    temperatures = np.asarray(grid.at(0.0)[0].metrics["curves"]["temperatures"], dtype=float)
    wins = temperatures[curves[0.0] < curves[alpha]]
    if not len(wins):
        return f"hard labels give the lower test NLL at none of T = {temperatures[0]:g}–{temperatures[-1]:g}"
    return (f"hard labels give the lower test NLL at {len(wins)} of the {len(temperatures)} temperatures "
            f"{temperatures[0]:g}–{temperatures[-1]:g}, from T = {wins.min():g} to {wins.max():g}")


def _transformer_runs_with(ctx: Context, claim: Claim, subject: Subject, metric: str, lacking: str
                           ) -> Grid | NotRun | NoEstimate:
    """The subject's Transformer runs (:func:`transformer_grid`) if every one keeps ``metric``; else
    why not: not stored (NotRun), or stored without it (NoEstimate: "the runs keep ``lacking``")."""
    grid = transformer_grid(ctx, claim, subject)
    if grid is None:
        return not_run(ctx, claim, subject)
    if not all(metric in r.metrics for r in grid.records.values()):
        return NoEstimate(f"the runs keep {lacking}", grid.profile, grid.seeds, grid.recipe)
    return grid


def fitted_nll(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Test-token NLL at each model's own fitted T, α minus α = 0, where over- and underconfidence no
    longer decide the NLL; the note says over which temperatures hard labels win."""
    alpha = subject.alpha
    grid = _transformer_runs_with(ctx, claim, subject, "test_nll_at_val_temperature",
                                  "no NLL at their fitted temperature")
    if not isinstance(grid, Grid):
        return grid
    values = [float(grid.records[(alpha, s)].metrics["test_nll_at_val_temperature"])
              - float(grid.records[(0.0, s)].metrics["test_nll_at_val_temperature"]) for s in grid.seeds]
    note = hard_labels_win(grid, alpha) if all("curves" in r.metrics for r in grid.records.values()) else ""
    return Measured(grid.profile, grid.seeds, values, note=note, recipe=grid.recipe,
                    why_no_bootstrap="the runs keep the per-sentence NLL at T = 1 only")


def _bins(record: Record, fitted: bool = False) -> BinnedCalibration:
    arrays = record.arrays
    if fitted:
        return BinnedCalibration(np.asarray(arrays["test_bins_fitted_counts"]),
                                 np.asarray(arrays["test_bins_fitted_accuracy"]),
                                 np.asarray(arrays["test_bins_fitted_confidence"]))
    temperatures = np.asarray(arrays["temperatures"])
    at_one = np.flatnonzero(np.isclose(temperatures, 1.0))
    if at_one.size == 0:
        raise LsbookError(f"run {record.key} stored no reliability bins at T = 1 "
                          f"(temperatures {temperatures.tolist()})")
    i = int(at_one[0])
    return BinnedCalibration(np.asarray(arrays["test_bins_counts"][i]), np.asarray(arrays["test_bins_accuracy"][i]),
                             np.asarray(arrays["test_bins_confidence"][i]))


def token_ece(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Test-token ECE at α* minus that of α = 0 (T = 1, or its fitted T), from the stored bins."""
    grid = transformer_grid(ctx, claim, subject)
    if grid is None:
        return not_run(ctx, claim, subject)
    alpha = best_alpha(grid)
    fitted = claim.options.get("control_temperature") == "fitted"
    pairs = [(_bins(grid.records[(alpha, s)]), _bins(grid.records[(0.0, s)], fitted)) for s in grid.seeds]
    base = grid.at(0.0)
    note = (f"test-token ECE {np.mean([_bins(r).ece() for r in base]):.3f} at α = 0 (T = 1), "
            f"{np.mean([_bins(r, True).ece() for r in base]):.3f} at the fitted T = "
            f"{np.mean([r.metrics['val_temperature'] for r in base]):.2f}, "
            + ", ".join(f"{np.mean([_bins(r).ece() for r in grid.at(a)]):.3f} at α = {a:g}"
                        for a in sorted(grid.alphas) if a > 0) + f"; α* = {alpha:g} by validation ECE")
    return Measured(grid.profile, grid.seeds, [a.ece() - b.ece() for a, b in pairs], note=note,
                    bootstrap=lambda: bootstrap_binned(pairs), arms=f"α* = {alpha:g} vs 0", recipe=grid.recipe)


def ece_optimal_temperature(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """The temperature of the lowest validation-token ECE on each run's stored grid, α minus α = 0."""
    alpha = subject.alpha
    grid = _transformer_runs_with(ctx, claim, subject, "curves", "no ECE-against-T curves")
    if not isinstance(grid, Grid):
        return grid

    def optimal(record: Record) -> float:
        curves = record.metrics["curves"]
        return float(np.asarray(curves["temperatures"], dtype=float)[int(np.argmin(curves["val"]["ece"]))])

    values = [optimal(grid.records[(alpha, s)]) - optimal(grid.records[(0.0, s)]) for s in grid.seeds]
    stored = sorted(float(a) for a in grid.alphas)
    note = "ECE-optimal T " + ", ".join(f"{np.mean([optimal(r) for r in grid.at(a)]):.2f} at α = {a:g}"
                                        for a in stored)
    return Measured(grid.profile, grid.seeds, values, note=note, recipe=grid.recipe,
                    why_no_bootstrap="the optimal temperature is read from one stored curve per run")


# --- Distillation ------------------------------------------------------------------------------------------------

def _study_seeds(ctx: Context, study, profile: str) -> list[int]:
    recipes = {study.teacher_recipe, study.student_recipe, study.dropout_teacher_recipe} - {None}
    return sorted(set().union(*(ctx.seeds(r, profile) for r in recipes)))


def _distill_command(ctx: Context, claim: Claim, subject: Subject) -> str:
    home = home_profile(ctx, claim, subject)
    seeds = " ".join(map(str, chapter_defaults(home, "distillation")["seeds"]))
    return f"python -m lsbook distill {subject.recipe} --profile {home} --seeds {seeds}"


def _study_not_run(ctx: Context, claim: Claim, subject: Subject) -> NotRun:
    return not_run(ctx, claim, subject, SETUPS[subject.recipe].teacher_recipe, _distill_command(ctx, claim, subject))


def table4(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Test error of Table 4's run in the first role minus that in the second (teachers or students)."""
    study, (first, second) = SETUPS[subject.recipe], claim.options["roles"]
    runner = StudyRecords(ctx.store)

    def arms_at(profile: str, seed: int):
        records = {role: runner.record(config) for role, config in study.table4_runs(seed, profile).items()}
        return records if all(r is not None for r in records.values()) else None

    found = search(ctx, claim.runs, lambda profile: _study_seeds(ctx, study, profile), arms_at)
    if found is None:
        return _study_not_run(ctx, claim, subject)
    per_seed, seeds = found.per_seed, found.seeds
    statistics = [difference(error_points(per_seed[s][first]), error_points(per_seed[s][second])) for s in seeds]
    errors = {role: np.mean([100 * (1 - per_seed[s][role].metrics["test_accuracy"]) for s in seeds])
              for role in (first, second)}
    published = paper.ORIGINAL_DISTILLATION_ERROR
    note = (f"ours: {errors[first]:.2f} % vs {errors[second]:.2f} %; {paper.ORIGINAL} (MNIST): "
            f"{published[first].value:.2f} % vs {published[second].value:.2f} %")
    return from_statistics(found.profile, seeds, statistics, [r for rs in per_seed.values() for r in rs.values()],
                           note=note)


def _curves(ctx: Context, claim: Claim, study):
    """The study's M2, M3 and M4 runs per seed ({α: record}, {T: (γ, record)}, {α: (γ, record)}), at
    the first allowed profile where a seed has M2 and M3 points (computed once per ledger)."""
    memo = ctx.memo.setdefault("curves", {})
    if study.name in memo:
        return memo[study.name]
    runner = StudyRecords(ctx.store)

    def with_gamma(spec):
        record = runner.record(spec)
        gamma = None if record is None else runner.smoothness(spec)
        return None if gamma is None else (gamma, record)

    def arms_at(profile: str, seed: int):
        teacher = lambda a: study.teacher(a, seed, profile)  # noqa: E731
        m2 = {a: runner.record(study.baseline(a, seed, profile)) for a in study.alphas}
        m2 = {a: r for a, r in m2.items() if r is not None}
        m3 = {t: p for t in study.temperatures if (p := with_gamma(study.student(teacher(0.0), t))) is not None}
        m4 = {a: p for a in study.alphas if a > 0 and (p := with_gamma(study.student(teacher(a), 1.0))) is not None}
        return (m2, m3, m4) if m2 and m3 else None   # M4 at α = 0 is M3 at T = 1

    memo[study.name] = search(ctx, claim.runs, lambda profile: _study_seeds(ctx, study, profile), arms_at)
    return memo[study.name]


def m3_m2(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Best M3 accuracy (over T) minus best M2 accuracy (over α), the maxima redone on every resample."""
    study = SETUPS[subject.recipe]
    found = _curves(ctx, claim, study)
    if found is None:
        return _study_not_run(ctx, claim, subject)
    seeds = found.seeds
    statistics = [difference(best_of([accuracy_points(r) for _, r in found.per_seed[s][1].values()]),
                             best_of([accuracy_points(r) for r in found.per_seed[s][0].values()])) for s in seeds]
    first = found.per_seed[seeds[0]]
    note = (f"M2 at α {', '.join(f'{a:g}' for a in sorted(first[0]))}; M3 at T "
            + ", ".join(f"{t:g}" for t in sorted(first[1])))
    return from_statistics(found.profile, seeds, statistics, _every(found), note=note)


def _every(found) -> list[Record]:
    return [r for m2, m3, m4 in found.per_seed.values()
            for r in [*m2.values(), *(v[1] for v in m3.values()), *(v[1] for v in m4.values())]]


def m4_m3(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """M4 accuracy minus the M3 curve interpolated at M4's γ (mean over M4 points inside M3's γ range)."""
    study = SETUPS[subject.recipe]
    found = _curves(ctx, claim, study)
    if found is None:
        return _study_not_run(ctx, claim, subject)
    statistics, compared = [], []
    for s in found.seeds:
        _, m3, m4 = found.per_seed[s]
        curve_points = sorted(m3.values(), key=lambda v: v[0])
        gammas = [g for g, _ in curve_points]
        inside = {a: v for a, v in m4.items() if len(curve_points) >= 2 and gammas[0] <= v[0] <= gammas[-1]}
        if inside:
            compared.append(s)
            statistics.append(mean_of([difference(accuracy_points(record), _interpolated(curve_points, gamma))
                                       for gamma, record in inside.values()]))
    if not statistics:
        return NoEstimate("no M4 student has a γ within the range of the M3 curve", found.profile, found.seeds)
    return from_statistics(found.profile, compared, statistics, _every(found))


def _interpolated(points: list[tuple[float, Record]], gamma: float) -> Statistic:
    """The M3 curve's accuracy at ``gamma`` (linear between its two neighbouring points, γ fixed)."""
    gammas = [g for g, _ in points]
    right = min(int(np.searchsorted(gammas, gamma, side="left")), len(points) - 1)
    left = max(right - 1, 0)
    if gammas[right] == gammas[left]:
        return accuracy_points(points[right][1])
    weight = (gamma - gammas[left]) / (gammas[right] - gammas[left])
    a, b = accuracy_points(points[left][1]), accuracy_points(points[right][1])
    return lambda indices: (1 - weight) * np.asarray(a(indices)) + weight * np.asarray(b(indices))


def curve_rise(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Test accuracy of the study's teachers (M1) or student baselines (M2) at moderate α minus α = 0."""
    study = SETUPS[subject.recipe]
    role = study.teacher if claim.options["curve"] == "M1" else study.baseline
    runner, moderate = StudyRecords(ctx.store), _moderate(study)

    def arms_at(profile: str, seed: int):
        records = {a: runner.record(role(a, seed, profile)) for a in (0.0, moderate)}
        return records if all(r is not None for r in records.values()) else None

    found = search(ctx, claim.runs, lambda profile: _study_seeds(ctx, study, profile), arms_at)
    if found is None:
        return _study_not_run(ctx, claim, subject)
    arms = found.per_seed
    statistics = [difference(accuracy_points(arms[s][moderate]), accuracy_points(arms[s][0.0])) for s in found.seeds]
    means = {a: np.mean([100 * arms[s][a].metrics["test_accuracy"] for s in found.seeds]) for a in (0.0, moderate)}
    return from_statistics(found.profile, found.seeds, statistics, [r for rs in arms.values() for r in rs.values()],
                           note=f"ours: {means[0.0]:.2f} % at α = 0, {means[moderate]:.2f} % at α = {moderate:g}")


# --- Mutual information -------------------------------------------------------------------------------------------

LATE_FRACTION = 0.25      # "late in training": the last quarter of the probe's estimates


def mi_late(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Late-training Î above the unrelated-examples reference (lsbook.information), α minus α = 0."""
    setup, alpha = MI_SETUPS[subject.recipe], subject.alpha

    def arms_at(profile: str, seed: int):
        records = {a: find_curve(setup, a, seed, profile, ctx.store) for a in (0.0, alpha)}
        if any(r is None or not r.metrics.get("step_log") for r in records.values()):
            return None                    # a run without its curve (the probe logged nothing) cannot count
        return {a: curve(r)[1] for a, r in records.items()}

    found = search(ctx, claim.runs, lambda p: ctx.seeds(setup.recipe, p, setup.callback_name(p)), arms_at)
    if found is None:
        home = home_profile(ctx, claim, subject)
        seeds = " ".join(map(str, chapter_defaults(home, "mutual_information")["seeds"]))
        return not_run(ctx, claim, subject, setup.recipe,
                       f"python -m lsbook mutual-info {setup.name} --profile {home} --seeds {seeds}")
    probe = setup.probe_for(found.profile)
    n, draws = setup.num_examples(found.profile), probe.draws
    reference, collapsed = unrelated_reference(n, draws), collapsed_reference(n, draws)

    def late(values: np.ndarray) -> float:
        k = max(1, math.ceil(LATE_FRACTION * len(values)))
        return float(np.mean(values[-k:])) - reference.mean

    arms = found.per_seed
    excess = {a: float(np.mean([late(arms[s][a]) for s in found.seeds])) for a in (0.0, alpha)}
    note = (f"late Î above the reference ({reference.mean:.3f} nats on unrelated examples at N = {n}, L = {draws}): "
            f"{excess[0.0]:.3f} at α = 0, {excess[alpha]:.3f} at α = {alpha:g}; two collapsed clusters read "
            f"{collapsed.mean:.3f} (log 2 = {math.log(2):.3f})")
    return Measured(found.profile, found.seeds, [late(arms[s][alpha]) - late(arms[s][0.0]) for s in found.seeds],
                    note=note, why_no_bootstrap="a run keeps only Î, not the per-example terms a bootstrap would "
                                                "resample")


# --- What later work claims ----------------------------------------------------------------------------------------

def msp_aurc(record: Record) -> Statistic:
    """AURC (%) of resampled test examples, ranked by maximum softmax probability."""
    return aurc_statistic(msp_confidence(record.arrays["test_logits"]), correct_predictions(record))


def normalised_aurc(record: Record) -> Statistic:
    """AURC (%) ranked by the normalised max logit, its p chosen on the run's validation split."""
    p = choose_p(record.arrays["val_logits"], record.arrays["val_labels"])
    return aurc_statistic(normalised_max_logit(record.arrays["test_logits"], p), correct_predictions(record))


def scaled_ece(record: Record) -> Statistic:
    """Test ECE at the temperature fitted on the run's validation split."""
    return ece_of(record, float(record.metrics["val_temperature"]))


LOGIT_STATISTICS: dict[str, Callable[[Record], Statistic]] = {
    "msp_aurc": msp_aurc, "normalised_aurc": normalised_aurc, "scaled_ece": scaled_ece}


def logits(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """A statistic of the stored test logits: of the α run minus the α = 0 run's, or minus another
    statistic of the same α run (``against``)."""
    alpha = subject.alpha
    grid = alpha_arms(ctx, claim.runs, subject.recipe, (0.0, alpha))
    if grid is None:
        return not_run(ctx, claim, subject)
    statistic = LOGIT_STATISTICS[str(claim.options["statistic"])]
    against = claim.options.get("against")
    statistics = [difference(statistic(grid.records[(alpha, s)]),
                             LOGIT_STATISTICS[str(against)](grid.records[(alpha, s)]) if against
                             else statistic(grid.records[(0.0, s)])) for s in grid.seeds]
    return from_statistics(grid.profile, grid.seeds, statistics, list(grid.records.values()),
                           note=logit_note(grid, alpha))


def logit_note(grid: Grid, alpha: float) -> str:
    """The arms' own numbers, means over seeds: AURC by both rankings and ECE at the fitted T."""
    parts = []
    for a in (0.0, alpha):
        records = grid.at(a)
        everything = np.arange(len(records[0].arrays["test_labels"]))[None, :]
        mean = lambda f: float(np.mean([f(r)(everything)[0] for r in records]))  # noqa: E731
        parts.append(f"α = {a:g}: AURC {mean(msp_aurc):.3f} % (softmax), {mean(normalised_aurc):.3f} % "
                     f"(normalised max logit), ECE at the fitted T {mean(scaled_ece):.4f}")
    return "; ".join(parts)


def erased_similarity(smoothed: Record, plain: Record, similar, dissimilar) -> float:
    """How much more smoothing shrinks the similar pair's spread than the dissimilar pairs': the log
    ratio (α > 0 over α = 0) of lsbook.clusters.pair_spread for the similar pair, minus its mean over
    the dissimilar pairs (negative: the similar pair loses more)."""
    def change(pair) -> float:
        spreads = [pair_spread(r.arrays["train_features"], r.arrays["train_feature_labels"], *pair)
                   for r in (smoothed, plain)]
        return float(np.log(spreads[0] / spreads[1]))

    return change(similar) - float(np.mean([change(pair) for pair in dissimilar]))


def similar_classes(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Shen et al.: the change of the similar pair's spread minus that of the dissimilar pairs."""
    alpha = subject.alpha
    grid = alpha_arms(ctx, claim.runs, subject.recipe, (0.0, alpha))
    if grid is None:
        return not_run(ctx, claim, subject)
    values = [erased_similarity(grid.records[(alpha, s)], grid.records[(0.0, s)], claim.options["similar"],
                                claim.options["dissimilar"]) for s in grid.seeds]
    return Measured(grid.profile, grid.seeds, values,
                    note="three classes give one similar pair: a test of the claim on this triple, not across a "
                         "dataset", why_no_bootstrap="the activations of one run are not resampled here")


def students_by_temperature(ctx: Context, claim: Claim, subject: Subject) -> Result:
    """Chandrasegaran et al.: accuracy of the smoothed teacher's student minus the hard-label teacher's,
    mean over the claim's temperatures (T = 1, or every T > 1 of the study)."""
    study, alpha = SETUPS[subject.recipe], subject.alpha
    temperatures = ((1.0,) if claim.options["temperatures"] == "one"
                    else tuple(t for t in study.smoothed_temperatures if t > 1))
    runner = StudyRecords(ctx.store)

    def arms_at(profile: str, seed: int):
        found = {(a, t): runner.record(study.student(study.teacher(a, seed, profile), t))
                 for a in (0.0, alpha) for t in temperatures}
        return found if all(r is not None for r in found.values()) else None

    found = search(ctx, claim.runs, lambda profile: ctx.seeds(study.teacher_recipe, profile), arms_at)
    if found is None:
        return not_run(ctx, claim, subject, study.teacher_recipe,
                       f"python -m lsbook distill {study.name} --profile paper --seeds 0 1 2")
    arms = found.per_seed
    statistics = [mean_of([difference(accuracy_points(arms[s][(alpha, t)]), accuracy_points(arms[s][(0.0, t)]))
                           for t in temperatures]) for s in found.seeds]
    return from_statistics(found.profile, found.seeds, statistics, [r for rs in arms.values() for r in rs.values()])


def student_accuracy_by_temperature(ctx: Context, profile: str, seeds) -> dict[tuple[float, float, int], Record]:
    """The stored students of the temperature study: (teacher α, T, seed) -> record (for its figure)."""
    study = SETUPS[TEMPERATURE_STUDY]
    runner = StudyRecords(ctx.store)
    found = {}
    for seed in seeds:
        for alpha in study.alphas:
            teacher = study.teacher(alpha, seed, profile)
            for temperature in study.smoothed_temperatures:
                record = runner.record(study.student(teacher, temperature))
                if record is not None:
                    found[(alpha, temperature, seed)] = record
    return found


MEASURES: dict[str, Callable[[Context, Claim, Subject], Result]] = {
    "accuracy": accuracy, "holdout_gain": holdout_gain, "replication_offset": replication_offset,
    "cluster_ratio": _geometry(spread_to_distance_ratio, "ratio"),
    "distance_spread": _geometry(distance_spread, "distance spread"),
    "ece": ece, "fitted_temperature": fitted_temperature,
    "sentences": sentences, "fitted_nll": fitted_nll, "token_ece": token_ece,
    "ece_optimal_temperature": ece_optimal_temperature,
    "table4": table4, "m3_m2": m3_m2, "m4_m3": m4_m3, "curve_rise": curve_rise,
    "mi_late": mi_late,
    "logits": logits, "similar_classes": similar_classes, "students_by_temperature": students_by_temperature,
}
