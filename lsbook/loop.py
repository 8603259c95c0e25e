"""The one training loop: image classifiers (:mod:`lsbook.train`) and the Transformer
(:mod:`lsbook.translation.run`) are two :class:`Task` s of it.

:func:`run_training` owns what every run shares, so that it exists once:

- seeding: initialisation and dropout draw from torch's global RNG seeded with the run's seed (as
  are Python's and NumPy's); the data order (and augmentation) from one ``torch.Generator`` seeded
  from it;
- the optimiser (:func:`lsbook.optimisation.make_optimizer`) and its learning rate, set before
  every optimiser step from the schedule (:mod:`lsbook.schedule`), gradient-norm clipping;
- the divergence check (a NaN or infinite loss stops the run, naming epoch and step);
- the per-epoch history: step, lr, the task's training and evaluation metrics, seconds;
- a checkpoint, written atomically, with every state the rest of the run depends on — weights,
  optimiser, the data generator and the torch (CPU and CUDA), Python and NumPy random states — and
  resuming from it. It is written on the cadence of lsbook.runtime.CheckpointCadence: after the last
  epoch, and otherwise so that at most ~60 s of training (``$LSBOOK_CHECKPOINT_SECONDS``; 0 = every
  epoch) is ever unsaved. A run killed at any moment restarts from its last checkpoint and ends
  bitwise equal to an uninterrupted run (tests/test_loop.py, test_train.py,
  test_train_checkpoints.py, test_translation_run.py);
- the step callback (probes that watch training without changing it).

A task supplies the rest: data, model, the loss of a batch, per-epoch evaluation, the final record.
The store, the lock and the run's folder stay with the caller (:func:`lsbook.train.ensure_run`): it
decides whether a run needs training at all.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lsbook import ENGINE_VERSION
from lsbook.errors import TrainingDivergedError
from lsbook.models.common import layout_name
from lsbook.optimisation import make_optimizer
from lsbook.provenance import code_version, provenance
from lsbook.recipes import Recipe
from lsbook.runtime import CHECKPOINT_FORMAT, CheckpointCadence, read_checkpoint, write_checkpoint
from lsbook.schedule import Schedule, schedule_of

StepCallback = Callable[[int, nn.Module], Any]


class Task(Protocol):
    """The task-specific parts of a run; :func:`run_training` calls them in the order listed."""

    key: str        # the run's store key: a checkpoint of another run is never resumed
    recipe: Recipe  # optimiser, lr, schedule, batch size, length, gradient clipping
    alpha: float    # label smoothing (names the run in messages)
    seed: int

    def load_data(self, device: torch.device, checkpoint: dict[str, Any] | None) -> int:
        """Load the data onto ``device`` (a resumed run may need what its checkpoint kept, e.g.
        tokenizers); returns the number of training examples per epoch."""

    def build_model(self) -> nn.Module:
        """The network on the device, initialised from torch's global RNG (seeded by the loop)."""

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[Any]:
        """Epoch ``epoch``'s training batches in order, at least the schedule's steps per epoch (random
        draws from ``generator``, or from a source the task fixes itself); starts the epoch's
        training statistics afresh."""

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """The scalar loss of one batch in train mode (× the recipe's loss multiplier); may add to
        the epoch's training statistics."""

    def train_metrics(self, losses: torch.Tensor) -> dict[str, float]:
        """The epoch's training metrics from its per-step losses [S] and the statistics ``loss`` kept."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics of the model after an epoch, for the history (validation; test for classifiers)."""

    def checkpoint_extras(self) -> dict[str, Any]:
        """What the task itself needs from a checkpoint to resume (e.g. tokenizer fingerprints)."""

    def final_outputs(self, model: nn.Module, trained: "Trained") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The record's metrics and arrays of the trained model."""


@dataclass
class Trained:
    """Where training ended, for :meth:`Task.final_outputs`."""

    schedule: Schedule
    global_step: int
    history: list[dict[str, Any]]  # one entry per epoch
    step_log: list[dict[str, Any]]  # what the step callback returned


@dataclass
class TrainOutcome:
    """A finished run: the record's metrics, arrays and provenance, and the trained model."""

    metrics: dict[str, Any]
    arrays: dict[str, np.ndarray]
    provenance: dict[str, Any]
    model: nn.Module

    def model_state(self) -> dict[str, torch.Tensor]:
        """The final weights on the CPU (what the store keeps for teachers)."""
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}


def derived_seed(seed: int, purpose: str) -> int:
    """An independent 63-bit seed for one use of a run's seed (so streams are not the same)."""
    return int.from_bytes(hashlib.sha256(f"{purpose}:{seed}".encode()).digest()[:8], "big") >> 1


def run_label(task: Task) -> str:
    """How messages name a run: key, recipe, α and seed."""
    return f"run {task.key} ({task.recipe.name}, alpha={task.alpha:g}, seed={task.seed})"


def _json_number(value: Any) -> Any:
    """A step-callback result as plain JSON (tensors / numpy scalars -> floats)."""
    if isinstance(value, dict):
        return {str(k): _json_number(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_number(v) for v in value]
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return _json_number(value.tolist())
    return value


# --- One epoch -----------------------------------------------------------------------------------

def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, task: Task, schedule: Schedule,
                generator: torch.Generator, epoch: int, global_step: int, *,
                lr_multipliers: list[float] | None = None,
                after_step: Callable[[int], None] | None = None) -> tuple[torch.Tensor, int]:
    """One pass over the task's training batches, cut short where the schedule's last step falls.

    Before each optimiser step the lr of parameter group g is recipe.lr × multiplier_g × the
    schedule's factor (``lr_multipliers``: default, the groups' own ``lr_multiplier``). Returns
    (per-step losses [S], global step after the epoch); raises TrainingDivergedError (naming epoch
    and step) as soon as a loss is NaN or infinite.
    """
    recipe = task.recipe
    if lr_multipliers is None:
        lr_multipliers = [group["lr_multiplier"] for group in optimizer.param_groups]
    device = next(model.parameters()).device
    steps = min(schedule.steps_per_epoch, schedule.total_steps - global_step)
    check_every = 1 if device.type == "cpu" else 50  # a finiteness check is a sync on GPUs
    model.train()
    losses = torch.zeros(steps, device=device)  # [S]
    batches = task.batches(epoch, generator)
    for step in range(steps):
        batch = next(batches, None)
        if batch is None:  # a task that disagrees with the schedule: a bug, not a user's error
            raise RuntimeError(f"{type(task).__name__} gave {step} batches in epoch {epoch + 1}; "
                               f"the schedule has {steps}")
        factor = schedule.factor(global_step)
        for group, multiplier in zip(optimizer.param_groups, lr_multipliers):
            group["lr"] = recipe.lr * multiplier * factor
        loss = task.loss(model, batch)
        losses[step] = loss.detach()
        if (step + 1) % check_every == 0 or step + 1 == steps:
            bad = ~torch.isfinite(losses[:step + 1])
            if bool(bad.any()):
                first = int(torch.nonzero(bad).flatten()[0])
                raise TrainingDivergedError(
                    f"training loss is {losses[first].item()} at epoch {epoch + 1}, step {first + 1} of "
                    f"{run_label(task)}; lower lr (now {recipe.lr:g}) or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip_norm)
        optimizer.step()
        global_step += 1
        if after_step is not None:
            after_step(global_step)
    return losses, global_step


# --- Checkpoints -----------------------------------------------------------------------------------

def random_states(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    """Every random state a run draws from: the data generator, torch's CPU and CUDA RNGs, Python, NumPy."""
    return {"generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "python_rng": random.getstate(), "numpy_rng": np.random.get_state()}


def seed_global_rngs(seed: int) -> None:
    """Seed torch (CPU and every CUDA device: initialisation, dropout), Python and NumPy with ``seed``."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def restore_random_states(state: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    """Put back what :func:`random_states` kept (a state the checkpoint lacks is left as it is)."""
    if state.get("generator") is not None:
        generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if state.get("python_rng") is not None:
        random.setstate(state["python_rng"])
    if state.get("numpy_rng") is not None:
        np.random.set_state(state["numpy_rng"])


def _upgraded(state: dict[str, Any], schedule: Schedule) -> dict[str, Any]:
    """A checkpoint of the Transformer's trainer before the one loop, in today's names (its data
    order was fixed by seed and epoch, so it kept no generator; it trained whole epochs)."""
    if "torch_rng" in state:
        return state
    return {**state, "torch_rng": state["rng"], "global_step": state["epoch"] * schedule.steps_per_epoch,
            "step_log": [], "wall_seconds": state.get("train_seconds", 0.0), "resumes": 0}


# --- The loop --------------------------------------------------------------------------------------

def run_training(task: Task, device: torch.device, run_dir: Path, *, progress: bool = True,
                 step_callback: StepCallback | None = None, step_callback_every: int = 1,
                 on_epoch_end: Callable[[int], None] | None = None) -> TrainOutcome:
    """Train (or resume) ``task``'s run to its last step, checkpointing to ``run_dir`` on the
    :class:`lsbook.runtime.CheckpointCadence` (always after the last epoch), and return its final outputs.

    ``step_callback(step, model)`` is called at step 0 and every ``step_callback_every`` steps, in
    eval mode under no_grad with the RNG states restored afterwards, so it cannot change the
    trajectory; what it returns (numbers) is kept in ``step_log``. ``on_epoch_end(epoch)`` is
    called at the end of each epoch, after its checkpoint if one is written (tests use it to
    interrupt a run).
    """
    recipe, seed = task.recipe, task.seed
    code_version()  # the commit this process runs, taken now (provenance reads it at the end)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "checkpoint.pt"
    state = read_checkpoint(checkpoint_path, key=task.key)
    examples = task.load_data(device, state)

    seed_global_rngs(seed)  # initialisation and dropout draw from torch's global RNG
    model = task.build_model()
    optimizer = make_optimizer(model, recipe)
    lr_multipliers = [group["lr_multiplier"] for group in optimizer.param_groups]
    generator = torch.Generator().manual_seed(derived_seed(seed, "data"))  # shuffling + augmentation
    schedule = schedule_of(recipe, examples)

    start = {"epoch": 0, "global_step": 0, "history": [], "step_log": [], "wall_seconds": 0.0, "resumes": 0}
    if state is not None:
        state = _upgraded(state, schedule)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_random_states(state, generator, device)
        start = {k: state[k] for k in start}
        start["resumes"] += 1
    history, step_log = list(start["history"]), list(start["step_log"])
    global_step, wall_before = start["global_step"], start["wall_seconds"]
    began = time.perf_counter()

    def call_back(step: int) -> None:
        devices = [device.index or 0] if device.type == "cuda" else []
        python_rng, numpy_rng = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            model.eval()
            result = step_callback(step, model)
        random.setstate(python_rng)
        np.random.set_state(numpy_rng)
        model.train()
        if result is not None:
            step_log.append({"step": step, "value": _json_number(result)})

    if step_callback is not None and global_step == 0:
        call_back(0)

    def after_step(step: int) -> None:
        if step_callback is not None and step % step_callback_every == 0:
            call_back(step)
        bar.update(1)

    bar = tqdm(total=schedule.total_steps, initial=global_step, disable=not progress, unit="step",
               desc=f"{recipe.name} α={task.alpha:g} seed={seed}", file=sys.stderr, dynamic_ncols=True,
               mininterval=0.1 if sys.stderr.isatty() else 30.0)  # logs: a line every 30 s
    cadence = CheckpointCadence()
    for epoch in range(start["epoch"], schedule.epochs):
        epoch_began = time.perf_counter()
        losses, global_step = train_epoch(model, optimizer, task, schedule, generator, epoch, global_step,
                                          lr_multipliers=lr_multipliers, after_step=after_step)
        entry = {"epoch": epoch + 1, "step": global_step, "lr": recipe.lr * schedule.factor(global_step - 1),
                 **task.train_metrics(losses), **task.evaluate(model),
                 "seconds": time.perf_counter() - epoch_began}
        history.append(entry)
        if progress:
            shown = {k: v for k, v in entry.items() if k.endswith(("loss", "accuracy", "nll", "temperature"))}
            bar.write(f"epoch {epoch + 1}/{schedule.epochs}: "
                      + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()) + f" ({entry['seconds']:.0f} s)")
        if cadence.due(entry["seconds"], last=epoch + 1 == schedule.epochs):
            write_checkpoint(checkpoint_path, {
                "format": CHECKPOINT_FORMAT, "engine_version": ENGINE_VERSION, "key": task.key,
                "epoch": epoch + 1, "global_step": global_step, "total_steps": schedule.total_steps,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                **random_states(generator, device), **task.checkpoint_extras(),
                "history": history, "step_log": step_log,
                "wall_seconds": wall_before + time.perf_counter() - began, "resumes": start["resumes"]})
            cadence.written()
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    bar.close()

    metrics, arrays = task.final_outputs(model, Trained(schedule, global_step, history, step_log))
    wall = wall_before + time.perf_counter() - began
    return TrainOutcome(metrics, arrays, provenance(device, wall, resumes=start["resumes"],
                                                    memory_layout=layout_name(model)), model)
