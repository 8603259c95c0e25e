"""Decoding: greedy and beam search (exact on a toy model), EOS, temperature on logits, caching."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lsbook.data.text import BOS_ID, EOS_ID, PAD_ID
from lsbook.errors import LsbookError
from lsbook.models import build
from lsbook.translation.decoding import (beam_search, greedy_decode, length_normaliser, scaled_log_probs,
                                         translate)
from lsbook.translation.incremental import CachedSteps, RecomputeSteps, supports_cache

WORDS = (4, 5, 6)  # token ids of the toy vocabulary's words (0-3 are the specials)
VOCAB = 7


class MarkovModel(nn.Module):
    """A 'translator' whose next-token logits depend only on the previous token: head.weight[j, i]
    is the logit of j after i. The source only sets the length limit."""

    def __init__(self, transitions: torch.Tensor):
        super().__init__()
        self.head = nn.Linear(VOCAB, VOCAB, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(transitions.T)

    def encode(self, src):
        return torch.zeros(src.shape[0], src.shape[1], 1)

    def decode(self, tgt_in, memory, src):
        return F.one_hot(tgt_in, VOCAB).float()                                    # [B, T, V]


def transitions_from(probabilities: dict[int, dict[int, float]]) -> torch.Tensor:
    """Logits [V, V] (row = previous token) from next-token probabilities; the rest ~0."""
    logits = torch.full((VOCAB, VOCAB), -30.0)
    for previous, nexts in probabilities.items():
        for token, p in nexts.items():
            logits[previous, token] = math.log(p)
    return logits


# Greedy takes 4 (p 0.5) and then is stuck with flat continuations; 5 (p 0.4) leads to a sure EOS.
GARDEN_PATH = transitions_from({
    BOS_ID: {4: 0.5, 5: 0.4, 6: 0.1},
    4: {4: 0.34, 5: 0.33, EOS_ID: 0.33},
    5: {EOS_ID: 1.0},
    6: {EOS_ID: 1.0},
})


def brute_force_best(transitions: torch.Tensor, limit: int, length_penalty: float) -> list[int]:
    """The hypothesis with the best length-normalised log-probability among all that end in EOS
    within ``limit`` tokens (EOS included), by enumeration."""
    log_p = F.log_softmax(transitions, dim=-1)
    best, best_score = None, -math.inf
    for length in range(limit):
        for words in itertools.product(range(VOCAB), repeat=length):
            sequence = [BOS_ID, *words, EOS_ID]
            if any(t == EOS_ID for t in words):
                continue
            score = sum(float(log_p[a, b]) for a, b in zip(sequence, sequence[1:]))
            score /= ((5 + length + 1) / 6) ** length_penalty
            if score > best_score:
                best, best_score = list(words), score
    return best


def source_of_length(n: int) -> torch.Tensor:
    return torch.full((1, n), 9, dtype=torch.long)


def test_greedy_takes_the_garden_path_and_beam_search_avoids_it():
    model = MarkovModel(GARDEN_PATH).eval()
    src = source_of_length(2)  # limit 1.5·2 + 2 = 5 tokens
    assert greedy_decode(model, src, max_len_a=1.5, max_len_b=2)[0][0] == 4
    assert beam_search(model, src, beam_size=2, length_penalty=0.0, max_len_a=1.5, max_len_b=2) == [[5]]


@pytest.mark.parametrize("length_penalty", [0.0, 0.6, 2.0])
def test_wide_beam_finds_the_exact_best_hypothesis(length_penalty):
    generator = torch.Generator().manual_seed(int(length_penalty * 10))
    for _ in range(3):
        transitions = torch.randn(VOCAB, VOCAB, generator=generator) * 2
        transitions[:, [PAD_ID, BOS_ID, 3]] = -30.0  # never emit specials other than EOS
        model = MarkovModel(transitions).eval()
        limit = 4
        found = beam_search(model, source_of_length(1), beam_size=VOCAB ** limit, length_penalty=length_penalty,
                            max_len_a=0.0, max_len_b=limit)
        assert found == [brute_force_best(transitions, limit, length_penalty)]


def test_decoding_stops_at_eos_and_returns_no_specials():
    transitions = transitions_from({BOS_ID: {5: 0.9, 4: 0.1}, 5: {EOS_ID: 0.9, 6: 0.1}, 4: {4: 1.0}, 6: {6: 1.0}})
    model = MarkovModel(transitions).eval()
    src = source_of_length(20)
    assert greedy_decode(model, src) == [[5]]
    assert beam_search(model, src, beam_size=3) == [[5]]


def test_length_limit_ends_every_hypothesis():
    model = MarkovModel(transitions_from({BOS_ID: {4: 1.0}, 4: {4: 1.0}})).eval()
    src = torch.full((2, 4), 9, dtype=torch.long)
    src[1, 2:] = PAD_ID  # 2 real source tokens: limit 1.0·2 + 1 = 3 tokens with EOS
    assert greedy_decode(model, src, max_len_a=1.0, max_len_b=1) == [[4, 4, 4, 4], [4, 4]]
    assert beam_search(model, src, beam_size=2, max_len_a=1.0, max_len_b=1) == [[4, 4, 4, 4], [4, 4]]


def test_length_normaliser_is_gnmt():
    lengths = torch.tensor([1, 7])
    assert torch.allclose(length_normaliser(lengths, 0.6), ((5 + lengths.double()) / 6) ** 0.6)
    assert torch.equal(length_normaliser(lengths, 0.0), torch.ones(2, dtype=torch.float64))


def test_log_probs_divide_the_logits_and_normalise_over_the_vocabulary():
    logits = torch.randn(3, 5, 11)                                                # [B, T, V]
    out = scaled_log_probs(logits, 2.0)
    assert torch.allclose(out, torch.log_softmax(logits / 2.0, dim=-1))
    assert torch.allclose(out.exp().sum(-1), torch.ones(3, 5))                    # over V, not B
    assert torch.allclose(scaled_log_probs(logits[:1], 2.0), out[:1])            # rows independent


def test_temperature_changes_beam_search_but_not_greedy():
    # Two hypotheses of equal length: [5] has the better first step, [4] the more certain EOS after
    # it. At T <= 1 [5] wins; at T = 3 the flattened second step costs [5] more than [4].
    logits = torch.full((VOCAB, VOCAB), -10.0)
    logits[BOS_ID, 4], logits[BOS_ID, 5] = 0.0, 0.3
    logits[5] = -3.0
    logits[4:, EOS_ID] = 0.0
    model = MarkovModel(logits).eval()
    src = source_of_length(4)
    outputs = {t: beam_search(model, src, beam_size=3, length_penalty=0.0, temperature=t) for t in (0.5, 1.0, 3.0)}
    assert outputs == {0.5: [[5]], 1.0: [[5]], 3.0: [[4]]}
    assert translate(model, [src], beam_size=1, temperature=3.0) == greedy_decode(model, src) == [[5]]


def small_transformer(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build("transformer", 40, src_vocab=50, d_model=32, nhead=4, num_encoder_layers=2,
                  num_decoder_layers=2, dim_feedforward=64, dropout=0.1)
    with torch.no_grad():  # sharper distributions than the initialisation's
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model.eval()


def padded_sources() -> torch.Tensor:
    src = torch.randint(4, 50, (5, 9), generator=torch.Generator().manual_seed(1))
    src[0, 6:] = PAD_ID
    src[3, 2:] = PAD_ID
    return src


@pytest.mark.parametrize("group", [1, 2])
def test_cached_steps_give_the_full_decoder_pass_logits(group):
    model, src = small_transformer(), padded_sources()                            # 5 sentences
    assert supports_cache(model)
    memory = model.encode(src)
    cached, full = CachedSteps(model, src, memory, group), RecomputeSteps(model, src, memory, group)
    rows = 5 * group
    tokens = torch.randint(4, 40, (rows, 8), generator=torch.Generator().manual_seed(2))
    tokens[:, 0] = BOS_ID
    with torch.no_grad():
        for t in range(1, 9):
            assert torch.allclose(cached.logits(tokens[:, :t]), full.logits(tokens[:, :t]), atol=1e-4)
        # beam search keeps, per sentence, some of that sentence's hypotheses
        order = torch.arange(5) if group == 1 else torch.tensor([1, 1, 2, 3, 5, 4, 6, 6, 8, 9])
        cached.reorder(order)
        full.reorder(order)
        longer = torch.cat([tokens[order], torch.full((rows, 1), 7)], dim=1)
        assert torch.allclose(cached.logits(longer), full.logits(longer), atol=1e-4)


def test_cached_and_recomputed_decoding_agree_and_beam_one_is_greedy():
    model, src = small_transformer(), padded_sources()
    greedy = greedy_decode(model, src, cache=True)
    assert greedy == greedy_decode(model, src, cache=False)
    assert beam_search(model, src, beam_size=3, cache=True) == beam_search(model, src, beam_size=3, cache=False)
    assert beam_search(model, src, beam_size=1, length_penalty=0.0) == greedy


def test_greedy_matches_a_plain_forward_pass_loop():
    model, src = small_transformer(), padded_sources()
    ours = greedy_decode(model, src, max_len_a=0.0, max_len_b=12)
    with torch.no_grad():
        for row, ids in zip(src, ours):
            prefix = torch.tensor([[BOS_ID]])
            for _ in range(11):  # 12 tokens at most, the last one EOS
                token = int(model(row[None, :], prefix)[0, -1].argmax())
                if token == EOS_ID:
                    break
                prefix = torch.cat([prefix, torch.tensor([[token]])], dim=1)
            assert ids == prefix[0, 1:].tolist()


@pytest.mark.parametrize("cache", [True, False])
def test_beam_search_of_a_batch_equals_each_sentence_alone(cache):
    # sentences finish at different steps and leave the batch; the others must not notice
    model, src = small_transformer(), padded_sources()
    batched = beam_search(model, src, beam_size=3, cache=cache)
    for row, expected in zip(src, batched):
        length = int((row != PAD_ID).sum())
        assert beam_search(model, row[None, :length], beam_size=3, cache=cache) == [expected]


def test_translate_restores_training_mode():
    model = small_transformer().train()
    translate(model, [padded_sources()], beam_size=2)
    assert model.training


@pytest.mark.parametrize("kwargs, match", [({"beam_size": 0}, "beam_size"), ({"temperature": 0.0}, "temperature"),
                                           ({"length_penalty": -1.0}, "length_penalty")])
def test_bad_decoding_arguments(kwargs, match):
    model = MarkovModel(GARDEN_PATH).eval()
    with pytest.raises(LsbookError, match=match):
        beam_search(model, source_of_length(2), **kwargs)
