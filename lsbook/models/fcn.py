"""Fully connected network 784 → n → n → K of the MNIST distillation experiment.

Müller et al. (2019) Section 4 / the seed's Section 2.2: two ReLU hidden layers of 1200 units
(teacher) or 800 units (student), after Hinton et al. (2015); dropout 0.5 for the dropout teacher
(the replication's choice, after Hinton et al. 2012).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lsbook.models.common import check_choice, check_fraction, check_positive_float, check_positive_int

INIT_CHOICES = ("variance", "std")
BIAS_INIT_CHOICES = ("zeros", "normal")


@dataclass(frozen=True)
class FCNConfig:
    num_classes: int = 10      # K: 10 for MNIST / Fashion-MNIST, 47 for EMNIST-balanced
    hidden: int = 1200         # n units per hidden layer: 1200 teacher, 800 student (seed §2.2)
    dropout: float = 0.0       # dropout after each hidden ReLU; 0.5 for the dropout teacher (seed §2.2)
    init: str = "variance"     # "variance": weights ~ N(0, init_scale) as the original paper says;
    #                            "std": weights ~ N(0, init_scale²) as the replication's code did
    init_scale: float = 0.03   # the 0.03 of the original paper (Section 4 set-up)
    input_size: int = 784      # 28 × 28 greyscale pixels, flattened
    bias_init: str = "zeros"   # "zeros" (ours); "normal": biases drawn like the weights, as the
    #                            replication's code did

    def __post_init__(self) -> None:
        check_positive_int(self.num_classes, "num_classes", minimum=2)
        check_positive_int(self.hidden, "hidden")
        check_fraction(self.dropout, "dropout")
        check_choice(self.init, INIT_CHOICES, "init")
        check_choice(self.bias_init, BIAS_INIT_CHOICES, "bias_init")
        check_positive_float(self.init_scale, "init_scale")
        check_positive_int(self.input_size, "input_size")

    @property
    def weight_std(self) -> float:
        """Standard deviation of the Gaussian the weights are drawn from."""
        return math.sqrt(self.init_scale) if self.init == "variance" else self.init_scale


class FCN(nn.Module):
    """Two ReLU hidden layers and a linear head; ``forward(x) = head(features(x))``."""

    def __init__(self, config: FCNConfig) -> None:
        super().__init__()
        self.config = config
        self.fc1 = nn.Linear(config.input_size, config.hidden)
        self.fc2 = nn.Linear(config.hidden, config.hidden)
        self.head = nn.Linear(config.hidden, config.num_classes)
        self.dropout = nn.Dropout(config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Gaussian weights (variance or std ``init_scale``, see FCNConfig.init); zero biases, or (bias_init
        "normal") biases from the weights' Gaussian, each drawn right after its layer's weights."""
        for layer in (self.fc1, self.fc2, self.head):
            nn.init.normal_(layer.weight, mean=0.0, std=self.config.weight_std)
            if self.config.bias_init == "normal":
                nn.init.normal_(layer.bias, mean=0.0, std=self.config.weight_std)
            else:
                nn.init.zeros_(layer.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations as the head sees them: post-ReLU (and post-dropout) of fc2.

        The replication hooked fc2's pre-ReLU output; this is the vector the head multiplies.
        """
        x = x.flatten(1)                                   # [B, 1, 28, 28] -> [B, 784]
        x = self.dropout(torch.relu(self.fc1(x)))          # [B, n]
        return self.dropout(torch.relu(self.fc2(x)))       # [B, n], all >= 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))                 # [B, K] logits
