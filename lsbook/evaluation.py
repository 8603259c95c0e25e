"""Evaluating a trained classifier: logits, penultimate-layer features and per-split metrics."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, transforms, batch_size: int) -> torch.Tensor:
    """Eval-mode logits of every image: float32 [N, K] on the CPU."""
    model.eval()
    out = [model(transforms.eval(images[i:i + batch_size])).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


@torch.no_grad()
def penultimate_features(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, classes,
                         per_class: int, transforms, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``model.features`` of the first ``per_class`` examples of each plot class: [M, n], [M]."""
    picked = [torch.nonzero(labels == c).flatten()[:per_class] for c in classes]
    index = torch.cat(picked) if picked else torch.empty(0, dtype=torch.long, device=labels.device)
    if len(index) == 0 or not hasattr(model, "features"):
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    model.eval()
    chunks = [model.features(transforms.eval(images[index[i:i + batch_size]])).float().cpu()
              for i in range(0, len(index), batch_size)]
    return torch.cat(chunks).numpy(), labels[index].cpu().numpy()


def split_metrics(prefix: str, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy, NLL and 15-bin ECE (Section 5) of one split's logits."""
    from lsbook.calibration import accuracy, expected_calibration_error, negative_log_likelihood

    labels = labels.cpu()
    if len(labels) == 0:
        return {}
    return {f"{prefix}_accuracy": accuracy(logits, labels),
            f"{prefix}_nll": negative_log_likelihood(logits, labels),
            f"{prefix}_ece": expected_calibration_error(logits, labels)}

