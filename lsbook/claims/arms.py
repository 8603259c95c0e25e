"""Finding the runs a claim compares, and turning per-seed differences into one estimate.

:class:`Context` holds the store and the profiles a ledger reads (most informative first,
lsbook.profiles.considered_profiles). :func:`search` is the one arm search: the first allowed profile
at which enough seeds have every arm of a claim. :func:`alpha_arms` uses it for the α arms of a
recipe's runs (found by key through lsbook.runs.run_config, so only runs of the recipes as they are
defined now count). :func:`estimate` is the one estimate helper: a t-interval over seeds where at least
MIN_SEEDS seeds have every arm, else the measurement's bootstrap (over test examples, sentences or
tokens), else the point alone with the reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from lsbook.claims.table import Runs
from lsbook.errors import LsbookError
from lsbook.experiments.mutual_info import MI_SETUPS
from lsbook.intervals import (MIN_SEEDS, Estimate, Statistic, accuracy_statistic, bootstrap_over_examples,
                              ece_statistic, no_interval, over_seeds)
from lsbook.profiles import considered_profiles, resolve_profile
from lsbook.runs import run_config
from lsbook.store import Record, Store
from lsbook.train import find_run


@dataclass
class Context:
    """The store, the profiles a ledger reads (most informative first) and an index of its seeds."""

    profile: str
    profiles: tuple[str, ...]
    store: Store
    index: dict[tuple[str, str, str | None], set[int]] = field(default_factory=dict)
    memo: dict[str, dict] = field(default_factory=dict)   # look-ups that several rows share

    @classmethod
    def open(cls, profile: str | None, store: Store | None) -> "Context":
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
        """Seeds of the stored runs of ``recipe`` at ``profile`` (plain, or with this probe); plain
        runs include those with a probe that rides inside the recipe's runs (lsbook.runs)."""
        seeds = set(self.index.get((recipe, profile, step_callback), ()))
        if step_callback is None:
            for setup in MI_SETUPS.values():
                if setup.inside_plain_runs and setup.recipe == recipe:
                    seeds |= self.index.get((recipe, profile, setup.callback_name(profile)), set())
        return sorted(seeds)

    def plain(self, recipe: str, alpha: float, seed: int, profile: str) -> Record | None:
        """The recipe's run at α and seed (lsbook.runs.run_config), or None."""
        return find_run(run_config(recipe, alpha, seed, profile), self.store)

    def allowed(self, runs: Runs) -> tuple[str, ...]:
        """The profiles whose runs may test a claim, most informative first."""
        return runs.profiles or self.profiles


@dataclass
class Found:
    """The arms a claim compares: per seed, whatever :func:`search`'s ``arms_at`` returned."""

    profile: str
    per_seed: dict[int, object]

    @property
    def seeds(self) -> list[int]:
        return sorted(self.per_seed)


def search(ctx: Context, runs: Runs, seeds_at: Callable[[str], Iterable[int]],
           arms_at: Callable[[str, int], object | None]) -> Found | None:
    """The one arm search: the first profile a claim allows at which at least ``runs.min_seeds``
    seeds have every arm (``arms_at(profile, seed)`` is not None); None if there is none."""
    for profile in ctx.allowed(runs):
        per_seed = {}
        for seed in sorted(set(seeds_at(profile))):
            arms = arms_at(profile, seed)
            if arms is not None:
                per_seed[seed] = arms
        if per_seed and len(per_seed) >= runs.min_seeds:
            return Found(profile, per_seed)
    return None


@dataclass
class Grid:
    """Runs of one recipe at one profile by (α, seed), for the seeds that have every one of ``alphas``."""

    recipe: str
    profile: str
    seeds: list[int]
    alphas: list[float]
    records: dict[tuple[float, int], Record]

    def at(self, alpha: float) -> list[Record]:
        return [self.records[(float(alpha), s)] for s in self.seeds]


def alpha_arms(ctx: Context, runs: Runs, recipe: str, alphas: tuple[float, ...]) -> Grid | None:
    """The runs of ``recipe`` at every α of ``alphas`` (the control, α = 0, first), by :func:`search`."""
    def arms_at(profile: str, seed: int) -> dict[float, Record] | None:
        found = {float(a): ctx.plain(recipe, a, seed, profile) for a in alphas}
        return found if all(r is not None for r in found.values()) else None

    found = search(ctx, runs, lambda profile: ctx.seeds(recipe, profile), arms_at)
    if found is None:
        return None
    records = {(a, s): r for s, arms in found.per_seed.items() for a, r in arms.items()}
    return Grid(recipe, found.profile, found.seeds, [float(a) for a in alphas], records)


def every_alpha(ctx: Context, runs: Runs, recipe: str) -> Grid | None:
    """For a claim about α*: the runs at the largest set of α (α = 0 and some of ``runs.best_of``) that
    a seed of the first allowed profile has, over only the seeds that have all of it, so that seeds
    with fewer α can never move the choice of α*."""
    for profile in ctx.allowed(runs):
        have = [frozenset(a for a in (0.0, *runs.best_of) if ctx.plain(recipe, a, seed, profile) is not None)
                for seed in ctx.seeds(recipe, profile)]
        usable = [h for h in have if 0.0 in h and len(h) >= 2]
        if usable:
            largest = max(usable, key=lambda h: (len(h), usable.count(h), sorted(h)))
            return alpha_arms(ctx, dataclasses.replace(runs, profiles=(profile,)), recipe, tuple(sorted(largest)))
    return None


def best_alpha(grid: Grid) -> float:
    """α*: the α > 0 of the grid with the lowest mean validation ECE."""
    return min((a for a in grid.alphas if a > 0),
               key=lambda a: (np.mean([float(r.metrics["val_ece"]) for r in grid.at(a)]), a))


# --- The estimate ------------------------------------------------------------------------------------------

@dataclass
class Measured:
    """What a measurement found: the per-seed differences, and how to resample them below MIN_SEEDS seeds."""

    profile: str
    seeds: list[int]
    values: list[float]                               # the difference per seed (its point value)
    bootstrap: Callable[[], Estimate] | None = None   # an interval from the runs' own examples (1–2 seeds)
    why_no_bootstrap: str = ""                        # what is missing for one, where bootstrap is None
    note: str = ""                                    # context: the arms' own values, the published numbers
    arms: str = ""                                    # the arms as measured (e.g. "α* = 0.05 vs 0"), "" the claim's
    recipe: str = ""                                  # the recipe measured, where a subject has alternatives


def estimate(measured: Measured) -> Estimate:
    """Over seeds where there are MIN_SEEDS or more; else the measurement's bootstrap; else the point alone."""
    if len(measured.values) >= MIN_SEEDS:
        return over_seeds(measured.values)
    if measured.bootstrap is not None:
        return measured.bootstrap()
    n = len(measured.values)
    return no_interval(float(np.mean(measured.values)),
                       f"{n} seed{'s' if n != 1 else ''} (fewer than {MIN_SEEDS}) and {measured.why_no_bootstrap}")


def from_statistics(profile: str, seeds: list[int], statistics: list[Statistic], records: list[Record], *,
                    what: str = "test examples", strata: np.ndarray | None = None, note: str = "",
                    num_examples: int | None = None) -> Measured:
    """A measurement whose per-seed differences are statistics of resampled examples: the bootstrap
    resamples the examples the runs share (paired)."""
    n = num_examples if num_examples is not None else len(test_labels(records))
    everything = np.arange(n)[None, :]
    values = [float(np.asarray(f(everything))[0]) for f in statistics]
    return Measured(profile, seeds, values, note=note,
                    bootstrap=lambda: bootstrap_over_examples(statistics, n, what=what, strata=strata))


# --- Per-example numbers of a classification run --------------------------------------------------------

def test_labels(records: list[Record]) -> np.ndarray:
    """The test labels shared by ``records``; LsbookError if they were not evaluated on one test set."""
    labels = np.asarray(records[0].arrays["test_labels"])
    for record in records[1:]:
        if not np.array_equal(labels, np.asarray(record.arrays["test_labels"])):
            raise LsbookError(f"runs {records[0].key} and {record.key} were evaluated on different test sets; "
                              "a paired comparison needs the same test examples")
    return labels


def correct_predictions(record: Record) -> np.ndarray:
    """Whether each stored test prediction (argmax of the logits) is right."""
    return np.asarray(record.arrays["test_logits"]).argmax(axis=1) == np.asarray(record.arrays["test_labels"])


def accuracy_points(record: Record) -> Statistic:
    """Test accuracy in points (%) of resampled examples."""
    statistic = accuracy_statistic(correct_predictions(record))
    return lambda indices: 100.0 * statistic(indices)


def error_points(record: Record) -> Statistic:
    """Test error in points (%) of resampled examples."""
    statistic = accuracy_points(record)
    return lambda indices: 100.0 - statistic(indices)


def ece_of(record: Record, temperature: float = 1.0) -> Statistic:
    """Test ECE (15 bins) of resampled examples at ``temperature``."""
    logits = np.asarray(record.arrays["test_logits"], dtype=np.float64) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    correct = probabilities.argmax(axis=1) == np.asarray(record.arrays["test_labels"])
    return ece_statistic(probabilities.max(axis=1), correct)


def shifted(statistic: Statistic, shift: float) -> Statistic:
    return lambda indices: np.asarray(statistic(indices)) + shift


def mean_of(statistics: list[Statistic]) -> Statistic:
    return lambda indices: np.mean([np.asarray(f(indices)) for f in statistics], axis=0)


def best_of(statistics: list[Statistic]) -> Statistic:
    return lambda indices: np.max([np.asarray(f(indices)) for f in statistics], axis=0)
