"""The optimisation side of a recipe: per-layer parameter groups, the optimiser and the objective
(label-smoothed cross-entropy or a distillation loss). The learning-rate schedule is
:mod:`lsbook.schedule`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from lsbook.recipes import Recipe

if TYPE_CHECKING:  # pragma: no cover
    from lsbook.run_config import Distillation


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def parameter_groups(model: nn.Module, recipe: Recipe) -> list[dict[str, Any]]:
    """Parameters grouped by (lr multiplier, weight decay) per the recipe's layer rules."""
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        prefixes = [p for p in recipe.lr_multipliers if _matches(name, p)]
        multiplier = recipe.lr_multipliers[max(prefixes, key=len)] if prefixes else 1.0
        decayed = recipe.weight_decay_on is None or any(_matches(name, p) for p in recipe.weight_decay_on)
        groups.setdefault((multiplier, recipe.weight_decay if decayed else 0.0), []).append(parameter)
    return [{"params": params, "lr_multiplier": mult, "weight_decay": wd, "lr": recipe.lr * mult}
            for (mult, wd), params in groups.items()]


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (momentum, dampening, Nesterov) or Adam over the recipe's parameter groups."""
    groups = parameter_groups(model, recipe)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, betas=recipe.adam_betas, eps=recipe.adam_eps)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, dampening=recipe.dampening,
                           nesterov=recipe.nesterov)


def make_objective(recipe: Recipe, alpha: float, distill: "Distillation | None",
                   teacher_model: nn.Module | None) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """loss(logits, labels, inputs) × the recipe's loss multiplier."""
    from lsbook import losses

    multiplier = recipe.loss_multiplier
    if distill is None:
        return lambda logits, labels, _: losses.label_smoothing_cross_entropy(logits, labels, alpha) * multiplier
    temperature, beta = distill.temperature, distill.beta

    def distillation(logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher_model(inputs)  # [B, K], the same augmented batch
        if distill.loss == "replication":
            loss = losses.distillation_loss_replication(logits, teacher_logits / temperature, labels, beta=beta)
        else:
            loss = losses.distillation_loss_original(logits, teacher_logits, temperature, beta=beta, labels=labels)
        return loss * multiplier

    return distillation

