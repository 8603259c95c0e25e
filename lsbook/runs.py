"""Which run stands for a recipe at (α, seed, profile), and training any run with what it needs.

A recipe's runs are plain, except where a mutual-information set-up measures inside them
(:attr:`lsbook.experiments.mutual_info.MISetup.inside_plain_runs`): the original measured its curve
during the very ResNet-56 runs whose accuracy and calibration it reports, and so does this book on
the CIFAR-10 JPEG re-encode. The run of such a recipe at one of the set-up's α carries the probe in
its key; :func:`run_config` gives that run to every reader (ledger, chapters, distillation teachers)
and every command that trains, and :func:`ensure` trains it with the probe's step callback.
"""

from __future__ import annotations

from typing import Any

from lsbook import train
from lsbook.data.registry import get_dataset
from lsbook.data import roots
from lsbook.profiles import resolve as resolve_recipe
from lsbook.recipes import ARCHITECTURE_TITLES
from lsbook.experiments.mutual_info import MI_SETUPS, MISetup, ensure_probed
from lsbook.run_config import RunConfig
from lsbook.store import Record


def probe_inside(recipe: str, alpha: float) -> MISetup | None:
    """The MI set-up whose probe rides inside ``recipe``'s own runs at α, or None."""
    for setup in MI_SETUPS.values():
        if setup.inside_plain_runs and setup.recipe == recipe and float(alpha) in setup.alphas:
            return setup
    return None


def run_config(recipe: str, alpha: float, seed: int, profile: str, *,
               overrides: dict[str, Any] | None = None) -> RunConfig:
    """The run of ``recipe`` at α, seed and profile: plain, or with the probe that rides inside it.
    A run with recipe ``overrides`` (another length, say) is always plain."""
    setup = None if overrides else probe_inside(recipe, alpha)
    if setup is not None:
        return setup.config(alpha, seed, profile)
    return RunConfig.of(recipe, alpha, seed, profile, overrides=overrides)


def probe_setup(config: RunConfig) -> MISetup:
    """The MI set-up whose probe ``config`` names; LookupError if none does."""
    for setup in MI_SETUPS.values():
        if setup.recipe == config.recipe.name and setup.callback_name(config.profile) == config.probe:
            return setup
    raise LookupError(f"no mutual-information set-up of {config.recipe.name!r} has the probe {config.probe!r}")


def ensure(config: RunConfig, **kwargs: Any) -> Record:
    """:func:`lsbook.train.ensure_run`, with the probe's step callback where ``config`` names a probe
    (``kwargs``: ensure_run's keywords)."""
    if config.probe is None:
        return train.ensure_run(config, **kwargs)
    return ensure_probed(probe_setup(config), config, **kwargs)


# --- Why a run is missing: the data is not reachable here, the run needs GPU time, or it is simply
# not trained yet. The introduction, the chapters and the claim ledger all say it this way.

# Models whose `paper`-profile runs take GPU days (hours per run even on a GPU); on a 2-core CPU
# they are out of reach. The FCNs train at the paper profile on a CPU in about half an hour.
GPU_MODELS = frozenset({"alexnet", "resnet56", "resnet34", "resnet50", "transformer"})
# Recipes of those models sized for this CPU at every profile (lsbook.recipes says how).
CPU_SIZED_RECIPES = frozenset({"transformer-multi30k-small", "resnet56-cifar10-jpeg", "alexnet-cifar10-jpeg"})


def why_not_run(recipe: str, profile: str, command: str | None = None) -> str:
    """Why the store holds no run of ``recipe`` at ``profile`` (one of the three reasons above);
    ``command``: what trains the missing runs (default: a sweep of α 0 and 0.1 over three seeds)."""
    resolved = resolve_recipe(recipe, profile)
    info = get_dataset(resolved.dataset)
    if not resolved.synthetic_data and roots.locate(info.name) is None:
        return f"data not reachable on this machine: {info.title} is not here (`{info.fetch_command}`)"
    if resolved.synthetic_data:
        return (f"not trained yet: at the {profile} profile this run trains on synthetic stand-in images "
                f"for {info.title} (`python -m lsbook sweep {recipe} --alphas 0 0.1 --seeds 0 --profile {profile}`)")
    if profile == "paper" and resolved.model in GPU_MODELS and recipe not in CPU_SIZED_RECIPES:
        return (f"GPU time: {info.title} is here, but {ARCHITECTURE_TITLES.get(resolved.model, resolved.model)} "
                "at the paper profile needs a GPU")
    command = command or f"python -m lsbook sweep {recipe} --alphas 0 0.1 --seeds 0 1 2 --profile {profile}"
    return f"not trained yet: {info.title} is here and the run fits a CPU (`{command}`)"
