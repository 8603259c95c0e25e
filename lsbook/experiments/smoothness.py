"""The smoothness index γ of stored teachers (Eq. 3), computed once and kept beside the teacher.

γ is "computed over all training examples" (seed Section 6): it needs the teacher's logits on
its training set, hence its weights, which the committed store does not carry (they stay in the
local checkpoint folder). So γ is computed where the teacher is at hand and kept with the teacher's
record as a derived value, one file per temperature (``<teacher>/derived/smoothness-T<T>.json``,
:meth:`lsbook.store.Store.put_derived`), which a book build reads without weights. γ is not a run:
it has no config or key of its own.

Earlier versions stored γ as records of a pseudo-recipe ``smoothness-index``;
:func:`migrate_legacy_records` moves them beside their teachers (the committed store holds none).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from lsbook import ENGINE_VERSION
from lsbook.errors import StoreError
from lsbook.recipes import json_ready
from lsbook.store import Record, Store, config_key
from lsbook.validation import check_temperature

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

LEGACY_RECIPE = "smoothness-index"  # the pseudo-recipe folder of γ stored as records (before derived values)


def smoothness_name(temperature: float) -> str:
    """The name under which γ of a teacher at ``temperature`` is kept beside it, e.g. ``smoothness-T2.0``."""
    return f"smoothness-T{check_temperature(temperature)!r}"


def find_smoothness(teacher: Record, temperature: float, store: Store | None = None) -> float | None:
    """Stored γ of ``teacher`` at ``temperature``, or None (never computes)."""
    store = store or Store()
    values = store.derived(teacher, smoothness_name(temperature))
    return None if values is None else float(values["gamma"])


def teacher_model(teacher: Record, store: Store, device: torch.device, runs_root=None) -> nn.Module:
    """The teacher's network: stored weights or local checkpoint, else retrained with its weights.

    Retraining is deterministic on one device (tests/test_train.py), so it gives back the very
    teacher whose record is stored; its key is checked.
    """
    from lsbook.run_config import RunConfig
    from lsbook.train import ensure_run, load_model, load_teacher

    try:
        return load_teacher(teacher, device, runs_root)
    except StoreError:
        c = teacher.config
        again = ensure_run(RunConfig.of(teacher.recipe, c["alpha"], c["seed"], c["profile"]), store=store,
                           device=device, keep_model=True, runs_root=runs_root)
        if again.key != teacher.key:
            raise StoreError(f"retraining teacher {teacher.key} gave run {again.key}; only plain "
                             "(non-distilled) runs can be rebuilt as teachers") from None
        return load_model(again, device)


def ensure_smoothness(teacher: Record, temperatures: Iterable[float], *, store: Store | None = None,
                      device: str | torch.device | None = None, runs_root=None) -> dict[float, float]:
    """γ of ``teacher`` at each temperature: stored values, the missing ones computed and stored."""
    from lsbook.distillation import smoothness_index
    from lsbook.evaluation import predict_logits
    from lsbook.provenance import provenance
    from lsbook.run_data import load_run_data
    from lsbook.runtime import pick_device

    store = store or Store()
    temperatures = [check_temperature(t) for t in temperatures]
    gammas = {t: find_smoothness(teacher, t, store) for t in temperatures}
    missing = [t for t, g in gammas.items() if g is None]
    if not missing:
        return gammas
    began = time.perf_counter()
    chosen = pick_device(device)
    model = teacher_model(teacher, store, chosen, runs_root)
    recipe = teacher.recipe
    data = load_run_data(recipe, chosen)
    images, labels = data.train                       # the teacher's own training split, unaugmented
    logits = predict_logits(model, images, data.transforms, recipe.eval_batch_size)  # [N, K]
    labels = labels.cpu()
    for temperature in missing:
        gamma = smoothness_index(logits, labels, temperature)
        store.put_derived(teacher, smoothness_name(temperature), {
            "gamma": gamma, "temperature": temperature, "split": "train", "examples": int(len(labels)),
            "provenance": provenance(chosen, time.perf_counter() - began)})
        gammas[temperature] = gamma
    return gammas


# --- γ stored as records of the pseudo-recipe "smoothness-index" (before derived values) -------------

def legacy_config(teacher: Record, temperature: float) -> dict:
    """The config (and so the key) under which γ of ``teacher`` at ``temperature`` was stored as a record."""
    return json_ready({
        "recipe": LEGACY_RECIPE,
        "profile": teacher.config["profile"],
        "alpha": teacher.config["alpha"],          # the teacher's α (for listings)
        "seed": teacher.config["seed"],
        "engine_version": ENGINE_VERSION,
        "dataset": teacher.config["dataset"],
        "teacher_key": teacher.key,
        "teacher_recipe": teacher.config["recipe"],
        "temperature": check_temperature(temperature),
        "split": "train",                          # Eq. 3 over the training examples
    })


def migrate_legacy_records(store: Store | None = None, *, delete: bool = False) -> list[Path]:
    """Keep the γ of every ``smoothness-index`` record beside its teacher (same value, its provenance
    kept); with ``delete``, remove the record once its value is kept. Returns the records' folders.
    Safe to run again: a teacher's γ already kept is left as it is."""
    store = store or Store()
    folders = store.folders(LEGACY_RECIPE)
    for folder in folders:
        legacy = store.load(folder)
        c = legacy.config
        teacher = store.get(c["teacher_key"])
        if teacher is None:
            raise StoreError(f"γ record {folder} names teacher {c['teacher_key']}, which is not in {store.root}")
        if config_key(legacy_config(teacher, c["temperature"])) != legacy.key:
            raise StoreError(f"γ record {folder} does not match its teacher {teacher.key}'s config")
        name = smoothness_name(c["temperature"])
        if store.derived(teacher, name) is None:
            store.put_derived(teacher, name, {
                "gamma": legacy.metrics["gamma"], "temperature": c["temperature"], "split": c["split"],
                "examples": legacy.metrics["examples"], "provenance": legacy.provenance})
        if delete:
            store.delete(legacy.key)
    return folders
