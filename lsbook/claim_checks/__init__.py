"""The measurements behind the claim ledger (lsbook.claims), one function per family of claims.

Each family reads the runs it needs from the store (never trains), measures the claimed
difference per seed, and turns it into a ledger row: an interval over seeds where at least three
seeds have every arm, else a paired bootstrap over the test examples (lsbook.intervals). Runs are
looked up by their key (lsbook.train.find_run and the experiments' own look-ups), so only runs
of the recipes as they are defined now count. A `cpu` ledger prefers stored `paper` runs
(lsbook.profiles.considered_profiles). Fixed choices, stated in each claim's sentence:

- accuracy, clusters, Table 4 and the Transformer's BLEU and NLL compare α = 0.1 (the original's
  Table 2 value) with α = 0, never the best α on the test set;
- calibration compares α = 0 with α*, the α > 0 whose validation ECE is lowest (chosen on held-out
  data, as the temperature is fitted on it), both measured on test.
"""

from __future__ import annotations

from typing import Callable

from lsbook.claim_checks.classification import accuracy_rows, calibration_rows, cluster_rows
from lsbook.claim_checks.later_work import later_work_rows
from lsbook.claim_checks.reading import Context
from lsbook.claim_checks.studies import distillation_rows, mutual_information_rows, transformer_rows
from lsbook.claims import LedgerRow

# The families in the order of the book's chapters: (chapter, function of a Context -> rows).
FAMILIES: tuple[tuple[str, Callable[[Context], list[LedgerRow]]], ...] = (
    ("accuracy", accuracy_rows),
    ("penultimate", cluster_rows),
    ("calibration", calibration_rows),
    ("transformer", transformer_rows),
    ("distillation", distillation_rows),
    ("mutual_information", mutual_information_rows),
    ("later_work", later_work_rows),
)

__all__ = ["FAMILIES", "Context"]
