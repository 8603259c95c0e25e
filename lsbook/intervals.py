"""95 % intervals for the claim ledger: over seeds where there are enough, else over test examples.

Every claim of the ledger (lsbook.claims) is a difference between two arms (e.g. α = 0.1 minus
α = 0) measured per seed. Where at least MIN_SEEDS seeds have both arms the interval is the
t-interval of the mean per-seed difference: it captures how much training runs differ. With
fewer seeds the only spread left to measure is that of the test set: a paired bootstrap resamples
the test examples (the same resample for every arm and seed) and recomputes the difference. It says
how much the number would move on another test set of the same size, not on another training run,
and its label says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from lsbook.errors import LsbookError

CONFIDENCE = 0.95
MIN_SEEDS = 3                 # seeds needed for an interval over seeds
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0            # fixed: the ledger is the same in every build
_CHUNK = 100                  # resamples evaluated together (memory: CHUNK × N indices)

# A statistic of resampled test examples: an int array (R, N) of example indices -> R values.
Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """A measured difference with its 95 % interval (low/high None: no interval could be made)."""

    value: float
    low: float | None
    high: float | None
    method: str               # how the interval was made, in words (shown beside it)

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None


def over_seeds(per_seed: Sequence[float]) -> Estimate:
    """Mean of the per-seed differences and its t-interval (needs MIN_SEEDS seeds or more)."""
    from scipy import stats

    values = np.asarray(per_seed, dtype=np.float64)
    if values.size < MIN_SEEDS:
        raise LsbookError(f"per_seed needs at least {MIN_SEEDS} values for a t-interval, got {values.size}")
    if not np.all(np.isfinite(values)):
        raise LsbookError("per_seed contains NaN or infinite values")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return Estimate(mean, mean - half, mean + half, f"t-interval over {values.size} seeds")


def bootstrap_over_examples(statistics: Sequence[Statistic], num_examples: int, *, what: str = "test examples",
                            resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                            strata: np.ndarray | None = None) -> Estimate:
    """The mean over seeds of per-seed statistics, with a paired percentile bootstrap interval.

    ``statistics``: one function per seed, mapping example indices (R, N) to R differences; each
    resample of the N examples is shared by every seed and arm (paired). ``strata`` (N,): resample
    within each group (e.g. class), keeping the group sizes, so no group can come out empty.
    """
    if not statistics:
        raise LsbookError("statistics must hold one function per seed, got none")
    if isinstance(num_examples, bool) or int(num_examples) < 2:
        raise LsbookError(f"num_examples must be an integer >= 2, got {num_examples!r}")
    n = int(num_examples)
    everything = np.arange(n)[None, :]
    value = float(np.mean([float(np.asarray(f(everything))[0]) for f in statistics]))
    rng = np.random.default_rng(seed)
    draws = []
    groups = None if strata is None else [np.flatnonzero(np.asarray(strata) == g) for g in np.unique(strata)]
    if groups is not None and sum(len(g) for g in groups) != n:
        raise LsbookError(f"strata must give one group per example: {n} examples, got {len(strata)}")
    for start in range(0, resamples, _CHUNK):
        rows = min(_CHUNK, resamples - start)
        if groups is None:
            indices = rng.integers(0, n, size=(rows, n))
        else:
            indices = np.concatenate([g[rng.integers(0, len(g), size=(rows, len(g)))] for g in groups], axis=1)
        draws.append(np.mean([np.asarray(f(indices), dtype=np.float64) for f in statistics], axis=0))
    values = np.concatenate(draws)
    low, high = np.quantile(values, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    seeds = len(statistics)
    within = "" if groups is None else ", within each class"
    return Estimate(value, float(low), float(high),
                    f"paired bootstrap over {n:,} {what} ({resamples} resamples{within}, "
                    f"{seeds} seed{'s' if seeds != 1 else ''}; "
                    "not over training runs)")


def no_interval(value: float, why: str) -> Estimate:
    """A point estimate without an interval, saying why none could be made."""
    return Estimate(float(value), None, None, f"no interval: {why}")


# --- Statistics on per-example arrays (index arrays (R, N) -> (R,)) ------------------------------------

def accuracy_statistic(correct: np.ndarray) -> Statistic:
    """Accuracy of resampled examples, from a boolean array (N,) of correct predictions."""
    correct = np.asarray(correct, dtype=np.float64)
    return lambda indices: correct[indices].mean(axis=1)


def ece_statistic(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> Statistic:
    """Expected calibration error (equal-width bins on [0, 1]) of resampled examples."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    # bin b holds confidence in (b/B, (b+1)/B], as lsbook.calibration.reliability_bins
    bins = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], confidence, side="left")
    gap = correct - confidence                    # per example: accuracy minus confidence

    def ece(indices: np.ndarray) -> np.ndarray:
        rows, n = indices.shape
        flat = (bins[indices] + n_bins * np.arange(rows)[:, None]).ravel()
        summed = np.bincount(flat, weights=gap[indices].ravel(), minlength=rows * n_bins)
        return np.abs(summed.reshape(rows, n_bins)).sum(axis=1) / n

    return ece


def aurc_statistic(confidence: np.ndarray, correct: np.ndarray) -> Statistic:
    """Area under the risk–coverage curve, in %, of resampled examples (lsbook.selective.aurc): the
    mean selective risk over every coverage, most confident first, ties broken by resampled order."""
    confidence = np.asarray(confidence, dtype=np.float64)
    wrong = ~np.asarray(correct, dtype=bool)

    def area(indices: np.ndarray) -> np.ndarray:
        order = np.argsort(-confidence[indices], axis=1, kind="stable")
        errors = np.cumsum(np.take_along_axis(wrong[indices], order, axis=1), axis=1)
        return 100.0 * (errors / np.arange(1, indices.shape[1] + 1)).mean(axis=1)

    return area


def ratio_statistic(numerator: np.ndarray, denominator: np.ndarray) -> Statistic:
    """Σ numerator / Σ denominator of resampled examples, e.g. a translation's mean token NLL from
    per-sentence NLL sums and token counts (a sentence is the unit resampled)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return lambda indices: numerator[indices].sum(axis=1) / denominator[indices].sum(axis=1)


def bleu_statistic(sentence_statistics: np.ndarray, *, lowercase: bool = False) -> Statistic:
    """Corpus BLEU of resampled sentences, from sacrebleu's per-sentence statistics [N, 10]
    (lsbook.translation.metrics.sentence_bleu_statistics); BLEU is not a mean, so each resample
    sums the statistics and recomputes it."""
    from lsbook.translation.metrics import bleu_from_statistics

    rows = np.asarray(sentence_statistics, dtype=np.int64)

    def bleu(indices: np.ndarray) -> np.ndarray:
        summed = rows[indices].sum(axis=1)                                     # [R, 10]
        return np.asarray([bleu_from_statistics(row, lowercase=lowercase) for row in summed])

    return bleu


def difference(first: Statistic, second: Statistic) -> Statistic:
    """first − second on the same resample."""
    return lambda indices: np.asarray(first(indices)) - np.asarray(second(indices))


# --- Reliability bins without per-example data (the Transformer's stored bins) ------------------------

@dataclass(frozen=True)
class BinnedCalibration:
    """Per-bin token counts, accuracy and mean confidence (what a translation run stores)."""

    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    def ece(self) -> float:
        total = float(self.counts.sum())
        if total <= 0:
            raise LsbookError("reliability bins hold no tokens")
        gaps = np.abs(np.nan_to_num(self.accuracy) - np.nan_to_num(self.confidence))   # empty bins: NaN
        return float((self.counts * gaps).sum() / total)

    def resampled_ece(self, rng: np.random.Generator, resamples: int) -> np.ndarray:
        """ECE of ``resamples`` multinomial resamples of the tokens over (bin, correct) cells,
        each bin's mean confidence held at its stored value."""
        counts = np.asarray(self.counts, dtype=np.float64)
        right = np.rint(counts * np.nan_to_num(self.accuracy)).clip(0, counts)
        cells = np.concatenate([right, counts - right])
        total = int(round(counts.sum()))
        drawn = rng.multinomial(total, cells / cells.sum(), size=resamples)
        k = counts.size
        drawn_right, drawn_all = drawn[:, :k], drawn[:, :k] + drawn[:, k:]
        confidence = np.nan_to_num(self.confidence)
        return np.abs(drawn_right - confidence[None, :] * drawn_all).sum(axis=1) / total


def bootstrap_binned(pairs: Sequence[tuple[BinnedCalibration, BinnedCalibration]], *,
                     resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Estimate:
    """Mean over seeds of ECE(first) − ECE(second), each resampled on its own (unpaired: the
    stored bins do not say which token is which), with a percentile interval."""
    if not pairs:
        raise LsbookError("pairs must hold one (first, second) pair of bins per seed, got none")
    rng = np.random.default_rng(seed)
    value = float(np.mean([a.ece() - b.ece() for a, b in pairs]))
    values = np.mean([a.resampled_ece(rng, resamples) - b.resampled_ece(rng, resamples) for a, b in pairs], axis=0)
    low, high = np.quantile(values, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    tokens = int(round(float(pairs[0][0].counts.sum())))
    return Estimate(value, float(low), float(high),
                    f"bootstrap over {tokens:,} test tokens from the stored reliability bins ({resamples} resamples, "
                    f"{len(pairs)} seed{'s' if len(pairs) != 1 else ''}; unpaired, tokens of a sentence treated as "
                    "independent; not over training runs)")
