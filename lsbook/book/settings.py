"""A chapter's parameters resolved: its profile, and for each parameter left at None the profile's
default (lsbook.profiles), checked once. Every chapter calls :func:`chapter_settings`; the pages
that show no grid of runs of their own (PROFILE_ONLY_CHAPTERS) take only its profile."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from lsbook import paper
from lsbook.errors import LsbookError
from lsbook.experiments.distillation_grid import SETUPS, DistillationSetup
from lsbook.experiments.mutual_info import MI_SETUPS, MISetup
from lsbook.profiles import chapter_defaults, get_profile, resolve, resolve_profile
from lsbook.recipes import RECIPES, Recipe, variants_of
from lsbook.sweep import GridRun, distillation_grid, expand_grid
from lsbook.translation.settings import RECIPE as TRANSLATION_RECIPE
from lsbook.validation import check_alpha, check_choice, check_temperature
from lsbook.book.gather import trains_at

# The chapters that take their recipes from a column of Table 5 (lsbook.paper), and the recipes
# each adds to that column or leaves out.
TABLE5_CHAPTERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # chapter: (Table 5 column, recipes added, models left out)
    "accuracy": ("accuracy", (), ()),
    "calibration": ("imc", (), ("transformer",)),  # the Transformer has a chapter of its own
    "penultimate": ("plr", ("fcn-fmnist",), ()),
}
# The chapters whose default grids the profiles define (lsbook.profiles' chapter defaults).
CHAPTERS = (*TABLE5_CHAPTERS, "transformer", "distillation", "mutual_information")
# The other pages of the book: of their parameters only the profile is resolved here.
PROFILE_ONLY_CHAPTERS = ("intro", "what_was_found", "label_smoothing", "differences", "what_was_run", "later_work")


@dataclass(frozen=True)
class ChapterSettings:
    """A chapter's resolved parameters (fields a chapter does not take stay empty)."""

    chapter: str  # one of CHAPTERS or PROFILE_ONLY_CHAPTERS
    profile: str  # smoke, cpu or paper
    seeds: list[int]  # seeds of every run the chapter shows
    alphas: list[float] | None  # α grid; None: each set-up's own (mutual information)
    recipes: list[str] = field(default_factory=list)  # recipes of a Table 5 chapter
    setups: list[Any] = field(default_factory=list)  # DistillationSetup / MISetup, reduced to alphas / T
    temperatures: list[float] | None = None  # distillation: teacher temperatures; None: each set-up's


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _seeds(values: Any) -> list[int]:
    seeds = [int(s) for s in _as_list(values)]
    if not seeds or min(seeds) < 0:
        raise LsbookError(f"seeds must name at least one seed, each >= 0, got {values!r}")
    return seeds


def _alphas(values: Any) -> list[float]:
    alphas = [check_alpha(a) for a in _as_list(values)]
    if not alphas:
        raise LsbookError("alphas must name at least one value")
    return alphas


def chapter_settings(chapter: str, profile: str | None = None, *, recipes: Any = None, alphas: Any = None,
                     seeds: Any = None, setups: Any = None, temperatures: Any = None,
                     data_root: str | None = None) -> ChapterSettings:
    """The parameters of ``chapter`` with None replaced by the profile's defaults, all checked.

    ``profile`` None means ``$LSBOOK_PROFILE``, else "cpu"; ``data_root`` sets ``$LSBOOK_DATA``.
    """
    check_choice(chapter, (*CHAPTERS, *PROFILE_ONLY_CHAPTERS), "chapter")
    profile = resolve_profile(profile)
    if chapter in PROFILE_ONLY_CHAPTERS:
        given = {"recipes": recipes, "alphas": alphas, "seeds": seeds, "setups": setups,
                 "temperatures": temperatures, "data_root": data_root}
        if any(value is not None for value in given.values()):
            taken = ", ".join(name for name, value in given.items() if value is not None)
            raise LsbookError(f"chapter {chapter!r} takes only a profile here, not {taken}")
        return ChapterSettings(chapter, profile, [], None)
    if data_root:
        os.environ["LSBOOK_DATA"] = str(data_root)
    defaults = chapter_defaults(profile, chapter)
    seeds = _seeds(defaults["seeds"] if seeds is None else seeds)
    if chapter in TABLE5_CHAPTERS:
        if setups is not None or temperatures is not None:
            raise LsbookError(f"chapter {chapter!r} takes recipes, not setups or temperatures")
        column, added, left_out = TABLE5_CHAPTERS[chapter]
        if recipes is None:
            only = get_profile(profile).chapter_recipes
            marked = paper.recipes_for(column) + [r for r in added if r not in paper.recipes_for(column)]
            marked = [name for r in marked for name in (r, *variants_of(r))]  # each with its CPU variants
            recipes = [r for r in marked if RECIPES[r].model not in left_out and (only is None or r in only)]
        recipes = [check_choice(r, RECIPES, "recipe") for r in _as_list(recipes)]
        return ChapterSettings(chapter, profile, seeds, _alphas(defaults["alphas"] if alphas is None else alphas),
                               recipes=recipes)
    if recipes is not None:
        raise LsbookError(f"chapter {chapter!r} has no recipes parameter")
    if chapter == "transformer":
        return ChapterSettings(chapter, profile, seeds, _alphas(defaults["alphas"] if alphas is None else alphas))
    if chapter == "distillation":
        names = [check_choice(n, SETUPS, "distillation setup") for n in _as_list(setups or defaults["setups"])]
        alphas = defaults["alphas"] if alphas is None else alphas
        temperatures = defaults["temperatures"] if temperatures is None else temperatures
        alphas = None if alphas is None else _alphas(alphas)
        temperatures = None if temperatures is None else [check_temperature(t) for t in _as_list(temperatures)]
        reduced: list[DistillationSetup] = [SETUPS[n].reduced(alphas, temperatures) for n in names]
        return ChapterSettings(chapter, profile, seeds, alphas, setups=reduced, temperatures=temperatures)
    if temperatures is not None:
        raise LsbookError("chapter 'mutual-information' has no temperatures parameter")
    names = [check_choice(n, MI_SETUPS, "mutual-information setup") for n in _as_list(setups or defaults["setups"])]
    chosen: list[MISetup] = [MI_SETUPS[n] for n in names]
    return ChapterSettings(chapter, profile, seeds, None if alphas is None else _alphas(alphas), setups=chosen)


def has_data(recipe: Recipe) -> bool:
    """Whether a run of ``recipe`` can train here: synthetic stand-in data (smoke), or the whole
    dataset found by lsbook.data (a file-existence check, nothing is read)."""
    from lsbook.data.roots import locate

    return bool(recipe.synthetic_data) or locate(recipe.dataset) is not None


def training_length(recipe_name: str, profile: str) -> str:
    """How long ``recipe_name`` trains at ``profile``, in words, e.g. "3 epochs on 55,000 training
    images (5,000 held out)" (for the chapters' prose, so that it follows the profile's definition)."""
    from lsbook.data.registry import get_dataset  # lazy: the lsbook.data package imports torch

    recipe = resolve(recipe_name, profile)
    info = get_dataset(recipe.dataset)
    if recipe.train_subset is not None:
        data = f"{recipe.train_subset:,} training examples"
    elif recipe.train_on_holdout or not info.val_holdout:
        data = f"all {info.train_size:,} training examples"
    else:
        data = f"{info.train_size - info.val_holdout:,} training examples ({info.val_holdout:,} held out)"
    if recipe.total_steps is not None:
        return f"{recipe.total_steps:,} optimiser steps on {data}"
    return f"{recipe.epochs} epoch{'s' if recipe.epochs != 1 else ''} on {data}"


# --- The runs the book shows ---------------------------------------------------------------------------

def chapter_runs(chapter: str, profile: str | None = None) -> list[GridRun]:
    """The runs ``chapter`` trains at ``profile`` where they are missing (its default grid), for the
    recipes whose data is on this machine: what ``python -m lsbook runs ensure --book`` trains before
    any page executes, so that the pages only read the store."""
    settings = chapter_settings(chapter, profile)
    profile = settings.profile
    if chapter in TABLE5_CHAPTERS or chapter == "transformer":
        recipes = settings.recipes if chapter in TABLE5_CHAPTERS else [TRANSLATION_RECIPE]
        return [run for recipe in recipes if trains_at(recipe, profile) and has_data(resolve(recipe, profile))
                for run in expand_grid(recipe, settings.alphas, settings.seeds, profile)]
    if chapter == "distillation":
        return [run for setup in settings.setups if has_data(resolve(setup.teacher_recipe, profile))
                for run in distillation_grid(setup, None, settings.seeds, profile, keep_teachers=False)]
    if chapter == "mutual_information":
        return [GridRun(setup.config(alpha, seed, profile)) for setup in settings.setups
                if trains_at(setup.recipe, profile) and has_data(setup.recipe_for(profile))
                for alpha in settings.alphas or setup.alphas for seed in settings.seeds]
    return []


def book_runs(profile: str | None = None) -> list[GridRun]:
    """Every run the book's chapters show at ``profile``, once each (a run that keeps its weights for
    one chapter keeps them), in the order of the chapters."""
    found: dict[str, GridRun] = {}
    for chapter in CHAPTERS:
        for run in chapter_runs(chapter, profile):
            before = found.get(run.key)
            found[run.key] = run if before is None else GridRun(
                run.config, keep_model=before.keep_model or run.keep_model,
                store_gamma=before.store_gamma or run.store_gamma)
    return list(found.values())
