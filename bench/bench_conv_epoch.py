"""Benchmark: a conv net's epoch on CIFAR-10 (JPEG) against this machine's convolution floor, per layout.

For the ResNet-56 of ``resnet56-cifar10-jpeg`` and the AlexNet of ``alexnet-cifar10-jpeg`` (batch
128, random 24x24 crops and flips of the 45,000 training images: 352 steps per epoch; evaluation of
the 10,000 test and 5,000 validation images at batch 1000 after every epoch), this times one epoch
exactly as the engine trains it: ``lsbook.loop.train_epoch`` on the engine's own
``lsbook.train.ClassifierTask`` (gather, augmentation, forward, label-smoothing loss, backward,
gradient clipping, SGD), then ``ClassifierTask.evaluate`` (logits of both splits, accuracy / NLL / ECE,
the temperature fitted on validation), on the real ``cifar10-jpeg`` data.

The floor is what the epoch's convolutions and matmuls alone cost here, measured in the same run:

- every Conv2d and Linear call of the network is recorded with forward hooks on one training batch
  and one evaluation batch (input, weight, output and gradient shapes *and strides* -- so the ops run
  in the very memory layout the engine's do -- stride, padding, groups, bias, whether the input
  needs a gradient; the stem's does not, so its input gradient is neither run nor counted);
- each op is then run alone on random tensors of those shapes: a training step = every forward
  convolution (``F.conv2d``) and linear (``F.linear``) + every backward (``aten.convolution_backward``,
  the kernel autograd calls, for the input and weight gradients; for linear layers the two matmuls
  ``dY @ W`` and ``dY^T @ X``); an evaluation batch = every forward under ``inference_mode``;
- the floor is sampled *inside* each timed epoch, in the same process, at the same thread count: one
  pass over a step's ops after every (steps / ``--floor-samples``) engine steps, through
  ``train_epoch``'s ``after_step`` hook (the samples' own time is subtracted from the epoch's), and
  ``--eval-floor-passes`` passes over an evaluation batch's ops just before and just after the
  evaluation. A machine whose load changes thus moves the floor and the epoch together; the mean
  sample is the floor of a step (of an evaluation batch), and the epoch's floor = step floor x
  (training examples / 128) + batch floor x (evaluated examples / 1000). CPU-time ratios (all threads
  of this process) are printed beside the wall-clock ones: the steadier view on a shared machine.

FLOPs are 2 x MACs: per convolution 2·B·H_out·W_out·C_out·(C_in/groups)·k_h·k_w for the forward and
the same for each gradient it computes. The achieved GFLOP/s of the floor and of the epoch are printed.

Layouts: ``lsbook.models.build`` returns conv nets in channels_last (``$LSBOOK_CONV_LAYOUT``); the
same initial network is also converted with ``to_conv_layout(model, "contiguous")`` (checked with
``layout_name`` and on the strides of every recorded conv input) and timed on the same epoch with its
own optimiser and an identically seeded data generator, in alternating order across rounds. The
layout speed-up is contiguous / channels_last; a contiguous floor is measured too, so that the part
of the speed-up due to the convolution kernels alone can be told from the rest.

``--subset N`` trains on N examples instead of 45,000 (``--eval-subset N``: N test and N/2 validation
images instead of 10,000 and 5,000), for a quick look: measured numbers are printed as measured
(and per step / per evaluated image), and a separate, labelled line extrapolates them to a full
epoch (352 x the measured time per step + 15,000 / evaluated x the measured evaluation).
``--profile-steps K`` adds a torch.profiler breakdown of K training steps and one evaluation batch
(per phase of a step: time per module, autograd node or op) to show where the time above the floor goes.

    python bench/bench_conv_epoch.py                    # full epochs, both models, 2 rounds
    python bench/bench_conv_epoch.py --quick            # 30 steps + 3,000 evaluated images per epoch, 2 rounds
    python bench/bench_conv_epoch.py --model resnet56 --rounds 1 --profile-steps 10 --json out.json

Needs the decoded cifar10-jpeg cache (``LSBOOK_DATA``; ``python -m lsbook data`` fetches it).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))  # the lsbook of this checkout, not an installed one

import lsbook  # noqa: E402,F401 - first: sets OMP_WAIT_POLICY before torch starts its threads
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from lsbook.loop import train_epoch  # noqa: E402
from lsbook.models.common import conv_layout, layout_name, to_conv_layout  # noqa: E402
from lsbook.optimisation import make_optimizer  # noqa: E402
from lsbook.profiles import resolve  # noqa: E402
from lsbook.recipes import CIFAR10_JPEG_STEPS_PER_EPOCH  # noqa: E402
from lsbook.run_config import RunConfig  # noqa: E402
from lsbook.runtime import pick_device  # noqa: E402
from lsbook.schedule import schedule_of  # noqa: E402
from lsbook.train import ClassifierTask  # noqa: E402

MODELS = {"resnet56": ("ResNet-56", "resnet56-cifar10-jpeg"), "alexnet": ("AlexNet", "alexnet-cifar10-jpeg")}
LAYOUTS = ("channels_last", "contiguous")
TARGET = 1.3
FULL_TRAIN_EXAMPLES = 45_000  # cifar10-jpeg: 50,000 less the 5,000 held out for validation
FULL_EVAL_EXAMPLES = 15_000   # 10,000 test + 5,000 validation


# --- The network's convolutions and matmuls -------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One Conv2d or Linear call as the engine made it (shapes and strides of its operands)."""

    kind: str                      # "conv" or "linear"
    name: str                      # the module's name in the network
    input: tuple                   # (shape, stride)
    weight: tuple                  # (shape, stride)
    output: tuple                  # (shape, stride)
    grad: tuple | None             # (shape, stride) of the output's gradient; None: not recorded (evaluation)
    bias: bool
    input_grad: bool               # does autograd compute the input's gradient (False for the stem)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1

    def forward_flops(self) -> float:
        """2 x MACs of the forward call (each gradient costs the same)."""
        if self.kind == "conv":
            batch, c_out, h_out, w_out = self.output[0]
            _, c_in_per_group, kh, kw = self.weight[0]
            return 2.0 * batch * c_out * h_out * w_out * c_in_per_group * kh * kw
        rows = math.prod(self.input[0][:-1])
        out_features, in_features = self.weight[0]
        return 2.0 * rows * in_features * out_features

    def train_flops(self) -> tuple[float, float, float]:
        """(forward, input gradient, weight gradient) FLOPs of a training step."""
        f = self.forward_flops()
        return f, (f if self.input_grad else 0.0), f


def _shape_stride(tensor: torch.Tensor) -> tuple:
    return tuple(tensor.shape), tuple(tensor.stride())


def collect_ops(model: nn.Module, inputs: torch.Tensor, objective=None, labels=None) -> list[Op]:
    """Every Conv2d / Linear call of ``model`` on ``inputs``: a training step (forward + backward
    with ``objective``, on a copy of the model, so its weights and optimiser are untouched) when
    ``objective`` is given, else an evaluation batch (eval mode, inference_mode)."""
    model = copy.deepcopy(model)
    records: list[dict] = []
    grads: dict[int, tuple] = {}
    names = {module: name for name, module in model.named_modules()}
    training = objective is not None

    def hook(module, args, output):
        x = args[0]
        record = {"kind": "conv" if isinstance(module, nn.Conv2d) else "linear", "name": names[module],
                  "input": _shape_stride(x), "weight": _shape_stride(module.weight),
                  "output": _shape_stride(output), "bias": module.bias is not None,
                  "input_grad": training and x.requires_grad}
        if isinstance(module, nn.Conv2d):
            if module.padding_mode != "zeros" or isinstance(module.padding, str):
                raise SystemExit(f"{names[module]}: only numeric zero padding is modelled")
            record.update(stride=tuple(module.stride), padding=tuple(module.padding),
                          dilation=tuple(module.dilation), groups=module.groups)
        index = len(records)
        records.append(record)
        if training and output.requires_grad:
            output.register_hook(lambda g, index=index: grads.__setitem__(index, _shape_stride(g)))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        if training:
            model.train()
            objective(model(inputs), labels, inputs).backward()
        else:
            model.eval()
            with torch.inference_mode():
                model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return [Op(**record, grad=grads.get(index)) for index, record in enumerate(records)]


class Floor:
    """The recorded ops of a training step and of an evaluation batch, run alone on random tensors."""

    def __init__(self, train_ops: list[Op], eval_ops: list[Op]):
        self.train_ops, self.eval_ops = train_ops, eval_ops
        self._tensors: dict[tuple, torch.Tensor] = {}
        self.train_calls = self._train_calls()
        self.eval_calls = self._eval_calls()
        self.passes(1, 0.0, self.train_calls)  # warm-up: oneDNN builds its primitives on first use
        self.passes(1, 0.0, self.eval_calls, inference=True)

    def tensor(self, shape_stride: tuple, scale: float = 1.0) -> torch.Tensor:
        """A random float32 tensor of this shape and stride (shared between ops of the same one)."""
        key = (shape_stride, scale)
        if key not in self._tensors:
            shape, stride = shape_stride
            self._tensors[key] = torch.empty_strided(shape, stride).normal_(0.0, scale)
        return self._tensors[key]

    def _forward(self, op: Op):
        x, w = self.tensor(op.input), self.tensor(op.weight, 0.05)
        b = self.tensor(((op.weight[0][0],), (1,)), 0.1) if op.bias else None
        if op.kind == "conv":
            return lambda: F.conv2d(x, w, b, op.stride, op.padding, op.dilation, op.groups)
        return lambda: F.linear(x, w, b)

    def _backward(self, op: Op):
        x, w = self.tensor(op.input), self.tensor(op.weight, 0.05)
        if op.grad is None:
            raise SystemExit(f"{op.name}: no gradient reached its output")
        g = self.tensor(op.grad, 0.01)
        if op.kind == "conv":
            bias_sizes = [op.weight[0][0]] if op.bias else None
            mask = [op.input_grad, True, op.bias]
            return lambda: torch.ops.aten.convolution_backward(g, x, w, bias_sizes, list(op.stride),
                                                               list(op.padding), list(op.dilation), False,
                                                               [0, 0], op.groups, mask)
        x2, g2 = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
        if op.input_grad:
            return lambda: (g2.mm(w), g2.t().mm(x2))  # dX = dY W, dW = dY^T X (autograd's transposes)
        return lambda: g2.t().mm(x2)

    def _train_calls(self):
        return [self._forward(op) for op in self.train_ops] + [self._backward(op) for op in reversed(self.train_ops)]

    def _eval_calls(self):
        return [self._forward(op) for op in self.eval_ops]

    @staticmethod
    def passes(minimum: int, seconds: float, calls, inference: bool = False) -> tuple[list[float], list[float]]:
        """Time passes over ``calls`` (at least ``minimum`` and ``seconds``): (wall, CPU) of each."""
        walls, cpus = [], []
        context = torch.inference_mode() if inference else torch.no_grad()
        began = time.perf_counter()
        with context:
            while len(walls) < minimum or time.perf_counter() - began < seconds:
                wall, cpu = time.perf_counter(), time.process_time()
                for call in calls:
                    call()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
        return walls, cpus

    def sample_step(self) -> tuple[float, float]:
        """(wall, CPU) seconds of one pass over a training step's ops."""
        walls, cpus = self.passes(1, 0.0, self.train_calls)
        return walls[0], cpus[0]

    def sample_eval(self, count: int) -> list[tuple[float, float]]:
        """(wall, CPU) seconds of ``count`` passes over an evaluation batch's ops."""
        walls, cpus = self.passes(count, 0.0, self.eval_calls, inference=True)
        return list(zip(walls, cpus))


# --- The engine's epoch -----------------------------------------------------------------------------

class Run:
    """One layout's training state: model, optimiser, data generator, position in the schedule."""

    def __init__(self, model: nn.Module, recipe):
        self.model = model
        self.optimizer = make_optimizer(model, recipe)
        self.generator = torch.Generator().manual_seed(0)  # the same batches and crops in every layout
        self.epoch = 0


def usage() -> tuple[float, float, float, int]:
    """(wall, CPU, system CPU seconds, minor page faults) so far: system time and page faults show
    what the kernel spends zero-filling fresh memory (glibc hands tensors above its mmap threshold,
    32 MB at most, and freed heap tops straight back to the kernel)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), time.process_time(), own.ru_stime, own.ru_minflt


def since(before: tuple) -> tuple:
    return tuple(now - then for now, then in zip(usage(), before))


def timed(function):
    """(result, wall seconds, CPU seconds, system seconds, minor page faults) of ``function()``."""
    before = usage()
    result = function()
    return (result, *since(before))


class ModelBench:
    """One recipe: the engine's task on the real data, the network in both layouts, their floors."""

    def __init__(self, key: str, args):
        self.label, recipe_name = MODELS[key]
        recipe = resolve(recipe_name, "paper")
        if args.subset:
            recipe = recipe.replace(train_subset=args.subset)
        if args.eval_subset:
            recipe = recipe.replace(test_subset=args.eval_subset, val_subset=max(1, args.eval_subset // 2))
        self.recipe = recipe
        self.task = ClassifierTask(RunConfig.of(recipe, 0.1, 0, "paper"))
        _, self.load_seconds, *_ = timed(lambda: self.task.load_data(pick_device("cpu"), None))
        data = self.task.data
        self.examples = len(data.train[1])
        self.evaluated = len(data.test[1]) + len(data.val[1])
        self.schedule = schedule_of(recipe, self.examples)
        self.steps = self.schedule.steps_per_epoch
        torch.manual_seed(0)
        engine_model = self.task.build_model()
        self.engine_layout = layout_name(engine_model)
        self.runs, self.floors, self.ops = {}, {}, {}
        sample_inputs, sample_labels = next(self.task.batches(0, torch.Generator().manual_seed(1)))
        eval_inputs = self.task.evaluated[0].inputs[:recipe.eval_batch_size]
        self.eval_batch = len(eval_inputs)
        for layout in LAYOUTS:
            model = to_conv_layout(copy.deepcopy(engine_model), layout)
            if layout_name(model) != layout:
                raise SystemExit(f"{self.label}: the {layout} copy reports layout {layout_name(model)}")
            train_ops = collect_ops(model, sample_inputs, self.task.objective, sample_labels)
            eval_ops = collect_ops(model, eval_inputs)
            check_layout(self.label, layout, train_ops + eval_ops)
            self.ops[layout] = (train_ops, eval_ops)
            self.floors[layout] = Floor(train_ops, eval_ops)
            self.runs[layout] = Run(model, recipe)
        # FLOPs: exact and linear in the batch, so a partial last batch counts its own examples
        train_ops, eval_ops = self.ops["channels_last"]
        per_example = [sum(op.train_flops()[i] for op in train_ops) / recipe.batch_size for i in range(3)]
        self.train_flops_parts = [p * self.examples for p in per_example]
        self.train_flops = sum(self.train_flops_parts)
        self.eval_flops_per_example = sum(op.forward_flops() for op in eval_ops) / self.eval_batch
        self.eval_flops = self.eval_flops_per_example * self.evaluated
        self.step_flops = sum(per_example) * recipe.batch_size
        self.batch_flops = self.eval_flops_per_example * self.eval_batch

    def warm_up(self, steps: int = 3) -> None:
        """A few engine steps and one evaluation batch per layout (allocator, oneDNN primitives, SGD buffers)."""
        for run in self.runs.values():
            train_epoch(run.model, run.optimizer, self.task, self.schedule, run.generator, 0,
                        self.schedule.total_steps - steps)
            run.model.eval()
            with torch.inference_mode():
                run.model(self.task.evaluated[0].inputs[:self.eval_batch])
            run.generator.manual_seed(0)

    def epoch(self, layout: str, floor_samples: int, eval_floor_passes: int) -> dict:
        """One epoch of the engine's training and its evaluation (wall and CPU seconds of each), with
        the floor sampled inside it: one pass over a step's ops after every ``steps / floor_samples``
        engine steps (through train_epoch's ``after_step``; the samples' own time is subtracted from
        the epoch's), and ``eval_floor_passes`` passes over an evaluation batch's ops just before and
        just after the evaluation."""
        run, floor = self.runs[layout], self.floors[layout]
        step = run.epoch * self.steps
        if step + self.steps > self.schedule.total_steps:
            raise SystemExit("more rounds than the recipe's schedule has epochs")
        every = max(1, round(self.steps / max(1, floor_samples)))
        step_samples, spent = [], [0.0, 0.0, 0.0, 0]

        def after_step(global_step: int) -> None:
            if (global_step - step) % every == 0 or global_step - step == 1:
                before = usage()
                step_samples.append(floor.sample_step())
                for i, amount in enumerate(since(before)):
                    spent[i] += amount

        _, *train = timed(lambda: train_epoch(run.model, run.optimizer, self.task, self.schedule,
                                              run.generator, run.epoch, step, after_step=after_step))
        train = [total - samples for total, samples in zip(train, spent)]
        eval_samples = floor.sample_eval(eval_floor_passes)
        _, *evaluation = timed(lambda: self.task.evaluate(run.model))
        eval_samples += floor.sample_eval(eval_floor_passes)
        run.epoch += 1
        mean, median = statistics.fmean, statistics.median
        return {"train_wall": train[0], "train_cpu": train[1], "train_sys": train[2], "train_faults": train[3],
                "eval_wall": evaluation[0], "eval_cpu": evaluation[1], "eval_sys": evaluation[2],
                "eval_faults": evaluation[3], "floor_sys": spent[2], "floor_faults": spent[3],
                "floor_samples": len(step_samples), "eval_floor_passes": len(eval_samples),
                "step_floor_wall": mean(w for w, _ in step_samples), "step_floor_cpu": mean(c for _, c in step_samples),
                "step_floor_median": median(w for w, _ in step_samples),
                "step_floor_best": min(w for w, _ in step_samples),
                "batch_floor_wall": mean(w for w, _ in eval_samples),
                "batch_floor_cpu": mean(c for _, c in eval_samples),
                "batch_floor_best": min(w for w, _ in eval_samples)}

    def epoch_floor(self, times: dict, view: str = "wall") -> tuple[float, float]:
        """(training, evaluation) floor seconds of this epoch from its per-step / per-batch floors."""
        return (times[f"step_floor_{view}"] * self.examples / self.recipe.batch_size,
                times[f"batch_floor_{view}"] * self.evaluated / self.eval_batch)


def check_layout(label: str, layout: str, ops: list[Op]) -> None:
    """Every conv input after the stem in ``layout`` (the stem sees the NCHW batch the transforms make)."""
    format_ = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    convs = [op for op in ops if op.kind == "conv" and op.name != "stem" and op.name != "conv1"]
    wrong = [op.name for op in convs if not torch.empty_strided(*op.input).is_contiguous(memory_format=format_)]
    wrong += [op.name for op in ops if op.kind == "conv"
              and not torch.empty_strided(*op.output).is_contiguous(memory_format=format_)]
    if wrong:
        raise SystemExit(f"{label} {layout}: convolutions not in {layout}: {sorted(set(wrong))}")


def round_row(bench: ModelBench, times: dict, layout: str) -> dict:
    """The numbers of one timed epoch against the floor sampled in it."""
    train_floor, eval_floor = bench.epoch_floor(times)
    train_floor_cpu, eval_floor_cpu = bench.epoch_floor(times, "cpu")
    epoch = times["train_wall"] + times["eval_wall"]
    epoch_cpu = times["train_cpu"] + times["eval_cpu"]
    floor_total = train_floor + eval_floor
    steps = bench.steps
    # a full epoch from the measured rates: 352 steps x the time per step + 15,000 images x time per image
    full_train = times["train_wall"] / bench.examples * FULL_TRAIN_EXAMPLES
    full_eval = times["eval_wall"] / bench.evaluated * FULL_EVAL_EXAMPLES
    full_floor = (times["step_floor_wall"] * FULL_TRAIN_EXAMPLES / bench.recipe.batch_size
                  + times["batch_floor_wall"] * FULL_EVAL_EXAMPLES / bench.eval_batch)
    return {
        "layout": layout, **times,
        "step_seconds": times["train_wall"] / steps,
        "floor_step_median": times["step_floor_median"], "floor_step_best": times["step_floor_best"],
        "eval_seconds_per_image": times["eval_wall"] / bench.evaluated,
        "epoch_wall": epoch, "epoch_cpu": epoch_cpu,
        "floor_train": train_floor, "floor_eval": eval_floor, "floor": floor_total,
        "floor_step": times["step_floor_wall"], "floor_eval_batch": times["batch_floor_wall"],
        "ratio": epoch / floor_total, "ratio_train": times["train_wall"] / train_floor,
        "ratio_eval": times["eval_wall"] / eval_floor,
        "ratio_cpu": epoch_cpu / (train_floor_cpu + eval_floor_cpu),
        "ratio_vs_best_floor": epoch / (times["step_floor_best"] * bench.examples / bench.recipe.batch_size
                                        + times["batch_floor_best"] * bench.evaluated / bench.eval_batch),
        "eval_share": times["eval_wall"] / epoch,
        "train_sys_share": times["train_sys"] / max(times["train_cpu"], 1e-9),
        "eval_sys_share": times["eval_sys"] / max(times["eval_cpu"], 1e-9),
        "train_faults_per_step": times["train_faults"] / steps,
        "eval_faults_per_image": times["eval_faults"] / bench.evaluated,
        "gflops_epoch": (bench.train_flops + bench.eval_flops) / epoch / 1e9,
        "gflops_train": bench.train_flops / times["train_wall"] / 1e9,
        "gflops_floor": (bench.train_flops + bench.eval_flops) / floor_total / 1e9,
        "gflops_floor_step": bench.step_flops / times["step_floor_wall"] / 1e9,
        "gflops_floor_eval": bench.batch_flops / times["batch_floor_wall"] / 1e9,
        "full_epoch_extrapolated": full_train + full_eval, "full_floor_extrapolated": full_floor,
    }


def bench_model(key: str, args) -> dict:
    bench = ModelBench(key, args)
    recipe = bench.recipe
    train_ops, eval_ops = bench.ops["channels_last"]
    convs = sum(op.kind == "conv" for op in train_ops)
    partial = "" if bench.examples == FULL_TRAIN_EXAMPLES else \
        f" -- a SUBSET of the {FULL_TRAIN_EXAMPLES:,} of a real epoch ({CIFAR10_JPEG_STEPS_PER_EPOCH} steps)"
    partial_eval = "" if bench.evaluated == FULL_EVAL_EXAMPLES else f" -- a SUBSET of the {FULL_EVAL_EXAMPLES:,}"
    print(f"\n== {bench.label} ({recipe.name}), {torch.get_num_threads()} thread(s); the engine builds it "
          f"{bench.engine_layout} ($LSBOOK_CONV_LAYOUT: {conv_layout()}); "
          f"data loaded in {bench.load_seconds:.1f} s")
    print(f"training: {bench.examples:,} examples, {bench.steps} steps of {recipe.batch_size}{partial}; "
          f"evaluation: {bench.evaluated:,} images at batch {bench.eval_batch}{partial_eval}")
    fwd, dx, dw = (p / 1e9 for p in bench.train_flops_parts)
    print(f"{convs} convolutions + {len(train_ops) - convs} linear layers; per training step "
          f"{bench.step_flops / 1e9:.2f} GFLOP, per evaluated image {bench.eval_flops_per_example / 1e6:.1f} MFLOP; "
          f"this epoch: {bench.train_flops / 1e9:.0f} GFLOP training (forward {fwd:.0f}, input gradients {dx:.0f}, "
          f"weight gradients {dw:.0f}) + {bench.eval_flops / 1e9:.0f} GFLOP evaluation")
    bench.warm_up()
    rows = []
    for round_ in range(1, args.rounds + 1):
        order = LAYOUTS if round_ % 2 else tuple(reversed(LAYOUTS))
        timed_epochs = {layout: bench.epoch(layout, args.floor_samples, args.eval_floor_passes) for layout in order}
        print(f"round {round_} (order: {', '.join(order)}; floor sampled {timed_epochs[order[0]]['floor_samples']} "
              f"times in the training, {timed_epochs[order[0]]['eval_floor_passes']} around the evaluation)")
        round_rows = {}
        for layout in LAYOUTS:
            row = round_row(bench, timed_epochs[layout], layout)
            row["round"] = round_
            round_rows[layout] = row
            print(f"  {layout:13s} training {row['train_wall']:6.1f} s ({1e3 * row['step_seconds']:.0f} ms/step, "
                  f"floor {1e3 * row['floor_step']:.0f} ms = {row['ratio_train']:.2f}x), evaluation "
                  f"{row['eval_wall']:5.1f} s (floor {row['floor_eval']:.1f} s = {row['ratio_eval']:.2f}x)\n"
                  f"  {'':13s} epoch {row['epoch_wall']:6.1f} s / floor {row['floor']:.1f} s => {row['ratio']:.2f}x "
                  f"(CPU time {row['ratio_cpu']:.2f}x; vs best floor passes {row['ratio_vs_best_floor']:.2f}x); "
                  f"{row['gflops_epoch']:.0f} GFLOP/s vs floor {row['gflops_floor']:.0f} GFLOP/s "
                  f"(step ops {row['gflops_floor_step']:.0f}, evaluation ops {row['gflops_floor_eval']:.0f})\n"
                  f"  {'':13s} system time: training {100 * row['train_sys'] / row['train_cpu']:.0f} % of its CPU time "
                  f"({row['train_faults'] / bench.steps:.0f} page faults/step), evaluation "
                  f"{100 * row['eval_sys'] / row['eval_cpu']:.0f} % ({row['eval_faults'] / bench.evaluated:.0f} "
                  f"faults/image); floor step samples "
                  f"{row['floor_faults'] / max(1, row['floor_samples']):.0f} faults/pass")
        cl, ct = round_rows["channels_last"], round_rows["contiguous"]
        for row in (cl, ct):
            row["layout_speedup"] = ct["epoch_wall"] / cl["epoch_wall"]
            row["layout_speedup_train"] = ct["train_wall"] / cl["train_wall"]
            row["layout_speedup_eval"] = ct["eval_wall"] / cl["eval_wall"]
            row["floor_layout_speedup"] = ct["floor"] / cl["floor"]
        print(f"  channels_last over contiguous: epoch {cl['layout_speedup']:.2f}x (training "
              f"{cl['layout_speedup_train']:.2f}x, evaluation {cl['layout_speedup_eval']:.2f}x); "
              f"the conv/matmul floor alone {cl['floor_layout_speedup']:.2f}x")
        rows += [cl, ct]
    summary = summarise(bench, rows)
    result = {"model": key, "label": bench.label, "recipe": recipe.name, "engine_layout": bench.engine_layout,
              "train_examples": bench.examples, "steps": bench.steps, "batch_size": recipe.batch_size,
              "evaluated_examples": bench.evaluated, "eval_batch_size": bench.eval_batch,
              "train_gflop": bench.train_flops / 1e9, "eval_gflop": bench.eval_flops / 1e9,
              "step_gflop": bench.step_flops / 1e9, "ops": [asdict(op) for op in train_ops],
              "rounds": rows, "summary": summary}
    if args.profile_steps:
        result["profile"] = profile(bench, args.profile_steps)
    return result


def summarise(bench: ModelBench, rows: list[dict]) -> dict:
    median = statistics.median
    cl = [r for r in rows if r["layout"] == "channels_last"]
    ct = [r for r in rows if r["layout"] == "contiguous"]
    keys = ("epoch_wall", "train_wall", "eval_wall", "step_seconds", "floor", "floor_step", "ratio", "ratio_train",
            "ratio_eval", "ratio_cpu", "ratio_vs_best_floor", "eval_share", "gflops_epoch", "gflops_floor",
            "train_sys_share", "eval_sys_share", "train_faults_per_step", "eval_faults_per_image",
            "full_epoch_extrapolated", "full_floor_extrapolated")
    summary = {layout: {k: median(r[k] for r in group) for k in keys}
               for layout, group in (("channels_last", cl), ("contiguous", ct))}
    summary["best_ratio"] = min(r["ratio"] for r in cl)
    summary["best_ratio_cpu"] = min(r["ratio_cpu"] for r in cl)
    summary["layout_speedup"] = median(r["layout_speedup"] for r in cl)
    summary["layout_speedup_best"] = max(r["layout_speedup"] for r in cl)
    summary["layout_speedup_train"] = median(r["layout_speedup_train"] for r in cl)
    summary["layout_speedup_eval"] = median(r["layout_speedup_eval"] for r in cl)
    summary["floor_layout_speedup"] = median(r["floor_layout_speedup"] for r in cl)
    s, c = summary["channels_last"], summary["contiguous"]
    print(f"{bench.label}, median over {len(cl)} round(s) (best):")
    measured = "measured epoch" if bench.examples == FULL_TRAIN_EXAMPLES and bench.evaluated == FULL_EVAL_EXAMPLES \
        else f"measured ({bench.steps} steps + {bench.evaluated:,} evaluated)"
    print(f"  {measured}: {s['epoch_wall']:.1f} s (training {s['train_wall']:.1f} s = "
          f"{1e3 * s['step_seconds']:.0f} ms/step, evaluation {s['eval_wall']:.1f} s = {100 * s['eval_share']:.0f} %); "
          f"floor {s['floor']:.1f} s ({1e3 * s['floor_step']:.0f} ms/step)")
    print(f"  ratio to the floor {s['ratio']:.2f}x ({summary['best_ratio']:.2f}x)  [target <= {TARGET}x]; "
          f"training {s['ratio_train']:.2f}x, evaluation {s['ratio_eval']:.2f}x; CPU time {s['ratio_cpu']:.2f}x "
          f"({summary['best_ratio_cpu']:.2f}x); {s['gflops_epoch']:.0f} GFLOP/s vs the floor's {s['gflops_floor']:.0f}")
    print(f"  system (kernel) time: {100 * s['train_sys_share']:.0f} % of the training's CPU time "
          f"({s['train_faults_per_step']:.0f} page faults/step), {100 * s['eval_sys_share']:.0f} % of the evaluation's "
          f"({s['eval_faults_per_image']:.0f} faults/image)")
    if measured != "measured epoch":
        print(f"  EXTRAPOLATED to a full epoch ({CIFAR10_JPEG_STEPS_PER_EPOCH} steps x measured per step + "
              f"{FULL_EVAL_EXAMPLES:,} images x measured per image): {s['full_epoch_extrapolated']:.0f} s, "
              f"floor {s['full_floor_extrapolated']:.0f} s => "
              f"{s['full_epoch_extrapolated'] / s['full_floor_extrapolated']:.2f}x")
    print(f"  layout: channels_last {summary['layout_speedup']:.2f}x faster than contiguous "
          f"({summary['layout_speedup_best']:.2f}x; training {summary['layout_speedup_train']:.2f}x, evaluation "
          f"{summary['layout_speedup_eval']:.2f}x); contiguous epoch {c['epoch_wall']:.1f} s = {c['ratio']:.2f}x "
          f"its own layout's floor; floors: contiguous / channels_last = {summary['floor_layout_speedup']:.2f}")
    return summary


# --- Where the time goes ----------------------------------------------------------------------------

PHASES = ("gather + augmentation", "forward + loss", "backward", "clip_grad_norm_", "optimizer step",
          "zero_grad", "evaluation batch")
FLOOR_OWNERS = ("module: Conv2d", "module: Linear", "ConvolutionBackward0", "AddmmBackward0", "MmBackward0")


@contextlib.contextmanager
def phase_labels(task, model):
    """Name the phases of the engine's step, and the leaf modules of ``model``, for the profiler,
    without touching lsbook: the task's batches and loss, Tensor.backward, nn.utils.clip_grad_norm_
    (the optimiser labels its own step and zero_grad) and forward hooks around every leaf module."""
    from torch.profiler import record_function

    original_batches, original_loss = task.batches, task.loss
    original_backward, original_clip = torch.Tensor.backward, nn.utils.clip_grad_norm_

    def batches(epoch, generator):
        iterator = original_batches(epoch, generator)
        while True:
            with record_function("phase: gather + augmentation"):
                batch = next(iterator, None)
            if batch is None:
                return
            yield batch

    def loss(model, batch):
        with record_function("phase: forward + loss"):
            return original_loss(model, batch)

    def backward(self, *a, **k):
        with record_function("phase: backward"):
            return original_backward(self, *a, **k)

    def clip(*a, **k):
        with record_function("phase: clip_grad_norm_"):
            return original_clip(*a, **k)

    open_labels = []

    def enter(module, args):
        label = record_function(f"module: {type(module).__name__}")
        label.__enter__()
        open_labels.append(label)

    def leave(module, args, output):
        open_labels.pop().__exit__(None, None, None)

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [h for m in leaves for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    task.batches, task.loss, torch.Tensor.backward, nn.utils.clip_grad_norm_ = batches, loss, backward, clip
    try:
        yield
    finally:
        del task.batches, task.loss
        torch.Tensor.backward, nn.utils.clip_grad_norm_ = original_backward, original_clip
        for handle in handles:
            handle.remove()


def phase_of(event) -> str:
    while event is not None:
        name = event.name
        if name.startswith("phase: "):
            return name[len("phase: "):]
        if name.startswith("Optimizer.step"):
            return "optimizer step"
        if name.startswith("Optimizer.zero_grad"):
            return "zero_grad"
        event = event.cpu_parent
    return "other"


def owner_of(event) -> str:
    """What an op's time is charged to: its leaf module (forward), its autograd node (backward),
    else the op itself."""
    walk = event
    while walk is not None:
        name = walk.name
        if name.startswith("module: "):
            return name
        if name.startswith("autograd::engine::evaluate_function: "):
            return name.split(": ", 1)[1]
        if name.startswith("phase: ") or name.startswith("Optimizer."):
            break
        walk = walk.cpu_parent
    return event.name


def is_label(name: str) -> bool:
    return name.startswith(("phase: ", "Optimizer.", "module: ", "autograd::engine::evaluate_function: "))


def profile(bench: ModelBench, steps: int) -> dict:
    """torch.profiler over ``steps`` engine steps (train_epoch) and one evaluation batch, channels_last:
    time per phase of the step, and per module (forward) / autograd node (backward) / op (the rest),
    as self time of the ops on the calling thread."""
    from torch.profiler import ProfilerActivity, record_function
    from torch.profiler import profile as torch_profile

    run = bench.runs["channels_last"]
    report = {}
    for what in ("training", "evaluation"):
        with phase_labels(bench.task, run.model), torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            began = time.perf_counter()
            if what == "training":
                train_epoch(run.model, run.optimizer, bench.task, bench.schedule, run.generator, 0,
                            bench.schedule.total_steps - steps)
            else:
                run.model.eval()
                with torch.inference_mode(), record_function("phase: evaluation batch"):
                    run.model(bench.task.evaluated[0].inputs[:bench.eval_batch])
            wall = time.perf_counter() - began
        count, unit = (steps, "step") if what == "training" else (1, "batch")
        owners: dict[str, dict[str, float]] = {}
        ops: dict[str, float] = {}
        phase_walls: dict[str, float] = {}
        for event in prof.events():
            if event.name.startswith(("phase: ", "Optimizer.")):
                phase = phase_of(event)
                if event.cpu_parent is None or phase_of(event.cpu_parent) != phase:
                    phase_walls[phase] = phase_walls.get(phase, 0.0) + event.cpu_time_total / 1e6
            if is_label(event.name) or event.self_cpu_time_total <= 0:
                continue
            seconds = event.self_cpu_time_total / 1e6
            cell = owners.setdefault(phase_of(event), {})
            owner = owner_of(event)
            cell[owner] = cell.get(owner, 0.0) + seconds
            ops[event.name] = ops.get(event.name, 0.0) + seconds
        accounted = sum(sum(cell.values()) for cell in owners.values())
        floor_ops = sum(t for cell in owners.values() for o, t in cell.items() if o in FLOOR_OWNERS)
        print(f"  profile of {bench.label} {what}, channels_last ({count} {unit}(s); with the profiler on "
              f"{1e3 * wall / count:.0f} ms per {unit}, of which conv/linear ops {1e3 * floor_ops / count:.0f} ms, "
              f"other ops {1e3 * (accounted - floor_ops) / count:.0f} ms, between ops (Python, dispatch, "
              f"profiler) {1e3 * (wall - accounted) / count:.0f} ms):")
        for phase in [p for p in PHASES if p in phase_walls] + (["other"] if "other" in owners else []):
            cell = owners.get(phase, {})
            inside = phase_walls.get(phase, sum(cell.values()))
            top = sorted(cell.items(), key=lambda item: -item[1])
            shown = [f"{name.removeprefix('module: ')} {1e3 * t / count:.1f}" for name, t in top[:9]
                     if t >= 5e-4 * count]
            print(f"    {phase:22s} {1e3 * inside / count:7.1f} ms ({100 * inside / wall:4.1f} %)"
                  + (": " + ", ".join(shown) if shown else ""))
        top = sorted(ops.items(), key=lambda item: -item[1])[:12]
        print(f"    top aten ops (ms per {unit}): " + ", ".join(f"{name.removeprefix('aten::')} {1e3 * t / count:.1f}"
                                                           for name, t in top))
        report[what] = {"count": count, "wall": wall, "phases": phase_walls, "owners": owners, "ops": dict(top),
                        "floor_ops": floor_ops, "accounted": accounted}
    run.generator.manual_seed(0)
    return report


# --- Main ---------------------------------------------------------------------------------------------

def environment() -> dict:
    model_name = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu": model_name, "cores": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average": os.getloadavg()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="--subset 3840 (30 steps) --eval-subset 2000 (3,000 images), 2 rounds")
    parser.add_argument("--model", choices=[*MODELS, "both"], default="both")
    parser.add_argument("--subset", type=int, default=None, help="training examples (default: all 45,000)")
    parser.add_argument("--eval-subset", type=int, default=None,
                        help="test images evaluated, and half as many validation images (default: all 10,000 + 5,000)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of (floor, epoch in each layout, floor); median and best reported (default 2)")
    parser.add_argument("--floor-samples", type=int, default=16,
                        help="passes over a step's conv/matmul ops spread over each timed training epoch (16)")
    parser.add_argument("--eval-floor-passes", type=int, default=1,
                        help="passes over an evaluation batch's ops just before and just after each evaluation (1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--profile-steps", type=int, default=0,
                        help="profile this many engine steps and one evaluation batch (default 0: no profile)")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    args = parser.parse_args(argv)
    if args.quick:
        args.subset = args.subset or 3840
        args.eval_subset = args.eval_subset or 2000
    args.rounds = args.rounds or 2
    if args.threads:
        torch.set_num_threads(args.threads)
    env = environment()
    print(f"{env['date']}: {env['cpu']} ({env['cores']} cores, torch {env['torch']}, CPU capability "
          f"{env['cpu_capability']}), {env['threads']} torch thread(s), OMP_WAIT_POLICY={env['omp_wait_policy']}; "
          f"load average {', '.join(f'{x:.2f}' for x in env['load_average'])}")
    results = []
    for key in (MODELS if args.model == "both" else [args.model]):
        results.append(bench_model(key, args))
    env["load_average_end"] = os.getloadavg()
    print(f"\nload average at the end {', '.join(f'{x:.2f}' for x in env['load_average_end'])}")
    print(f"summary (median over rounds; target <= {TARGET}x the floor):")
    for result in results:
        s = result["summary"]
        cl = s["channels_last"]
        whole = result["train_examples"] == FULL_TRAIN_EXAMPLES and result["evaluated_examples"] == FULL_EVAL_EXAMPLES
        print(f"  {result['label']:9s} epoch {cl['epoch_wall']:6.1f} s, floor {cl['floor']:6.1f} s => {cl['ratio']:.2f}x "
              f"(CPU time {cl['ratio_cpu']:.2f}x), evaluation {100 * cl['eval_share']:.0f} % of the epoch; "
              f"channels_last {s['layout_speedup']:.2f}x faster than contiguous"
              + ("" if whole
                 else f"  [{result['steps']} steps + {result['evaluated_examples']:,} evaluated; full epoch "
                      f"extrapolated {cl['full_epoch_extrapolated']:.0f} s vs floor "
                      f"{cl['full_floor_extrapolated']:.0f} s]"))
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "arguments": {k: str(v) for k, v in vars(args).items()},
                                         "models": results}, indent=1))
        print(f"numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
