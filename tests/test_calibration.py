"""ECE, reliability bins, NLL and temperature fitting on inputs with known answers."""

import math

import numpy as np
import pytest
import torch

from lsbook.calibration import (
    accuracy,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)


def _calibrated_two_class(n: int, seed: int = 0):
    """Logits whose confidence is exactly the probability that the prediction is right."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.5, 1.0, size=n)
    correct = rng.uniform(size=n) < confidence
    labels = np.where(correct, 0, 1)
    logit = np.log(confidence / (1 - confidence))
    logits = np.stack([logit, np.zeros(n)], axis=1)  # class 0 is always predicted
    return logits, labels


def test_ece_by_hand():
    # two examples, both predicted with confidence 0.8 (same bin); one right, one wrong
    p = math.log(0.8 / 0.2)
    logits = np.array([[p, 0.0], [p, 0.0]])
    labels = np.array([0, 1])
    assert expected_calibration_error(logits, labels) == pytest.approx(abs(0.8 - 0.5))
    bins = reliability_bins(logits, labels, n_bins=5)
    assert bins.counts.tolist() == [0, 0, 0, 2, 0]  # 0.8 lies in (0.6, 0.8]
    assert bins.confidence[3] == pytest.approx(0.8)
    assert bins.accuracy[3] == pytest.approx(0.5)


def test_ece_near_zero_when_calibrated_and_large_when_overconfident():
    logits, labels = _calibrated_two_class(200_000)
    assert expected_calibration_error(logits, labels) < 0.01
    assert expected_calibration_error(logits * 5, labels) > 0.15


def test_reliability_counts_sum_to_n_and_ece_matches():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(1000, 10, generator=generator) * 3
    labels = torch.randint(0, 10, (1000,), generator=generator)
    bins = reliability_bins(logits, labels)
    assert bins.counts.sum() == 1000 and len(bins.counts) == 15
    assert bins.expected_calibration_error == pytest.approx(expected_calibration_error(logits, labels))


def test_temperature_changes_confidence_not_accuracy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 10, generator=generator) * 3
    labels = torch.randint(0, 10, (500,), generator=generator)
    hot = reliability_bins(logits, labels, temperature=0.5)
    cold = reliability_bins(logits, labels, temperature=4.0)
    mean_conf = lambda b: np.nansum(b.confidence * b.counts) / b.counts.sum()
    mean_acc = lambda b: np.nansum(b.accuracy * b.counts) / b.counts.sum()
    assert mean_conf(hot) > mean_conf(cold)
    assert mean_acc(hot) == pytest.approx(mean_acc(cold)) == pytest.approx(accuracy(logits, labels))


def test_nll_by_hand():
    logits = np.array([[0.0, math.log(3.0)]])
    assert negative_log_likelihood(logits, [1]) == pytest.approx(-math.log(0.75))
    assert negative_log_likelihood(logits, [1], temperature=1e6) == \
        pytest.approx(math.log(2), rel=1e-4)


@pytest.mark.parametrize("planted", [0.7, 1.0, 2.5])
def test_fit_temperature_recovers_planted_temperature(planted):
    # Draw labels from softmax(z); logits shown to the fit are z * planted, so T = planted is right.
    generator = torch.Generator().manual_seed(3)
    true_logits = torch.randn(20_000, 10, generator=generator) * 2
    labels = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=generator).squeeze(1)
    fitted = fit_temperature(true_logits * planted, labels)
    assert fitted == pytest.approx(planted, rel=0.05)
    assert fit_temperature(true_logits * planted, labels) == fitted  # deterministic
    assert fit_temperature(true_logits * planted, labels, device="cpu") == fitted
    if torch.cuda.is_available():  # the per-epoch token fit runs on the GPU: the same T to rounding
        assert fit_temperature(true_logits * planted, labels, device="cuda") == pytest.approx(fitted, rel=1e-6)


def test_bad_input():
    logits, labels = np.zeros((4, 3)), np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
        expected_calibration_error(logits, labels, n_bins=0)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        expected_calibration_error(logits, labels, temperature=0)
    with pytest.raises(ValueError, match="temperature"):
        negative_log_likelihood(logits, labels, temperature=-1)
    with pytest.raises(ValueError, match="labels must have shape \\(4,\\)"):
        expected_calibration_error(logits, labels[:3])
    with pytest.raises(ValueError, match="empty"):
        fit_temperature(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match="labels must lie in \\[0, 3\\)"):
        reliability_bins(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="shape \\(N, K\\)"):
        expected_calibration_error(np.zeros(4), labels)
