"""Benchmark: an FCN epoch on Fashion-MNIST against this machine's matmul floor, and grid throughput.

Four numbers:

(a) training-only ratio: one training epoch (``lsbook.loop.train_epoch`` on a
    ``lsbook.train.ClassifierTask``: gather, augmentation, loss, backward, optimiser) / the floor of
    its matmuls (forward and backward of every step);
(b) whole-epoch ratio of one run on torch's threads: that epoch + the per-epoch evaluation as the
    engine does it (``ClassifierTask.evaluate``: ``lsbook.evaluation.evaluate_splits`` on the 10,000
    test and 5,000 validation images, logits and metrics) + the checkpoint's share / the floor of
    everything it computes (the training matmuls + the forward matmuls of the evaluated examples).
    The checkpoint's share is one write, timed, times the writes per epoch the engine's cadence
    (``lsbook.runtime.CheckpointCadence``) makes over a 100-epoch paper run of epochs this long; the
    share of a write after every epoch (the rule before the cadence) is printed beside it;
(b2) the same whole epoch with two runs at once, one thread each (what ``--jobs 2`` does on 2 cores):
    two worker processes time one whole epoch each at the same moment; the machine's time per epoch
    is the later of the two / 2, against the floor of one epoch at the GEMM rate of all the cores.
    Target: (b2) <= 1.25x, the way this machine trains grids;
(c) grid throughput: runs per hour of a local sweep of 4 short runs (``lsbook.sweep.run_locally``,
    what ``python -m lsbook sweep`` calls) with ``--jobs 1`` (torch's threads) and ``--jobs 2``
    (the cores divided between two worker processes), each in a fresh interpreter and results store.

Why one run on two threads stays above the target: lsbook makes idle OpenMP threads sleep
(``OMP_WAIT_POLICY=PASSIVE``, lsbook/__init__.py), so each of the ~25 parallel regions of a training
step pays a wake-up, and the serial parts of a step (Python, autograd, small tensors) leave one core
idle. Letting threads spin briefly (``GOMP_SPINCOUNT=30000``) brought (b) from 1.37x to 1.26x
(median of 7 runs each, idle machine, 2026-12-02) but made two such runs sharing the 2 cores 1.6x
slower each (88 -> 142 ms per step), so the package keeps sleeping threads.

A floor is matmul FLOPs / the fp32 GEMM rate measured here, in the same run, with torch.matmul on
the very shapes (and transposes) of the FCN's passes: measured before and after each timed epoch
(interleaved), so that a machine whose load changes moves the floor and the epoch together. On a
shared machine the wall-clock ratios are noisy; the CPU-time ratios (this process's threads) are the
steadier view.

    python bench/bench_fcn_epoch.py                  # full epochs, 3 rounds of (b) and (b2), grid of 4 runs x 2 epochs
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

class EpochBench:
    """One FCN run's state for timing whole epochs: the task, model, optimiser and data generator."""

    def __init__(self, recipe_name: str, subset: int | None):
        recipe = resolve(recipe_name, "paper")
        if subset:
            recipe = recipe.replace(train_subset=subset)
        self.recipe = recipe
        self.task = ClassifierTask(RunConfig.of(recipe, 0.1, 0, "paper"))
        self.examples = self.task.load_data(pick_device("cpu"), None)
        self.steps = math.ceil(self.examples / recipe.batch_size)
        torch.manual_seed(0)
        self.model = self.task.build_model()
        self.optimizer = make_optimizer(self.model, recipe)
        self.generator = torch.Generator().manual_seed(0)
        self.schedule = schedule_of(recipe.replace(epochs=1_000), self.examples)
        self.epoch = 0
        self.folder = Path(tempfile.mkdtemp(prefix="bench-fcn-"))

    def flops(self) -> tuple[float, float, list, list]:
        """(training FLOPs, evaluation FLOPs) of one epoch's matmuls, and the GEMMs of a step / eval batch."""
        recipe, data, shapes = self.recipe, self.task.data, layer_shapes(self.recipe)
        train = batches_flops(self.examples, recipe.batch_size, lambda b: step_gemms(b, shapes))
        evaluation = sum(batches_flops(len(split[1]), recipe.eval_batch_size, lambda b: forward_gemms(b, shapes))
                         for split in (data.test, data.val))
        return train, evaluation, step_gemms(recipe.batch_size, shapes), forward_gemms(recipe.eval_batch_size, shapes)

    def whole_epoch(self) -> dict[str, float]:
        """Train one epoch, evaluate, write a checkpoint: each part's wall and CPU seconds."""
        step = self.epoch * self.steps
        _, train_wall, train_cpu = timed(lambda: train_epoch(self.model, self.optimizer, self.task, self.schedule,
                                                             self.generator, self.epoch, step))
        _, eval_wall, eval_cpu = timed(lambda: self.task.evaluate(self.model))
        state = checkpoint_state(self.model, self.optimizer, self.generator, self.epoch)
        _, write_wall, write_cpu = timed(lambda: write_checkpoint(self.folder / "checkpoint.pt", state))
        self.epoch += 1
        return {"train_wall": train_wall, "train_cpu": train_cpu, "eval_wall": eval_wall, "eval_cpu": eval_cpu,
                "write_wall": write_wall, "write_cpu": write_cpu}

    def close(self) -> None:
        (self.folder / "checkpoint.pt").unlink(missing_ok=True)
        self.folder.rmdir()


def with_checkpoint_share(times: dict[str, float], view: str) -> float:
    """An epoch's seconds (``view``: wall or cpu) with the cadence's share of a checkpoint write."""
    epoch = times[f"train_{view}"] + times[f"eval_{view}"]
    return epoch + cadence_writes(times["train_wall"] + times["eval_wall"]) / PAPER_EPOCHS * times[f"write_{view}"]


def floors_around(flops: tuple, gemm_seconds: float, timed_part):
    """Run ``timed_part()`` between two measurements of the GEMM rates; (its result, floors) where
    floors[view] = (training floor, evaluation floor) in seconds, view 0 wall clock, 1 CPU time."""
    train_flops, eval_flops, train_gemms, eval_gemms = flops
    before = measure_gemm_rate(train_gemms, gemm_seconds), measure_gemm_rate(eval_gemms, gemm_seconds)
    result = timed_part()
    after = measure_gemm_rate(train_gemms, gemm_seconds), measure_gemm_rate(eval_gemms, gemm_seconds)
    floors = {view: (train_flops / ((before[0][view] + after[0][view]) / 2),
                     eval_flops / ((before[1][view] + after[1][view]) / 2)) for view in (0, 1)}
    return result, floors, (before, after)


def epoch_ratios(args) -> tuple:
    """(a) and (b); returns the epoch's FLOPs and GEMMs (``EpochBench.flops``) for (b2)."""
    bench = EpochBench(args.recipe, args.subset)
    recipe, data = bench.recipe, bench.task.data
    flops = bench.flops()
    evaluated_examples = len(data.test[1]) + len(data.val[1])
    _, prepare, _ = timed(lambda: evaluation_splits({"test": data.test, "val": data.val}, data.transforms))
    images = data.train[0][: recipe.batch_size]  # the transforms alone: what the augmentation costs per epoch
    _, augment, _ = timed(lambda: [data.transforms.train(images, bench.generator) for _ in range(bench.steps)])
    bench.whole_epoch()  # warm-up
    shapes = layer_shapes(recipe)
    print(f"FCN 784-{shapes[0][1]}-{shapes[1][1]}-10 on {recipe.dataset}: {bench.examples} training examples "
          f"(batch {recipe.batch_size}, {bench.steps} steps), {evaluated_examples} evaluated (batch "
          f"{recipe.eval_batch_size}); {torch.get_num_threads()} thread(s); matmul work per epoch "
          f"{flops[0] / 1e9:.1f} GFLOP training + {flops[1] / 1e9:.1f} GFLOP evaluation")
    print(f"augmentation alone: {augment:.2f} s per epoch; evaluated splits preprocessed once per run: "
          f"{prepare:.3f} s")
    rows = []
    for round_ in range(1, args.rounds + 1):
        times, floors, (before, after) = floors_around(flops, args.gemm_seconds, bench.whole_epoch)
        train_floor, eval_floor = floors[0]
        whole = with_checkpoint_share(times, "wall")
        row = {
            "train": times["train_wall"] / train_floor,
            "eval": times["eval_wall"] / eval_floor,
            "whole": whole / (train_floor + eval_floor),
            "whole_every": (times["train_wall"] + times["eval_wall"] + times["write_wall"]) / (train_floor + eval_floor),
            "train_cpu": times["train_cpu"] / floors[1][0],
            "whole_cpu": with_checkpoint_share(times, "cpu") / sum(floors[1]),
        }
        rows.append(row)
        print(f"round {round_}: GEMM {before[0][0] / 1e9:.1f} -> {after[0][0] / 1e9:.1f} GFLOP/s (training shapes), "
              f"{before[1][0] / 1e9:.1f} -> {after[1][0] / 1e9:.1f} (evaluation shapes)\n"
              f"  training {times['train_wall']:.2f} s / floor {train_floor:.2f} s => {row['train']:.2f}x; "
              f"evaluation {times['eval_wall']:.3f} s / floor {eval_floor:.3f} s => {row['eval']:.2f}x; "
              f"checkpoint {times['write_wall']:.3f} s\n"
              f"  whole epoch {whole:.2f} s / floor {train_floor + eval_floor:.2f} s => {row['whole']:.2f}x "
              f"({row['whole_every']:.2f}x writing every epoch); CPU time: training {row['train_cpu']:.2f}x, "
              f"whole {row['whole_cpu']:.2f}x")
    bench.close()
    median = statistics.median
    print(f"matmul-floor ratios of one run on {torch.get_num_threads()} thread(s), median over rounds "
          "(best round; CPU time):")
    for label, key in (("(a) training epoch only", "train"),
                       ("(b) whole epoch: training, evaluation, checkpoint share", "whole")):
        print(f"  {label:56s} {median(r[key] for r in rows):.2f}x ({min(r[key] for r in rows):.2f}x; "
              f"{median(r[key + '_cpu'] for r in rows):.2f}x)")
    print(f"      with a checkpoint every epoch {median(r['whole_every'] for r in rows):.2f}x; "
          f"evaluation alone {median(r['eval'] for r in rows):.2f}x")
    return flops


# --- (b2): two runs at once ------------------------------------------------------------------------

def epoch_worker(args) -> None:
    """A worker of (b2): one thread; after a warm-up epoch, one timed whole epoch per "go" line on stdin."""
    torch.set_num_threads(1)
    bench = EpochBench(args.recipe, args.subset)
    bench.whole_epoch()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        times = bench.whole_epoch()
        print(json.dumps({**times, "whole_wall": with_checkpoint_share(times, "wall")}), flush=True)
    bench.close()


def paired_epoch_ratios(args, flops: tuple) -> None:
    """(b2): two runs train and evaluate one epoch each at the same time, one thread each (what
    ``--jobs 2`` does on 2 cores); the machine's time per epoch is the pair's wall / 2, against the
    floor of one epoch at the GEMM rate of all the cores (measured before and after each round)."""
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, __file__, "--worker", "--recipe", args.recipe]
    if args.subset:
        command += ["--subset", str(args.subset)]
    workers = [subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        for worker in workers:
            if worker.stdout.readline().strip() != "ready":
                raise SystemExit("a (b2) worker did not start")
        print(f"two runs at once, one thread each ({os.cpu_count()} cores); floor: one epoch at the GEMM rate "
              f"of {torch.get_num_threads()} threads")
        ratios = []
        for round_ in range(1, args.rounds + 1):
            def pair():
                began = time.perf_counter()
                for worker in workers:
                    worker.stdin.write("go\n")
                    worker.stdin.flush()
                reports = [json.loads(worker.stdout.readline()) for worker in workers]
                return time.perf_counter() - began, reports

            (wall, reports), floors, _ = floors_around(flops, args.gemm_seconds, pair)
            floor = sum(floors[0])
            per_epoch = max(report["whole_wall"] for report in reports) / 2  # both epochs done, checkpoint share in
            ratios.append(per_epoch / floor)
            walls = ", ".join(f"{report['whole_wall']:.2f}" for report in reports)
            print(f"round {round_}: the two epochs took {walls} s (pair {wall:.2f} s): {per_epoch:.2f} s per epoch "
                  f"/ floor {floor:.2f} s => {ratios[-1]:.2f}x")
        print(f"  (b2) whole epoch, two runs at once (--jobs 2), median over rounds (best round) "
              f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}x)  (target <= {TARGET}x)")
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait()


# --- (c) -----------------------------------------------------------------------------------------

GRID = """
import json, sys, time
began = time.perf_counter()
import lsbook
from lsbook.run_config import RunConfig
from lsbook.store import Store
from lsbook.sweep import GridRun, run_locally
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
    parser.add_argument("--no-pair", action="store_true", help="skip (b2)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a process of (b2)
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
    if args.worker:
        epoch_worker(args)
        return 0
    if not args.grid_only:
        flops = epoch_ratios(args)
        if not args.no_pair:
            paired_epoch_ratios(args, flops)
    if not args.no_grid:
        grid_throughput(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
