"""The image-classifier engine: ``ensure_run`` returns a stored run, training (or resuming) it if needed.

One run = a resolved recipe (:mod:`lsbook.recipes`, :mod:`lsbook.profiles`) + α + seed (+ a teacher
for distillation students). It trains in the one loop (:mod:`lsbook.loop`: seeding, optimiser and
schedule, divergence check, history, checkpoints with every random state, exact resume) as a
:class:`ClassifierTask` (seed Section 2.2 for the recipes' meaning):

- batches are gathered from the whole uint8 training set held in memory and augmented by
  lsbook.data's batched transforms, all random numbers (shuffling, augmentation) drawn from the
  loop's data generator; initialisation and dropout from torch's global RNG; deterministic
  algorithms on;
- loss = label-smoothing cross-entropy (Section 1.1) × the recipe's loss multiplier, or a
  distillation loss (Section 6, Eq. 2) against a teacher's logits on the very same batch;
- after every epoch: test and validation accuracy / NLL / ECE (lsbook.calibration; the splits'
  inputs preprocessed once per run, lsbook.evaluation.evaluate_splits); at the end the temperature
  fitted on val, the logits, penultimate features and the head's weights.

Checkpoints live in ``$LSBOOK_RUNS`` or ``<repo>/runs/<key>/`` (not committed); finished runs go to
the results store (:mod:`lsbook.store`). The parts: :mod:`lsbook.run_data` (splits in memory),
:mod:`lsbook.optimisation` (optimiser, loss), :mod:`lsbook.evaluation` (logits, features,
metrics), :mod:`lsbook.runtime` (device, determinism, lock, checkpoint files).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lsbook import ENGINE_VERSION
from lsbook.errors import LsbookError, StoreError
from lsbook.evaluation import evaluate_splits, evaluation_splits, penultimate_features
from lsbook.loop import StepCallback, Trained, TrainOutcome, run_training
from lsbook.optimisation import make_objective
from lsbook.profiles import PROFILES, resolve
from lsbook.recipes import Recipe, json_ready
from lsbook.run_data import RunData, load_run_data
from lsbook.runtime import (default_runs_root, deterministic_algorithms, exclusive_lock, pick_device,
                            read_checkpoint, run_directory, write_run_config)
from lsbook.provenance import check_clean_tree
from lsbook.store import Record, Store, config_key
from lsbook.validation import check_alpha, check_choice, check_positive_int, check_temperature

DISTILL_LOSSES = ("replication", "original")


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
                stored = store.put_model(stored, outcome.model_state())
    return stored


# --- Teachers -------------------------------------------------------------------------------------

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


def network_of(record: Record) -> nn.Module:
    """A fresh (untrained) network of the architecture and size that ``record``'s run trained."""
    recipe = record.recipe
    if recipe.model == "transformer":
        from lsbook.translation.translator import stored_transformer

        return stored_transformer(record)
    from lsbook.models import build

    return build(recipe.model, record.config["num_classes"], **recipe.model_kwargs)


def load_model(record: Record, device: str | torch.device = "cpu") -> nn.Module:
    """The trained network of ``record`` (eval mode), rebuilt with its stored weights (model.pt)."""
    model = network_of(record)
    try:
        model.load_state_dict(record.load_weights(device))
    except RuntimeError as error:  # the weights do not fit the network the config describes
        raise StoreError(f"damaged weights file {record.model_path}: {error}") from error
    return model.to(device).eval()


def load_teacher(teacher: Record, device: torch.device, runs_root=None) -> nn.Module:
    """The teacher's network in eval mode: stored weights, else its finished local checkpoint."""
    if teacher.has_model:
        return load_model(teacher, device)
    path = (Path(runs_root) if runs_root is not None else default_runs_root()) / teacher.key / "checkpoint.pt"
    weights = finished_weights(path, RunPlan(teacher.recipe, teacher.config, teacher.key))
    if weights is not None:
        model = network_of(teacher)
        model.load_state_dict(weights)
        return model.to(device).eval()
    raise StoreError(f"teacher {teacher.key} has no stored weights; obtain it with "
                     "ensure_run(..., keep_model=True) (train --keep-model)")


# --- The classifier as a task of the one loop -----------------------------------------------------

class ClassifierTask:
    """An image-classifier run as a :class:`lsbook.loop.Task`: the splits in memory, gathered and
    augmented batches, the recipe's objective, test and validation metrics after every epoch."""

    def __init__(self, plan: RunPlan, teacher_model: nn.Module | None = None):
        self.plan, self.teacher_model = plan, teacher_model
        self.key, self.recipe = plan.key, plan.recipe
        self.alpha, self.seed = plan.config["alpha"], plan.config["seed"]
        self.logits: tuple[torch.Tensor, torch.Tensor] | None = None  # (test, val) after the last evaluation

    def load_data(self, device: torch.device, checkpoint: dict[str, Any] | None) -> int:
        self.device = device
        self.data: RunData = load_run_data(self.recipe, device)
        if len(self.data.train[1]) == 0:
            raise LsbookError(f"recipe {self.recipe.name!r}: the training split is empty")
        self.objective = make_objective(self.recipe, self.alpha, self.plan.config["distill"], self.teacher_model)
        self.evaluated = evaluation_splits({"test": self.data.test, "val": self.data.val},
                                           self.data.transforms)  # preprocessed once per run
        return len(self.data.train[1])

    def build_model(self) -> nn.Module:
        from lsbook.models import build

        return build(self.recipe.model, self.plan.config["num_classes"], **self.recipe.model_kwargs).to(self.device)

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """A fresh permutation of the training set, gathered in batches and augmented on the fly."""
        images_all, labels_all = self.data.train
        transforms, batch_size = self.data.transforms, self.recipe.batch_size
        self.correct = torch.zeros((), dtype=torch.long, device=labels_all.device)
        self.seen = 0
        order = torch.randperm(len(labels_all), generator=generator).to(labels_all.device)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            images, labels = images_all[index], labels_all[index]  # uint8 [B,C,H,W], int64 [B]
            yield (transforms.train(images, generator) if self.recipe.augment else transforms.eval(images)), labels

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        inputs, labels = batch
        logits = model(inputs)  # [B, K]
        self.correct += (logits.detach().argmax(1) == labels).sum()
        self.seen += len(labels)
        return self.objective(logits, labels, inputs)

    def train_metrics(self, losses: torch.Tensor) -> dict[str, float]:
        return {"train_loss": float(losses.mean()), "train_accuracy": float(self.correct) / self.seen}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        logits, metrics = evaluate_splits(model, self.evaluated, self.recipe.eval_batch_size)
        self.logits = (logits["test"], logits["val"])
        return metrics

    def checkpoint_extras(self) -> dict[str, Any]:
        return {}

    def final_outputs(self, model: nn.Module, trained: Trained) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Last epoch's metrics, the temperature fitted on val, logits, penultimate features, the head."""
        from lsbook.calibration import expected_calibration_error, fit_temperature, negative_log_likelihood

        data, recipe, history = self.data, self.recipe, trained.history
        if self.logits is None:  # resumed from the final checkpoint: evaluate the finished model
            self.evaluate(model)
        test_logits, val_logits = self.logits
        test_labels, val_labels = data.test[1].cpu(), data.val[1].cpu()
        metrics: dict[str, Any] = {k: v for k, v in history[-1].items() if k.startswith(("test_", "val_", "train_"))}
        if len(val_labels):
            temperature = fit_temperature(val_logits, val_labels)
            metrics.update(val_temperature=temperature,
                           test_ece_at_val_temperature=expected_calibration_error(test_logits, test_labels,
                                                                                  temperature=temperature),
                           test_nll_at_val_temperature=negative_log_likelihood(test_logits, test_labels,
                                                                               temperature=temperature))
        metrics.update(epochs=trained.schedule.epochs, steps=trained.global_step, train_examples=len(data.train[1]),
                       val_examples=len(val_labels), test_examples=len(test_labels),
                       class_names=data.class_names, history=history, step_log=trained.step_log)
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
        return metrics, arrays


def train_classifier(plan: RunPlan, device: torch.device, run_dir: Path, *,
                     teacher_model: nn.Module | None = None, progress: bool = True,
                     step_callback: StepCallback | None = None, step_callback_every: int = 1) -> TrainOutcome:
    """Train (or resume) the run of ``plan`` to its last step; checkpoints go to ``run_dir``."""
    return run_training(ClassifierTask(plan, teacher_model), device, run_dir, progress=progress,
                        step_callback=step_callback, step_callback_every=step_callback_every)
