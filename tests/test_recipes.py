"""Recipes and profiles: the seed's Section 2.2 hyperparameters, and what profiles may change."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from lsbook.errors import LsbookError
from lsbook.profiles import PROFILES, apply_profile, resolve
from lsbook.recipes import RECIPES, Recipe, recipe_from_dict

CONTRACT_NAMES = {"fcn-mnist", "fcn-emnist", "fcn-fmnist", "alexnet-cifar10", "resnet56-cifar10",
                  "resnet56-cifar100", "resnet34-cub200", "resnet50-tinyimagenet", "transformer-multi30k"}


def test_every_contract_recipe_exists_and_validates():
    assert CONTRACT_NAMES <= set(RECIPES)
    for name, recipe in RECIPES.items():
        assert recipe.name == name
        recipe.validate()


def test_every_recipe_field_has_a_comment():
    source = inspect.getsource(Recipe).splitlines()
    for f in dataclasses.fields(Recipe):
        line = next(l for l in source if l.strip().startswith(f"{f.name}:"))
        assert "#" in line, f"field {f.name} has no comment"


def test_fcn_recipe_follows_the_seed():
    r = RECIPES["fcn-fmnist"]
    assert (r.model, r.dataset, r.batch_size, r.epochs, r.optimizer) == ("fcn", "fashion-mnist", 512, 100, "sgd")
    assert r.lr == 1.0 and r.lr_multipliers == {"head": 0.1} and r.schedule == "linear"
    assert (r.momentum, r.dampening, r.weight_decay, r.loss_multiplier) == (0.9, 0.9, 0.0, 1.0)
    assert r.model_kwargs["hidden"] == 1200 and r.model_kwargs["dropout"] == 0.0


def test_alexnet_and_resnet_recipes_follow_the_seed():
    a = RECIPES["alexnet-cifar10"]
    assert (a.batch_size, a.total_steps, a.lr, a.lr_milestone_steps, a.lr_gamma) == (
        128, 390_000, 0.1, (130_000, 260_000), 0.1)
    assert a.momentum == 0.0 and a.loss_multiplier == 3.0
    assert a.weight_decay == 0.04 and a.weight_decay_on == ("fc1.weight", "fc2.weight")
    for name, stem in (("resnet56-cifar10", 3), ("resnet56-cifar100", 7)):
        r = RECIPES[name]
        assert (r.total_steps, r.lr_milestone_steps, r.momentum, r.nesterov) == (64_000, (32_000, 48_000), 0.9, True)
        assert (r.weight_decay, r.loss_multiplier, r.grad_clip_norm) == (1e-4, 3.0, 1.0)
        assert r.model_kwargs["stem_kernel"] == stem and r.model_kwargs["width"] == 16
    c = RECIPES["resnet34-cub200"]
    assert (c.lr, c.epochs, c.schedule, c.lr_step_epochs, c.lr_gamma, c.batch_size) == (0.3, 250, "step", 10, 0.9, 256)
    t = RECIPES["resnet50-tinyimagenet"]
    assert (t.lr, t.momentum, t.lr_step_epochs, t.lr_gamma, t.weight_decay) == (0.004, 0.9, 7, 0.5, 1e-5)
    tr = RECIPES["transformer-multi30k"]
    assert (tr.optimizer, tr.lr, tr.adam_betas, tr.adam_eps, tr.batch_size) == ("adam", 1e-4, (0.9, 0.98), 1e-9, 128)


def test_paper_profile_is_the_recipe():
    for name, recipe in RECIPES.items():
        assert resolve(name, "paper") == recipe


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_smoke_profile_is_small_and_scales_schedules(name):
    from lsbook.schedule import schedule_of

    paper, smoke = RECIPES[name], resolve(name, "smoke")
    assert schedule_of(smoke).epochs <= 2 and smoke.train_subset <= 512 and smoke.test_subset <= 256
    assert smoke.val_subset <= 256 and smoke.batch_size <= 128
    assert all(1 <= m <= smoke.epochs for m in smoke.lr_milestones)
    assert all(1 <= m <= smoke.total_steps for m in smoke.lr_milestone_steps)
    assert len(smoke.lr_milestones) == len(paper.lr_milestones)
    assert len(smoke.lr_milestone_steps) == len(paper.lr_milestone_steps)
    assert not smoke.model_kwargs.get("pretrained", False)


def test_cpu_profile_reduces_epochs_and_scales_milestones():
    cpu = resolve("alexnet-cifar10", "cpu")
    assert cpu.total_steps == 4 * 40  # the profile's 4 epochs of its 5,000 examples in batches of 128
    # milestones keep their place in training: 1/3 and 2/3 of the way
    for m, paper_m in zip(cpu.lr_milestone_steps, RECIPES["alexnet-cifar10"].lr_milestone_steps):
        assert abs(m / cpu.total_steps - paper_m / 390_000) <= 0.5 / cpu.total_steps + 1e-9
    cub = resolve("resnet34-cub200", "cpu")
    assert (cub.epochs, cub.lr_step_epochs) == (1, 1)
    fcn = resolve("fcn-fmnist", "cpu")
    assert fcn.epochs < 100 and fcn.lr == 1.0 and fcn.schedule == "linear"


def test_resolve_rejects_unknown_names():
    with pytest.raises(LsbookError, match="recipe"):
        resolve("fcn-nope", "smoke")
    with pytest.raises(LsbookError, match="profile"):
        resolve("fcn-fmnist", "gpu")
    with pytest.raises(LsbookError):
        apply_profile(RECIPES["fcn-fmnist"], "fast")
    assert PROFILES == ("smoke", "cpu", "paper")


def test_to_dict_round_trip_and_canonical_numbers():
    recipe = RECIPES["alexnet-cifar10"]
    assert recipe_from_dict(recipe.to_dict()) == recipe
    assert recipe.replace(lr=1).to_dict() == recipe.replace(lr=1.0).to_dict()


@pytest.mark.parametrize("changes, field", [({"epochs": 0}, "epochs"), ({"batch_size": -1}, "batch_size"),
                                            ({"lr": 0.0}, "lr"), ({"optimizer": "rmsprop"}, "optimizer"),
                                            ({"grad_clip_norm": -1.0}, "grad_clip_norm"),
                                            ({"colour": 1}, "colour")])
def test_replace_validates(changes, field):
    with pytest.raises(LsbookError, match=field):
        RECIPES["fcn-fmnist"].replace(**changes)


def test_train_on_holdout_stays_out_of_the_key_until_set():
    base = resolve("fcn-fmnist", "paper")
    assert "train_on_holdout" not in base.to_dict()
    full = resolve("fcn-fmnist-full", "paper")
    assert full.to_dict()["train_on_holdout"] is True
    assert recipe_from_dict(full.to_dict()) == full


def test_train_on_holdout_trains_on_every_official_training_image():
    import torch

    from lsbook.data.roots import locate
    from lsbook.run_data import load_run_data

    if locate("fashion-mnist") is None:
        pytest.skip("Fashion-MNIST is not on this machine (Debian package dataset-fashion-mnist)")
    held_out = load_run_data(resolve("fcn-fmnist", "paper"), torch.device("cpu"))
    full = load_run_data(resolve("fcn-fmnist-full", "paper"), torch.device("cpu"))
    assert len(held_out.train[1]) == 55_000 and len(full.train[1]) == 60_000
    assert torch.equal(full.val[1], held_out.val[1])          # the same 5,000 validation images ...
    assert torch.equal(full.train[0][55_000:], held_out.val[0])  # ... now also trained on


def test_symmetric_label_noise_is_fixed_by_its_seed_and_has_its_rate():
    import torch

    from lsbook.run_data import symmetric_label_noise

    labels = torch.arange(10).repeat(5000)                     # 50,000 labels, 10 classes
    noisy = symmetric_label_noise(labels, 0.2, 10, seed=7)
    changed = float((noisy != labels).float().mean())
    assert abs(changed - 0.2 * 9 / 10) < 0.01                  # a redraw keeps the true class 1 time in 10
    assert torch.equal(noisy, symmetric_label_noise(labels, 0.2, 10, seed=7))
    assert not torch.equal(noisy, symmetric_label_noise(labels, 0.2, 10, seed=8))
    assert torch.bincount(noisy[noisy != labels], minlength=10).min() > 700  # spread over every class
    assert torch.equal(symmetric_label_noise(labels, 0.0, 10, seed=7), labels)


def test_label_noise_is_a_recipe_field_that_leaves_other_keys_alone():
    noisy = RECIPES["fcn-fmnist-noisy"]
    assert noisy.label_noise == 0.2 and "label_noise" in noisy.to_dict()
    assert "label_noise" not in RECIPES["fcn-fmnist"].to_dict()   # default: out of the key
    with pytest.raises(LsbookError, match="label_noise must be in"):
        RECIPES["fcn-fmnist"].replace(label_noise=1.0)


# --- the replication's FCN choices, as options (the Fashion-MNIST offset ablation) ---------------------------

def test_the_replications_bias_init_draws_biases_like_the_weights():
    import torch

    from lsbook.models import build

    torch.manual_seed(0)
    ours = build("fcn", 10, hidden=300, init="std", init_scale=0.03)
    torch.manual_seed(0)
    theirs = build("fcn", 10, hidden=300, init="std", init_scale=0.03, bias_init="normal")
    assert all(float(layer.bias.detach().abs().sum()) == 0 for layer in (ours.fc1, ours.fc2, ours.head))
    assert abs(float(theirs.fc1.bias.detach().std()) - 0.03) < 0.005 and torch.equal(ours.fc1.weight, theirs.fc1.weight)
    with pytest.raises(LsbookError, match="bias_init"):
        build("fcn", 10, bias_init="uniform")


def test_the_per_epoch_schedule_lowers_the_lr_once_an_epoch():
    from lsbook.schedule import schedule_of

    per_step = schedule_of(RECIPES["fcn-fmnist-full"])
    per_epoch = schedule_of(RECIPES["fcn-fmnist-full-epochlr"])
    spe = per_epoch.steps_per_epoch
    assert per_epoch.factor(0) == per_epoch.factor(spe - 1) == 1.0
    assert per_epoch.factor(spe) == pytest.approx(1 - 1 / 100) and per_epoch.factor(99 * spe) == pytest.approx(0.01)
    assert per_step.factor(spe - 1) < 1.0                      # ours falls within the epoch


def test_rounded_shifts_make_the_end_offsets_half_as_likely():
    import torch

    from lsbook.data.augment import make_transforms

    transforms = dataclasses.replace(make_transforms("fashion-mnist"), shift_rounded=True)
    image = torch.zeros((20_000, 1, 28, 28), dtype=torch.uint8)
    image[:, :, 14, 14] = 255                                   # one bright pixel in the middle
    shifted = transforms.train(image, torch.Generator().manual_seed(0))
    rows = shifted[:, 0].amax(dim=2).argmax(dim=1) - 14         # where the pixel went, per image
    share = torch.bincount(rows + 2, minlength=5).double() / len(rows)
    assert torch.allclose(share, torch.tensor([1 / 8, 1 / 4, 1 / 4, 1 / 4, 1 / 8], dtype=torch.double), atol=0.01)
    uniform = make_transforms("fashion-mnist").train(image, torch.Generator().manual_seed(0))
    rows = uniform[:, 0].amax(dim=2).argmax(dim=1) - 14
    assert torch.allclose(torch.bincount(rows + 2, minlength=5).double() / len(rows),
                          torch.full((5,), 0.2, dtype=torch.double), atol=0.01)


def test_the_ablation_recipes_change_only_their_choice():
    base = RECIPES["fcn-fmnist-full"].to_dict()
    for name, changed in (("fcn-fmnist-full-biasinit", {"model_kwargs"}), ("fcn-fmnist-full-epochlr", {"schedule"}),
                          ("fcn-fmnist-full-roundshift", {"shift_distribution"}),
                          ("fcn-fmnist-full-replication", {"model_kwargs", "schedule", "shift_distribution"})):
        fields = RECIPES[name].to_dict()
        assert {k for k in set(base) | set(fields) if base.get(k) != fields.get(k)} == changed | {"name"}, name
