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
        if self.kind == "linear_epochs":  # the same, lowered at the start of each epoch only
            return 1.0 - (step // self.steps_per_epoch) / self.epochs
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


# --- How long a run takes on this project's machine -----------------------------------------------------

@dataclass(frozen=True)
class MeasuredSpeed:
    """How fast a model trains on this project's machine (2-core AMD EPYC, AVX-512, 2 threads,
    channels-last convolutions, otherwise idle): seconds per optimiser step at ``batch`` examples of
    ``pixels`` per image, and per evaluated example."""

    step_seconds: float       # one training step (forward, backward, optimiser)
    batch: int                # examples per measured step
    pixels: int               # H×W of the measured inputs (convolutions scale with it)
    eval_seconds: float       # one example of the per-epoch evaluation (0: included in step_seconds)
    source: str               # what was measured, when


MEASURED_SPEED: dict[str, MeasuredSpeed] = {
    "resnet56": MeasuredSpeed(0.26, 128, 24 * 24, 0.26 / 128 / 3,
                              "2026-12-08, the last epochs of the first resnet56-cifar10-jpeg run on a quiet "
                              "machine: 98-113 s for 352 steps and the evaluation of 15,000 images (an isolated "
                              "step takes 0.185 s: the engine's epoch costs 1.4x that; bench/README.md)"),
    "alexnet": MeasuredSpeed(0.088, 128, 24 * 24, 0.088 / 128 / 3,
                             "2026-12-07, median step on 24x24 crops; a forward pass taken as a third of a step"),
    "fcn": MeasuredSpeed(653 / 10_800, 512, 28 * 28, 0.0,
                         "2026-12-02, a whole paper run of fcn-fmnist (100 epochs of 108 steps, evaluation "
                         "included) in 653 s (bench/bench_fcn_epoch.py, README)"),
}
TEACHER_FORWARD_SHARE = 1 / 3  # a distilled student also runs its teacher forward on every batch


def estimated_seconds(recipe: Recipe, teacher_model: str | None = None) -> float | None:
    """Estimated wall time of one run of ``recipe`` on this project's machine (training, the per-epoch
    evaluation of the validation and test splits; a student adds its teacher's forward passes), or
    None where no speed of its model was measured here. Steps scale with batch size and pixels."""
    from lsbook.data.augment import make_transforms

    speed = MEASURED_SPEED.get(recipe.model)
    info = get_dataset(recipe.dataset)
    if speed is None or info.kind != "image":
        return None
    _, height, width = make_transforms(info.name).output_shape
    scale = (recipe.batch_size / speed.batch) * (height * width / speed.pixels)
    step = speed.step_seconds * scale
    if teacher_model is not None:
        teacher = MEASURED_SPEED.get(teacher_model)
        if teacher is None:
            return None
        step += teacher.step_seconds * TEACHER_FORWARD_SHARE * recipe.batch_size / teacher.batch
    schedule = schedule_of(recipe)
    evaluated = (recipe.test_subset or info.test_size) + (recipe.val_subset or validation_size(info, info.train_size))
    return schedule.total_steps * step + schedule.epochs * evaluated * speed.eval_seconds * height * width / speed.pixels
