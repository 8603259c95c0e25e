"""The paper's data augmentation as batched tensor operations on the batch's own device.

The replication, Section 2.1 (datasets):

- MNIST, EMNIST, Fashion-MNIST: random shift of up to 2 px in x and y — the 25 equiprobable
  centerings of the original (Müller et al., Section 4), zero fill; pixels scaled to [0, 1],
  no standardisation.
- CIFAR-10 (and its JPEG re-encode): random 24x24 crop + horizontal flip; evaluation takes the centre 24x24 crop;
  per-channel standardisation (the replication's choice; the original standardised per image).
- CIFAR-100: zero-pad 4 px, random 32x32 crop + flip; per-channel standardisation.
- CUB-200-2011: random affine (rotation ±45°, translation ≤ 0.35 of the side, scale 0.65–1.35),
  then flip; Tiny ImageNet: ±7.5°, ≤ 0.1, 0.925–1.075, flip; both standardised with the
  ImageNet channel statistics (their networks are ImageNet ResNets).

Random numbers are drawn from the given ``torch.Generator`` on its own device and then moved to
the batch's device, so a generator state gives the same batch on CPU and GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lsbook.data.registry import get_dataset
from lsbook.errors import LsbookError

# Channel statistics of the training images (pixels in [0, 1]).
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def check_batch(images: torch.Tensor, channels: int | None = None) -> torch.Tensor:
    """A uint8 batch [B, C, H, W] (C = ``channels`` if given); LsbookError otherwise."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        dtype = getattr(images, "dtype", "?")
        raise LsbookError(f"images must be a uint8 tensor [B, C, H, W], got {dtype} {shape}")
    if channels is not None and images.shape[1] != channels:
        raise LsbookError(f"images must have {channels} channel(s), got shape {tuple(images.shape)}")
    return images


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B,C,H,W] -> float32 pixels in [0, 1]."""
    return images / 255.0  # one op: true division promotes uint8 to float32


def _uniform(generator: torch.Generator | None, size: int, low: float, high: float) -> torch.Tensor:
    device = generator.device if generator is not None else "cpu"
    return torch.rand(size, generator=generator, device=device) * (high - low) + low


def _integers(generator: torch.Generator | None, size: int, high: int) -> torch.Tensor:
    device = generator.device if generator is not None else "cpu"
    return torch.randint(high, (size,), generator=generator, device=device)


def batched_crop(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor,
                 height: int, width: int) -> torch.Tensor:
    """Crop image b at rows top[b]:top[b]+height, columns left[b]:left[b]+width: [B,C,height,width]."""
    windows = images.unfold(2, height, 1).unfold(3, width, 1)   # view [B, C, nH, nW, height, width]
    batch = torch.arange(images.shape[0], device=images.device)
    return windows[batch, :, top.to(images.device), left.to(images.device)]  # copy [B, C, h, w]


def random_flip(images: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images where ``flip`` [B] (bool) is set."""
    mask = flip.to(images.device)[:, None, None, None]
    return torch.where(mask, images.flip(-1), images)


def affine_warp(images: torch.Tensor, angle_deg: torch.Tensor, translate: torch.Tensor,
                scale: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Rotate, scale and translate float images about their centre, then mirror where ``flip``.

    ``translate`` [B, 2] is (x, y) in fractions of the side (torchvision's RandomAffine
    convention, positive = right/down); outside pixels are filled with 0. One ``grid_sample``:
    output point p samples the input at A⁻¹(F·p − t), with A = scale·R(angle), F the mirror.
    """
    batch, _, height, width = images.shape
    if height != width:
        raise LsbookError(f"affine augmentation expects square images, got {height}x{width}")
    device = images.device
    angle = angle_deg.to(device=device, dtype=torch.float32) * (math.pi / 180.0)
    inverse_scale = 1.0 / scale.to(device=device, dtype=torch.float32)
    cos, sin = torch.cos(angle) * inverse_scale, torch.sin(angle) * inverse_scale
    mirror = 1.0 - 2.0 * flip.to(device=device, dtype=torch.float32)                # -1 flips x
    shift = 2.0 * translate.to(device=device, dtype=torch.float32)                   # [B, 2] normalised
    # A⁻¹ = R(-angle)/scale = [[cos, sin], [-sin, cos]] / scale  (y axis points down)
    inverse = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # [B,2,2]
    theta = torch.cat([inverse * torch.stack([mirror, torch.ones_like(mirror)], -1)[:, None, :],
                       -(inverse @ shift[:, :, None])], dim=2)                       # [B, 2, 3]
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class Transforms:
    """Training augmentation and evaluation preprocessing of one dataset (uint8 in, float32 out)."""

    name: str                            # dataset
    output_shape: tuple[int, int, int]   # (C, H', W') of what the network sees
    mean: tuple[float, ...] | None       # per-channel standardisation (pixels in [0, 1]); None: x/255
    std: tuple[float, ...] | None
    shift: int = 0                       # MNIST family: random shift of up to ±shift px
    shift_rounded: bool = False          # False: the 2·shift+1 offsets per axis equally likely; True:
    #                                      round(U(−shift, shift)), the end offsets half as likely
    crop: int = 0                        # random crop size (train) / centre crop (eval); 0: none
    pad: int = 0                         # zero padding before the random crop (CIFAR-100)
    flip: bool = False                   # random horizontal flip with probability 1/2
    rotation: float = 0.0                # affine: max |angle| in degrees
    translation: float = 0.0             # affine: max |shift| as a fraction of the side
    scale: tuple[float, float] = (1.0, 1.0)  # affine: scale range

    def standardise(self, pixels: torch.Tensor) -> torch.Tensor:
        """float pixels in [0, 1] [B,C,H,W] -> standardised per channel (if configured)."""
        if self.mean is None:
            return pixels
        mean = torch.tensor(self.mean, device=pixels.device)[None, :, None, None]
        std = torch.tensor(self.std, device=pixels.device)[None, :, None, None]
        return (pixels - mean) / std

    def train(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment and normalise a uint8 batch [B,C,H,W] -> float32 [B, *output_shape]."""
        images = check_batch(images, self.output_shape[0])
        batch, _, height, width = images.shape
        if self.shift:
            span = 2 * self.shift + 1                                   # 25 centerings for ±2 px
            padded = F.pad(images, (self.shift,) * 4)
            if self.shift_rounded:  # offsets round(U(−s, s)) + s in [0, 2s], as the replication's code
                top = torch.round(_uniform(generator, batch, -self.shift, self.shift)).long() + self.shift
                left = torch.round(_uniform(generator, batch, -self.shift, self.shift)).long() + self.shift
            else:
                top, left = _integers(generator, batch, span), _integers(generator, batch, span)
            images = batched_crop(padded, top, left, height, width)
        if self.crop:
            if self.pad:
                images = F.pad(images, (self.pad,) * 4)
            top = _integers(generator, batch, images.shape[2] - self.crop + 1)
            left = _integers(generator, batch, images.shape[3] - self.crop + 1)
            images = batched_crop(images, top, left, self.crop, self.crop)
        if self.rotation or self.translation or self.scale != (1.0, 1.0):
            angle = _uniform(generator, batch, -self.rotation, self.rotation)
            translate = _uniform(generator, 2 * batch, -self.translation, self.translation).view(batch, 2)
            scale = _uniform(generator, batch, *self.scale)
            flip = _uniform(generator, batch, 0.0, 1.0) < 0.5 if self.flip else torch.zeros(batch, dtype=torch.bool)
            return self.standardise(affine_warp(to_unit(images), angle, translate, scale, flip))
        if self.flip:
            images = random_flip(images, _uniform(generator, batch, 0.0, 1.0) < 0.5)
        return self.standardise(to_unit(images))

    def eval(self, images: torch.Tensor) -> torch.Tensor:
        """Evaluation preprocessing: centre crop where training crops without padding; normalise."""
        images = check_batch(images, self.output_shape[0])
        if self.crop and not self.pad:
            top = (images.shape[2] - self.crop) // 2
            left = (images.shape[3] - self.crop) // 2
            images = images[:, :, top:top + self.crop, left:left + self.crop]
        return self.standardise(to_unit(images))


def make_transforms(name: str) -> Transforms:
    """The augmentation/normalisation of dataset ``name`` (see the module docstring)."""
    info = get_dataset(name)
    if info.kind != "image":
        raise LsbookError(f"dataset {info.name!r} has no image transforms (it is {info.kind})")
    channels, height, width = info.image_shape
    if info.name in ("mnist", "emnist", "fashion-mnist"):
        return Transforms(info.name, (channels, height, width), None, None, shift=2)
    if info.name in ("cifar10", "cifar10-jpeg"):  # the re-encode's decoded channel means and stds
        # differ from the official ones by < 0.003 (data/CHECKSUMS.md): the same standardisation
        return Transforms(info.name, (3, 24, 24), CIFAR10_MEAN, CIFAR10_STD, crop=24, flip=True)
    if info.name == "cifar100":
        return Transforms(info.name, (3, 32, 32), CIFAR100_MEAN, CIFAR100_STD, crop=32, pad=4, flip=True)
    if info.name == "cub200":
        return Transforms(info.name, (3, height, width), IMAGENET_MEAN, IMAGENET_STD, flip=True,
                          rotation=45.0, translation=0.35, scale=(0.65, 1.35))
    return Transforms(info.name, (3, height, width), IMAGENET_MEAN, IMAGENET_STD, flip=True,
                      rotation=7.5, translation=0.1, scale=(0.925, 1.075))
