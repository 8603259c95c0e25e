"""Translating with a trained encoder–decoder: batched greedy decoding and beam search.

Both work on any model with ``encode(src) -> memory``, ``decode(tgt_in, memory, src) -> hidden``
and a linear ``head`` (lsbook.models' transformer). A temperature divides the OUTPUT LOGITS before
the log-softmax over the vocabulary (the replication divided the decoder's hidden state, and called
``log_softmax`` without a dimension, two faults of its code that we do not repeat). Greedy decoding does not depend on
T; beam search does, because it adds log-probabilities over steps — which is why the original's
Figure 5 shows BLEU changing with T. Beam hypotheses are ranked by the GNMT length-normalised
score ``log p(y) / ((5 + |y|) / 6) ** length_penalty`` (Wu et al. 2016; tensor2tensor's default
0.6, as the original paper's transformer_base), and a hypothesis stops at its EOS. Both decode
step by step with a key/value cache where the model allows it (:mod:`lsbook.translation.incremental`).
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
    return F.log_softmax(logits if temperature == 1.0 else logits / temperature, dim=-1)


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

    Scores are sums of ``log softmax(logits / T)``. Finished hypotheses (ended by EOS) stay in
    the beam with their score and compete through the length-normalised score. Only each
    hypothesis's ``beam_size`` best next tokens can survive, so candidates are pruned per row
    before the beams are merged. A sentence is done when its best finished hypothesis beats what
    any live one could still reach (its score can only fall, its normaliser is at most that of
    the length limit) — stopping there never changes its result — and is then dropped from the batch.
    """
    beam_size = check_positive_int(beam_size, "beam_size")
    temperature = check_temperature(temperature)
    if not length_penalty >= 0.0:
        raise LsbookError(f"length_penalty must be >= 0, got {length_penalty!r}")
    k, device = beam_size, src.device
    results: list[list[int] | None] = [None] * src.shape[0]
    active = torch.arange(src.shape[0], device=device)                           # sentence indices in src
    steps = make_steps(model, src, model.encode(src), group=k, cache=cache)       # K rows per sentence
    limits = length_limits(src, max_len_a, max_len_b)[:, None].expand(-1, k)     # [B, K] tokens incl. EOS
    tokens = torch.full((src.shape[0] * k, 1), BOS_ID, dtype=torch.long, device=device)  # [B*K, t]
    scores = torch.full((src.shape[0], k), float("-inf"), dtype=torch.float64, device=device)
    scores[:, 0] = 0.0                                                            # one live hypothesis
    lengths = torch.zeros_like(scores, dtype=torch.long)                          # tokens after BOS
    finished = torch.zeros_like(scores, dtype=torch.bool)
    for step in range(int(limits.max())):
        batch = len(active)
        offsets = torch.arange(batch, device=device)[:, None] * k                 # [B, 1]
        log_probs = scaled_log_probs(steps.logits(tokens), temperature)           # [B*K, V]
        top_log_probs, top_tokens = log_probs.topk(min(k, log_probs.shape[-1]), dim=-1)  # [B*K, k']
        width = top_tokens.shape[-1]
        top_log_probs = top_log_probs.double().view(batch, k, width)
        top_tokens = top_tokens.view(batch, k, width)
        # a hypothesis at its length limit may only end; a finished one only carries over (PAD, +0)
        forced = ((step + 1 >= limits) & ~finished)[..., None]                    # [B, K, 1]
        eos = log_probs[:, EOS_ID].double().view(batch, k, 1)
        only_first = torch.full((width,), float("-inf"), dtype=torch.float64, device=device)
        only_first[0] = 0.0
        top_log_probs = torch.where(forced, eos + only_first, top_log_probs)
        top_tokens = torch.where(forced, torch.full_like(top_tokens, EOS_ID), top_tokens)
        top_log_probs = torch.where(finished[..., None], only_first.expand_as(top_log_probs), top_log_probs)
        top_tokens = torch.where(finished[..., None], torch.full_like(top_tokens, PAD_ID), top_tokens)
        candidates = scores[..., None] + top_log_probs                            # [B, K, k'] raw sums
        new_lengths = torch.where(finished, lengths, lengths + 1)[..., None].expand_as(candidates)
        ranked = candidates / length_normaliser(new_lengths, length_penalty)
        _, flat = ranked.reshape(batch, k * width).topk(k, dim=1)                 # [B, K]
        beam = flat // width
        token = top_tokens.reshape(batch, k * width).gather(1, flat)
        scores = candidates.reshape(batch, k * width).gather(1, flat)
        lengths = new_lengths.reshape(batch, k * width).gather(1, flat)
        finished = finished.gather(1, beam) | (token == EOS_ID)
        rows = (beam + offsets).view(-1)                                          # [B*K]
        tokens = torch.cat([tokens[rows], token.view(-1, 1)], dim=1)
        steps.reorder(rows)
        final = torch.where(finished, scores / length_normaliser(lengths, length_penalty), float("-inf"))
        best_alive = torch.where(finished, float("-inf"), scores / length_normaliser(limits, length_penalty))
        done = final.max(dim=1).values >= best_alive.max(dim=1).values            # [B]
        if bool(done.any()):
            best = final.argmax(dim=1)
            for i in done.nonzero().flatten().tolist():
                results[int(active[i])] = _strip(tokens[i * k + int(best[i])].tolist())
            keep = (~done).nonzero().flatten()
            if keep.numel() == 0:
                break
            rows = (keep[:, None] * k + torch.arange(k, device=device)).view(-1)
            tokens, scores, lengths, finished = tokens[rows], scores[keep], lengths[keep], finished[keep]
            limits, active = limits[keep], active[keep]
            steps.keep(keep, k)
    return results


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
