"""Claims that later papers make about label smoothing, measured on the stored classification runs.

Every claim compares α = 0.1 with α = 0 on the test split of the same runs the papers' own claims
read (lsbook.runs), so it costs no training:

- Xia, Laurent, Franchi & Bouganis, "Towards understanding why label smoothing degrades selective
  classification and how to fix it", ICLR 2025: label smoothing degrades selective classification
  (the area under the risk–coverage curve by maximum softmax probability rises), and post-hoc logit
  normalisation recovers it (lsbook.selective);
- Wang, Feng & Zhang, "Rethinking calibration of deep neural networks: do not be afraid of
  overconfidence", NeurIPS 2021: a network trained with label smoothing is harder to calibrate by
  temperature scaling afterwards (its ECE at the temperature fitted on validation is higher);
- Shen, Liu, Xu, Chen, Cheng & Savvides, "Is label smoothing truly incompatible with knowledge
  distillation? An empirical study", ICLR 2021: the relative information that label smoothing erases
  is mainly that between semantically similar classes (the stored penultimate activations of three
  Fashion-MNIST classes, lsbook.clusters.pair_spread).
"""

from __future__ import annotations

import numpy as np

from lsbook.claim_checks.reading import (SMOOTHED, Context, accuracy_points, ece_of, experiment_text, home_profile,
                                         mean_of, measure, seed_only, title_of, why_missing, with_variants)
from lsbook.clusters import pair_spread
from lsbook.data.registry import get_dataset
from lsbook.experiments.distillation_grid import SETUPS, StudyRecords
from lsbook.claims import MARGINS, Direction, LedgerRow, make_row
from lsbook.intervals import Statistic, aurc_statistic, difference
from lsbook.recipes import RECIPES as ALL_RECIPES
from lsbook.selective import choose_p, msp_confidence, normalised_max_logit
from lsbook.store import Record

XIA_25 = "Xia, Laurent, Franchi & Bouganis (ICLR 2025)"
WANG_21 = "Wang, Feng & Zhang (NeurIPS 2021)"
# The image classifiers whose runs store test and validation logits; each paper recipe is followed by
# the variant this machine trains.
RECIPES = ("fcn-mnist", "fcn-fmnist", "alexnet-cifar10", "resnet56-cifar10")


def correct_predictions(record: Record) -> np.ndarray:
    """Whether each stored test prediction (argmax of the logits) is right."""
    return np.asarray(record.arrays["test_logits"]).argmax(axis=1) == np.asarray(record.arrays["test_labels"])


def msp_aurc(record: Record) -> Statistic:
    """AURC (%) of resampled test examples, ranked by maximum softmax probability."""
    return aurc_statistic(msp_confidence(record.arrays["test_logits"]), correct_predictions(record))


def normalised_aurc(record: Record) -> Statistic:
    """AURC (%) ranked by the normalised max logit, its p chosen on the run's validation split."""
    p = choose_p(record.arrays["val_logits"], record.arrays["val_labels"])
    return aurc_statistic(normalised_max_logit(record.arrays["test_logits"], p), correct_predictions(record))


def scaled_ece(record: Record) -> Statistic:
    """Test ECE at the temperature fitted on the run's validation split."""
    return ece_of(record, float(record.metrics["val_temperature"]))


# (row id prefix, claim (for a title), direction, source, metric, statistics of the α = 0.1 run and of
# the run it is compared with: None for the α = 0 run's same statistic)
CLAIMS = (
    ("sc-degrades", "Label smoothing degrades selective classification of {title}: the area under the "
                    "risk–coverage curve (AURC), ranking by maximum softmax probability, is higher with "
                    "α = {alpha:g} than with α = 0.",
     Direction("increase"), f"{XIA_25}, abstract and Section 3",
     "AURC (%, maximum softmax probability), α = {alpha:g} minus α = 0", msp_aurc, None),
    ("sc-lognorm", "Post-hoc logit normalisation recovers the selective classification that label smoothing "
                   "lost: for {title} trained with α = {alpha:g}, ranking by the normalised max logit lowers "
                   "the AURC below that of the maximum softmax probability.",
     Direction("decrease"), f"{XIA_25}, abstract and Section 5",
     "AURC (%) of the α = {alpha:g} run: normalised max logit (p chosen on validation) minus maximum "
     "softmax probability", normalised_aurc, msp_aurc),
    ("calibratability", "A network trained with label smoothing is harder to calibrate by temperature scaling: "
                        "after fitting T on validation, the test ECE of {title} is higher with α = {alpha:g} "
                        "than with α = 0.",
     Direction("increase"), f"{WANG_21}, abstract (\"harder to further calibrate\" after regularisation)",
     "test ECE (15 bins) at the temperature fitted on validation, α = {alpha:g} minus α = 0", scaled_ece, None),
)


SHEN_21 = "Shen, Liu, Xu, Chen, Cheng & Savvides (ICLR 2021)"
# Recipes whose stored classes hold a semantically similar pair and dissimilar ones: (similar pair,
# dissimilar pairs), class indices of the stored plot classes. Fashion-MNIST: T-shirt/top (0) and
# Pullover (2) are both upper-body garments; Trouser (1) is neither.
SIMILAR_CLASSES: dict[str, tuple[tuple[int, int], tuple[tuple[int, int], ...]]] = {
    "fcn-fmnist": ((0, 2), ((0, 1), (1, 2))),
}


def class_names(recipe: str) -> tuple[str, ...]:
    """The class names of the dataset ``recipe`` trains on."""
    return get_dataset(ALL_RECIPES[recipe].dataset).class_names


def erased_similarity(smoothed: Record, plain: Record, similar, dissimilar) -> float:
    """How much more smoothing shrinks the similar pair's spread than the dissimilar pairs': the log
    ratio (α > 0 over α = 0) of lsbook.clusters.pair_spread for the similar pair, minus its mean over
    the dissimilar pairs (negative: the similar pair loses more)."""
    def change(pair) -> float:
        spreads = [pair_spread(r.arrays["train_features"], r.arrays["train_feature_labels"], *pair)
                   for r in (smoothed, plain)]
        return float(np.log(spreads[0] / spreads[1]))

    return change(similar) - float(np.mean([change(pair) for pair in dissimilar]))


def similarity_rows(ctx: Context) -> list[LedgerRow]:
    """Shen et al.: label smoothing erases mainly the information between similar classes."""
    rows = []
    for recipe, (similar, dissimilar) in SIMILAR_CLASSES.items():
        names = class_names(recipe)
        common = dict(
            id=f"ls-similar/{recipe}", chapter="later_work", unit="", direction=Direction("decrease"),
            source=f"{SHEN_21}, abstract (\"how label smoothing affects distributions of semantically similar "
                   "and dissimilar classes\")",
            claim=f"Label smoothing erases the relative information mainly between semantically similar classes: "
                  f"in the penultimate layer of {title_of(recipe)}, α = {SMOOTHED:g} shrinks the spread of "
                  f"{names[similar[0]]} and {names[similar[1]]} along the line between them more than that of "
                  f"the dissimilar pairs with {names[dissimilar[0][1]]}.",
            metric="log change (α = 0.1 over α = 0) of the pair spread (std along the line through the two "
                   "centroids / their distance; stored training examples) of the similar pair, minus its mean "
                   "over the dissimilar pairs")
        grid = ctx.grid(recipe, (0.0, SMOOTHED))
        if grid is None:
            rows.append(make_row(**common, experiment=f"`{recipe}` [{home_profile(ctx, recipe)}], α {SMOOTHED:g} vs 0",
                                 not_run=why_missing(ctx, recipe)))
            continue
        per_seed = [erased_similarity(grid.records[(SMOOTHED, s)], grid.records[(0.0, s)], similar, dissimilar)
                    for s in grid.seeds]
        estimate = seed_only(per_seed, "the activations of one run are not resampled here")
        rows.append(make_row(**common, estimate=estimate, profile=grid.profile, seeds=grid.seeds,
                             note="three classes give one similar pair: a test of the claim on this triple, "
                                  "not across a dataset",
                             experiment=experiment_text(f"`{recipe}`", grid.profile, f"α {SMOOTHED:g} vs 0",
                                                        grid.seeds)))
    return rows


LUKASIK_20 = "Lukasik, Bhojanapalli, Menon & Kumar (ICML 2020)"
NOISY_RECIPES = ("fcn-fmnist-noisy",)  # recipes trained on labels with symmetric noise (Recipe.label_noise)


def noise_rows(ctx: Context) -> list[LedgerRow]:
    """Lukasik et al.: under symmetric label noise, label smoothing helps (test accuracy rises)."""
    rows = []
    for recipe in NOISY_RECIPES:
        rate = ALL_RECIPES[recipe].label_noise
        common = dict(
            id=f"noise/{recipe}", chapter="later_work", unit="points", direction=Direction("increase"),
            source=f"{LUKASIK_20}, abstract (\"label smoothing is competitive with loss-correction under label "
                   "noise\")",
            claim=f"Under symmetric label noise ({100 * rate:g} % of the training labels redrawn uniformly), label "
                  f"smoothing with α = {SMOOTHED:g} raises the top-1 test accuracy of {title_of(recipe)}.",
            metric=f"test accuracy (clean test labels), α = {SMOOTHED:g} minus α = 0")
        grid = ctx.grid(recipe, (0.0, SMOOTHED), profiles=("paper",))  # noise needs training to converge
        if grid is None:
            rows.append(make_row(**common, experiment=f"`{recipe}` [paper], α {SMOOTHED:g} vs 0",
                                 not_run=ctx.why(recipe, "paper", f"python -m lsbook sweep {recipe} --alphas 0 0.1 "
                                                                  "--seeds 0 1 2 --profile paper")))
            continue
        statistics = [difference(accuracy_points(grid.records[(SMOOTHED, s)]), accuracy_points(grid.records[(0.0, s)]))
                      for s in grid.seeds]
        rows.append(make_row(**common, estimate=measure(statistics, list(grid.records.values())),
                             profile=grid.profile, seeds=grid.seeds,
                             experiment=experiment_text(f"`{recipe}`", grid.profile, f"α {SMOOTHED:g} vs 0",
                                                        grid.seeds)))
    return rows


CHANDRASEGARAN_22 = "Chandrasegaran, Tran, Zhao & Cheung (ICML 2022)"
TEMPERATURE_STUDY = "fcn-mnist-temperatures"  # lsbook.experiments.distillation_grid.SETUPS


def student_accuracy_by_temperature(ctx: Context, profile: str, seeds) -> dict[tuple[float, float, int], Record]:
    """The stored students of the temperature study: (teacher α, T, seed) -> record."""
    setup = SETUPS[TEMPERATURE_STUDY]
    runner = StudyRecords(ctx.store)
    found = {}
    for seed in seeds:
        for alpha in setup.alphas:
            teacher = setup.teacher(alpha, seed, profile)
            for temperature in setup.smoothed_temperatures:
                record = runner.record(setup.student(teacher, temperature))
                if record is not None:
                    found[(alpha, temperature, seed)] = record
    return found


def temperature_rows(ctx: Context) -> list[LedgerRow]:
    """Chandrasegaran et al.: a smoothed teacher distils as well at T = 1, worse at larger T."""
    setup = SETUPS[TEMPERATURE_STUDY]
    high = tuple(t for t in setup.smoothed_temperatures if t > 1)
    common = dict(chapter="later_work", unit="points", source=f"{CHANDRASEGARAN_22}, abstract")
    specs = (
        (f"kd-t1/{TEMPERATURE_STUDY}", Direction("not_worse", MARGINS["accuracy"][0]), (1.0,),
         f"At T = 1 a teacher trained with label smoothing (α = {SMOOTHED:g}) distils an MNIST FCN student no worse "
         f"than the hard-label teacher (within {MARGINS['accuracy'][0]:g} points)."),
        (f"kd-hight/{TEMPERATURE_STUDY}", Direction("decrease"), high,
         f"At larger temperatures (T = {', '.join(f'{t:g}' for t in high)}) the student of the teacher trained with "
         f"α = {SMOOTHED:g} is less accurate than the student of the hard-label teacher."))
    profile = "paper"  # the study's runs are the paper recipe's
    stored = student_accuracy_by_temperature(ctx, profile, range(10))
    rows = []
    for row_id, direction, temperatures, claim in specs:
        seeds = sorted({s for (_, _, s) in stored if all((a, t, s) in stored for a in setup.alphas
                                                         for t in temperatures)})
        metric = (f"student test accuracy, teacher α = {SMOOTHED:g} minus teacher α = 0, mean over T = "
                  + ", ".join(f"{t:g}" for t in temperatures))
        if not seeds:
            rows.append(make_row(**common, id=row_id, direction=direction, claim=claim, metric=metric,
                                 experiment=f"study `{TEMPERATURE_STUDY}` [paper]",
                                 not_run=ctx.why("fcn-mnist", profile, f"python -m lsbook distill {TEMPERATURE_STUDY} "
                                                                        "--profile paper --seeds 0 1 2")))
            continue
        statistics = [mean_of([difference(accuracy_points(stored[(SMOOTHED, t, s)]),
                                          accuracy_points(stored[(0.0, t, s)])) for t in temperatures])
                      for s in seeds]
        records = [stored[(a, t, s)] for a in setup.alphas for t in temperatures for s in seeds]
        rows.append(make_row(**common, id=row_id, direction=direction, claim=claim, metric=metric,
                             estimate=measure(statistics, records), profile=profile, seeds=seeds,
                             experiment=experiment_text(f"study `{TEMPERATURE_STUDY}`", profile,
                                                        "students of both teachers", seeds)))
    return rows


def later_work_rows(ctx: Context) -> list[LedgerRow]:
    """Each later paper's claim on every classification recipe whose runs are stored (or why not)."""
    return _logit_rows(ctx) + similarity_rows(ctx) + temperature_rows(ctx) + noise_rows(ctx)


def _logit_rows(ctx: Context) -> list[LedgerRow]:
    """The claims measured on the stored test and validation logits."""
    rows = []
    for recipe in with_variants(RECIPES):
        grid = ctx.grid(recipe, (0.0, SMOOTHED))
        title = title_of(recipe)
        for prefix, claim, direction, source, metric, smoothed, other in CLAIMS:
            common = dict(id=f"{prefix}/{recipe}", chapter="later_work", unit="" if prefix == "calibratability"
                          else "points", direction=direction, source=source,
                          claim=claim.format(title=title, alpha=SMOOTHED), metric=metric.format(alpha=SMOOTHED))
            if grid is None:
                rows.append(make_row(**common, experiment=f"`{recipe}` [{home_profile(ctx, recipe)}], "
                                                          f"α {SMOOTHED:g} vs 0", not_run=why_missing(ctx, recipe)))
                continue
            statistics = [difference(smoothed(grid.records[(SMOOTHED, s)]),
                                     other(grid.records[(SMOOTHED, s)]) if other is not None
                                     else smoothed(grid.records[(0.0, s)])) for s in grid.seeds]
            records = [grid.records[(a, s)] for a in (0.0, SMOOTHED) for s in grid.seeds]
            rows.append(make_row(**common, estimate=measure(statistics, records), profile=grid.profile,
                                 seeds=grid.seeds, note=_note(grid),
                                 experiment=experiment_text(f"`{recipe}`", grid.profile, f"α {SMOOTHED:g} vs 0",
                                                            grid.seeds)))
    return rows


def _note(grid) -> str:
    """The arms' own numbers, means over seeds: AURC by both rankings and ECE at the fitted T."""
    everything = None
    parts = []
    for alpha in (0.0, SMOOTHED):
        records = grid.at(alpha)
        everything = np.arange(len(records[0].arrays["test_labels"]))[None, :]
        mean = lambda f: float(np.mean([f(r)(everything)[0] for r in records]))  # noqa: E731
        parts.append(f"α = {alpha:g}: AURC {mean(msp_aurc):.3f} % (softmax), {mean(normalised_aurc):.3f} % "
                     f"(normalised max logit), ECE at the fitted T {mean(scaled_ece):.4f}")
    return "; ".join(parts)
