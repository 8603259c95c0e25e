"""Penultimate-layer projection: geometry of the templates' plane."""

import numpy as np
import pytest

from lsbook.projection import penultimate_projection, plane_basis


def _templates(n=50, seed=0):
    return np.random.default_rng(seed).normal(size=(3, n))


def test_pairwise_template_distances_are_preserved():
    templates = _templates()
    projected = penultimate_projection(templates, templates)  # project the templates themselves
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        assert np.linalg.norm(projected[i] - projected[j]) == pytest.approx(
            np.linalg.norm(templates[i] - templates[j]))


def test_basis_is_orthonormal_and_spans_the_differences():
    templates = _templates()
    basis = plane_basis(templates)
    assert np.allclose(basis.T @ basis, np.eye(2))
    for delta in (templates[0] - templates[2], templates[1] - templates[2]):
        assert np.allclose(basis @ (basis.T @ delta), delta)  # lies in the plane


def test_components_orthogonal_to_the_plane_are_ignored():
    templates = _templates()
    basis = plane_basis(templates)
    rng = np.random.default_rng(1)
    activations = rng.normal(size=(20, 50))
    noise = rng.normal(size=(20, 50))
    noise -= (noise @ basis) @ basis.T  # remove the in-plane part
    assert np.allclose(penultimate_projection(activations + noise, templates),
                       penultimate_projection(activations, templates))


def test_folding_the_bias_appends_one_and_b_k():
    templates, biases = _templates(n=4), np.array([0.5, -1.0, 2.0])
    activations = np.random.default_rng(2).normal(size=(6, 4))
    folded = penultimate_projection(activations, templates, biases)
    expected = np.hstack([activations, np.ones((6, 1))]) @ plane_basis(np.hstack([templates, biases[:, None]]))
    assert np.allclose(folded, expected)
    assert not np.allclose(folded, penultimate_projection(activations, templates))


def test_bad_input():
    templates = _templates(n=5)
    with pytest.raises(ValueError, match="class_weights must have shape \\(3, n\\)"):
        penultimate_projection(np.zeros((2, 5)), templates[:2])
    with pytest.raises(ValueError, match="same n"):
        penultimate_projection(np.zeros((2, 4)), templates)
    with pytest.raises(ValueError, match="N >= 1"):
        penultimate_projection(np.zeros((0, 5)), templates)
    with pytest.raises(ValueError, match="collinear"):
        penultimate_projection(np.zeros((2, 5)), np.stack([templates[0], 2 * templates[0], 3 * templates[0]]))
    with pytest.raises(ValueError, match="class_biases must have shape \\(3,\\)"):
        penultimate_projection(np.zeros((2, 5)), templates, np.zeros(2))
