"""The model zoo: ``build(name, num_classes, **kw)`` for every architecture of the replication.

Every classifier exposes ``features(x)`` (penultimate activations exactly as the last layer sees
them) and ``head`` (an ``nn.Linear`` whose rows are the class templates w_k), with
``forward(x) == head(features(x))``. The Transformer exposes ``encode``/``decode`` and ``head``.
"""

from __future__ import annotations

import importlib

from torch import nn

from lsbook.models.common import config_from_kwargs, to_conv_layout
from lsbook.validation import check_choice

# name -> (module, config class, model class); modules are imported on first use so that
# ``import lsbook.models`` stays cheap (torchvision is only needed for resnet34/resnet50).
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "fcn": ("lsbook.models.fcn", "FCNConfig", "FCN"),
    "alexnet": ("lsbook.models.alexnet", "AlexNetConfig", "AlexNet"),
    "resnet56": ("lsbook.models.resnet_cifar", "ResNet56Config", "PreActResNet"),
    "resnet34": ("lsbook.models.resnet_imagenet", "ResNet34Config", "ImageNetResNet"),
    "resnet50": ("lsbook.models.resnet_imagenet", "ResNet50Config", "ImageNetResNet"),
    "transformer": ("lsbook.models.transformer", "TransformerConfig", "Seq2SeqTransformer"),
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def config_class(name: str) -> type:
    """The config dataclass of model ``name`` (its fields are the keywords build() accepts)."""
    check_choice(name, MODEL_NAMES, "model")
    module_name, config_name, _ = _REGISTRY[name]
    return getattr(importlib.import_module(module_name), config_name)


def build(name: str, num_classes: int, **kw) -> nn.Module:
    """A freshly initialised model ``name`` with ``num_classes`` outputs (target vocabulary for
    the Transformer); ``kw`` are the fields of its config dataclass. Bad input -> LsbookError.
    Networks with convolutions come in the fastest memory layout here (lsbook.models.common.conv_layout)."""
    check_choice(name, MODEL_NAMES, "model")
    module_name, config_name, model_name = _REGISTRY[name]
    module = importlib.import_module(module_name)
    config = config_from_kwargs(getattr(module, config_name), name, {"num_classes": num_classes, **kw})
    return to_conv_layout(getattr(module, model_name)(config))


__all__ = ["build", "config_class", "MODEL_NAMES"]
