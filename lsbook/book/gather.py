"""The runs behind a chapter: one grid of (α, seed) per recipe, trained only where missing.

A chapter asks for a recipe at some α and seeds; :func:`gather` returns what the store holds and
trains the rest through :func:`lsbook.train.ensure_run`. A dataset that is not on this machine
(:class:`lsbook.errors.DataMissingError`) does not stop the chapter: the grid remembers the
message (which names the fetch command) and keeps whatever runs are already stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from lsbook.errors import DataMissingError
from lsbook.profiles import get_profile


@dataclass
class RunGrid:
    """The stored runs of one recipe at one profile, by (α, seed)."""

    recipe: str
    profile: str
    alphas: tuple[float, ...]
    seeds: tuple[int, ...]
    records: dict[tuple[float, int], Any] = field(default_factory=dict)  # (α, seed) -> Record
    missing_data: str | None = None  # the DataMissingError message, when the data is not here

    def at(self, alpha: float) -> list:
        """The records at α, in seed order."""
        return [self.records[(float(alpha), s)] for s in self.seeds if (float(alpha), s) in self.records]

    def all(self) -> list:
        return [self.records[k] for k in sorted(self.records)]

    @property
    def complete(self) -> bool:
        return len(self.records) == len(self.alphas) * len(self.seeds)


def gather(recipe: str, alphas: Sequence[float], seeds: Sequence[int], profile: str, *,
           train: bool = True, device: str | None = None, store=None, progress: bool = True) -> RunGrid:
    """The runs of ``recipe`` at every (α, seed): stored ones, plus newly trained ones if ``train``.

    A variant sized for this machine (lsbook.recipes.VARIANT_OF) trains only at its own profile: a
    profile that shows the `paper` runs beside its own reads the variant's committed `paper` runs
    (lsbook.book.gather.with_stored) and never retrains them, since they take an hour each.
    """
    from lsbook.runs import ensure, run_config
    from lsbook.train import find_run
    from lsbook.validation import check_alpha

    train = train and trains_at(recipe, profile)
    grid = RunGrid(recipe, profile, tuple(check_alpha(a) for a in alphas), tuple(int(s) for s in seeds))
    for alpha in grid.alphas:
        for seed in grid.seeds:
            config = run_config(recipe, alpha, seed, profile)
            record = find_run(config, store)
            if record is None and train and grid.missing_data is None:
                try:
                    record = ensure(config, store=store, device=device, progress=progress)
                except DataMissingError as error:
                    grid.missing_data = str(error)
            if record is not None:
                grid.records[(alpha, seed)] = record
    return grid



def trains_at(recipe: str, profile: str) -> bool:
    """Whether a chapter at ``profile`` trains missing runs of ``recipe``: not a variant sized for this
    machine when the profile shows the committed `paper` runs beside its own (an hour a run)."""
    from lsbook.recipes import VARIANT_OF

    return not (recipe in VARIANT_OF and "paper" in get_profile(profile).shown_beside)


def stored(recipe: str, alphas: Sequence[float], profile: str, *, store=None) -> RunGrid:
    """The runs of ``recipe`` at ``profile`` that the store already holds, for every seed found
    (never trains). Only plain runs count: the exact recipe of the profile, no teacher, no probe."""
    from lsbook.store import Store

    store = store or Store()
    seeds = sorted({int(r.config["seed"]) for r in store.find(recipe=recipe, profile=profile)
                    if not r.config.get("teacher_key")})
    if not seeds:
        return RunGrid(recipe, profile, tuple(float(a) for a in alphas), ())
    return gather(recipe, alphas, seeds, profile, train=False, store=store)


def with_stored(grids: Sequence[RunGrid], alphas: Sequence[float], *, store=None) -> list[RunGrid]:
    """``grids`` with, before each, the stored grid of every profile that the grid's profile shows
    beside its own (lsbook.profiles: a cpu build also shows committed paper runs) and that has runs."""
    from lsbook.profiles import get_profile

    result = []
    for grid in grids:
        for other in get_profile(grid.profile).shown_beside:
            extra = stored(grid.recipe, alphas, other, store=store)
            if extra.records:
                result.append(extra)
        result.append(grid)
    return result


# The order in which equally long runs of different profiles are preferred (published recipes first).
PROFILE_PREFERENCE = ("paper", "cpu", "smoke")


def epochs_of(grid: RunGrid) -> float:
    """The fewest training epochs among the grid's runs (0 for an empty grid); a recipe that counts
    optimiser steps (epochs None) trained steps × batch size / training examples of them."""
    def epochs(record) -> float:
        recipe, metrics = record.config["resolved_recipe"], record.metrics
        if recipe.get("epochs") is not None:
            return int(recipe["epochs"])
        return round(metrics["steps"] * recipe["batch_size"] / max(metrics["train_examples"], 1), 2)

    return min((epochs(r) for r in grid.records.values()), default=0)


def longest_grid(grid: RunGrid, *, needs: str | None = None, store=None) -> RunGrid | None:
    """The complete grid of ``grid``'s recipe, α and seeds that trained longest, among ``grid`` and the
    stored grids of the profiles shown beside its own (lsbook.profiles' shown_beside: a cpu page also
    draws paper runs). Ties go to the profile earlier in PROFILE_PREFERENCE. ``needs``: an array every record
    must have (e.g. "train_features"); None if no candidate is complete."""
    candidates = [grid] + [gather(grid.recipe, grid.alphas, grid.seeds, other, train=False, store=store)
                           for other in get_profile(grid.profile).shown_beside]
    usable = [g for g in candidates if g.complete and g.records
              and (needs is None or all(needs in set(r.arrays) for r in g.records.values()))]
    if not usable:
        return None
    rank = {p: i for i, p in enumerate(PROFILE_PREFERENCE)}
    return max(usable, key=lambda g: (epochs_of(g), -rank.get(g.profile, len(rank))))
