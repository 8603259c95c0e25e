"""The claim table: every claim of the two papers and of later work, as one row of data each.

A :class:`Claim` says where it is made (paper, section, table or figure), what it says in that
paper's direction, what is compared with what, how it is measured (a key of
lsbook.claims.measures.MEASURES), the direction and margin it claims, and which stored runs may test
it (:class:`Runs`: recipes or studies, profiles, α, minimum seeds, training length). The ledger
(lsbook.claims.rows) turns each (claim, subject) into a row with an interval and a verdict by
DECISION_RULE. Adding a claim is one row here, plus a function in measures only for a new kind of
measurement. Fixed choices, stated in each claim's sentence: a claim naming one α compares it with
α = 0, never the best α on the test set; a claim about "label smoothing" at its best compares α = 0
with α*, the α > 0 whose validation ECE is lowest over only the seeds that have every α (chosen on
held-out data, as the temperature is fitted on it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from lsbook import paper
from lsbook.errors import LsbookError
from lsbook.recipes import RECIPES

CONFIRMED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = "confirmed", "contradicted", "inconclusive", "not run here"
VERDICTS: tuple[str, ...] = (CONFIRMED, CONTRADICTED, INCONCLUSIVE, NOT_RUN)

# The chapters of the book, each of which ends with its own rows of the ledger.
CHAPTERS: dict[str, str] = {
    "accuracy": "Accuracy (Table 2)",
    "penultimate": "Penultimate-layer representations (Figure 2)",
    "calibration": "Implicit model calibration (Table 3)",
    "transformer": "Transformer: calibration and translation",
    "distillation": "Knowledge distillation (Table 4, Figures 7 and 8)",
    "mutual_information": "Mutual information (the original's Figure 6)",
    "later_work": "What later work claims, tested here",
}

# The rule from an estimate and its 95 % interval [low, high] to a verdict, per kind of claim.
DECISION_RULE: dict[str, str] = {
    "increase": "claimed > 0: confirmed if the whole interval lies above 0, contradicted if it lies below 0, "
                "inconclusive if it contains 0.",
    "decrease": "claimed < 0: confirmed if the whole interval lies below 0, contradicted if it lies above 0, "
                "inconclusive if it contains 0.",
    "not_worse": "claimed 'does not hurt' with a margin m (≥ −m): confirmed if the lower bound is ≥ −m, "
                 "contradicted if the upper bound is < −m, inconclusive otherwise.",
    "equivalent": "claimed 'matches' within a margin m (|difference| ≤ m): confirmed if the interval lies inside "
                  "[−m, m], contradicted if it lies entirely outside it, inconclusive otherwise; an interval "
                  "wider than 2m can never be confirmed, and the row says so.",
}

# The margins of the claims that have one, with the reason for their size (units as in the rows).
MARGINS: dict[str, tuple[float, str]] = {
    "accuracy": (0.1, "accuracy points: 'keeps the accuracy' tolerates a loss of at most 0.1 points, about the "
                      "largest seed-to-seed standard deviation of our Fashion-MNIST FCN at the paper profile"),
    "ece": (0.01, "ECE: 'as well as temperature scaling' tolerates 0.01, about the median ECE that temperature "
                  "scaling leaves for the image classifiers of the replication's Table 3"),
    "replication offset": (0.2, "accuracy points: 'matches the replication' tolerates 0.2 points, twice our "
                                "seed-to-seed spread, because the replication's number is one run"),
}


@dataclass(frozen=True)
class Direction:
    """What a claim says about the measured difference: its sign, or a bound with a margin."""

    kind: str            # "increase" | "decrease" | "not_worse" | "equivalent"
    margin: float = 0.0  # in the metric's unit; used by not_worse and equivalent

    def __post_init__(self) -> None:
        if self.kind not in DECISION_RULE:
            raise LsbookError(f"direction kind must be one of {', '.join(DECISION_RULE)}, got {self.kind!r}")
        if not (self.margin >= 0.0) or not math.isfinite(self.margin):
            raise LsbookError(f"margin must be a finite number >= 0, got {self.margin!r}")

    def text(self, unit: str = "") -> str:
        """The claimed direction in a few characters, e.g. "> 0" or "≥ −0.1 points"."""
        suffix = f" {unit}" if unit else ""
        return {"increase": "> 0", "decrease": "< 0",
                "not_worse": f"≥ −{self.margin:g}{suffix}",
                "equivalent": f"within ±{self.margin:g}{suffix}"}[self.kind]


UP, DOWN = Direction("increase"), Direction("decrease")
KEEPS_ACCURACY = Direction("not_worse", MARGINS["accuracy"][0])
LIKE_TEMPERATURE_SCALING = Direction("equivalent", MARGINS["ece"][0])
MATCHES_REPLICATION = Direction("equivalent", MARGINS["replication offset"][0])

SMOOTHED = 0.1               # the α compared with α = 0 where a claim names one α (the original's Table 2)
LARGE_ALPHA = 0.3            # the replication's largest α, where its Fashion-MNIST accuracy is lowest
SMOOTHED_ALPHAS = tuple(a for a in paper.TABLE_ALPHAS if a > 0)   # where α* is chosen

ORIGINAL, REPLICATION = paper.ORIGINAL, paper.REPLICATION
XIA_25 = "Xia, Laurent, Franchi & Bouganis (ICLR 2025)"
WANG_21 = "Wang, Feng & Zhang (NeurIPS 2021)"
SHEN_21 = "Shen, Liu, Xu, Chen, Cheng & Savvides (ICLR 2021)"
LUKASIK_20 = "Lukasik, Bhojanapalli, Menon & Kumar (ICML 2020)"
CHANDRASEGARAN_22 = "Chandrasegaran, Tran, Zhao & Cheung (ICML 2022)"


@dataclass(frozen=True)
class Runs:
    """Which stored runs may test a claim."""

    subjects: tuple[str, ...]            # recipes, or distillation / mutual-information set-ups, one row each
    alphas: tuple[float, ...] = (0.0, SMOOTHED)  # the α every seed used must have, the control (α = 0) first
    best_of: tuple[float, ...] = ()      # non-empty: the treatment is α*, chosen among these (see the module)
    fixed: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # recipe -> α tested one by one instead of α*
    variants: bool = True                # each recipe followed by its variants on this machine (lsbook.recipes.VARIANT_OF)
    alternatives: bool = False           # the subjects stand in for one another: the first with runs is the one row
    profiles: tuple[str, ...] = ()       # (): the profiles the ledger reads; else only these
    length: str = ""                     # the training length that restricts the profiles, said in the row
    min_seeds: int = 1                   # fewer seeds with every arm: not run here


@dataclass(frozen=True)
class Claim:
    """One claim, as data: a row of CLAIMS."""

    id: str              # family id; a row's id is "<id>/<subject>" (just "<id>" for alternatives)
    title: str           # short name, for the summary tables
    chapter: str         # a key of CHAPTERS
    source: str          # paper, section, table or figure
    statement: str       # the claim as its paper states it, a template (lsbook.claims.measures.subject_fields)
    arms: str            # what is compared with what, a template
    metric: str          # what the estimate measures, a template
    unit: str            # unit of the estimate, its interval and the margin
    direction: Direction
    measure: str         # a key of lsbook.claims.measures.MEASURES
    runs: Runs
    options: Mapping[str, object] = field(default_factory=dict)  # the measurement's own settings

    def __post_init__(self) -> None:
        if self.chapter not in CHAPTERS:
            raise LsbookError(f"chapter must be one of {', '.join(CHAPTERS)}, got {self.chapter!r}")


# --- The subjects -----------------------------------------------------------------------------------------

IMAGE_CLASSIFIERS = ("fcn-mnist", "fcn-fmnist", "alexnet-cifar10", "resnet56-cifar10")
TRANSFORMERS = ("transformer-multi30k", "transformer-multi30k-small")  # the replication's, then the CPU-sized one
FCNS = tuple(r for r in paper.recipes_for("imc") if RECIPES[r].model == "fcn")   # calibrated without smoothing
# The α whose calibration a variant's rows test, each against α = 0 (no α* chosen among them): the
# original's Table 3 and Figure 3 calibrate ResNet-56 with α = 0.05, which a mildly overconfident
# network needs (a larger α overshoots into underconfidence); α = 0.1, Table 2's, beside it.
VARIANT_CALIBRATION_ALPHAS: dict[str, tuple[float, ...]] = {
    "resnet56-cifar10-jpeg": (0.05, 0.1),
    "alexnet-cifar10-jpeg": (0.1,),
}
CALIBRATED_NETWORKS = tuple(r for r in paper.recipes_for("imc") if r not in FCNS and r not in TRANSFORMERS)
DISTILLATION_SETUPS = ("fcn-mnist", "fcn-fmnist", "resnet56-alexnet-cifar10", "resnet56-alexnet-cifar10-jpeg")
TABLE4_SETUPS = ("fcn-mnist", "fcn-fmnist")          # the set-ups with a dropout teacher
FIGURE7_SETUPS = ("fcn-mnist", "fcn-fmnist")         # the MNIST FCN study and its Fashion-MNIST stand-in
MI_SUBJECTS = ("resnet56-cifar10-jpeg", "resnet56-cifar10", "fcn-fmnist")
PAPER_ONLY = dict(profiles=("paper",), length="the replication's 100 epochs: `paper` runs only")
ACCURACY_SOURCE = f"{REPLICATION}, Section 3 and Table 2"
CALIBRATION_SOURCE = f"{ORIGINAL}, Section 3 and Table 3; {REPLICATION}, Section 5.1 and Table 3"
FIGURE2_SOURCE = f"{ORIGINAL}, Section 2 and Figure 1; {REPLICATION}, Section 4 and Figure 2"
HOLDOUT_SOURCE = (f"{REPLICATION}, Section 2.1 and Table 2 (trained on all 60,000 Fashion-MNIST images); this book "
                  "trains fcn-fmnist on 55,000 and holds out 5,000")
VERSUS_0 = "α {alpha:g} vs 0"     # the arms of a claim that compares one α with α = 0
ACCURACY_DIFFERENCE = "test accuracy, α = {alpha:g} minus α = 0"
SPREAD_RATIO = ("spread-to-distance ratio (mean distance to the class centroid / mean distance between class "
                "centroids; training examples of three classes, {space}), α = {alpha:g} minus α = 0")

CLAIMS: tuple[Claim, ...] = (
    # --- Accuracy (Table 2) ---
    Claim("accuracy-up", "raises accuracy", "accuracy", f"{ORIGINAL}, abstract and Table 2",
          "Label smoothing with α = {alpha:g} raises the top-1 test accuracy of {subject} (the original: \"in "
          "addition to improving generalization\").", VERSUS_0,
          ACCURACY_DIFFERENCE, "points", UP, "accuracy",
          Runs(paper.recipes_for("accuracy"))),
    Claim("accuracy", "keeps accuracy", "accuracy", ACCURACY_SOURCE,
          "Label smoothing with α = {alpha:g} does not lower the top-1 test accuracy of {subject} by more than "
          "{margin:g} points (the replication: moderate smoothing raises the accuracy \"overall\", with \"minor "
          "improvements or even degradation\" for some networks).", VERSUS_0,
          ACCURACY_DIFFERENCE, "points", KEEPS_ACCURACY, "accuracy",
          Runs(paper.recipes_for("accuracy"))),
    Claim("exception", "exception: accuracy falls", "accuracy", ACCURACY_SOURCE,
          "{subject} is an exception: α = {alpha:g} lowers its test accuracy (the replication{on}: {published_0:.2f} % "
          "→ {published_alpha:.2f} %).", VERSUS_0,
          ACCURACY_DIFFERENCE, "points", DOWN, "accuracy",
          Runs(("resnet56-cifar10", "fcn-fmnist"))),
    Claim("accuracy-falls", "large α lowers accuracy", "accuracy",
          f"{REPLICATION}, Section 3 (\"the level of label smoothing required ... varies between architectures and "
          "datasets\") and Table 2",
          "With a large α = {alpha:g} label smoothing lowers the test accuracy of {subject} (the replication{on}: "
          "{published_0:.2f} % → {published_alpha:.2f} %).", VERSUS_0,
          ACCURACY_DIFFERENCE, "points", DOWN, "accuracy",
          Runs(("fcn-fmnist",), alphas=(0.0, LARGE_ALPHA))),
    Claim("holdout-gain", "hold-out images raise accuracy", "accuracy", HOLDOUT_SOURCE,
          "Training the Fashion-MNIST FCN on all 60,000 training images, the 5,000 held-out ones included, raises "
          "its test accuracy (mean over α = 0 and 0.1).", "`fcn-fmnist-full` vs `fcn-fmnist`, α 0 and 0.1",
          "test accuracy, all 60,000 images minus 55,000 (mean over the two α)", "points", UP, "holdout_gain",
          Runs(("fcn-fmnist",), variants=False, **PAPER_ONLY), options={"trained": "fcn-fmnist-full"}),
    Claim("holdout-offset", "hold-out explains our offset", "accuracy", HOLDOUT_SOURCE,
          "Trained on all 60,000 images as the replication was, our Fashion-MNIST FCN matches the replication's "
          "accuracy ({published_0:.2f} % at α = 0, {published_alpha:.2f} % at α = 0.1) within {margin:g} points: "
          "the hold-out explains our offset.", "α 0 and 0.1",
          "test accuracy minus the replication's, mean over α = 0 and 0.1", "points", MATCHES_REPLICATION,
          "replication_offset", Runs(("fcn-fmnist",), variants=False, **PAPER_ONLY),
          options={"trained": "fcn-fmnist-full"}),
    Claim("offset-replication", "the replication's code choices explain it", "accuracy",
          f"{REPLICATION}, Section 2.2 and Table 2, and its code (biases drawn like the weights, the learning rate "
          "lowered once per epoch, shifts of round(U(−2, 2)) px)",
          "Trained as the replication's code trains it (all 60,000 images, biases drawn like the weights, the "
          "learning rate lowered once per epoch, rounded shifts), our Fashion-MNIST FCN at α = 0 matches the "
          "replication's {published_0:.2f} % within {margin:g} points.", "α 0",
          "test accuracy minus the replication's, α = 0, over seeds", "points", MATCHES_REPLICATION,
          "replication_offset", Runs(("fcn-fmnist-full-replication",), alphas=(0.0,), variants=False, **PAPER_ONLY),
          options={"seeds_only": True, "published_as": "fcn-fmnist"}),
    # --- Penultimate layer (Figure 2) ---
    *(Claim(f"clusters-{space}", f"tighter clusters ({title})", "penultimate", FIGURE2_SOURCE,
            "With α = {alpha:g} the penultimate-layer activations of {subject} form tighter clusters than with α = 0, "
            f"{where}: the spread-to-distance ratio of the stored training examples is lower.", VERSUS_0,
            SPREAD_RATIO.replace("{space}", space), "", DOWN, "cluster_ratio",
            Runs((*paper.recipes_for("plr"), "fcn-fmnist")), options={"space": space})
      for space, title, where in (
          ("plane", "template plane", "projected on the plane of the three class templates (what the papers draw)"),
          ("full", "whole layer", "in the whole penultimate layer"))),
    Claim("clusters-equal", "equidistant clusters", "penultimate",
          f"{ORIGINAL}, Section 2 (the templates at equal distances); {REPLICATION}, Section 4 (\"the clusters become "
          "much denser and equidistant\") and Figure 2",
          "With α = {alpha:g} the class clusters of {subject} in the plane of the three class templates are closer to "
          "equidistant than with α = 0: the spread of the three distances between their centroids is lower.",
          VERSUS_0, "standard deviation / mean of the three centroid distances (template plane, stored "
          "training examples), α = {alpha:g} minus α = 0", "", DOWN, "distance_spread",
          Runs((*paper.recipes_for("plr"), "fcn-fmnist"))),
    # --- Calibration (Table 3) ---
    Claim("ece-raised", "raises ECE of a calibrated network", "calibration",
          f"{REPLICATION}, Section 5.1, Table 3 and Figure 3",
          "{subject} is calibrated without label smoothing, and smoothing makes it worse: even at α* its test ECE is "
          "higher than at α = 0.", "{alpha_name} vs 0", "test ECE (15 bins) at {alpha_name} minus α = 0 (both at T = 1)",
          "", UP, "ece", Runs(FCNS, best_of=SMOOTHED_ALPHAS)),
    Claim("underconfident", "smoothing makes it underconfident", "calibration",
          f"{REPLICATION}, Section 5.1 (\"it makes the network underconfident\") and Figure 3",
          "Label smoothing with α = {alpha:g} makes {subject} underconfident: the temperature fitted on its validation "
          "split is below 1.", "α {alpha:g}", "temperature fitted on validation at α = {alpha:g}, minus 1", "", DOWN,
          "fitted_temperature", Runs(FCNS, alphas=(SMOOTHED,))),
    Claim("ece-lower", "lowers ECE", "calibration", CALIBRATION_SOURCE,
          "{smoothing} lowers the test ECE of {subject}, which is overconfident without it.", "{alpha_name} vs 0",
          "test ECE (15 bins) at {alpha_name} minus α = 0 (both at T = 1)", "", DOWN, "ece",
          Runs(CALIBRATED_NETWORKS, best_of=SMOOTHED_ALPHAS, fixed=VARIANT_CALIBRATION_ALPHAS)),
    Claim("ece-like-T", "ECE as low as temperature scaling", "calibration", CALIBRATION_SOURCE,
          "{smoothing} calibrates {subject} as well as temperature scaling of its α = 0 network: the two test ECEs "
          "differ by at most {margin:g}.", "{alpha_name} vs 0",
          "test ECE (15 bins) at {alpha_name} minus α = 0 at the temperature fitted on the validation split", "",
          LIKE_TEMPERATURE_SCALING, "ece", Runs(CALIBRATED_NETWORKS, best_of=SMOOTHED_ALPHAS,
                                                fixed=VARIANT_CALIBRATION_ALPHAS),
          options={"control_temperature": "fitted"}),
    Claim("ts-beats-ls", "temperature scaling calibrates better", "calibration",
          f"{REPLICATION}, Section 5.1 (\"temperature scaling still remains the best technique\") and Table 3",
          "Temperature scaling calibrates {subject} better than label smoothing does: its α = 0 network at the "
          "temperature fitted on validation has a lower test ECE than {smoothing_lower}.", "{alpha_name} vs 0",
          "test ECE (15 bins) at {alpha_name} (T = 1) minus α = 0 at the temperature fitted on validation", "", UP,
          "ece", Runs((*FCNS, *CALIBRATED_NETWORKS), best_of=SMOOTHED_ALPHAS, fixed=VARIANT_CALIBRATION_ALPHAS),
          options={"control_temperature": "fitted"}),
    # --- Transformer ---
    Claim("tr-bleu", "raises BLEU", "transformer",
          f"{ORIGINAL}, Table 1 (WMT14: 25.3 → 25.8, from Vaswani et al.); {REPLICATION}, Section 5.3 (not reproduced "
          "on Multi30k)", "Label smoothing with α = {alpha:g} raises the Transformer's test BLEU (beam search, T = 1).",
          VERSUS_0, "test BLEU, α = {alpha:g} minus α = 0", "BLEU", UP, "sentences",
          Runs(TRANSFORMERS, variants=False, alternatives=True), options={"metric": "test_bleu"}),
    Claim("tr-nll", "worsens NLL", "transformer",
          f"{ORIGINAL}, Table 1 (perplexity 4.67 → 4.92) and Section 5; {REPLICATION}, Section 5.3",
          "Label smoothing with α = {alpha:g} worsens the Transformer's test-token NLL at T = 1.", VERSUS_0,
          "test-token NLL at T = 1 [nats], α = {alpha:g} minus α = 0", "nats", UP, "sentences",
          Runs(TRANSFORMERS, variants=False, alternatives=True), options={"metric": "test_nll"}),
    Claim("tr-nll-fitted", "worsens NLL at the fitted T", "transformer",
          f"{ORIGINAL}, Section 5; {REPLICATION}, Section 5.3 and Figure 5 (NLL against T)",
          "Label smoothing with α = {alpha:g} worsens the Transformer's test-token NLL also after temperature "
          "scaling, each model at the temperature fitted on its validation tokens (the original: hard labels give the "
          "better NLL at all temperatures).", VERSUS_0,
          "test-token NLL at each model's fitted T [nats], α = {alpha:g} minus α = 0", "nats", UP, "fitted_nll",
          Runs(TRANSFORMERS, variants=False, alternatives=True)),
    Claim("tr-ece-lower", "lowers token ECE", "transformer",
          f"{ORIGINAL}, Section 3 and Table 3 (WMT14); {REPLICATION}, Section 5.2, Table 3 and Figure 4",
          "Label smoothing at α* lowers the Transformer's test-token ECE (T = 1).", "{alpha_name} vs 0",
          "test-token ECE at α* (lowest validation ECE) minus α = 0, both at T = 1", "", DOWN, "token_ece",
          Runs(TRANSFORMERS, variants=False, alternatives=True, best_of=SMOOTHED_ALPHAS)),
    Claim("tr-ece-like-T", "token ECE as low as temperature scaling", "transformer",
          f"{ORIGINAL}, Section 3 and Table 3 (WMT14); {REPLICATION}, Section 5.2, Table 3 and Figure 4",
          "Label smoothing at α* calibrates the Transformer as well as temperature scaling of its α = 0 model: the "
          "two test-token ECEs differ by at most {margin:g}.", "{alpha_name} vs 0",
          "test-token ECE at α* minus α = 0 at the temperature fitted on the validation tokens", "",
          LIKE_TEMPERATURE_SCALING, "token_ece",
          Runs(TRANSFORMERS, variants=False, alternatives=True, best_of=SMOOTHED_ALPHAS),
          options={"control_temperature": "fitted"}),
    Claim("tr-T-falls", "smoothing lowers the ECE-optimal T", "transformer",
          f"{REPLICATION}, Section 5.3 and Figure 5 (\"the amount of temperature scaling needed to get a minimal ECE "
          "is decreased to about 1.1 when a label smoothing constant of α = 0.3 is used\")",
          "Label smoothing with α = {alpha:g} lowers the temperature at which the Transformer's validation-token ECE "
          "is lowest.", VERSUS_0, "ECE-optimal temperature on the validation tokens (stored grid of T), "
          "α = {alpha:g} minus α = 0", "", DOWN, "ece_optimal_temperature",
          Runs(TRANSFORMERS, alphas=(0.0, LARGE_ALPHA), variants=False, alternatives=True)),
    # --- Knowledge distillation (Table 4, Figures 7 and 8) ---
    Claim("kd-teacher", "smoothed teacher errs less", "distillation",
          f"{ORIGINAL}, Section 4 (MNIST); {REPLICATION}, Section 6.1 and Table 4",
          "The teacher trained with α = {table4_alpha:g} and no dropout has a lower test error than the teacher "
          "trained with dropout{stand_in}.", "Table 4's two teachers",
          "test error, teacher with α minus teacher with dropout", "points", DOWN, "table4",
          Runs(TABLE4_SETUPS, variants=False), options={"roles": ("teacher with LS", "teacher without LS")}),
    Claim("kd-student", "its student errs more", "distillation",
          f"{ORIGINAL}, Section 4 (MNIST); {REPLICATION}, Section 6.1 and Table 4",
          "The student distilled from the smoothed teacher has a higher test error than the student of the dropout "
          "teacher (both at T = 1){stand_in}.", "Table 4's two students",
          "test error, student of the smoothed teacher minus student of the dropout teacher", "points", UP, "table4",
          Runs(TABLE4_SETUPS, variants=False), options={"roles": ("student with LS", "student without LS")}),
    *(Claim(f"kd-m{m}-rises", title, "distillation", f"{REPLICATION}, Section 6.1 and Figure 7 (curves M1 and M2)",
            f"Moderate label smoothing (α = {{moderate:g}}) raises the test accuracy of the {who} (M{m}){{stand_in}}.",
            "α {moderate:g} vs 0", f"test accuracy of the {who}, α = {{moderate:g}} minus α = 0", "points", UP,
            "curve_rise", Runs(FIGURE7_SETUPS, variants=False), options={"curve": f"M{m}"})
      for m, who, title in ((1, "teacher", "moderate α raises the teacher"),
                            (2, "student trained without a teacher", "moderate α raises the student baseline"))),
    Claim("kd-m3-m2", "M3 above M2", "distillation", "{figure_source}",
          "Distillation from the hard-label teacher beats training the student with label smoothing alone: the best M3 "
          "student (over T) is more accurate than the best M2 student (over α){stand_in}.", "M2 and M3",
          "test accuracy, best M3 (student ← hard-label teacher at T) minus best M2 (student trained with α, no "
          "teacher); both sides are maxima over test accuracies, so the selection favours neither, and the "
          "bootstrap redoes it on every resample", "points", UP, "m3_m2", Runs(DISTILLATION_SETUPS, variants=False)),
    Claim("kd-m4-m3", "M4 below M3", "distillation", "{figure_source}",
          "Students of smoothed teachers (M4, α > 0, T = 1) are less accurate than students of the hard-label teacher "
          "whose targets are as smooth (M3 at the same γ){stand_in}.", "M3 and M4",
          "test accuracy, M4 minus the M3 curve interpolated at M4's γ (mean over the M4 points within M3's γ range)",
          "points", DOWN, "m4_m3", Runs(DISTILLATION_SETUPS, variants=False)),
    # --- Mutual information ---
    Claim("mi-fall", "MI lower late in training", "mutual_information",
          f"{ORIGINAL}, Section 4, Figure 6 and Appendix A.2; {REPLICATION}, Section 6.3 (not reproduced)",
          "Late in training (the last quarter of the estimates) the network trained with α = {alpha:g} carries less "
          "information about the example index than the one trained with α = 0: its estimate above the reference on "
          "unrelated examples is lower{stand_in}.", VERSUS_0,
          "Î minus its reference on unrelated examples (same N, L), late-training mean, α = {alpha:g} minus α = 0",
          "nats", DOWN, "mi_late", Runs(MI_SUBJECTS, variants=False)),
    # --- What later work claims ---
    Claim("sc-degrades", "degrades selective classification", "later_work", f"{XIA_25}, abstract and Section 3",
          "Label smoothing degrades selective classification of {subject}: the area under the risk–coverage curve "
          "(AURC), ranking by maximum softmax probability, is higher with α = {alpha:g} than with α = 0.",
          VERSUS_0, "AURC (%, maximum softmax probability), α = {alpha:g} minus α = 0", "points", UP,
          "logits", Runs(IMAGE_CLASSIFIERS), options={"statistic": "msp_aurc"}),
    Claim("sc-lognorm", "logit normalisation recovers it", "later_work", f"{XIA_25}, abstract and Section 5",
          "Post-hoc logit normalisation recovers the selective classification that label smoothing lost: for "
          "{subject} trained with α = {alpha:g}, ranking by the normalised max logit lowers the AURC below that of "
          "the maximum softmax probability.", "α {alpha:g}: two rankings",
          "AURC (%) of the α = {alpha:g} run: normalised max logit (p chosen on validation) minus maximum softmax "
          "probability", "points", DOWN, "logits", Runs(IMAGE_CLASSIFIERS),
          options={"statistic": "normalised_aurc", "against": "msp_aurc"}),
    Claim("calibratability", "harder to calibrate by temperature", "later_work",
          f"{WANG_21}, abstract (\"harder to further calibrate\" after regularisation)",
          "A network trained with label smoothing is harder to calibrate by temperature scaling: after fitting T on "
          "validation, the test ECE of {subject} is higher with α = {alpha:g} than with α = 0.", VERSUS_0,
          "test ECE (15 bins) at the temperature fitted on validation, α = {alpha:g} minus α = 0", "", UP, "logits",
          Runs(IMAGE_CLASSIFIERS), options={"statistic": "scaled_ece"}),
    Claim("ls-similar", "erases similar classes' information", "later_work",
          f"{SHEN_21}, abstract (\"how label smoothing affects distributions of semantically similar and dissimilar "
          "classes\")",
          "Label smoothing erases the relative information mainly between semantically similar classes: in the "
          "penultimate layer of {subject}, α = {alpha:g} shrinks the spread of {similar} along the line between them "
          "more than that of the dissimilar pairs with {dissimilar}.", VERSUS_0,
          "log change (α = 0.1 over α = 0) of the pair spread (std along the line through the two centroids / their "
          "distance; stored training examples) of the similar pair, minus its mean over the dissimilar pairs", "",
          DOWN, "similar_classes", Runs(("fcn-fmnist",), variants=False),
          # T-shirt/top (0) and Pullover (2) are both upper-body garments; Trouser (1) is neither
          options={"similar": (0, 2), "dissimilar": ((0, 1), (1, 2))}),
    Claim("kd-t1", "smoothed teacher fine at T = 1", "later_work", f"{CHANDRASEGARAN_22}, abstract",
          "At T = 1 a teacher trained with label smoothing (α = {alpha:g}) distils an MNIST FCN student no worse than "
          "the hard-label teacher (within {margin:g} points).", "students of both teachers",
          "student test accuracy, teacher α = {alpha:g} minus teacher α = 0, at T = 1", "points", KEEPS_ACCURACY,
          "students_by_temperature", Runs(("fcn-mnist-temperatures",), variants=False, **PAPER_ONLY),
          options={"temperatures": "one"}),
    Claim("kd-hight", "smoothed teacher worse at larger T", "later_work", f"{CHANDRASEGARAN_22}, abstract",
          "At larger temperatures (T = {high_temperatures}) the student of the teacher trained with α = {alpha:g} is "
          "less accurate than the student of the hard-label teacher.", "students of both teachers",
          "student test accuracy, teacher α = {alpha:g} minus teacher α = 0, mean over T = {high_temperatures}",
          "points", DOWN, "students_by_temperature",
          Runs(("fcn-mnist-temperatures",), variants=False, **PAPER_ONLY), options={"temperatures": "high"}),
    Claim("noise", "helps under label noise", "later_work",
          f"{LUKASIK_20}, abstract (\"label smoothing is competitive with loss-correction under label noise\")",
          "Under symmetric label noise ({noise:g} % of the training labels redrawn uniformly), label smoothing with "
          "α = {alpha:g} raises the top-1 test accuracy of {subject}.", VERSUS_0,
          "test accuracy (clean test labels), α = {alpha:g} minus α = 0", "points", UP, "accuracy",
          Runs(("fcn-fmnist-noisy",), variants=False, profiles=("paper",),
               length="training on noisy labels to convergence: `paper` runs only")),
)


def claim(claim_id: str) -> Claim:
    """The claim whose id is ``claim_id``; LsbookError naming the known ids otherwise."""
    for entry in CLAIMS:
        if entry.id == claim_id:
            return entry
    raise LsbookError(f"claim must be one of {', '.join(c.id for c in CLAIMS)}, got {claim_id!r}")
