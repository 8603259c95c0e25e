"""How often a run checkpoints (lsbook.runtime.CheckpointCadence), resuming from a sparse checkpoint,
and the per-epoch evaluation (lsbook.evaluation.evaluate_splits) giving predict_logits' bits."""

from __future__ import annotations

import itertools

import pytest
import torch

import lsbook.loop as loop
from lsbook.errors import LsbookError
from lsbook.evaluation import evaluate_splits, evaluation_splits, predict_logits, split_metrics
from lsbook.runtime import CHECKPOINT_SECONDS, CheckpointCadence, checkpoint_seconds
from lsbook.store import Store
from lsbook.run_config import RunConfig
from lsbook.train import ensure_run


class Clock:
    """A settable clock for the cadence."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def written_epochs(seconds: float, epoch_seconds: list[float]) -> list[int]:
    """The epochs (1-based) after which a cadence of ``seconds`` writes, epochs of the given lengths."""
    clock = Clock()
    cadence = CheckpointCadence(seconds, clock=clock)
    written = []
    for epoch, duration in enumerate(epoch_seconds, 1):
        clock.now += duration
        if cadence.due(duration, last=epoch == len(epoch_seconds)):
            written.append(epoch)
            cadence.written()
    return written


def test_cadence_writes_before_the_unsaved_time_would_pass_the_interval_and_always_last():
    # 7 s epochs, 60 s: after 8 epochs 56 s are unsaved and the 9th would make 63 > 60
    assert written_epochs(60, [7.0] * 20) == [8, 16, 20]
    assert written_epochs(60, [7.0] * 3) == [3]  # a short run: only its end
    assert written_epochs(60, [90.0] * 3) == [1, 2, 3]  # epochs longer than the interval: each one
    assert written_epochs(0, [0.01] * 4) == [1, 2, 3, 4]  # 0: every epoch (the tests' setting)


@pytest.mark.parametrize("seconds,duration", list(itertools.product([10.0, 60.0], [0.5, 3.0, 7.0, 59.0, 61.0, 200.0])))
def test_a_kill_never_loses_more_than_the_interval_or_one_epoch(seconds, duration):
    """Unsaved work at any moment of a run of steady epochs: at most max(interval, one epoch)."""
    epochs = 50
    saved = [0] + written_epochs(seconds, [duration] * epochs)
    worst = max(b - a for a, b in zip(saved, saved[1:])) * duration  # killed just before a write
    assert worst <= max(seconds, duration) + 1e-9
    assert saved[-1] == epochs


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("LSBOOK_CHECKPOINT_SECONDS")
    assert checkpoint_seconds() == CHECKPOINT_SECONDS == 60.0
    monkeypatch.setenv("LSBOOK_CHECKPOINT_SECONDS", " 12.5 ")
    assert checkpoint_seconds() == 12.5 and CheckpointCadence().seconds == 12.5
    for bad in ("-1", "soon", "nan", "inf"):
        monkeypatch.setenv("LSBOOK_CHECKPOINT_SECONDS", bad)
        with pytest.raises(LsbookError, match="LSBOOK_CHECKPOINT_SECONDS"):
            checkpoint_seconds()


# --- the engine ------------------------------------------------------------------------------------

SMALL_FCN = {"hidden": 100, "dropout": 0.3, "init": "std", "init_scale": 0.03}
FOUR = {"epochs": 4, "train_subset": 256, "val_subset": 128, "test_subset": 128, "model_kwargs": SMALL_FCN}


def run(tmp_path, name, **kwargs):
    return ensure_run(RunConfig.of("fcn-fmnist", 0.1, 0, "smoke", overrides=FOUR, probe="probe"),
                      store=Store(tmp_path / name / "results"), runs_root=tmp_path / name / "runs",
                      progress=False, device="cpu", **kwargs)


def without_timing(history):
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in history]


@pytest.mark.slow
def test_by_default_a_short_run_writes_only_its_last_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("LSBOOK_CHECKPOINT_SECONDS")
    epochs = []
    write = loop.write_checkpoint
    monkeypatch.setattr(loop, "write_checkpoint", lambda path, state: (epochs.append(state["epoch"]),
                                                                       write(path, state)))
    record = run(tmp_path, "a", step_callback=lambda step, model: None)
    assert epochs == [4] and len(record.metrics["history"]) == 4


@pytest.mark.slow
def test_a_run_stopped_between_sparse_checkpoints_resumes_from_the_last_and_ends_the_same(tmp_path, monkeypatch):
    """Checkpoints after epochs 2 and 4 only (a clock that moves 10 s per look, interval 15 s); a stop
    in epoch 4 resumes from epoch 2, redoes epochs 3 and 4 and ends bitwise as an uninterrupted run."""
    ticks = itertools.count(0, 10)
    monkeypatch.setattr(loop, "CheckpointCadence", lambda: CheckpointCadence(15, clock=lambda: float(next(ticks))))
    epochs = []
    write = loop.write_checkpoint
    monkeypatch.setattr(loop, "write_checkpoint", lambda path, state: (epochs.append(state["epoch"]),
                                                                       write(path, state)))

    def stop_in_epoch_four(step, model):  # 2 steps per epoch: step 7 is in epoch 4
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "stopped", step_callback=stop_in_epoch_four)
    assert epochs == [2]
    monkeypatch.setattr(loop, "CheckpointCadence", CheckpointCadence)  # the environment's: every epoch
    resumed = run(tmp_path, "stopped", step_callback=lambda step, model: None)
    assert epochs == [2, 3, 4]
    whole = run(tmp_path, "whole", step_callback=lambda step, model: None)
    assert resumed.provenance["resumes"] == 1 and whole.provenance["resumes"] == 0
    assert without_timing(resumed.metrics["history"]) == without_timing(whole.metrics["history"])
    assert set(resumed.arrays) == set(whole.arrays)
    for name in whole.arrays:
        assert resumed.arrays[name].tobytes() == whole.arrays[name].tobytes(), name
    assert {k: v for k, v in resumed.metrics.items() if k != "history"} == \
        {k: v for k, v in whole.metrics.items() if k != "history"}


# --- the per-epoch evaluation ---------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["fashion-mnist", "cifar10"])
def test_evaluate_splits_gives_the_bits_of_per_batch_preprocessing(dataset):
    from lsbook.data.augment import make_transforms
    from lsbook.models import build
    from lsbook.run_data import synthetic_split

    transforms = make_transforms(dataset)
    test, val = synthetic_split(dataset, "test", 300), synthetic_split(dataset, "val", 130)
    torch.manual_seed(0)
    if dataset == "cifar10":
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 24 * 24, 64), torch.nn.ReLU(),
                                    torch.nn.Dropout(0.5), torch.nn.Linear(64, 10))
    else:
        model = build("fcn", 10, hidden=64, dropout=0.5)
    with torch.no_grad():  # what the engine computed before: one batch at a time, concatenated
        model.eval()
        legacy = {name: torch.cat([model(transforms.eval(images[i:i + 64])) for i in range(0, len(images), 64)])
                  for name, (images, _) in (("test", test), ("val", val))}
    model.train()
    for cache_bytes in (2**30, 0):  # preprocessed once, and batch by batch
        splits = evaluation_splits({"test": test, "val": val}, transforms, cache_bytes=cache_bytes)
        assert all((s.inputs is not None) == (cache_bytes > 0) for s in splits)
        logits, metrics = evaluate_splits(model, splits, 64)
        assert not model.training and list(logits) == ["test", "val"]
        for name, labels in (("test", test[1]), ("val", val[1])):
            assert logits[name].dtype == torch.float32 and logits[name].shape == (len(labels), 10)
            assert logits[name].numpy().tobytes() == legacy[name].numpy().tobytes()
            assert {k: v for k, v in metrics.items() if k.startswith(name + "_")} == \
                split_metrics(name, legacy[name], labels)
        assert list(metrics) == [f"{s}_{m}" for s in ("test", "val") for m in ("accuracy", "nll", "ece")]
    assert predict_logits(model, test[0], transforms, 64).numpy().tobytes() == legacy["test"].numpy().tobytes()
    logits = predict_logits(model, test[0], transforms, 64)
    logits += 1  # a plain tensor, not an inference-mode one
