"""Profiles: how a recipe is scaled for where it runs (DESIGN.md, "Profiles").

- ``paper``: the recipe exactly as the replication ran it (:mod:`lsbook.recipes`).
- ``cpu``: real data, fewer epochs and smaller training subsets, so the book's runs fit a 2-core CPU;
  its numbers are real but labelled ``cpu``.
- ``smoke``: tiny subsets and 2 epochs, seconds per run, for CI; never presented as a result. Where
  the dataset is not on this machine, smoke runs use synthetic stand-in images (``synthetic_data``).

A profile changes only fields of the recipe, and :func:`lsbook.recipes.resolve` returns the changed
recipe, whose every field goes into the run's configuration and key: nothing is changed silently.
When epochs are reduced, epoch-based schedule points (milestones, step periods) are scaled with them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from lsbook.recipes import Recipe

PROFILES = ("smoke", "cpu", "paper")

# smoke: sizes that make any recipe take seconds.
SMOKE_TRAIN, SMOKE_VAL, SMOKE_TEST, SMOKE_EPOCHS, SMOKE_MAX_BATCH = 512, 256, 256, 2, 128

# cpu: per recipe, the fields that differ from the paper recipe (sized for this 2-core machine:
# the FCN row of 5 α in a few minutes; the whole book under 30 minutes).
CPU_CHANGES: dict[str, dict[str, Any]] = {
    "fcn-mnist": {"epochs": 3},
    "fcn-emnist": {"epochs": 2},
    "fcn-fmnist": {"epochs": 3},
    "fcn-fmnist-full": {"epochs": 3},
    "fcn-mnist-dropout": {"epochs": 3},
    "fcn-mnist-student": {"epochs": 3},
    "fcn-fmnist-dropout": {"epochs": 3},
    "fcn-fmnist-student": {"epochs": 3},
    "alexnet-cifar10": {"epochs": 4, "train_subset": 5000, "test_subset": 2000},
    "resnet56-cifar10": {"epochs": 3, "train_subset": 2000, "test_subset": 1000},
    "resnet56-cifar100": {"epochs": 3, "train_subset": 2000, "test_subset": 1000},
    "resnet34-cub200": {"epochs": 1, "train_subset": 200, "test_subset": 200, "val_subset": 200},
    "resnet50-tinyimagenet": {"epochs": 2, "train_subset": 2000, "test_subset": 1000,
                              "val_subset": 1000},
    "transformer-multi30k": {"epochs": 3, "model_kwargs": {
        "d_model": 128, "nhead": 4, "num_encoder_layers": 2, "num_decoder_layers": 2,
        "dim_feedforward": 256, "dropout": 0.1}},
}
# smoke: still smaller sizes for the ResNets (ResNet-56 costs ~0.4 GFLOP per training example,
# ResNet-34 on 256x256 CUB images ~14 GFLOP).
SMOKE_CHANGES: dict[str, dict[str, Any]] = {
    "resnet56-cifar10": {"train_subset": 256, "val_subset": 128, "test_subset": 128},
    "resnet56-cifar100": {"train_subset": 256, "val_subset": 128, "test_subset": 128},
    "resnet34-cub200": {"epochs": 1, "train_subset": 64, "val_subset": 32, "test_subset": 32, "batch_size": 32,
                        "eval_batch_size": 32},
    "resnet50-tinyimagenet": {"epochs": 1, "train_subset": 128, "val_subset": 64, "test_subset": 64,
                              "batch_size": 64, "eval_batch_size": 64},
}
# smoke: a tiny Transformer (the classifiers keep their architecture).
SMOKE_MODEL_KWARGS: dict[str, dict[str, Any]] = {
    "transformer": {"d_model": 32, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1,
                    "dim_feedforward": 64, "dropout": 0.1},
}


def scale_epochs(recipe: "Recipe", epochs: int) -> dict[str, Any]:
    """Field changes that set ``epochs`` and scale epoch-based schedule points proportionally."""
    changes: dict[str, Any] = {"epochs": epochs}
    ratio = epochs / recipe.epochs
    if recipe.lr_milestones:
        changes["lr_milestones"] = tuple(max(1, round(m * ratio)) for m in recipe.lr_milestones)
    if recipe.lr_step_epochs:
        changes["lr_step_epochs"] = max(1, round(recipe.lr_step_epochs * ratio))
    return changes


def _capped(value: int | None, cap: int) -> int:
    return cap if value is None else min(value, cap)


def _dataset_on_disk(name: str) -> bool:
    """Whether lsbook.data finds the whole dataset on this machine (a file-existence check)."""
    from lsbook.data.roots import locate

    try:
        return locate(name) is not None
    except Exception:  # noqa: BLE001 - an unknown dataset is reported when the run loads it
        return True


def apply_profile(recipe: "Recipe", profile: str) -> "Recipe":
    """``recipe`` scaled for ``profile`` (one of PROFILES); ``paper`` returns it unchanged."""
    if profile == "paper":
        return recipe
    if profile == "cpu":
        changes = dict(CPU_CHANGES.get(recipe.name, {}))
        if "epochs" in changes:
            changes.update(scale_epochs(recipe, changes["epochs"]))
        return dataclasses.replace(recipe, **changes)
    if profile == "smoke":
        changes = scale_epochs(recipe, min(recipe.epochs, SMOKE_EPOCHS))
        changes.update(
            train_subset=_capped(recipe.train_subset, SMOKE_TRAIN),
            val_subset=_capped(recipe.val_subset, SMOKE_VAL),
            test_subset=_capped(recipe.test_subset, SMOKE_TEST),
            batch_size=min(recipe.batch_size, SMOKE_MAX_BATCH),
            eval_batch_size=min(recipe.eval_batch_size, 256),
            synthetic_data=not _dataset_on_disk(recipe.dataset),
        )
        kwargs = dict(recipe.model_kwargs)
        kwargs.update(SMOKE_MODEL_KWARGS.get(recipe.model, {}))
        if kwargs.get("pretrained"):
            kwargs["pretrained"] = False  # no ImageNet weights needed for a smoke run
        changes["model_kwargs"] = kwargs
        extra = dict(SMOKE_CHANGES.get(recipe.name, {}))
        if "epochs" in extra:
            extra.update(scale_epochs(recipe, extra["epochs"]))
        changes.update(extra)
        return dataclasses.replace(recipe, **changes)
    from lsbook.validation import check_choice

    check_choice(profile, PROFILES, "profile")
    raise AssertionError("unreachable")
