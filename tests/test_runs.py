"""lsbook.runs: the run that stands for a recipe at (α, seed), and training it with its probe."""

from __future__ import annotations

import pytest

from lsbook.experiments.distillation_grid import SETUPS, expand_grid
from lsbook.experiments.mutual_info import MI_SETUPS
from lsbook.run_config import RunConfig
from lsbook.runs import ensure, probe_setup, run_config


def test_the_resnet_variant_carries_its_probe_at_the_set_ups_alphas_only():
    setup = MI_SETUPS["resnet56-cifar10-jpeg"]
    assert setup.inside_plain_runs and setup.alphas == (0.0, 0.1)
    for alpha in (0.0, 0.1):
        config = run_config("resnet56-cifar10-jpeg", alpha, 1, "paper")
        assert config == setup.config(alpha, 1, "paper") and config.probe == setup.callback_name("paper")
        assert probe_setup(config) is setup
    plain = run_config("resnet56-cifar10-jpeg", 0.05, 1, "paper")
    assert plain.probe is None and plain == RunConfig.of("resnet56-cifar10-jpeg", 0.05, 1, "paper")
    # another length is another run, always plain; other recipes' runs stay plain
    assert run_config("resnet56-cifar10-jpeg", 0.0, 1, "paper", overrides={"total_steps": 100,
                      "lr_milestone_steps": (50, 75)}).probe is None
    assert run_config("fcn-fmnist", 0.0, 0, "paper").probe is None  # its MI runs are separate ones


def test_figure_8_on_the_jpeg_re_encode_is_taught_by_the_probed_runs():
    setup = SETUPS["resnet56-alexnet-cifar10-jpeg"]
    grid = expand_grid(setup, [0], "paper", table4=False)
    teachers = [c for c in grid if c.recipe.name == "resnet56-cifar10-jpeg"]
    assert [c.alpha for c in teachers] == [0.0, 0.1] and all(c.probe for c in teachers)
    students = [c for c in grid if c.distillation is not None]
    assert sorted((c.distillation.teacher_key == teachers[1].key, c.distillation.temperature) for c in students) == \
        [(False, 1.0), (False, 2.0), (False, 4.0), (True, 1.0)]
    assert all(c.distillation.loss == "original" and c.distillation.beta == 1.0 for c in students)
    baselines = [c for c in grid if c.recipe.name == "alexnet-cifar10-jpeg" and c.distillation is None]
    assert [c.alpha for c in baselines] == [0.0, 0.1]


def test_ensure_builds_the_probe_or_refuses_an_unknown_one(monkeypatch):
    import lsbook.runs as runs

    seen = []
    monkeypatch.setattr(runs, "ensure_probed", lambda setup, config, **kw: seen.append((setup.name, config.key)))
    config = run_config("resnet56-cifar10-jpeg", 0.0, 0, "smoke")
    ensure(config, progress=False)
    assert seen == [("resnet56-cifar10-jpeg", config.key)]
    stranger = RunConfig.of("fcn-fmnist", 0.0, 0, "smoke", probe="mutual_information(made up)")
    with pytest.raises(LookupError, match="no mutual-information set-up"):
        ensure(stranger)
