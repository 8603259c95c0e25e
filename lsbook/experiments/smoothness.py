"""The smoothness index γ of stored teachers (Eq. 3), computed once and kept in the store.

γ is "computed over all training examples" (seed Section 6): it needs the teacher's logits on
its training set, hence its weights, which the committed store does not carry (they stay in the
local checkpoint folder). So γ is computed when the teacher is at hand and stored as a small
record of its own — one per (teacher, temperature) — that a book build reads without weights.
"""

from __future__ import annotations

import time
from typing import Iterable

import torch
from torch import nn

from lsbook import ENGINE_VERSION
from lsbook.distillation import smoothness_index
from lsbook.errors import StoreError
from lsbook.recipes import json_ready
from lsbook.provenance import provenance
from lsbook.store import Record, Store, config_key
from lsbook.validation import check_temperature

SMOOTHNESS_RECIPE = "smoothness-index"  # the "recipe" folder these records live in


def smoothness_config(teacher: Record, temperature: float) -> dict:
    """The config (and so the key) of γ for ``teacher`` at ``temperature``."""
    return json_ready({
        "recipe": SMOOTHNESS_RECIPE,
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


def find_smoothness(teacher: Record, temperature: float, store: Store | None = None) -> float | None:
    """Stored γ of ``teacher`` at ``temperature``, or None (never computes)."""
    config = smoothness_config(teacher, temperature)
    record = (store or Store()).get(config_key(config), config)
    return None if record is None else float(record.metrics["gamma"])


def teacher_model(teacher: Record, store: Store, device: torch.device, runs_root=None) -> nn.Module:
    """The teacher's network: stored weights or local checkpoint, else retrained with its weights.

    Retraining is deterministic on one device (tests/test_train.py), so it gives back the very
    teacher whose record is stored; its key is checked.
    """
    from lsbook.train import ensure_run, load_model, load_teacher

    try:
        return load_teacher(teacher, device, runs_root)
    except StoreError:
        c = teacher.config
        again = ensure_run(teacher.recipe, c["alpha"], c["seed"], c["profile"], store=store,
                           device=device, keep_model=True, runs_root=runs_root)
        if again.key != teacher.key:
            raise StoreError(f"retraining teacher {teacher.key} gave run {again.key}; only plain "
                             "(non-distilled) runs can be rebuilt as teachers") from None
        return load_model(again, device)


def ensure_smoothness(teacher: Record, temperatures: Iterable[float], *, store: Store | None = None,
                      device: str | torch.device | None = None, runs_root=None) -> dict[float, float]:
    """γ of ``teacher`` at each temperature: stored values, the missing ones computed and stored."""
    from lsbook.evaluation import predict_logits
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
        config = smoothness_config(teacher, temperature)
        store.put(Record(key=config_key(config), config=config,
                         metrics={"gamma": gamma, "examples": int(len(labels))},
                         provenance=provenance(chosen, time.perf_counter() - began), arrays={}))
        gammas[temperature] = gamma
    return gammas
