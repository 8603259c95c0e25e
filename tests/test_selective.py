"""lsbook.selective: risk–coverage curves, AURC / E-AURC and post-hoc logit normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from lsbook.errors import LsbookError
from lsbook.intervals import aurc_statistic
from lsbook.selective import (aurc, choose_p, excess_aurc, msp_confidence, normalised_max_logit,
                              risk_coverage)


def test_risk_coverage_by_hand():
    confidence = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, False, True, True])
    coverage, risk = risk_coverage(confidence, correct)
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0.0, 50.0, 100 / 3, 25.0])
    assert aurc(confidence, correct) == pytest.approx((0 + 50 + 100 / 3 + 25) / 4)
    # the oracle keeps the three correct ones first: risks 0, 0, 0, 25
    assert excess_aurc(confidence, correct) == pytest.approx(aurc(confidence, correct) - 25 / 4)
    assert excess_aurc(correct.astype(float), correct) == pytest.approx(0.0)  # a perfect ranking has none
    with pytest.raises(ValueError, match="equal 1-D arrays"):
        risk_coverage(confidence, correct[:3])


def test_the_bootstrap_statistic_is_the_aurc_of_each_resample():
    rng = np.random.default_rng(0)
    confidence, correct = rng.random(200), rng.random(200) < 0.8
    resamples = rng.integers(0, 200, size=(5, 200))
    values = aurc_statistic(confidence, correct)(np.vstack([np.arange(200), resamples]))
    assert values[0] == pytest.approx(aurc(confidence, correct))
    for value, indices in zip(values[1:], resamples):
        assert value == pytest.approx(aurc(confidence[indices], correct[indices]))


def test_normalised_max_logit_ignores_shift_and_scale_and_msp_is_the_softmax_maximum():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 10)) * 3
    for p in (1, 2, 5):
        np.testing.assert_allclose(normalised_max_logit(logits * 7 + 4, p), normalised_max_logit(logits, p))
    np.testing.assert_allclose(normalised_max_logit(logits + 4, 0), normalised_max_logit(logits, 0))
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(msp_confidence(logits), softmax.max(axis=1))
    with pytest.raises(LsbookError, match="logits must have shape"):
        msp_confidence(np.zeros(5))


def test_p_is_the_one_with_the_lowest_validation_aurc():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(400, 10)) * 2
    labels = rng.integers(0, 10, 400)
    labels[:300] = logits[:300].argmax(axis=1)            # 75 % correct
    correct = logits.argmax(axis=1) == labels
    best = choose_p(logits, labels)
    scores = {p: aurc(normalised_max_logit(logits, p), correct) for p in range(9)}
    assert scores[best] == min(scores.values())
    assert choose_p(logits, labels, grid=(3,)) == 3
