"""Shared plumbing of the model zoo: turning build() keyword arguments into a checked config."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, TypeVar

import torch
from torch import nn

from lsbook.errors import LsbookError
from lsbook.validation import check_choice, check_positive_int

ConfigT = TypeVar("ConfigT")

__all__ = ["config_from_kwargs", "check_fraction", "check_positive_float", "check_choice",
           "check_positive_int", "CONV_LAYOUTS", "conv_layout", "to_conv_layout", "layout_name"]

# Memory layouts of a network with 2-D convolutions. channels_last (NHWC) lets oneDNN run the
# convolutions without reordering: 1.2x faster per ResNet-56 training step on this project's CPU
# (bench/bench_conv_epoch.py); AlexNet is about equal in both. Weights in channels_last make every
# convolution produce channels_last outputs, whatever layout its input has.
CONV_LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
CONV_LAYOUT_ENV = "LSBOOK_CONV_LAYOUT"  # "contiguous" trains in PyTorch's default layout (the bench's baseline)


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


def conv_layout() -> str:
    """The memory layout convolutional networks are built in: ``$LSBOOK_CONV_LAYOUT``, else channels_last."""
    chosen = os.environ.get(CONV_LAYOUT_ENV) or "channels_last"
    check_choice(chosen, CONV_LAYOUTS, f"${CONV_LAYOUT_ENV}")
    return chosen


def to_conv_layout(model: nn.Module, layout: str | None = None) -> nn.Module:
    """``model`` in ``layout`` (default :func:`conv_layout`) if it has 2-D convolutions; others unchanged."""
    if any(isinstance(module, nn.Conv2d) for module in model.modules()):
        model = model.to(memory_format=CONV_LAYOUTS[layout or conv_layout()])
    return model


def layout_name(model: nn.Module) -> str:
    """"channels_last" or "contiguous": the layout of the model's 4-D weights ("contiguous" if it has none)."""
    for parameter in model.parameters():
        if parameter.dim() == 4 and not parameter.is_contiguous() and \
                parameter.is_contiguous(memory_format=torch.channels_last):
            return "channels_last"
    return "contiguous"
