"""The measurements behind the claim ledger (lsbook.claims), one function per family of claims.

Each family reads the runs it needs from the store (never trains), measures the claimed
difference per seed, and turns it into a ledger row: an interval over seeds where at least three
seeds have every arm, else a paired bootstrap over the test examples (lsbook.intervals). Runs are
looked up by their plan key (lsbook.train.find_run and the experiments' own look-ups), so only runs
of the recipes as they are defined now count. A `cpu` ledger prefers stored `paper` runs
(lsbook.scope.considered_profiles). Fixed choices, stated in each claim's sentence:

- accuracy, clusters, Table 4 and the Transformer's BLEU and NLL compare α = 0.1 (the original's
  Table 2 value) with α = 0, never the best α on the test set;
- calibration compares α = 0 with α*, the α > 0 whose validation ECE is lowest (chosen on held-out
  data, as the temperature is fitted on it), both measured on test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from lsbook import paper
from lsbook.claims import MARGINS, Direction, LedgerRow, make_row
from lsbook.errors import LsbookError
from lsbook.intervals import (MIN_SEEDS, BinnedCalibration, Estimate, Statistic, accuracy_statistic,
                              bootstrap_binned, bootstrap_over_examples, difference, ece_statistic,
                              no_interval, over_seeds)
from lsbook.scope import considered_profiles, why_not_run
from lsbook.store import Record, Store

SMOOTHED = 0.1           # the α compared with α = 0 where a claim names one α
REPLICATION_23 = f"{paper.REPLICATION}"
ORIGINAL_19 = f"{paper.ORIGINAL}"


# --- Reading the store ------------------------------------------------------------------------------

@dataclass
class Grid:
    """Plain runs of one recipe at one profile: records by (α, seed), for the seeds that have every
    required α (optional α kept only where every one of those seeds has them)."""

    recipe: str
    profile: str
    seeds: list[int]
    alphas: list[float]
    records: dict[tuple[float, int], Record]

    def at(self, alpha: float) -> list[Record]:
        return [self.records[(float(alpha), s)] for s in self.seeds]


@dataclass
class Context:
    """The store, the profiles a ledger reads (most informative first) and a cache of look-ups."""

    profile: str
    profiles: tuple[str, ...]
    store: Store
    index: dict[tuple[str, str, str | None], set[int]] = field(default_factory=dict)

    @classmethod
    def open(cls, profile: str | None, store: Store | None) -> "Context":
        from lsbook.pages import resolve_profile

        profile = resolve_profile(profile)
        store = store or Store()
        index: dict[tuple[str, str, str | None], set[int]] = {}
        for record in store.records():
            config = record.config
            if config.get("teacher_key"):
                continue
            key = (str(config["recipe"]), str(config["profile"]), config.get("step_callback"))
            index.setdefault(key, set()).add(int(config["seed"]))
        return cls(profile, considered_profiles(profile), store, index)

    def seeds(self, recipe: str, profile: str, step_callback: str | None = None) -> list[int]:
        """Seeds of the stored runs of ``recipe`` at ``profile`` (plain, or with this probe)."""
        return sorted(self.index.get((recipe, profile, step_callback), ()))

    def plain(self, recipe: str, alpha: float, seed: int, profile: str) -> Record | None:
        from lsbook.experiments.variants import resolve_recipe
        from lsbook.train import find_run

        return find_run(resolve_recipe(recipe, profile), alpha, seed, profile, store=self.store)

    def grid(self, recipe: str, required: tuple[float, ...], optional: tuple[float, ...] = (),
             profiles: tuple[str, ...] | None = None) -> Grid | None:
        """The first considered profile (or of ``profiles``) whose seeds have every ``required`` α;
        None if none does."""
        for profile in self.profiles if profiles is None else profiles:
            records, seeds = {}, []
            for seed in self.seeds(recipe, profile):
                found = {a: self.plain(recipe, a, seed, profile) for a in required}
                if all(r is not None for r in found.values()):
                    seeds.append(seed)
                    records.update({(float(a), seed): r for a, r in found.items()})
            if not seeds:
                continue
            alphas = [float(a) for a in required]
            for alpha in optional:
                found = {s: self.plain(recipe, alpha, s, profile) for s in seeds}
                if all(r is not None for r in found.values()):
                    alphas.append(float(alpha))
                    records.update({(float(alpha), s): r for s, r in found.items()})
            return Grid(recipe, profile, seeds, alphas, records)
        return None

    def why(self, recipe: str, profile: str | None = None, command: str | None = None) -> str:
        """Why no run of ``recipe`` is stored at ``profile`` (default: the ledger's own profile)."""
        return why_not_run(recipe, profile or self.profiles[-1], command)

    def home(self, name: str, defaults: dict) -> str:
        """The profile whose chapter runs study ``name``: the ledger's own if its defaults
        (lsbook.experiments.chapter_settings) include it, else the first considered one that does."""
        for profile in (self.profiles[-1], *self.profiles):
            if name in defaults[profile][0]:
                return profile
        return self.profiles[-1]


# --- Per-example numbers of a classification run ------------------------------------------------------

def _test_labels(records: list[Record]) -> np.ndarray:
    """The test labels shared by ``records``; LsbookError if they were not evaluated on one test set."""
    labels = np.asarray(records[0].arrays["test_labels"])
    for record in records[1:]:
        if not np.array_equal(labels, np.asarray(record.arrays["test_labels"])):
            raise LsbookError(f"runs {records[0].key} and {record.key} were evaluated on different test sets; "
                              "a paired comparison needs the same test examples")
    return labels


def _probabilities(record: Record, temperature: float = 1.0) -> np.ndarray:
    logits = np.asarray(record.arrays["test_logits"], dtype=np.float64) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def _correct(record: Record) -> np.ndarray:
    return np.asarray(record.arrays["test_logits"]).argmax(axis=1) == np.asarray(record.arrays["test_labels"])


def _accuracy(record: Record) -> Statistic:
    """Test accuracy in points (%) of resampled examples."""
    statistic = accuracy_statistic(_correct(record))
    return lambda indices: 100.0 * statistic(indices)


def _error(record: Record) -> Statistic:
    """Test error in points (%) of resampled examples."""
    statistic = _accuracy(record)
    return lambda indices: 100.0 - statistic(indices)


def _ece(record: Record, temperature: float = 1.0) -> Statistic:
    probabilities = _probabilities(record, temperature)
    correct = probabilities.argmax(axis=1) == np.asarray(record.arrays["test_labels"])
    return ece_statistic(probabilities.max(axis=1), correct)


def _measure(statistics: list[Statistic], records: list[Record], what: str = "test examples") -> Estimate:
    """Interval over seeds (≥ MIN_SEEDS) or paired bootstrap over the shared test examples."""
    n = len(_test_labels(records))
    if len(statistics) >= MIN_SEEDS:
        everything = np.arange(n)[None, :]
        return over_seeds([float(np.asarray(f(everything))[0]) for f in statistics])
    return bootstrap_over_examples(statistics, n, what=what)


def _seed_only(per_seed: list[float], why: str) -> Estimate:
    """Interval over seeds where there are enough; otherwise the point alone, saying why."""
    if len(per_seed) >= MIN_SEEDS:
        return over_seeds(per_seed)
    return no_interval(float(np.mean(per_seed)), f"{len(per_seed)} seed{'s' if len(per_seed) != 1 else ''} "
                                                 f"(fewer than {MIN_SEEDS}) and {why}")


def _experiment(what: str, profile: str, arms: str, seeds: list[int]) -> str:
    """"`recipe` [profile], arms, seeds 0, 1" (``what`` is Markdown: the recipe or study, in backticks)."""
    return f"{what} [{profile}], {arms}, seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds))}"


def _title(recipe: str) -> str:
    from lsbook.tables import describe

    dataset, architecture = describe(recipe)
    return f"{architecture} on {dataset}"


def _published_accuracy(recipe: str, alpha: float) -> float | None:
    value = paper.REPLICATION_ACCURACY.get(recipe, {}).get(float(alpha))
    return None if value is None else value.value


# --- Accuracy (Table 2) --------------------------------------------------------------------------------

def accuracy_rows(ctx: Context) -> list[LedgerRow]:
    """Smoothing keeps the accuracy (every combination), and the replication's two exceptions."""
    margin = MARGINS["accuracy"][0]
    rows = []
    for recipe in paper.recipes_for("accuracy"):
        rows.append(_accuracy_row(
            ctx, recipe, f"accuracy/{recipe}", Direction("not_worse", margin),
            f"Label smoothing with α = {SMOOTHED:g} does not lower the top-1 test accuracy of {_title(recipe)} by "
            f"more than {margin:g} points.",
            f"{ORIGINAL_19}, Section 1 and Table 2; {REPLICATION_23}, Section 3 and Table 2"))
    for recipe in ("resnet56-cifar10", "fcn-fmnist"):
        before, after = _published_accuracy(recipe, 0.0), _published_accuracy(recipe, SMOOTHED)
        rows.append(_accuracy_row(
            ctx, recipe, f"exception/{recipe}", Direction("decrease"),
            f"{_title(recipe)} is an exception: α = {SMOOTHED:g} lowers its test accuracy (the replication: "
            f"{before:.2f} % → {after:.2f} %).",
            f"{REPLICATION_23}, Section 3 and Table 2"))
    rows.extend(holdout_rows(ctx))
    return rows


def _accuracy_row(ctx: Context, recipe: str, row_id: str, direction: Direction, claim: str, source: str) -> LedgerRow:
    metric = f"test accuracy, α = {SMOOTHED:g} minus α = 0"
    common = dict(id=row_id, chapter="accuracy", claim=claim, source=source, metric=metric, unit="points",
                  direction=direction)
    grid = ctx.grid(recipe, (0.0, SMOOTHED))
    if grid is None:
        return make_row(**common, experiment=f"`{recipe}` [{ctx.profiles[-1]}], α {SMOOTHED:g} vs 0",
                        not_run=ctx.why(recipe))
    statistics = [difference(_accuracy(grid.records[(SMOOTHED, s)]), _accuracy(grid.records[(0.0, s)]))
                  for s in grid.seeds]
    estimate = _measure(statistics, list(grid.records.values()))
    means = {a: np.mean([100 * r.metrics["test_accuracy"] for r in grid.at(a)]) for a in (0.0, SMOOTHED)}
    note = f"ours: {means[0.0]:.2f} % at α = 0, {means[SMOOTHED]:.2f} % at α = {SMOOTHED:g}"
    published = [_published_accuracy(recipe, a) for a in (0.0, SMOOTHED)]
    if None not in published:
        note += f"; {paper.REPLICATION}: {published[0]:.2f} %, {published[1]:.2f} %"
    return make_row(**common, experiment=_experiment(f"`{recipe}`", grid.profile, f"α {SMOOTHED:g} vs 0", grid.seeds),
                    estimate=estimate, profile=grid.profile, seeds=grid.seeds, note=note)


FULL_TRAINING_SET = "fcn-fmnist-full"   # fcn-fmnist trained on all 60,000 images (no hold-out)
HOLDOUT_ALPHAS = (0.0, 0.1)


def holdout_rows(ctx: Context) -> list[LedgerRow]:
    """Does training on the 5,000 held-out images explain our offset from the replication's Table 2?"""
    published = {a: _published_accuracy("fcn-fmnist", a) for a in HOLDOUT_ALPHAS}
    margin = MARGINS["replication offset"][0]
    source = (f"{REPLICATION_23}, Section 2.1 and Table 2 (trained on all 60,000 Fashion-MNIST images); this book "
              "trains fcn-fmnist on 55,000 and holds out 5,000")
    arms = "α " + " and ".join(f"{a:g}" for a in HOLDOUT_ALPHAS)
    # Compared with the replication's 100-epoch numbers, so only paper-profile runs count.
    full = ctx.grid(FULL_TRAINING_SET, HOLDOUT_ALPHAS, profiles=("paper",))
    gain_common = dict(
        id="holdout-gain/fcn-fmnist", chapter="accuracy", source=source, unit="points", direction=Direction("increase"),
        claim="Training the Fashion-MNIST FCN on all 60,000 training images, the 5,000 held-out ones included, "
              "raises its test accuracy (mean over α = 0 and 0.1).",
        metric="test accuracy, all 60,000 images minus 55,000 (mean over the two α)")
    offset_common = dict(
        id="holdout-offset/fcn-fmnist", chapter="accuracy", source=source, unit="points",
        direction=Direction("equivalent", margin),
        claim=f"Trained on all 60,000 images as the replication was, our Fashion-MNIST FCN matches the replication's "
              f"accuracy ({published[0.0]:.2f} % at α = 0, {published[0.1]:.2f} % at α = 0.1) within {margin:g} "
              "points: the hold-out explains our offset.",
        metric="test accuracy minus the replication's, mean over α = 0 and 0.1")
    if full is None:
        why = ctx.why(FULL_TRAINING_SET, "paper", "python -m lsbook sweep fcn-fmnist-full --alphas 0 0.1 "
                                                 "--seeds 0 1 --profile paper")
        experiment = f"`{FULL_TRAINING_SET}` vs `fcn-fmnist` [paper], {arms}"
        return [make_row(**gain_common, experiment=experiment, not_run=why),
                make_row(**offset_common, experiment=experiment.replace(" vs `fcn-fmnist`", ""), not_run=why)]
    rows = []
    offset_statistics = [_mean_of([_shifted(_accuracy(full.records[(a, s)]), -published[a]) for a in HOLDOUT_ALPHAS])
                         for s in full.seeds]
    offset = _measure(offset_statistics, list(full.records.values()))
    holdout = ctx.grid("fcn-fmnist", HOLDOUT_ALPHAS, profiles=("paper",))
    shared = [] if holdout is None or holdout.profile != full.profile else \
        [s for s in full.seeds if s in holdout.seeds]
    note = _holdout_note(full, holdout, published)
    if shared:
        statistics = [_mean_of([difference(_accuracy(full.records[(a, s)]), _accuracy(holdout.records[(a, s)]))
                                for a in HOLDOUT_ALPHAS]) for s in shared]
        records = [full.records[(a, s)] for a in HOLDOUT_ALPHAS for s in shared] + \
                  [holdout.records[(a, s)] for a in HOLDOUT_ALPHAS for s in shared]
        rows.append(make_row(**gain_common, estimate=_measure(statistics, records), profile=full.profile, seeds=shared,
                             experiment=_experiment(f"`{FULL_TRAINING_SET}` vs `fcn-fmnist`", full.profile, arms, shared),
                             note=note))
    else:
        rows.append(make_row(**gain_common, experiment=f"`fcn-fmnist` [{full.profile}], {arms}",
                             not_run=ctx.why("fcn-fmnist", full.profile, "python -m lsbook sweep fcn-fmnist "
                                                                          f"--alphas 0 0.1 --seeds {' '.join(map(str, full.seeds))} "
                                                                          f"--profile {full.profile}")))
    rows.append(make_row(**offset_common, estimate=offset, profile=full.profile, seeds=full.seeds, note=note,
                         experiment=_experiment(f"`{FULL_TRAINING_SET}`", full.profile, arms, full.seeds)))
    return rows


def _holdout_note(full: Grid, holdout: Grid | None, published: dict[float, float]) -> str:
    def offsets(grid: Grid) -> str:
        return ", ".join(f"{np.mean([100 * r.metrics['test_accuracy'] for r in grid.at(a)]) - published[a]:+.2f} "
                         f"at α = {a:g}" for a in HOLDOUT_ALPHAS)

    text = f"offset from the replication, all 60,000 images: {offsets(full)} points"
    if holdout is not None:
        text += f"; with the 5,000 held out ({holdout.profile}): {offsets(holdout)} points"
    return text + (". These runs have no held-out split, so their 'validation' numbers and fitted temperature are "
                   "measured on training images; they serve this comparison only")


def _shifted(statistic: Statistic, shift: float) -> Statistic:
    return lambda indices: np.asarray(statistic(indices)) + shift


def _mean_of(statistics: list[Statistic]) -> Statistic:
    return lambda indices: np.mean([np.asarray(f(indices)) for f in statistics], axis=0)


# --- Penultimate layer (Figure 2) ------------------------------------------------------------------------

# Where the spread-to-distance ratio is measured: in the plane of the three class templates, which
# is what the papers draw (Figure 1 / Figure 2), and in the whole penultimate layer. Both are
# reported: the papers' wording ("tight clusters") does not say which, and they can disagree.
CLUSTER_SPACES: dict[str, str] = {
    "plane": "projected on the plane of the three class templates (what the papers draw)",
    "full": "in the whole penultimate layer",
}


def _cluster_points(record: Record, space: str) -> tuple[np.ndarray, np.ndarray]:
    """The stored training activations of the first three stored classes, projected or not."""
    from lsbook.projection import penultimate_projection

    features = np.asarray(record.arrays["train_features"], dtype=np.float64)
    labels = np.asarray(record.arrays["train_feature_labels"])
    classes = np.unique(labels)[:3]
    keep = np.isin(labels, classes)
    features, labels = features[keep], labels[keep]
    if space == "plane":
        features = penultimate_projection(features, np.asarray(record.arrays["head_weight"])[classes])
    return features, labels


def cluster_rows(ctx: Context) -> list[LedgerRow]:
    """Label smoothing tightens the penultimate clusters (the spread-to-distance ratio falls)."""
    from lsbook.clusters import spread_to_distance_ratio

    rows = []
    for recipe in [*paper.recipes_for("plr"), "fcn-fmnist"]:
        grid = ctx.grid(recipe, (0.0, SMOOTHED))
        for space, where in CLUSTER_SPACES.items():
            common = dict(
                id=f"clusters-{space}/{recipe}", chapter="penultimate", unit="", direction=Direction("decrease"),
                claim=f"With α = {SMOOTHED:g} the penultimate-layer activations of {_title(recipe)} form tighter "
                      f"clusters than with α = 0, {where}: the spread-to-distance ratio of the stored training "
                      "examples is lower.",
                source=f"{ORIGINAL_19}, Section 2 and Figure 1; {REPLICATION_23}, Section 4 and Figure 2",
                metric="spread-to-distance ratio (mean distance to the class centroid / mean distance between class "
                       f"centroids; training examples of three classes, {space}), α = {SMOOTHED:g} minus α = 0")
            if grid is None:
                rows.append(make_row(**common, experiment=f"`{recipe}` [{ctx.profiles[-1]}], α {SMOOTHED:g} vs 0",
                                     not_run=ctx.why(recipe)))
                continue
            points = {k: _cluster_points(r, space) for k, r in grid.records.items()}
            labels = points[(0.0, grid.seeds[0])][1]
            if any(not np.array_equal(labels, y) for _, y in points.values()):
                raise LsbookError(f"{recipe}: the runs stored the activations of different examples; cannot pair them")

            def ratio(key: tuple[float, int]) -> Statistic:
                x, y = points[key]

                def statistic(indices: np.ndarray) -> np.ndarray:
                    weights = np.zeros((indices.shape[0], len(y)))
                    np.add.at(weights, (np.arange(indices.shape[0])[:, None], indices), 1.0)
                    return spread_to_distance_ratio(x, y, weights)
                return statistic

            statistics = [difference(ratio((SMOOTHED, s)), ratio((0.0, s))) for s in grid.seeds]
            if len(statistics) >= MIN_SEEDS:
                estimate = over_seeds([float(f(np.arange(len(labels))[None, :])[0]) for f in statistics])
            else:
                estimate = bootstrap_over_examples(statistics, len(labels), what="stored training examples",
                                                   strata=labels)
            values = {a: np.mean([spread_to_distance_ratio(*points[(a, s)]) for s in grid.seeds])
                      for a in (0.0, SMOOTHED)}
            rows.append(make_row(**common, estimate=estimate, profile=grid.profile, seeds=grid.seeds,
                                 experiment=_experiment(f"`{recipe}`", grid.profile, f"α {SMOOTHED:g} vs 0", grid.seeds),
                                 note=f"ratio {values[0.0]:.3f} at α = 0, {values[SMOOTHED]:.3f} at α = {SMOOTHED:g}"))
    return rows


# --- Calibration (Table 3) ------------------------------------------------------------------------------

FCN_MODELS = ("fcn",)


def _best_alpha(grid: Grid, metric: Callable[[Record], float]) -> float | None:
    """α*: the α > 0 of the grid with the lowest mean validation ECE (None: no α > 0 stored)."""
    smoothed = [a for a in grid.alphas if a > 0]
    if not smoothed:
        return None
    return min(smoothed, key=lambda a: (np.mean([metric(r) for r in grid.at(a)]), a))


def calibration_rows(ctx: Context) -> list[LedgerRow]:
    """Smoothing lowers the ECE of overconfident networks and matches temperature scaling; it
    raises the ECE of the FCNs, which are calibrated without it."""
    from lsbook.recipes import RECIPES

    rows = []
    smoothed_alphas = tuple(a for a in paper.TABLE_ALPHAS if a > 0)
    source = f"{ORIGINAL_19}, Section 3 and Table 3; {REPLICATION_23}, Section 5.1 and Table 3"
    for recipe in paper.recipes_for("imc"):
        if RECIPES[recipe].model == "transformer":
            continue                               # the Transformer's rows are its chapter's
        fcn = RECIPES[recipe].model in FCN_MODELS
        grid = ctx.grid(recipe, (0.0,), smoothed_alphas)
        alpha = None if grid is None else _best_alpha(grid, lambda r: float(r.metrics["val_ece"]))
        title = _title(recipe)
        metric = "test ECE (15 bins) at α*, the α > 0 with the lowest validation ECE, minus "
        claims = ([(f"ece-raised/{recipe}", Direction("increase"), metric + "α = 0 (both at T = 1)", None,
                    f"{title} is calibrated without label smoothing, and smoothing makes it worse: even at α* its "
                    "test ECE is higher than at α = 0.",
                    f"{REPLICATION_23}, Section 5.1, Table 3 and Figure 3")] if fcn else
                  [(f"ece-lower/{recipe}", Direction("decrease"), metric + "α = 0 (both at T = 1)", None,
                    f"Label smoothing lowers the test ECE of {title}, which is overconfident without it.", source),
                   (f"ece-like-T/{recipe}", Direction("equivalent", MARGINS["ece"][0]),
                    metric + "α = 0 at the temperature fitted on the validation split", "fitted",
                    f"Label smoothing at α* calibrates {title} as well as temperature scaling of its α = 0 network: "
                    f"the two test ECEs differ by at most {MARGINS['ece'][0]:g}.", source)])
        for row_id, direction, what, temperature, claim, row_source in claims:
            common = dict(id=row_id, chapter="calibration", claim=claim, source=row_source, metric=what, unit="",
                          direction=direction)
            if grid is None or alpha is None:
                missing = recipe if grid is None else f"{recipe} at α > 0"
                rows.append(make_row(**common, experiment=f"`{recipe}` [{ctx.profiles[-1]}], α* vs 0",
                                     not_run=ctx.why(recipe) if grid is None else f"no run of {missing} is stored"))
                continue
            statistics = []
            for s in grid.seeds:
                base = grid.records[(0.0, s)]
                t = float(base.metrics["val_temperature"]) if temperature == "fitted" else 1.0
                statistics.append(difference(_ece(grid.records[(alpha, s)]), _ece(base, t)))
            estimate = _measure(statistics, [grid.records[(a, s)] for a in (0.0, alpha) for s in grid.seeds])
            rows.append(make_row(**common, estimate=estimate, profile=grid.profile, seeds=grid.seeds,
                                 experiment=_experiment(f"`{recipe}`", grid.profile, f"α* = {alpha:g} vs 0", grid.seeds),
                                 note=_calibration_note(grid, alpha)))
    return rows


def _calibration_note(grid: Grid, alpha: float) -> str:
    mean = lambda values: float(np.mean(values))  # noqa: E731
    base = grid.at(0.0)
    return (f"test ECE {mean([r.metrics['test_ece'] for r in base]):.3f} at α = 0, "
            f"{mean([r.metrics['test_ece_at_val_temperature'] for r in base]):.3f} at the fitted T = "
            f"{mean([r.metrics['val_temperature'] for r in base]):.2f}, "
            f"{mean([r.metrics['test_ece'] for r in grid.at(alpha)]):.3f} at α* = {alpha:g}; α tested: "
            + ", ".join(f"{a:g}" for a in sorted(grid.alphas)))


# --- Transformer ---------------------------------------------------------------------------------------

TRANSFORMER = "transformer-multi30k"


def _bins(record: Record, fitted: bool = False) -> BinnedCalibration:
    arrays = record.arrays
    if fitted:
        return BinnedCalibration(np.asarray(arrays["test_bins_fitted_counts"]),
                                 np.asarray(arrays["test_bins_fitted_accuracy"]),
                                 np.asarray(arrays["test_bins_fitted_confidence"]))
    temperatures = np.asarray(arrays["temperatures"])
    at_one = np.flatnonzero(np.isclose(temperatures, 1.0))
    if at_one.size == 0:
        raise LsbookError(f"run {record.key} stored no reliability bins at T = 1 (temperatures {temperatures.tolist()})")
    i = int(at_one[0])
    return BinnedCalibration(np.asarray(arrays["test_bins_counts"][i]), np.asarray(arrays["test_bins_accuracy"][i]),
                             np.asarray(arrays["test_bins_confidence"][i]))


def transformer_rows(ctx: Context) -> list[LedgerRow]:
    """The Transformer: BLEU up and NLL worse with α = 0.1 (original's Table 1), ECE down at α*,
    as well as temperature scaling (Table 3)."""
    rows = []
    no_scores = "a translation run keeps corpus BLEU and mean NLL, not per-sentence scores to bootstrap"
    for row_id, metric_key, direction, claim, source, metric in (
            ("tr-bleu", "test_bleu", Direction("increase"),
             f"Label smoothing with α = {SMOOTHED:g} raises the Transformer's test BLEU (beam search, T = 1).",
             f"{ORIGINAL_19}, Table 1 (WMT14: 25.3 → 25.8, from Vaswani et al.); {REPLICATION_23}, Section 5.3 "
             "(not reproduced on Multi30k)", f"test BLEU, α = {SMOOTHED:g} minus α = 0"),
            ("tr-nll", "test_nll", Direction("increase"),
             f"Label smoothing with α = {SMOOTHED:g} worsens the Transformer's test-token NLL at T = 1.",
             f"{ORIGINAL_19}, Table 1 (perplexity 4.67 → 4.92) and Section 5; {REPLICATION_23}, Section 5.3",
             f"test-token NLL at T = 1 [nats], α = {SMOOTHED:g} minus α = 0")):
        common = dict(id=row_id, chapter="transformer", claim=claim, source=source, metric=metric,
                      unit="BLEU" if metric_key == "test_bleu" else "nats", direction=direction)
        grid = ctx.grid(TRANSFORMER, (0.0, SMOOTHED))
        if grid is None:
            rows.append(make_row(**common, experiment=f"`{TRANSFORMER}` [{ctx.profiles[-1]}], α {SMOOTHED:g} vs 0",
                                 not_run=ctx.why(TRANSFORMER)))
            continue
        per_seed = [float(grid.records[(SMOOTHED, s)].metrics[metric_key]) - float(grid.records[(0.0, s)].metrics[metric_key])
                    for s in grid.seeds]
        values = {a: np.mean([float(r.metrics[metric_key]) for r in grid.at(a)]) for a in (0.0, SMOOTHED)}
        rows.append(make_row(**common, estimate=_seed_only(per_seed, no_scores), profile=grid.profile, seeds=grid.seeds,
                             experiment=_experiment(f"`{TRANSFORMER}`", grid.profile, f"α {SMOOTHED:g} vs 0", grid.seeds),
                             note=f"{values[0.0]:.3f} at α = 0, {values[SMOOTHED]:.3f} at α = {SMOOTHED:g}"))
    source = (f"{ORIGINAL_19}, Section 3 and Table 3 (WMT14); {REPLICATION_23}, Section 5.2, Table 3 and Figure 4")
    grid = ctx.grid(TRANSFORMER, (0.0,), tuple(a for a in paper.TABLE_ALPHAS if a > 0))
    alpha = None if grid is None else _best_alpha(grid, lambda r: float(r.metrics["val_ece"]))
    for row_id, direction, fitted, claim, metric in (
            ("tr-ece-lower", Direction("decrease"), False,
             "Label smoothing at α* lowers the Transformer's test-token ECE (T = 1).",
             "test-token ECE at α* (lowest validation ECE) minus α = 0, both at T = 1"),
            ("tr-ece-like-T", Direction("equivalent", MARGINS["ece"][0]), True,
             f"Label smoothing at α* calibrates the Transformer as well as temperature scaling of its α = 0 model: "
             f"the two test-token ECEs differ by at most {MARGINS['ece'][0]:g}.",
             "test-token ECE at α* minus α = 0 at the temperature fitted on the validation tokens")):
        common = dict(id=row_id, chapter="transformer", claim=claim, source=source, metric=metric, unit="",
                      direction=direction)
        if grid is None or alpha is None:
            rows.append(make_row(**common, experiment=f"`{TRANSFORMER}` [{ctx.profiles[-1]}], α* vs 0",
                                 not_run=ctx.why(TRANSFORMER) if grid is None else "no run at α > 0 is stored"))
            continue
        pairs = [(_bins(grid.records[(alpha, s)]), _bins(grid.records[(0.0, s)], fitted)) for s in grid.seeds]
        estimate = (over_seeds([a.ece() - b.ece() for a, b in pairs]) if len(pairs) >= MIN_SEEDS
                    else bootstrap_binned(pairs))
        base = grid.at(0.0)
        note = (f"test-token ECE {np.mean([_bins(r).ece() for r in base]):.3f} at α = 0 (T = 1), "
                f"{np.mean([_bins(r, True).ece() for r in base]):.3f} at the fitted T = "
                f"{np.mean([r.metrics['val_temperature'] for r in base]):.2f}, "
                + ", ".join(f"{np.mean([_bins(r).ece() for r in grid.at(a)]):.3f} at α = {a:g}"
                            for a in sorted(grid.alphas) if a > 0) + f"; α* = {alpha:g} by validation ECE")
        rows.append(make_row(**common, estimate=estimate, profile=grid.profile, seeds=grid.seeds, note=note,
                             experiment=_experiment(f"`{TRANSFORMER}`", grid.profile, f"α* = {alpha:g} vs 0", grid.seeds)))
    return rows


# --- Knowledge distillation (Table 4, Figures 7 and 8) --------------------------------------------------------

def _setups(ctx: Context, defaults: dict) -> list[str]:
    """Setup names the chapter runs at any considered profile, in order, without repeats."""
    names: list[str] = []
    for profile in ctx.profiles:
        for name in defaults[profile][0]:
            if name not in names:
                names.append(name)
    return names


def distillation_rows(ctx: Context) -> list[LedgerRow]:
    """Table 4 (teachers and students) and the M1–M4 orderings of Figures 7 and 8."""
    from lsbook.experiments.chapter_settings import DISTILLATION_DEFAULTS
    from lsbook.experiments.distillation_grid import SETUPS

    rows = []
    for name in _setups(ctx, DISTILLATION_DEFAULTS):
        setup = SETUPS[name]
        if setup.dropout_teacher_recipe is not None:
            rows.extend(_table4_rows(ctx, setup))
        rows.extend(_figure_rows(ctx, setup))
    return rows


def _study_seeds(ctx: Context, setup, profile: str) -> list[int]:
    recipes = {setup.teacher_recipe, setup.student_recipe, setup.dropout_teacher_recipe} - {None}
    return sorted(set().union(*(ctx.seeds(r, profile) for r in recipes)))


def _distill_command(name: str, profile: str) -> str:
    from lsbook.experiments.chapter_settings import DISTILLATION_DEFAULTS

    seeds = " ".join(map(str, DISTILLATION_DEFAULTS[profile][3]))
    return f"python -m lsbook distill {name} --profile {profile} --seeds {seeds}"


def _table4_rows(ctx: Context, setup) -> list[LedgerRow]:
    from lsbook.experiments.chapter_settings import DISTILLATION_DEFAULTS
    from lsbook.experiments.distillation_grid import DISTILLED, DROPOUT_TEACHER, TEACHER, GridRunner, RunSpec

    figure = "Section 6.1 and Table 4"
    source = f"{ORIGINAL_19}, Section 4 (MNIST); {REPLICATION_23}, {figure}"
    stand_in = f" ({setup.stand_in})" if setup.stand_in else ""
    rows_spec = (
        (f"kd-teacher/{setup.name}", ("teacher with LS", "teacher without LS"), Direction("decrease"),
         f"The teacher trained with α = {setup.table4_alpha:g} and no dropout has a lower test error than the teacher "
         f"trained with dropout{stand_in}.", "test error, teacher with α minus teacher with dropout"),
        (f"kd-student/{setup.name}", ("student with LS", "student without LS"), Direction("increase"),
         "The student distilled from the smoothed teacher has a higher test error than the student of the dropout "
         f"teacher (both at T = 1){stand_in}.", "test error, student of the smoothed teacher minus student of the "
                                                "dropout teacher"))
    found = None
    for profile in ctx.profiles:
        runner = GridRunner(setup, profile, store=ctx.store, progress=False)
        per_seed = {}
        for seed in _study_seeds(ctx, setup, profile):
            dropout = RunSpec(DROPOUT_TEACHER, setup.dropout_teacher_recipe, 0.0, seed)
            smoothed = RunSpec(TEACHER, setup.teacher_recipe, setup.table4_alpha, seed)
            specs = {"teacher without LS": dropout, "teacher with LS": smoothed,
                     "student without LS": RunSpec(DISTILLED, setup.student_recipe, 0.0, seed, dropout, 1.0),
                     "student with LS": RunSpec(DISTILLED, setup.student_recipe, 0.0, seed, smoothed, 1.0)}
            records = {role: runner.record(spec, train=False) for role, spec in specs.items()}
            if all(r is not None for r in records.values()):
                per_seed[seed] = records
        if per_seed:
            found = (profile, per_seed)
            break
    rows = []
    for row_id, (first, second), direction, claim, metric in rows_spec:
        common = dict(id=row_id, chapter="distillation", claim=claim, source=source, metric=metric, unit="points",
                      direction=direction)
        if found is None:
            home = ctx.home(setup.name, DISTILLATION_DEFAULTS)
            rows.append(make_row(**common, experiment=f"study `{setup.name}` [{home}], Table 4",
                                 not_run=ctx.why(setup.teacher_recipe, home, _distill_command(setup.name, home))))
            continue
        profile, per_seed = found
        seeds = sorted(per_seed)
        statistics = [difference(_error(per_seed[s][first]), _error(per_seed[s][second])) for s in seeds]
        estimate = _measure(statistics, [r for records in per_seed.values() for r in records.values()])
        errors = {role: np.mean([100 * (1 - per_seed[s][role].metrics["test_accuracy"]) for s in seeds])
                  for role in (first, second)}
        published = paper.ORIGINAL_DISTILLATION_ERROR
        note = (f"ours: {errors[first]:.2f} % vs {errors[second]:.2f} %; {paper.ORIGINAL} (MNIST): "
                f"{published[first].value:.2f} % vs {published[second].value:.2f} %")
        rows.append(make_row(**common, estimate=estimate, profile=profile, seeds=seeds, note=note,
                             experiment=_experiment(f"study `{setup.name}`", profile, "Table 4's four runs", seeds)))
    return rows


def _figure_rows(ctx: Context, setup) -> list[LedgerRow]:
    from lsbook.experiments.chapter_settings import DISTILLATION_DEFAULTS
    from lsbook.experiments.distillation_grid import BASELINE, DISTILLED, TEACHER, GridRunner, RunSpec

    figure = "Section 6.2 and Figure 8" if setup.distill_loss == "original" else "Section 6.1 and Figure 7"
    source = f"{ORIGINAL_19}, Section 4; {REPLICATION_23}, {figure}"
    stand_in = f" ({setup.stand_in})" if setup.stand_in else ""
    found = None
    for profile in ctx.profiles:
        runner = GridRunner(setup, profile, store=ctx.store, progress=False)
        per_seed = {}
        for seed in _study_seeds(ctx, setup, profile):
            teacher = lambda a: RunSpec(TEACHER, setup.teacher_recipe, float(a), seed)  # noqa: E731
            m2 = {a: runner.record(RunSpec(BASELINE, setup.student_recipe, float(a), seed), train=False)
                  for a in setup.alphas}
            m3 = {}
            for t in setup.temperatures:
                spec = RunSpec(DISTILLED, setup.student_recipe, 0.0, seed, teacher(0.0), float(t))
                record = runner.record(spec, train=False)
                gamma = None if record is None else runner.smoothness(spec, compute=False)
                if record is not None and gamma is not None:
                    m3[t] = (gamma, record)
            m4 = {}
            for a in setup.alphas:
                if a == 0:
                    continue                       # M4 at α = 0 is M3 at T = 1
                spec = RunSpec(DISTILLED, setup.student_recipe, 0.0, seed, teacher(a), 1.0)
                record = runner.record(spec, train=False)
                gamma = None if record is None else runner.smoothness(spec, compute=False)
                if record is not None and gamma is not None:
                    m4[a] = (gamma, record)
            m2 = {a: r for a, r in m2.items() if r is not None}
            if m2 and m3:
                per_seed[seed] = (m2, m3, m4)
        if per_seed:
            found = (profile, per_seed)
            break
    m3_m2 = dict(id=f"kd-m3-m2/{setup.name}", chapter="distillation", unit="points", direction=Direction("increase"),
                 source=source, claim="Distillation from the hard-label teacher beats training the student with label "
                                      f"smoothing alone: the best M3 student (over T) is more accurate than the best M2 "
                                      f"student (over α){stand_in}.",
                 metric="test accuracy, best M3 (student ← hard-label teacher at T) minus best M2 (student trained "
                        "with α, no teacher); both sides are maxima over test accuracies, so the selection favours "
                        "neither, and the bootstrap redoes it on every resample")
    m4_m3 = dict(id=f"kd-m4-m3/{setup.name}", chapter="distillation", unit="points", direction=Direction("decrease"),
                 source=source, claim="Students of smoothed teachers (M4, α > 0, T = 1) are less accurate than students "
                                      f"of the hard-label teacher whose targets are as smooth (M3 at the same γ){stand_in}.",
                 metric="test accuracy, M4 minus the M3 curve interpolated at M4's γ (mean over the M4 points "
                        "within M3's γ range)")
    if found is None:
        home = ctx.home(setup.name, DISTILLATION_DEFAULTS)
        experiment = f"study `{setup.name}` [{home}], M1–M4"
        why = ctx.why(setup.teacher_recipe, home, _distill_command(setup.name, home))
        return [make_row(**m3_m2, experiment=experiment, not_run=why), make_row(**m4_m3, experiment=experiment, not_run=why)]
    profile, per_seed = found
    seeds = sorted(per_seed)
    rows = []
    every = [r for m2, m3, m4 in per_seed.values() for r in [*m2.values(), *(v[1] for v in m3.values()),
                                                              *(v[1] for v in m4.values())]]
    statistics = []
    for s in seeds:
        m2, m3, _ = per_seed[s]
        statistics.append(difference(_best_of([_accuracy(r) for _, r in m3.values()]),
                                     _best_of([_accuracy(r) for r in m2.values()])))
    points = f"M2 at α {', '.join(f'{a:g}' for a in sorted(per_seed[seeds[0]][0]))}; M3 at T " + \
             ", ".join(f"{t:g}" for t in sorted(per_seed[seeds[0]][1]))
    rows.append(make_row(**m3_m2, estimate=_measure(statistics, every), profile=profile, seeds=seeds, note=points,
                         experiment=_experiment(f"study `{setup.name}`", profile, "M2 and M3", seeds)))
    statistics, compared = [], []
    for s in seeds:
        _, m3, m4 = per_seed[s]
        curve = sorted(m3.values(), key=lambda v: v[0])
        gammas = [g for g, _ in curve]
        inside = {a: v for a, v in m4.items() if len(curve) >= 2 and gammas[0] <= v[0] <= gammas[-1]}
        if not inside:
            continue
        compared.append(s)
        statistics.append(_mean_of([difference(_accuracy(record), _interpolated(curve, gamma))
                                    for gamma, record in inside.values()]))
    if not statistics:
        rows.append(make_row(**m4_m3, profile=profile, seeds=seeds,
                             experiment=_experiment(f"study `{setup.name}`", profile, "M3 and M4", seeds),
                             no_estimate="no M4 student has a γ within the range of the M3 curve"))
    else:
        rows.append(make_row(**m4_m3, estimate=_measure(statistics, every), profile=profile, seeds=compared,
                             experiment=_experiment(f"study `{setup.name}`", profile, "M3 and M4", compared)))
    return rows


def _best_of(statistics: list[Statistic]) -> Statistic:
    return lambda indices: np.max([np.asarray(f(indices)) for f in statistics], axis=0)


def _interpolated(curve: list[tuple[float, Record]], gamma: float) -> Statistic:
    """The M3 curve's accuracy at ``gamma`` (linear between its two neighbouring points, γ fixed)."""
    gammas = [g for g, _ in curve]
    right = min(int(np.searchsorted(gammas, gamma, side="left")), len(curve) - 1)
    left = max(right - 1, 0)
    if gammas[right] == gammas[left]:
        return _accuracy(curve[right][1])
    weight = (gamma - gammas[left]) / (gammas[right] - gammas[left])
    a, b = _accuracy(curve[left][1]), _accuracy(curve[right][1])
    return lambda indices: (1 - weight) * np.asarray(a(indices)) + weight * np.asarray(b(indices))


# --- Mutual information -----------------------------------------------------------------------------------

LATE_FRACTION = 0.25      # "late in training": the last quarter of the probe's estimates


def mutual_information_rows(ctx: Context) -> list[LedgerRow]:
    """Late in training, Î above the unrelated-examples reference is lower with α = 0.1."""
    from lsbook.experiments.chapter_settings import MI_DEFAULTS
    from lsbook.experiments.mutual_info import MI_SETUPS, curve, find_curve
    from lsbook.information import collapsed_reference, unrelated_reference

    rows = []
    for name in _setups(ctx, MI_DEFAULTS):
        setup = MI_SETUPS[name]
        stand_in = f" ({setup.stand_in})" if setup.stand_in else ""
        common = dict(
            id=f"mi-fall/{name}", chapter="mutual_information", unit="nats", direction=Direction("decrease"),
            claim=f"Late in training (the last quarter of the estimates) the network trained with α = {SMOOTHED:g} "
                  "carries less information about the example index than the one trained with α = 0: its estimate "
                  f"above the reference on unrelated examples is lower{stand_in}.",
            source=f"{ORIGINAL_19}, Section 4, Figure 6 and Appendix A.2; {REPLICATION_23}, Section 6.3 (not reproduced)",
            metric="Î minus its reference on unrelated examples (same N, L), late-training mean, α = 0.1 minus α = 0")
        found = None
        for profile in ctx.profiles:
            per_seed = {}
            for seed in ctx.seeds(setup.recipe, profile, setup.callback_name(profile)):
                records = {a: find_curve(setup, a, seed, profile, ctx.store) for a in (0.0, SMOOTHED)}
                if all(r is not None for r in records.values()):
                    per_seed[seed] = {a: curve(r)[1] for a, r in records.items()}
            if per_seed:
                found = (profile, per_seed)
                break
        if found is None:
            home = ctx.home(name, MI_DEFAULTS)
            seeds = " ".join(map(str, MI_DEFAULTS[home][1]))
            rows.append(make_row(**common, experiment=f"`{setup.recipe}` with the MI probe [{home}], "
                                                      f"α {SMOOTHED:g} vs 0",
                                 not_run=ctx.why(setup.recipe, home, f"python -m lsbook mutual-info {name} "
                                                                     f"--profile {home} --seeds {seeds}")))
            continue
        profile, per_seed = found
        seeds = sorted(per_seed)
        probe = setup.probe_for(profile)
        n, draws = setup.num_examples(profile), probe.draws
        reference, collapsed = unrelated_reference(n, draws), collapsed_reference(n, draws)

        def late(values: np.ndarray) -> float:
            k = max(1, math.ceil(LATE_FRACTION * len(values)))
            return float(np.mean(values[-k:])) - reference.mean

        excess = {a: float(np.mean([late(per_seed[s][a]) for s in seeds])) for a in (0.0, SMOOTHED)}
        estimate = _seed_only([late(per_seed[s][SMOOTHED]) - late(per_seed[s][0.0]) for s in seeds],
                              "a run keeps only Î, not the per-example terms a bootstrap would resample")
        note = (f"late Î above the reference ({reference.mean:.3f} nats on unrelated examples at N = {n}, L = {draws}): "
                f"{excess[0.0]:.3f} at α = 0, {excess[SMOOTHED]:.3f} at α = {SMOOTHED:g}; two collapsed clusters read "
                f"{collapsed.mean:.3f} (log 2 = {math.log(2):.3f})")
        rows.append(make_row(**common, estimate=estimate, profile=profile, seeds=seeds, note=note,
                             experiment=_experiment(f"`{setup.recipe}` with the MI probe", profile,
                                                    f"α {SMOOTHED:g} vs 0", seeds)))
    return rows


# The families in the order of the book's chapters: (chapter, function of a Context -> rows).
FAMILIES: tuple[tuple[str, Callable[[Context], list[LedgerRow]]], ...] = (
    ("accuracy", accuracy_rows),
    ("penultimate", cluster_rows),
    ("calibration", calibration_rows),
    ("transformer", transformer_rows),
    ("distillation", distillation_rows),
    ("mutual_information", mutual_information_rows),
)
