"""Argument checks shared by the whole package: each raises ValueError naming the parameter."""

from __future__ import annotations

import math

from lsbook.errors import LsbookError


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Label-smoothing constant: a real number in [0, 1)."""
    alpha = _number(alpha, name, "a number in [0, 1)")
    if not (0.0 <= alpha < 1.0) or math.isnan(alpha):
        raise LsbookError(f"{name} must be in [0, 1), got {alpha!r}")
    return alpha


def check_temperature(temperature: float, name: str = "temperature") -> float:
    """Softmax temperature: a finite real number > 0."""
    temperature = _number(temperature, name, "a finite number > 0")
    if not (temperature > 0.0) or not math.isfinite(temperature):
        raise LsbookError(f"{name} must be a finite number > 0, got {temperature!r}")
    return temperature


def check_positive_int(value: int, name: str, minimum: int = 1) -> int:
    """An integer >= minimum (epochs, bins, batch sizes)."""
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise LsbookError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(value: str, allowed, name: str) -> str:
    """One of a fixed set of names (recipes, datasets, models, profiles)."""
    allowed = sorted(allowed)
    if value not in allowed:
        raise LsbookError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")
    return value


def _number(value, name: str, allowed: str) -> float:
    """``value`` as a float; LsbookError naming the parameter and what is allowed if it is not one."""
    if isinstance(value, bool):
        raise LsbookError(f"{name} must be {allowed}, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LsbookError(f"{name} must be {allowed}, got {value!r}") from None
