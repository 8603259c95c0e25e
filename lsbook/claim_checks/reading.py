"""Reading the runs a claim needs, and turning per-seed differences into estimates.

:class:`Context` holds the store and the profiles a ledger reads (most informative first,
lsbook.profiles.considered_profiles); :meth:`Context.grid` finds the plain runs of a recipe by their
key (lsbook.train.find_run), so only runs of the recipes as they are defined now count. The
statistics here map resampled test examples to per-seed numbers (lsbook.intervals), and
:func:`measure` makes an interval over seeds where at least three seeds have every arm, else a
paired bootstrap over the shared test examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from lsbook import paper
from lsbook.book.scope import why_not_run
from lsbook.errors import LsbookError
from lsbook.experiments.mutual_info import MI_SETUPS
from lsbook.runs import run_config
from lsbook.train import find_run
from lsbook.intervals import (MIN_SEEDS, Estimate, Statistic, accuracy_statistic, bootstrap_over_examples,
                              ece_statistic, no_interval, over_seeds)
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
        from lsbook.profiles import considered_profiles, resolve_profile

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

    def every_alpha_grid(self, recipe: str, alphas: tuple[float, ...]) -> Grid | None:
        """For claims that pick a best α: the first considered profile's runs at the largest set of
        α (α = 0 and some of ``alphas``) that a seed has, over only the seeds that have all of it, so
        that seeds with fewer α can never move the choice. None if no seed has α = 0 and an α > 0."""
        for profile in self.profiles:
            have = [frozenset(a for a in (0.0, *alphas) if self.plain(recipe, a, seed, profile) is not None)
                    for seed in self.seeds(recipe, profile)]
            usable = [h for h in have if 0.0 in h and len(h) >= 2]
            if usable:
                largest = max(usable, key=lambda h: (len(h), usable.count(h), sorted(h)))
                return self.grid(recipe, tuple(sorted(largest)), profiles=(profile,))
        return None

    def why(self, recipe: str, profile: str | None = None, command: str | None = None) -> str:
        """Why no run of ``recipe`` is stored at ``profile`` (default: the ledger's own profile)."""
        return why_not_run(recipe, profile or self.profiles[-1], command)

    def home(self, name: str, defaults: dict) -> str:
        """The profile whose chapter runs study ``name``: the ledger's own if its defaults
        (lsbook.profiles) include it, else the first considered one that does."""
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


def accuracy_points(record: Record) -> Statistic:
    """Test accuracy in points (%) of resampled examples."""
    statistic = accuracy_statistic(_correct(record))
    return lambda indices: 100.0 * statistic(indices)


def error_points(record: Record) -> Statistic:
    """Test error in points (%) of resampled examples."""
    statistic = accuracy_points(record)
    return lambda indices: 100.0 - statistic(indices)


def ece_of(record: Record, temperature: float = 1.0) -> Statistic:
    probabilities = _probabilities(record, temperature)
    correct = probabilities.argmax(axis=1) == np.asarray(record.arrays["test_labels"])
    return ece_statistic(probabilities.max(axis=1), correct)


def measure(statistics: list[Statistic], records: list[Record], what: str = "test examples") -> Estimate:
    """Interval over seeds (≥ MIN_SEEDS) or paired bootstrap over the shared test examples."""
    n = len(_test_labels(records))
    if len(statistics) >= MIN_SEEDS:
        everything = np.arange(n)[None, :]
        return over_seeds([float(np.asarray(f(everything))[0]) for f in statistics])
    return bootstrap_over_examples(statistics, n, what=what)


def seed_only(per_seed: list[float], why: str) -> Estimate:
    """Interval over seeds where there are enough; otherwise the point alone, saying why."""
    if len(per_seed) >= MIN_SEEDS:
        return over_seeds(per_seed)
    return no_interval(float(np.mean(per_seed)), f"{len(per_seed)} seed{'s' if len(per_seed) != 1 else ''} "
                                                 f"(fewer than {MIN_SEEDS}) and {why}")


def experiment_text(what: str, profile: str, arms: str, seeds: list[int]) -> str:
    """"`recipe` [profile], arms, seeds 0, 1" (``what`` is Markdown: the recipe or study, in backticks)."""
    return f"{what} [{profile}], {arms}, seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds))}"


def title_of(recipe: str) -> str:
    """"ResNet-56 on CIFAR-10 (JPEG re-encode), 40 epochs (14,080 of the original's 64,000 steps)"."""
    from lsbook.book.tables import ARCHITECTURE_TITLES
    from lsbook.recipes import RECIPES, schedule_text

    architecture = ARCHITECTURE_TITLES.get(RECIPES[recipe].model, RECIPES[recipe].model)
    schedule = schedule_text(recipe)
    return f"{architecture} on {dataset_title(recipe)}" + (f", {schedule}" if schedule else "")


def dataset_title(recipe: str) -> str:
    """How the book names the dataset ``recipe`` trains on, e.g. "CIFAR-10 (JPEG re-encode)"."""
    from lsbook.data.registry import get_dataset
    from lsbook.recipes import RECIPES

    return get_dataset(RECIPES[recipe].dataset).title


def with_variants(recipes) -> list[str]:
    """``recipes``, each followed by its variants on this machine's data and schedule (lsbook.recipes.VARIANT_OF)."""
    from lsbook.recipes import variants_of

    return [name for recipe in recipes for name in (recipe, *variants_of(recipe))]


def home_profile(ctx: Context, recipe: str) -> str:
    """The profile whose runs of ``recipe`` a ledger would read: `paper` for a variant (its recipe is
    sized for this machine and is trained as it is), else the ledger's own."""
    from lsbook.recipes import VARIANT_OF

    return "paper" if recipe in VARIANT_OF else ctx.profiles[-1]


def why_missing(ctx: Context, recipe: str) -> str:
    """Why no run of ``recipe`` is stored where a ledger looks (lsbook.book.scope.why_not_run)."""
    return ctx.why(recipe, home_profile(ctx, recipe))


def published_accuracy(recipe: str, alpha: float) -> float | None:
    value = paper.REPLICATION_ACCURACY.get(recipe, {}).get(float(alpha))
    return None if value is None else value.value


def shifted(statistic: Statistic, shift: float) -> Statistic:
    return lambda indices: np.asarray(statistic(indices)) + shift


def mean_of(statistics: list[Statistic]) -> Statistic:
    return lambda indices: np.mean([np.asarray(f(indices)) for f in statistics], axis=0)


def best_of(statistics: list[Statistic]) -> Statistic:
    return lambda indices: np.max([np.asarray(f(indices)) for f in statistics], axis=0)


def best_alpha(grid: Grid, metric: Callable[[Record], float]) -> float | None:
    """α*: the α > 0 of the grid with the lowest mean validation ECE (None: no α > 0 stored)."""
    smoothed = [a for a in grid.alphas if a > 0]
    if not smoothed:
        return None
    return min(smoothed, key=lambda a: (np.mean([metric(r) for r in grid.at(a)]), a))
