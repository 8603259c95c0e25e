"""One Transformer translation run (Sections 5.2 and 5.3 of the replication) as a task of the one loop.

:func:`lsbook.train.ensure_run` trains a Transformer :class:`lsbook.run_config.RunConfig` (recipe +
:class:`lsbook.translation.settings.TranslationSettings`) as the :class:`TranslationTask` here,
evaluates it (:mod:`lsbook.translation.evaluation`) and stores it, as it does every run.

Training: label-smoothed cross-entropy over the target vocabulary, padding ignored
(:func:`lsbook.losses.label_smoothing_cross_entropy` with ``ignore_index=PAD_ID``), Adam as the
recipe says (PyTorch's translation example: lr 1e-4, betas 0.9/0.98, eps 1e-9, batch 128,
18 epochs). It trains in the one loop (:mod:`lsbook.loop`: seeding, optimiser, divergence check,
checkpoints with every random state on the loop's cadence, always after the last epoch, exact resume) as a :class:`TranslationTask`;
a killed run resumes from its checkpoint and ends as an uninterrupted one would. Each epoch's ``history`` entry keeps the mean train loss and, on val under teacher
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

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsbook.data.text import PAD_ID, bucket_batches
from lsbook.loop import Trained
from lsbook.losses import label_smoothing_cross_entropy
from lsbook.models import build
from lsbook.recipes import Recipe
from lsbook.run_config import RunConfig
from lsbook.translation.corpus import TranslationCorpus, check_fingerprints, load_corpus, load_tokenizers
from lsbook.translation.evaluation import epoch_validation, evaluate_translation


# --- The Transformer as a task of the one loop ---------------------------------------------------

def build_model(recipe: Recipe, corpus: TranslationCorpus) -> torch.nn.Module:
    """The recipe's transformer sized for the corpus's two vocabularies."""
    return build("transformer", corpus.target_tokenizer.vocab_size,
                 src_vocab=corpus.source_tokenizer.vocab_size, pad_id=PAD_ID, **recipe.model_kwargs)


def sequence_loss(model: torch.nn.Module, src: torch.Tensor, tgt: torch.Tensor, alpha: float) -> torch.Tensor:
    """Label-smoothed cross-entropy of predicting tgt[:, 1:] from tgt[:, :-1], padding ignored."""
    logits = model(src, tgt[:, :-1])                                              # [B, T-1, V]
    return label_smoothing_cross_entropy(logits, tgt[:, 1:], alpha, ignore_index=PAD_ID)


def batch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling generator of one epoch: fixed by (seed, epoch), as the committed runs drew it."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


def prepare_corpus(config: RunConfig, run_dir: Path, checkpoint: dict[str, Any] | None) -> TranslationCorpus:
    """The run's corpus (from ``$LSBOOK_DATA``): tokenizers trained afresh, or — when resuming — the
    ones saved with the run, checked against the checkpoint's fingerprints."""
    recipe, settings = config.recipe, config.translation
    subsets = {"train": recipe.train_subset, "val": recipe.val_subset, "test": recipe.test_subset}
    tokenizers = None
    if checkpoint is not None:
        tokenizers = load_tokenizers(run_dir, settings.source, settings.target)
        check_fingerprints(checkpoint["fingerprints"], *tokenizers, where=f"the checkpoint in {run_dir}")
    corpus = load_corpus(settings.vocab_size, source=settings.source, target=settings.target,
                         subsets=subsets, tokenizers=tokenizers)
    if checkpoint is None:
        corpus.save_tokenizers(run_dir)
    return corpus


class TranslationTask:
    """A translation run as a :class:`lsbook.loop.Task`: Multi30k sentence pairs in length-bucketed
    batches, label-smoothed token cross-entropy, a teacher-forced val pass after every epoch, and
    the record of :func:`lsbook.translation.evaluation.evaluate_translation` at the end."""

    def __init__(self, config: RunConfig, run_dir: Path, progress: bool = True):
        self.config, self.run_dir, self.progress = config, run_dir, progress
        self.key, self.recipe, self.settings = config.key, config.recipe, config.translation
        self.alpha, self.seed = config.alpha, config.seed

    def load_data(self, device: torch.device, checkpoint: dict[str, Any] | None) -> int:
        self.device = device
        self.corpus = prepare_corpus(self.config, self.run_dir, checkpoint)
        return len(self.corpus.ids["train"])

    def build_model(self) -> torch.nn.Module:
        return build_model(self.recipe, self.corpus).to(self.device)

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(src [B, S], tgt [B, T]) batches of similar lengths, shuffled by :func:`batch_generator`
        (not the loop's ``generator``: the committed runs were drawn so)."""
        self.sentences: list[int] = []  # per step: sentences in the batch (the train loss's weights)
        return bucket_batches(self.corpus.ids["train"], self.recipe.batch_size, batch_generator(self.seed, epoch))

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        src, tgt = (t.to(self.device) for t in batch)
        self.sentences.append(len(src))
        return sequence_loss(model, src, tgt, self.alpha) * self.recipe.loss_multiplier

    def train_metrics(self, losses: torch.Tensor) -> dict[str, float]:
        """The mean per-token loss of the epoch's batches, weighted by their sentences."""
        total, count = 0.0, 0
        for loss, sentences in zip(losses.tolist(), self.sentences):
            total, count = total + loss * sentences, count + sentences
        return {"train_loss": total / count}

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        began = time.time()
        return {**epoch_validation(model, self.corpus, self.settings, self.device),
                "val_seconds": time.time() - began}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"fingerprints": self.corpus.fingerprints}

    def final_outputs(self, model: torch.nn.Module, trained: Trained) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        began = time.time()
        metrics, arrays = evaluate_translation(model, self.corpus, self.settings, self.device,
                                               progress=self.progress)
        metrics.update(history=trained.history, train_seconds=sum(e["seconds"] for e in trained.history),
                       eval_seconds=time.time() - began)
        return metrics, arrays
