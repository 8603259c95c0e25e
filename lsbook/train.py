"""The engine's entry: ``ensure_run(config)`` returns a stored run, training (or resuming) it if needed.

One run = a :class:`lsbook.run_config.RunConfig` (resolved recipe, α, seed, a teacher for
distillation students, a probe). Classifiers and the Transformer train in the one loop
(:mod:`lsbook.loop`); here are the store and lock around it, teachers, and the classifier's task. It trains (:mod:`lsbook.loop`: seeding, optimiser and
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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lsbook import ENGINE_VERSION
from lsbook.errors import LsbookError, StoreError
from lsbook.evaluation import evaluate_splits, evaluation_splits, penultimate_features
from lsbook.loop import StepCallback, Task, Trained, derived_seed, run_training
from lsbook.optimisation import make_objective
from lsbook.recipes import Recipe
from lsbook.run_config import RunConfig
from lsbook.run_data import RunData, load_run_data, symmetric_label_noise
from lsbook.runtime import (default_runs_root, deterministic_algorithms, exclusive_lock, pick_device,
                            read_checkpoint, run_directory, write_run_config)
from lsbook.provenance import check_clean_tree
from lsbook.store import Record, Store
from lsbook.validation import check_positive_int

# --- Finding and training a run ---------------------------------------------------------------

def find_run(config: RunConfig, store: Store | None = None) -> Record | None:
    """The stored record of ``config``'s run, or None (never trains)."""
    return (store or Store()).get(config.key, config.as_dict())


def ensure_run(config: RunConfig, *, store: Store | None = None, device: str | torch.device | None = None,
               progress: bool = True, keep_model: bool = False, step_callback: StepCallback | None = None,
               step_callback_every: int = 1, runs_root: str | os.PathLike | None = None,
               allow_dirty: bool = False) -> Record:
    """The stored record of ``config``'s run; trains it first (resuming from its checkpoint) if missing.

    A student (``config.distillation``) learns from its teacher's logits on each training batch; the
    teacher must be in ``store`` (its weights stored, or its finished checkpoint in ``runs_root``).
    ``keep_model``: store the final weights too (teachers). ``step_callback(step, model)`` — the
    probe that ``config.probe`` names — is called at step 0 and every ``step_callback_every`` steps,
    in eval mode under no_grad with the RNG states restored afterwards, so it cannot change the
    trajectory; what it returns (numbers) is kept in ``metrics["step_log"]``. Transformer configs
    train as a :class:`lsbook.translation.run.TranslationTask`. A ``paper`` run does not start from
    uncommitted code unless ``allow_dirty`` (the diff is then kept in its provenance;
    :func:`lsbook.provenance.check_clean_tree`).
    """
    if (step_callback is None) != (config.probe is None):
        raise LsbookError("step_callback and config.probe go together: the probe's name enters the run's key")
    step_callback_every = check_positive_int(step_callback_every, "step_callback_every")
    if keep_model and config.translation is not None:
        raise LsbookError("keep_model applies to image classifiers; a Transformer's weights stay in its run folder")
    store = store or Store()
    stored = find_run(config, store)
    if stored is not None and (stored.has_model or not keep_model):
        return stored
    teacher = None
    if config.distillation is not None:
        teacher = store.get(config.distillation.teacher_key)
        if teacher is None:
            raise LsbookError(f"teacher run {config.distillation.teacher_key} is not in the store {store.root}; "
                              "train the teacher first")
    dirty = check_clean_tree(config.profile, allow_dirty)  # before anything is written
    chosen = pick_device(device)
    run_dir = run_directory(config.key, runs_root)
    with exclusive_lock(run_dir / "lock"):
        stored = find_run(config, store)  # another process may have finished it meanwhile
        if stored is not None and keep_model and not stored.has_model:
            weights = finished_weights(run_dir / "checkpoint.pt", config.key, config.recipe)
            if weights is not None:  # the finished local checkpoint holds them: no need to retrain
                return store.put_model(stored, weights)
        if stored is None or (keep_model and not stored.has_model):
            write_run_config(run_dir, config.as_dict())
            task = task_for(config, run_dir, teacher, chosen, runs_root, progress)
            with deterministic_algorithms(chosen):
                outcome = run_training(task, chosen, run_dir, progress=progress, step_callback=step_callback,
                                       step_callback_every=step_callback_every)
            if stored is None:
                stored = store.put(Record(key=config.key, config=config.as_dict(), metrics=outcome.metrics,
                                          provenance={**outcome.provenance, **dirty}, arrays=outcome.arrays))
            if keep_model:
                stored = store.put_model(stored, outcome.model_state())
    return stored


def task_for(config: RunConfig, run_dir: Path, teacher: Record | None, device: torch.device,
             runs_root: str | os.PathLike | None = None, progress: bool = True) -> Task:
    """The :class:`lsbook.loop.Task` that trains ``config``: a classifier or a Transformer."""
    if config.translation is not None:
        from lsbook.translation.run import TranslationTask

        return TranslationTask(config, run_dir, progress)
    return ClassifierTask(config, load_teacher(teacher, device, runs_root) if teacher is not None else None)


# --- Teachers -------------------------------------------------------------------------------------

def finished_weights(path: Path, key: str, recipe: Recipe) -> dict[str, torch.Tensor] | None:
    """The final weights from a run's local checkpoint if it finished training, else None."""
    state = read_checkpoint(path, key=key, engine_version=ENGINE_VERSION)
    if state is None:
        return None
    if "total_steps" in state:
        finished = state["global_step"] == state["total_steps"]
    else:  # checkpoints written before step-based schedules: whole epochs
        finished = state["epoch"] == recipe.epochs
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
    weights = finished_weights(path, teacher.key, teacher.recipe)
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

    def __init__(self, config: RunConfig, teacher_model: nn.Module | None = None):
        self.config, self.teacher_model = config, teacher_model
        self.key, self.recipe = config.key, config.recipe
        self.alpha, self.seed = config.alpha, config.seed
        self.logits: tuple[torch.Tensor, torch.Tensor] | None = None  # (test, val) after the last evaluation

    def load_data(self, device: torch.device, checkpoint: dict[str, Any] | None) -> int:
        self.device = device
        self.data: RunData = load_run_data(self.recipe, device)
        if len(self.data.train[1]) == 0:
            raise LsbookError(f"recipe {self.recipe.name!r}: the training split is empty")
        self.train_labels = self.data.train[1]  # what the loss sees: the labels, or their noisy copy
        if self.recipe.label_noise:
            self.train_labels = symmetric_label_noise(self.train_labels, self.recipe.label_noise,
                                                      self.config.num_classes, derived_seed(self.seed, "label-noise"))
        self.objective = make_objective(self.recipe, self.alpha, self.config.distillation, self.teacher_model)
        self.evaluated = evaluation_splits({"test": self.data.test, "val": self.data.val},
                                           self.data.transforms)  # preprocessed once per run
        return len(self.data.train[1])

    def build_model(self) -> nn.Module:
        from lsbook.models import build

        return build(self.recipe.model, self.config.num_classes, **self.recipe.model_kwargs).to(self.device)

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """A fresh permutation of the training set, gathered in batches and augmented on the fly."""
        images_all, labels_all = self.data.train[0], self.train_labels
        transforms, batch_size = self.data.transforms, self.recipe.batch_size
        self.correct = torch.zeros((), dtype=torch.long, device=labels_all.device)
        self.seen = 0
        order = torch.randperm(len(labels_all), generator=generator).to(labels_all.device)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            # index_select: the same copy as images_all[index], about 30x faster on uint8 batches
            images, labels = images_all.index_select(0, index), labels_all.index_select(0, index)  # [B,C,H,W], [B]
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
        """Test and validation accuracy, NLL and ECE, and the temperature fitted on validation: the
        history that shows when a schedule turns the network overconfident (fitted T > 1)."""
        from lsbook.calibration import fit_temperature

        logits, metrics = evaluate_splits(model, self.evaluated, self.recipe.eval_batch_size)
        self.logits = (logits["test"], logits["val"])
        if len(logits["val"]):
            metrics["val_temperature"] = fit_temperature(logits["val"], self.data.val[1].cpu())
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
        if recipe.label_noise:  # the noisy training labels the run learnt from (uint8: K <= 256 here)
            arrays["train_noisy_labels"] = self.train_labels.cpu().numpy().astype(np.uint8)
        head = getattr(model, "head", None)
        if isinstance(head, nn.Linear):
            arrays["head_weight"] = head.weight.detach().float().cpu().numpy()
            if head.bias is not None:
                arrays["head_bias"] = head.bias.detach().float().cpu().numpy()
        return metrics, arrays
