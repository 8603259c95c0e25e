"""Mutual-information estimator of the original paper (Appendix A.2)."""

import math

import numpy as np
import pytest

from lsbook.information import mutual_information


def test_log_n_when_every_example_has_its_own_well_separated_mean():
    rng = np.random.default_rng(0)
    n, draws = 50, 5
    y = np.arange(n)[:, None] * 100.0 + rng.normal(size=(n, draws))
    assert mutual_information(y) == pytest.approx(math.log(n), abs=1e-3)


def test_near_zero_when_all_examples_share_one_distribution():
    y = np.random.default_rng(1).normal(size=(200, 5))
    assert mutual_information(y) < 0.15  # finite-sample bias only


def test_two_clusters_give_one_bit():
    # Two classes whose logits collapse to two points: I ≈ log 2. The estimator sees each
    # example's own sample mean, so within a cluster it finds a little more than one bit
    # (the original paper: late in training MI stays "slightly above log 2").
    rng = np.random.default_rng(2)
    centre = np.repeat([-50.0, 50.0], 100)[:, None]
    y = centre + rng.normal(size=(200, 5))
    assert math.log(2) < mutual_information(y) < math.log(2) + 0.2
    assert mutual_information(y) < 0.5 * math.log(200)


def test_matches_a_direct_loop_over_the_formula():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(6, 3)) + np.arange(6)[:, None] * 0.7
    n, draws = y.shape
    mu = y.mean(axis=1)
    var = ((y - mu[:, None]) ** 2).sum() / (n * draws)
    total = 0.0
    for x in range(n):
        for l in range(draws):
            own = -(y[x, l] - mu[x]) ** 2 / (2 * var)
            marginal = math.log(sum(math.exp(-(y[x, l] - mu[k]) ** 2 / (2 * var)) for k in range(n)) / n)
            total += own - marginal
    assert mutual_information(y) == pytest.approx(min(max(total / (n * draws), 0), math.log(n)))


def test_no_noise_limits():
    assert mutual_information(np.repeat(np.arange(4.0)[:, None], 3, axis=1)) == pytest.approx(math.log(4))
    assert mutual_information(np.ones((4, 3))) == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="shape \\(N, L\\)"):
        mutual_information(np.zeros(5))
    with pytest.raises(ValueError, match="N >= 2 examples and L >= 2"):
        mutual_information(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="NaN"):
        mutual_information(np.array([[0.0, np.nan], [1.0, 2.0]]))
