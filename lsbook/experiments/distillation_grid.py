"""The knowledge-distillation study of Section 6 as a grid of stored runs.

Table 4 (seed Section 6.1): a 1200-unit FCN teacher trained with dropout, and one trained with
α = 0.1 and no dropout, each distilled into an 800-unit student (no dropout, no augmentation,
β = 0.6, half the squared error to the teacher's logits).

Figures 7 and 8 (the M1–M4 experiment, Müller et al. Section 6 / seed 6.1–6.2):
  M1  teachers trained with label smoothing α;
  M2  students trained with α and no teacher (the baseline);
  M3  students distilled from the hard-label teacher (α = 0) at temperature T;
  M4  students distilled from the teacher trained with α, at T = 1.
A student's run names its teacher's run by key and its temperature (lsbook.run_config.Distillation), so
teachers of different α are different runs and never overwrite one another (the replication's
teachers for α ≥ 0.45 overwrote the first three).

This module defines the studies and reads their stored runs; :func:`lsbook.sweep.run_grid` (or
``python -m lsbook distill``) trains them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

from lsbook.errors import LsbookError
from lsbook.paper import DISTILLATION_ROLES
from lsbook.recipes import RECIPES
from lsbook.experiments.smoothness import find_smoothness
from lsbook.run_config import DISTILL_LOSSES, RunConfig
from lsbook.runs import run_config
from lsbook.store import Record, Store
from lsbook.train import find_run
from lsbook.validation import check_alpha, check_choice, check_temperature

PAPER_ALPHAS = (0.0, 0.15, 0.3, 0.45, 0.6, 0.75)   # seed 6.1 / orig.: α from 0 to 0.75 by 0.15
PAPER_TEMPERATURES = (1.0, 2.0, 4.0, 8.0, 12.0, 16.0)  # seed 6.1 (FCN)
ORIGINAL_TEMPERATURES = (1.0, 2.0, 3.0, 4.0, 8.0, 12.0, 16.0)  # orig. (CIFAR-10): adds T = 3

@dataclass(frozen=True)
class DistillationSetup:
    """One teacher → student study: which recipes play which part, and the distillation loss."""

    name: str                       # key in SETUPS
    title: str                      # how figures and tables name it
    teacher_recipe: str             # M1 teachers (and Table 4's teacher with label smoothing)
    student_recipe: str             # M2 baselines and the M3/M4 students
    dropout_teacher_recipe: str | None  # Table 4's teacher with dropout; None: no Table 4
    distill_loss: str               # "replication": β·½·MSE to logits/T; "original": β·H(p^T, q)
    beta: float                     # weight of the teacher term (0.6 seed 6.1; 1.0 orig. CIFAR-10)
    alphas: tuple[float, ...] = PAPER_ALPHAS            # α of M1 teachers and M2 baselines
    temperatures: tuple[float, ...] = PAPER_TEMPERATURES  # teacher temperatures of M3
    smoothed_temperatures: tuple[float, ...] = (1.0,)  # temperatures of M4, the students of smoothed teachers:
    #   the papers' T = 1; Chandrasegaran et al. (ICML 2022) also distil them at larger T
    table4_alpha: float = 0.1       # α of Table 4's smoothed teacher (seed 6.1)
    stand_in: str = ""              # what this setup stands in for, said wherever it is shown
    overrides: tuple[tuple[str, Any], ...] = ()  # recipe fields changed in every run (--epochs/--steps)

    def __post_init__(self) -> None:
        for recipe in (self.teacher_recipe, self.student_recipe, self.dropout_teacher_recipe):
            if recipe is not None:
                check_choice(recipe, RECIPES, "recipe")
        check_choice(self.distill_loss, DISTILL_LOSSES, "distill_loss")
        if not 0.0 <= self.beta <= 1.0:
            raise LsbookError(f"beta must be in [0, 1], got {self.beta!r}")
        if not self.alphas or 0.0 not in self.alphas:
            raise LsbookError(f"alphas must include 0 (the hard-label teacher of M3), got {self.alphas!r}")
        if not self.temperatures or 1.0 not in self.temperatures:
            raise LsbookError(f"temperatures must include 1 (the temperature of M4), got {self.temperatures!r}")
        for alpha in (*self.alphas, self.table4_alpha):
            check_alpha(alpha)
        for temperature in (*self.temperatures, *self.smoothed_temperatures):
            check_temperature(temperature)
        if 1.0 not in self.smoothed_temperatures:
            raise LsbookError(f"smoothed_temperatures must include 1 (M4), got {self.smoothed_temperatures!r}")

    def reduced(self, alphas: Iterable[float] | None = None, temperatures: Iterable[float] | None = None,
                overrides: dict[str, Any] | None = None) -> "DistillationSetup":
        """The same study on fewer α or T (a CPU-sized grid; the runs it keeps are the same runs), or
        with recipe ``overrides`` in every run (other runs: they enter the keys)."""
        return dataclasses.replace(
            self, alphas=tuple(float(a) for a in alphas) if alphas is not None else self.alphas,
            temperatures=tuple(float(t) for t in temperatures) if temperatures is not None else self.temperatures,
            overrides=tuple(sorted(overrides.items())) if overrides else self.overrides)

    # --- The study's runs, as run configurations -----------------------------------------------------

    def teacher(self, alpha: float, seed: int, profile: str) -> RunConfig:
        """M1: a teacher trained with α (also Table 4's teacher with label smoothing): the recipe's
        run at α (lsbook.runs.run_config: with the probe where one rides inside it)."""
        return run_config(self.teacher_recipe, alpha, seed, profile, overrides=dict(self.overrides))

    def baseline(self, alpha: float, seed: int, profile: str) -> RunConfig:
        """M2: a student network trained with α and no teacher."""
        return run_config(self.student_recipe, alpha, seed, profile, overrides=dict(self.overrides))

    def dropout_teacher(self, seed: int, profile: str) -> RunConfig:
        """Table 4's teacher trained with dropout and no label smoothing."""
        if self.dropout_teacher_recipe is None:
            raise LsbookError(f"study {self.name!r} has no dropout teacher (no Table 4)")
        return RunConfig.of(self.dropout_teacher_recipe, 0.0, seed, profile, overrides=dict(self.overrides))

    def student(self, teacher: RunConfig, temperature: float) -> RunConfig:
        """M3/M4: a student distilled from ``teacher`` at ``temperature`` (same seed and profile)."""
        return RunConfig.of(self.student_recipe, 0.0, teacher.seed, teacher.profile, teacher=teacher,
                            overrides=dict(self.overrides),
                            distill_temperature=temperature, distill_loss=self.distill_loss, beta=self.beta)

    def table4_runs(self, seed: int, profile: str) -> dict[str, RunConfig]:
        """Table 4's four runs, named as :data:`lsbook.paper.DISTILLATION_ROLES` names them."""
        dropout, smoothed = self.dropout_teacher(seed, profile), self.teacher(self.table4_alpha, seed, profile)
        return dict(zip(DISTILLATION_ROLES, (dropout, smoothed, self.student(dropout, 1.0),
                                             self.student(smoothed, 1.0))))


SETUPS: dict[str, DistillationSetup] = {
    # Table 4 and Figure 7 as the seed ran them: FCN 1200 → FCN 800 on MNIST.
    "fcn-mnist": DistillationSetup(
        name="fcn-mnist", title="FCN 1200 → FCN 800, MNIST", teacher_recipe="fcn-mnist",
        student_recipe="fcn-mnist-student", dropout_teacher_recipe="fcn-mnist-dropout",
        distill_loss="replication", beta=0.6),
    # The same on Fashion-MNIST: the data this machine has (a stand-in, labelled as such).
    "fcn-fmnist": DistillationSetup(
        name="fcn-fmnist", title="FCN 1200 → FCN 800, Fashion-MNIST (stand-in for MNIST)",
        teacher_recipe="fcn-fmnist", student_recipe="fcn-fmnist-student",
        dropout_teacher_recipe="fcn-fmnist-dropout", distill_loss="replication", beta=0.6,
        stand_in="Fashion-MNIST stands in for MNIST in the short cpu study"),
    # Figure 8: ResNet-56 teachers → AlexNet students on CIFAR-10 with the original's loss
    # (β = 1: the teacher's outputs at T only; student at T = 1).
    "resnet56-alexnet-cifar10": DistillationSetup(
        name="resnet56-alexnet-cifar10", title="ResNet-56 → AlexNet, CIFAR-10",
        teacher_recipe="resnet56-cifar10", student_recipe="alexnet-cifar10",
        dropout_teacher_recipe=None, distill_loss="original", beta=1.0,
        temperatures=ORIGINAL_TEMPERATURES),
    # Chandrasegaran, Tran, Zhao & Cheung (ICML 2022): a teacher trained with label smoothing distils
    # well at T = 1 but worse at larger T. The MNIST FCNs of Table 4 (the paper recipe): teachers
    # with α 0 and 0.1, each distilled at T 1, 2, 4 and 8 with the usual loss (cross-entropy to the
    # teacher's softened outputs, β = 1); no Table 4.
    "fcn-mnist-temperatures": DistillationSetup(
        name="fcn-mnist-temperatures", title="FCN 1200 → FCN 800, MNIST, both teachers at T 1–8",
        teacher_recipe="fcn-mnist", student_recipe="fcn-mnist-student", dropout_teacher_recipe=None,
        distill_loss="original", beta=1.0, alphas=(0.0, 0.1), temperatures=(1.0, 2.0, 4.0, 8.0),
        smoothed_temperatures=(1.0, 2.0, 4.0, 8.0)),
    # Figure 8 on this machine: the CPU-schedule recipes on the JPEG re-encode of CIFAR-10;
    # teachers α 0 and 0.1 (the mutual-information runs), students at T 1, 2 and 4 of the
    # hard-label teacher and at T = 1 of the smoothed one; AlexNet's own α 0 and 0.1 runs are M2.
    "resnet56-alexnet-cifar10-jpeg": DistillationSetup(
        name="resnet56-alexnet-cifar10-jpeg", title="ResNet-56 → AlexNet, CIFAR-10 (JPEG re-encode)",
        teacher_recipe="resnet56-cifar10-jpeg", student_recipe="alexnet-cifar10-jpeg",
        dropout_teacher_recipe=None, distill_loss="original", beta=1.0,
        alphas=(0.0, 0.1), temperatures=(1.0, 2.0, 4.0)),
}


def expand_grid(setup: DistillationSetup, seeds: Iterable[int], profile: str, *, table4: bool = True,
                figure: bool = True) -> list[RunConfig]:
    """Every distinct run of the study, teachers before their students, without duplicates.

    Per seed: |alphas| teachers (+1 for Table 4's α if missing, +1 dropout teacher),
    |alphas| baselines, and |temperatures| + |alphas| − 1 distilled students for M3 ∪ M4
    (M3 at T = 1 and M4 at α = 0 are the same run), +2 students for Table 4.
    """
    configs: list[RunConfig] = []

    def add(config: RunConfig) -> None:
        if config not in configs:
            configs.append(config)

    seeds = list(seeds)
    if not seeds:
        raise LsbookError("seeds must name at least one seed")
    for seed in seeds:
        if figure:
            for alpha in setup.alphas:                                     # M1
                add(setup.teacher(alpha, seed, profile))
            for alpha in setup.alphas:                                     # M2
                add(setup.baseline(alpha, seed, profile))
            for temperature in setup.temperatures:                         # M3
                add(setup.student(setup.teacher(0.0, seed, profile), temperature))
            for alpha in setup.alphas:                                     # M4 (and smoothed teachers at T > 1)
                for temperature in setup.smoothed_temperatures:
                    add(setup.student(setup.teacher(alpha, seed, profile), temperature))
        if table4 and setup.dropout_teacher_recipe is not None:
            for config in setup.table4_runs(seed, profile).values():
                add(config)
    # Teachers first, so that every student finds its teacher trained.
    return sorted(configs, key=lambda c: c.distillation is not None)


class StudyRecords:
    """The stored records (and γ) of a study's runs in one store; never trains."""

    def __init__(self, store: Store | None = None):
        self.store = store or Store()

    def record(self, config: RunConfig) -> Record | None:
        """The stored record of ``config``'s run, or None."""
        return find_run(config, self.store)

    def smoothness(self, student: RunConfig) -> float | None:
        """Stored γ (Eq. 3) of a distilled student's teacher at its temperature, or None."""
        if student.distillation is None:
            raise LsbookError(f"{student.label()} has no teacher, so no smoothness index")
        teacher = self.store.get(student.distillation.teacher_key)
        return None if teacher is None else find_smoothness(teacher, student.distillation.temperature, self.store)

