"""The mutual-information experiment of Müller et al. (2019), Section 4 and Appendix A.2.

ResNet-56 on CIFAR-10; N = 600 training examples (300 airplanes, 300 dogs), L = 5 random
augmentations (crops and flips) each; Y = logit(airplane) − logit(dog); Î(X; Y) estimated every
4k steps of training, with α = 0 and α = 0.1. The replication could not reproduce it (its Section
6.3). The CPU variant trains the FCN on Fashion-MNIST with its ±2 px shift augmentation and
probes two of its classes.

A curve is stored with its training run: the run is made with a step callback
(lsbook.experiments.mi_probe) whose name — the probe's classes, size, draws, seed and the step
interval — enters the run's config and key, so each curve is a record of its own (step, Î) in
``metrics["step_log"]``, checkpointed and resumed with the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from lsbook.errors import LsbookError
from lsbook.experiments.mi_probe import MutualInformationProbe, ProbeConfig, select_probe_set
from lsbook.profiles import get_profile, probe_every, resolve
from lsbook.recipes import Recipe
from lsbook.run_config import RunConfig
from lsbook.store import Record, Store
from lsbook.validation import check_alpha

@dataclass(frozen=True)
class MISetup:
    """One mutual-information experiment: the network, the probe and when it is measured."""

    name: str                          # key in MI_SETUPS
    title: str                         # how the figure names it
    recipe: str                        # recipe trained (profile applied as for any run)
    probe: ProbeConfig                 # the N × L probe of the logit difference
    alphas: tuple[float, ...] = (0.0, 0.1)  # orig. Section 4: without and with label smoothing
    stand_in: str = ""                 # what this setup stands in for, said wherever it is shown
    inside_plain_runs: bool = False    # True: the recipe's own runs at these α carry the probe (as the
    #   original's ResNet-56 runs did); they are the recipe's runs for every chapter (lsbook.runs)

    def __post_init__(self) -> None:
        for alpha in self.alphas:
            check_alpha(alpha)

    def probe_for(self, profile: str) -> ProbeConfig:
        """The probe at ``profile`` (a profile may cap its examples per class)."""
        cap = get_profile(profile).probe_per_class
        return self.probe if cap is None else replace(self.probe, per_class=min(self.probe.per_class, cap))

    def callback_name(self, profile: str) -> str:
        """The step-callback name that enters each run's config (and key)."""
        probe = self.probe_for(profile)
        return (f"mutual_information(classes={probe.classes[0]}|{probe.classes[1]};"
                f"per_class={probe.per_class};draws={probe.draws};seed={probe.seed};"
                f"every={self.every_steps(profile)})")

    def every_steps(self, profile: str) -> int:
        """Optimiser steps between two estimates at ``profile`` (lsbook.profiles' probe intervals)."""
        return probe_every(profile, self.name)

    def recipe_for(self, profile: str) -> Recipe:
        """The recipe the curve's runs train, with ``profile`` applied."""
        return resolve(self.recipe, profile)

    def config(self, alpha: float, seed: int, profile: str) -> RunConfig:
        """The run of the curve at α: the recipe at ``profile`` with the probe named in its key."""
        return RunConfig.of(self.recipe, alpha, seed, profile, probe=self.callback_name(profile))

    def num_examples(self, profile: str) -> int:
        """N, the number of probe examples: log N bounds the estimate."""
        return 2 * self.probe_for(profile).per_class


MI_SETUPS: dict[str, MISetup] = {
    # The original's experiment (Section 4): 64k steps, an estimate every 4k.
    "resnet56-cifar10": MISetup(
        name="resnet56-cifar10", title="ResNet-56, CIFAR-10 (airplane vs dog)",
        recipe="resnet56-cifar10", probe=ProbeConfig(classes=("airplane", "dog"))),
    # The original's experiment on this machine: ResNet-56 on the JPEG re-encode of CIFAR-10 at the
    # CPU schedule (resnet56-cifar10-jpeg, 14,080 steps), an estimate every 880 steps: the
    # original's 4k of 64k, sixteen estimates a run.
    "resnet56-cifar10-jpeg": MISetup(
        name="resnet56-cifar10-jpeg", title="ResNet-56, CIFAR-10 (JPEG re-encode; airplane vs dog)",
        recipe="resnet56-cifar10-jpeg", probe=ProbeConfig(classes=("airplane", "dog")), inside_plain_runs=True),
    # CPU variant: FCN on Fashion-MNIST with the ±2 px shifts. The two classes take the class
    # indices of airplane (0) and dog (5) in CIFAR-10.
    "fcn-fmnist": MISetup(
        name="fcn-fmnist", title="FCN, Fashion-MNIST (T-shirt/top vs sandal)",
        recipe="fcn-fmnist", probe=ProbeConfig(classes=("T-shirt/top", "Sandal")),
        stand_in="CPU variant: FCN on Fashion-MNIST stands in for ResNet-56 on CIFAR-10"),
}


def ensure_curve(setup: MISetup, alpha: float, seed: int, profile: str, **kwargs) -> Record:
    """The run of ``setup`` at α with its MI curve: stored, or trained now with the probe
    (``kwargs``: those of :func:`ensure_probed`)."""
    return ensure_probed(setup, setup.config(alpha, seed, profile), **kwargs)


def ensure_probed(setup: MISetup, config: RunConfig, *, store: Store | None = None, device=None,
                  progress: bool = True, runs_root=None, allow_dirty: bool = False,
                  keep_model: bool = False) -> Record:
    """``config`` (a run with ``setup``'s probe) from the store, or trained now with the probe as its
    step callback (``keep_model``: its final weights stored too, for a run that also teaches)."""
    import torch

    from lsbook.run_data import load_run_data
    from lsbook.runtime import pick_device
    from lsbook.train import ensure_run, find_run

    store = store or Store()
    found = find_run(config, store)
    if found is not None and (found.has_model or not keep_model):
        return found
    profile = config.profile
    data = load_run_data(config.recipe, torch.device("cpu"))  # the run's own training split
    probe = select_probe_set(data.train[0], data.train[1], data.class_names, setup.probe_for(profile))
    probe.images = probe.images.to(pick_device(device))
    callback = MutualInformationProbe(probe, data.transforms.train, setup.probe_for(profile))
    return ensure_run(config, store=store, device=device, progress=progress, runs_root=runs_root,
                      allow_dirty=allow_dirty, step_callback=callback, step_callback_every=setup.every_steps(profile),
                      keep_model=keep_model)


def find_curve(setup: MISetup, alpha: float, seed: int, profile: str,
               store: Store | None = None) -> Record | None:
    """The stored run with its MI curve, or None (never trains)."""
    from lsbook.train import find_run

    return find_run(setup.config(alpha, seed, profile), store or Store())


def curve(record: Record) -> tuple[np.ndarray, np.ndarray]:
    """(steps int64 [M], Î in nats float64 [M]) of a stored MI run, sorted by step."""
    log = record.metrics.get("step_log") or []
    if not log:
        raise LsbookError(f"run {record.key} has no mutual-information curve (empty step_log)")
    pairs = sorted((int(entry["step"]), float(entry["value"])) for entry in log)
    return np.array([s for s, _ in pairs], np.int64), np.array([v for _, v in pairs], np.float64)


@dataclass
class MICurves:
    """The curves of one setup at one profile, ready to plot."""

    steps: np.ndarray                       # int64 [M], common to every run
    values: dict[float, np.ndarray]         # α -> float64 [seeds, M]
    seeds: dict[float, list[int]]           # α -> the seeds found
    test_accuracy: dict[float, list[float]]  # α -> final test accuracy of each run
    num_examples: int                       # N: log N bounds the estimate
    missing: list[tuple[float, int]]        # (α, seed) with no stored curve
    num_draws: int = 5                      # L: augmented draws per example (sets the estimator's bias)

    @property
    def log_n(self) -> float:
        return math.log(self.num_examples)


def collect_curves(setup: MISetup, profile: str, seeds: Iterable[int], *,
                   store: Store | None = None, alphas: Iterable[float] | None = None) -> MICurves:
    """Every stored curve of the setup at ``profile`` (nothing is trained)."""
    store = store or Store()
    alphas = tuple(setup.alphas if alphas is None else alphas)
    steps = None
    values: dict[float, list[np.ndarray]] = {}
    found_seeds: dict[float, list[int]] = {}
    accuracy: dict[float, list[float]] = {}
    missing = []
    for alpha in alphas:
        for seed in seeds:
            record = find_curve(setup, alpha, seed, profile, store)
            if record is None:
                missing.append((alpha, seed))
                continue
            record_steps, record_values = curve(record)
            if steps is None:
                steps = record_steps
            elif not np.array_equal(steps, record_steps):
                raise LsbookError(f"run {record.key}: its MI steps differ from the other runs' steps")
            values.setdefault(alpha, []).append(record_values)
            found_seeds.setdefault(alpha, []).append(seed)
            accuracy.setdefault(alpha, []).append(float(record.metrics["test_accuracy"]))
    return MICurves(steps=steps if steps is not None else np.zeros(0, np.int64),
                    values={a: np.stack(v) for a, v in values.items()}, seeds=found_seeds,
                    test_accuracy=accuracy, num_examples=setup.num_examples(profile), missing=missing,
                    num_draws=setup.probe_for(profile).draws)
