"""The published numbers, as data with their sources, to show beside ours in the book.

Two sources:

- REPLICATION: Wagner, Kurowski, Holländer & Uelwer, "[Re] When Does Label Smoothing Help?",
  ReScience C (2023) — Tables 2, 3, 4 and 5 of its text.
- ORIGINAL: Müller, Kornblith & Hinton, "When does label smoothing help?", NeurIPS 2019
  (arXiv:1906.02629v3) — Tables 1, 2, 3 and the MNIST distillation numbers of Section 4.

Rows are keyed by recipe name (lsbook.recipes.RECIPES) where we have a recipe; the original's
ImageNet and WMT rows, which nobody here reruns, use the names in EXTRA_ROWS. Accuracies and
error rates are in percent, ECE is a fraction in [0, 1], as printed in the papers. Nothing here is
an expected output of our code: the book prints these next to what our runs measure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPLICATION = "Wagner et al. (2023)"
ORIGINAL = "Müller et al. (2019)"

# The α columns of the replication's Tables 2 and 3.
TABLE_ALPHAS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.3)

# Rows of the original that correspond to no recipe of ours (and the set-up they describe).
EXTRA_ROWS: dict[str, str] = {
    "inceptionv4-imagenet": "Inception-v4 on ImageNet (original only)",
    "transformer-wmt14": "Transformer on WMT14 EN-DE (original only; the replication used Multi30k)",
}


@dataclass(frozen=True)
class Value:
    """One published number: mean, spread where the paper gives one, and where it is printed."""

    value: float
    std: float | None = None
    source: str = ""   # e.g. "Wagner et al. (2023), Table 2"


# --- Table 2: top-1 accuracy [%] -----------------------------------------------------------------

def _row(source: str, values: dict[float, float]) -> dict[float, Value]:
    return {alpha: Value(v, None, source) for alpha, v in values.items()}


_R2 = f"{REPLICATION}, Table 2"
REPLICATION_ACCURACY: dict[str, dict[float, Value]] = {
    "fcn-mnist": _row(_R2, {0.0: 99.06, 0.05: 99.33, 0.1: 99.31, 0.15: 99.24, 0.3: 99.13}),
    "fcn-emnist": _row(_R2, {0.0: 88.79, 0.05: 89.11, 0.1: 89.35, 0.15: 89.19, 0.3: 88.88}),
    "fcn-fmnist": _row(_R2, {0.0: 91.01, 0.05: 90.66, 0.1: 90.45, 0.15: 90.59, 0.3: 90.37}),
    "alexnet-cifar10": _row(_R2, {0.0: 85.01, 0.05: 85.13, 0.1: 85.47, 0.15: 84.83, 0.3: 86.02}),
    "resnet56-cifar10": _row(_R2, {0.0: 93.59, 0.05: 93.62, 0.1: 93.33, 0.15: 93.55, 0.3: 93.53}),
    "resnet56-cifar100": _row(_R2, {0.0: 71.61, 0.05: 71.99, 0.1: 72.07, 0.15: 71.74, 0.3: 71.75}),
    "resnet34-cub200": _row(_R2, {0.0: 77.75, 0.05: 80.38, 0.1: 80.48, 0.15: 81.12, 0.3: 80.77}),
    "resnet50-tinyimagenet": _row(_R2, {0.0: 72.20, 0.05: 72.65, 0.1: 72.30, 0.15: 72.28, 0.3: 72.75}),
}

_O2 = f"{ORIGINAL}, Table 2"
ORIGINAL_ACCURACY: dict[str, dict[float, Value]] = {
    # mean ± std over 5 seeds; CIFAR numbers are on the 10k held out of the training set.
    "alexnet-cifar10": {0.0: Value(86.8, 0.2, _O2), 0.1: Value(86.7, 0.3, _O2)},
    "resnet56-cifar100": {0.0: Value(72.1, 0.3, _O2), 0.1: Value(72.7, 0.3, _O2)},
    "inceptionv4-imagenet": {0.0: Value(80.9, None, _O2), 0.1: Value(80.9, None, _O2)},
}


# --- Table 3: expected calibration error (15 bins) ---------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """A row of Table 3: temperature scaling of the α = 0 network beside label smoothing at T = 1."""

    baseline_ece: float | None         # α = 0, T = 1
    temperature: float                 # T chosen for the α = 0 network
    scaled_ece: float                  # α = 0 at that T
    smoothed_ece: dict[float, float] = field(default_factory=dict)  # α -> ECE at T = 1
    source: str = ""


_R3 = f"{REPLICATION}, Table 3"


def _r3(scaled: float, temperature: float, eces: tuple[float, ...]) -> Calibration:
    by_alpha = dict(zip(TABLE_ALPHAS, eces))
    return Calibration(by_alpha[0.0], temperature, scaled,
                       {a: e for a, e in by_alpha.items() if a > 0}, _R3)


# The replication hand-picked T on the test split (a fault of its code); we fit it on a
# held-out split, so our T and theirs are not the same kind of number.
REPLICATION_CALIBRATION: dict[str, Calibration] = {
    "fcn-mnist": _r3(0.001, 1.06, (0.002, 0.056, 0.102, 0.147, 0.281)),
    "fcn-emnist": _r3(0.008, 1.14, (0.017, 0.056, 0.108, 0.154, 0.288)),
    "fcn-fmnist": _r3(0.008, 1.1, (0.010, 0.042, 0.085, 0.128, 0.252)),
    "alexnet-cifar10": _r3(0.012, 2.5, (0.097, 0.026, 0.048, 0.087, 0.221)),
    "resnet56-cifar10": _r3(0.006, 3.1, (0.049, 0.028, 0.065, 0.102, 0.222)),
    "resnet56-cifar100": _r3(0.029, 2.9, (0.207, 0.053, 0.043, 0.045, 0.120)),
    "resnet34-cub200": _r3(0.013, 1.4, (0.082, 0.159, 0.235, 0.286, 0.400)),
    "resnet50-tinyimagenet": _r3(0.013, 1.7, (0.150, 0.060, 0.045, 0.054, 0.166)),
    "transformer-multi30k": _r3(0.058, 1.8, (0.449, 0.475, 0.372, 0.222, 0.110)),
}

_O3 = f"{ORIGINAL}, Table 3"
ORIGINAL_CALIBRATION: dict[str, Calibration] = {
    "resnet56-cifar100": Calibration(0.150, 1.9, 0.021, {0.05: 0.024}, _O3),
    "inceptionv4-imagenet": Calibration(0.071, 1.4, 0.022, {0.1: 0.035}, _O3),
    "transformer-wmt14": Calibration(0.056, 1.13, 0.018, {0.1: 0.019}, _O3),
}


# --- Table 4: FCN distillation on MNIST, test error [%] ---------------------------------------

DISTILLATION_ROLES: tuple[str, ...] = (
    "teacher without LS", "teacher with LS", "student without LS", "student with LS")

_R4 = f"{REPLICATION}, Table 4"
REPLICATION_DISTILLATION_ERROR: dict[str, Value] = {
    "teacher without LS": Value(0.81, None, _R4),  # teacher with dropout
    "teacher with LS": Value(0.69, None, _R4),     # teacher with α = 0.1, no dropout
    "student without LS": Value(0.93, None, _R4),  # student of the dropout teacher
    "student with LS": Value(1.05, None, _R4),     # student of the smoothed teacher
}

_O4 = f"{ORIGINAL}, Section 4 (as quoted in the replication's Table 4)"
ORIGINAL_DISTILLATION_ERROR: dict[str, Value] = {
    "teacher without LS": Value(0.67, None, _O4),
    "teacher with LS": Value(0.59, None, _O4),
    "student without LS": Value(0.74, None, _O4),
    "student with LS": Value(0.91, None, _O4),
}


# --- Table 1 of the original: label smoothing in the literature ----------------------------------

@dataclass(frozen=True)
class LiteratureRow:
    """One line of the original's Table 1: a metric without and with label smoothing."""

    task: str
    metric: str
    without: float
    with_ls: tuple[float, ...]  # WSJ lists two settings


ORIGINAL_LITERATURE: tuple[LiteratureRow, ...] = (
    LiteratureRow("ImageNet, Inception-v2", "top-1 error [%]", 23.1, (22.8,)),
    LiteratureRow("ImageNet, Inception-v2", "top-5 error [%]", 6.3, (6.1,)),
    LiteratureRow("WMT14 EN-DE, Transformer", "BLEU", 25.3, (25.8,)),
    LiteratureRow("WMT14 EN-DE, Transformer", "perplexity", 4.67, (4.92,)),
    LiteratureRow("WSJ, BiLSTM + attention", "WER [%]", 8.9, (7.0, 6.7)),
)


# --- Table 5 of the replication: which experiment uses which combination -------------------------

EXPERIMENTS: dict[str, str] = {
    "accuracy": "Accuracy (Section 3)",
    "plr": "Penultimate layer representation (Section 4)",
    "imc": "Implicit model calibration (Section 5)",
    "kd": "Knowledge distillation (Section 6)",
}

TABLE5_EXPERIMENTS: dict[str, frozenset[str]] = {
    "fcn-mnist": frozenset({"accuracy", "plr", "imc", "kd"}),
    "fcn-emnist": frozenset({"accuracy", "imc"}),
    "fcn-fmnist": frozenset({"accuracy", "imc"}),
    "alexnet-cifar10": frozenset({"accuracy", "plr", "imc", "kd"}),
    "resnet56-cifar10": frozenset({"accuracy", "imc", "kd"}),
    "resnet56-cifar100": frozenset({"accuracy", "plr", "imc"}),
    "resnet34-cub200": frozenset({"accuracy", "plr", "imc"}),
    "resnet50-tinyimagenet": frozenset({"accuracy", "plr", "imc"}),
    "transformer-multi30k": frozenset({"imc"}),
}

# Classes the replication plotted in Figure 2 (Section 4), by recipe.
FIGURE2_CLASSES: dict[str, tuple[str, str, str]] = {
    "alexnet-cifar10": ("airplane", "automobile", "bird"),
    "resnet56-cifar100": ("apple", "aquarium_fish", "baby"),
    "fcn-mnist": ("0", "1", "2"),
}


def recipes_for(experiment: str) -> list[str]:
    """Recipe names that Table 5 marks for ``experiment`` (accuracy, plr, imc, kd), in its order."""
    if experiment not in EXPERIMENTS:
        from lsbook.errors import LsbookError

        raise LsbookError(f"unknown experiment {experiment!r}; allowed: {', '.join(EXPERIMENTS)}")
    return [name for name, marks in TABLE5_EXPERIMENTS.items() if experiment in marks]


def published_accuracy(recipe: str, alpha: float) -> list[Value]:
    """Every published accuracy for (recipe, α): the replication's, then the original's."""
    found = []
    for table in (REPLICATION_ACCURACY, ORIGINAL_ACCURACY):
        value = table.get(recipe, {}).get(float(alpha))
        if value is not None:
            found.append(value)
    return found
