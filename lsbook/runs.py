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
