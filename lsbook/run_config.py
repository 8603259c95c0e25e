"""What one run is, before it runs: a frozen :class:`RunConfig`, validated once, and its store key.

Every run of the package — a plain classifier, a distilled student, a run with a probe, a
Transformer — is one ``RunConfig``: the recipe after its profile (:mod:`lsbook.profiles`), α, seed,
and where they apply the distillation from a teacher, the name of a probe that watches training, and
the translation settings. ``RunConfig.of(...)`` builds one from names; the constructor checks every
field, so a config that exists is a valid one. :meth:`RunConfig.as_dict` is what the results store
keeps as ``config.json`` and hashes into the key (:func:`lsbook.store.config_key`); its fields and
their spelling are those of every committed record, so the keys of stored runs do not move
(``tests/test_run_keys.py``).

α reaches the loss in two hops: ``RunConfig.alpha`` → :func:`lsbook.optimisation.make_objective`.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, field
from typing import Any

from lsbook import ENGINE_VERSION
from lsbook.data.registry import get_dataset
from lsbook.errors import LsbookError
from lsbook.profiles import PROFILES, resolve, settings_for
from lsbook.recipes import RECIPES, Recipe, json_ready
from lsbook.store import Record, config_key
from lsbook.translation.settings import TranslationSettings
from lsbook.validation import check_alpha, check_choice, check_temperature

DISTILL_LOSSES = ("replication", "original")
DEFAULT_BETA = {"replication": 0.6,  # seed 6.1: (1-β)·CE + β·½·MSE to the teacher's logits, β = 0.6
                "original": 1.0}     # orig. CIFAR-10 students: the teacher's softened outputs only


@dataclass(frozen=True)
class Distillation:
    """How a student learns from a stored teacher's logits (seed Section 6); it enters the key."""

    teacher_key: str            # the store key of the teacher's run
    temperature: float = 1.0    # T: teacher and student logits are divided by it in the teacher term
    loss: str = "replication"   # "replication": (1-β)·CE + β·½·MSE(z_s/T, z_t/T); "original": (1-β)·CE + β·H(p_t^T, p_s^T)
    beta: float = 0.6           # weight β of the teacher term, in [0, 1]
    teacher_label: str = field(default="", compare=False)  # e.g. "fcn-mnist alpha=0.3", for people; not in the key

    def __post_init__(self) -> None:
        if not isinstance(self.teacher_key, str) or not self.teacher_key:
            raise LsbookError(f"teacher_key must be a run key, got {self.teacher_key!r}")
        check_choice(self.loss, DISTILL_LOSSES, "distill_loss")
        object.__setattr__(self, "temperature", check_temperature(self.temperature, "distill_temperature"))
        beta = float(self.beta)
        if not 0.0 <= beta <= 1.0:
            raise LsbookError(f"beta must be in [0, 1], got {self.beta!r}")
        object.__setattr__(self, "beta", beta)

    def to_dict(self) -> dict[str, Any]:
        """The ``distill`` entry of a student's config (its teacher is ``teacher_key`` beside it)."""
        return {"loss": self.loss, "temperature": self.temperature, "beta": self.beta}


@dataclass(frozen=True, eq=False)
class RunConfig:
    """One run: every field enters its store key; constructing one validates it. Two configs are
    equal when their keys are (so they serve as dict keys and set members)."""

    recipe: Recipe                              # the resolved recipe: profile (and any overrides) applied
    profile: str                                # smoke / cpu / paper: the profile it was resolved at
    alpha: float                                # label-smoothing constant α in [0, 1)
    seed: int                                   # seeds initialisation, dropout, shuffling, augmentation
    distillation: Distillation | None = None    # a student: its teacher and the distillation loss
    probe: str | None = None                    # a probe's name (e.g. the MI estimate during training)
    translation: TranslationSettings | None = None  # Transformer runs only: vocabulary, decoding, T grids

    def __post_init__(self) -> None:
        check_choice(self.profile, PROFILES, "profile")
        if not isinstance(self.recipe, Recipe):
            raise LsbookError(f"recipe must be a resolved Recipe, got {type(self.recipe).__name__}")
        self.recipe.validate()
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise LsbookError(f"seed must be an integer >= 0, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        if self.probe is not None and (not isinstance(self.probe, str) or not self.probe):
            raise LsbookError(f"probe must be a non-empty name or None, got {self.probe!r}")
        if self.distillation is not None and self.alpha != 0.0:
            raise LsbookError("alpha must be 0 for a distilled student: the distillation loss "
                              "replaces the label-smoothed targets")
        if self.recipe.model == "transformer":
            self._check_translation()
        elif self.translation is not None:
            raise LsbookError(f"translation settings apply to Transformer recipes, not to {self.recipe.name!r}")

    def _check_translation(self) -> None:
        recipe = self.recipe
        if self.distillation is not None or self.probe is not None:
            raise LsbookError("teachers and probes apply to image classifiers, not to the Transformer")
        if self.translation is None:
            raise LsbookError(f"recipe {recipe.name!r} needs translation settings (RunConfig.of gives the profile's)")
        self.translation.validate()
        if recipe.total_steps is not None:
            raise LsbookError(f"recipe {recipe.name!r}: translation runs train whole epochs (total_steps None)")
        if recipe.schedule != "constant" or recipe.lr_multipliers or recipe.weight_decay_on is not None:
            raise LsbookError(f"recipe {recipe.name!r}: translation runs train every parameter at one constant "
                              f"learning rate (schedule 'constant', no lr_multipliers or weight_decay_on)")

    @classmethod
    def of(cls, recipe: str | Recipe, alpha: float, seed: int, profile: str, *,
           overrides: dict[str, Any] | None = None, teacher: "RunConfig | Record | None" = None,
           distill_temperature: float | None = None, distill_loss: str = "replication", beta: float | None = None,
           probe: str | None = None, translation: TranslationSettings | None = None) -> "RunConfig":
        """The run of ``recipe`` (a name of RECIPES, resolved at ``profile``, or a Recipe used as
        given) with ``overrides`` on top; a student of ``teacher`` (a config or a stored record) at
        ``distill_temperature`` with ``distill_loss`` and ``beta`` (None: the loss's default)."""
        check_choice(profile, PROFILES, "profile")
        resolved = recipe if isinstance(recipe, Recipe) else resolve(str(recipe), profile)  # checked in __post_init__
        if overrides:
            resolved = resolved.replace(**overrides)
        distillation = None
        if teacher is not None:
            check_choice(distill_loss, DISTILL_LOSSES, "distill_loss")
            teacher_dataset = teacher.dataset if isinstance(teacher, RunConfig) else teacher.config.get("dataset")
            if teacher_dataset != _dataset(resolved).name:
                raise LsbookError(f"teacher {teacher.key} was trained on {teacher_dataset!r}, "
                                  f"the student on {_dataset(resolved).name!r}")
            named = teacher.as_dict() if isinstance(teacher, RunConfig) else teacher.config
            distillation = Distillation(teacher.key, 1.0 if distill_temperature is None else distill_temperature,
                                        distill_loss, DEFAULT_BETA[distill_loss] if beta is None else beta,
                                        f"{named.get('recipe')} alpha={named.get('alpha', 0):g}")
        elif distill_temperature is not None or beta is not None:
            raise LsbookError("distill_temperature and beta need a teacher")
        if resolved.model == "transformer" and translation is None:
            translation = settings_for(profile, resolved)
        return cls(resolved, profile, alpha, seed, distillation, probe, translation)

    @property
    def dataset(self) -> str:
        """The registered name of the dataset the run trains on."""
        return self.recipe.dataset if self.translation is not None else _dataset(self.recipe).name

    @property
    def num_classes(self) -> int:
        """Outputs of the network's head: the dataset's classes, or the target vocabulary."""
        return self.translation.vocab_size if self.translation is not None else _dataset(self.recipe).num_classes

    def as_dict(self) -> dict[str, Any]:
        """The configuration as the store keeps it (``config.json``): its hash is the key."""
        config = {
            "recipe": self.recipe.name,
            "profile": self.profile,
            "alpha": self.alpha,
            "seed": self.seed,
            "engine_version": ENGINE_VERSION,
            "dataset": self.dataset,
            "model": self.recipe.model,
            "num_classes": self.num_classes,
            "teacher_key": None if self.distillation is None else self.distillation.teacher_key,
            "distill": None if self.distillation is None else self.distillation.to_dict(),
            "step_callback": self.probe,
            "resolved_recipe": self.recipe.to_dict(),
        }
        if self.translation is not None:
            config["translation"] = self.translation.to_dict()
        return json_ready(config)

    @functools.cached_property
    def key(self) -> str:
        """The run's store key: a hash of :meth:`as_dict`."""
        return config_key(self.as_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunConfig) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def changed_fields(self) -> dict[str, Any]:
        """The recipe fields that differ from the named recipe at this profile (``--epochs``, ...)."""
        if self.recipe.name not in RECIPES:
            return {}
        base = resolve(self.recipe.name, self.profile).to_dict()
        return {name: value for name, value in self.recipe.to_dict().items() if base.get(name) != value}

    def label(self) -> str:
        """A short name for people, e.g. ``fcn-fmnist [cpu] alpha=0.1 seed=0 epochs=1``."""
        text = f"{self.recipe.name} [{self.profile}] alpha={self.alpha:g} seed={self.seed}"
        text += "".join(f" {name}={value}" for name, value in self.changed_fields().items())
        if self.distillation is not None:
            teacher = self.distillation.teacher_label or f"teacher {self.distillation.teacher_key}"
            text += f" <- {teacher} at T={self.distillation.temperature:g}"
        if self.probe is not None:
            text += " with probe"
        return text


def _dataset(recipe: Recipe):
    return get_dataset(recipe.dataset)
