"""Mutual information between a training example's index and its logit difference.

Müller et al. (2019), Section 4 and Appendix A.2: X is the index of one of N training examples,
Y the difference between two classes' logits of a randomly augmented copy of it. Y | X = x is
modelled as Gaussian N(μ_x, σ²) with one shared σ², which gives a closed-form estimate between
0 (all examples look alike) and log N (every example is recognisable from its logit).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

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


# --- What the estimator reads on examples that carry no information ----------------------------
#
# The same L draws set each μ_x and the pooled σ² and are then scored, so Î is biased upward:
# at N = 600, L = 5 unrelated examples give about 0.11 nats instead of 0, and two collapsed
# clusters about log 2 + 0.11 instead of log 2 (the bias shrinks roughly as 1/L). A value of Î
# means something only beside the estimate on such reference data, measured the same way.

REFERENCE_REPEATS = 20   # independent reference matrices averaged per reference value
REFERENCE_SEED = 0       # fixed, so a reference is the same number in every build


@dataclass(frozen=True)
class Reference:
    """Î on reference data of the same shape (N, L): mean and spread over ``repeats`` draws."""

    mean: float
    std: float
    num_examples: int
    num_draws: int
    repeats: int
    what: str            # which reference data, in words


def _check_shape(num_examples: int, num_draws: int) -> None:
    if isinstance(num_examples, bool) or int(num_examples) != num_examples or num_examples < 2:
        raise LsbookError(f"num_examples must be an integer >= 2, got {num_examples!r}")
    if isinstance(num_draws, bool) or int(num_draws) != num_draws or num_draws < 2:
        raise LsbookError(f"num_draws must be an integer >= 2, got {num_draws!r}")


def _summarise(values: list[float], num_examples: int, num_draws: int, what: str) -> Reference:
    array = np.asarray(values, dtype=np.float64)
    return Reference(float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0,
                     int(num_examples), int(num_draws), int(array.size), what)


@functools.lru_cache(maxsize=64)
def unrelated_reference(num_examples: int, num_draws: int, repeats: int = REFERENCE_REPEATS,
                        seed: int = REFERENCE_SEED) -> Reference:
    """Î of N examples whose L draws all come from one distribution (true I = 0).

    The draws are i.i.d. standard normal; the estimator is unchanged by shifting or scaling y,
    so this is also the reference for any common mean and variance.
    """
    _check_shape(num_examples, num_draws)
    rng = np.random.default_rng(seed)
    values = [mutual_information(rng.standard_normal((int(num_examples), int(num_draws))))
              for _ in range(int(repeats))]
    return _summarise(values, num_examples, num_draws, "unrelated examples (true value 0)")


@functools.lru_cache(maxsize=64)
def collapsed_reference(num_examples: int, num_draws: int, repeats: int = REFERENCE_REPEATS,
                        seed: int = REFERENCE_SEED) -> Reference:
    """Î of two well-separated clusters of N/2 examples each, the examples within a cluster
    unrelated (true I = log 2: the logit tells the class and nothing else)."""
    _check_shape(num_examples, num_draws)
    if num_examples % 2:
        raise LsbookError(f"num_examples must be even (two clusters of N/2), got {num_examples!r}")
    rng = np.random.default_rng(seed)
    centres = np.repeat([-1e3, 1e3], int(num_examples) // 2)[:, None]
    values = [mutual_information(centres + rng.standard_normal((int(num_examples), int(num_draws))))
              for _ in range(int(repeats))]
    return _summarise(values, num_examples, num_draws, f"two collapsed clusters (true value log 2 = {math.log(2):.3f})")


def shuffled_reference(y, repeats: int = REFERENCE_REPEATS, seed: int = REFERENCE_SEED) -> Reference:
    """Î of ``y`` (N, L) after its N·L draws are dealt to the examples at random: the same
    values, with the link between an example and its draws destroyed (true I = 0)."""
    values = np.asarray(y.detach().cpu() if torch.is_tensor(y) else y, dtype=np.float64)
    if values.ndim != 2:
        raise LsbookError(f"y must have shape (N, L): examples × augmented draws, got {values.shape}")
    _check_shape(values.shape[0], values.shape[1])
    rng = np.random.default_rng(seed)
    flat = values.reshape(-1)
    estimates = [mutual_information(rng.permutation(flat).reshape(values.shape)) for _ in range(int(repeats))]
    return _summarise(estimates, values.shape[0], values.shape[1], "the same draws dealt to examples at random")
