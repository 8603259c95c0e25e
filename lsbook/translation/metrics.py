"""Translation metrics: token-level calibration under teacher forcing, and BLEU.

Token level (Section 5.2; the original's ECE "on validation tokens with a correct prefix"): every
non-padding target position is one classification over the target vocabulary. PAD positions are
dropped before anything is counted — the replication's ECE and accuracy counted them (DESIGN.md,
known faults). The temperature divides the output logits, and ECE / reliability bins / NLL come
from :mod:`lsbook.calibration` (15 equal-width bins), computed in chunks so that the vocabulary-wide
logits of a whole split are never converted to float64 at once.

BLEU (Section 5.3): sacrebleu's corpus BLEU of *detokenised* hypotheses against the *raw* reference
sentences, with sacrebleu's signature recorded — the replication compared differently tokenised
strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lsbook.calibration import ReliabilityBins, accuracy, negative_log_likelihood, reliability_bins
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

    def chunks(self, size: int = CHUNK_TOKENS) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
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


def merge_bins(parts: Sequence[ReliabilityBins]) -> ReliabilityBins:
    """Reliability bins of the union of disjoint sets of examples (counts add, means are weighted)."""
    counts = np.sum([p.counts for p in parts], axis=0)
    conf_sum = np.sum([np.nan_to_num(p.confidence) * p.counts for p in parts], axis=0)
    correct_sum = np.sum([np.nan_to_num(p.accuracy) * p.counts for p in parts], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ReliabilityBins(parts[0].edges, counts.astype(np.int64), conf_sum / counts, correct_sum / counts)


@dataclass(frozen=True)
class TokenCalibration:
    """Token-level calibration of one split at one temperature."""

    temperature: float
    ece: float             # 15-bin expected calibration error of softmax(logits / T)
    nll: float             # mean −log p(reference token), nats
    accuracy: float        # fraction of tokens whose arg-max is the reference (independent of T)
    bins: ReliabilityBins  # what the reliability diagram draws
    tokens: int            # number of (non-PAD) tokens counted


def token_calibration(tokens: TokenLogits, temperature: float = 1.0, n_bins: int = 15) -> TokenCalibration:
    """ECE, NLL, accuracy and reliability bins of ``softmax(logits / T)`` over all tokens."""
    temperature = check_temperature(temperature)
    n_bins = check_positive_int(n_bins, "n_bins")
    bins, nll_sum, correct_sum = [], 0.0, 0.0
    for logits, labels in tokens.chunks():
        bins.append(reliability_bins(logits, labels, n_bins=n_bins, temperature=temperature))
        nll_sum += negative_log_likelihood(logits, labels, temperature=temperature) * len(labels)
        correct_sum += accuracy(logits, labels) * len(labels)
    merged = merge_bins(bins)
    count = len(tokens.labels)
    return TokenCalibration(temperature, merged.expected_calibration_error, nll_sum / count,
                            correct_sum / count, merged, count)


def calibration_curve(tokens: TokenLogits, temperatures: Sequence[float], n_bins: int = 15) -> list[TokenCalibration]:
    """:func:`token_calibration` at each temperature (Figure 5's ECE and NLL panels)."""
    return [token_calibration(tokens, t, n_bins) for t in temperatures]


# --- BLEU -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BleuScore:
    """sacrebleu corpus BLEU (0–100) with the signature that says how it was computed."""

    score: float
    signature: str
    hypotheses: list[str]  # the detokenised hypotheses that were scored


def detokenize(token_ids: Sequence[Sequence[int]], tokenizer: Tokenizer) -> list[str]:
    """Plain text of each hypothesis: the target tokenizer's decode (no specials; byte-level BPE
    restores the spacing exactly), without leading/trailing whitespace."""
    return [tokenizer.decode(ids).strip() for ids in token_ids]


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], *, lowercase: bool = False) -> BleuScore:
    """sacrebleu BLEU of detokenised ``hypotheses`` against raw ``references`` (one each)."""
    import sacrebleu

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


def bleu_of_ids(token_ids: Sequence[Sequence[int]], tokenizer: Tokenizer, references: Sequence[str], *,
                lowercase: bool = False) -> BleuScore:
    """Detokenise ``token_ids`` with the target ``tokenizer`` and score them against raw ``references``."""
    return corpus_bleu(detokenize(token_ids, tokenizer), references, lowercase=lowercase)
