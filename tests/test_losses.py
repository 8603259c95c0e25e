"""Label smoothing and distillation losses: hand-computed values and torch's built-in."""

import math

import pytest
import torch
import torch.nn.functional as F

from lsbook.losses import (
    distillation_loss_original,
    distillation_loss_replication,
    label_smoothing_cross_entropy,
    smooth_targets,
)


def test_smooth_targets_by_hand():
    targets = smooth_targets(torch.tensor([1]), num_classes=4, alpha=0.2)
    # y(1-α) + α/K = [0, 0.8, 0, 0] + 0.05
    assert torch.allclose(targets, torch.tensor([[0.05, 0.85, 0.05, 0.05]]))
    assert torch.allclose(targets.sum(dim=1), torch.ones(1))


def test_alpha_zero_is_one_hot():
    labels = torch.tensor([0, 2, 1])
    assert torch.equal(smooth_targets(labels, 3, 0.0), F.one_hot(labels, 3).float())


@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.1, 0.3, 0.75])
def test_matches_torch_builtin(alpha):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 10, generator=generator) * 3
    labels = torch.randint(0, 10, (64,), generator=generator)
    ours = label_smoothing_cross_entropy(logits, labels, alpha)
    theirs = F.cross_entropy(logits, labels, label_smoothing=alpha)
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_cross_entropy_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p = [1/4, 3/4]
    loss = label_smoothing_cross_entropy(logits, torch.tensor([1]), alpha=0.5)
    # targets [0.25, 0.75]: -(0.25 log 0.25 + 0.75 log 0.75)
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_ignore_index_matches_torch_and_excludes_padding():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 7, 12, generator=generator)  # (B, T, V)
    labels = torch.randint(1, 12, (4, 7), generator=generator)
    labels[:, 5:] = 0  # padding
    ours = label_smoothing_cross_entropy(logits, labels, 0.1, ignore_index=0)
    theirs = F.cross_entropy(logits.reshape(-1, 12), labels.reshape(-1), label_smoothing=0.1,
                             ignore_index=0)
    assert torch.allclose(ours, theirs, atol=1e-6)
    changed = logits.clone()
    changed[:, 5:] += 100.0  # whatever the model says at padded positions does not matter
    assert torch.allclose(label_smoothing_cross_entropy(changed, labels, 0.1, ignore_index=0), ours)


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be in \\[0, 1\\)"):
        smooth_targets(torch.tensor([0]), 3, alpha)
    with pytest.raises(ValueError, match="alpha"):
        label_smoothing_cross_entropy(torch.zeros(1, 3), torch.tensor([0]), alpha)


def test_bad_labels_and_shapes():
    with pytest.raises(ValueError, match="labels must lie in \\[0, 3\\)"):
        smooth_targets(torch.tensor([3]), 3, 0.1)
    with pytest.raises(ValueError, match="labels shape"):
        label_smoothing_cross_entropy(torch.zeros(2, 3), torch.tensor([0]), 0.1)
    with pytest.raises(ValueError, match="no \\(non-ignored\\) examples"):
        label_smoothing_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 0]), 0.1, ignore_index=0)


def test_replication_distillation_loss_by_hand():
    student = torch.tensor([[1.0, 0.0]])
    teacher = torch.tensor([[3.0, 0.0]])
    labels = torch.tensor([0])
    hard = F.cross_entropy(student, labels).item()
    soft = 0.5 * ((1 - 3) ** 2 + 0) / 2  # half the mean squared error over 2 logits
    loss = distillation_loss_replication(student, teacher, labels, beta=0.6)
    assert loss.item() == pytest.approx(0.4 * hard + 0.6 * soft, rel=1e-6)


def test_original_distillation_loss_is_cross_entropy_to_tempered_teacher():
    generator = torch.Generator().manual_seed(2)
    student = torch.randn(5, 4, generator=generator)
    teacher = torch.randn(5, 4, generator=generator) * 4
    for temperature in (1.0, 4.0):
        expected = F.cross_entropy(student, F.softmax(teacher / temperature, dim=1))
        assert torch.allclose(distillation_loss_original(student, teacher, temperature), expected)
    # no gradient flows into the teacher
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    distillation_loss_original(student, teacher, 2.0).backward()
    assert student.grad is not None and teacher.grad is None


def test_original_distillation_loss_bad_input():
    student, teacher = torch.zeros(2, 3), torch.zeros(2, 3)
    with pytest.raises(ValueError, match="temperature must be"):
        distillation_loss_original(student, teacher, 0.0)
    with pytest.raises(ValueError, match="beta must be in \\[0, 1\\]"):
        distillation_loss_original(student, teacher, 1.0, beta=1.5)
    with pytest.raises(ValueError, match="labels are required"):
        distillation_loss_original(student, teacher, 1.0, beta=0.5)
    with pytest.raises(ValueError, match="differs from"):
        distillation_loss_replication(student, torch.zeros(2, 4), torch.tensor([0, 1]))
