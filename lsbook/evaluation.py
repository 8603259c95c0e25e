"""Evaluating a trained classifier: logits, penultimate-layer features and per-split metrics.

The per-epoch evaluation of :func:`lsbook.train.train_classifier` goes through
:func:`evaluation_splits` (each split's inputs preprocessed once per run when they are small enough)
and :func:`evaluate_splits` (logits under ``torch.inference_mode`` into one preallocated tensor, then
:func:`split_metrics`). The logits are bitwise those of :func:`predict_logits`: the same batches, the
same preprocessing (element-wise, so computing it once for the whole split gives the same bits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# The preprocessed (float) inputs of one evaluated split are kept for the whole run when they take at
# most this many bytes: 31 MB for the 10,000 MNIST test images, 106 MB for CIFAR-10's; the larger
# images of CUB / Tiny ImageNet are preprocessed batch by batch, as before.
EVAL_INPUT_CACHE_BYTES = 256 * 2**20


def _logits_into(model: nn.Module, batches, count: int, device: torch.device) -> torch.Tensor:
    """Run ``model`` on each (start, inputs) batch in inference mode; float32 logits [count, K]."""
    out = None
    model.eval()
    with torch.inference_mode():
        for start, inputs in batches:
            logits = model(inputs)
            if out is None:
                with torch.inference_mode(False):  # a plain tensor: callers may use it freely
                    out = torch.empty((count, *logits.shape[1:]), dtype=torch.float32, device=device)
            out[start:start + len(logits)] = logits
    if out is None:  # no examples: the model's output width is unknown
        return torch.empty((0, 0), dtype=torch.float32)
    return out.cpu()


def predict_logits(model: nn.Module, images: torch.Tensor, transforms, batch_size: int) -> torch.Tensor:
    """Eval-mode logits of every image: float32 [N, K] on the CPU."""
    batches = ((i, transforms.eval(images[i:i + batch_size])) for i in range(0, len(images), batch_size))
    return _logits_into(model, batches, len(images), images.device)


@dataclass
class EvalSplit:
    """One split evaluated after every epoch: its uint8 images and labels (on the training device),
    the labels on the CPU for the metrics, and, when small enough, its preprocessed inputs."""

    name: str
    images: torch.Tensor       # uint8 [N, C, H, W]
    labels: torch.Tensor       # int64 [N], on the training device
    cpu_labels: torch.Tensor   # int64 [N]
    transforms: object         # lsbook.data.augment.Transforms
    inputs: torch.Tensor | None = None  # transforms.eval(images) [N, ...], computed once; None: per batch

    def batches(self, batch_size: int):
        """(start, float inputs) of each evaluation batch, in order."""
        for i in range(0, len(self.images), batch_size):
            yield i, (self.inputs[i:i + batch_size] if self.inputs is not None
                      else self.transforms.eval(self.images[i:i + batch_size]))


def evaluation_splits(splits: dict[str, tuple[torch.Tensor, torch.Tensor]], transforms,
                      cache_bytes: int = EVAL_INPUT_CACHE_BYTES) -> list[EvalSplit]:
    """The splits to evaluate each epoch (name -> (images, labels)), preprocessed once where the
    float inputs take at most ``cache_bytes``."""
    prepared = []
    for name, (images, labels) in splits.items():
        split = EvalSplit(name, images, labels, labels.cpu(), transforms)
        if len(images) and images[0].numel() * 4 * len(images) <= cache_bytes:  # float32 <= 4 B/pixel
            with torch.no_grad():
                split.inputs = transforms.eval(images)
        prepared.append(split)
    return prepared


def evaluate_splits(model: nn.Module, splits: list[EvalSplit],
                    batch_size: int) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Each split's logits (float32 [N, K] on the CPU) and its metrics (:func:`split_metrics`),
    in the order of ``splits``."""
    logits, metrics = {}, {}
    for split in splits:
        logits[split.name] = _logits_into(model, split.batches(batch_size), len(split.images), split.images.device)
        metrics.update(split_metrics(split.name, logits[split.name], split.cpu_labels))
    return logits, metrics


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

