"""The training engine: ``ensure_run`` returns a stored run, training (or resuming) it if needed.

One run = a resolved recipe (:mod:`lsbook.recipes`, :mod:`lsbook.profiles`) + α + seed (+ a teacher
for distillation students). The loop (seed Section 2.2 for the recipes' meaning):

- batches are gathered from the whole uint8 training set held in memory and augmented by
  lsbook.data's batched transforms, all random numbers (shuffling, augmentation) drawn from one
  ``torch.Generator`` seeded from the run's seed; initialisation and dropout use torch's global RNG
  seeded with the same seed; deterministic algorithms on;
- loss = label-smoothing cross-entropy (Section 1.1) × the recipe's loss multiplier, or a
  distillation loss (Section 6, Eq. 2) against a teacher's logits on the very same batch;
- per-layer learning rates, linear / step schedules computed from the step count, SGD (momentum,
  dampening, Nesterov) or Adam, weight decay on the recipe's layers, gradient-norm clipping;
- after every epoch: test and validation accuracy / NLL / ECE (lsbook.calibration; the splits'
  inputs preprocessed once per run, lsbook.evaluation.evaluate_splits); then, on the cadence of
  lsbook.runtime.CheckpointCadence (after the last epoch, and otherwise so that at most ~60 s of
  training, ``$LSBOOK_CHECKPOINT_SECONDS``, is ever unsaved), a checkpoint with every state the rest
  of the run depends on (weights, optimiser, generator, RNGs, history), written to a temporary file
  and renamed. A run killed at any moment restarts from its last checkpoint and ends bitwise equal
  to an uninterrupted run (tests/test_train.py, tests/test_train_checkpoints.py).

Checkpoints live in ``$LSBOOK_RUNS`` or ``<repo>/runs/<key>/`` (not committed); finished runs go to
the results store (:mod:`lsbook.store`). The parts: :mod:`lsbook.run_data` (splits in memory),
:mod:`lsbook.optimisation` (optimiser, schedule, loss), :mod:`lsbook.evaluation` (logits, features,
metrics), :mod:`lsbook.runtime` (device, determinism, lock, checkpoint files).
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lsbook import ENGINE_VERSION
from lsbook.errors import LsbookError, StoreError, TrainingDivergedError
from lsbook.evaluation import evaluate_splits, evaluation_splits, penultimate_features
from lsbook.optimisation import make_objective, make_optimizer
from lsbook.profiles import PROFILES, resolve
from lsbook.recipes import Recipe, json_ready
from lsbook.run_data import RunData, load_run_data
from lsbook.schedule import Schedule, schedule_of
from lsbook.runtime import (CHECKPOINT_FORMAT, CheckpointCadence, default_runs_root, deterministic_algorithms,
                            exclusive_lock, pick_device, read_checkpoint, run_directory, write_checkpoint,
                            write_run_config)
from lsbook.provenance import check_clean_tree, code_version, provenance
from lsbook.store import Record, Store, config_key
from lsbook.validation import check_alpha, check_choice, check_positive_int, check_temperature

DISTILL_LOSSES = ("replication", "original")
StepCallback = Callable[[int, nn.Module], Any]


# --- Run identity ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunPlan:
    """What a run is, before it runs: its resolved recipe, configuration and store key."""

    recipe: Recipe
    config: dict[str, Any]
    key: str


def plan_run(recipe: str | Recipe, alpha: float, seed: int, profile: str, *,
             teacher: Record | None = None, distill_temperature: float | None = None,
             distill_loss: str = "replication", beta: float | None = None,
             overrides: dict[str, Any] | None = None, step_callback_name: str | None = None) -> RunPlan:
    """Check every argument and compute the run's config and key (nothing is written)."""
    from lsbook.data.registry import get_dataset

    check_choice(profile, PROFILES, "profile")
    if isinstance(recipe, Recipe):
        resolved = recipe.validate()
    else:
        resolved = resolve(str(recipe), profile)
    if overrides:
        resolved = resolved.replace(**overrides)
    alpha = check_alpha(alpha)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LsbookError(f"seed must be an integer >= 0, got {seed!r}")
    info = get_dataset(resolved.dataset)
    if resolved.model == "transformer":  # translation runs have their own identity (lsbook.translation)
        if teacher is not None or distill_temperature is not None or beta is not None or step_callback_name:
            raise LsbookError("teachers and step callbacks apply to image classifiers, not to the Transformer")
        from lsbook.translation.run import plan_translation_run

        translation = plan_translation_run(alpha, seed, profile, recipe=resolved)
        return RunPlan(resolved, translation.config, translation.key)
    distill = None
    if teacher is not None:
        check_choice(distill_loss, DISTILL_LOSSES, "distill_loss")
        if alpha != 0.0:
            raise LsbookError("alpha must be 0 for a distilled student: the distillation loss "
                              "replaces the label-smoothed targets")
        if teacher.config.get("dataset") != info.name:
            raise LsbookError(f"teacher {teacher.key} was trained on {teacher.config.get('dataset')!r}, "
                              f"the student on {info.name!r}")
        temperature = check_temperature(1.0 if distill_temperature is None else distill_temperature,
                                        "distill_temperature")
        if beta is None:
            beta = 0.6 if distill_loss == "replication" else 1.0  # seed 6.1 / orig. CIFAR-10
        beta = float(beta)
        if not 0.0 <= beta <= 1.0:
            raise LsbookError(f"beta must be in [0, 1], got {beta!r}")
        distill = {"loss": distill_loss, "temperature": temperature, "beta": beta}
    elif distill_temperature is not None or beta is not None:
        raise LsbookError("distill_temperature and beta need a teacher (teacher=Record)")
    config = {
        "recipe": resolved.name,
        "profile": profile,
        "alpha": alpha,
        "seed": int(seed),
        "engine_version": ENGINE_VERSION,
        "dataset": info.name,
        "model": resolved.model,
        "num_classes": info.num_classes,
        "teacher_key": teacher.key if teacher is not None else None,
        "distill": distill,
        "step_callback": step_callback_name,
        "resolved_recipe": resolved.to_dict(),
    }
    config = json_ready(config)
    return RunPlan(resolved, config, config_key(config))


def find_run(recipe: str | Recipe, alpha: float, seed: int, profile: str, *, store: Store | None = None,
             **plan_kwargs: Any) -> Record | None:
    """The stored record of this run, or None (never trains)."""
    plan = plan_run(recipe, alpha, seed, profile, **plan_kwargs)
    return (store or Store()).get(plan.key, plan.config)


def ensure_run(recipe: str | Recipe, alpha: float, seed: int, profile: str, *,
               store: Store | None = None, teacher: Record | None = None,
               distill_temperature: float | None = None, distill_loss: str = "replication",
               beta: float | None = None, device: str | torch.device | None = None,
               progress: bool = True, overrides: dict[str, Any] | None = None,
               keep_model: bool = False, step_callback: StepCallback | None = None,
               step_callback_name: str | None = None, step_callback_every: int = 1,
               runs_root: str | os.PathLike | None = None, allow_dirty: bool = False) -> Record:
    """The stored record of a run; trains it first (resuming from its checkpoint) if missing.

    ``recipe``: a name of RECIPES (``profile`` applied) or a Recipe used as given; ``overrides``:
    recipe fields changed on top (they enter the config). ``teacher``: a stored run whose logits on
    each training batch the student learns from, with ``distill_loss`` "replication" (seed 6.1:
    (1-β)·CE + β·½·MSE to the teacher's logits / T, β = 0.6) or "original" (orig. Eq. 2: (1-β)·CE +
    β·H(softmax(teacher/T), student), β = 1). ``keep_model``: store the final weights too (teachers).
    ``step_callback(step, model)`` is called at step 0 and every ``step_callback_every`` steps, in
    eval mode under no_grad with the RNG states restored afterwards, so it cannot change the
    trajectory; what it returns (numbers) is kept in ``metrics["step_log"]``. It needs a
    ``step_callback_name``, which enters the config. Transformer recipes are handed to
    :func:`lsbook.translation.run.ensure_translation_run` (same store, same checkpoints folder).
    A ``paper`` run does not start from uncommitted code unless ``allow_dirty`` (the diff is then
    kept in its provenance; :func:`lsbook.provenance.check_clean_tree`).
    """
    if step_callback is not None and not step_callback_name:
        raise LsbookError("step_callback needs a step_callback_name (it enters the run's config)")
    step_callback_every = check_positive_int(step_callback_every, "step_callback_every")
    plan = plan_run(recipe, alpha, seed, profile, teacher=teacher, distill_temperature=distill_temperature,
                    distill_loss=distill_loss, beta=beta, overrides=overrides,
                    step_callback_name=step_callback_name if step_callback is not None else None)
    store = store or Store()
    if plan.recipe.model == "transformer":  # trained, evaluated and stored by lsbook.translation
        from lsbook.translation.run import ensure_translation_run

        return ensure_translation_run(alpha, seed, profile, store=store, device=device, progress=progress,
                                      recipe=plan.recipe, runs_root=runs_root, allow_dirty=allow_dirty)
    stored = store.get(plan.key, plan.config)
    if stored is not None and (stored.has_model or not keep_model):
        return stored
    dirty = check_clean_tree(plan.config["profile"], allow_dirty)  # before anything is written
    chosen = pick_device(device)
    run_dir = run_directory(plan.key, runs_root)
    with exclusive_lock(run_dir / "lock"):
        stored = store.get(plan.key, plan.config)  # another process may have finished it meanwhile
        if stored is not None and keep_model and not stored.has_model:
            weights = finished_weights(run_dir / "checkpoint.pt", plan)
            if weights is not None:  # the finished local checkpoint holds them: no need to retrain
                return store.put_model(stored, weights)
        if stored is None or (keep_model and not stored.has_model):
            write_run_config(run_dir, plan.config)
            teacher_model = load_teacher(teacher, chosen, runs_root) if teacher is not None else None
            with deterministic_algorithms(chosen):
                outcome = train_classifier(plan, chosen, run_dir, teacher_model=teacher_model,
                                           progress=progress, step_callback=step_callback,
                                           step_callback_every=step_callback_every)
            if stored is None:
                stored = store.put(Record(key=plan.key, config=plan.config, metrics=outcome.metrics,
                                          provenance={**outcome.provenance, **dirty}, arrays=outcome.arrays))
            if keep_model:
                stored = store.put_model(stored, outcome.model_state)
    return stored


# --- Teachers and seeds ---------------------------------------------------------------------------

def finished_weights(path: Path, plan: RunPlan) -> dict[str, torch.Tensor] | None:
    """The final weights from a run's local checkpoint if it finished training, else None."""
    state = read_checkpoint(path, key=plan.key, engine_version=ENGINE_VERSION)
    if state is None:
        return None
    if "total_steps" in state:
        finished = state["global_step"] == state["total_steps"]
    else:  # checkpoints written before step-based schedules: whole epochs
        finished = state["epoch"] == plan.recipe.epochs
    return state["model"] if finished else None


def load_teacher(teacher: Record, device: torch.device, runs_root=None) -> nn.Module:
    """The teacher's network in eval mode: stored weights, else its finished local checkpoint."""
    if teacher.has_model:
        return teacher.load_model(device)
    path = (Path(runs_root) if runs_root is not None else default_runs_root()) / teacher.key / "checkpoint.pt"
    recipe = teacher.recipe
    weights = finished_weights(path, RunPlan(recipe, teacher.config, teacher.key))
    if weights is not None:
        from lsbook.models import build

        model = build(recipe.model, teacher.config["num_classes"], **recipe.model_kwargs)
        model.load_state_dict(weights)
        return model.to(device).eval()
    raise StoreError(f"teacher {teacher.key} has no stored weights; obtain it with "
                     "ensure_run(..., keep_model=True) (train --keep-model)")


def derived_seed(seed: int, purpose: str) -> int:
    """An independent 63-bit seed for one use of a run's seed (so streams are not the same)."""
    return int.from_bytes(hashlib.sha256(f"{purpose}:{seed}".encode()).digest()[:8], "big") >> 1


def _json_number(value: Any) -> Any:
    """A step-callback result as plain JSON (tensors / numpy scalars -> floats)."""
    if isinstance(value, dict):
        return {str(k): _json_number(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_number(v) for v in value]
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return _json_number(value.tolist())
    return value


# --- The loop ------------------------------------------------------------------------------------

def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, objective, recipe: Recipe, data: RunData,
                generator: torch.Generator, epoch: int, global_step: int, schedule: Schedule, *,
                after_step: Callable[[int], None] | None = None, what: str = "run"):
    """One shuffled pass over the training set, cut short where the schedule's last step falls.
    Returns (per-step losses [S], number of correct predictions on the training batches, global
    step after the epoch); raises TrainingDivergedError (naming epoch and step) as soon as a loss
    is NaN or infinite."""
    images_all, labels_all = data.train
    device = labels_all.device
    steps = min(schedule.steps_per_epoch, schedule.total_steps - global_step)
    check_every = 1 if device.type == "cpu" else 50  # a finiteness check is a sync on GPUs
    model.train()
    order = torch.randperm(len(labels_all), generator=generator).to(device)
    losses = torch.zeros(steps, device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    for step in range(steps):
        index = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
        images, labels = images_all[index], labels_all[index]  # uint8 [B,C,H,W], int64 [B]
        inputs = data.transforms.train(images, generator) if recipe.augment else data.transforms.eval(images)
        factor = schedule.factor(global_step)
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr * group["lr_multiplier"] * factor
        logits = model(inputs)  # [B, K]
        loss = objective(logits, labels, inputs)
        losses[step] = loss.detach()
        if (step + 1) % check_every == 0 or step + 1 == steps:
            bad = ~torch.isfinite(losses[:step + 1])
            if bool(bad.any()):
                first = int(torch.nonzero(bad).flatten()[0])
                raise TrainingDivergedError(
                    f"training loss is {losses[first].item()} at epoch {epoch + 1}, step {first + 1} of "
                    f"{what}; lower lr (now {recipe.lr:g}) or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip_norm)
        optimizer.step()
        correct += (logits.detach().argmax(1) == labels).sum()
        global_step += 1
        if after_step is not None:
            after_step(global_step)
    return losses, correct, global_step


@dataclass
class TrainOutcome:
    metrics: dict[str, Any]
    arrays: dict[str, np.ndarray]
    provenance: dict[str, Any]
    model_state: dict[str, torch.Tensor]


def train_classifier(plan: RunPlan, device: torch.device, run_dir: Path, *,
                     teacher_model: nn.Module | None = None, progress: bool = True,
                     step_callback: StepCallback | None = None, step_callback_every: int = 1) -> TrainOutcome:
    """Train (or resume) the run of ``plan`` to its last epoch; checkpoints go to ``run_dir``."""
    from lsbook.calibration import expected_calibration_error, fit_temperature, negative_log_likelihood
    from lsbook.models import build

    recipe, config = plan.recipe, plan.config
    alpha, seed = config["alpha"], config["seed"]
    code_version()  # the commit this process runs, taken now (provenance reads it at the end)
    data = load_run_data(recipe, device)
    train_labels = data.train[1]
    if len(train_labels) == 0:
        raise LsbookError(f"recipe {recipe.name!r}: the training split is empty")

    torch.manual_seed(seed)  # initialisation and dropout draw from the global RNG
    model = build(recipe.model, config["num_classes"], **recipe.model_kwargs).to(device)
    optimizer = make_optimizer(model, recipe)
    generator = torch.Generator().manual_seed(derived_seed(seed, "data"))  # shuffling + augmentation
    objective = make_objective(recipe, alpha, config["distill"], teacher_model)

    schedule = schedule_of(recipe, len(train_labels))
    start = {"epoch": 0, "global_step": 0, "history": [], "step_log": [], "wall_seconds": 0.0, "resumes": 0}
    checkpoint_path = run_dir / "checkpoint.pt"
    state = read_checkpoint(checkpoint_path, key=plan.key, engine_version=ENGINE_VERSION)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        random.setstate(state["python_rng"])
        np.random.set_state(state["numpy_rng"])
        start = {k: state[k] for k in start}
        start["resumes"] += 1
    history, step_log = list(start["history"]), list(start["step_log"])
    global_step, wall_before = start["global_step"], start["wall_seconds"]
    began = time.perf_counter()

    def call_back(step: int) -> None:
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            model.eval()
            result = step_callback(step, model)
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
               desc=f"{recipe.name} α={alpha:g} seed={seed}", file=sys.stderr, dynamic_ncols=True,
               mininterval=0.1 if sys.stderr.isatty() else 30.0)  # logs: a line every 30 s
    evaluated = evaluation_splits({"test": data.test, "val": data.val}, data.transforms)  # preprocessed once
    cadence = CheckpointCadence()
    logits = None
    for epoch in range(start["epoch"], schedule.epochs):
        epoch_began = time.perf_counter()
        losses, correct, global_step = train_epoch(
            model, optimizer, objective, recipe, data, generator, epoch, global_step, schedule,
            after_step=after_step, what=f"run {plan.key} ({recipe.name}, alpha={alpha:g}, seed={seed})")
        logits, split_entries = evaluate_splits(model, evaluated, recipe.eval_batch_size)
        entry = {"epoch": epoch + 1, "step": global_step,
                 "lr": recipe.lr * schedule.factor(global_step - 1),
                 "train_loss": float(losses.mean()),
                 "train_accuracy": float(correct) / min(len(losses) * recipe.batch_size, len(train_labels)),
                 **split_entries,
                 "seconds": time.perf_counter() - epoch_began}
        history.append(entry)
        bar.set_postfix(epoch=epoch + 1, loss=f"{entry['train_loss']:.3f}",
                        test_acc=f"{entry.get('test_accuracy', float('nan')):.4f}")
        if not cadence.due(entry["seconds"], last=epoch + 1 == schedule.epochs):
            continue
        write_checkpoint(checkpoint_path, {
            "format": CHECKPOINT_FORMAT, "engine_version": ENGINE_VERSION, "key": plan.key,
            "epoch": epoch + 1, "global_step": global_step, "total_steps": schedule.total_steps,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "python_rng": random.getstate(), "numpy_rng": np.random.get_state(),
            "history": history, "step_log": step_log,
            "wall_seconds": wall_before + time.perf_counter() - began, "resumes": start["resumes"]})
        cadence.written()
    bar.close()
    if logits is None:  # resumed from the final checkpoint: evaluate the finished model
        logits, _ = evaluate_splits(model, evaluated, recipe.eval_batch_size)
    test_logits, val_logits = logits["test"], logits["val"]

    test_labels, val_labels = data.test[1].cpu(), data.val[1].cpu()
    metrics: dict[str, Any] = {k: v for k, v in history[-1].items() if k.startswith(("test_", "val_", "train_"))}
    if len(val_labels):
        temperature = fit_temperature(val_logits, val_labels)
        metrics.update(val_temperature=temperature,
                       test_ece_at_val_temperature=expected_calibration_error(test_logits, test_labels,
                                                                              temperature=temperature),
                       test_nll_at_val_temperature=negative_log_likelihood(test_logits, test_labels,
                                                                           temperature=temperature))
    metrics.update(epochs=schedule.epochs, steps=global_step, train_examples=len(train_labels),
                   val_examples=len(val_labels), test_examples=len(test_labels),
                   class_names=data.class_names, history=history, step_log=step_log)
    arrays = {"test_logits": test_logits.numpy(), "test_labels": test_labels.numpy(),
              "val_logits": val_logits.numpy(), "val_labels": val_labels.numpy()}
    for split, (images, labels) in (("train", data.train), ("test", data.test)):
        features, feature_labels = penultimate_features(model, images, labels, recipe.plot_classes,
                                                        recipe.features_per_class, data.transforms,
                                                        recipe.eval_batch_size)
        arrays[f"{split}_features"], arrays[f"{split}_feature_labels"] = features, feature_labels
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        arrays["head_weight"] = head.weight.detach().float().cpu().numpy()
        if head.bias is not None:
            arrays["head_bias"] = head.bias.detach().float().cpu().numpy()
    wall = wall_before + time.perf_counter() - began
    return TrainOutcome(metrics, arrays, provenance(device, wall, resumes=start["resumes"]),
                        {k: v.detach().cpu() for k, v in model.state_dict().items()})
