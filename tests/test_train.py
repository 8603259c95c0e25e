"""The training loop: records, determinism, exact resume after SIGKILL, divergence, hooks."""

from __future__ import annotations

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

import lsbook.loop as loop
import lsbook.train as train
from lsbook.errors import LsbookError, TrainingDivergedError
from lsbook.recipes import RECIPES
from lsbook.store import Store
from lsbook.optimisation import parameter_groups
from lsbook.run_config import RunConfig
from lsbook.train import ensure_run

# Tiny runs: a few hundred examples, FCN on Fashion-MNIST (synthetic stand-ins if it is missing).
SMALL_FCN = {"hidden": 100, "dropout": 0.0, "init": "std", "init_scale": 0.03}
TINY = {"epochs": 2, "train_subset": 256, "val_subset": 128, "test_subset": 128, "model_kwargs": SMALL_FCN}
REPO = Path(__file__).resolve().parents[1]


CONFIG_ARGS = ("overrides", "teacher", "distill_temperature", "distill_loss", "beta", "probe")


def run(tmp_path: Path, name: str = "a", alpha: float = 0.1, seed: int = 0, **kwargs):
    """A tiny fcn-fmnist run at smoke; ``kwargs`` are RunConfig.of's (CONFIG_ARGS) and ensure_run's."""
    kwargs.setdefault("overrides", TINY)
    config = RunConfig.of("fcn-fmnist", alpha, seed, "smoke", **{k: kwargs.pop(k) for k in CONFIG_ARGS if k in kwargs})
    return ensure_run(config, store=Store(tmp_path / name / "results"), runs_root=tmp_path / name / "runs",
                      progress=False, device="cpu", **kwargs)


def arrays_equal(a, b) -> None:
    assert set(a.arrays) == set(b.arrays)
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name], err_msg=name)


def without_timing(history):
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in history]


@pytest.mark.slow
def test_a_run_yields_a_complete_record(tmp_path):
    record = run(tmp_path)
    c, m, a = record.config, record.metrics, record.arrays
    assert (c["recipe"], c["profile"], c["alpha"], c["seed"]) == ("fcn-fmnist", "smoke", 0.1, 0)
    assert c["resolved_recipe"]["train_subset"] == 256 and c["resolved_recipe"]["epochs"] == 2
    assert len(m["history"]) == 2 and m["steps"] == 2 * 2  # 256 examples / batch 128
    for split in ("test", "val"):
        assert 0.0 <= m[f"{split}_accuracy"] <= 1.0 and m[f"{split}_nll"] > 0 and 0 <= m[f"{split}_ece"] <= 1
    assert a["test_logits"].shape == (128, 10) and a["test_logits"].dtype == np.float32
    assert a["val_logits"].shape == (128, 10) and a["test_labels"].shape == (128,)
    assert set(np.unique(a["train_feature_labels"])) <= {0, 1, 2}
    assert a["train_features"].shape == (len(a["train_feature_labels"]), 100)
    assert np.bincount(a["test_feature_labels"]).max() <= 100
    assert (a["train_features"] >= 0).all()  # post-ReLU, as the head sees them
    assert a["head_weight"].shape == (10, 100) and a["head_bias"].shape == (10,)
    assert record.provenance["torch_version"] == torch.__version__ and record.provenance["wall_seconds"] > 0
    # the accuracy stored is the accuracy of the stored logits
    assert m["test_accuracy"] == pytest.approx(float((a["test_logits"].argmax(1) == a["test_labels"]).mean()))


@pytest.mark.slow
def test_a_stored_run_is_returned_without_training(tmp_path, monkeypatch):
    first = run(tmp_path)
    monkeypatch.setattr(train, "run_training", lambda *a, **k: pytest.fail("trained again"))
    again = run(tmp_path)
    assert again.key == first.key


@pytest.mark.slow
def test_same_seed_same_bits_other_seed_other_bits(tmp_path):
    a, b, c = run(tmp_path, "a"), run(tmp_path, "b"), run(tmp_path, "c", seed=1)
    arrays_equal(a, b)
    assert not np.array_equal(a.arrays["test_logits"], c.arrays["test_logits"])


KILLABLE = textwrap.dedent("""
    import sys, time
    from lsbook.store import Store
    from lsbook.run_config import RunConfig
    from lsbook.train import ensure_run
    root, delay = sys.argv[1], float(sys.argv[2])
    config = RunConfig.of("fcn-fmnist", 0.1, 3, "smoke", overrides=OVERRIDES, probe="sleep")
    record = ensure_run(config, store=Store(root + "/results"), runs_root=root + "/runs", progress=False,
                        device="cpu", step_callback=lambda step, model: time.sleep(delay))
    print(record.key)
""")
KILLABLE_OVERRIDES = {"epochs": 3, "train_subset": 384, "model_kwargs": {**SMALL_FCN, "dropout": 0.3}}


@pytest.mark.slow
def test_sigkill_and_restart_ends_bitwise_equal_to_an_uninterrupted_run(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(f"OVERRIDES = {KILLABLE_OVERRIDES!r}\n" + KILLABLE)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(script)]
    key = RunConfig.of("fcn-fmnist", 0.1, 3, "smoke", overrides=KILLABLE_OVERRIDES, probe="sleep").key
    victim = subprocess.Popen(command + [str(tmp_path / "killed"), "0.25"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "runs" / key / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.4)  # into the second epoch (3 steps of 0.25 s each)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 1
    assert Store(tmp_path / "killed" / "results").get(key) is None

    subprocess.run(command + [str(tmp_path / "killed"), "0"], env=env, check=True, capture_output=True)
    whole = ensure_run(RunConfig.of("fcn-fmnist", 0.1, 3, "smoke", overrides=KILLABLE_OVERRIDES, probe="sleep"),
                       store=Store(tmp_path / "whole" / "results"), runs_root=tmp_path / "whole" / "runs",
                       progress=False, device="cpu", step_callback=lambda step, model: None)
    resumed = Store(tmp_path / "killed" / "results").get(key)
    assert resumed.provenance["resumes"] == 1 and whole.provenance["resumes"] == 0
    arrays_equal(whole, resumed)
    assert without_timing(whole.metrics["history"]) == without_timing(resumed.metrics["history"])
    for name in ("test_accuracy", "test_nll", "test_ece", "val_temperature"):
        assert whole.metrics[name] == resumed.metrics[name]


@pytest.mark.slow
def test_divergence_names_epoch_and_step_and_stores_nothing(tmp_path):
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, step \d+"):
        run(tmp_path, overrides={**TINY, "lr": 1e30})
    assert Store(tmp_path / "a" / "results").folders() == []


@pytest.mark.slow
def test_step_callback_sees_steps_and_does_not_change_the_trajectory(tmp_path):
    seen = []

    def probe(step, model):
        seen.append(step)
        torch.rand(1000)  # consumes the global RNG: must not leak into training
        x = torch.zeros(4, 1, 28, 28)
        return {"mean_logit": model(x).mean()}

    dropout = {**TINY, "model_kwargs": {**SMALL_FCN, "dropout": 0.5}}
    plain = run(tmp_path, "plain", overrides=dropout)
    probed = run(tmp_path, "probed", overrides=dropout,
                 step_callback=probe, probe="probe", step_callback_every=2)
    assert seen == [0, 2, 4]
    assert [e["step"] for e in probed.metrics["step_log"]] == [0, 2, 4]
    assert isinstance(probed.metrics["step_log"][0]["value"]["mean_logit"], float)
    assert probed.key != plain.key and probed.config["step_callback"] == "probe"
    arrays_equal(plain, probed)
    with pytest.raises(LsbookError, match="probe"):
        run(tmp_path, step_callback=probe)


@pytest.mark.slow
def test_distillation_student_records_its_teacher(tmp_path):
    teacher = run(tmp_path, "t", alpha=0.1, keep_model=True)
    assert teacher.has_model
    model = train.load_model(teacher)
    logits = model(torch.zeros(2, 1, 28, 28))
    assert logits.shape == (2, 10)
    student_overrides = {**TINY, "model_kwargs": {**SMALL_FCN, "hidden": 80}, "augment": False}
    student = run(tmp_path, "t", alpha=0.0, teacher=teacher, distill_temperature=2.0, overrides=student_overrides)
    assert student.config["teacher_key"] == teacher.key
    assert student.config["distill"] == {"loss": "replication", "temperature": 2.0, "beta": 0.6}
    original = run(tmp_path, "t", alpha=0.0, teacher=teacher, distill_loss="original", overrides=student_overrides)
    assert original.config["distill"]["beta"] == 1.0 and original.key != student.key
    plain = run(tmp_path, "t", alpha=0.0, overrides=student_overrides)
    assert not np.array_equal(plain.arrays["test_logits"], student.arrays["test_logits"])
    with pytest.raises(LsbookError, match="alpha must be 0"):
        run(tmp_path, "t", alpha=0.1, teacher=teacher)


@pytest.mark.parametrize("kwargs, match", [({"alpha": 1.0}, "alpha"), ({"alpha": -0.1}, "alpha"),
                                           ({"seed": -1}, "seed"), ({"profile": "gpu"}, "profile"),
                                           ({"recipe": "nope"}, "recipe"),
                                           ({"overrides": {"epochs": 0}}, "epochs"),
                                           ({"distill_temperature": 2.0}, "teacher")])
def test_bad_arguments_are_rejected_before_anything_is_written(tmp_path, kwargs, match):
    args = {"recipe": "fcn-fmnist", "alpha": 0.1, "seed": 0, "profile": "smoke", **kwargs}
    with pytest.raises(LsbookError, match=match):
        config = RunConfig.of(args.pop("recipe"), args.pop("alpha"), args.pop("seed"), args.pop("profile"), **args)
        ensure_run(config, store=Store(tmp_path / "results"), runs_root=tmp_path / "runs", progress=False)
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_parameter_groups_follow_the_recipe():
    from lsbook.models import build

    alexnet = build("alexnet", 10)
    groups = parameter_groups(alexnet, RECIPES["alexnet-cifar10"])
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(alexnet.fc1.weight), id(alexnet.fc2.weight)}
    fcn = build("fcn", 10, hidden=8)
    groups = parameter_groups(fcn, RECIPES["fcn-fmnist"])
    slow = {id(p) for g in groups if g["lr_multiplier"] == 0.1 for p in g["params"]}
    assert slow == {id(fcn.head.weight), id(fcn.head.bias)}
    assert all(g["weight_decay"] == 0 for g in groups)


@pytest.mark.slow
def test_keep_model_later_takes_the_weights_from_the_finished_checkpoint(tmp_path, monkeypatch):
    record = run(tmp_path)
    assert not record.has_model
    monkeypatch.setattr(train, "run_training", lambda *a, **k: pytest.fail("trained again"))
    kept = run(tmp_path, keep_model=True)
    assert kept.key == record.key and kept.has_model
    x = torch.from_numpy(np.zeros((3, 1, 28, 28), np.float32))
    assert train.load_model(kept)(x).shape == (3, 10)


@pytest.mark.slow
def test_a_step_based_run_trains_exactly_its_steps_and_resumes_in_the_partial_epoch(tmp_path):
    """total_steps = 5 with 2 steps per epoch: epochs of 2, 2 and 1 step; the lr drops at step 3."""
    steps = {**TINY, "epochs": None, "total_steps": 5, "schedule": "multistep", "lr_milestone_steps": (3,),
             "lr_gamma": 0.5}
    seen: list[float] = []
    record = run(tmp_path, overrides=steps,
                 step_callback=lambda step, model: seen.append(step), probe="steps")
    m = record.metrics
    assert m["steps"] == 5 and m["epochs"] == 3 and [e["step"] for e in m["history"]] == [2, 4, 5]
    assert seen == [0, 1, 2, 3, 4, 5]
    assert [e["lr"] for e in m["history"]] == pytest.approx([1.0, 0.5, 0.5])
    # a run stopped after its second epoch resumes into the partial third and ends the same
    checkpoint = tmp_path / "b" / "runs" / RunConfig.of("fcn-fmnist", 0.1, 0, "smoke", overrides=steps).key / "checkpoint.pt"
    original_write = loop.write_checkpoint

    def stop_after_two_epochs(path, state):
        original_write(path, state)
        if state["epoch"] == 2:
            raise KeyboardInterrupt

    loop.write_checkpoint = stop_after_two_epochs
    try:
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path, "b", overrides=steps)
    finally:
        loop.write_checkpoint = original_write
    assert checkpoint.is_file()
    resumed = run(tmp_path, "b", overrides=steps)
    assert resumed.metrics["steps"] == 5
    arrays_equal(resumed, run(tmp_path, "c", overrides=steps))


def test_training_batches_are_the_examples_of_one_permutation():
    """Every epoch's batches are the training examples in the order of one seeded permutation,
    batch after batch, the last one partial (here without augmentation, to compare pixels)."""
    task = train.ClassifierTask(RunConfig.of("fcn-fmnist-student", 0.0, 0, "smoke"))
    total = task.load_data(torch.device("cpu"), None)
    images_all, labels_all = task.data.train
    batches = list(task.batches(0, torch.Generator().manual_seed(5)))
    order = torch.randperm(total, generator=torch.Generator().manual_seed(5))
    size = task.recipe.batch_size
    assert [len(labels) for _, labels in batches] == [min(size, total - s) for s in range(0, total, size)]
    for number, (inputs, labels) in enumerate(batches):
        index = order[number * size:(number + 1) * size]
        assert torch.equal(labels, labels_all[index])
        assert torch.equal(inputs, task.data.transforms.eval(images_all[index]))


@pytest.mark.slow
def test_a_noisy_run_learns_from_its_stored_noisy_labels(tmp_path, monkeypatch):
    seen = []
    original = train.ClassifierTask.loss

    def spy(self, model, batch):
        seen.append(batch[1].clone())
        return original(self, model, batch)

    monkeypatch.setattr(train.ClassifierTask, "loss", spy)
    record = run(tmp_path, overrides={**TINY, "label_noise": 0.5})
    noisy = record.arrays["train_noisy_labels"]
    assert noisy.dtype == np.uint8 and len(noisy) == 256
    assert record.config["resolved_recipe"]["label_noise"] == 0.5
    # the batches the loss saw are the stored noisy labels (as a multiset: batches are shuffled)
    assert sorted(torch.cat(seen[:2]).tolist()) == sorted(noisy.tolist())
    assert "train_noisy_labels" not in run(tmp_path, name="clean").arrays
