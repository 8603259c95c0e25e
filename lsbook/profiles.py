"""Profiles as data: every change that a profile makes, in one place.

- ``paper``: the recipes exactly as :mod:`lsbook.recipes` states them (the replication's), the
  chapters' full grids with several seeds.
- ``cpu`` (the default): real data, fewer epochs and smaller training subsets, so that the book's
  runs fit a 2-core CPU; its numbers are real but labelled ``cpu``.
- ``smoke``: tiny subsets and at most 2 epochs, seconds per run, for CI; never presented as a
  result. At smoke, only the data the book trains on (MNIST, Fashion-MNIST, Multi30k, the CIFAR-10
  JPEG re-encode) is read; every other dataset is replaced by synthetic stand-in images, whatever
  the machine holds, so that a configuration never depends on the disk.

A :class:`Profile` lists what it changes: recipe fields (caps for every recipe, then fields per
recipe), the Transformer's translation settings, the chapters' default grids, how often the
mutual-information probe measures, and which other profiles' stored runs a chapter shows beside its
own. :func:`resolve` applies a profile to a recipe and :func:`settings_for` to the Transformer's
translation settings; every field of the result goes into the run's configuration and key, so
nothing is changed silently. :func:`profile_changes` lists every change
(the appendix's table is generated from it). :func:`resolve_profile` picks the profile of a build,
chapter or command (its parameter, else ``$LSBOOK_PROFILE``, else ``cpu``), and
:func:`considered_profiles` the profiles whose stored runs it reads. This module depends on
:mod:`lsbook.recipes` and :mod:`lsbook.translation.settings`, never the other way round.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lsbook.errors import LsbookError
from lsbook.paper import TABLE_ALPHAS
from lsbook.recipes import RECIPES, SMALL_TRANSFORMER, Recipe
from lsbook.schedule import schedule_of, train_examples
from lsbook.translation.settings import TranslationSettings
from lsbook.validation import check_choice

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"


@dataclass(frozen=True)
class Profile:
    """What one profile changes; an empty field changes nothing."""

    name: str  # one of PROFILES
    summary: str  # one line: what the profile is for
    recipe_caps: Mapping[str, int] = field(default_factory=dict)  # every recipe: field at most this
    #   (a field that is None, i.e. unbounded, is set to the cap); "epochs" rescales the schedule
    #   (a recipe that counts steps then trains that many epochs of the profile's subset)
    model_kwargs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per model: kwargs set
    pretrained_weights: bool = True  # False: recipes that start from ImageNet weights start from scratch
    real_datasets: tuple[str, ...] | None = None  # None: every dataset read from disk; else only these,
    #   every other replaced by stand-in images, whatever this machine holds (resolution never looks at disk)
    recipes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per recipe: fields set
    #   after the caps; "epochs" / "total_steps" rescale the schedule points with the length
    translation: Mapping[str, Any] = field(default_factory=dict)  # TranslationSettings fields set
    chapters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # chapter -> defaults
    chapter_recipes: tuple[str, ...] | None = None  # Table 5 chapters train only these; None: all
    probe_every: Mapping[str, int] = field(default_factory=dict)  # MI set-up -> steps between estimates
    probe_per_class: int | None = None  # MI probe: at most this many examples per class; None: all
    shown_beside: tuple[str, ...] = ()  # profiles whose stored runs a chapter shows beside its own
    no_verdict: str = ""  # why a claim measured on this profile's runs gets no verdict ("": it gets one)


# The distillation and mutual-information chapters' grids at `paper`: the replication's 6 α × 6 T
# (seed Section 6.1) on MNIST and the original's CIFAR-10 set-up, five seeds as the original.
_PAPER_CHAPTERS = {
    "accuracy": {"alphas": TABLE_ALPHAS, "seeds": (0, 1, 2, 3, 4)},
    "calibration": {"alphas": TABLE_ALPHAS, "seeds": (0, 1, 2, 3, 4)},
    "penultimate": {"alphas": (0.0, 0.1), "seeds": (0,)},
    "transformer": {"alphas": TABLE_ALPHAS, "seeds": (0, 1, 2)},
    "distillation": {"setups": ("fcn-mnist", "resnet56-alexnet-cifar10", "resnet56-alexnet-cifar10-jpeg"),
                     "alphas": None, "temperatures": None, "seeds": (0, 1, 2, 3, 4)},
    "mutual_information": {"setups": ("resnet56-cifar10-jpeg", "resnet56-cifar10", "fcn-fmnist"), "seeds": (0, 1, 2)},
}

# The Transformer at `cpu`: a model of d_model 128 for 3 epochs, in which the paper's lr 1e-4 (tuned
# for d_model 512 and 18 epochs) leaves it barely trained; 1e-3 is what Adam with the Transformer
# schedule peaks at for d_model 128 (Vaswani et al. 2017, Eq. 3).
_CPU_TRANSFORMER = {"epochs": 3, "lr": 1e-3, "model_kwargs": SMALL_TRANSFORMER}

PROFILE_TABLE: dict[str, Profile] = {
    "paper": Profile(
        name="paper", summary="the replication's recipes, unchanged; the chapters' full grids",
        chapters=_PAPER_CHAPTERS,
        # the original's experiment (its Section 4): 64k steps, an estimate every 4k; the FCN
        # stand-in: sixteen estimates in 100 epochs of 108 steps
        probe_every={"resnet56-cifar10": 4000, "fcn-fmnist": 675, "resnet56-cifar10-jpeg": 880}),
    # Sized for a 2-core CPU: the FCN row of 5 α in a few minutes, the whole book under 30 minutes.
    "cpu": Profile(
        name="cpu", summary="real data, fewer epochs and smaller subsets: the whole book on a 2-core CPU",
        recipes={
            "fcn-mnist": {"epochs": 3}, "fcn-emnist": {"epochs": 2}, "fcn-fmnist": {"epochs": 3},
            "fcn-fmnist-full": {"epochs": 3}, "fcn-fmnist-noisy": {"epochs": 3}, "fcn-mnist-dropout": {"epochs": 3},
            "fcn-fmnist-full-biasinit": {"epochs": 3}, "fcn-fmnist-full-epochlr": {"epochs": 3},
            "fcn-fmnist-full-roundshift": {"epochs": 3}, "fcn-fmnist-full-replication": {"epochs": 3},
            "fcn-mnist-student": {"epochs": 3}, "fcn-fmnist-dropout": {"epochs": 3},
            "fcn-fmnist-student": {"epochs": 3},
            "alexnet-cifar10": {"epochs": 4, "train_subset": 5000, "test_subset": 2000},
            "resnet56-cifar10": {"epochs": 3, "train_subset": 2000, "test_subset": 1000},
            "resnet56-cifar100": {"epochs": 3, "train_subset": 2000, "test_subset": 1000},
            "resnet34-cub200": {"epochs": 1, "train_subset": 200, "test_subset": 200, "val_subset": 200},
            "resnet50-tinyimagenet": {"epochs": 2, "train_subset": 2000, "test_subset": 1000,
                                      "val_subset": 1000},
            "transformer-multi30k": _CPU_TRANSFORMER,
            "transformer-multi30k-small": {"epochs": 3},  # the quick look: as transformer-multi30k here
        },
        # The full Multi30k with half the vocabulary (the output layer dominates the small model's
        # cost); Figure 5's temperature grids as at `paper` (lsbook.translation.settings).
        translation={"vocab_size": 4000},
        chapters={
            # one seed, so that the whole book stays within 30 minutes (pass seeds=[0, 1, 2])
            "accuracy": {"alphas": TABLE_ALPHAS, "seeds": (0,)},
            "calibration": {"alphas": TABLE_ALPHAS, "seeds": (0,)},
            "penultimate": {"alphas": (0.0, 0.1), "seeds": (0,)},
            "transformer": {"alphas": (0.0, 0.1, 0.3), "seeds": (0,)},  # the α of the seed's Figure 5
            "distillation": {"setups": ("fcn-fmnist",), "alphas": (0.0, 0.3, 0.6),
                             "temperatures": (1.0, 4.0, 16.0), "seeds": (0,)},
            "mutual_information": {"setups": ("fcn-fmnist",), "seeds": (0,)},
        },
        # resnet56-cifar10: 16 estimates in 3 epochs × 16 steps, as the original's 64k / 4k;
        # fcn-fmnist: 33 in 3 epochs × 108 steps
        probe_every={"resnet56-cifar10": 3, "fcn-fmnist": 10, "resnet56-cifar10-jpeg": 3},
        shown_beside=("paper",),  # paper runs trained elsewhere and committed are shown too
        no_verdict="not a test: underfit runs (the cpu profile trains a few epochs, far short of the "
                   "recipes; its numbers show that the pipeline works, not what label smoothing does)",
    ),
    "smoke": Profile(
        name="smoke", summary="seconds per run on tiny subsets, to check that the code runs; not results",
        recipe_caps={"epochs": 2, "train_subset": 512, "val_subset": 256, "test_subset": 256,
                     "batch_size": 128, "eval_batch_size": 256},
        model_kwargs={"transformer": {"d_model": 32, "nhead": 2, "num_encoder_layers": 1,
                                      "num_decoder_layers": 1, "dim_feedforward": 64, "dropout": 0.1}},
        pretrained_weights=False,
        # the data the book's own chapters train on, which CI and the set-up provide; every other
        # dataset (official CIFAR, CUB, Tiny ImageNet, EMNIST) is replaced by stand-in images
        real_datasets=("mnist", "fashion-mnist", "multi30k", "cifar10-jpeg"),
        recipes={
            # still smaller ResNets: ResNet-56 costs ~0.4 GFLOP per training example, ResNet-34 on
            # 256×256 CUB images ~14 GFLOP
            "resnet56-cifar10": {"train_subset": 256, "val_subset": 128, "test_subset": 128},
            "resnet56-cifar100": {"train_subset": 256, "val_subset": 128, "test_subset": 128},
            "resnet34-cub200": {"epochs": 1, "train_subset": 64, "val_subset": 32, "test_subset": 32,
                                "batch_size": 32, "eval_batch_size": 32},
            "resnet50-tinyimagenet": {"epochs": 1, "train_subset": 128, "val_subset": 64,
                                      "test_subset": 64, "batch_size": 64, "eval_batch_size": 64},
            # 100 validation and test sentences: an untrained model decodes each one to its length
            # limit, a dozen times over
            "transformer-multi30k": {"val_subset": 100, "test_subset": 100},
            "transformer-multi30k-small": {"val_subset": 100, "test_subset": 100},
        },
        translation={"vocab_size": 1000, "beam_size": 2, "temperatures": (0.5, 1.0, 2.0),
                     "bleu_temperatures": (0.5, 1.0, 2.0), "num_examples": 3},
        chapters={
            "accuracy": {"alphas": (0.0, 0.1), "seeds": (0,)},
            "calibration": {"alphas": (0.0, 0.1), "seeds": (0,)},
            "penultimate": {"alphas": (0.0, 0.1), "seeds": (0,)},
            "transformer": {"alphas": (0.0, 0.1), "seeds": (0,)},
            "distillation": {"setups": ("fcn-fmnist",), "alphas": (0.0, 0.6), "temperatures": (1.0, 4.0),
                             "seeds": (0,)},
            "mutual_information": {"setups": ("fcn-fmnist",), "seeds": (0,)},
        },
        chapter_recipes=("fcn-fmnist", "fcn-mnist", "alexnet-cifar10", "alexnet-cifar10-jpeg",
                         "resnet56-cifar10-jpeg"),  # CI runs the book in minutes
        probe_every={"resnet56-cifar10": 1, "fcn-fmnist": 1, "resnet56-cifar10-jpeg": 1},
        probe_per_class=16,  # smoke runs train on 512 examples: a probe of 2 × 16
        no_verdict="not a test: smoke runs check that the code runs; their numbers are never results",
    ),
}

def get_profile(name: str) -> Profile:
    """The profile called ``name``; LsbookError listing the profiles otherwise."""
    check_choice(name, PROFILES, "profile")
    return PROFILE_TABLE[name]


# Environment variable that picks the profile of a whole build (CI sets it to "smoke").
PROFILE_ENV = "LSBOOK_PROFILE"


def resolve_profile(profile: str | None = None) -> str:
    """The profile in use: ``profile`` (a chapter's parameter, a command's ``--profile``), else
    ``$LSBOOK_PROFILE``, else DEFAULT_PROFILE."""
    chosen = profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if chosen not in PROFILES:
        source = "profile parameter" if profile else f"${PROFILE_ENV}"
        raise LsbookError(f"{source} must be one of {', '.join(PROFILES)}, got {chosen!r}")
    return chosen


def considered_profiles(profile: str | None) -> tuple[str, ...]:
    """Profiles whose runs a build at ``profile`` uses, most informative first: a `cpu` build also
    reads the committed `paper` runs (``shown_beside``); smoke runs are never mixed in."""
    profile = resolve_profile(profile)
    return (*get_profile(profile).shown_beside, profile)


def scale_epochs(recipe: Recipe, epochs: int) -> dict[str, Any]:
    """Field changes that set ``epochs`` and scale epoch-based schedule points proportionally."""
    changes: dict[str, Any] = {"epochs": epochs}
    ratio = epochs / recipe.epochs
    if recipe.lr_milestones:
        changes["lr_milestones"] = tuple(max(1, round(m * ratio)) for m in recipe.lr_milestones)
    if recipe.lr_step_epochs:
        changes["lr_step_epochs"] = max(1, round(recipe.lr_step_epochs * ratio))
    return changes


def scale_length(recipe: Recipe, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The schedule fields that follow a profile's change of length (``epochs`` or ``total_steps``).

    A recipe that counts epochs scales its milestones with them. A recipe that counts steps
    (``total_steps``) and is given a length in epochs trains that many passes over the profile's
    training examples; its milestone steps scale with its total.
    """
    if recipe.total_steps is None:
        return scale_epochs(recipe, changes["epochs"]) if "epochs" in changes else {}
    scaled: dict[str, Any] = {}
    if changes.get("epochs") is not None:
        shrunk = dataclasses.replace(recipe, **{**changes, "epochs": None})
        steps_per_epoch = math.ceil(train_examples(shrunk) / shrunk.batch_size)
        scaled = {"epochs": None, "total_steps": changes["epochs"] * steps_per_epoch}
    total = scaled.get("total_steps", changes.get("total_steps", recipe.total_steps))
    if total != recipe.total_steps and recipe.lr_milestone_steps:
        scaled["lr_milestone_steps"] = tuple(max(1, round(m * total / recipe.total_steps))
                                             for m in recipe.lr_milestone_steps)
    return scaled


def apply_profile(recipe: Recipe, profile: str) -> Recipe:
    """``recipe`` with the changes of ``profile`` (caps, model settings, its own fields)."""
    spec = get_profile(profile)
    changes: dict[str, Any] = {}
    for name, cap in spec.recipe_caps.items():
        current = getattr(recipe, name)
        changes[name] = cap if current is None else min(current, cap)
    if spec.model_kwargs or not spec.pretrained_weights:
        kwargs = {**recipe.model_kwargs, **spec.model_kwargs.get(recipe.model, {})}
        if not spec.pretrained_weights and kwargs.get("pretrained"):
            kwargs["pretrained"] = False
        changes["model_kwargs"] = kwargs
    if spec.real_datasets is not None:
        changes["synthetic_data"] = recipe.dataset not in spec.real_datasets
    changes.update(spec.recipes.get(recipe.name, {}))
    changes.update(scale_length(recipe, changes))
    return dataclasses.replace(recipe, **changes) if changes else recipe


def resolve(recipe_name: str, profile: str) -> Recipe:
    """The recipe ``recipe_name`` with ``profile`` applied: the recipe a run actually uses."""
    check_choice(recipe_name, RECIPES, "recipe")
    return apply_profile(RECIPES[recipe_name], profile).validate()


def settings_for(profile: str, recipe: Recipe | None = None) -> TranslationSettings:
    """The translation settings of ``profile``: the defaults (with ``recipe``'s vocabulary, if it
    names one) and then the profile's changes."""
    base = TranslationSettings()
    if recipe is not None and recipe.vocab_size is not None:
        base = base.replace(vocab_size=recipe.vocab_size)
    return base.replace(**get_profile(profile).translation)


def chapter_defaults(profile: str, chapter: str) -> Mapping[str, Any]:
    """The default parameters of ``chapter`` at ``profile``."""
    spec = get_profile(profile)
    check_choice(chapter, spec.chapters, "chapter")
    return spec.chapters[chapter]


def probe_every(profile: str, setup: str) -> int:
    """Optimiser steps between two estimates of the mutual-information set-up ``setup``."""
    spec = get_profile(profile)
    check_choice(setup, spec.probe_every, "mutual-information setup")
    return int(spec.probe_every[setup])


def _short(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return str(value)


def _setting(value: Any) -> str:
    return "each set-up's own" if value is None else _short(value)


def _steps(count: int) -> str:
    return f"{count} step" + ("s" if count != 1 else "")


def profile_changes(profile: str) -> list[tuple[str, str]]:
    """Every change ``profile`` makes, as (what, "field: before → after; ...") rows: each recipe,
    the Transformer's translation settings, each chapter's defaults, the probe intervals, and the
    stored profiles shown beside this one's."""
    spec = get_profile(profile)
    paper = PROFILE_TABLE["paper"]
    rows = []
    for name, recipe in RECIPES.items():
        scaled = resolve(name, profile)
        changed = [f"{f.name}: {_short(getattr(recipe, f.name))} → {_short(getattr(scaled, f.name))}"
                   for f in dataclasses.fields(recipe) if getattr(recipe, f.name) != getattr(scaled, f.name)
                   and not (f.name == "epochs" and scaled.epochs is None)]
        if recipe.total_steps is not None and scaled.total_steps != recipe.total_steps:
            length = schedule_of(scaled)
            changed = [text + f" (epochs: {length.epochs} of {length.train_examples:,} examples)"
                       if text.startswith("total_steps:") else text for text in changed]
        rows.append((f"recipe `{name}`", "; ".join(changed) or "(unchanged)"))
    before, after = settings_for("paper"), settings_for(profile)
    changed = [f"{f.name}: {_short(getattr(before, f.name))} → {_short(getattr(after, f.name))}"
               for f in dataclasses.fields(before) if getattr(before, f.name) != getattr(after, f.name)]
    rows.append(("Transformer translation settings", "; ".join(changed) or "(unchanged)"))
    for chapter, defaults in paper.chapters.items():
        mine = spec.chapters[chapter]
        changed = [f"{key}: {_setting(defaults.get(key))} → {_setting(mine.get(key))}"
                   for key in sorted(set(defaults) | set(mine)) if defaults.get(key) != mine.get(key)]
        rows.append((f"chapter `{chapter}` defaults", "; ".join(changed) or "(unchanged)"))
    if spec.chapter_recipes is not None:
        rows.append(("recipes the Table 5 chapters train", "only " + ", ".join(spec.chapter_recipes)))
    changed = [f"{setup}: every {_steps(paper.probe_every[setup])} → every {_steps(spec.probe_every[setup])}"
               for setup in paper.probe_every if paper.probe_every[setup] != spec.probe_every[setup]]
    if spec.probe_per_class is not None:
        changed.append(f"at most {spec.probe_per_class} examples per class")
    rows.append(("mutual-information probe", "; ".join(changed) or "(unchanged)"))
    rows.append(("stored runs shown beside this profile's",
                 ", ".join(f"`{p}`" for p in spec.shown_beside) or "none"))
    return rows
