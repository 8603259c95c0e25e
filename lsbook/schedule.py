"""How long a run trains and its learning rate at every optimiser step, known before any data is
loaded: the training split's size comes from the dataset registry (lsbook.data.registry) and the
split rules (lsbook.data.splits), so ``python -m lsbook plan`` and the training loop agree."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from lsbook.data.registry import get_dataset
from lsbook.data.splits import ORIGINAL_TEST_SIZE, validation_size
from lsbook.recipes import Recipe

SYNTHETIC_TRAIN_EXAMPLES = 512  # smoke stand-in data: training images when no subset is set


def train_examples(recipe: Recipe) -> int:
    """Training examples of a run of ``recipe``: the official training split less the validation
    hold-out (CIFAR with ``original_split``: less the original's 10k test images), the hold-out
    added back with ``train_on_holdout``, at most ``train_subset``."""
    info = get_dataset(recipe.dataset)
    if recipe.synthetic_data:
        return recipe.train_subset or SYNTHETIC_TRAIN_EXAMPLES
    if info.kind != "image":  # translation: every sentence pair of the training split
        count = info.train_size
    elif recipe.original_split:
        count = info.train_size - min(ORIGINAL_TEST_SIZE, info.train_size // 5)
        if recipe.train_on_holdout:  # the validation examples come from the official test split
            count += validation_size(info, info.test_size)
    else:
        held_out = validation_size(info, info.train_size)
        count = info.train_size - (0 if recipe.train_on_holdout else held_out)
    return count if recipe.train_subset is None else min(count, recipe.train_subset)


@dataclass(frozen=True)
class Schedule:
    """A run's length and learning-rate schedule, in optimiser steps."""

    train_examples: int  # examples per epoch
    steps_per_epoch: int  # ceil(train_examples / batch_size): the last batch may be smaller
    total_steps: int  # optimiser steps of the whole run
    kind: str  # the recipe's schedule: constant, linear, multistep or step
    lr_gamma: float  # factor applied at each milestone (multistep, step)
    milestone_steps: tuple[int, ...]  # 0-based steps from which the lr is multiplied by lr_gamma once more

    @property
    def epochs(self) -> int:
        """Passes over the training set that the run begins (the last one may be partial)."""
        return math.ceil(self.total_steps / self.steps_per_epoch)

    def factor(self, step: int) -> float:
        """The factor of the base learning rate at 0-based optimiser ``step``."""
        if self.kind == "linear":  # decays to 0 over all steps (seed 2.2: "linearly ... to 0")
            return 1.0 - step / self.total_steps
        if self.kind in ("multistep", "step"):
            return self.lr_gamma ** bisect.bisect_right(self.milestone_steps, step)
        return 1.0


def schedule_of(recipe: Recipe, examples: int | None = None) -> Schedule:
    """The schedule of a run of ``recipe`` on ``examples`` training examples (None: the number
    :func:`train_examples` computes from the registry)."""
    examples = train_examples(recipe) if examples is None else int(examples)
    steps_per_epoch = max(1, math.ceil(examples / recipe.batch_size))
    total = recipe.total_steps if recipe.total_steps is not None else steps_per_epoch * recipe.epochs
    if recipe.schedule == "multistep":
        milestones = recipe.lr_milestone_steps or tuple(sorted(m * steps_per_epoch for m in recipe.lr_milestones))
    elif recipe.schedule == "step":
        period = recipe.lr_step_epochs * steps_per_epoch
        milestones = tuple(range(period, total, period))
    else:
        milestones = ()
    return Schedule(examples, steps_per_epoch, total, recipe.schedule, recipe.lr_gamma, milestones)
