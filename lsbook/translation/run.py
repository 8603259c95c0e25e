"""One Transformer translation run (Sections 5.2 and 5.3 of the replication), trained and stored.

``ensure_translation_run(alpha, seed, profile)`` is the translation counterpart of
:func:`lsbook.train.ensure_run` (which hands ``transformer`` recipes to it): it returns the stored
record, or trains the run (resuming from its last checkpoint), evaluates it
(:mod:`lsbook.translation.evaluation`) and stores it. What a run is — recipe, settings, key — is
:mod:`lsbook.translation.settings`.

Training: label-smoothed cross-entropy over the target vocabulary, padding ignored
(:func:`lsbook.losses.label_smoothing_cross_entropy` with ``ignore_index=PAD_ID``), Adam as the
recipe says (PyTorch's translation example: lr 1e-4, betas 0.9/0.98, eps 1e-9, batch 128,
18 epochs). A checkpoint is written atomically after every epoch, with the CPU and (on a GPU) CUDA
random states that dropout draws from; a killed run resumes from it and ends as an uninterrupted
one would. Each epoch's ``history`` entry keeps the mean train loss and, on val under teacher
forcing, the token NLL, accuracy, ECE at T = 1 and the fitted temperature
(:func:`lsbook.translation.evaluation.epoch_validation`): where val NLL bottoms out, and whether
the model grows overconfident (T > 1).

The record stays compact: per temperature T the token-level ECE, NLL, accuracy and
reliability bins and the beam-search BLEU on val and test; the temperature fitted on *val* token
logits and the test metrics at that T; example translations; the tokenizers' fingerprints. No
vocabulary-wide logits are stored. The final weights stay in the run's checkpoint folder (not
committed); :func:`lsbook.translation.translator.load_translator` reads them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lsbook.data.text import PAD_ID, bucket_batches
from lsbook.errors import TrainingDivergedError
from lsbook.losses import label_smoothing_cross_entropy
from lsbook.recipes import Recipe
from lsbook.runtime import (CHECKPOINT_FORMAT, deterministic_algorithms, exclusive_lock,
                            pick_device, read_checkpoint, run_directory, write_checkpoint, write_run_config)
from lsbook.provenance import check_clean_tree, code_version, provenance
from lsbook.store import Record, Store
from lsbook.translation.corpus import TranslationCorpus, check_fingerprints, load_corpus, load_tokenizers
from lsbook.translation.evaluation import epoch_validation, evaluate_translation
from lsbook.translation.settings import (RECIPE, TranslationPlan, TranslationSettings, plan_translation_run)


# --- Training -------------------------------------------------------------------------------------

def build_model(recipe: Recipe, corpus: TranslationCorpus) -> torch.nn.Module:
    """The recipe's transformer sized for the corpus's two vocabularies."""
    from lsbook.models import build

    return build("transformer", corpus.target_tokenizer.vocab_size,
                 src_vocab=corpus.source_tokenizer.vocab_size, pad_id=PAD_ID, **recipe.model_kwargs)


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """Adam (the recipe's lr, betas, eps) or SGD, with the recipe's weight decay on every parameter."""
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=recipe.adam_betas,
                                eps=recipe.adam_eps, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           dampening=recipe.dampening, nesterov=recipe.nesterov,
                           weight_decay=recipe.weight_decay)


def sequence_loss(model: torch.nn.Module, src: torch.Tensor, tgt: torch.Tensor, alpha: float) -> torch.Tensor:
    """Label-smoothed cross-entropy of predicting tgt[:, 1:] from tgt[:, :-1], padding ignored."""
    logits = model(src, tgt[:, :-1])                                              # [B, T-1, V]
    return label_smoothing_cross_entropy(logits, tgt[:, 1:], alpha, ignore_index=PAD_ID)


def batch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling generator of one epoch: fixed by (seed, epoch), so resuming needs no state."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


def prepare_corpus(plan: TranslationPlan, run_dir: Path, data_root: str | os.PathLike | None,
                   checkpoint: dict[str, Any] | None) -> TranslationCorpus:
    """The run's corpus: tokenizers trained afresh, or — when resuming — the ones saved with the run,
    checked against the checkpoint's fingerprints."""
    recipe, settings = plan.recipe, plan.settings
    subsets = {"train": recipe.train_subset, "val": recipe.val_subset, "test": recipe.test_subset}
    tokenizers = None
    if checkpoint is not None:
        tokenizers = load_tokenizers(run_dir, settings.source, settings.target)
        check_fingerprints(checkpoint["fingerprints"], *tokenizers, where=f"the checkpoint in {run_dir}")
    corpus = load_corpus(settings.vocab_size, source=settings.source, target=settings.target,
                         root=data_root, subsets=subsets, tokenizers=tokenizers)
    if checkpoint is None:
        corpus.save_tokenizers(run_dir)
    return corpus


@dataclass
class TranslationOutcome:
    metrics: dict[str, Any]
    arrays: dict[str, np.ndarray]
    provenance: dict[str, Any]
    model: torch.nn.Module = field(repr=False)


def train_translation(plan: TranslationPlan, device: torch.device, run_dir: Path, *,
                      data_root: str | os.PathLike | None = None, progress: bool = True,
                      on_epoch_end: Callable[[int], None] | None = None) -> TranslationOutcome:
    """Train (or resume) the run in ``run_dir``, then evaluate it; ``on_epoch_end(epoch)`` is called
    after each epoch's checkpoint is written (tests use it to interrupt a run)."""
    started = time.time()
    code_version()  # the commit this process runs, taken now (provenance reads it at the end)
    alpha, seed, recipe = plan.config["alpha"], plan.config["seed"], plan.recipe
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "checkpoint.pt"
    checkpoint = read_checkpoint(checkpoint_path, key=plan.key)
    corpus = prepare_corpus(plan, run_dir, data_root, checkpoint)

    torch.manual_seed(seed)  # initialisation and dropout
    model = build_model(recipe, corpus).to(device)
    optimizer = make_optimizer(model, recipe)
    history: list[dict[str, Any]] = []
    start_epoch, train_seconds = 0, 0.0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["rng"])
        if device.type == "cuda" and checkpoint.get("cuda_rng") is not None:  # dropout on the GPU
            torch.cuda.set_rng_state_all(checkpoint["cuda_rng"])
        start_epoch, history, train_seconds = checkpoint["epoch"], checkpoint["history"], checkpoint["train_seconds"]
        _log(progress, f"resuming {plan.key} after epoch {start_epoch}")

    for epoch in range(start_epoch, recipe.epochs):
        epoch_start = time.time()
        model.train()
        total, count = 0.0, 0
        batches = bucket_batches(corpus.ids["train"], recipe.batch_size, batch_generator(seed, epoch))
        steps = -(-len(corpus.ids["train"]) // recipe.batch_size)
        for src, tgt in tqdm(batches, total=steps, desc=f"epoch {epoch + 1}/{recipe.epochs}",
                             disable=not progress, leave=False):
            src, tgt = src.to(device), tgt.to(device)
            loss = sequence_loss(model, src, tgt, alpha) * recipe.loss_multiplier
            if not torch.isfinite(loss):
                raise TrainingDivergedError(f"training loss became {loss.item()} in epoch {epoch + 1} of run "
                                            f"{plan.key} (alpha={alpha}, lr={recipe.lr}); lower the lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip_norm)
            optimizer.step()
            total, count = total + float(loss.detach()) * len(src), count + len(src)
        val_start = time.time()
        val = epoch_validation(model, corpus, plan.settings, device)
        train_seconds += time.time() - epoch_start
        history.append({"epoch": epoch + 1, "train_loss": total / count, **val,
                        "seconds": time.time() - epoch_start, "val_seconds": time.time() - val_start})
        _log(progress, f"epoch {epoch + 1}/{recipe.epochs}: train loss {total / count:.4f}, val NLL "
                       f"{val['val_nll']:.4f}, val token accuracy {val['val_accuracy']:.4f}, fitted T "
                       f"{val['val_temperature']:.3f} ({time.time() - epoch_start:.0f} s)")
        write_checkpoint(checkpoint_path, {
            "format": CHECKPOINT_FORMAT, "key": plan.key, "epoch": epoch + 1, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None, "history": history,
            "train_seconds": train_seconds, "fingerprints": corpus.fingerprints})
        if on_epoch_end is not None:
            on_epoch_end(epoch)

    eval_start = time.time()
    metrics, arrays = evaluate_translation(model, corpus, plan.settings, device, progress=progress)
    metrics["history"] = history
    metrics["train_seconds"] = train_seconds
    metrics["eval_seconds"] = time.time() - eval_start
    return TranslationOutcome(metrics, arrays, provenance(device, time.time() - started), model)


# --- The public entry point -----------------------------------------------------------------------

def find_translation_run(alpha: float, seed: int, profile: str, *, store: Store | None = None,
                         recipe: str | Recipe = RECIPE, settings: TranslationSettings | None = None) -> Record | None:
    """The stored record of this run, or None (never trains)."""
    plan = plan_translation_run(alpha, seed, profile, recipe=recipe, settings=settings)
    return (store or Store()).get(plan.key, plan.config)


def ensure_translation_run(alpha: float, seed: int, profile: str, *, store: Store | None = None,
                           device: str | torch.device | None = None, progress: bool = True,
                           recipe: str | Recipe = RECIPE, settings: TranslationSettings | None = None,
                           data_root: str | os.PathLike | None = None,
                           runs_root: str | os.PathLike | None = None, allow_dirty: bool = False) -> Record:
    """The stored record of a translation run; trains, evaluates and stores it first if missing
    (a ``paper`` run only from committed code unless ``allow_dirty``)."""
    plan = plan_translation_run(alpha, seed, profile, recipe=recipe, settings=settings)
    store = store or Store()
    stored = store.get(plan.key, plan.config)
    if stored is not None:
        return stored
    dirty = check_clean_tree(plan.config["profile"], allow_dirty)  # before anything is written
    chosen = pick_device(device)
    run_dir = run_directory(plan.key, runs_root)
    with exclusive_lock(run_dir / "lock"):
        stored = store.get(plan.key, plan.config)  # another process may have finished it meanwhile
        if stored is None:
            write_run_config(run_dir, plan.config)
            with deterministic_algorithms(chosen):
                outcome = train_translation(plan, chosen, run_dir, data_root=data_root, progress=progress)
            stored = store.put(Record(key=plan.key, config=plan.config, metrics=outcome.metrics,
                                      provenance={**outcome.provenance, **dirty}, arrays=outcome.arrays))
    return stored


def _log(enabled: bool, message: str) -> None:
    if enabled:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
