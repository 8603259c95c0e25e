"""Defaults of the distillation and mutual-information chapters' parameters, per profile.

``smoke`` checks the code in seconds; ``cpu`` is the reduced grid whose runs are committed in
``results/`` (trained on a 2-core CPU in about 20 minutes); ``paper`` is the full grid of the
replication (6 α × 6 T, Table 4) and the original's set-ups, with five seeds as the original.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsbook.errors import LsbookError
from lsbook.experiments.distillation_grid import SETUPS, DistillationSetup
from lsbook.experiments.mutual_info import MI_SETUPS, MISetup
from lsbook.pages import resolve_profile
from lsbook.validation import check_choice

DISTILLATION_DEFAULTS = {
    # profile: (setups, alphas (None: the setup's), temperatures (None: the setup's), seeds)
    "smoke": (("fcn-fmnist",), (0.0, 0.6), (1.0, 4.0), (0,)),
    "cpu": (("fcn-fmnist",), (0.0, 0.3, 0.6), (1.0, 4.0, 16.0), (0,)),
    "paper": (("fcn-mnist", "resnet56-alexnet-cifar10"), None, None, (0, 1, 2, 3, 4)),
}
MI_DEFAULTS = {
    # profile: (setups, seeds); α are the setup's (0 and 0.1, as the original)
    "smoke": (("fcn-fmnist",), (0,)),
    "cpu": (("fcn-fmnist",), (0,)),
    "paper": (("resnet56-cifar10", "fcn-fmnist"), (0, 1, 2)),
}


@dataclass
class DistillationSettings:
    """The resolved parameters of the distillation chapter."""

    profile: str
    setups: list[DistillationSetup]  # each reduced to the chosen α and T
    seeds: list[int]


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _set_data_root(data_root: str | None) -> None:
    import os

    if data_root:
        os.environ["LSBOOK_DATA"] = str(data_root)


def distillation_settings(profile=None, setups=None, alphas=None, temperatures=None, seeds=None,
                          data_root=None) -> DistillationSettings:
    """Resolve the chapter's parameters (None -> the profile's default)."""
    profile = resolve_profile(profile)
    _set_data_root(data_root)
    default_setups, default_alphas, default_temperatures, default_seeds = DISTILLATION_DEFAULTS[profile]
    names = [check_choice(n, SETUPS, "distillation setup") for n in _as_list(setups or default_setups)]
    alphas = default_alphas if alphas is None else _as_list(alphas)
    temperatures = default_temperatures if temperatures is None else _as_list(temperatures)
    seeds = [int(s) for s in (default_seeds if seeds is None else _as_list(seeds))]
    if not names or not seeds:
        raise LsbookError("setups and seeds must each name at least one value")
    return DistillationSettings(profile, [SETUPS[n].reduced(alphas, temperatures) for n in names], seeds)


@dataclass
class MISettings:
    """The resolved parameters of the mutual-information chapter."""

    profile: str
    setups: list[MISetup]
    alphas: list[float] | None   # None: each setup's own (0 and 0.1)
    seeds: list[int]


def mutual_information_settings(profile=None, setups=None, alphas=None, seeds=None,
                                data_root=None) -> MISettings:
    """Resolve the chapter's parameters (None -> the profile's default)."""
    from lsbook.validation import check_alpha

    profile = resolve_profile(profile)
    _set_data_root(data_root)
    default_setups, default_seeds = MI_DEFAULTS[profile]
    names = [check_choice(n, MI_SETUPS, "mutual-information setup") for n in _as_list(setups or default_setups)]
    alphas = None if alphas is None else [check_alpha(a) for a in _as_list(alphas)]
    seeds = [int(s) for s in (default_seeds if seeds is None else _as_list(seeds))]
    if not names or not seeds:
        raise LsbookError("setups and seeds must each name at least one value")
    return MISettings(profile, [MI_SETUPS[n] for n in names], alphas, seeds)


def has_data(recipe) -> bool:
    """Whether a run of ``recipe`` can train here: synthetic stand-in data (smoke), or the whole
    dataset found by lsbook.data (a file-existence check, nothing is read)."""
    from lsbook.data.roots import locate

    return bool(recipe.synthetic_data) or locate(recipe.dataset) is not None


def training_length(recipe_name: str, profile: str) -> str:
    """How long ``recipe_name`` trains at ``profile``, in words, e.g. "3 epochs on the full
    training set" (for the chapters' prose, so that it follows the profile's definition)."""
    from lsbook.recipes import resolve

    recipe = resolve(recipe_name, profile)
    data = ("the full training set" if recipe.train_subset is None
            else f"{recipe.train_subset:,} training examples")
    return f"{recipe.epochs} epoch{'s' if recipe.epochs != 1 else ''} on {data}"
