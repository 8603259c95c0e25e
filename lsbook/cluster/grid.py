"""The runs of a sweep: :class:`RunSpec` (what :func:`lsbook.train.ensure_run` needs, picklable for
SLURM tasks), plain grids (recipe × α × seed) and the distillation studies of Section 6."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsbook.errors import LsbookError
from lsbook.validation import check_choice

if TYPE_CHECKING:  # pragma: no cover
    from lsbook.experiments.distillation_grid import DistillationSetup


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: the arguments of :func:`lsbook.train.ensure_run` (picklable)."""

    recipe: str  # a name of lsbook.recipes.RECIPES
    profile: str  # smoke / cpu / paper
    alpha: float  # label-smoothing constant
    seed: int  # the run's seed
    overrides: tuple[tuple[str, Any], ...] = ()  # recipe fields changed after the profile (enter the key)
    teacher: "RunSpec | None" = None  # for a distillation student: its teacher's run
    distill_temperature: float | None = None  # the student's distillation temperature T
    distill_loss: str = "replication"  # the student's loss (lsbook.train.DISTILL_LOSSES)
    beta: float | None = None  # weight of the teacher term; None: the loss's default
    keep_model: bool = False  # store the final weights (teachers need them)
    smoothness: bool = False  # a student: also store its teacher's γ at T (seed Eq. 3) for the chapter

    def label(self) -> str:
        """A short human-readable name, e.g. ``fcn-fmnist [smoke] alpha=0.1 seed=0``."""
        text = f"{self.recipe} [{self.profile}] alpha={self.alpha:g} seed={self.seed}"
        if self.overrides:
            text += " " + " ".join(f"{k}={v}" for k, v in self.overrides)
        if self.teacher is not None:
            text += f" <- {self.teacher.recipe} alpha={self.teacher.alpha:g} at T={self.distill_temperature:g}"
        return text

    def _distill_kwargs(self, teacher) -> dict[str, Any]:
        if teacher is None:
            return {}
        return {"teacher": teacher, "distill_temperature": self.distill_temperature,
                "distill_loss": self.distill_loss, "beta": self.beta}

    def plan(self):
        """The engine's :class:`lsbook.train.RunPlan` (config and store key); trains nothing."""
        from lsbook.store import Record
        from lsbook.train import plan_run

        teacher = None
        if self.teacher is not None:  # only the teacher's key and dataset enter the student's plan
            teacher_plan = self.teacher.plan()
            teacher = Record(key=teacher_plan.key, config=teacher_plan.config, metrics={}, provenance={})
        return plan_run(self.recipe, self.alpha, self.seed, self.profile,
                        overrides=dict(self.overrides) or None, **self._distill_kwargs(teacher))

    def train(self, store_root: str | None = None, runs_root: str | None = None, *, device: str | None = None,
              progress: bool = True, allow_dirty: bool = False):
        """Train (or resume, or just read) this run into the store; returns its Record.

        A student needs its teacher in the store; the teacher's weights come from the store, its
        finished local checkpoint, or (lost) a deterministic retraining of the teacher.
        """
        from lsbook.store import Store
        from lsbook.train import ensure_run

        store = Store(store_root)
        teacher = None
        if self.teacher is not None:
            plan = self.teacher.plan()
            teacher = store.get(plan.key, plan.config)
            if teacher is None:
                raise LsbookError(f"teacher run {self.teacher.label()} is not in the store {store.root}; "
                                  "train the teachers first (a sweep does this for you)")
            mine = self.plan()
            if store.get(mine.key, mine.config) is None:
                from lsbook.experiments.smoothness import teacher_model
                from lsbook.runtime import pick_device

                teacher_model(teacher, store, pick_device(device), runs_root)  # retrained if its weights are lost
        record = ensure_run(self.recipe, self.alpha, self.seed, self.profile, store=store, device=device,
                            progress=progress, overrides=dict(self.overrides) or None, keep_model=self.keep_model,
                            runs_root=runs_root, allow_dirty=allow_dirty, **self._distill_kwargs(teacher))
        if self.smoothness and teacher is not None:
            from lsbook.experiments.smoothness import ensure_smoothness

            ensure_smoothness(teacher, [self.distill_temperature], store=store, device=device,
                              runs_root=runs_root)
        return record


def expand_grid(recipe: str, alphas: Sequence[float], seeds: Sequence[int], profile: str, *,
                overrides: dict[str, Any] | None = None, keep_model: bool = False) -> list[RunSpec]:
    """Every run of a plain sweep: recipe × α × seed."""
    if not alphas:
        raise LsbookError("alphas: give at least one α")
    if not seeds:
        raise LsbookError("seeds: give at least one seed")
    frozen = tuple(sorted((overrides or {}).items()))
    return [RunSpec(recipe, profile, float(a), int(s), frozen, keep_model=keep_model) for s in seeds for a in alphas]


def distillation_grid(setup: "str | DistillationSetup", alphas: Sequence[float] | None, seeds: Sequence[int],
                      profile: str, *, temperatures: Sequence[float] | None = None, table4: bool = True,
                      figure: bool = True, overrides: dict[str, Any] | None = None,
                      keep_teachers: bool = True) -> list[RunSpec]:
    """Every run of a distillation study of Section 6 (lsbook.experiments.distillation_grid:
    teachers with α, baselines, students at T, Table 4's pair), teachers first. ``setup`` is a name
    of its SETUPS or a set-up; ``alphas`` / ``temperatures`` reduce it (None: the set-up's own).
    Teachers keep their weights in the store if ``keep_teachers`` (tasks on other machines need
    them); students also store their teacher's γ at T, so the chapter finds everything stored."""
    from lsbook.experiments.distillation_grid import SETUPS, DistillationSetup
    from lsbook.experiments.distillation_grid import expand_grid as study_grid

    if not isinstance(setup, DistillationSetup):
        check_choice(setup, SETUPS, "distillation setup")
        setup = SETUPS[setup]
    setup = setup.reduced(alphas, temperatures)
    study = study_grid(setup, seeds, table4=table4, figure=figure)
    teachers = {s.teacher for s in study if s.teacher is not None}
    frozen = tuple(sorted((overrides or {}).items()))
    converted: dict[Any, RunSpec] = {}

    def convert(s) -> RunSpec:
        if s not in converted:
            teacher = convert(s.teacher) if s.teacher is not None else None
            distill = dict(distill_temperature=s.temperature, distill_loss=setup.distill_loss, beta=setup.beta,
                           smoothness=True) if teacher is not None else {}
            converted[s] = RunSpec(s.recipe, profile, float(s.alpha), int(s.seed), frozen, teacher=teacher,
                                   keep_model=keep_teachers and s in teachers, **distill)
        return converted[s]

    return [convert(s) for s in study]
