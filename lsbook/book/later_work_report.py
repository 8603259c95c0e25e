"""The tables and figures of "What later work claims, tested here", read from the stored runs (never trains).

The runs are those the ledger's later-work rows read (the subjects of the claim table's
"sc-degrades" row, lsbook.claims.table): for each classification recipe, the first considered
profile whose seeds have α = 0 and α = 0.1.
"""

from __future__ import annotations

import numpy as np

from lsbook.book.pages import markdown_table
from lsbook.book.tables import describe, format_spread
from lsbook.claims import claim
from lsbook.claims.arms import Context, Grid, alpha_arms, correct_predictions
from lsbook.claims.measures import TEMPERATURE_STUDY, student_accuracy_by_temperature, subjects
from lsbook.claims.table import SMOOTHED
from lsbook.experiments.distillation_grid import SETUPS
from lsbook.selective import aurc, choose_p, excess_aurc, msp_confidence, normalised_max_logit, risk_coverage

ALPHAS = (0.0, SMOOTHED)


def stored_grids(profile: str | None, store=None) -> list[Grid]:
    """The stored α = 0 and α = 0.1 runs of every recipe the later-work claims read."""
    context, selective = Context.open(profile, store), claim("sc-degrades")
    grids = [alpha_arms(context, selective.runs, subject.recipe, ALPHAS) for subject in subjects(selective)]
    return [grid for grid in grids if grid is not None]


def _confidences(record) -> dict[str, np.ndarray]:
    logits = record.arrays["test_logits"]
    p = choose_p(record.arrays["val_logits"], record.arrays["val_labels"])
    return {"softmax": msp_confidence(logits), f"normalised max logit (p = {p})": normalised_max_logit(logits, p)}


def selective_table(grids: list[Grid]) -> str:
    """Per recipe and α, mean ± sd over seeds: accuracy, AURC and E-AURC by softmax and by the
    normalised max logit, and test ECE at T = 1 and at the temperature fitted on validation."""
    header = ["combination", "runs", "α", "accuracy [%]", "AURC softmax [%]", "AURC normalised [%]",
              "E-AURC softmax [%]", "E-AURC normalised [%]", "ECE, T = 1", "ECE, fitted T"]
    rows = []
    for grid in grids:
        dataset, architecture = describe(grid.recipe)
        for alpha in ALPHAS:
            records = grid.at(alpha)
            measured = {"aurc": [], "aurc_n": [], "e": [], "e_n": []}
            for record in records:
                correct = correct_predictions(record)
                softmax, normalised = _confidences(record).values()
                measured["aurc"].append(aurc(softmax, correct))
                measured["aurc_n"].append(aurc(normalised, correct))
                measured["e"].append(excess_aurc(softmax, correct))
                measured["e_n"].append(excess_aurc(normalised, correct))
            rows.append([f"{architecture}, {dataset}" if alpha == 0 else "",
                         f"{grid.profile}, seeds {', '.join(map(str, grid.seeds))}" if alpha == 0 else "",
                         f"{alpha:g}", format_spread([r.metrics["test_accuracy"] for r in records], 2, 100.0),
                         *(format_spread(measured[k], 3) for k in ("aurc", "aurc_n", "e", "e_n")),
                         format_spread([r.metrics["test_ece"] for r in records], 4),
                         format_spread([r.metrics["test_ece_at_val_temperature"] for r in records], 4)])
    return markdown_table(header, rows, "lllrrrrrrr")


def risk_coverage_panels(grids: list[Grid]) -> dict[str, dict[str, tuple]]:
    """Per recipe (its first seed): the risk–coverage curves of α = 0 and α = 0.1, each ranked by
    softmax and by the normalised max logit."""
    panels = {}
    for grid in grids:
        dataset, architecture = describe(grid.recipe)
        seed = grid.seeds[0]
        curves = {}
        for alpha in ALPHAS:
            record = grid.records[(alpha, seed)]
            correct = correct_predictions(record)
            for name, confidence in _confidences(record).items():
                curves[f"α = {alpha:g}, {name}"] = risk_coverage(confidence, correct)
        panels[f"{architecture.split(', ')[0]}, {dataset} [{grid.profile}, seed {seed}]"] = curves
    return panels


def students_by_temperature(profile: str | None, store=None) -> dict[str, tuple[list[float], list[float]]]:
    """The temperature study's students (at `paper`): per teacher, (T, mean test accuracy in %) over
    the seeds stored; empty where none is stored."""
    context = Context.open(profile, store)
    stored = student_accuracy_by_temperature(context, "paper", range(10))
    curves = {}
    for alpha in SETUPS[TEMPERATURE_STUDY].alphas:
        points = []
        for temperature in SETUPS[TEMPERATURE_STUDY].smoothed_temperatures:
            accuracies = [100 * r.metrics["test_accuracy"] for (a, t, _), r in stored.items()
                          if a == alpha and t == temperature]
            if accuracies:
                points.append((temperature, float(np.mean(accuracies))))
        if points:
            seeds = sorted({s for (a, _, s) in stored if a == alpha})
            curves[f"teacher α = {alpha:g} (seeds {', '.join(map(str, seeds))})"] = \
                ([t for t, _ in points], [a for _, a in points])
    return curves
