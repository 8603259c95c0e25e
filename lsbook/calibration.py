"""Calibration: expected calibration error, reliability bins, NLL and temperature scaling.

Section 5 of the replication (and Guo et al. 2017): the confidence of an example is the largest
softmax probability of ``logits / T``; ECE = Σ_b (n_b / N)·|conf(b) − acc(b)| over ``n_bins``
equal-width bins of [0, 1] (15 in both papers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar

from lsbook._arrays import as_labels, as_logits
from lsbook.validation import check_positive_int, check_temperature

# Search range for fit_temperature (log-space). Published fits lie in [1, 3.1] (Table 3);
# anything outside [0.05, 20] means the logits are degenerate, and the bound says so.
TEMPERATURE_BOUNDS = (0.05, 20.0)


@dataclass(frozen=True)
class ReliabilityBins:
    """What a reliability diagram plots: per equal-width confidence bin of [0, 1]."""

    edges: np.ndarray       # (B+1,) bin edges 0, 1/B, ..., 1; bin b holds conf in (edges[b], edges[b+1]]
    counts: np.ndarray      # (B,) number of examples in each bin
    confidence: np.ndarray  # (B,) mean confidence of the bin's examples (NaN when empty)
    accuracy: np.ndarray    # (B,) fraction of correct predictions in the bin (NaN when empty)

    @property
    def expected_calibration_error(self) -> float:
        """Σ_b (n_b/N)·|conf(b) − acc(b)|, empty bins contributing nothing."""
        total = self.counts.sum()
        filled = self.counts > 0
        gaps = np.abs(self.confidence[filled] - self.accuracy[filled])
        return float((self.counts[filled] / total * gaps).sum())


def _confidence_and_correct(logits, labels, temperature: float):
    logits = as_logits(logits)
    labels = as_labels(labels, logits.shape[0], logits.shape[1])
    temperature = check_temperature(temperature)
    probs = F.softmax(logits / temperature, dim=1)
    confidence, predicted = probs.max(dim=1)
    return confidence, (predicted == labels).double()


def reliability_bins(logits, labels, n_bins: int = 15, temperature: float = 1.0) -> ReliabilityBins:
    """Per-bin count, mean confidence and accuracy of ``softmax(logits / T)``; logits (N, K)."""
    n_bins = check_positive_int(n_bins, "n_bins")
    confidence, correct = _confidence_and_correct(logits, labels, temperature)
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    # bucketize(right=False) puts x in bin i when edges[i] < x <= edges[i+1]
    index = torch.bucketize(confidence, edges[1:-1], right=False)
    counts = torch.bincount(index, minlength=n_bins).double()
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, confidence)
    correct_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, correct)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = (conf_sum / counts).numpy()
        mean_acc = (correct_sum / counts).numpy()
    return ReliabilityBins(edges.numpy(), counts.numpy().astype(np.int64), mean_conf, mean_acc)


def expected_calibration_error(logits, labels, n_bins: int = 15, temperature: float = 1.0) -> float:
    """ECE of Section 5 (Naeini et al. 2015) with ``n_bins`` equal-width bins, at temperature T."""
    return reliability_bins(logits, labels, n_bins, temperature).expected_calibration_error


def negative_log_likelihood(logits, labels, temperature: float = 1.0) -> float:
    """Mean ``−log p_y`` of ``softmax(logits / T)`` (Section 5.3), in nats."""
    logits = as_logits(logits)
    labels = as_labels(labels, logits.shape[0], logits.shape[1])
    temperature = check_temperature(temperature)
    return float(F.cross_entropy(logits / temperature, labels))


def accuracy(logits, labels) -> float:
    """Top-1 accuracy: the fraction of rows whose largest logit is the label."""
    logits = as_logits(logits)
    labels = as_labels(labels, logits.shape[0], logits.shape[1])
    return float((logits.argmax(dim=1) == labels).double().mean())


def fit_temperature(logits, labels, *, device: str | torch.device | None = None) -> float:
    """The T > 0 minimising NLL of ``softmax(logits / T)`` on held-out logits (Guo et al. 2017).

    Fit on a validation split, never on the reported test split (the replication hand-picked T on
    test). NLL is convex in 1/T, hence unimodal in log T: a bounded Brent search over log T in
    ``TEMPERATURE_BOUNDS`` is deterministic and finds the minimum. ``device``: where the NLL is
    evaluated (float64 either way); a GPU makes a fit on vocabulary-wide token logits cheap.
    """
    logits = as_logits(logits)
    labels = as_labels(labels, logits.shape[0], logits.shape[1])
    if device is not None:
        logits, labels = logits.to(device), labels.to(device)

    def nll_at(log_t: float) -> float:
        return float(F.cross_entropy(logits / np.exp(log_t), labels))

    low, high = np.log(TEMPERATURE_BOUNDS[0]), np.log(TEMPERATURE_BOUNDS[1])
    result = minimize_scalar(nll_at, bounds=(low, high), method="bounded",
                             options={"xatol": 1e-6, "maxiter": 500})
    return float(np.exp(result.x))
