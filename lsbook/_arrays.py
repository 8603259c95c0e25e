"""Input conversion shared by the metric modules: numpy or torch in, float64/int64 torch out."""

from __future__ import annotations

import numpy as np
import torch

from lsbook.errors import LsbookError


def as_logits(logits, name: str = "logits") -> torch.Tensor:
    """A non-empty (N, K) float64 tensor, K >= 2."""
    tensor = torch.as_tensor(np.asarray(logits) if not torch.is_tensor(logits) else logits)
    tensor = tensor.detach().to("cpu", torch.float64)
    if tensor.ndim != 2:
        raise LsbookError(f"{name} must have shape (N, K), got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise LsbookError(f"{name} is empty: need at least one example")
    if tensor.shape[1] < 2:
        raise LsbookError(f"{name} must have K >= 2 classes, got K = {tensor.shape[1]}")
    return tensor


def as_labels(labels, num_examples: int, num_classes: int, name: str = "labels") -> torch.Tensor:
    """An (N,) int64 tensor of class indices in [0, K) matching N examples."""
    tensor = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
    tensor = tensor.detach().to("cpu")
    if tensor.ndim != 1 or tensor.shape[0] != num_examples:
        raise LsbookError(
            f"{name} must have shape ({num_examples},) to match the logits, got {tuple(tensor.shape)}"
        )
    if tensor.dtype.is_floating_point and not torch.equal(tensor, tensor.round()):
        raise LsbookError(f"{name} must be integer class indices")
    tensor = tensor.long()
    if tensor.numel() and (tensor.min() < 0 or tensor.max() >= num_classes):
        raise LsbookError(f"{name} must lie in [0, {num_classes}), got values in "
                          f"[{int(tensor.min())}, {int(tensor.max())}]")
    return tensor
