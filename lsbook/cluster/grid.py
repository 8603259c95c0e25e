"""The runs of a sweep: :class:`GridRun` (a run configuration and what the sweep stores with it,
picklable for SLURM tasks), plain grids (recipe × α × seed) and the distillation studies of Section 6."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsbook.errors import LsbookError
from lsbook.run_config import RunConfig
from lsbook.validation import check_choice

if TYPE_CHECKING:  # pragma: no cover
    from lsbook.experiments.distillation_grid import DistillationSetup
    from lsbook.store import Record, Store


@dataclass(frozen=True)
class GridRun:
    """One run of a sweep: its configuration, and what the sweep keeps beside its record."""

    config: RunConfig           # what the run is (its key)
    keep_model: bool = False    # store the final weights (teachers whose students train elsewhere)
    store_gamma: bool = False   # a student: store its teacher's γ at the student's temperature (seed Eq. 3)

    @property
    def key(self) -> str:
        return self.config.key

    @property
    def teacher_key(self) -> str | None:
        return None if self.config.distillation is None else self.config.distillation.teacher_key

    def label(self) -> str:
        """A short human-readable name, e.g. ``fcn-fmnist [smoke] alpha=0.1 seed=0``."""
        return self.config.label()

    def is_stored(self, store: "Store") -> bool:
        """Whether ``store`` holds the run as the sweep wants it: with weights if it keeps them,
        and for a student with γ, its teacher's γ at the student's temperature."""
        from lsbook.train import find_run

        record = find_run(self.config, store)
        if record is None or (self.keep_model and not record.has_model):
            return False
        if self.store_gamma and self.teacher_key is not None:
            from lsbook.experiments.smoothness import find_smoothness

            teacher = store.get(self.teacher_key)
            return teacher is not None and find_smoothness(
                teacher, self.config.distillation.temperature, store) is not None
        return True

    def train(self, store_root: str | None = None, runs_root: str | None = None, *, device: str | None = None,
              progress: bool = True, allow_dirty: bool = False) -> "Record":
        """Train (or resume, or just read) this run into the store; returns its Record.

        A student needs its teacher in the store; the teacher's weights come from the store, its
        finished local checkpoint, or (lost) a deterministic retraining of the teacher.
        """
        from lsbook.runs import ensure
        from lsbook.store import Store
        from lsbook.train import find_run

        store = Store(store_root)
        teacher = None
        if self.teacher_key is not None:
            teacher = store.get(self.teacher_key)
            if teacher is None:
                raise LsbookError(f"teacher run {self.teacher_key} is not in the store {store.root}; "
                                  "train the teachers first (a sweep does this for you)")
            if find_run(self.config, store) is None:
                from lsbook.experiments.smoothness import teacher_model
                from lsbook.runtime import pick_device

                teacher_model(teacher, store, pick_device(device), runs_root)  # retrained if its weights are lost
        record = ensure(self.config, store=store, device=device, progress=progress, keep_model=self.keep_model,
                            runs_root=runs_root, allow_dirty=allow_dirty)
        if self.store_gamma and teacher is not None:
            from lsbook.experiments.smoothness import ensure_smoothness

            ensure_smoothness(teacher, [self.config.distillation.temperature], store=store, device=device,
                              runs_root=runs_root)
        return record


def expand_grid(recipe: str, alphas: Sequence[float], seeds: Sequence[int], profile: str, *,
                overrides: dict[str, Any] | None = None, keep_model: bool = False) -> list[GridRun]:
    """Every run of a plain sweep: recipe × α × seed."""
    if not alphas:
        raise LsbookError("alphas: give at least one α")
    if not seeds:
        raise LsbookError("seeds: give at least one seed")
    from lsbook.runs import run_config

    return [GridRun(run_config(recipe, a, s, profile, overrides=overrides), keep_model=keep_model)
            for s in seeds for a in alphas]


def distillation_grid(setup: "str | DistillationSetup", alphas: Sequence[float] | None, seeds: Sequence[int],
                      profile: str, *, temperatures: Sequence[float] | None = None, table4: bool = True,
                      figure: bool = True, overrides: dict[str, Any] | None = None,
                      keep_teachers: bool = True) -> list[GridRun]:
    """Every run of a distillation study of Section 6 (lsbook.experiments.distillation_grid:
    teachers with α, baselines, students at T, Table 4's pair), teachers first. ``setup`` is a name
    of its SETUPS or a set-up; ``alphas`` / ``temperatures`` reduce it (None: the set-up's own).
    Teachers keep their weights in the store if ``keep_teachers`` (tasks on other machines need
    them); students also store their teacher's γ at T, so the chapter finds everything stored."""
    from lsbook.experiments.distillation_grid import SETUPS, DistillationSetup, expand_grid as study_grid

    if not isinstance(setup, DistillationSetup):
        check_choice(setup, SETUPS, "distillation setup")
        setup = SETUPS[setup]
    configs = study_grid(setup.reduced(alphas, temperatures, overrides), seeds, profile, table4=table4, figure=figure)
    teachers = {c.distillation.teacher_key for c in configs if c.distillation is not None}
    return [GridRun(c, keep_model=keep_teachers and c.key in teachers, store_gamma=c.distillation is not None)
            for c in configs]
