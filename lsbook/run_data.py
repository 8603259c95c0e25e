"""The data of an image-classifier run: the three splits held in memory on the training device,
profile subsets applied, with the dataset's batched transforms (or a synthetic stand-in at smoke)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import torch

from lsbook.errors import LsbookError
from lsbook.recipes import Recipe

SUBSET_SEED = 20231101  # which examples a profile's subset keeps: fixed, not the run's seed
SYNTHETIC_SEED = 4242  # smoke stand-in images: fixed
SYNTHETIC_SIZES = {"train": 512, "val": 256, "test": 256}


@dataclass
class RunData:
    """The three splits of a run in memory (uint8 images on the training device) + transforms."""

    train: tuple[torch.Tensor, torch.Tensor]  # images uint8 [N,C,H,W], labels int64 [N]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    class_names: list[str]
    transforms: Any  # lsbook.data.augment.Transforms


def _subset(images: torch.Tensor, labels: torch.Tensor, size: int | None, salt: int):
    """The first ``size`` examples of a fixed permutation (sorted), or everything."""
    if size is None or size >= len(labels):
        return images, labels
    generator = torch.Generator().manual_seed(SUBSET_SEED + salt)
    keep = torch.randperm(len(labels), generator=generator)[:size].sort().values
    return images[keep], labels[keep]


def synthetic_split(dataset: str, split: str, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Smoke stand-in: per-class random templates plus noise, uint8 of the dataset's image shape."""
    from lsbook.data.registry import get_dataset

    info = get_dataset(dataset)
    count = size or SYNTHETIC_SIZES[split]
    generator = torch.Generator().manual_seed(SYNTHETIC_SEED + ("train", "val", "test").index(split))
    templates = torch.randint(0, 256, (info.num_classes, *info.image_shape),
                              generator=torch.Generator().manual_seed(SYNTHETIC_SEED))
    labels = torch.randint(0, info.num_classes, (count,), generator=generator)
    noise = torch.randint(-60, 61, (count, *info.image_shape), generator=generator)
    images = (templates[labels] + noise).clamp(0, 255).to(torch.uint8)
    return images, labels


@functools.lru_cache(maxsize=3)
def _load_split(name: str, split: str, original_split: bool):
    """lsbook.data.load_split, kept in memory for the next run of a sweep (one dataset's splits)."""
    from lsbook.data.load import load_split

    return load_split(name, split, original_split=original_split)


def load_run_data(recipe: Recipe, device: torch.device) -> RunData:
    """The splits a recipe trains and evaluates on (profile subsets applied), on ``device``."""
    from lsbook.data.augment import make_transforms
    from lsbook.data.registry import get_dataset

    info = get_dataset(recipe.dataset)
    if info.kind != "image":
        raise LsbookError(f"recipe {recipe.name!r} trains on {info.kind} data; lsbook.train handles "
                          "image classifiers (the Transformer is lsbook.translation.run)")
    sizes = {"train": recipe.train_subset, "val": recipe.val_subset, "test": recipe.test_subset}
    splits, class_names = {}, list(info.class_names)
    for salt, split in enumerate(("train", "val", "test")):
        if recipe.synthetic_data:
            images, labels = synthetic_split(info.name, split, sizes[split])
            class_names = class_names or [f"class {k}" for k in range(info.num_classes)]
        else:
            loaded = _load_split(info.name, split, recipe.original_split)
            images, labels = loaded.images, loaded.labels
            class_names = list(loaded.class_names)
        if split == "train" and recipe.train_on_holdout:  # the hold-out trains too (its own split stays)
            held = _load_split(info.name, "val", recipe.original_split)
            images, labels = torch.cat([images, held.images]), torch.cat([labels, held.labels])
        images, labels = _subset(images, labels, sizes[split], salt)
        splits[split] = (images.to(device).contiguous(), labels.to(device))
    transforms = make_transforms(info.name)
    if recipe.shift_distribution == "rounded":
        transforms = dataclasses.replace(transforms, shift_rounded=True)
    return RunData(splits["train"], splits["val"], splits["test"], class_names, transforms)



def symmetric_label_noise(labels: torch.Tensor, rate: float, num_classes: int, seed: int) -> torch.Tensor:
    """``labels`` with each one replaced, with probability ``rate``, by a class drawn uniformly from all
    ``num_classes`` (so about rate·(K−1)/K of them change); the draws come from ``seed`` alone."""
    generator = torch.Generator().manual_seed(int(seed))
    replace = torch.rand(len(labels), generator=generator) < rate
    drawn = torch.randint(num_classes, (len(labels),), generator=generator)
    return torch.where(replace.to(labels.device), drawn.to(labels.device), labels)
