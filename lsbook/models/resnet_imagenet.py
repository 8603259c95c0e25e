"""torchvision's ResNet-34 / ResNet-50 with a new head, as the replication used (seed §2.2).

ResNet-34 (CUB-200-2011) starts from the ImageNet weights IMAGENET1K_V1, ResNet-50 (Tiny ImageNet)
from IMAGENET1K_V2 ("pre-trained weights V2", seed §2.2). Weights are never downloaded at build
time: they are read from ``weights_path`` or from torch hub's cache, and a missing file raises an
error that says which file to put where.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torchvision
from torch import nn

from lsbook.errors import DataCorruptError, DataMissingError, LsbookError
from lsbook.models.common import check_positive_int

# arch -> the torchvision weights the replication started from
IMAGENET_WEIGHTS = {
    "resnet34": torchvision.models.ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V2,
}


@dataclass(frozen=True)
class ImageNetResNetConfig:
    arch: ClassVar[str] = ""
    num_classes: int = 200                 # K: 200 for CUB-200-2011 and for Tiny ImageNet
    pretrained: bool = False               # start from ImageNet weights (the replication did);
    #                                        False = random init (tests, ablations)
    weights_path: str | Path | None = None  # the .pth file; None = torch hub's cache file

    def __post_init__(self) -> None:
        check_positive_int(self.num_classes, "num_classes", minimum=2)
        if not isinstance(self.pretrained, bool):
            raise LsbookError(f"pretrained must be True or False, got {self.pretrained!r}")
        if self.weights_path is not None and not self.pretrained:
            raise LsbookError("weights_path is only read with pretrained=True")


@dataclass(frozen=True)
class ResNet34Config(ImageNetResNetConfig):
    arch: ClassVar[str] = "resnet34"


@dataclass(frozen=True)
class ResNet50Config(ImageNetResNetConfig):
    arch: ClassVar[str] = "resnet50"


def default_weights_file(arch: str) -> Path:
    """Where torch hub keeps the ImageNet weights of ``arch`` (e.g. .../checkpoints/resnet34-b627a593.pth)."""
    file_name = IMAGENET_WEIGHTS[arch].url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def load_imagenet_state_dict(arch: str, weights_path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Read the ImageNet state dict of ``arch``; verify its sha256 prefix when the file has
    torchvision's name (``<arch>-<sha256 prefix>.pth``)."""
    expected = default_weights_file(arch)
    path = Path(weights_path) if weights_path is not None else expected
    if not path.is_file():
        url = IMAGENET_WEIGHTS[arch].url
        raise DataMissingError(
            f"ImageNet weights for {arch} not found at {path}; download {url} and save it as "
            f"{expected} (or pass weights_path=...), or build with pretrained=False")
    if path.name == expected.name:
        prefix = re.search(r"-([0-9a-f]+)\.pth$", path.name).group(1)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not digest.startswith(prefix):
            raise DataCorruptError(f"{path}: sha256 {digest[:len(prefix)]}… does not match the "
                                   f"published {prefix}…; download {IMAGENET_WEIGHTS[arch].url} again")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unreadable pickle / zip: say which file
        raise DataCorruptError(f"{path}: not a readable PyTorch state dict ({error})") from error


class ImageNetResNet(nn.Module):
    """torchvision ResNet trunk (``backbone``, its fc removed) and a new ``head`` for K classes."""

    def __init__(self, config: ImageNetResNetConfig) -> None:
        super().__init__()
        self.config = config
        backbone = getattr(torchvision.models, config.arch)(weights=None)  # fc: 1000 ImageNet classes
        if config.pretrained:
            try:
                backbone.load_state_dict(load_imagenet_state_dict(config.arch, config.weights_path))
            except RuntimeError as error:  # wrong architecture or keys
                raise DataCorruptError(f"weights for {config.arch} do not fit the model: "
                                       f"{str(error).splitlines()[0]}") from error
        in_features = backbone.fc.in_features    # 512 (ResNet-34) or 2048 (ResNet-50)
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.head = nn.Linear(in_features, config.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled post-ReLU activations of the last stage: [B, 3, H, W] -> [B, d]."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))       # [B, K] logits
