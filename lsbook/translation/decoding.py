"""Translating with a trained encoder–decoder: batched greedy decoding and beam search.

Both work on any model with ``encode(src) -> memory``, ``decode(tgt_in, memory, src) -> hidden``
and a linear ``head`` (lsbook.models' transformer). A temperature divides the OUTPUT LOGITS before
the log-softmax over the vocabulary (the replication divided the decoder's hidden state, and called
``log_softmax`` without a dimension: DESIGN.md, known faults). Greedy decoding does not depend on
T; beam search does, because it adds log-probabilities over steps — which is why the original's
Figure 5 shows BLEU changing with T. Beam hypotheses are ranked by the GNMT length-normalised
score ``log p(y) / ((5 + |y|) / 6) ** length_penalty`` (Wu et al. 2016; tensor2tensor's default
0.6, as the original paper's transformer_base), and a hypothesis stops at its EOS.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from lsbook.data.text import BOS_ID, EOS_ID, PAD_ID
from lsbook.errors import LsbookError
from lsbook.translation.incremental import make_steps
from lsbook.validation import check_positive_int, check_temperature


def scaled_log_probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log softmax(logits / T) over the last (vocabulary) dimension: [..., V] -> [..., V]."""
    return F.log_softmax(logits / temperature, dim=-1)


def length_limits(src: torch.Tensor, max_len_a: float, max_len_b: int) -> torch.Tensor:
    """Per sentence, the most target tokens (EOS included) to generate: a·|src| + b -> [B] long."""
    source_lengths = (src != PAD_ID).sum(dim=1)                                   # [B]
    return (source_lengths.double() * max_len_a + max_len_b).floor().long().clamp(min=1)




def _strip(row: Sequence[int]) -> list[int]:
    """Token ids after BOS up to (not including) the first EOS."""
    ids = [int(i) for i in row[1:]]
    return ids[:ids.index(EOS_ID)] if EOS_ID in ids else [i for i in ids if i != PAD_ID]


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, *, max_len_a: float = 1.5, max_len_b: int = 10,
                  cache: bool = True) -> list[list[int]]:
    """Most probable next token at every step, batched: src [B, S] -> B lists of target ids.

    Stops each sentence at its EOS (or its length limit); a temperature would not change the
    result, so there is none. ``cache``: reuse earlier positions' keys/values (same result, faster).
    """
    steps = make_steps(model, src, model.encode(src), cache=cache)               # memory [B, S, d]
    limits = length_limits(src, max_len_a, max_len_b)                             # [B]
    tokens = torch.full((src.shape[0], 1), BOS_ID, dtype=torch.long, device=src.device)
    finished = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for step in range(int(limits.max())):
        next_token = steps.logits(tokens).argmax(dim=-1)                          # [B]
        next_token = torch.where(step + 1 >= limits, torch.full_like(next_token, EOS_ID), next_token)
        next_token = next_token.masked_fill(finished, PAD_ID)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= next_token == EOS_ID
        if bool(finished.all()):
            break
    return [_strip(row) for row in tokens.tolist()]


def length_normaliser(length: torch.Tensor, length_penalty: float) -> torch.Tensor:
    """GNMT's ((5 + |y|) / 6) ** α; 1 when α = 0 (plain log-probability)."""
    return ((5.0 + length.double()) / 6.0) ** length_penalty


@torch.no_grad()
def beam_search(model, src: torch.Tensor, *, beam_size: int = 4, length_penalty: float = 0.6,
                temperature: float = 1.0, max_len_a: float = 1.5, max_len_b: int = 10,
                cache: bool = True) -> list[list[int]]:
    """Batched beam search: src [B, S] -> B lists of target ids (best hypothesis of each).

    Scores are sums of ``log softmax(logits / T)``; finished hypotheses (ended by EOS) stay in the
    beam with their score and compete through the length-normalised score; decoding stops when
    every beam of every sentence has finished or reached its length limit.
    """
    beam_size = check_positive_int(beam_size, "beam_size")
    temperature = check_temperature(temperature)
    if not length_penalty >= 0.0:
        raise LsbookError(f"length_penalty must be >= 0, got {length_penalty!r}")
    batch, k = src.shape[0], beam_size
    device = src.device
    memory = model.encode(src).repeat_interleave(k, dim=0)                        # [B*K, S, d]
    steps = make_steps(model, src.repeat_interleave(k, dim=0), memory, cache=cache)
    limits = length_limits(src, max_len_a, max_len_b).repeat_interleave(k).view(batch, k)
    tokens = torch.full((batch * k, 1), BOS_ID, dtype=torch.long, device=device)  # [B*K, t]
    scores = torch.full((batch, k), float("-inf"), dtype=torch.float64, device=device)
    scores[:, 0] = 0.0                                                            # one live hypothesis
    lengths = torch.zeros(batch, k, dtype=torch.long, device=device)              # tokens after BOS
    finished = torch.zeros(batch, k, dtype=torch.bool, device=device)
    for step in range(int(limits.max())):
        log_probs = scaled_log_probs(steps.logits(tokens), temperature).double()  # [B*K, V]
        vocab = log_probs.shape[-1]
        log_probs = log_probs.view(batch, k, vocab)                               # [B, K, V]
        forced_end = (step + 1 >= limits) & ~finished                             # must emit EOS now
        eos_only = torch.full((vocab,), float("-inf"), dtype=torch.float64, device=device)
        eos_only[EOS_ID] = 0.0
        log_probs = torch.where(forced_end[..., None], log_probs + eos_only, log_probs)
        pad_only = torch.full((vocab,), float("-inf"), dtype=torch.float64, device=device)
        pad_only[PAD_ID] = 0.0                                                    # finished: carry over
        log_probs = torch.where(finished[..., None], pad_only.expand_as(log_probs), log_probs)
        candidates = scores[..., None] + log_probs                                # [B, K, V] raw sums
        new_lengths = torch.where(finished, lengths, lengths + 1)                 # [B, K]
        ranked = candidates / length_normaliser(new_lengths, length_penalty)[..., None]
        ranked = ranked.masked_fill(torch.isnan(ranked), float("-inf"))
        _, flat = ranked.view(batch, k * vocab).topk(k, dim=1)                    # [B, K]
        beam, token = flat // vocab, flat % vocab
        scores = candidates.view(batch, k * vocab).gather(1, flat)
        lengths = new_lengths.gather(1, beam)
        finished = finished.gather(1, beam) | (token == EOS_ID)
        rows = (beam + torch.arange(batch, device=device)[:, None] * k).view(-1)  # [B*K]
        tokens = torch.cat([tokens[rows], token.view(-1, 1)], dim=1)
        steps.reorder(rows)
        if bool(finished.all()):
            break
    final = scores / length_normaliser(lengths, length_penalty)                   # [B, K]
    best = final.argmax(dim=1)                                                    # [B]
    rows = best + torch.arange(batch, device=device) * k
    return [_strip(row) for row in tokens[rows].tolist()]


def translate(model, batches, *, beam_size: int = 1, length_penalty: float = 0.6, temperature: float = 1.0,
              max_len_a: float = 1.5, max_len_b: int = 10) -> list[list[int]]:
    """Target ids for every source batch of ``batches`` (iterable of src [B, S]), in order.

    ``beam_size`` 1 is greedy decoding (the temperature then changes nothing); more is beam search.
    """
    was_training = model.training
    model.eval()
    try:
        out: list[list[int]] = []
        for src in batches:
            if beam_size == 1:
                out += greedy_decode(model, src, max_len_a=max_len_a, max_len_b=max_len_b)
            else:
                out += beam_search(model, src, beam_size=beam_size, length_penalty=length_penalty,
                                   temperature=temperature, max_len_a=max_len_a, max_len_b=max_len_b)
        return out
    finally:
        model.train(was_training)
