"""Mutual information between a training example's index and its logit difference.

Müller et al. (2019), Section 4 and Appendix A.2: X is the index of one of N training examples,
Y the difference between two classes' logits of a randomly augmented copy of it. Y | X = x is
modelled as Gaussian N(μ_x, σ²) with one shared σ², which gives a closed-form estimate between
0 (all examples look alike) and log N (every example is recognisable from its logit).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lsbook.errors import LsbookError


def mutual_information(y) -> float:
    """The original paper's estimate of I(X; Y), in nats, clipped to [0, log N].

    ``y`` has shape (N, L): N training examples × L augmented draws of a scalar (the logit
    difference between two classes). With μ_x the mean of example x's L draws and the pooled
    variance σ² = Σ_x Σ_l (y_xl − μ_x)² / (N·L),

        Î = 1/(N·L) Σ_x Σ_l [ −(y_xl − μ_x)² / (2σ²)
                               − log( 1/N Σ_x' exp(−(y_xl − μ_x')² / (2σ²)) ) ].

    Each term is log p(y | x) − log p(y) under the Gaussian model (the normalising constants
    cancel), so Î is a Monte-Carlo average of the pointwise mutual information.
    """
    values = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).detach()
    values = values.to("cpu", torch.float64)
    if values.ndim != 2:
        raise LsbookError(f"y must have shape (N, L): examples × augmented draws, got {tuple(values.shape)}")
    num_examples, num_draws = values.shape
    if num_examples < 2 or num_draws < 2:
        raise LsbookError(f"y needs N >= 2 examples and L >= 2 draws each, got N={num_examples}, L={num_draws}")
    if not torch.isfinite(values).all():
        raise LsbookError("y contains NaN or infinite values")
    log_n = math.log(num_examples)
    means = values.mean(dim=1)                                   # μ_x: (N,)
    variance = ((values - means[:, None]) ** 2).mean()           # σ²: pooled over all N·L draws
    spread = (means.max() - means.min()).abs()
    if variance <= 1e-24 * max(1.0, float(spread) ** 2):
        # No augmentation noise at all: Y determines X exactly when the means are distinct.
        distinct = torch.unique(means).numel()
        return float(math.log(distinct))
    draws = values.reshape(-1)                                   # y_xl: (N·L,)
    own_means = means.repeat_interleave(num_draws)               # μ_x of each draw's own example
    own = -((draws - own_means) ** 2) / (2 * variance)           # (N·L,)
    cross = -((draws[:, None] - means[None, :]) ** 2) / (2 * variance)  # (N·L, N)
    marginal = torch.logsumexp(cross, dim=1) - log_n             # log (1/N) Σ_x' exp(...)
    estimate = float((own - marginal).mean())
    return min(max(estimate, 0.0), log_n)
