"""The measurement behind the mutual-information curve (Müller et al. 2019, Section 4, App. A.2).

A fixed probe set of N training examples from two classes is augmented L times; the network's
logit difference between the two classes, y = z_a − z_b, gives a (N, L) matrix from which
``lsbook.information.mutual_information`` estimates I(X; Y) between example index and logit.
``MutualInformationProbe`` is the training-step callback that returns Î; it draws its
augmentations from its own generators, so it cannot change the training trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from lsbook.errors import LsbookError
from lsbook.information import mutual_information
from lsbook.validation import check_positive_int

# A batched augmentation: uint8 images [B,C,H,W] and a generator -> float32 [B,C,H',W'].
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class ProbeConfig:
    """What the mutual-information curve measures (the original's Section 4 set-up by default)."""

    classes: tuple[str, str] = ("airplane", "dog")  # the two classes whose logit difference is Y
    per_class: int = 300        # training examples per class: N = 2 × 300 = 600 in the original
    draws: int = 5              # L augmented draws of every example
    seed: int = 0               # picks the probe examples and the augmentation draws

    def __post_init__(self) -> None:
        if len(self.classes) != 2 or self.classes[0] == self.classes[1]:
            raise LsbookError(f"classes must be two different class names, got {self.classes!r}")
        check_positive_int(self.per_class, "per_class")
        check_positive_int(self.draws, "draws", minimum=2)
        check_positive_int(self.seed, "seed", minimum=0)


@dataclass
class ProbeSet:
    """The N probe examples: uint8 images [N,C,H,W] and the two class indices (a, b)."""

    images: torch.Tensor        # uint8 [N, C, H, W]: per_class examples of class a, then of class b
    labels: torch.Tensor        # int64 [N], each a or b
    class_indices: tuple[int, int]  # (a, b): Y = logit_a − logit_b


def select_probe_set(images: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                     config: ProbeConfig) -> ProbeSet:
    """Pick ``per_class`` training examples of each of the two classes, at random but seeded."""
    indices = []
    for name in config.classes:
        if name not in class_names:
            raise LsbookError(f"class {name!r} is not in this dataset; classes: {', '.join(class_names)}")
    class_indices = (class_names.index(config.classes[0]), class_names.index(config.classes[1]))
    generator = torch.Generator().manual_seed(config.seed)
    for index in class_indices:
        members = torch.nonzero(labels == index).flatten()
        if members.numel() < config.per_class:
            raise LsbookError(f"per_class={config.per_class} but class {class_names[index]!r} has only "
                              f"{members.numel()} training examples")
        chosen = members[torch.randperm(members.numel(), generator=generator)[: config.per_class]]
        indices.append(chosen.sort().values)
    order = torch.cat(indices)
    return ProbeSet(images=images[order], labels=labels[order].long(), class_indices=class_indices)


@torch.no_grad()
def logit_differences(model: nn.Module, probe: ProbeSet, augment: Augment, draws: int, seed: int,
                      batch_size: int = 500) -> np.ndarray:
    """y[x, l] = z_a − z_b of example x under augmentation draw l: a float64 array (N, L).

    Draw l uses its own generator seeded from (seed, l), so every checkpoint sees the same
    augmented copies and the global random state of training is untouched. The model runs in
    eval mode (no dropout, batch-norm running statistics) and is put back in its previous mode.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    a, b = probe.class_indices
    columns = []
    try:
        for draw in range(draws):
            generator = torch.Generator().manual_seed(1_000_003 * seed + draw)  # CPU: same draws on GPU
            column = []
            for start in range(0, probe.images.shape[0], batch_size):
                batch = probe.images[start:start + batch_size].to(device)       # uint8 [B,C,H,W]
                logits = model(augment(batch, generator))                        # [B, K]
                column.append((logits[:, a] - logits[:, b]).double().cpu())      # [B]
            columns.append(torch.cat(column))
    finally:
        model.train(was_training)
    return torch.stack(columns, dim=1).numpy()                                   # (N, L)


class MutualInformationProbe:
    """A training ``step_callback(step, model)`` returning Î (nats) of the model at that step.

    lsbook.loop calls it at step 0 and every k steps (eval mode, no_grad, RNG states restored)
    and keeps what it returns in the run's ``metrics["step_log"]``, checkpointed with the run.
    """

    def __init__(self, probe: ProbeSet, augment: Augment, config: ProbeConfig):
        self.probe, self.augment, self.config = probe, augment, config

    def __call__(self, step: int, model: nn.Module) -> float:
        y = logit_differences(model, self.probe, self.augment, self.config.draws, self.config.seed)
        return mutual_information(y)

    @property
    def log_n(self) -> float:
        """The upper bound log N of the estimate (N probe examples)."""
        return math.log(self.probe.images.shape[0])
