"""lsbook.schedule: a run's length and learning rate per optimiser step, from the registry's sizes."""

from __future__ import annotations

import pytest

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
    smoke = schedule_of(resolve("alexnet-cifar10", "smoke"))  # milestones (1, 1): ×0.01 after epoch 1
    assert smoke.factor(smoke.steps_per_epoch - 1) == 1.0
    assert smoke.factor(smoke.steps_per_epoch) == pytest.approx(0.01)


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
