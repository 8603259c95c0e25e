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
- after every epoch: test and validation accuracy / NLL / ECE (lsbook.calibration), and a
  checkpoint with every state the rest of the run depends on (weights, optimiser, generator, RNGs,
  history), written to a temporary file and renamed. A run killed at any moment restarts from the
  last checkpoint and ends bitwise equal to an uninterrupted run (tests/test_train.py).

Checkpoints live in ``$LSBOOK_RUNS`` or ``<repo>/runs/<key>/`` (not committed); finished runs go to
the results store (:mod:`lsbook.store`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lsbook import ENGINE_VERSION
from lsbook.errors import LsbookError, StoreError, TrainingDivergedError
from lsbook.recipes import PROFILES, Recipe, json_ready, resolve
from lsbook.store import REPO_ROOT, Record, Store, config_key, provenance
from lsbook.validation import check_alpha, check_choice, check_positive_int, check_temperature

CHECKPOINT_FORMAT = 1
DISTILL_LOSSES = ("replication", "original")
SUBSET_SEED = 20231101  # which examples a profile's subset keeps: fixed, not the run's seed
SYNTHETIC_SEED = 4242  # smoke stand-in images: fixed
SYNTHETIC_SIZES = {"train": 512, "val": 256, "test": 256}
StepCallback = Callable[[int, nn.Module], Any]


def default_runs_root() -> Path:
    """Where checkpoints go: ``$LSBOOK_RUNS`` or ``<repo>/runs``."""
    return Path(os.environ.get("LSBOOK_RUNS") or REPO_ROOT / "runs")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto": CUDA when present, else CPU; otherwise the named device, checked."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise LsbookError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise LsbookError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if chosen.type not in ("cpu", "cuda"):
        raise LsbookError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return chosen


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
               runs_root: str | os.PathLike | None = None) -> Record:
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
                                      recipe=plan.recipe, runs_root=runs_root)
    stored = store.get(plan.key, plan.config)
    if stored is not None and (stored.has_model or not keep_model):
        return stored
    chosen = pick_device(device)
    run_dir = Path(runs_root) if runs_root is not None else default_runs_root()
    run_dir = run_dir / plan.key
    run_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(run_dir / "lock"):
        stored = store.get(plan.key, plan.config)  # another process may have finished it meanwhile
        if stored is not None and keep_model and not stored.has_model:
            weights = finished_weights(run_dir / "checkpoint.pt", plan)
            if weights is not None:  # the finished local checkpoint holds them: no need to retrain
                return store.put_model(stored, weights)
        if stored is None or (keep_model and not stored.has_model):
            (run_dir / "config.json").write_text(json.dumps(plan.config, indent=1, sort_keys=True) + "\n")
            teacher_model = load_teacher(teacher, chosen, runs_root) if teacher is not None else None
            with deterministic_algorithms(chosen):
                outcome = train_classifier(plan, chosen, run_dir, teacher_model=teacher_model,
                                           progress=progress, step_callback=step_callback,
                                           step_callback_every=step_callback_every)
            if stored is None:
                stored = store.put(Record(key=plan.key, config=plan.config, metrics=outcome.metrics,
                                          provenance=outcome.provenance, arrays=outcome.arrays))
            if keep_model:
                stored = store.put_model(stored, outcome.model_state)
    return stored


# --- Helpers: determinism, locking, teachers -------------------------------------------------------

@contextlib.contextmanager
def deterministic_algorithms(device: torch.device) -> Iterator[None]:
    """On GPUs: deterministic kernels while training (restored afterwards), warning where none exists.

    On the CPU the kernels a run uses are deterministic already (tests/test_train.py checks bitwise
    equality), and switching the global flag there costs an import of torch's compiler stack.
    """
    if device.type != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[2], previous[3]


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (one trainer per run; released when a process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def finished_weights(path: Path, plan: RunPlan) -> dict[str, torch.Tensor] | None:
    """The final weights from a run's local checkpoint if it finished training, else None."""
    state = _read_checkpoint(path)
    if state is None or state.get("key") != plan.key or state["epoch"] != plan.recipe.epochs:
        return None
    return state["model"]


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


# --- Data ----------------------------------------------------------------------------------------

@dataclass
class RunData:
    """The three splits of a run in memory (uint8 images on the training device) + transforms."""

    train: tuple[torch.Tensor, torch.Tensor]  # images uint8 [N,C,H,W], labels int64 [N]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    class_names: list[str]
    transforms: Any  # lsbook.data.augment.Transforms


def _subset(images: torch.Tensor, labels: torch.Tensor, size: int | None, salt: int):
    """The first ``size`` examples of a fixed permutation (sorted), or everything."""
    if size is None or size >= len(labels):
        return images, labels
    generator = torch.Generator().manual_seed(SUBSET_SEED + salt)
    keep = torch.randperm(len(labels), generator=generator)[:size].sort().values
    return images[keep], labels[keep]


def synthetic_split(dataset: str, split: str, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Smoke stand-in: per-class random templates plus noise, uint8 of the dataset's image shape."""
    from lsbook.data.registry import get_dataset

    info = get_dataset(dataset)
    count = size or SYNTHETIC_SIZES[split]
    generator = torch.Generator().manual_seed(SYNTHETIC_SEED + ("train", "val", "test").index(split))
    templates = torch.randint(0, 256, (info.num_classes, *info.image_shape),
                              generator=torch.Generator().manual_seed(SYNTHETIC_SEED))
    labels = torch.randint(0, info.num_classes, (count,), generator=generator)
    noise = torch.randint(-60, 61, (count, *info.image_shape), generator=generator)
    images = (templates[labels] + noise).clamp(0, 255).to(torch.uint8)
    return images, labels


@functools.lru_cache(maxsize=3)
def _load_split(name: str, split: str, original_split: bool):
    """lsbook.data.load_split, kept in memory for the next run of a sweep (one dataset's splits)."""
    from lsbook.data.load import load_split

    return load_split(name, split, original_split=original_split)


def load_run_data(recipe: Recipe, device: torch.device) -> RunData:
    """The splits a recipe trains and evaluates on (profile subsets applied), on ``device``."""
    from lsbook.data.augment import make_transforms
    from lsbook.data.registry import get_dataset

    info = get_dataset(recipe.dataset)
    if info.kind != "image":
        raise LsbookError(f"recipe {recipe.name!r} trains on {info.kind} data; lsbook.train handles "
                          "image classifiers (the Transformer has its own trainer)")
    sizes = {"train": recipe.train_subset, "val": recipe.val_subset, "test": recipe.test_subset}
    splits, class_names = {}, list(info.class_names)
    for salt, split in enumerate(("train", "val", "test")):
        if recipe.synthetic_data:
            images, labels = synthetic_split(info.name, split, sizes[split])
            class_names = class_names or [f"class {k}" for k in range(info.num_classes)]
        else:
            loaded = _load_split(info.name, split, recipe.original_split)
            images, labels = loaded.images, loaded.labels
            class_names = list(loaded.class_names)
        images, labels = _subset(images, labels, sizes[split], salt)
        splits[split] = (images.to(device).contiguous(), labels.to(device))
    return RunData(splits["train"], splits["val"], splits["test"], class_names, make_transforms(info.name))


# --- Optimisation --------------------------------------------------------------------------------

def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def parameter_groups(model: nn.Module, recipe: Recipe) -> list[dict[str, Any]]:
    """Parameters grouped by (lr multiplier, weight decay) per the recipe's layer rules."""
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        prefixes = [p for p in recipe.lr_multipliers if _matches(name, p)]
        multiplier = recipe.lr_multipliers[max(prefixes, key=len)] if prefixes else 1.0
        decayed = recipe.weight_decay_on is None or any(_matches(name, p) for p in recipe.weight_decay_on)
        groups.setdefault((multiplier, recipe.weight_decay if decayed else 0.0), []).append(parameter)
    return [{"params": params, "lr_multiplier": mult, "weight_decay": wd, "lr": recipe.lr * mult}
            for (mult, wd), params in groups.items()]


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (momentum, dampening, Nesterov) or Adam over the recipe's parameter groups."""
    groups = parameter_groups(model, recipe)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, betas=recipe.adam_betas, eps=recipe.adam_eps)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, dampening=recipe.dampening,
                           nesterov=recipe.nesterov)


def lr_factor(recipe: Recipe, epoch: int, step: int, total_steps: int) -> float:
    """Schedule factor of the base learning rate at global ``step`` (0-based) in ``epoch``."""
    if recipe.schedule == "linear":  # decays to 0 over all steps (seed 2.2: "linearly ... to 0")
        return 1.0 - step / total_steps
    if recipe.schedule == "multistep":
        return recipe.lr_gamma ** sum(epoch >= m for m in recipe.lr_milestones)
    if recipe.schedule == "step":
        return recipe.lr_gamma ** (epoch // recipe.lr_step_epochs)
    return 1.0


def make_objective(recipe: Recipe, alpha: float, distill: dict | None,
                   teacher_model: nn.Module | None) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """loss(logits, labels, inputs) × the recipe's loss multiplier."""
    from lsbook import losses

    multiplier = recipe.loss_multiplier
    if distill is None:
        return lambda logits, labels, _: losses.label_smoothing_cross_entropy(logits, labels, alpha) * multiplier
    temperature, beta = distill["temperature"], distill["beta"]

    def distillation(logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher_model(inputs)  # [B, K], the same augmented batch
        if distill["loss"] == "replication":
            loss = losses.distillation_loss_replication(logits, teacher_logits / temperature, labels, beta=beta)
        else:
            loss = losses.distillation_loss_original(logits, teacher_logits, temperature, beta=beta, labels=labels)
        return loss * multiplier

    return distillation


# --- Evaluation ----------------------------------------------------------------------------------

@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, transforms, batch_size: int) -> torch.Tensor:
    """Eval-mode logits of every image: float32 [N, K] on the CPU."""
    model.eval()
    out = [model(transforms.eval(images[i:i + batch_size])).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


@torch.no_grad()
def penultimate_features(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, classes,
                         per_class: int, transforms, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``model.features`` of the first ``per_class`` examples of each plot class: [M, n], [M]."""
    picked = [torch.nonzero(labels == c).flatten()[:per_class] for c in classes]
    index = torch.cat(picked) if picked else torch.empty(0, dtype=torch.long, device=labels.device)
    if len(index) == 0 or not hasattr(model, "features"):
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    model.eval()
    chunks = [model.features(transforms.eval(images[index[i:i + batch_size]])).float().cpu()
              for i in range(0, len(index), batch_size)]
    return torch.cat(chunks).numpy(), labels[index].cpu().numpy()


def split_metrics(prefix: str, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy, NLL and 15-bin ECE (Section 5) of one split's logits."""
    from lsbook.calibration import accuracy, expected_calibration_error, negative_log_likelihood

    labels = labels.cpu()
    if len(labels) == 0:
        return {}
    return {f"{prefix}_accuracy": accuracy(logits, labels),
            f"{prefix}_nll": negative_log_likelihood(logits, labels),
            f"{prefix}_ece": expected_calibration_error(logits, labels)}


# --- Checkpoints ---------------------------------------------------------------------------------

def _write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_checkpoint(path: Path) -> dict[str, Any] | None:
    """A checkpoint written by this engine version, or None (absent or unusable: start afresh)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001
        print(f"warning: ignoring unreadable checkpoint {path} ({error}); training from the start",
              file=sys.stderr)
        return None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("engine_version") != ENGINE_VERSION:
        print(f"warning: ignoring checkpoint {path} of another engine version; training from the start",
              file=sys.stderr)
        return None
    return state


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
                generator: torch.Generator, epoch: int, global_step: int, total_steps: int, *,
                after_step: Callable[[int], None] | None = None, what: str = "run"):
    """One shuffled pass over the training set. Returns (per-step losses [S], number of correct
    predictions on the training batches, global step after the epoch); raises
    TrainingDivergedError (naming epoch and step) as soon as a loss is NaN or infinite."""
    images_all, labels_all = data.train
    device = labels_all.device
    steps = math.ceil(len(labels_all) / recipe.batch_size)
    check_every = 1 if device.type == "cpu" else 50  # a finiteness check is a sync on GPUs
    model.train()
    order = torch.randperm(len(labels_all), generator=generator).to(device)
    losses = torch.zeros(steps, device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    for step in range(steps):
        index = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
        images, labels = images_all[index], labels_all[index]  # uint8 [B,C,H,W], int64 [B]
        inputs = data.transforms.train(images, generator) if recipe.augment else data.transforms.eval(images)
        factor = lr_factor(recipe, epoch, global_step, total_steps)
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
    data = load_run_data(recipe, device)
    train_labels = data.train[1]
    if len(train_labels) == 0:
        raise LsbookError(f"recipe {recipe.name!r}: the training split is empty")

    torch.manual_seed(seed)  # initialisation and dropout draw from the global RNG
    model = build(recipe.model, config["num_classes"], **recipe.model_kwargs).to(device)
    optimizer = make_optimizer(model, recipe)
    generator = torch.Generator().manual_seed(derived_seed(seed, "data"))  # shuffling + augmentation
    objective = make_objective(recipe, alpha, config["distill"], teacher_model)

    steps_per_epoch = math.ceil(len(train_labels) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    start = {"epoch": 0, "global_step": 0, "history": [], "step_log": [], "wall_seconds": 0.0, "resumes": 0}
    checkpoint_path = run_dir / "checkpoint.pt"
    state = _read_checkpoint(checkpoint_path)
    if state is not None and state.get("key") == plan.key:
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

    bar = tqdm(total=total_steps, initial=global_step, disable=not progress, unit="step",
               desc=f"{recipe.name} α={alpha:g} seed={seed}", file=sys.stderr, dynamic_ncols=True,
               mininterval=0.1 if sys.stderr.isatty() else 30.0)  # logs: a line every 30 s
    test_logits = val_logits = None
    for epoch in range(start["epoch"], recipe.epochs):
        epoch_began = time.perf_counter()
        losses, correct, global_step = train_epoch(
            model, optimizer, objective, recipe, data, generator, epoch, global_step, total_steps,
            after_step=after_step, what=f"run {plan.key} ({recipe.name}, alpha={alpha:g}, seed={seed})")
        test_logits = predict_logits(model, data.test[0], data.transforms, recipe.eval_batch_size)
        val_logits = predict_logits(model, data.val[0], data.transforms, recipe.eval_batch_size)
        entry = {"epoch": epoch + 1, "step": global_step,
                 "lr": recipe.lr * lr_factor(recipe, epoch, global_step - 1, total_steps),
                 "train_loss": float(losses.mean()),
                 "train_accuracy": float(correct) / len(train_labels),
                 **split_metrics("test", test_logits, data.test[1]),
                 **split_metrics("val", val_logits, data.val[1]),
                 "seconds": time.perf_counter() - epoch_began}
        history.append(entry)
        bar.set_postfix(epoch=epoch + 1, loss=f"{entry['train_loss']:.3f}",
                        test_acc=f"{entry.get('test_accuracy', float('nan')):.4f}")
        _write_checkpoint(checkpoint_path, {
            "format": CHECKPOINT_FORMAT, "engine_version": ENGINE_VERSION, "key": plan.key,
            "epoch": epoch + 1, "global_step": global_step, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "python_rng": random.getstate(), "numpy_rng": np.random.get_state(),
            "history": history, "step_log": step_log,
            "wall_seconds": wall_before + time.perf_counter() - began, "resumes": start["resumes"]})
    bar.close()
    if test_logits is None:  # resumed from the final checkpoint: evaluate the finished model
        test_logits = predict_logits(model, data.test[0], data.transforms, recipe.eval_batch_size)
        val_logits = predict_logits(model, data.val[0], data.transforms, recipe.eval_batch_size)

    test_labels, val_labels = data.test[1].cpu(), data.val[1].cpu()
    metrics: dict[str, Any] = {k: v for k, v in history[-1].items() if k.startswith(("test_", "val_", "train_"))}
    if len(val_labels):
        temperature = fit_temperature(val_logits, val_labels)
        metrics.update(val_temperature=temperature,
                       test_ece_at_val_temperature=expected_calibration_error(test_logits, test_labels,
                                                                              temperature=temperature),
                       test_nll_at_val_temperature=negative_log_likelihood(test_logits, test_labels,
                                                                           temperature=temperature))
    metrics.update(epochs=recipe.epochs, steps=global_step, train_examples=len(train_labels),
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
