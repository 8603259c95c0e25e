"""The mutual-information chapter's table and sentences, from the stored curves
(lsbook.experiments.mutual_info.collect_curves).

The chapter quotes numbers only through ``glue``; the sentences that compare our curves with the
original's findings are written here from the numbers, so they stay true when the book is rebuilt
at another profile or with other seeds.
"""

from __future__ import annotations

import math

import numpy as np

from lsbook.book.pages import markdown_table
from lsbook.book.tables import Summary
from lsbook.experiments.mutual_info import MI_SETUPS, MICurves, MISetup, collect_curves
from lsbook.profiles import chapter_defaults, considered_profiles

# The original's experiment as this machine runs it (ResNet-56 on the JPEG re-encode of CIFAR-10,
# trained at `paper`): the closest match to the original's Figure 6 that the store can hold.
CLOSEST_SETUP = ("resnet56-cifar10-jpeg", "paper")


def shown_curves(setups: list[MISetup], profile: str, seeds, alphas=None, store=None
                 ) -> list[tuple[MISetup, str, MICurves]]:
    """(set-up, profile, curves) of every set-up the page shows: the closest match (CLOSEST_SETUP)
    first wherever the page reads `paper` runs, over the seeds the `paper` chapter runs, then the
    page's own set-ups at its profile and ``seeds``."""
    name, closest_profile = CLOSEST_SETUP
    chosen: list[tuple[MISetup, str, tuple]] = []
    if profile != closest_profile and closest_profile in considered_profiles(profile):
        chosen.append((MI_SETUPS[name], closest_profile,
                       tuple(chapter_defaults(closest_profile, "mutual_information")["seeds"])))
    chosen += [(setup, profile, tuple(seeds)) for setup in setups]
    return [(setup, at, collect_curves(setup, at, at_seeds, store=store, alphas=alphas))
            for setup, at, at_seeds in chosen]


def mi_references(curves: MICurves):
    """(unrelated, collapsed): what the estimator reads at the curves' N and L on unrelated examples
    (true value 0) and on two collapsed clusters (true value log 2); lsbook.information."""
    from lsbook.information import collapsed_reference, unrelated_reference

    return (unrelated_reference(curves.num_examples, curves.num_draws),
            collapsed_reference(curves.num_examples, curves.num_draws))


def mi_markdown(curves: MICurves) -> str:
    """Per α: Î at initialisation, its maximum (and step), its last value beside the reference on
    unrelated examples measured the same way (same N, L), and test accuracy."""
    unrelated, collapsed = mi_references(curves)
    rows = []
    for alpha in sorted(curves.values):
        values = curves.values[alpha].mean(axis=0)
        peak = int(np.argmax(values))
        accuracy = Summary(curves.test_accuracy[alpha])
        rows.append([f"{alpha:g}", f"{values[0]:.3f}", f"{values[peak]:.3f} (step {int(curves.steps[peak])})",
                     f"{values[-1]:.3f} (step {int(curves.steps[-1])})", f"{values[-1] - unrelated.mean:.3f}",
                     accuracy.text(), len(curves.seeds[alpha])])
    table = markdown_table(["α", "Î at step 0", "max Î", "last Î", "last Î − reference", "test accuracy", "seeds"],
                           rows, "lrrrrrr")
    return (table + f"\nReference, measured the same way (N = {curves.num_examples}, L = {curves.num_draws}): "
            f"{unrelated.mean:.3f} nats on unrelated examples (true value 0), {collapsed.mean:.3f} nats on two "
            f"collapsed clusters (true value log 2 = {math.log(2):.3f}).\n")


def _mi_shape(steps: np.ndarray, values: np.ndarray) -> str:
    """The course of one curve in words: where it peaks and how much it falls after the peak."""
    peak = int(np.argmax(values))
    if peak == 0:
        return f"is highest at initialisation ({values[0]:.3f} nats) and falls"
    rise, fall = values[peak] - values[0], values[peak] - values[-1]
    if fall > 0.1 * rise:
        return (f"rises from {values[0]:.3f} nats at initialisation to {values[peak]:.3f} at step "
                f"{int(steps[peak])} and then falls by {fall:.3f} nats")
    reached = int(steps[int(np.argmax(values >= values[0] + 0.9 * rise))])
    return (f"rises from {values[0]:.3f} nats at initialisation to 90 % of its peak by step {reached} "
            f"and then stays nearly flat (its last value is {fall:.3f} nats below the peak of "
            f"{values[peak]:.3f})")


def mi_verdict(curves: MICurves, ledger_verdict: str = "") -> str:
    """The original's findings checked on our curves (Markdown), read against what the estimator
    gives two collapsed clusters at the same N and L rather than against log 2.

    The ends of the α = 0 and α > 0 curves are stated side by side, never as "more" or "less"
    information: whether their difference is an effect of label smoothing is the claim ledger's
    verdict (row ``mi-fall``); ``ledger_verdict``, that row as ``lsbook.claims.verdict_sentences``
    words it, is appended."""
    from lsbook.information import unrelated_reference

    if not curves.values:
        return "No mutual-information curve is stored yet."
    log2, log_n = math.log(2), curves.log_n
    collapsed = mi_references(curves)[1].mean    # what two collapsed clusters read: log 2 + the bias
    sentences = []
    for alpha in sorted(curves.values):
        values = curves.values[alpha].mean(axis=0)
        last = values[-1]
        where = ("slightly above" if collapsed < last < collapsed + 0.25 * log2 else
                 "above" if last > collapsed else "below")
        sentences.append(
            f"With α = {alpha:g} the estimate {_mi_shape(curves.steps, values)}; it ends {where} the level "
            f"of two collapsed clusters as this estimator reads it ({collapsed:.3f} nats at N = {curves.num_examples}, "
            f"L = {curves.num_draws}: log 2 = {log2:.3f} plus its upward bias) and below log N = {log_n:.3f}.")
    if 0.0 in curves.values and len(curves.values) > 1:
        other = max(a for a in curves.values if a > 0)
        end0, end1 = curves.values[0.0].mean(axis=0)[-1], curves.values[other].mean(axis=0)[-1]
        seeds = min(len(v) for v in curves.seeds.values())
        sentences.append(
            f"At the end of training the estimate is {end1:.3f} nats with α = {other:g} and {end0:.3f} nats "
            f"with α = 0 ({'one seed per curve' if seeds == 1 else f'means over {seeds} seeds'}); the original "
            f"reports less information about the example index with label smoothing, and an end slightly above "
            f"log 2 — where two collapsed clusters put this estimator at the original's N = 600 and L = 5, since "
            f"its bias there is {unrelated_reference(600, 5).mean:.2f} nats. Whether our difference is an effect "
            f"of label smoothing or seed-to-seed noise is for the claim ledger to say, not the two numbers"
            + (f": {ledger_verdict}" if ledger_verdict else "."))
    return " ".join(sentences)
