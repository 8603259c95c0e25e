"""Label smoothing and distillation losses (Section 1.1 and Eq. 2 of the replication).

Smoothed targets are ``y_k^LS = y_k (1 - α) + α / K`` (Szegedy et al. 2016; Müller et al. 2019,
Section 1). Label-smoothing cross-entropy is the cross-entropy ``H(y^LS, softmax(z))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lsbook.errors import LsbookError
from lsbook.validation import check_alpha, check_positive_int, check_temperature


def smooth_targets(labels: torch.Tensor, num_classes: int, alpha: float) -> torch.Tensor:
    """Smoothed label vectors ``y(1-α) + α/K`` (replication, Section 1.1): (N,) -> (N, K)."""
    alpha = check_alpha(alpha)
    num_classes = check_positive_int(num_classes, "num_classes", minimum=2)
    labels = torch.as_tensor(labels)
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise LsbookError(f"labels must lie in [0, {num_classes}), got values in "
                          f"[{int(labels.min())}, {int(labels.max())}]")
    one_hot = F.one_hot(labels.long(), num_classes).to(torch.get_default_dtype())
    return one_hot * (1.0 - alpha) + alpha / num_classes


def label_smoothing_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float, ignore_index: int | None = None
) -> torch.Tensor:
    """Mean cross-entropy between ``y^LS`` and ``softmax(logits)`` over the (non-ignored) rows.

    logits: (N, K) or (..., K) with labels of shape (...). Positions whose label equals
    ``ignore_index`` (padding, for the Transformer) count neither in the sum nor in the mean.
    Equal to ``torch.nn.functional.cross_entropy(logits, labels, label_smoothing=alpha)``.
    """
    alpha = check_alpha(alpha)
    if logits.shape[:-1] != labels.shape:
        raise LsbookError(f"labels shape {tuple(labels.shape)} does not match logits "
                          f"shape {tuple(logits.shape)} without its last (class) dimension")
    logits = logits.reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1)
    if ignore_index is not None:
        keep = labels != ignore_index
        logits, labels = logits[keep], labels[keep]
    if labels.numel() == 0:
        raise LsbookError("label_smoothing_cross_entropy got no (non-ignored) examples")
    log_probs = F.log_softmax(logits, dim=-1)
    # H(y^LS, p) = (1-α)·(-log p_y) + (α/K)·Σ_k (-log p_k)
    nll = -log_probs.gather(1, labels.long().unsqueeze(1)).squeeze(1)
    uniform = -log_probs.mean(dim=1)
    return ((1.0 - alpha) * nll + alpha * uniform).mean()


def distillation_loss_replication(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
    beta: float = 0.6,
) -> torch.Tensor:
    """The replication's Section 6.1 loss: ``(1-β)·CE(y, q) + β·½·mean((z_s - z_t)²)``.

    As in Hinton et al.'s MNIST experiment quoted by Müller et al. (Section 4): β = 0.6, half the
    squared error between student and teacher logits (averaged over batch and classes).
    """
    beta = _check_beta(beta)
    _check_same_shape(student_logits, teacher_logits)
    hard = F.cross_entropy(student_logits, labels)
    soft = 0.5 * F.mse_loss(student_logits, teacher_logits.detach())
    return (1.0 - beta) * hard + beta * soft


def distillation_loss_original(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
    beta: float = 1.0, labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. (2) as Müller et al. used it on CIFAR-10: ``(1-β)·H(y, q) + β·H(p^T, q)``.

    ``p^T`` is the teacher's softmax at temperature T; the student ``q`` is at T = 1 (Section 6:
    the student's temperature is a learnable scalar, so it is left out). β = 1 uses only the
    teacher's outputs, and then ``labels`` may be omitted.
    """
    beta = _check_beta(beta)
    temperature = check_temperature(temperature)
    _check_same_shape(student_logits, teacher_logits)
    teacher_probs = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    soft = -(teacher_probs * F.log_softmax(student_logits, dim=-1)).sum(dim=-1).mean()
    if beta == 1.0:
        return soft
    if labels is None:
        raise LsbookError("labels are required when beta < 1 (the hard-label term)")
    return (1.0 - beta) * F.cross_entropy(student_logits, labels) + beta * soft


def _check_beta(beta: float) -> float:
    beta = float(beta)
    if not 0.0 <= beta <= 1.0:
        raise LsbookError(f"beta must be in [0, 1], got {beta!r}")
    return beta


def _check_same_shape(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise LsbookError(f"student_logits shape {tuple(student_logits.shape)} differs from "
                          f"teacher_logits shape {tuple(teacher_logits.shape)}")
