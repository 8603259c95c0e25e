"""Benchmark: an FCN epoch on Fashion-MNIST against this machine's matmul floor, and grid throughput.

Three numbers:

(a) training-only ratio: one training epoch (``lsbook.loop.train_epoch`` on a
    ``lsbook.train.ClassifierTask``: gather, augmentation, loss, backward, optimiser) / the floor of
    its matmuls (forward and backward of every step);
(b) whole-epoch ratio: that epoch + the per-epoch evaluation as the engine does it
    (``ClassifierTask.evaluate``: ``lsbook.evaluation.evaluate_splits`` on the 10,000 test and 5,000
    validation images, logits and metrics) + the checkpoint's share / the floor of everything it computes (the training
    matmuls + the forward matmuls of the evaluated examples). The checkpoint's share is one write,
    timed, times the writes per epoch the engine's cadence (``lsbook.runtime.CheckpointCadence``)
    makes over a 100-epoch paper run of epochs this long; the share of a write after every epoch
    (the rule before the cadence) is printed beside it. Target: (b) <= 1.25x.
(c) grid throughput: runs per hour of a local sweep of 4 short runs (``lsbook.sweep.run_locally``,
    what ``python -m lsbook sweep`` calls) with ``--jobs 1`` (torch's threads) and ``--jobs 2``
    (the cores divided between two worker processes), each in a fresh interpreter and results store.

A floor is matmul FLOPs / the fp32 GEMM rate measured here, in the same run, with torch.matmul on
the very shapes (and transposes) of the FCN's passes: measured before and after each timed epoch
(interleaved), so that a machine whose load changes moves the floor and the epoch together. On a
shared machine the wall-clock ratios are noisy; the CPU-time ratios (this process's threads) are the
steadier view.

    python bench/bench_fcn_epoch.py                  # full epochs, 3 rounds, grid of 4 runs x 2 epochs
    python bench/bench_fcn_epoch.py --quick          # a couple of minutes on an idle 2-core machine
    python bench/bench_fcn_epoch.py --subset 5120 --no-grid --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))  # the lsbook of this checkout, not an installed one

import lsbook  # noqa: E402 - first: sets OMP_WAIT_POLICY before torch starts its threads
import torch  # noqa: E402

from lsbook.evaluation import evaluation_splits  # noqa: E402
from lsbook.loop import random_states, train_epoch  # noqa: E402
from lsbook.optimisation import make_optimizer  # noqa: E402
from lsbook.profiles import resolve  # noqa: E402
from lsbook.runtime import CHECKPOINT_FORMAT, CheckpointCadence, pick_device, write_checkpoint  # noqa: E402
from lsbook.schedule import schedule_of  # noqa: E402
from lsbook.run_config import RunConfig  # noqa: E402
from lsbook.train import ClassifierTask  # noqa: E402

PAPER_EPOCHS = 100  # a paper FCN run: what the checkpoint cadence is amortised over
TARGET = 1.25


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


def forward_gemms(batch: int, shapes: list[tuple[int, int]]):
    """The matmuls of one evaluation batch: the forward pass only."""
    return [((batch, fan_in), (fan_out, fan_in), False, True) for fan_in, fan_out in shapes]


def gemm_flops(gemms) -> float:
    total = 0.0
    for (a_rows, a_cols), (b_rows, b_cols), ta, tb in gemms:
        m, k = (a_cols, a_rows) if ta else (a_rows, a_cols)
        n = b_rows if tb else b_cols
        total += 2.0 * m * k * n
    return total


def batches_flops(examples: int, batch: int, gemms_of) -> float:
    """FLOPs of the matmuls of ``examples`` in batches of ``batch`` (the last one partial)."""
    full, last = divmod(examples, batch)
    return full * gemm_flops(gemms_of(batch)) + (gemm_flops(gemms_of(last)) if last else 0.0)


def measure_gemm_rate(gemms, seconds: float = 1.5) -> tuple[float, float]:
    """(wall, CPU-time) FLOP/s of torch.matmul over the GEMMs, best repetition.

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
    while time.perf_counter() < deadline or best_wall == math.inf:
        wall, cpu = time.perf_counter(), time.process_time()
        for a, b in operands:
            torch.matmul(a, b)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return flops / best_wall, flops / max(best_cpu, 1e-9)


def timed(function):
    """(result, wall seconds, CPU seconds) of ``function()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def cadence_writes(epoch_seconds: float, epochs: int = PAPER_EPOCHS) -> int:
    """Checkpoints the engine's cadence writes in a run of ``epochs`` epochs of ``epoch_seconds``."""
    clock = [0.0]
    cadence = CheckpointCadence(clock=lambda: clock[0])
    writes = 0
    for epoch in range(1, epochs + 1):
        clock[0] += epoch_seconds
        if cadence.due(epoch_seconds, last=epoch == epochs):
            writes += 1
            cadence.written()
    return writes


def checkpoint_state(model, optimizer, generator, epoch: int) -> dict:
    """What lsbook.loop.run_training writes (a paper run's history of 100 entries)."""
    history = [{"epoch": e, "step": 108 * e, "lr": 1.0, "train_loss": 0.1, "train_accuracy": 0.99,
                **{f"{s}_{m}": 0.5 for s in ("test", "val") for m in ("accuracy", "nll", "ece")},
                "seconds": 7.0} for e in range(1, PAPER_EPOCHS + 1)]
    return {"format": CHECKPOINT_FORMAT, "engine_version": lsbook.ENGINE_VERSION, "key": "bench",
            "epoch": epoch, "global_step": 0, "total_steps": 0, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), **random_states(generator, torch.device("cpu")),
            "history": history, "step_log": [],
            "wall_seconds": 0.0, "resumes": 0}


# --- (a) and (b) ---------------------------------------------------------------------------------

def epoch_ratios(args) -> None:
    recipe = resolve(args.recipe, "paper")
    if args.subset:
        recipe = recipe.replace(train_subset=args.subset)
    task = ClassifierTask(RunConfig.of(recipe, 0.1, 0, "paper"))
    examples = task.load_data(pick_device("cpu"), None)
    data = task.data
    evaluated_examples = len(data.test[1]) + len(data.val[1])
    steps = math.ceil(examples / recipe.batch_size)
    torch.manual_seed(0)
    model = task.build_model()
    optimizer = make_optimizer(model, recipe)
    generator = torch.Generator().manual_seed(0)

    shapes = layer_shapes(recipe)
    train_flops = batches_flops(examples, recipe.batch_size, lambda b: step_gemms(b, shapes))
    eval_flops = (batches_flops(len(data.test[1]), recipe.eval_batch_size, lambda b: forward_gemms(b, shapes))
                  + batches_flops(len(data.val[1]), recipe.eval_batch_size, lambda b: forward_gemms(b, shapes)))
    train_gemms = step_gemms(recipe.batch_size, shapes)
    eval_gemms = forward_gemms(recipe.eval_batch_size, shapes)

    _, prepare, _ = timed(lambda: evaluation_splits({"test": data.test, "val": data.val}, data.transforms))
    images = data.train[0][: recipe.batch_size]  # the transforms alone: what the augmentation costs per epoch
    _, augment, _ = timed(lambda: [data.transforms.train(images, generator) for _ in range(steps)])
    schedule = schedule_of(recipe.replace(epochs=args.rounds + 1), examples)
    train_epoch(model, optimizer, task, schedule, generator, 0, 0)  # warm-up
    task.evaluate(model)
    folder = Path(tempfile.mkdtemp(prefix="bench-fcn-"))
    print(f"FCN 784-{shapes[0][1]}-{shapes[1][1]}-10 on {recipe.dataset}: {examples} training examples "
          f"(batch {recipe.batch_size}, {steps} steps), {evaluated_examples} evaluated (batch "
          f"{recipe.eval_batch_size}); {torch.get_num_threads()} thread(s); matmul work per epoch "
          f"{train_flops / 1e9:.1f} GFLOP training + {eval_flops / 1e9:.1f} GFLOP evaluation")
    print(f"augmentation alone: {augment:.2f} s per epoch; evaluated splits preprocessed once per run: "
          f"{prepare:.3f} s")
    rows = []
    for round_ in range(1, args.rounds + 1):
        before = measure_gemm_rate(train_gemms, args.gemm_seconds), measure_gemm_rate(eval_gemms, args.gemm_seconds)
        _, train_wall, train_cpu = timed(lambda: train_epoch(model, optimizer, task, schedule, generator,
                                                             round_, round_ * steps))
        _, eval_wall, eval_cpu = timed(lambda: task.evaluate(model))
        state = checkpoint_state(model, optimizer, generator, round_)
        _, write_wall, write_cpu = timed(lambda: write_checkpoint(folder / "checkpoint.pt", state))
        after = measure_gemm_rate(train_gemms, args.gemm_seconds), measure_gemm_rate(eval_gemms, args.gemm_seconds)
        floors = {}
        for view in (0, 1):  # 0: wall clock, 1: CPU time
            train_rate = (before[0][view] + after[0][view]) / 2
            eval_rate = (before[1][view] + after[1][view]) / 2
            floors[view] = train_flops / train_rate, eval_flops / eval_rate
        writes = cadence_writes(train_wall + eval_wall)
        share = writes / PAPER_EPOCHS
        train_floor, eval_floor = floors[0]
        row = {
            "train": train_wall / train_floor,
            "eval": eval_wall / eval_floor,
            "whole": (train_wall + eval_wall + share * write_wall) / (train_floor + eval_floor),
            "whole_every": (train_wall + eval_wall + write_wall) / (train_floor + eval_floor),
            "train_cpu": train_cpu / floors[1][0],
            "whole_cpu": (train_cpu + eval_cpu + share * write_cpu) / sum(floors[1]),
        }
        rows.append(row)
        print(f"round {round_}: GEMM {before[0][0] / 1e9:.1f} -> {after[0][0] / 1e9:.1f} GFLOP/s (training shapes), "
              f"{before[1][0] / 1e9:.1f} -> {after[1][0] / 1e9:.1f} (evaluation shapes)\n"
              f"  training {train_wall:.2f} s / floor {train_floor:.2f} s => {row['train']:.2f}x; "
              f"evaluation {eval_wall:.3f} s / floor {eval_floor:.3f} s => {row['eval']:.2f}x; "
              f"checkpoint {write_wall:.3f} s ({writes} writes per {PAPER_EPOCHS} epochs of this length)\n"
              f"  whole epoch {train_wall + eval_wall + share * write_wall:.2f} s / floor "
              f"{train_floor + eval_floor:.2f} s => {row['whole']:.2f}x ({row['whole_every']:.2f}x writing every "
              f"epoch); CPU time: training {row['train_cpu']:.2f}x, whole {row['whole_cpu']:.2f}x")
    median = statistics.median
    print("matmul-floor ratios, median over rounds (wall clock; CPU time in brackets):")
    print(f"  (a) training epoch only             {median(r['train'] for r in rows):.2f}x "
          f"[{median(r['train_cpu'] for r in rows):.2f}x]")
    print(f"  (b) whole epoch: training, evaluation, checkpoint share  {median(r['whole'] for r in rows):.2f}x "
          f"[{median(r['whole_cpu'] for r in rows):.2f}x]  (target <= {TARGET}x; "
          f"{median(r['whole_every'] for r in rows):.2f}x with a checkpoint every epoch)")
    print(f"      evaluation alone                {median(r['eval'] for r in rows):.2f}x")
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    folder.rmdir()


# --- (c) -----------------------------------------------------------------------------------------

GRID = """
import json, sys, time
began = time.perf_counter()
import lsbook
from lsbook.cluster.grid import GridRun
from lsbook.run_config import RunConfig
from lsbook.store import Store
from lsbook.sweep import run_locally
recipe, jobs, runs, epochs, subset, root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \\
    sys.argv[5], sys.argv[6]
overrides = {"epochs": epochs, **({"train_subset": int(subset)} if subset != "all" else {})}
alphas = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35][:runs]
specs = [GridRun(RunConfig.of(recipe, alpha, 0, "cpu", overrides=overrides)) for alpha in alphas]
outcome = run_locally(specs, Store(root + "/results"), jobs=jobs, progress=False, runs_root=root + "/runs",
                      report=lambda line: None)
print(json.dumps({"trained": len(outcome.trained), "failed": [reason for _, reason in outcome.failed],
                  "seconds": time.perf_counter() - began}))
"""


def grid_throughput(args) -> None:
    subset = str(args.grid_subset) if args.grid_subset else "all"
    print(f"grid: {args.grid_runs} runs of {args.recipe} ({args.grid_epochs} epoch(s), training examples: "
          f"{subset}, full evaluation), a fresh interpreter and results store per sweep; {os.cpu_count()} cores")
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    results = {}
    for round_ in range(args.grid_rounds):
        for jobs in (1, 2):  # interleaved
            with tempfile.TemporaryDirectory(prefix="bench-grid-") as root:
                began = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", GRID, args.recipe, str(jobs), str(args.grid_runs),
                                       str(args.grid_epochs), subset, root], env=env, check=True,
                                      capture_output=True, text=True)
                wall = time.perf_counter() - began
            report = json.loads(done.stdout.strip().splitlines()[-1])
            if report["failed"] or report["trained"] != args.grid_runs:
                raise SystemExit(f"the grid did not train: {report}")
            results.setdefault(jobs, []).append(wall)
            print(f"  round {round_ + 1}, --jobs {jobs}: {wall:.1f} s => {args.grid_runs / wall * 3600:.0f} runs/hour")
    best = {jobs: min(walls) for jobs, walls in results.items()}
    print(f"  (c) grid throughput (best round): --jobs 1 {args.grid_runs / best[1] * 3600:.0f} runs/hour, "
          f"--jobs 2 {args.grid_runs / best[2] * 3600:.0f} runs/hour ({best[1] / best[2]:.2f}x)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds, 0.5 s GEMM timings, a grid of 4 runs x 1 epoch of 11,000 examples")
    parser.add_argument("--recipe", default="fcn-fmnist", help="an FCN recipe (default fcn-fmnist)")
    parser.add_argument("--subset", type=int, default=None, help="training examples (default: all 55,000)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of (GEMM rates, timed epoch, GEMM rates); the median is reported (default 3)")
    parser.add_argument("--gemm-seconds", type=float, default=None, help="time per GEMM-rate measurement (1.5)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for (a), (b) (default: torch's)")
    parser.add_argument("--no-grid", action="store_true", help="skip (c)")
    parser.add_argument("--grid-only", action="store_true", help="only (c)")
    parser.add_argument("--grid-runs", type=int, default=4)
    parser.add_argument("--grid-epochs", type=int, default=None, help="epochs per grid run (default 2; quick 1)")
    parser.add_argument("--grid-subset", type=int, default=None,
                        help="training examples per grid run (default all; quick 11,000)")
    parser.add_argument("--grid-rounds", type=int, default=1, help="sweeps of each --jobs, interleaved")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.gemm_seconds = args.gemm_seconds or (0.5 if args.quick else 1.5)
    args.grid_epochs = args.grid_epochs or (1 if args.quick else 2)
    if args.grid_subset is None and args.quick:
        args.grid_subset = 11_000
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.grid_only:
        epoch_ratios(args)
    if not args.no_grid:
        grid_throughput(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
