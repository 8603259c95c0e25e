"""Penultimate-layer projection (Section 4 and Appendix A.1 of the replication).

Three class templates w_1, w_2, w_3 (rows of the last layer's weight) span a plane through
w_3 with directions Δ1 = w_1 − w_3 and Δ2 = w_2 − w_3; QR of A = [Δ1 Δ2] gives an orthonormal
basis (u, v) of that plane, and an activation a is drawn at (aᵀu, aᵀv).
"""

from __future__ import annotations

import numpy as np

from lsbook.errors import LsbookError


def plane_basis(class_weights: np.ndarray) -> np.ndarray:
    """Orthonormal basis (n, 2) of the plane through three templates (rows of ``class_weights``)."""
    weights = np.asarray(class_weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != 3:
        raise LsbookError(f"class_weights must have shape (3, n): three class templates, "
                          f"got shape {weights.shape}")
    deltas = np.stack([weights[0] - weights[2], weights[1] - weights[2]], axis=1)  # A: (n, 2)
    q, r = np.linalg.qr(deltas)  # q: (n, 2) orthonormal columns
    if np.min(np.abs(np.diag(r))) < 1e-12 * max(1.0, np.abs(deltas).max()):
        raise LsbookError("class_weights: the three templates are collinear; they span no plane")
    # Fix the signs so that Δ1 points along +u and Δ2 has a positive v component.
    return q * np.sign(np.diag(r))


def penultimate_projection(activations, class_weights, class_biases=None) -> np.ndarray:
    """Coordinates (N, 2) of penultimate activations (N, n) in the templates' plane.

    ``class_biases`` (3,) folds the last layer's bias into the templates as the original paper
    does: every activation gets a trailing 1 and every template its bias b_k (so logits are
    exactly a·w_k + b_k). Pairwise distances between templates are preserved in the plane.
    """
    activations = np.asarray(activations, dtype=np.float64)
    weights = np.asarray(class_weights, dtype=np.float64)
    if activations.ndim != 2 or activations.shape[0] == 0:
        raise LsbookError(f"activations must have shape (N, n) with N >= 1, got {activations.shape}")
    if weights.ndim != 2 or activations.shape[1] != weights.shape[1]:
        raise LsbookError(f"activations have {activations.shape[1:]} features but class_weights "
                          f"have shape {weights.shape}; both need the same n")
    if class_biases is not None:
        biases = np.asarray(class_biases, dtype=np.float64).reshape(-1)
        if biases.shape != (weights.shape[0],):
            raise LsbookError(f"class_biases must have shape ({weights.shape[0]},), got {biases.shape}")
        weights = np.concatenate([weights, biases[:, None]], axis=1)
        activations = np.concatenate([activations, np.ones((activations.shape[0], 1))], axis=1)
    return activations @ plane_basis(weights)
