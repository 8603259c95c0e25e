"""Knowledge-distillation helpers: the smoothness index γ of Eq. (3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lsbook._arrays import as_labels, as_logits
from lsbook.validation import check_temperature


def smoothness_index(teacher_logits, labels, temperature: float = 1.0) -> float:
    """γ = E[Σ_k (1 − y_k)·p_k^T · K/(K − 1)] (Eq. 3), over the given (training) examples.

    ``p^T = softmax(teacher_logits / T)``; y is one-hot. For a teacher that outputs exactly the
    smoothed labels y(1−α)+α/K, γ = α, which puts teachers trained with label smoothing (M1, M2)
    and temperature-scaled teachers (M3, M4) on one axis (Figures 7 and 8).
    """
    logits = as_logits(teacher_logits, "teacher_logits")
    labels = as_labels(labels, logits.shape[0], logits.shape[1])
    temperature = check_temperature(temperature)
    num_classes = logits.shape[1]
    probs = F.softmax(logits / temperature, dim=1)
    off_label_mass = 1.0 - probs.gather(1, labels.unsqueeze(1)).squeeze(1)  # Σ_k (1-y_k) p_k
    return float((off_label_mass * num_classes / (num_classes - 1)).mean())


def smoothed_teacher_logits(labels: torch.Tensor, num_classes: int, alpha: float) -> torch.Tensor:
    """Logits whose softmax is exactly the smoothed labels (for tests and illustrations)."""
    from lsbook.losses import smooth_targets

    return torch.log(smooth_targets(labels, num_classes, alpha).double())
