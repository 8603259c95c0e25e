"""Evaluating a trained translation model: token calibration curves, the fitted temperature, BLEU.

The temperature is fitted on the *val* tokens (:func:`lsbook.calibration.fit_temperature`) and
only reported on test — the replication picked its temperatures on the test split.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lsbook.calibration import fit_temperature
from lsbook.data.text import bucket_batches
from lsbook.translation.corpus import TranslationCorpus
from lsbook.translation.decoding import translate
from lsbook.translation.metrics import (BleuScore, TokenLogits, bleu_of_ids, calibration_curve, corpus_bleu,
                                        sentence_bleu_statistics, sentence_nll, teacher_forced_logits,
                                        token_calibration)
from lsbook.translation.settings import TranslationSettings


def eval_batches(corpus: TranslationCorpus, split: str, batch_size: int, device: torch.device):
    """(src, tgt) batches of ``split`` in corpus order, on ``device``."""
    for src, tgt in bucket_batches(corpus.ids[split], batch_size, shuffle=False):
        yield src.to(device), tgt.to(device)


def epoch_validation(model, corpus: TranslationCorpus, settings: TranslationSettings,
                     device: torch.device) -> dict[str, float]:
    """The per-epoch record of the val split under teacher forcing: token NLL, accuracy, ECE at
    T = 1 and the temperature fitted on these val tokens (above 1: the model is overconfident).

    Cost: one teacher-forced pass over val and a temperature fit of ~20–40 NLL evaluations over
    its [tokens, vocabulary] logits (on ``device``).
    """
    tokens = teacher_forced_logits(model, eval_batches(corpus, "val", settings.eval_batch_size, device))
    at_one = token_calibration(tokens, 1.0, settings.n_bins)
    return {"val_nll": at_one.nll, "val_accuracy": at_one.accuracy, "val_ece": at_one.ece,
            "val_temperature": fit_temperature(tokens.logits, tokens.labels, device=device)}


def decode_split(model, corpus: TranslationCorpus, split: str, settings: TranslationSettings, device: torch.device,
                 *, temperature: float = 1.0, beam_size: int | None = None) -> BleuScore:
    """Translate every source sentence of ``split`` and score it with sacrebleu against the raw references.

    Sentences are decoded in order of length (a batch then ends when its longest sentence does)
    and put back in corpus order.
    """
    pairs = corpus.ids[split]
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    sources = (src.to(device) for src, _ in bucket_batches([pairs[i] for i in order], settings.eval_batch_size,
                                                           shuffle=False))
    by_length = translate(model, sources, beam_size=settings.beam_size if beam_size is None else beam_size,
                          length_penalty=settings.length_penalty, temperature=temperature,
                          max_len_a=settings.max_len_a, max_len_b=settings.max_len_b)
    ids: list[list[int]] = [[] for _ in pairs]
    for position, index in enumerate(order):
        ids[index] = by_length[position]
    return bleu_of_ids(ids, corpus.target_tokenizer, corpus.references(split))


def evaluate_translation(model, corpus: TranslationCorpus, settings: TranslationSettings, device: torch.device, *,
                         progress: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Token calibration curves, fitted temperature, BLEU curves and examples of a trained model.

    The temperature is fitted on the val tokens and only *reported* on test (the replication
    picked its temperatures on the test split).
    """
    tokens: dict[str, TokenLogits] = {split: teacher_forced_logits(model, eval_batches(
        corpus, split, settings.eval_batch_size, device)) for split in ("val", "test")}
    fitted = fit_temperature(tokens["val"].logits, tokens["val"].labels)
    _log(progress, f"temperature fitted on val tokens: T = {fitted:.3f}")
    curves = {split: calibration_curve(tokens[split], settings.temperatures, settings.n_bins)
              for split in ("val", "test")}
    at_fitted = token_calibration(tokens["test"], fitted, settings.n_bins)
    # per test sentence (corpus order), so that a bootstrap over sentences can put an interval on NLL
    test_sentence_tokens = np.asarray([len(target) + 1 for _, target in corpus.ids["test"]], np.int64)  # + EOS
    test_sentence_nll = sentence_nll(tokens["test"], test_sentence_tokens)
    del tokens

    jobs = [(split, t) for t in settings.bleu_temperatures for split in ("val", "test")] + [("test", fitted)]
    bleu: dict[tuple[str, float], BleuScore] = {}
    for split, t in tqdm(jobs, desc="beam search", disable=not progress, leave=False):
        bleu[(split, t)] = decode_split(model, corpus, split, settings, device, temperature=t)
    greedy = decode_split(model, corpus, "test", settings, device, beam_size=1)
    _log(progress, f"test BLEU {bleu[('test', 1.0)].score:.2f} (beam {settings.beam_size}), "
                   f"{greedy.score:.2f} (greedy); at fitted T {bleu[('test', fitted)].score:.2f}")

    # The same beam-search hypotheses (T = 1) scored case-insensitively: closer to the tokenised,
    # uncased BLEU the original and the replication report; ``{split}_bleu`` stays the cased score.
    uncased = {split: corpus_bleu(bleu[(split, 1.0)].hypotheses, corpus.references(split), lowercase=True)
               for split in ("val", "test")}

    index_one = settings.temperatures.index(1.0)
    metrics: dict[str, Any] = {}
    for split in ("val", "test"):
        at_one = curves[split][index_one]
        metrics.update({f"{split}_accuracy": at_one.accuracy, f"{split}_nll": at_one.nll, f"{split}_ece": at_one.ece,
                        f"{split}_bleu": bleu[(split, 1.0)].score, f"{split}_bleu_uncased": uncased[split].score,
                        f"{split}_tokens": at_one.tokens})
    metrics.update({
        "val_temperature": fitted,
        "test_ece_at_val_temperature": at_fitted.ece,
        "test_nll_at_val_temperature": at_fitted.nll,
        "test_bleu_at_val_temperature": bleu[("test", fitted)].score,
        "test_bleu_greedy": greedy.score,
        "bleu_signature": bleu[("test", 1.0)].signature,
        "bleu_uncased_signature": uncased["test"].signature,
        "curves": {"temperatures": list(settings.temperatures),
                   **{split: {"ece": [c.ece for c in curves[split]], "nll": [c.nll for c in curves[split]],
                              "accuracy": [c.accuracy for c in curves[split]]} for split in ("val", "test")}},
        "bleu_curves": {"temperatures": list(settings.bleu_temperatures),
                        **{split: [bleu[(split, t)].score for t in settings.bleu_temperatures]
                           for split in ("val", "test")}},
        "tokenizers": {role: {"language": tok.language, "fingerprint": tok.fingerprint, "vocab_size": tok.vocab_size}
                       for role, tok in (("source", corpus.source_tokenizer), ("target", corpus.target_tokenizer))},
        "examples": [{"source": source, "reference": reference, "hypothesis": hypothesis, "greedy": greedy_text}
                     for (source, reference), hypothesis, greedy_text in zip(
                         corpus.raw["test"][:settings.num_examples], bleu[("test", 1.0)].hypotheses,
                         greedy.hypotheses)],
    })
    arrays = {"temperatures": np.asarray(settings.temperatures, np.float64),
              "bin_edges": np.asarray(at_fitted.bins.edges, np.float64)}
    for split in ("val", "test"):
        arrays[f"{split}_bins_counts"] = np.stack([c.bins.counts for c in curves[split]]).astype(np.int64)
        arrays[f"{split}_bins_confidence"] = np.stack([c.bins.confidence for c in curves[split]])
        arrays[f"{split}_bins_accuracy"] = np.stack([c.bins.accuracy for c in curves[split]])
    # What a bootstrap over test sentences resamples: token NLL at T = 1 and BLEU's statistics of the
    # beam-search hypotheses at T = 1 (cased and uncased), one row per sentence in corpus order.
    arrays["test_sentence_tokens"] = test_sentence_tokens
    arrays["test_sentence_nll"] = test_sentence_nll
    arrays["test_sentence_bleu_stats"] = sentence_bleu_statistics(bleu[("test", 1.0)].hypotheses,
                                                                  corpus.references("test"))
    arrays["test_sentence_bleu_uncased_stats"] = sentence_bleu_statistics(
        bleu[("test", 1.0)].hypotheses, corpus.references("test"), lowercase=True)
    arrays["test_bins_fitted_counts"] = at_fitted.bins.counts.astype(np.int64)
    arrays["test_bins_fitted_confidence"] = at_fitted.bins.confidence
    arrays["test_bins_fitted_accuracy"] = at_fitted.bins.accuracy
    return metrics, arrays


def _log(enabled: bool, message: str) -> None:
    if enabled:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
