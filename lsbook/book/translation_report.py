"""What the Transformer chapter shows, computed from stored translation runs (never typed in).

- :func:`gather_translation` — the runs of a (α, seed) grid: stored ones, trained where missing.
- :func:`calibration_row` / :func:`calibration_table` — the Transformer's row of Table 3 (T fitted
  on val tokens, ECE on test tokens) beside the replication's (Multi30k) and the original's (WMT14).
- :func:`translation_table` — BLEU, token accuracy, NLL, ECE and the fitted T per α.
- :func:`reliability_panels`, :func:`temperature_curves` — the data of Figures 4 and 5, in the form
  ``lsbook.book.plots.reliability_diagram`` and ``lsbook.book.plots.calibration_sweep`` draw;
  :func:`optima` and :func:`sampling_text` — where each curve of Figure 5 is best, and how finely T
  is sampled there.
- :func:`examples_table` — the same test sentences translated by each α.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lsbook import paper
from lsbook.book.gather import RunGrid, gather, stored
from lsbook.book.pages import markdown_table
from lsbook.book.tables import format_spread, mean_std, seed_count_text
from lsbook.calibration import ReliabilityBins
from lsbook.errors import LsbookError
from lsbook.translation.settings import FINE_STEP, RECIPE

ORIGINAL_ROW = "transformer-wmt14"
# The CPU-sized Transformer trained past its best validation NLL (lsbook.recipes): at `paper` it is
# the chapter's main result, since the replication's own recipe needs a GPU.
CONVERGED = "transformer-multi30k-small"


def setup_text(profile: str, recipe: str = RECIPE) -> str:
    """One paragraph: the model, training and decoding a run of ``recipe`` at ``profile`` uses (from its configuration)."""
    from lsbook.data import get_dataset
    from lsbook.run_config import RunConfig

    config = RunConfig.of(recipe, 0.0, 0, profile)
    total = get_dataset(config.recipe.dataset).train_size
    r, s, m = config.recipe, config.translation, config.recipe.model_kwargs
    pairs = "all" if r.train_subset is None else f"{r.train_subset} of the"
    return (f"`{recipe}` at the `{profile}` profile has d_model = {m['d_model']}, {m['nhead']} heads, "
            f"{m['num_encoder_layers']} + {m['num_decoder_layers']} layers, feed-forward {m['dim_feedforward']} "
            f"and dropout {m['dropout']:g}; it trains for {r.epochs} epochs on {pairs} {total:,} training pairs "
            f"with Adam (lr {r.lr:g}, betas {r.adam_betas[0]:g}/{r.adam_betas[1]:g}, eps {r.adam_eps:g}) in "
            f"batches of {r.batch_size} sentences, with a byte-level BPE vocabulary of {s.vocab_size} per "
            f"language; BLEU uses beam search with {s.beam_size} beams and length penalty {s.length_penalty:g}.")


def gather_translation(alphas: Sequence[float], seeds: Sequence[int], profile: str, *, train: bool = True,
                       device: str | None = None, store=None, progress: bool = True) -> RunGrid:
    """The translation runs at every (α, seed): stored ones, plus newly trained ones if ``train``
    (:func:`lsbook.book.gather.gather`; the engine hands Transformer recipes to lsbook.translation)."""
    return gather(RECIPE, alphas, seeds, profile, train=train, device=device, store=store, progress=progress)


def main_grid(quick: RunGrid, alphas: Sequence[float], *, store=None) -> RunGrid:
    """What the chapter shows first: the stored `paper` runs of CONVERGED (every stored seed) where
    there are any and the build is not a smoke test, else the profile's own runs ``quick``."""
    if quick.profile == "smoke":
        return quick
    converged = stored(CONVERGED, alphas, "paper", store=store)
    return converged if converged.records else quick


def regime_text(grid: RunGrid) -> str:
    """Where the α = 0 runs stand at their last epoch (from the per-epoch validation record): past
    their best validation NLL or still improving, and over- or underconfident by the fitted T."""
    parts = []
    for record in grid.at(0.0):
        history = [h for h in record.metrics.get("history", []) if "val_nll" in h]
        if not history:
            continue
        nll = [h["val_nll"] for h in history]
        best, last = int(np.argmin(nll)), len(nll) - 1
        seed = record.config["seed"]
        if best < last:
            where = (f"passed its best validation NLL ({nll[best]:.3f} after epoch {history[best]['epoch']}; "
                     f"{nll[last]:.3f} after the last, epoch {history[last]['epoch']})")
        else:
            drop = nll[last - 1] - nll[last] if last > 0 else float("nan")
            where = (f"not reached its best validation NLL: it was still falling at the last epoch "
                     f"({nll[last]:.3f} after epoch {history[last]['epoch']}, {drop:.3f} lower than the epoch before), "
                     "so it is underfit")
        temperature = float(record.metrics["val_temperature"])
        mood = ("overconfident" if temperature >= 1 + CALIBRATED_BAND else
                "underconfident" if temperature <= 1 - CALIBRATED_BAND else "neither over- nor underconfident")
        parts.append(f"The α = 0 run of seed {seed} has {where}; the temperature fitted on its validation "
                     f"tokens is T = {temperature:.2f}: {mood} by the rule below.")
    if not parts:
        return "No stored α = 0 run keeps a per-epoch validation record."
    return f"`{grid.recipe}` at `{grid.profile}`: " + " ".join(parts)


def training_curves(grid: RunGrid) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """Per run ('α = 0, seed 0'): (epochs, values) of each per-epoch validation metric it recorded,
    in the form ``lsbook.book.plots.epoch_curves`` draws."""
    curves: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for record in grid.all():
        history = record.metrics.get("history", [])
        label = f"α = {record.config['alpha']:g}, seed {record.config['seed']}"
        for metric in ("val_nll", "val_temperature", "val_ece"):
            points = [(h["epoch"], h[metric]) for h in history if metric in h]
            if points:
                curves.setdefault(label, {})[metric] = ([p[0] for p in points], [float(p[1]) for p in points])
    return curves


def _values(grid: RunGrid, alpha: float, name: str) -> list[float]:
    return [float(r.metrics[name]) for r in grid.at(alpha)]


def ours_label(grid: RunGrid) -> str:
    """'ours (cpu, 1 seed, Multi30k)' — the profile and the number of seeds behind the numbers."""
    recipe = "" if grid.recipe == RECIPE else f"`{grid.recipe}`, "
    return f"ours ({recipe}{grid.profile}, {seed_count_text(grid)}, Multi30k)"


# --- Table 3's Transformer row ----------------------------------------------------------------------

@dataclass(frozen=True)
class CalibrationRow:
    """Table 3 for the Transformer: temperature scaling of α = 0 beside label smoothing at T = 1."""

    baseline_ece: list[float]        # per seed: α = 0, T = 1, test tokens
    temperature: list[float]         # per seed: T fitted on the α = 0 run's val tokens
    scaled_ece: list[float]          # per seed: α = 0 at that T, test tokens
    ece: dict[float, list[float]]    # α -> per seed: test-token ECE at T = 1


def calibration_row(grid: RunGrid) -> CalibrationRow:
    """The numbers of the Transformer's Table 3 row from the grid's stored runs."""
    return CalibrationRow(_values(grid, 0.0, "test_ece"), _values(grid, 0.0, "val_temperature"),
                          _values(grid, 0.0, "test_ece_at_val_temperature"),
                          {a: _values(grid, a, "test_ece") for a in grid.alphas})


def calibration_table(grid: RunGrid, alphas: Sequence[float]) -> str:
    """Table 3, Transformer row, in Table 3's columns (the α = 0 model at its T, then every α at
    T = 1): ours (T fitted on val), the replication's (Multi30k, T picked on test), the original's (WMT14)."""
    row = calibration_row(grid)
    header = ["source", "data", "ECE at T (α = 0)", "T", *[f"ECE α = {a:g} (T = 1)" for a in alphas]]
    rows = [[ours_label(grid), "Multi30k test tokens", format_spread(row.scaled_ece, 3),
             format_spread(row.temperature, 2) + " (val)",
             *[format_spread(row.ece.get(float(a), []), 3) for a in alphas]]]
    for source, data, published in ((paper.REPLICATION, "Multi30k", paper.REPLICATION_CALIBRATION.get(RECIPE)),
                                    (paper.ORIGINAL, "WMT14 EN-DE val tokens",
                                     paper.ORIGINAL_CALIBRATION.get(ORIGINAL_ROW))):
        if published is None:
            continue
        by_alpha = dict(published.smoothed_ece)
        if published.baseline_ece is not None:
            by_alpha[0.0] = published.baseline_ece
        where = " (test)" if source == paper.REPLICATION else ""
        rows.append([source, data, f"{published.scaled_ece:.3f}", f"{published.temperature:g}{where}",
                     *[_fmt(by_alpha.get(float(a)), 3) for a in alphas]])
    return markdown_table(header, rows, "ll" + "r" * (2 + len(alphas)))


def published_text() -> str:
    """One paragraph with the published Transformer calibration numbers (lsbook.paper)."""
    original = paper.ORIGINAL_CALIBRATION[ORIGINAL_ROW]
    replication = paper.REPLICATION_CALIBRATION[RECIPE]
    smoothed = ", ".join(f"{e:.3f} at α = {a:g}" for a, e in sorted(replication.smoothed_ece.items()))
    original_smoothed = ", ".join(f"{e:.3f} with α = {a:g}" for a, e in sorted(original.smoothed_ece.items()))
    return (f"For comparison, {paper.ORIGINAL} report a token-level ECE of {original.baseline_ece:.3f} for "
            f"their WMT14 Transformer without label smoothing, {original.scaled_ece:.3f} with temperature "
            f"scaling at T = {original.temperature:g}, and {original_smoothed}. {paper.REPLICATION} report "
            f"{replication.baseline_ece:.3f} on Multi30k without label smoothing, {replication.scaled_ece:.3f} at "
            f"T = {replication.temperature:g} chosen on the test split, and {smoothed} — measured with "
            "the padding positions counted as tokens.")


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _optional_values(grid: RunGrid, alpha: float, name: str) -> list[float]:
    """The metric of every run at α, or [] (shown as "–") if a run lacks it (older records)."""
    records = grid.at(alpha)
    return [float(r.metrics[name]) for r in records] if all(name in r.metrics for r in records) else []


def translation_table(grid: RunGrid) -> str:
    """Per α: test BLEU (beam cased and uncased, greedy, at the fitted T), token accuracy, NLL, ECE,
    fitted T. Records made before the uncased BLEU was kept show "–" there."""
    header = ["α", "BLEU (beam, T = 1)", "BLEU uncased (beam, T = 1)", "BLEU (greedy)", "BLEU at fitted T",
              "token accuracy [%]", "NLL (T = 1)", "ECE (T = 1)", "T fitted on val", "ECE at fitted T"]
    rows = []
    for a in grid.alphas:
        if not grid.at(a):
            continue
        rows.append([f"{a:g}", format_spread(_values(grid, a, "test_bleu"), 2),
                     format_spread(_optional_values(grid, a, "test_bleu_uncased"), 2),
                     format_spread(_values(grid, a, "test_bleu_greedy"), 2),
                     format_spread(_values(grid, a, "test_bleu_at_val_temperature"), 2),
                     format_spread(_values(grid, a, "test_accuracy"), 2, 100.0),
                     format_spread(_values(grid, a, "test_nll"), 3), format_spread(_values(grid, a, "test_ece"), 3),
                     format_spread(_values(grid, a, "val_temperature"), 2),
                     format_spread(_values(grid, a, "test_ece_at_val_temperature"), 3)])
    return markdown_table(header, rows, "r" * len(header))


def summary_numbers(grid: RunGrid) -> dict[str, float]:
    """Means over seeds, by name, for ``glue`` in the prose (e.g. ``ece_0``, ``bleu_0.1``, ``T_0``)."""
    numbers: dict[str, float] = {}
    for a in grid.alphas:
        if not grid.at(a):
            continue
        for key, name in (("ece", "test_ece"), ("bleu", "test_bleu"), ("nll", "test_nll"), ("T", "val_temperature"),
                          ("ece_T", "test_ece_at_val_temperature"), ("bleu_T", "test_bleu_at_val_temperature"),
                          ("accuracy", "test_accuracy")):
            numbers[f"{key}_{a:g}"] = mean_std(_values(grid, a, name))[0]
    return numbers


CALIBRATED_BAND = 0.1  # |T − 1| below this: the fitted temperature calls a model neither over- nor underconfident


def calibration_text(grid: RunGrid) -> str:
    """Sentences on Table 3's row (means over seeds): ECE of α = 0 at T = 1 and at its fitted T, of
    each α > 0 at T = 1, and which models the fitted T calls over- or underconfident."""
    present = [a for a in grid.alphas if grid.at(a)]
    if not present:
        return "No stored run at this profile."
    ece = {a: mean_std(_values(grid, a, "test_ece"))[0] for a in present}
    fitted = {a: mean_std(_values(grid, a, "val_temperature"))[0] for a in present}
    parts = []
    if 0.0 in present:
        scaled = mean_std(_values(grid, 0.0, "test_ece_at_val_temperature"))[0]
        parts.append(f"Without label smoothing our Transformer's test-token ECE is {ece[0.0]:.3f} at T = 1 and "
                     f"{scaled:.3f} at the temperature fitted on the validation tokens, T = {fitted[0.0]:.2f}.")
    smoothed = [a for a in present if a > 0]
    if smoothed:
        parts.append("With label smoothing (T = 1) it is " + ", ".join(f"{ece[a]:.3f} (α = {a:g})" for a in smoothed)
                     + ".")
    # A fitted T within CALIBRATED_BAND of 1 changes the probabilities by less than the seed-to-seed
    # spread of T; only outside it does the temperature call a model over- or underconfident.
    over = [a for a in present if fitted[a] >= 1.0 + CALIBRATED_BAND]
    under = [a for a in present if fitted[a] <= 1.0 - CALIBRATED_BAND]
    near = [a for a in present if a not in over and a not in under]
    describe = lambda alphas: ", ".join(f"{a:g}" for a in alphas)  # noqa: E731
    if over:
        parts.append(f"A fitted T of {1 + CALIBRATED_BAND:g} or more (α = {describe(over)}) marks an overconfident "
                     "model, whose probabilities the temperature flattens.")
    if under:
        parts.append(f"A fitted T of {1 - CALIBRATED_BAND:g} or less (α = {describe(under)}) marks an underconfident "
                     "one, whose probabilities it sharpens.")
    if near:
        parts.append(f"At α = {describe(near)} the fitted T is within {CALIBRATED_BAND:g} of 1: neither over- nor "
                     "underconfident by this rule.")
    return " ".join(parts)


def findings_text(grid: RunGrid) -> str:
    """Sentences on what the stored runs show (means over seeds): BLEU, NLL and the temperature
    that minimises test ECE on the grid, per α. The verdicts on the claims of Section 5.3 come from
    the claim ledger (lsbook.claims), not from here."""
    present = [a for a in grid.alphas if grid.at(a)]
    if not present:
        return "No stored run at this profile."
    bleu = {a: mean_std(_values(grid, a, "test_bleu"))[0] for a in present}
    nll = {a: mean_std(_values(grid, a, "test_nll"))[0] for a in present}
    fitted = {a: mean_std(_values(grid, a, "val_temperature"))[0] for a in present}
    best_t = {}
    for a in present:
        per_seed = []
        for record in grid.at(a):
            curve = record.metrics["curves"]
            per_seed.append(curve["temperatures"][int(np.argmin(curve["test"]["ece"]))])
        best_t[a] = mean_std(per_seed)[0]

    def listing(values: dict[float, float], digits: int) -> str:
        return ", ".join(f"{v:.{digits}f} (α = {a:g})" for a, v in values.items())

    text = (f"Test BLEU of beam search at T = 1 is {listing(bleu, 2)}; test-token NLL at T = 1 is "
            f"{listing(nll, 3)}. On the temperature grid, test ECE is lowest at T = {listing(best_t, 2)}; "
            f"the NLL-minimising temperature fitted on the validation tokens is {listing(fitted, 2)}.")
    return text


# --- Figures 4 and 5 ------------------------------------------------------------------------------

def stored_bins(record, temperature: float | None = None) -> ReliabilityBins:
    """Test-token reliability bins of a record at one of its temperatures (None: the fitted T)."""
    arrays = record.arrays
    if temperature is None:
        return ReliabilityBins(arrays["bin_edges"], arrays["test_bins_fitted_counts"],
                               arrays["test_bins_fitted_confidence"], arrays["test_bins_fitted_accuracy"])
    temperatures = np.asarray(arrays["temperatures"])
    matches = np.flatnonzero(np.isclose(temperatures, temperature))
    if matches.size == 0:
        raise LsbookError(f"temperature {temperature} is not among the run's {temperatures.tolist()}")
    i = int(matches[0])
    return ReliabilityBins(arrays["bin_edges"], arrays["test_bins_counts"][i], arrays["test_bins_confidence"][i],
                           arrays["test_bins_accuracy"][i])


def reliability_panels(grid: RunGrid, seed: int | None = None) -> dict[str, dict[str, ReliabilityBins]]:
    """Figure 4: test-token reliability of α = 0 at T = 1 and at its fitted T, and of each α > 0 at T = 1."""
    seed = grid.seeds[0] if seed is None else seed
    series: dict[str, ReliabilityBins] = {}
    for a in grid.alphas:
        record = grid.records.get((a, seed))
        if record is None:
            continue
        series[f"α = {a:g}, T = 1"] = stored_bins(record, 1.0)
        if a == 0.0:
            series[f"α = 0, T = {record.metrics['val_temperature']:.2f} (fitted on val)"] = stored_bins(record)
    if not series:
        raise LsbookError(f"no stored translation run for seed {seed}")
    return {f"Transformer, Multi30k test tokens ({grid.profile})": series}


# Which end of each Figure 5 metric is best: the optimum the figure marks and the text reports.
BEST = {"ece": "min", "nll": "min", "bleu": "max"}
Curve = tuple[list[float], list[float]]  # (temperatures, values), in increasing T


def temperature_curves(grid: RunGrid, seed: int | None = None) -> dict[str, dict[str, Curve]]:
    """Figure 5: {"α = a": {"ece": (T, values), "nll": (T, values), "bleu": (T, values)}} on test.

    ECE and NLL are read at every temperature of the token grid, BLEU at every temperature where
    beam search was rerun (its own, coarser grid): each metric keeps its own temperatures.
    """
    seed = grid.seeds[0] if seed is None else seed
    records = {a: grid.records[(a, seed)] for a in grid.alphas if (a, seed) in grid.records}
    if not records:
        raise LsbookError(f"no stored translation run for seed {seed}")
    curves = {}
    for a, record in records.items():
        token, bleu = record.metrics["curves"], record.metrics["bleu_curves"]
        curves[f"α = {a:g}"] = {"ece": (list(token["temperatures"]), list(token["test"]["ece"])),
                                "nll": (list(token["temperatures"]), list(token["test"]["nll"])),
                                "bleu": (list(bleu["temperatures"]), list(bleu["test"]))}
    return curves


@dataclass(frozen=True)
class Optimum:
    """Where a curve of Figure 5 is best, and how finely the grid samples T there."""
    temperature: float
    value: float
    step: float        # the larger distance to a neighbouring temperature of the grid
    at_edge: bool      # the best value is the first or last point: the optimum may lie outside


def optimum(curve: Curve, best: str) -> Optimum:
    """The best point of ``curve`` ("min" or "max" of the values) and the grid step around it."""
    temperatures, values = (np.asarray(v, dtype=float) for v in curve)
    if temperatures.size < 2 or temperatures.shape != values.shape or np.any(np.diff(temperatures) <= 0):
        raise LsbookError("a curve needs at least two points at increasing temperatures")
    i = int(np.argmin(values) if best == "min" else np.argmax(values))
    gaps = np.diff(temperatures)
    step = float(max(gaps[i - 1] if i > 0 else 0.0, gaps[i] if i < gaps.size else 0.0))
    return Optimum(float(temperatures[i]), float(values[i]), step, i in (0, temperatures.size - 1))


def optima(curves: dict[str, dict[str, Curve]]) -> dict[str, dict[str, Optimum]]:
    """:func:`optimum` of every curve of :func:`temperature_curves`, by label and metric."""
    return {label: {metric: optimum(curve, BEST[metric]) for metric, curve in by_metric.items()}
            for label, by_metric in curves.items()}


def sampling_text(curves: dict[str, dict[str, Curve]], fine_step: float = FINE_STEP) -> str:
    """One sentence for Figure 5's caption: whether every optimum (ring) is located to within
    ``fine_step``, naming the curves where it is not (a coarse grid there, or the grid's edge)."""
    names = {"ece": "ECE", "nll": "NLL", "bleu": "BLEU"}
    coarse, edge = [], []
    for label, by_metric in optima(curves).items():
        for metric, best in by_metric.items():
            where = f"{names.get(metric, metric)} of {label} (T = {best.temperature:g})"
            if best.at_edge:
                edge.append(where)
            elif best.step > fine_step + 1e-9:
                coarse.append(f"{where}, where the grid steps by {best.step:g}")
    if not coarse and not edge:
        return (f"Rings mark each curve's optimum; the grid steps by at most {fine_step:g} around every one "
                "of them.")
    parts = ["Rings mark each curve's optimum."]
    if coarse:
        parts.append(f"These are located only coarsely: {'; '.join(coarse)}.")
    if edge:
        parts.append(f"These lie at the edge of the grid, so the optimum may lie beyond it: {'; '.join(edge)}.")
    return " ".join(parts)


def examples_table(grid: RunGrid, seed: int | None = None, count: int = 4) -> str:
    """The first ``count`` test sentences: source, reference and each α's beam-search translation."""
    seed = grid.seeds[0] if seed is None else seed
    records = {a: grid.records[(a, seed)] for a in grid.alphas if (a, seed) in grid.records}
    if not records:
        raise LsbookError(f"no stored translation run for seed {seed}")
    first = next(iter(records.values())).metrics["examples"]
    rows = []
    for i, example in enumerate(first[:count]):
        rows.append(["source (en)", example["source"]])
        rows.append(["reference (de)", example["reference"]])
        for a, record in records.items():
            rows.append([f"α = {a:g}", record.metrics["examples"][i]["hypothesis"]])
    return markdown_table(["", "sentence"], rows, "ll")
