"""How tight the penultimate-layer clusters are: the spread-to-distance ratio.

The original (Section 2) says label smoothing pulls each class's activations into a tight cluster
around its template, at equal distances from the others. One number measures that: the mean
Euclidean distance of an example to its class centroid, divided by the mean distance between the
class centroids. It is unchanged by scaling the activations, so a network whose activations are
merely smaller does not count as tighter; lower means tighter clusters relative to their spacing.

The function takes weights (how often each example is counted) so that a bootstrap can recompute
the ratio on many resamples at once without copying activations: everything goes through the
Gram matrix of the examples.
"""

from __future__ import annotations

import numpy as np

from lsbook.errors import LsbookError


def spread_to_distance_ratio(features, labels, weights=None) -> np.ndarray | float:
    """Mean distance to the own class centroid / mean distance between class centroids.

    ``features`` (M, n) penultimate activations, ``labels`` (M,) their classes (at least two);
    ``weights`` None (every example once: returns a float) or (R, M) counts per resample (returns R
    ratios). Centroids and means are weighted.
    """
    spread, between, single = _geometry(features, labels, weights)
    distance = np.mean(between, axis=0)
    if np.any(distance <= 0):
        raise LsbookError("the class centroids coincide, so the ratio is undefined")
    ratio = spread / distance
    return float(ratio[0]) if single else ratio


def distance_spread(features, labels, weights=None) -> np.ndarray | float:
    """How unequal the distances between the class centroids are: their standard deviation over their
    mean (0: every pair of classes equally far apart, as the original's Figure 1 draws the templates
    under label smoothing). Scale-free; arguments and return as :func:`spread_to_distance_ratio`."""
    _, between, single = _geometry(features, labels, weights)
    between = np.asarray(between)                      # (pairs, R)
    if between.shape[0] < 2:
        raise LsbookError("labels must name at least three classes to compare distances between centroids")
    mean = between.mean(axis=0)
    if np.any(mean <= 0):
        raise LsbookError("the class centroids coincide, so the spread of their distances is undefined")
    spread = between.std(axis=0) / mean
    return float(spread[0]) if single else spread


def _geometry(features, labels, weights) -> tuple[np.ndarray, list[np.ndarray], bool]:
    """(weighted mean distance to the own centroid (R,), distances between each pair of centroids
    [(R,), ...], whether weights were None), everything through the Gram matrix of the examples."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise LsbookError(f"features must be (M, n) and labels (M,) with M > 0, got {x.shape} and {y.shape}")
    classes = np.unique(y)
    if classes.size < 2:
        raise LsbookError(f"labels must name at least two classes, got {classes.tolist()}")
    single = weights is None
    w = np.ones((1, x.shape[0])) if single else np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != x.shape[0] or np.any(w < 0):
        raise LsbookError(f"weights must be (R, {x.shape[0]}) non-negative counts, got {w.shape}")
    gram = x @ x.T                                     # (M, M)
    norms = np.diag(gram)                              # ||x_i||²
    spread_sum = np.zeros(w.shape[0])
    centroid_dot = {}                                  # c -> (R, M): x_i · m_c
    centroid_norm = {}                                 # c -> (R,): ||m_c||²
    per_class_weight = {}
    for c in classes:
        wc = w * (y == c)[None, :]                     # (R, M)
        nc = wc.sum(axis=1)
        if np.any(nc <= 0):
            raise LsbookError(f"class {c!r} has no example in some resample; use more examples per class")
        dots = (wc @ gram) / nc[:, None]
        centroid_dot[c], per_class_weight[c] = dots, wc
        centroid_norm[c] = (dots * wc).sum(axis=1) / nc
        distance = np.sqrt(np.maximum(norms[None, :] - 2 * dots + centroid_norm[c][:, None], 0.0))
        spread_sum += (distance * wc).sum(axis=1)
    between = []
    for i, a in enumerate(classes):
        for b in classes[i + 1:]:
            cross = (centroid_dot[a] * per_class_weight[b]).sum(axis=1) / per_class_weight[b].sum(axis=1)
            between.append(np.sqrt(np.maximum(centroid_norm[a] + centroid_norm[b] - 2 * cross, 0.0)))
    return spread_sum / w.sum(axis=1), between, single


def pair_spread(features, labels, a, b) -> float:
    """How much of the difference between classes ``a`` and ``b`` the examples still carry: the standard
    deviation of each class's examples along the line through the two centroids, divided by the
    centroids' distance, averaged over the two classes. Scale-free, like the ratio above; a network
    that collapses each class onto its centroid along that line scores 0."""
    x, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise LsbookError(f"features must be (M, n) and labels (M,), got {x.shape} and {y.shape}")
    if np.sum(y == a) < 2 or np.sum(y == b) < 2:
        raise LsbookError(f"classes {a!r} and {b!r} need at least two examples each")
    centre_a, centre_b = x[y == a].mean(axis=0), x[y == b].mean(axis=0)
    axis = centre_b - centre_a
    distance = float(np.linalg.norm(axis))
    if distance <= 0:
        raise LsbookError(f"the centroids of classes {a!r} and {b!r} coincide")
    along = x @ (axis / distance)
    return float((along[y == a].std(ddof=1) + along[y == b].std(ddof=1)) / 2 / distance)
