"""Translation metrics: token-level calibration under teacher forcing, and BLEU.

Token level (Section 5.2; the original's ECE "on validation tokens with a correct prefix"): every
non-padding target position is one classification over the target vocabulary. PAD positions are
dropped before anything is counted — the replication's ECE and accuracy counted them (a fault of
its code). The temperature divides the output logits; ECE, reliability bins and NLL follow
:mod:`lsbook.calibration` exactly (15 equal-width bins; tests check equality) but are computed in
one pass over chunks of tokens at every temperature, so that a split's vocabulary-wide
probabilities are never held in memory at once.

BLEU (Section 5.3): sacrebleu's corpus BLEU of *detokenised* hypotheses against the *raw* reference
sentences, with sacrebleu's signature recorded — the replication compared differently tokenised
strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lsbook.calibration import ReliabilityBins
from lsbook.data.text import PAD_ID, Tokenizer
from lsbook.errors import LsbookError
from lsbook.validation import check_positive_int, check_temperature

CHUNK_TOKENS = 4096  # rows of [N, V] logits handled at once by the calibration functions


@dataclass
class TokenLogits:
    """Teacher-forced output logits of every non-PAD target position of a split."""

    logits: torch.Tensor  # [N, V] float32: one row per real target token (EOS included)
    labels: torch.Tensor  # [N] int64: the reference token at that position

    def __post_init__(self) -> None:
        if self.logits.ndim != 2 or self.labels.shape != self.logits.shape[:1]:
            raise LsbookError(f"token logits {tuple(self.logits.shape)} and labels {tuple(self.labels.shape)} "
                              "must be [N, V] and [N]")
        if self.labels.numel() == 0:
            raise LsbookError("no target tokens: the split has no non-padding positions")

    def chunks(self, size: int | None = None) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """(logits [n, V], labels [n]) pieces of at most ``size`` (default CHUNK_TOKENS) tokens."""
        size = size or CHUNK_TOKENS
        for start in range(0, len(self.labels), size):
            yield self.logits[start:start + size], self.labels[start:start + size]


def non_pad_positions(logits: torch.Tensor, labels: torch.Tensor) -> TokenLogits:
    """Keep the positions whose label is not PAD: logits [B, T, V], labels [B, T] -> TokenLogits."""
    if logits.shape[:2] != labels.shape:
        raise LsbookError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} disagree on [B, T]")
    keep = labels != PAD_ID                                                       # [B, T]
    return TokenLogits(logits[keep].float(), labels[keep].long())


@torch.no_grad()
def teacher_forced_logits(model, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> TokenLogits:
    """Eval-mode logits for every real target token, fed the reference prefix (teacher forcing).

    ``batches`` yields (src [B, S], tgt [B, T]) with tgt = BOS ids EOS PAD...; the model reads
    tgt[:, :-1] and predicts tgt[:, 1:]. Returns float32 logits on the CPU.
    """
    was_training = model.training
    model.eval()
    try:
        logits, labels = [], []
        for src, tgt in batches:
            out = non_pad_positions(model(src, tgt[:, :-1]), tgt[:, 1:])
            logits.append(out.logits.cpu())
            labels.append(out.labels.cpu())
        if not labels:
            raise LsbookError("no batches to evaluate")
        return TokenLogits(torch.cat(logits), torch.cat(labels))
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class TokenCalibration:
    """Token-level calibration of one split at one temperature."""

    temperature: float
    ece: float             # 15-bin expected calibration error of softmax(logits / T)
    nll: float             # mean −log p(reference token), nats
    accuracy: float        # fraction of tokens whose arg-max is the reference (independent of T)
    bins: ReliabilityBins  # what the reliability diagram draws
    tokens: int            # number of (non-PAD) tokens counted


class _BinSums:
    """Running per-bin sums with lsbook.calibration.reliability_bins' binning: bin b holds
    confidences in (edges[b], edges[b+1]] (the first bin also holds 0)."""

    def __init__(self, n_bins: int):
        self.edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
        self.counts = torch.zeros(n_bins, dtype=torch.float64)
        self.confidence = torch.zeros(n_bins, dtype=torch.float64)
        self.correct = torch.zeros(n_bins, dtype=torch.float64)

    def add(self, confidence: torch.Tensor, correct: torch.Tensor) -> None:
        index = torch.bucketize(confidence, self.edges[1:-1], right=False)
        self.counts.index_add_(0, index, torch.ones_like(confidence))
        self.confidence.index_add_(0, index, confidence)
        self.correct.index_add_(0, index, correct)

    def bins(self) -> ReliabilityBins:
        with np.errstate(invalid="ignore", divide="ignore"):
            return ReliabilityBins(self.edges.numpy(), self.counts.numpy().astype(np.int64),
                                   (self.confidence / self.counts).numpy(), (self.correct / self.counts).numpy())


def calibration_curve(tokens: TokenLogits, temperatures: Sequence[float], n_bins: int = 15) -> list[TokenCalibration]:
    """ECE, NLL, accuracy and reliability bins of ``softmax(logits / T)`` at each temperature T.

    One pass over the tokens: each chunk of logits is converted to float64 once and scored at
    every T (``log_softmax(logits / T)`` over the vocabulary). Binning, ECE and NLL are those of
    :mod:`lsbook.calibration` (tests check equality), computed without materialising a whole
    split's vocabulary-wide probabilities.
    """
    temperatures = [check_temperature(t) for t in temperatures]
    n_bins = check_positive_int(n_bins, "n_bins")
    sums = [_BinSums(n_bins) for _ in temperatures]
    nll_sums = [0.0] * len(temperatures)
    correct_total = 0.0
    for logits, labels in tokens.chunks():
        logits = logits.to(torch.float64)                                        # [n, V]
        correct = (logits.argmax(dim=-1) == labels).double()                     # [n], same at every T
        correct_total += float(correct.sum())
        for i, temperature in enumerate(temperatures):
            log_probs = F.log_softmax(logits / temperature, dim=-1)              # over the vocabulary
            sums[i].add(log_probs.max(dim=-1).values.exp(), correct)
            nll_sums[i] -= float(log_probs.gather(1, labels[:, None]).sum())
    count = len(tokens.labels)
    results = []
    for temperature, bin_sums, nll_sum in zip(temperatures, sums, nll_sums):
        bins = bin_sums.bins()
        results.append(TokenCalibration(temperature, bins.expected_calibration_error, nll_sum / count,
                                        correct_total / count, bins, count))
    return results


def token_calibration(tokens: TokenLogits, temperature: float = 1.0, n_bins: int = 15) -> TokenCalibration:
    """ECE, NLL, accuracy and reliability bins of ``softmax(logits / T)`` over all tokens."""
    return calibration_curve(tokens, [temperature], n_bins)[0]


# --- BLEU -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BleuScore:
    """sacrebleu corpus BLEU (0–100) with the signature that says how it was computed."""

    score: float
    signature: str
    hypotheses: list[str]  # the detokenised hypotheses that were scored


def sentence_nll(tokens: TokenLogits, tokens_per_sentence: Sequence[int], temperature: float = 1.0) -> np.ndarray:
    """Summed −log p(reference token) of each sentence at ``temperature``, [S] float64; the tokens
    are in sentence order, ``tokens_per_sentence`` of them each (EOS included). Divided by the
    summed counts of any sample of sentences, they give its mean token NLL."""
    temperature = check_temperature(temperature)
    counts = np.asarray(tokens_per_sentence, dtype=np.int64)
    if counts.sum() != len(tokens.labels) or (counts < 1).any():
        raise LsbookError(f"{int(counts.sum())} tokens in {len(counts)} sentences, but {len(tokens.labels)} "
                          "token logits (every sentence has at least its EOS)")
    per_token = torch.cat([F.cross_entropy(logits / temperature, labels, reduction="none").double()
                           for logits, labels in tokens.chunks()]).numpy()          # [N]
    return np.add.reduceat(per_token, np.concatenate([[0], np.cumsum(counts)[:-1]]))


def detokenize(token_ids: Sequence[Sequence[int]], tokenizer: Tokenizer) -> list[str]:
    """Plain text of each hypothesis: the target tokenizer's decode (no specials; byte-level BPE
    restores the spacing exactly), without leading/trailing whitespace."""
    return [tokenizer.decode(ids).strip() for ids in token_ids]


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], *, lowercase: bool = False) -> BleuScore:
    """sacrebleu BLEU of detokenised ``hypotheses`` against raw ``references`` (one each)."""
    import sacrebleu  # lazy: a slow import (~70 ms), needed for BLEU only

    hypotheses, references = list(hypotheses), list(references)
    if not references:
        raise LsbookError("references must not be empty")
    if len(hypotheses) != len(references):
        raise LsbookError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        if not all(isinstance(t, str) for t in texts):
            raise LsbookError(f"{name} must be strings (detokenise token ids with the target tokenizer)")
    metric = sacrebleu.metrics.BLEU(lowercase=lowercase)
    result = metric.corpus_score(hypotheses, [references])
    return BleuScore(float(result.score), str(metric.get_signature()), hypotheses)


def sentence_bleu_statistics(hypotheses: Sequence[str], references: Sequence[str], *,
                             lowercase: bool = False) -> np.ndarray:
    """sacrebleu's sufficient statistics per sentence, [N, 10] int64: hypothesis and reference
    lengths, then the matched and the total n-grams for n = 1..4. Summed over any sample of the
    sentences they give that sample's corpus BLEU (:func:`bleu_from_statistics`), which is what a
    bootstrap over sentences resamples."""
    import sacrebleu  # lazy: a slow import (~70 ms), needed for BLEU only

    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise LsbookError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    metric = sacrebleu.metrics.BLEU(lowercase=lowercase)
    return np.asarray(metric._extract_corpus_statistics(hypotheses, [references]), dtype=np.int64).reshape(-1, 10)


def bleu_from_statistics(statistics: np.ndarray, *, lowercase: bool = False) -> float:
    """Corpus BLEU of the sentences whose :func:`sentence_bleu_statistics` rows are given
    ([N, 10], or already summed [10])."""
    import sacrebleu  # lazy: a slow import (~70 ms), needed for BLEU only

    totals = np.asarray(statistics, dtype=np.int64)
    totals = totals.sum(0) if totals.ndim == 2 else totals
    return float(sacrebleu.metrics.BLEU(lowercase=lowercase)._compute_score_from_stats([int(v) for v in totals]).score)


def bleu_of_ids(token_ids: Sequence[Sequence[int]], tokenizer: Tokenizer, references: Sequence[str], *,
                lowercase: bool = False) -> BleuScore:
    """Detokenise ``token_ids`` with the target ``tokenizer`` and score them against raw ``references``."""
    return corpus_bleu(detokenize(token_ids, tokenizer), references, lowercase=lowercase)
