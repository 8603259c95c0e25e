"""Benchmark: one FCN training epoch on Fashion-MNIST against this machine's matmul floor.

The floor is the epoch's matrix-multiply FLOPs divided by the fp32 GEMM rate measured here, in the
same run, with torch.matmul on the very shapes (and transposes) of the FCN's forward and backward
passes. The epoch is timed through the engine itself (``lsbook.loop.train_epoch`` on a
``lsbook.train.ClassifierTask``: gather, augmentation, loss, backward, optimiser), so the ratio says how much the loop adds to the
unavoidable arithmetic. Target: <= 1.3x on CPU.

    python bench/bench_fcn_epoch.py                 # full training split (55,000 examples)
    python bench/bench_fcn_epoch.py --subset 5120   # a quicker look
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import lsbook  # noqa: F401 - first: sets OMP_WAIT_POLICY before torch starts its threads
import torch

from lsbook.loop import train_epoch
from lsbook.optimisation import make_optimizer
from lsbook.profiles import resolve
from lsbook.runtime import pick_device
from lsbook.schedule import schedule_of
from lsbook.train import ClassifierTask, plan_run


def layer_shapes(recipe) -> list[tuple[int, int]]:
    """(in, out) of the FCN's linear layers: 784 -> n -> n -> K."""
    hidden = recipe.model_kwargs["hidden"]
    return [(784, hidden), (hidden, hidden), (hidden, 10)]


def step_gemms(batch: int, shapes: list[tuple[int, int]]) -> list[tuple[tuple[int, int], tuple[int, int], bool, bool]]:
    """The matmuls of one training step as (a shape, b shape, transpose a, transpose b).

    Forward X[B,i] @ W[o,i]^T; backward dW = dY^T[o,B] @ X[B,i] and, except for the first layer
    (no gradient w.r.t. the pixels), dX = dY[B,o] @ W[o,i].
    """
    gemms = []
    for layer, (fan_in, fan_out) in enumerate(shapes):
        gemms.append(((batch, fan_in), (fan_out, fan_in), False, True))   # forward
        gemms.append(((batch, fan_out), (batch, fan_in), True, False))    # weight gradient
        if layer > 0:
            gemms.append(((batch, fan_out), (fan_out, fan_in), False, False))  # input gradient
    return gemms


def gemm_flops(gemms) -> float:
    total = 0.0
    for (a_rows, a_cols), (b_rows, b_cols), ta, tb in gemms:
        m, k = (a_cols, a_rows) if ta else (a_rows, a_cols)
        n = b_rows if tb else b_cols
        total += 2.0 * m * k * n
    return total


def measure_gemm_rate(gemms, seconds: float = 1.5) -> tuple[float, float]:
    """(wall, CPU-time) FLOP/s of torch.matmul over the step's GEMMs, best repetition.

    Operands are transposed views where autograd uses them transposed; CPU time (all threads of
    the process) is the contention-proof view on a shared machine.
    """
    operands = []
    for a_shape, b_shape, ta, tb in gemms:
        a, b = torch.randn(*a_shape), torch.randn(*b_shape)
        operands.append((a.t() if ta else a, b.t() if tb else b))
    flops = gemm_flops(gemms)
    for a, b in operands:  # warm-up
        torch.matmul(a, b)
    best_wall = best_cpu = math.inf
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        wall, cpu = time.perf_counter(), time.process_time()
        for a, b in operands:
            torch.matmul(a, b)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return flops / best_wall, flops / max(best_cpu, 1e-9)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=None, help="training examples (default: all 55,000)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of (GEMM rate, timed epoch, GEMM rate); the median ratio is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = resolve("fcn-fmnist", "paper")
    if args.subset:
        recipe = recipe.replace(train_subset=args.subset)
    task = ClassifierTask(plan_run(recipe, 0.1, 0, "paper"))
    examples = task.load_data(pick_device("cpu"), None)
    data = task.data
    steps = math.ceil(examples / recipe.batch_size)
    torch.manual_seed(0)
    model = task.build_model()
    optimizer = make_optimizer(model, recipe)
    generator = torch.Generator().manual_seed(0)

    shapes = layer_shapes(recipe)
    full, last = divmod(examples, recipe.batch_size)
    epoch_flops = full * gemm_flops(step_gemms(recipe.batch_size, shapes))
    if last:
        epoch_flops += gemm_flops(step_gemms(last, shapes))
    gemms = step_gemms(recipe.batch_size, shapes)

    # the transforms alone (what lsbook.data's augmentation costs per epoch)
    images = data.train[0][: recipe.batch_size]
    began = time.perf_counter()
    for _ in range(steps):
        data.transforms.train(images, generator)
    augment = time.perf_counter() - began

    schedule = schedule_of(recipe.replace(epochs=args.rounds + 1), examples)
    train_epoch(model, optimizer, task, schedule, generator, 0, 0)  # warm-up
    print(f"FCN 784-{shapes[0][1]}-{shapes[1][1]}-10 on Fashion-MNIST, {examples} examples, "
          f"batch {recipe.batch_size}, {steps} steps/epoch, {torch.get_num_threads()} threads; "
          f"matmul work {epoch_flops / 1e9:.1f} GFLOP/epoch")
    ratios, cpu_ratios = [], []
    for round_ in range(1, args.rounds + 1):
        before = measure_gemm_rate(gemms)
        wall, cpu = time.perf_counter(), time.process_time()
        train_epoch(model, optimizer, task, schedule, generator, round_, round_ * steps)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = measure_gemm_rate(gemms)
        floor = epoch_flops / ((before[0] + after[0]) / 2)
        cpu_floor = epoch_flops / ((before[1] + after[1]) / 2)
        ratios.append(wall / floor)
        cpu_ratios.append(cpu / cpu_floor)
        print(f"round {round_}: GEMM {before[0] / 1e9:.1f} -> {after[0] / 1e9:.1f} GFLOP/s; floor {floor:.2f} s; "
              f"epoch {wall:.2f} s => {ratios[-1]:.2f}x  (CPU time: {cpu:.2f} s vs {cpu_floor:.2f} s "
              f"=> {cpu_ratios[-1]:.2f}x)")
    print(f"augmentation alone: {augment:.2f} s per epoch")
    median = statistics.median
    print(f"ratio epoch / matmul floor: median {median(ratios):.2f}x (best {min(ratios):.2f}x) wall clock, "
          f"median {median(cpu_ratios):.2f}x CPU time (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
