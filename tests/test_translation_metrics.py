"""Token-level calibration under teacher forcing (PAD masked, T on logits) and BLEU on detokenised text."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from lsbook.calibration import accuracy, expected_calibration_error, negative_log_likelihood, reliability_bins
from lsbook.data.text import BOS_ID, EOS_ID, PAD_ID, Tokenizer, pad_batch
from lsbook.errors import LsbookError
from lsbook.models import build
from lsbook.translation.metrics import (TokenLogits, bleu_of_ids, calibration_curve, corpus_bleu, detokenize,
                                        non_pad_positions, teacher_forced_logits, token_calibration)

GERMAN = ["Ein Mann mit Bart lächelt.", "Zwei Hunde spielen im Schnee.", "Eine Frau liest ein Buch im Park.",
          "Ein kleines Mädchen klettert in ein Spielhaus aus Holz.", "Drei Kinder rennen über die Wiese."]


def test_pad_positions_are_not_counted():
    # 2 sentences × 4 positions; real tokens are right half the time with confidence 0.9,
    # PAD positions "predict" PAD with confidence ~1 (they would inflate accuracy and ECE).
    vocab = 6
    labels = torch.tensor([[4, 5, EOS_ID, PAD_ID], [5, EOS_ID, PAD_ID, PAD_ID]])
    predicted = torch.tensor([[4, 4, EOS_ID, PAD_ID], [4, 4, PAD_ID, PAD_ID]])  # 2 of 5 real tokens right
    logits = torch.full((2, 4, vocab), 0.0)
    logits.scatter_(2, predicted[..., None], 20.0)
    tokens = non_pad_positions(logits, labels)
    assert tokens.labels.tolist() == [4, 5, EOS_ID, 5, EOS_ID]
    result = token_calibration(tokens)
    confidence = float(torch.softmax(torch.tensor([20.0] + [0.0] * 5), 0)[0])
    assert result.tokens == 5 and result.accuracy == pytest.approx(2 / 5)
    assert result.ece == pytest.approx(confidence - 2 / 5)
    assert int(result.bins.counts.sum()) == 5


def test_teacher_forcing_with_padding_equals_each_sentence_alone():
    torch.manual_seed(0)
    model = build("transformer", 30, src_vocab=30, d_model=16, nhead=2, num_encoder_layers=1,
                  num_decoder_layers=1, dim_feedforward=32).train()  # eval mode is the function's job
    sources = [[5, 6, 7, 8, 9, EOS_ID], [10, EOS_ID], [11, 12, 13, EOS_ID]]
    targets = [[BOS_ID, 20, 21, EOS_ID], [BOS_ID, 22, 23, 24, 25, 26, EOS_ID], [BOS_ID, 27, EOS_ID]]
    batched = teacher_forced_logits(model, [(pad_batch(sources), pad_batch(targets))])
    alone = [teacher_forced_logits(model, [(pad_batch([s]), pad_batch([t]))]) for s, t in zip(sources, targets)]
    assert model.training
    assert len(batched.labels) == sum(len(t) - 1 for t in targets) == 11
    assert torch.equal(batched.labels, torch.cat([a.labels for a in alone]))
    assert torch.allclose(batched.logits, torch.cat([a.logits for a in alone]), atol=1e-5)


def test_temperature_divides_the_output_logits_not_the_hidden_state():
    torch.manual_seed(1)
    model = build("transformer", 25, src_vocab=25, d_model=16, nhead=2, num_encoder_layers=1,
                  num_decoder_layers=1, dim_feedforward=32).eval()
    with torch.no_grad():
        model.head.bias.uniform_(-3, 3)  # with a bias, head(h / T) != head(h) / T
    src = torch.tensor([[5, 6, 7, EOS_ID], [8, 9, EOS_ID, PAD_ID]])
    tgt = torch.tensor([[BOS_ID, 10, 11, 12, EOS_ID], [BOS_ID, 13, EOS_ID, PAD_ID, PAD_ID]])
    tokens = teacher_forced_logits(model, [(src, tgt)])
    labels = tgt[:, 1:]
    keep = labels != PAD_ID
    with torch.no_grad():
        hidden = model.features(src, tgt[:, :-1])
        on_logits = F.cross_entropy((model.head(hidden) / 2.0)[keep], labels[keep]).item()
        on_hidden = F.cross_entropy(model.head(hidden / 2.0)[keep], labels[keep]).item()
    result = token_calibration(tokens, temperature=2.0)
    assert result.nll == pytest.approx(on_logits, rel=1e-5)
    assert abs(result.nll - on_hidden) > 1e-3
    assert result.ece == pytest.approx(expected_calibration_error(tokens.logits, tokens.labels, temperature=2.0))


@pytest.mark.parametrize("chunk", [300, 4096])
def test_curve_equals_lsbook_calibration_at_every_temperature(chunk, monkeypatch):
    import lsbook.translation.metrics as metrics

    monkeypatch.setattr(metrics, "CHUNK_TOKENS", chunk)
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(1000, 12, generator=generator) * 3
    labels = torch.randint(0, 12, (1000,), generator=generator)
    temperatures = [0.5, 1.0, 1.5, 3.0]
    curve = calibration_curve(TokenLogits(logits, labels), temperatures)
    for temperature, result in zip(temperatures, curve):
        whole = reliability_bins(logits, labels, temperature=temperature)
        np.testing.assert_array_equal(result.bins.counts, whole.counts)
        np.testing.assert_allclose(result.bins.confidence, whole.confidence, equal_nan=True)
        np.testing.assert_allclose(result.bins.accuracy, whole.accuracy, equal_nan=True)
        assert result.ece == pytest.approx(expected_calibration_error(logits, labels, temperature=temperature))
        assert result.nll == pytest.approx(negative_log_likelihood(logits, labels, temperature=temperature))
        assert result.accuracy == pytest.approx(accuracy(logits, labels)) and result.tokens == 1000


def test_empty_or_mismatched_tokens_are_refused():
    with pytest.raises(LsbookError, match="no target tokens"):
        non_pad_positions(torch.zeros(1, 2, 5), torch.full((1, 2), PAD_ID))
    with pytest.raises(LsbookError, match="disagree"):
        non_pad_positions(torch.zeros(1, 3, 5), torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(LsbookError, match="temperature"):
        token_calibration(TokenLogits(torch.zeros(2, 3), torch.tensor([0, 1])), temperature=0.0)


@pytest.fixture(scope="module")
def german_tokenizer() -> Tokenizer:
    return Tokenizer.train(GERMAN * 3, vocab_size=300, language="de")


def test_bleu_scores_detokenised_text_against_raw_references(german_tokenizer):
    ids = german_tokenizer.encode_many(GERMAN)
    perfect = bleu_of_ids(ids, german_tokenizer, GERMAN)
    assert perfect.score == pytest.approx(100.0)
    assert perfect.hypotheses == GERMAN                 # plain text, not token pieces
    assert "tok:13a" in perfect.signature and f"version:{sacrebleu.__version__}" in perfect.signature
    # the same text tokenised differently (byte-level pieces joined by spaces) is not the same text
    pieces = [" ".join(german_tokenizer._backend.id_to_token(i) for i in row) for row in ids]
    assert corpus_bleu(pieces, GERMAN).score < 60


def test_bleu_is_sacrebleus_corpus_bleu(german_tokenizer):
    hypotheses = ["Ein Mann lächelt.", "Zwei Hunde im Schnee.", "Eine Frau liest.", "Ein Mädchen klettert.",
                  "Kinder rennen."]
    ours = corpus_bleu(hypotheses, GERMAN)
    assert ours.score == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [GERMAN]).score)
    assert 0 < ours.score < 100
    assert corpus_bleu([h.lower() for h in hypotheses], GERMAN, lowercase=True).score == pytest.approx(
        sacrebleu.corpus_bleu(hypotheses, [GERMAN], lowercase=True).score)


def test_uncased_bleu_ignores_case_and_cased_bleu_does_not():
    hypotheses = ["ein mann rennt im park .", "zwei hunde spielen im schnee ."]
    references = ["Ein Mann rennt im Park .", "Zwei Hunde spielen im Schnee ."]
    cased, uncased = corpus_bleu(hypotheses, references), corpus_bleu(hypotheses, references, lowercase=True)
    assert uncased.score == pytest.approx(100.0) and cased.score < 60
    assert "case:lc" in uncased.signature and "case:mixed" in cased.signature


def test_detokenize_drops_specials_and_outer_spaces(german_tokenizer):
    ids = german_tokenizer.encode(" Zwei Hunde spielen im Schnee. ")
    assert detokenize([[*ids, EOS_ID, 5, 6]], german_tokenizer) == ["Zwei Hunde spielen im Schnee."]


def test_bad_bleu_input():
    with pytest.raises(LsbookError, match="references must not be empty"):
        corpus_bleu([], [])
    with pytest.raises(LsbookError, match="2 hypotheses for 1 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(LsbookError, match="detokenise"):
        corpus_bleu([[1, 2]], ["a"])
