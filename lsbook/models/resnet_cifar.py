"""Pre-activation ResNet-56 for CIFAR (He et al. 2016, "Identity mappings in deep residual networks").

Seed §2.2 and Müller et al. (2019): 3 stages of 9 basic blocks (6·9 + 2 = 56 layers), widths
16/32/64 as in He et al. (about 0.85M parameters); the replication's code used 32/64/128
(``width=32``). The stem is a 3×3 convolution for CIFAR-10; the replication used 7×7 for CIFAR-100
(``stem_kernel=7``). Shortcuts are identities except where the shape changes, where a 1×1
strided convolution of the pre-activated input projects them (He et al. 2016, Section 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lsbook.errors import LsbookError
from lsbook.models.common import check_positive_int


@dataclass(frozen=True)
class ResNet56Config:
    num_classes: int = 10        # K: 10 for CIFAR-10, 100 for CIFAR-100
    width: int = 16              # channels of stage 1; stages have (w, 2w, 4w). He et al.: 16;
    #                              the replication's code: 32
    stem_kernel: int = 3         # stem convolution size: 3 for CIFAR-10, 7 for CIFAR-100 (seed §2.2)
    blocks_per_stage: int = 9    # n basic blocks per stage; depth = 6n + 2 = 56 (He et al. 2016)

    def __post_init__(self) -> None:
        check_positive_int(self.num_classes, "num_classes", minimum=2)
        check_positive_int(self.width, "width")
        check_positive_int(self.stem_kernel, "stem_kernel")
        if self.stem_kernel % 2 == 0:
            raise LsbookError(f"stem_kernel must be odd (3 for CIFAR-10, 7 for CIFAR-100), "
                              f"got {self.stem_kernel!r}")
        check_positive_int(self.blocks_per_stage, "blocks_per_stage")

    @property
    def depth(self) -> int:
        return 6 * self.blocks_per_stage + 2


class PreActBlock(nn.Module):
    """BN-ReLU-conv3×3-BN-ReLU-conv3×3 plus the (identity or projected) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
                         if needs_projection else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(self.bn1(x))                      # [B, C_in, H, W]
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)                              # [B, C_out, H/s, W/s]
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + skip


class PreActResNet(nn.Module):
    """stem conv, 3 stages of pre-activation blocks, BN-ReLU, global average pool, head."""

    def __init__(self, config: ResNet56Config) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.stem = nn.Conv2d(3, w, config.stem_kernel, padding=config.stem_kernel // 2, bias=False)
        stages, in_channels = [], w
        for stage, out_channels in enumerate((w, 2 * w, 4 * w)):
            blocks = []
            for i in range(config.blocks_per_stage):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(PreActBlock(in_channels, out_channels, stride))
                in_channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final_bn = nn.BatchNorm2d(4 * w)
        self.head = nn.Linear(4 * w, config.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal convolutions (fan-out, as He et al.), BN scale 1 / shift 0; default head."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled post-ReLU activations: the vector the head multiplies."""
        x = self.stages(self.stem(x))                      # [B, 3, 32, 32] -> [B, 4w, 8, 8]
        x = torch.relu(self.final_bn(x))
        return x.mean(dim=(2, 3))                          # [B, 4w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))                 # [B, K] logits
