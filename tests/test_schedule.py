"""lsbook.schedule: a run's length and learning rate per optimiser step, from the registry's sizes."""

from __future__ import annotations

import pytest

from lsbook.errors import LsbookError
from lsbook.profiles import resolve
from lsbook.recipes import RECIPES
from lsbook.schedule import schedule_of, train_examples


def test_training_examples_follow_the_split_rules():
    assert train_examples(RECIPES["fcn-fmnist"]) == 55_000  # 60k less the 5k validation hold-out
    assert train_examples(RECIPES["fcn-fmnist-full"]) == 60_000  # the hold-out trains too
    assert train_examples(RECIPES["resnet56-cifar10"]) == 45_000
    assert train_examples(RECIPES["resnet56-cifar10"].replace(original_split=True)) == 40_000
    assert train_examples(RECIPES["resnet34-cub200"]) == 5_994 - 599  # 10 % held out
    assert train_examples(RECIPES["transformer-multi30k"]) == 29_000
    assert train_examples(resolve("alexnet-cifar10", "cpu")) == 5_000
    assert train_examples(RECIPES["fcn-fmnist"].replace(synthetic_data=True, train_subset=None)) == 512


def test_fcn_schedule_is_linear_over_every_step():
    schedule = schedule_of(RECIPES["fcn-fmnist"])
    assert (schedule.steps_per_epoch, schedule.total_steps, schedule.epochs) == (108, 10_800, 100)
    assert schedule.factor(0) == 1.0 and schedule.factor(10_799) == pytest.approx(1 / 10_800)


def test_epoch_milestones_become_steps():
    cub = schedule_of(RECIPES["resnet34-cub200"], examples=256 * 4)
    assert cub.steps_per_epoch == 4 and cub.milestone_steps[:3] == (40, 80, 120)
    assert [cub.factor(s) for s in (0, 39, 40, 80, 999)] == pytest.approx([1, 1, 0.9, 0.81, 0.9 ** 24])
    by_epoch = RECIPES["alexnet-cifar10"].replace(epochs=2, total_steps=None, lr_milestone_steps=(),
                                                  lr_milestones=(1, 1))  # ×0.01 after epoch 1
    smoke = schedule_of(by_epoch, examples=512)
    assert smoke.milestone_steps == (4, 4) and smoke.total_steps == 8
    assert smoke.factor(3) == 1.0 and smoke.factor(4) == pytest.approx(0.01)


def test_the_loop_trains_the_planned_number_of_examples():
    """The registry's count is the size of the split that the loop loads (Fashion-MNIST, here)."""
    import torch

    from lsbook.data.roots import locate
    from lsbook.run_data import load_run_data

    if locate("fashion-mnist") is None:
        pytest.skip("Fashion-MNIST is not on this machine")
    for name in ("fcn-fmnist", "fcn-fmnist-full"):
        recipe = RECIPES[name]
        assert len(load_run_data(recipe, torch.device("cpu")).train[1]) == train_examples(recipe)


# --- schedules stated in iterations -------------------------------------------------------------

def test_the_seeds_iteration_counts_imply_the_originals_40k_split():
    """Seed 2.2: "205 epochs or 64,165 iterations", "1246 epochs or 389,998 iterations", drops at
    epochs 102/153 and 415/830: whole epochs of ceil(40,000 / 128) = 313 steps."""
    from lsbook.data.registry import get_dataset
    from lsbook.data.splits import ORIGINAL_TEST_SIZE

    cifar = get_dataset("cifar10")
    original_split = RECIPES["resnet56-cifar10"].replace(original_split=True)
    assert train_examples(original_split) == cifar.train_size - ORIGINAL_TEST_SIZE == 40_000
    per_epoch = schedule_of(original_split.replace(epochs=1, total_steps=None, lr_milestone_steps=(),
                                                   schedule="constant")).steps_per_epoch
    assert per_epoch == 313
    assert (205 * per_epoch, 1246 * per_epoch) == (64_165, 389_998)
    # the seed's milestone epochs are the original's 32k / 48k and 130k / 260k, to within an epoch
    for epochs, steps in ((102, 32_000), (153, 48_000), (415, 130_000), (830, 260_000)):
        assert abs(epochs * per_epoch - steps) < per_epoch
    # with our split (45,000 training images) the epoch counts would train 12.5 % longer
    ours = schedule_of(RECIPES["resnet56-cifar10"])
    assert (ours.train_examples, ours.steps_per_epoch) == (45_000, 352)
    assert (205 * 352, 1246 * 352) == (72_160, 438_592)


@pytest.mark.parametrize("name, total, milestones", [
    ("resnet56-cifar10", 64_000, (32_000, 48_000)),
    ("resnet56-cifar100", 64_000, (32_000, 48_000)),
    ("alexnet-cifar10", 390_000, (130_000, 260_000)),
])
def test_cifar_schedules_are_the_originals_steps(name, total, milestones):
    schedule = schedule_of(RECIPES[name])
    assert (schedule.total_steps, schedule.milestone_steps) == (total, milestones)
    first, second = milestones
    assert [schedule.factor(s) for s in (0, first - 1, first, second - 1, second, total - 1)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])
    assert schedule.epochs == -(-total // 352)  # the last epoch is partial


def test_profiles_scale_step_schedules():
    cpu, smoke = schedule_of(resolve("resnet56-cifar10", "cpu")), schedule_of(resolve("resnet56-cifar10", "smoke"))
    assert (cpu.steps_per_epoch, cpu.total_steps, cpu.milestone_steps) == (16, 48, (24, 36))
    assert (smoke.total_steps, smoke.milestone_steps, smoke.epochs) == (4, (2, 3), 2)


def test_a_recipe_has_one_length():
    with pytest.raises(LsbookError, match="either epochs or total_steps"):
        RECIPES["fcn-fmnist"].replace(total_steps=10)
    with pytest.raises(LsbookError, match="total_steps must be an integer >= 1"):
        RECIPES["fcn-fmnist"].replace(epochs=None, total_steps=0)
    with pytest.raises(LsbookError, match="lr_milestone_steps"):
        RECIPES["resnet56-cifar10"].replace(lr_milestone_steps=(48_000, 32_000))
    assert "total_steps" not in RECIPES["fcn-fmnist"].to_dict()
    assert RECIPES["alexnet-cifar10"].to_dict()["total_steps"] == 390_000


# --- estimated run time on this project's machine ------------------------------------------------------

def test_estimated_time_follows_steps_pixels_and_evaluation():
    from lsbook.schedule import MEASURED_SPEED, estimated_seconds

    resnet = RECIPES["resnet56-cifar10-jpeg"]
    speed = MEASURED_SPEED["resnet56"]
    half = resnet.replace(total_steps=resnet.total_steps // 2, lr_milestone_steps=(3520, 5280))
    full_time, half_time = estimated_seconds(resnet), estimated_seconds(half)
    evaluation = 15_000 * speed.eval_seconds  # 10,000 test + 5,000 validation images per epoch
    assert full_time == pytest.approx(resnet.total_steps * speed.step_seconds + 40 * evaluation)
    assert half_time == pytest.approx(full_time / 2)
    # CIFAR-100's 32x32 crops cost (32/24)^2 as much per step as CIFAR-10's 24x24 ones
    per_step_100 = estimated_seconds(RECIPES["resnet56-cifar100"]) / RECIPES["resnet56-cifar100"].total_steps
    assert per_step_100 > speed.step_seconds * (32 / 24) ** 2
    assert estimated_seconds(RECIPES["transformer-multi30k"]) is None  # no speed measured here
