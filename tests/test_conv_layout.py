"""Networks with convolutions are built channels-last (lsbook.models.common.conv_layout).

The layout changes how oneDNN computes the convolutions, not what they compute: a channels-last
ResNet trains within fp32 rounding of the same network in PyTorch's default layout, and a run in it
is exactly as reproducible (killed and resumed, it ends bitwise equal to an uninterrupted run).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lsbook.errors import LsbookError
from lsbook.models import build
from lsbook.models.common import CONV_LAYOUT_ENV, conv_layout, layout_name, to_conv_layout
from lsbook.profiles import resolve, scale_length
from lsbook.run_config import RunConfig
from lsbook.store import Store
from lsbook.train import ensure_run
from test_train import arrays_equal, without_timing

REPO = Path(__file__).resolve().parents[1]
CONV_MODELS = ("resnet56", "alexnet")


@pytest.fixture(autouse=True)
def default_layout(monkeypatch):
    """Every test starts from the default: no $LSBOOK_CONV_LAYOUT."""
    monkeypatch.delenv(CONV_LAYOUT_ENV, raising=False)


def weights_4d(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters() if p.dim() == 4}


def is_channels_last(tensor: torch.Tensor) -> bool:
    """Strides of NHWC and not those of NCHW (a 1x1 kernel can be both; it tells nothing)."""
    return tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous()


# --- which layout ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CONV_MODELS)
def test_conv_nets_are_built_channels_last_by_default(name, monkeypatch):
    model = build(name, 10)
    weights = weights_4d(model)
    assert weights and conv_layout() == "channels_last" and layout_name(model) == "channels_last"
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights.values())
    assert any(is_channels_last(w) for w in weights.values())
    images = torch.randn(2, 3, 32 if name == "resnet56" else 24, 32 if name == "resnet56" else 24)
    assert model(images).shape == (2, 10)
    monkeypatch.setenv(CONV_LAYOUT_ENV, "")  # empty: the default
    assert layout_name(build(name, 10)) == "channels_last"


@pytest.mark.parametrize("name", CONV_MODELS)
def test_contiguous_layout_on_request(name, monkeypatch):
    monkeypatch.setenv(CONV_LAYOUT_ENV, "contiguous")
    model = build(name, 10)
    assert conv_layout() == "contiguous" and layout_name(model) == "contiguous"
    assert all(w.is_contiguous() and not is_channels_last(w) for w in weights_4d(model).values())
    monkeypatch.delenv(CONV_LAYOUT_ENV)
    assert layout_name(to_conv_layout(model)) == "channels_last"             # the default, explicitly
    assert layout_name(to_conv_layout(model, "contiguous")) == "contiguous"


@pytest.mark.parametrize("value", ["nhwc", "Channels_Last", "channels-last"])
def test_a_bad_layout_names_the_variable_and_the_choices(value, monkeypatch):
    monkeypatch.setenv(CONV_LAYOUT_ENV, value)
    for name in CONV_MODELS:
        with pytest.raises(LsbookError) as caught:
            build(name, 10)
        message = str(caught.value)
        assert "LSBOOK_CONV_LAYOUT" in message and repr(value) in message
        assert "channels_last" in message and "contiguous" in message and "\n" not in message


def test_the_fcn_is_unaffected(monkeypatch):
    torch.manual_seed(0)
    default = build("fcn", 10)
    assert layout_name(default) == "contiguous" and not weights_4d(default)
    monkeypatch.setenv(CONV_LAYOUT_ENV, "contiguous")
    torch.manual_seed(0)
    contiguous = build("fcn", 10)
    assert layout_name(contiguous) == "contiguous"
    for (name, a), b in zip(default.state_dict().items(), contiguous.state_dict().values()):
        assert a.is_contiguous() and a.stride() == b.stride() and torch.equal(a, b), name


# --- same numbers, within fp32 rounding ---------------------------------------------------------------

def sgd_steps(model: torch.nn.Module, batches) -> list[float]:
    """Three steps of the ResNet recipe's optimiser (SGD, Nesterov momentum 0.9, weight decay), in
    train mode (batch statistics); the losses."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    model.train()
    losses = []
    for images, labels in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name, kwargs", [
    # ResNet-56's blocks, one per stage (depth 8): the real depth at random initialisation on noise is
    # so ill-conditioned that fp32 itself drifts from fp64 by 1e-2 in three such steps, in either layout
    ("resnet56", {"width": 16, "stem_kernel": 3, "blocks_per_stage": 1}),
    ("alexnet", {}),
])
def test_channels_last_trains_as_the_default_layout_within_fp32_rounding(name, kwargs, monkeypatch):
    """Same initial weights, same batches, three SGD steps: equal within fp32 rounding, not bitwise.

    The convolutions and batch norms sum in another order in each layout (a few 1e-7 relative per
    operation). The losses agree to 1e-4 relative. The weights agree to 1e-3: a ReLU input within
    that rounding of 0 can land on the other side of it in one layout (measured: one element of
    73,728 at the final BN in some draws), which changes that element's gradient by all of it and
    so moves a weight by up to a few 1e-4 after three steps of lr 0.1 (measured up to 4.7e-4); a
    real layout fault (a kernel read in the wrong order) moves them by 1e-2 or more."""
    monkeypatch.setenv(CONV_LAYOUT_ENV, "contiguous")
    torch.manual_seed(7)
    reference = build(name, 10, **kwargs)
    monkeypatch.delenv(CONV_LAYOUT_ENV)
    fast = build(name, 10, **kwargs)
    fast.load_state_dict(reference.state_dict())  # the same initial weights, kept in fast's layout
    assert (layout_name(reference), layout_name(fast)) == ("contiguous", "channels_last")
    start = {key: value.clone() for key, value in reference.state_dict().items()}
    for key, value in fast.state_dict().items():
        assert torch.equal(value, start[key]), key
    generator = torch.Generator().manual_seed(11)
    batches = [(torch.randn(32, 3, 24, 24, generator=generator),  # CIFAR crops, NCHW as the loop feeds them
                torch.randint(0, 10, (32,), generator=generator)) for _ in range(3)]

    losses = sgd_steps(reference, batches), sgd_steps(fast, batches)
    assert layout_name(fast) == "channels_last"                      # training kept the layout
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4, atol=0)     # tolerance, never bitwise
    ended = fast.state_dict()
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(ended[key], value, rtol=1e-3, atol=1e-3, msg=lambda m, key=key: f"{key}: {m}")
    moved = max(float((p.detach() - start[key]).abs().max()) for key, p in reference.named_parameters())
    assert moved > 1e-2                                                # the weights did move, well past it


# --- a channels-last run, killed and resumed ----------------------------------------------------------

RECIPE = "resnet56-cifar10-jpeg"
# A smoke ResNet made tiny (depth 8), on synthetic stand-ins of the re-encode's shape, 3 epochs of
# 2 steps: the recipe counts steps, so its length is total_steps with the lr milestones scaled as
# lsbook.profiles.scale_length scales them (checked below).
KILLABLE_OVERRIDES = {
    "model_kwargs": {"width": 16, "stem_kernel": 3, "blocks_per_stage": 1},
    "train_subset": 256, "val_subset": 64, "test_subset": 64, "synthetic_data": True,
    "total_steps": 6, "lr_milestone_steps": (3, 4),
}
KILLABLE = textwrap.dedent("""
    import sys, time
    from lsbook.store import Store
    from lsbook.run_config import RunConfig
    from lsbook.train import ensure_run
    root, delay = sys.argv[1], float(sys.argv[2])
    config = RunConfig.of(RECIPE, 0.1, 3, "smoke", overrides=OVERRIDES, probe="sleep")
    record = ensure_run(config, store=Store(root + "/results"), runs_root=root + "/runs", progress=False,
                        device="cpu", step_callback=lambda step, model: time.sleep(delay))
    print(record.key)
""")


def test_killable_overrides_are_the_profile_length_of_three_epochs():
    smoke = resolve(RECIPE, "smoke")
    tiny = dataclasses.replace(smoke, **{k: v for k, v in KILLABLE_OVERRIDES.items()
                                         if k not in ("total_steps", "lr_milestone_steps")})
    assert scale_length(tiny, {"epochs": 3}) == {"epochs": None, "total_steps": 6, "lr_milestone_steps": (3, 4)}
    recipe = RunConfig.of(RECIPE, 0.1, 3, "smoke", overrides=KILLABLE_OVERRIDES, probe="sleep").recipe
    assert (recipe.dataset, recipe.model, recipe.synthetic_data, recipe.batch_size) == \
        ("cifar10-jpeg", "resnet56", True, 128)


@pytest.mark.slow
def test_sigkilled_channels_last_resnet_resumes_bitwise_equal_to_an_uninterrupted_run(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(f"RECIPE = {RECIPE!r}\nOVERRIDES = {KILLABLE_OVERRIDES!r}\n" + KILLABLE)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(CONV_LAYOUT_ENV, None)
    command = [sys.executable, str(script)]
    config = RunConfig.of(RECIPE, 0.1, 3, "smoke", overrides=KILLABLE_OVERRIDES, probe="sleep")
    victim = subprocess.Popen(command + [str(tmp_path / "killed"), "0.4"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "runs" / config.key / "checkpoint.pt"
    deadline = time.time() + 180
    while not checkpoint.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.4)  # into the second epoch (2 steps of at least 0.4 s each)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    state = torch.load(checkpoint, weights_only=False)
    assert state["epoch"] == 1 and state["global_step"] == 2
    assert Store(tmp_path / "killed" / "results").get(config.key) is None

    subprocess.run(command + [str(tmp_path / "killed"), "0"], env=env, check=True, capture_output=True)
    whole = ensure_run(config, store=Store(tmp_path / "whole" / "results"), runs_root=tmp_path / "whole" / "runs",
                       progress=False, device="cpu", step_callback=lambda step, model: None)
    resumed = Store(tmp_path / "killed" / "results").get(config.key)
    assert resumed.provenance["resumes"] == 1 and whole.provenance["resumes"] == 0
    assert resumed.provenance["memory_layout"] == whole.provenance["memory_layout"] == "channels_last"
    assert resumed.config["resolved_recipe"]["dataset"] == "cifar10-jpeg"
    assert resumed.config["resolved_recipe"]["synthetic_data"] is True
    assert resumed.metrics["steps"] == 6 and len(resumed.metrics["history"]) == 3
    arrays_equal(whole, resumed)
    assert without_timing(whole.metrics["history"]) == without_timing(resumed.metrics["history"])
    for name in ("test_accuracy", "test_nll", "test_ece", "val_temperature"):
        assert whole.metrics[name] == resumed.metrics[name]
