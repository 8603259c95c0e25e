"""The one training loop (lsbook.loop) on a toy task: a run killed mid-epoch resumes to the bits of
an uninterrupted one (every random state kept), callbacks leave no trace, divergence is caught,
and checkpoints of the Transformer's former trainer still resume. Seconds, no data."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import lsbook.loop as loop
from lsbook.errors import TrainingDivergedError
from lsbook.loop import Trained, run_training
from lsbook.recipes import Recipe

CPU = torch.device("cpu")
RECIPE = Recipe(name="toy", model="toy", dataset="fashion-mnist", batch_size=16, epochs=3, optimizer="sgd",
                lr=0.1, momentum=0.9, schedule="linear", grad_clip_norm=5.0)  # 64 examples: 4 steps/epoch


class ToyTask:
    """Three-class logistic data through an MLP with dropout. Its loss draws from every random
    source a run has: dropout (torch), shuffling and input noise (the loop's generator), Python's
    and NumPy's RNGs. ``legacy``: the data order fixed by epoch and no Python/NumPy draws, as the
    Transformer's former trainer; ``stop_at`` / ``nan_at``: a global step at which to be killed /
    to return a NaN loss."""

    key, recipe, alpha, seed = "toykey", RECIPE, 0.1, 7

    def __init__(self, legacy: bool = False, stop_at: int | None = None, nan_at: int | None = None):
        self.legacy, self.stop_at, self.nan_at, self.step = legacy, stop_at, nan_at, 0

    def load_data(self, device: torch.device, checkpoint: dict[str, Any] | None) -> int:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 8, generator=g)                                # [N, 8]
        self.y = (self.x[:, :3] + 0.5 * torch.randn(64, 3, generator=g)).argmax(1)  # [N]
        self.step = 4 * checkpoint["epoch"] if checkpoint else 0  # whole epochs of 4 steps
        return len(self.y)

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.legacy:
            generator = torch.Generator().manual_seed(epoch)
        order = torch.randperm(len(self.y), generator=generator)
        for start in range(0, len(order), self.recipe.batch_size):
            index = order[start:start + self.recipe.batch_size]
            yield self.x[index] + 0.1 * torch.randn(len(index), 8, generator=generator), self.y[index]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        self.step += 1
        if self.step == self.stop_at:
            raise KeyboardInterrupt
        inputs, labels = batch
        loss = nn.functional.cross_entropy(model(inputs), labels)
        if not self.legacy:
            loss = loss * (1 + 0.01 * random.random()) * (1 + 0.01 * float(np.random.rand()))
        return loss * float("nan") if self.step == self.nan_at else loss

    def train_metrics(self, losses: torch.Tensor) -> dict[str, float]:
        return {"train_loss": float(losses.mean())}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            model.eval()
            return {"val_nll": float(nn.functional.cross_entropy(model(self.x), self.y))}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {}

    def final_outputs(self, model: nn.Module, trained: Trained) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"history": trained.history, "steps": trained.global_step, "step_log": trained.step_log},
                {name: value.detach().numpy() for name, value in model.state_dict().items()})


def without_timing(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in history]


def assert_same_run(a: loop.TrainOutcome, b: loop.TrainOutcome) -> None:
    assert without_timing(a.metrics["history"]) == without_timing(b.metrics["history"])
    assert a.arrays.keys() == b.arrays.keys()
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name], err_msg=name)


def scramble_random_states() -> None:
    """Another process: every global random source somewhere else (the checkpoint must restore them)."""
    torch.manual_seed(12345)
    random.seed(12345)
    np.random.seed(12345)


def train(run_dir: Path, task: ToyTask | None = None, **kwargs: Any) -> loop.TrainOutcome:
    return run_training(task or ToyTask(), CPU, run_dir, progress=False, **kwargs)


def test_a_run_killed_mid_epoch_resumes_to_the_bits_of_an_uninterrupted_one(tmp_path):
    whole = train(tmp_path / "whole")
    assert whole.metrics["steps"] == 12 and [e["step"] for e in whole.metrics["history"]] == [4, 8, 12]
    assert whole.provenance["resumes"] == 0
    with pytest.raises(KeyboardInterrupt):  # in the second step of epoch 2: the checkpoint is epoch 1's
        train(tmp_path / "killed", ToyTask(stop_at=6))
    state = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1 and state["global_step"] == 4
    for name in ("generator", "torch_rng", "python_rng", "numpy_rng", "optimizer", "model"):
        assert state[name] is not None, name
    assert "cuda_rng" in state  # None on the CPU; the GPU states where there is one
    scramble_random_states()
    resumed = train(tmp_path / "killed")
    assert resumed.provenance["resumes"] == 1
    assert_same_run(whole, resumed)


@pytest.mark.parametrize("random_source", ["python", "numpy", "generator"])
def test_each_random_state_matters_to_a_resume(tmp_path, random_source):
    """Without its saved state a resumed run leaves the trajectory: each one is needed."""
    whole = train(tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "killed", ToyTask(stop_at=6))
    path = tmp_path / "killed" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    state[{"python": "python_rng", "numpy": "numpy_rng", "generator": "generator"}[random_source]] = None
    torch.save(state, path)
    scramble_random_states()
    resumed = train(tmp_path / "killed")
    assert without_timing(whole.metrics["history"]) != without_timing(resumed.metrics["history"])


def test_the_step_callback_sees_every_step_and_leaves_no_trace(tmp_path):
    def probe(step: int, model: nn.Module) -> dict[str, Any]:
        torch.rand(100), random.random(), np.random.rand()  # draws from the global sources ...
        assert not model.training
        return {"out": model(torch.ones(1, 8)).sum()}       # ... and a tensor result

    plain = train(tmp_path / "plain")
    probed = train(tmp_path / "probed", step_callback=probe, step_callback_every=5)
    assert [e["step"] for e in probed.metrics["step_log"]] == [0, 5, 10]
    assert isinstance(probed.metrics["step_log"][0]["value"]["out"], float)
    assert_same_run(plain, probed)


def test_divergence_names_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDivergedError, match=r"nan at epoch 2, step 3 of run toykey \(toy, alpha=0.1"):
        train(tmp_path / "run", ToyTask(nan_at=7))
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["epoch"] == 1


def test_a_checkpoint_of_the_former_transformer_trainer_still_resumes(tmp_path):
    """Its names (rng, train_seconds), no generator or step count: resumed after epoch 1, same bits."""
    whole = train(tmp_path / "whole", ToyTask(legacy=True))
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "old", ToyTask(legacy=True, stop_at=5))
    path = tmp_path / "old" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    old = {"format": state["format"], "key": state["key"], "epoch": state["epoch"], "model": state["model"],
           "optimizer": state["optimizer"], "rng": state["torch_rng"], "cuda_rng": None,
           "history": state["history"], "train_seconds": 1.0, "fingerprints": {}}
    torch.save(old, path)
    scramble_random_states()
    resumed = train(tmp_path / "old", ToyTask(legacy=True))
    assert resumed.metrics["steps"] == 12
    assert_same_run(whole, resumed)
