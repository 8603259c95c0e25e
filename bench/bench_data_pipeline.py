"""Benchmark: is building augmented batches cheap next to training on them?

Times, in the same process and on the same data, (a) building one augmented Fashion-MNIST
training epoch — shuffled batches of 512 gathered from the uint8 tensor in memory and passed
through ``make_transforms("fashion-mnist").train`` (random ±2 px shifts) — and (b) one training
epoch of the paper's FCN (784-1200-1200-10, SGD) on those same batches, inputs built beforehand.
Prints both and their ratio; the target is ratio <= 0.10. Exit status 1 when it is exceeded.

    .venv/bin/python bench/bench_data_pipeline.py [--device cpu|cuda] [--batch-size 512]

Uses the real Fashion-MNIST (Debian's dataset-fashion-mnist or the data root); ``--synthetic``
runs on random images of the same size where it is not installed.

OpenMP's threads spin while they wait by default; on a small machine shared with other jobs that
waiting dominates short tensor operations (measured here: 108 ms instead of 3.4 ms per augmented
batch, and a 4x slower training step). The script therefore sets ``OMP_WAIT_POLICY=PASSIVE``
unless the environment already sets it; both timings run under the same setting.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP; see the docstring

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from lsbook.data import load_split, make_transforms  # noqa: E402

TARGET_RATIO = 0.10


def build_fcn() -> nn.Module:
    """The FCN of the paper's MNIST experiments: lsbook.models' if present, else the same layers inline."""
    try:
        from lsbook.models import build

        return build("fcn", 10)
    except Exception:  # models engineer's module not ready: identical architecture
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 1200), nn.ReLU(), nn.Linear(1200, 1200),
                             nn.ReLU(), nn.Linear(1200, 10))


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def augmented_epoch(images, order, batch_size, transforms, generator, device):
    """(a): every batch of one epoch, gathered and augmented; returns the batches and seconds."""
    synchronise(device)
    start = time.perf_counter()
    batches = [transforms.train(images[order[i:i + batch_size]], generator)
               for i in range(0, len(order), batch_size)]
    synchronise(device)
    return batches, time.perf_counter() - start


def training_epoch(model, batches, labels, order, batch_size, device) -> float:
    """(b): one SGD epoch of the FCN over prepared batches; returns seconds."""
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    synchronise(device)
    start = time.perf_counter()
    for k, inputs in enumerate(batches):
        targets = labels[order[k * batch_size:(k + 1) * batch_size]]
        loss = F.cross_entropy(model(inputs), targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    synchronise(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--synthetic", action="store_true", help="random images instead of Fashion-MNIST")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    if args.synthetic:
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (55_000, 1, 28, 28), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, 10, (55_000,), generator=generator)
        source = "synthetic 55,000 x 28x28"
    else:
        train = load_split("fashion-mnist", "train")
        images, labels, source = train.images, train.labels, f"Fashion-MNIST train split, {len(train):,} images"
    images, labels = images.to(device), labels.to(device)
    transforms = make_transforms("fashion-mnist")
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(labels), generator=generator).to(device)
    model = build_fcn().to(device)

    # warm-up: one batch of each (allocators, kernels), not timed
    warm = transforms.train(images[order[:args.batch_size]], generator)
    training_epoch(model, [warm], labels, order[:args.batch_size], args.batch_size, device)

    batches, data_seconds = augmented_epoch(images, order, args.batch_size, transforms, generator, device)
    train_seconds = training_epoch(model, batches, labels, order, args.batch_size, device)
    ratio = data_seconds / train_seconds
    print(f"data:   {source}; {len(batches)} batches of {args.batch_size}; device {device}; "
          f"torch threads {torch.get_num_threads()}; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    print(f"augmented epoch (gather + shift + scale): {data_seconds:8.3f} s")
    print(f"FCN 784-1200-1200-10 training epoch:      {train_seconds:8.3f} s")
    verdict = "ok" if ratio <= TARGET_RATIO else "TOO SLOW"
    print(f"ratio data / training = {ratio:.4f} (target <= {TARGET_RATIO:.2f}): {verdict}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
