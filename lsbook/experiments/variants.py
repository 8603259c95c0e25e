"""Recipe variants of the distillation study that lsbook.recipes does not name.

lsbook.recipes holds the MNIST pair of the seed's Section 6.1 (``fcn-mnist-dropout``, the
1200-unit teacher with dropout 0.5, and ``fcn-mnist-student``, 800 units, no dropout, no
augmentation). MNIST is not on this machine, so the CPU study runs the same pair on
Fashion-MNIST: the variants below are those recipes with only the dataset changed, and the
profile of their MNIST original applied (same epochs, same subset sizes).
"""

from __future__ import annotations

from typing import Any

from lsbook.errors import LsbookError
from lsbook.profiles import PROFILES, apply_profile
from lsbook.recipes import RECIPES, Recipe, resolve
from lsbook.validation import check_choice

# name -> (recipe of lsbook.recipes it is derived from, fields changed)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # Fashion-MNIST stand-ins for the MNIST teacher with dropout and the student (seed 6.1).
    "fcn-fmnist-dropout": ("fcn-mnist-dropout", {"dataset": "fashion-mnist"}),
    "fcn-fmnist-student": ("fcn-mnist-student", {"dataset": "fashion-mnist"}),
}


def recipe_names() -> tuple[str, ...]:
    """Every recipe name a distillation setup may use: lsbook.recipes' and the variants."""
    return tuple(RECIPES) + tuple(VARIANTS)


def resolve_recipe(name: str, profile: str) -> Recipe:
    """The recipe ``name`` (of RECIPES or VARIANTS) with ``profile`` applied.

    A variant is profiled as the recipe it derives from (apply_profile looks the profile's
    changes up by name), then renamed, so its run key names the variant.
    """
    check_choice(profile, PROFILES, "profile")
    if name in RECIPES:
        return resolve(name, profile)
    if name not in VARIANTS:
        raise LsbookError(f"unknown recipe {name!r}; allowed: {', '.join(sorted(recipe_names()))}")
    base, changes = VARIANTS[name]
    derived = RECIPES[base].replace(**changes)          # still named like its base
    return apply_profile(derived, profile).replace(name=name).validate()
