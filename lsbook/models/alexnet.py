"""The two-convolution "AlexNet" for 24×24 CIFAR-10 crops used by Müller et al. (2019).

Seed §2.2: two 5×5 convolutions with 64 channels, max-pooling and local response normalisation,
then fully connected layers 384 → 192 → K; the shape (and initialisation) of the TensorFlow
CIFAR-10 tutorial model the original authors started from. TensorFlow's "SAME" 3×3/2 pooling is
reproduced with ``ceil_mode=True`` (TF pads only at the end), its LRN(depth_radius=4,
alpha=0.001/9) as PyTorch's LocalResponseNorm(size=9, alpha=0.001) defines it (alpha divided by
size), computed by :class:`ChannelLRN`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lsbook.errors import LsbookError
from lsbook.models.common import check_positive_float, check_positive_int

TRUNCATION = 2.0  # truncated normals are cut at ±2 standard deviations, like tf.truncated_normal


@dataclass(frozen=True)
class AlexNetConfig:
    num_classes: int = 10        # K: CIFAR-10
    channels: int = 64           # channels of both 5×5 convolutions (seed §2.2: "a maximum of 64")
    fc1: int = 384               # units of the first fully connected layer (TF tutorial "local3")
    fc2: int = 192               # units of the second, penultimate layer (TF tutorial "local4")
    image_size: int = 24         # input is a 3×24×24 crop of the 32×32 CIFAR image (seed §2.2)
    conv_std: float = 5e-2       # std of the truncated-normal conv kernels (TF tutorial)
    fc_std: float = 0.04         # std of the truncated-normal fc1/fc2 weights (TF tutorial)
    head_std: float | None = None  # std of the head weights; None = 1/fc2 (TF tutorial: 1/192)

    def __post_init__(self) -> None:
        for name in ("num_classes", "channels", "fc1", "fc2", "image_size"):
            check_positive_int(getattr(self, name), name, minimum=2 if name == "num_classes" else 1)
        check_positive_float(self.conv_std, "conv_std")
        check_positive_float(self.fc_std, "fc_std")
        if self.head_std is not None:
            check_positive_float(self.head_std, "head_std")

    @property
    def pooled_size(self) -> int:
        """Side of the feature map after two 3×3/2 "SAME" poolings: ceil(ceil(s/2)/2)."""
        return math.ceil(math.ceil(self.image_size / 2) / 2)


class ChannelLRN(nn.Module):
    """Local response normalisation across channels, TensorFlow's ``tf.nn.lrn``:
    x_c / (k + alpha/size · Σ_{|j−c| ≤ size//2} x_j²)^beta, the window cut at the first and last channel.

    The same function as ``nn.LocalResponseNorm(size, alpha, beta, k)`` (odd ``size``), computed as one
    matmul of the squares with a band matrix over the channels: PyTorch's version pads and average-pools
    a 5-D copy, which took more than half of an AlexNet training step here (bench/README.md). The two
    agree to float rounding (a few 1e-7 relative), not bit for bit.
    """

    def __init__(self, channels: int, size: int, alpha: float, beta: float, k: float) -> None:
        super().__init__()
        if size % 2 == 0:
            raise LsbookError(f"LRN size must be odd (a window centred on the channel), got {size!r}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        index = torch.arange(channels)
        band = ((index[:, None] - index[None, :]).abs() <= size // 2).float()  # [C, C]
        self.register_buffer("band", band, persistent=False)  # derived: not part of the weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = (x * x).permute(0, 2, 3, 1) @ self.band       # [B, H, W, C]: sums over the channel window
        scale = (self.k + (self.alpha / self.size) * window).pow(self.beta)
        return x / scale.permute(0, 3, 1, 2)                     # [B, C, H, W]


def truncated_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """N(0, std²) cut at ±2·std (resampled, so the actual std is ≈ 0.88·std), in place."""
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-TRUNCATION * std, b=TRUNCATION * std)


class AlexNet(nn.Module):
    """conv-ReLU-pool-LRN, conv-ReLU-LRN-pool, fc1-ReLU, fc2-ReLU, head."""

    def __init__(self, config: AlexNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.conv1 = nn.Conv2d(3, c, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(c, c, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.lrn = ChannelLRN(c, size=9, alpha=0.001, beta=0.75, k=1.0)
        self.fc1 = nn.Linear(c * config.pooled_size ** 2, config.fc1)
        self.fc2 = nn.Linear(config.fc1, config.fc2)
        self.head = nn.Linear(config.fc2, config.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """TF tutorial initialisation: truncated normals; biases 0 (conv1, head) or 0.1 (others).

        The replication called trunc_normal_ with a == b for the head, which set every head
        weight to one value; here the interval is ±2 std around 0.
        """
        cfg = self.config
        head_std = cfg.head_std if cfg.head_std is not None else 1.0 / cfg.fc2
        for layer, std, bias in ((self.conv1, cfg.conv_std, 0.0), (self.conv2, cfg.conv_std, 0.1),
                                 (self.fc1, cfg.fc_std, 0.1), (self.fc2, cfg.fc_std, 0.1),
                                 (self.head, head_std, 0.0)):
            truncated_normal_(layer.weight, std)
            nn.init.constant_(layer.bias, bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Post-ReLU output of fc2 — the vector the head multiplies."""
        x = self.lrn(self.pool(torch.relu(self.conv1(x))))   # [B, 3, 24, 24] -> [B, 64, 12, 12]
        x = self.pool(self.lrn(torch.relu(self.conv2(x))))   # -> [B, 64, 6, 6]
        x = torch.relu(self.fc1(x.flatten(1)))               # -> [B, 384]
        return torch.relu(self.fc2(x))                       # -> [B, 192]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))                   # [B, K] logits
