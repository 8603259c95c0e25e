"""Smoothness index γ (Eq. 3)."""

import numpy as np
import pytest
import torch

from lsbook.distillation import smoothed_teacher_logits, smoothness_index


@pytest.mark.parametrize("alpha", [0.0, 0.15, 0.3, 0.75])
def test_gamma_equals_alpha_for_a_teacher_that_outputs_smoothed_labels(alpha):
    labels = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(0))
    logits = smoothed_teacher_logits(labels, 10, alpha)
    assert smoothness_index(logits, labels, temperature=1.0) == pytest.approx(alpha, abs=1e-6)


def test_gamma_grows_with_temperature_and_is_one_for_uniform():
    generator = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 5, (100,), generator=generator)
    logits = torch.randn(100, 5, generator=generator) + 6 * torch.nn.functional.one_hot(labels, 5)
    gammas = [smoothness_index(logits, labels, t) for t in (1, 2, 4, 8, 16)]
    assert all(a < b for a, b in zip(gammas, gammas[1:]))
    assert smoothness_index(np.zeros((3, 4)), [0, 1, 2]) == pytest.approx(1.0)


def test_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        smoothness_index(np.zeros((3, 4)), [0, 1, 2], temperature=0)
    with pytest.raises(ValueError, match="teacher_logits must have shape"):
        smoothness_index(np.zeros(3), [0, 1, 2])
