"""Selective classification: rejecting the least confident predictions, and how well confidence ranks them.

A classifier that may abstain keeps the fraction c (the coverage) of the test examples it is most
confident about; its selective risk is the error rate among them. The risk–coverage curve runs over
every c = k/N, and its area (AURC, in %) is lower the better the confidence puts correct predictions
above wrong ones. AURC also falls with the error rate itself; E-AURC subtracts the AURC of the
oracle that ranks every correct prediction first, leaving the cost of the ranking alone (Geifman,
Uziel & El-Yaniv 2019). Ties in confidence are broken by example order, the same for every method.

Confidence is the maximum softmax probability (MSP), or the maximum of the logits after post-hoc
*logit normalisation*: the logits, centred on their mean, divided by their p-norm (Cattelan & Silva
2023, "MaxLogit-pNorm"; p = 0 means no normalisation), with p chosen on the validation split from
``P_GRID`` by AURC, as Xia et al. (ICLR 2025) apply it to networks trained with label smoothing.
"""

from __future__ import annotations

import numpy as np

from lsbook._arrays import as_labels, as_logits

P_GRID = tuple(range(9))  # the p-norms tried (0: the plain max logit), as Cattelan & Silva search them


def msp_confidence(logits) -> np.ndarray:
    """Maximum softmax probability of each row of ``logits`` (N, K)."""
    z = np.asarray(as_logits(logits), dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return 1.0 / np.exp(z).sum(axis=1)  # the max entry's exp(0) over the row's sum


def normalised_max_logit(logits, p: int) -> np.ndarray:
    """max_k of the centred logits divided by their p-norm (p = 0: the centred max logit)."""
    z = np.asarray(as_logits(logits), dtype=np.float64)
    z = z - z.mean(axis=1, keepdims=True)
    if p:
        z = z / np.maximum(np.linalg.norm(z, ord=p, axis=1, keepdims=True), 1e-25)
    return z.max(axis=1)


def risk_coverage(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    """(coverage k/N, selective risk in %) for k = 1..N, most confident examples first."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    if confidence.shape != correct.shape or confidence.ndim != 1 or len(correct) == 0:
        raise ValueError(f"confidence and correct must be two equal 1-D arrays, got {confidence.shape} "
                         f"and {correct.shape}")
    order = np.argsort(-confidence, kind="stable")
    errors = np.cumsum(~correct[order])
    kept = np.arange(1, len(correct) + 1)
    return kept / len(correct), 100.0 * errors / kept


def aurc(confidence, correct) -> float:
    """Area under the risk–coverage curve, in %: the mean selective risk over the N coverages."""
    return float(risk_coverage(confidence, correct)[1].mean())


def excess_aurc(confidence, correct) -> float:
    """E-AURC, in %: AURC minus that of the oracle ranking every correct prediction first."""
    correct = np.asarray(correct, dtype=bool)
    return aurc(confidence, correct) - aurc(correct.astype(np.float64), correct)


def choose_p(val_logits, val_labels, grid=P_GRID) -> int:
    """The p of ``grid`` whose normalised max logit gives the lowest AURC on the validation split."""
    logits = as_logits(val_logits)
    labels = as_labels(val_labels, logits.shape[0], logits.shape[1])
    logits, correct = logits.numpy(), (logits.argmax(dim=1) == labels).numpy()
    return min(grid, key=lambda p: (aurc(normalised_max_logit(logits, p), correct), p))
