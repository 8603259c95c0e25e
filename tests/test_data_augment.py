"""Augmentation properties: bounded shifts, flip rate, crops inside, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from lsbook.data import make_transforms
from lsbook.data.augment import (CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, IMAGENET_MEAN,
                                 IMAGENET_STD, affine_warp, batched_crop)
from lsbook.errors import LsbookError


def random_batch(batch: int, channels: int, size: int, seed: int = 0, low: int = 1) -> torch.Tensor:
    """uint8 images with no zero pixel (so zero fill is recognisable) and distinct rows/columns."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, 256, (batch, channels, size, size), generator=generator, dtype=torch.uint8)


def unstandardise(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Back to uint8 pixels (exact for crops/flips: no interpolation happened)."""
    mean = torch.tensor(mean)[None, :, None, None]
    std = torch.tensor(std)[None, :, None, None]
    return torch.round((x * std + mean) * 255).to(torch.uint8)


def window_matches(outputs: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """bool [B, nTop, nLeft, 2]: output b equals source b's window at (top, left), unflipped/flipped."""
    _, _, h, w = outputs.shape
    _, _, H, W = sources.shape
    hits = torch.zeros(len(outputs), H - h + 1, W - w + 1, 2, dtype=torch.bool)
    for top in range(H - h + 1):
        for left in range(W - w + 1):
            window = sources[:, :, top:top + h, left:left + w]
            hits[:, top, left, 0] = (window == outputs).flatten(1).all(1)
            hits[:, top, left, 1] = (window.flip(-1) == outputs).flatten(1).all(1)
    return hits


def test_batched_crop_known_answer():
    images = torch.arange(2 * 1 * 4 * 5, dtype=torch.uint8).view(2, 1, 4, 5)
    out = batched_crop(images, torch.tensor([0, 2]), torch.tensor([1, 3]), 2, 2)
    assert torch.equal(out[0, 0], images[0, 0, 0:2, 1:3]) and torch.equal(out[1, 0], images[1, 0, 2:4, 3:5])


def test_mnist_shift_is_bounded_zero_filled_and_uses_all_25_centerings():
    transforms = make_transforms("mnist")
    images = random_batch(2000, 1, 28)
    out = transforms.train(images, torch.Generator().manual_seed(1))
    assert out.dtype == torch.float32 and out.shape == (2000, 1, 28, 28)
    assert out.min() >= 0 and out.max() <= 1                 # MNIST family: x/255, no standardisation
    pixels = torch.round(out * 255).to(torch.uint8)
    hits = window_matches(pixels, torch.nn.functional.pad(images, (2, 2, 2, 2)))[..., 0]  # [B, 5, 5]
    assert (hits.flatten(1).sum(1) == 1).all()          # each output is exactly one shifted copy
    counts = hits.sum(0).float()
    # 25 equiprobable centerings: each ~80 of 2000 (binomial sd ~8.9)
    assert counts.min() > 45 and counts.max() < 115
    assert torch.equal(transforms.eval(images), images.float() / 255)


def test_cifar10_crop_inside_flip_half_and_centre_crop_for_eval():
    transforms = make_transforms("cifar10")
    images = random_batch(200, 3, 32)
    out = transforms.train(images, torch.Generator().manual_seed(2))
    assert out.shape == (200, 3, 24, 24) == (200, *transforms.output_shape)
    pixels = unstandardise(out, CIFAR10_MEAN, CIFAR10_STD)
    hits = window_matches(pixels, images)                  # [200, 9, 9, 2]
    assert (hits.flatten(1).sum(1) == 1).all(), "each output is one 24x24 window of its input (maybe flipped)"
    flips = hits[..., 1].flatten(1).any(1).sum().item()
    assert (hits.any(-1).sum(0) > 0).sum() > 50            # most of the 81 offsets occur
    assert abs(flips / 200 - 0.5) < 4 * math.sqrt(0.25 / 200)   # flip rate 1/2 within 4 sd
    centre = unstandardise(transforms.eval(images), CIFAR10_MEAN, CIFAR10_STD)
    assert torch.equal(centre, images[:, :, 4:28, 4:28])


def test_cifar10_standardisation_per_channel():
    transforms = make_transforms("cifar10")
    grey = torch.full((1, 3, 32, 32), 128, dtype=torch.uint8)
    out = transforms.eval(grey)
    expected = (128 / 255 - torch.tensor(CIFAR10_MEAN)) / torch.tensor(CIFAR10_STD)
    assert torch.allclose(out[0, :, 0, 0], expected, atol=1e-6)


def test_cifar100_pad4_crop32_stays_inside_the_padded_image():
    transforms = make_transforms("cifar100")
    images = random_batch(80, 3, 32, seed=3)
    out = transforms.train(images, torch.Generator().manual_seed(4))
    assert out.shape == (80, 3, 32, 32)
    pixels = unstandardise(out, CIFAR100_MEAN, CIFAR100_STD)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    hits = window_matches(pixels, padded)                  # [80, 9, 9, 2]
    assert (hits.flatten(1).sum(1) == 1).all()
    assert (hits.any(-1).sum(0) > 0).sum() > 30           # of the 81 possible offsets
    assert torch.equal(unstandardise(transforms.eval(images), CIFAR100_MEAN, CIFAR100_STD), images)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100", "cub200", "tinyimagenet"])
def test_same_generator_state_same_batch(name):
    transforms = make_transforms(name)
    channels = transforms.output_shape[0]
    size = {"cub200": 64, "tinyimagenet": 64, "mnist": 28}.get(name, 32)
    images = random_batch(16, channels, size, seed=5)
    a = transforms.train(images, torch.Generator().manual_seed(7))
    b = transforms.train(images, torch.Generator().manual_seed(7))
    c = transforms.train(images, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def identity_params(batch: int):
    return torch.zeros(batch), torch.zeros(batch, 2), torch.ones(batch), torch.zeros(batch, dtype=torch.bool)


def test_affine_warp_known_answers():
    images = random_batch(3, 3, 16, seed=6).float() / 255
    angle, translate, scale, flip = identity_params(3)
    assert torch.allclose(affine_warp(images, angle, translate, scale, flip), images, atol=1e-5)
    assert torch.allclose(affine_warp(images, angle, translate, scale, ~flip), images.flip(-1), atol=1e-5)
    quarter = affine_warp(images, torch.full((3,), 90.0), translate, scale, flip)
    assert any(torch.allclose(quarter, torch.rot90(images, k, dims=(2, 3)), atol=1e-4) for k in (1, 3))
    # translation by 0.25 of the side = 4 pixels to the right, zero fill on the left
    moved = affine_warp(images, angle, torch.tensor([[0.25, 0.0]] * 3), scale, flip)
    assert torch.allclose(moved[..., 4:], images[..., :-4], atol=1e-5) and moved[..., :4].abs().max() < 1e-6
    # zooming in keeps a constant image constant; zooming out fills the corners with zeros
    constant = torch.full((3, 3, 16, 16), 0.5)
    assert torch.allclose(affine_warp(constant, angle, translate, torch.full((3,), 2.0), flip), constant)
    shrunk = affine_warp(constant, angle, translate, torch.full((3,), 0.5), flip)
    assert shrunk[..., 0, 0].abs().max() == 0 and torch.allclose(shrunk[..., 8, 8], constant[..., 8, 8])


@pytest.mark.parametrize("name,size,max_angle,max_shift,scales", [
    ("cub200", 256, 45.0, 0.35, (0.65, 1.35)),
    ("tinyimagenet", 64, 7.5, 0.1, (0.925, 1.075)),
])
def test_affine_datasets_use_the_papers_ranges(name, size, max_angle, max_shift, scales):
    transforms = make_transforms(name)
    assert (transforms.rotation, transforms.translation, transforms.scale) == (max_angle, max_shift, scales)
    assert transforms.flip and transforms.mean == IMAGENET_MEAN and transforms.std == IMAGENET_STD
    white = torch.full((8, 3, size, size), 255, dtype=torch.uint8)
    out = transforms.train(white, torch.Generator().manual_seed(9))
    assert out.shape == (8, 3, size, size)
    # a white image stays white where the warped image covers the output, black (zero fill) elsewhere
    top = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    bottom = -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
    assert (out <= top[None, :, None, None] + 1e-4).all() and (out >= bottom[None, :, None, None] - 1e-4).all()
    # Tiny ImageNet: the centre is always covered (shift 0.1 < half the smallest scaled side)
    if scales[0] / 2 > max_shift * math.sqrt(2):
        assert torch.allclose(out[:, :, size // 2, size // 2], top.expand(8, 3), atol=1e-3)
    assert torch.allclose(transforms.eval(white), top[None, :, None, None].expand(8, 3, size, size), atol=1e-5)


def test_affine_flip_rate_is_one_half():
    transforms = make_transforms("tinyimagenet")
    left_white = torch.zeros(1000, 3, 64, 64, dtype=torch.uint8)
    left_white[..., :32] = 255
    out = transforms.train(left_white, torch.Generator().manual_seed(10))
    flipped = (out[:, 0, 32, 8] < out[:, 0, 32, 56]).float().mean().item()
    assert abs(flipped - 0.5) < 4 * math.sqrt(0.25 / 1000)


def test_transforms_reject_bad_input():
    with pytest.raises(LsbookError, match="uint8"):
        make_transforms("mnist").train(torch.zeros(2, 1, 28, 28), torch.Generator())
    with pytest.raises(LsbookError, match="3 channel"):
        make_transforms("cifar10").eval(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(LsbookError, match="text"):
        make_transforms("multi30k")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_batch_matches_cpu_batch():
    for name, size in (("cifar10", 32), ("mnist", 28), ("tinyimagenet", 64)):
        transforms = make_transforms(name)
        images = random_batch(64, transforms.output_shape[0], size, seed=11)
        cpu = transforms.train(images, torch.Generator().manual_seed(12))
        gpu = transforms.train(images.cuda(), torch.Generator().manual_seed(12))
        assert gpu.device.type == "cuda" and torch.allclose(cpu, gpu.cpu(), atol=1e-4)
