"""Train / validation / test splits, deterministic and stratified.

The reported test split is the official one (replication, Table 5): MNIST family 60k/10k,
CIFAR 50k/10k, CUB-200-2011 by ``train_test_split.txt`` (5994/5794), Tiny ImageNet's labelled
val split as test. A *validation* split is needed to fit temperatures (Section 5) and must never
touch the reported test split — the replication fitted T on the test split, a fault we do not
repeat. It is carved from the official training split, stratified (every class keeps its
share), with a fixed seed so every run, machine and chapter sees the same examples:

- 5,000 examples for the MNIST family and CIFAR: enough to fit one scalar T with a standard error
  well below the differences the paper discusses, while training keeps 90 % or more of its data;
- 10 % for CUB-200-2011 and Tiny ImageNet (599 and 10,000 examples), whose per-class counts are
  small (30 and 500), so that every class still appears in validation.

``original_split=True`` (CIFAR only) reproduces Müller et al.'s protocol instead: 10,000 of the
official training images (stratified, fixed seed) are held out and *reported as test*, the
remaining 40,000 are the training set, and the official test set, otherwise unused, supplies the
5,000 validation examples — so training keeps the original's 40k and T is still fitted on data the
reported numbers never see.
"""

from __future__ import annotations

import torch

from lsbook.data.registry import DatasetInfo
from lsbook.errors import LsbookError

VALIDATION_SEED = 20190606     # fixed: the split is part of the experiment, not of a run's seed
ORIGINAL_TEST_SEED = 20191208  # the 10k held out of CIFAR's training set under original_split
ORIGINAL_TEST_SIZE = 10_000


def stratified_holdout(labels: torch.Tensor, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split example indices into (kept, held_out) with ``size`` held out, classes in proportion.

    Each class c with n_c examples gives floor(size·n_c/N) examples, the remainder going to the
    classes with the largest fractional parts (ties: lower class id); which examples of a class are
    held out is a permutation drawn from ``seed``. Both index tensors are sorted (int64).
    """
    labels = torch.as_tensor(labels).long().cpu()
    total = len(labels)
    if not 0 <= size <= total:
        raise LsbookError(f"hold-out size must be in [0, {total}], got {size}")
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * size / max(total, 1)
    quota = exact.floor().long()
    remainder = size - int(quota.sum())
    if remainder:
        order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - quota[i]).item(), i))
        for i in order[:remainder]:
            quota[i] += 1
    generator = torch.Generator().manual_seed(int(seed))
    held = []
    for cls, take in zip(classes.tolist(), quota.tolist()):
        members = torch.nonzero(labels == cls).flatten()
        held.append(members[torch.randperm(len(members), generator=generator)[:take]])
    held_out = torch.cat(held).sort().values if held else torch.empty(0, dtype=torch.long)
    mask = torch.ones(total, dtype=torch.bool)
    mask[held_out] = False
    return torch.nonzero(mask).flatten(), held_out


def validation_size(info: DatasetInfo, train_examples: int) -> int:
    """Examples held out for validation from a training part of ``train_examples``."""
    holdout = info.val_holdout
    size = round(holdout * train_examples) if isinstance(holdout, float) else int(holdout)
    return min(size, train_examples // 2)  # tiny test fixtures: never more than half


def source_part(split: str, original_split: bool = False) -> str:
    """The official part ("train" or "test") that ``split`` is drawn from."""
    if original_split:
        return "test" if split == "val" else "train"
    return "test" if split == "test" else "train"


def split_indices(info: DatasetInfo, split: str, part_labels: torch.Tensor,
                  original_split: bool = False) -> torch.Tensor | None:
    """Indices of ``split`` into its source part's examples (None: the whole part)."""
    if original_split:
        if split == "val":
            return stratified_holdout(part_labels, validation_size(info, len(part_labels)),
                                      VALIDATION_SEED)[1]
        test_size = min(ORIGINAL_TEST_SIZE, len(part_labels) // 5)
        kept, held = stratified_holdout(part_labels, test_size, ORIGINAL_TEST_SEED)
        return held if split == "test" else kept
    if split == "test":
        return None
    kept, held = stratified_holdout(part_labels, validation_size(info, len(part_labels)),
                                    VALIDATION_SEED)
    return held if split == "val" else kept
