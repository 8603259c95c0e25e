"""Shared plumbing of the model zoo: turning build() keyword arguments into a checked config."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

from lsbook.errors import LsbookError
from lsbook.validation import check_choice, check_positive_int

ConfigT = TypeVar("ConfigT")

__all__ = ["config_from_kwargs", "check_fraction", "check_positive_float", "check_choice",
           "check_positive_int"]


def config_from_kwargs(config_cls: type[ConfigT], model_name: str, kwargs: dict[str, Any]) -> ConfigT:
    """Build ``config_cls(**kwargs)``, naming any keyword the model does not know."""
    allowed = {f.name for f in dataclasses.fields(config_cls)}  # type: ignore[arg-type]
    for key in kwargs:
        if key not in allowed:
            raise LsbookError(f"unknown parameter {key!r} for model {model_name!r}; "
                              f"allowed: {', '.join(sorted(allowed))}")
    return config_cls(**kwargs)


def check_fraction(value: float, name: str) -> float:
    """A probability such as a dropout rate: a real number in [0, 1)."""
    value = float(value)
    if math.isnan(value) or not (0.0 <= value < 1.0):
        raise LsbookError(f"{name} must be in [0, 1), got {value!r}")
    return value


def check_positive_float(value: float, name: str) -> float:
    """A scale such as an initialisation variance: a finite real number > 0."""
    value = float(value)
    if not (value > 0.0) or not math.isfinite(value):
        raise LsbookError(f"{name} must be a finite number > 0, got {value!r}")
    return value
