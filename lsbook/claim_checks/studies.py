"""Claims of the Transformer, distillation and mutual-information chapters.

The Transformer's BLEU and NLL compare α = 0.1 with α = 0 (the original's Table 1); its ECE compares
α* (lowest validation ECE) with α = 0. Distillation follows Table 4 and the M1–M4 curves of Figures 7
and 8; mutual information compares the late-training estimates of α = 0.1 and α = 0, each above
the estimator's reference on unrelated examples at the same N and L (lsbook.information).
"""

from __future__ import annotations

import math

import numpy as np

from lsbook import paper
from lsbook.claim_checks.reading import (MIN_SEEDS, ORIGINAL_19, REPLICATION_23, SMOOTHED, Context, Grid,
                                         accuracy_points, best_alpha, best_of, error_points, experiment_text,
                                         mean_of, measure, seed_only)
from lsbook.claims import MARGINS, Direction, LedgerRow, make_row
from lsbook.errors import LsbookError
from lsbook.intervals import (BinnedCalibration, Statistic, bleu_statistic, bootstrap_binned, bootstrap_over_examples,
                              difference, over_seeds, ratio_statistic)
from lsbook.store import Record


# --- Transformer ---------------------------------------------------------------------------------------

# The Transformer recipes a ledger reads, in order of preference at each considered profile: the
# replication's (its `paper` runs need a GPU), then the one sized for this CPU and trained past its
# best validation NLL (lsbook.recipes), which is what this machine can run at `paper`.
TRANSFORMERS = ("transformer-multi30k", "transformer-multi30k-small")
SENTENCE_ARRAYS = ("test_sentence_bleu_stats", "test_sentence_nll", "test_sentence_tokens")


def transformer_grid(ctx: Context, required: tuple[float, ...], optional: tuple[float, ...] = ()
                     ) -> tuple[str, Grid | None]:
    """(recipe, grid) of the first considered profile and recipe with every ``required`` α stored;
    (the CPU-sized recipe, None) if there is none."""
    for profile in ctx.profiles:
        for recipe in TRANSFORMERS:
            grid = ctx.grid(recipe, required, optional, profiles=(profile,))
            if grid is not None:
                return recipe, grid
    return TRANSFORMERS[-1], None


def _sentence_statistic(record: Record, metric_key: str):
    """The bootstrap statistic over test sentences of ``metric_key`` (test BLEU or NLL at T = 1)."""
    arrays = record.arrays
    if metric_key == "test_bleu":
        return bleu_statistic(arrays["test_sentence_bleu_stats"])
    return ratio_statistic(arrays["test_sentence_nll"], arrays["test_sentence_tokens"])


def _bins(record: Record, fitted: bool = False) -> BinnedCalibration:
    arrays = record.arrays
    if fitted:
        return BinnedCalibration(np.asarray(arrays["test_bins_fitted_counts"]),
                                 np.asarray(arrays["test_bins_fitted_accuracy"]),
                                 np.asarray(arrays["test_bins_fitted_confidence"]))
    temperatures = np.asarray(arrays["temperatures"])
    at_one = np.flatnonzero(np.isclose(temperatures, 1.0))
    if at_one.size == 0:
        raise LsbookError(f"run {record.key} stored no reliability bins at T = 1 "
                          f"(temperatures {temperatures.tolist()})")
    i = int(at_one[0])
    return BinnedCalibration(np.asarray(arrays["test_bins_counts"][i]), np.asarray(arrays["test_bins_accuracy"][i]),
                             np.asarray(arrays["test_bins_confidence"][i]))


def transformer_rows(ctx: Context) -> list[LedgerRow]:
    """The Transformer: BLEU up and NLL worse with α = 0.1 (original's Table 1), ECE down at α*,
    as well as temperature scaling (Table 3)."""
    rows = []
    no_scores = "these runs were stored before translation records kept per-sentence scores to bootstrap"
    for row_id, metric_key, direction, claim, source, metric in (
            ("tr-bleu", "test_bleu", Direction("increase"),
             f"Label smoothing with α = {SMOOTHED:g} raises the Transformer's test BLEU (beam search, T = 1).",
             f"{ORIGINAL_19}, Table 1 (WMT14: 25.3 → 25.8, from Vaswani et al.); {REPLICATION_23}, Section 5.3 "
             "(not reproduced on Multi30k)", f"test BLEU, α = {SMOOTHED:g} minus α = 0"),
            ("tr-nll", "test_nll", Direction("increase"),
             f"Label smoothing with α = {SMOOTHED:g} worsens the Transformer's test-token NLL at T = 1.",
             f"{ORIGINAL_19}, Table 1 (perplexity 4.67 → 4.92) and Section 5; {REPLICATION_23}, Section 5.3",
             f"test-token NLL at T = 1 [nats], α = {SMOOTHED:g} minus α = 0")):
        common = dict(id=row_id, chapter="transformer", claim=claim, source=source, metric=metric,
                      unit="BLEU" if metric_key == "test_bleu" else "nats", direction=direction)
        recipe, grid = transformer_grid(ctx, (0.0, SMOOTHED))
        if grid is None:
            rows.append(make_row(**common, experiment=f"`{recipe}` [{ctx.profiles[-1]}], α {SMOOTHED:g} vs 0",
                                 not_run=ctx.why(recipe)))
            continue
        per_seed = [float(grid.records[(SMOOTHED, s)].metrics[metric_key])
                    - float(grid.records[(0.0, s)].metrics[metric_key]) for s in grid.seeds]
        values = {a: np.mean([float(r.metrics[metric_key]) for r in grid.at(a)]) for a in (0.0, SMOOTHED)}
        records = [grid.records[(a, s)] for a in (0.0, SMOOTHED) for s in grid.seeds]
        if len(per_seed) < MIN_SEEDS and all(name in r.arrays for r in records for name in SENTENCE_ARRAYS):
            sentences = len(records[0].arrays["test_sentence_tokens"])
            estimate = bootstrap_over_examples(
                [difference(_sentence_statistic(grid.records[(SMOOTHED, s)], metric_key),
                            _sentence_statistic(grid.records[(0.0, s)], metric_key)) for s in grid.seeds],
                sentences, what="test sentences")
        else:
            estimate = seed_only(per_seed, no_scores)
        rows.append(make_row(**common, estimate=estimate, profile=grid.profile, seeds=grid.seeds,
                             experiment=experiment_text(f"`{recipe}`", grid.profile, f"α {SMOOTHED:g} vs 0",
                                                        grid.seeds),
                             note=f"{values[0.0]:.3f} at α = 0, {values[SMOOTHED]:.3f} at α = {SMOOTHED:g}"))
    rows.append(_nll_at_fitted_temperature_row(ctx))
    source = (f"{ORIGINAL_19}, Section 3 and Table 3 (WMT14); {REPLICATION_23}, Section 5.2, Table 3 and Figure 4")
    recipe, grid = transformer_grid(ctx, (0.0,), tuple(a for a in paper.TABLE_ALPHAS if a > 0))
    alpha = None if grid is None else best_alpha(grid, lambda r: float(r.metrics["val_ece"]))
    for row_id, direction, fitted, claim, metric in (
            ("tr-ece-lower", Direction("decrease"), False,
             "Label smoothing at α* lowers the Transformer's test-token ECE (T = 1).",
             "test-token ECE at α* (lowest validation ECE) minus α = 0, both at T = 1"),
            ("tr-ece-like-T", Direction("equivalent", MARGINS["ece"][0]), True,
             f"Label smoothing at α* calibrates the Transformer as well as temperature scaling of its α = 0 model: "
             f"the two test-token ECEs differ by at most {MARGINS['ece'][0]:g}.",
             "test-token ECE at α* minus α = 0 at the temperature fitted on the validation tokens")):
        common = dict(id=row_id, chapter="transformer", claim=claim, source=source, metric=metric, unit="",
                      direction=direction)
        if grid is None or alpha is None:
            rows.append(make_row(**common, experiment=f"`{recipe}` [{ctx.profiles[-1]}], α* vs 0",
                                 not_run=ctx.why(recipe) if grid is None else "no run at α > 0 is stored"))
            continue
        pairs = [(_bins(grid.records[(alpha, s)]), _bins(grid.records[(0.0, s)], fitted)) for s in grid.seeds]
        estimate = (over_seeds([a.ece() - b.ece() for a, b in pairs]) if len(pairs) >= MIN_SEEDS
                    else bootstrap_binned(pairs))
        base = grid.at(0.0)
        note = (f"test-token ECE {np.mean([_bins(r).ece() for r in base]):.3f} at α = 0 (T = 1), "
                f"{np.mean([_bins(r, True).ece() for r in base]):.3f} at the fitted T = "
                f"{np.mean([r.metrics['val_temperature'] for r in base]):.2f}, "
                + ", ".join(f"{np.mean([_bins(r).ece() for r in grid.at(a)]):.3f} at α = {a:g}"
                            for a in sorted(grid.alphas) if a > 0) + f"; α* = {alpha:g} by validation ECE")
        rows.append(make_row(**common, estimate=estimate, profile=grid.profile, seeds=grid.seeds, note=note,
                             experiment=experiment_text(f"`{recipe}`", grid.profile, f"α* = {alpha:g} vs 0",
                                                        grid.seeds)))
    return rows


def hard_labels_win(grid: Grid) -> str:
    """Over which of the stored temperatures the α = 0 model's mean test NLL is below the α = 0.1
    model's (the original: "at all temperatures"), read from the runs' NLL-against-T curves."""
    curves = {a: np.mean([r.metrics["curves"]["test"]["nll"] for r in grid.at(a)], axis=0) for a in (0.0, SMOOTHED)}
    temperatures = np.asarray(grid.at(0.0)[0].metrics["curves"]["temperatures"], dtype=float)
    wins = temperatures[curves[0.0] < curves[SMOOTHED]]
    if not len(wins):
        return f"hard labels give the lower test NLL at none of T = {temperatures[0]:g}–{temperatures[-1]:g}"
    return (f"hard labels give the lower test NLL at {len(wins)} of the {len(temperatures)} temperatures "
            f"{temperatures[0]:g}–{temperatures[-1]:g}, from T = {wins.min():g} to {wins.max():g}")


def _nll_at_fitted_temperature_row(ctx: Context) -> LedgerRow:
    """tr-nll at each model's own fitted T, where over- and underconfidence no longer decide the NLL."""
    common = dict(id="tr-nll-fitted", chapter="transformer", unit="nats", direction=Direction("increase"),
                  claim=f"Label smoothing with α = {SMOOTHED:g} worsens the Transformer's test-token NLL also after "
                        "temperature scaling, each model at the temperature fitted on its validation tokens (the "
                        "original: hard labels give the better NLL at all temperatures).",
                  source=f"{ORIGINAL_19}, Section 5; {REPLICATION_23}, Section 5.3 and Figure 5 (NLL against T)",
                  metric=f"test-token NLL at each model's fitted T [nats], α = {SMOOTHED:g} minus α = 0")
    recipe, grid = transformer_grid(ctx, (0.0, SMOOTHED))
    if grid is None:
        return make_row(**common, experiment=f"`{recipe}` [{ctx.profiles[-1]}], α {SMOOTHED:g} vs 0",
                        not_run=ctx.why(recipe))
    experiment = experiment_text(f"`{recipe}`", grid.profile, f"α {SMOOTHED:g} vs 0", grid.seeds)
    if not all("test_nll_at_val_temperature" in r.metrics for r in grid.records.values()):
        return make_row(**common, experiment=experiment, profile=grid.profile, seeds=grid.seeds,
                        no_estimate="the runs keep no NLL at their fitted temperature")
    per_seed = [float(grid.records[(SMOOTHED, s)].metrics["test_nll_at_val_temperature"])
                - float(grid.records[(0.0, s)].metrics["test_nll_at_val_temperature"]) for s in grid.seeds]
    estimate = seed_only(per_seed, "the runs keep the per-sentence NLL at T = 1 only")
    note = hard_labels_win(grid) if all("curves" in r.metrics for r in grid.records.values()) else ""
    return make_row(**common, estimate=estimate, profile=grid.profile, seeds=grid.seeds, note=note,
                    experiment=experiment)


# --- Knowledge distillation (Table 4, Figures 7 and 8) --------------------------------------------------------

def study_defaults(chapter: str) -> dict[str, tuple[tuple[str, ...], tuple[int, ...]]]:
    """profile -> (set-ups, seeds) of a study chapter's defaults (lsbook.profiles)."""
    from lsbook.profiles import PROFILES, chapter_defaults

    return {p: (tuple(chapter_defaults(p, chapter)["setups"]), tuple(chapter_defaults(p, chapter)["seeds"]))
            for p in PROFILES}


def _setups(ctx: Context, defaults: dict) -> list[str]:
    """Setup names the chapter runs at any considered profile, in order, without repeats."""
    names: list[str] = []
    for profile in ctx.profiles:
        for name in defaults[profile][0]:
            if name not in names:
                names.append(name)
    return names


def distillation_rows(ctx: Context) -> list[LedgerRow]:
    """Table 4 (teachers and students) and the M1–M4 orderings of Figures 7 and 8."""
    DISTILLATION_DEFAULTS = study_defaults("distillation")
    from lsbook.experiments.distillation_grid import SETUPS

    rows = []
    for name in _setups(ctx, DISTILLATION_DEFAULTS):
        setup = SETUPS[name]
        if setup.dropout_teacher_recipe is not None:
            rows.extend(_table4_rows(ctx, setup))
        rows.extend(_figure_rows(ctx, setup))
    return rows


def _study_seeds(ctx: Context, setup, profile: str) -> list[int]:
    recipes = {setup.teacher_recipe, setup.student_recipe, setup.dropout_teacher_recipe} - {None}
    return sorted(set().union(*(ctx.seeds(r, profile) for r in recipes)))


def _distill_command(name: str, profile: str) -> str:
    DISTILLATION_DEFAULTS = study_defaults("distillation")

    seeds = " ".join(map(str, DISTILLATION_DEFAULTS[profile][1]))
    return f"python -m lsbook distill {name} --profile {profile} --seeds {seeds}"


def _table4_rows(ctx: Context, setup) -> list[LedgerRow]:
    DISTILLATION_DEFAULTS = study_defaults("distillation")
    from lsbook.experiments.distillation_grid import StudyRecords

    figure = "Section 6.1 and Table 4"
    source = f"{ORIGINAL_19}, Section 4 (MNIST); {REPLICATION_23}, {figure}"
    stand_in = f" ({setup.stand_in})" if setup.stand_in else ""
    rows_spec = (
        (f"kd-teacher/{setup.name}", ("teacher with LS", "teacher without LS"), Direction("decrease"),
         f"The teacher trained with α = {setup.table4_alpha:g} and no dropout has a lower test error than the teacher "
         f"trained with dropout{stand_in}.", "test error, teacher with α minus teacher with dropout"),
        (f"kd-student/{setup.name}", ("student with LS", "student without LS"), Direction("increase"),
         "The student distilled from the smoothed teacher has a higher test error than the student of the dropout "
         f"teacher (both at T = 1){stand_in}.", "test error, student of the smoothed teacher minus student of the "
                                                "dropout teacher"))
    found = None
    for profile in ctx.profiles:
        runner = StudyRecords(ctx.store)
        per_seed = {}
        for seed in _study_seeds(ctx, setup, profile):
            records = {role: runner.record(config) for role, config in setup.table4_runs(seed, profile).items()}
            if all(r is not None for r in records.values()):
                per_seed[seed] = records
        if per_seed:
            found = (profile, per_seed)
            break
    rows = []
    for row_id, (first, second), direction, claim, metric in rows_spec:
        common = dict(id=row_id, chapter="distillation", claim=claim, source=source, metric=metric, unit="points",
                      direction=direction)
        if found is None:
            home = ctx.home(setup.name, DISTILLATION_DEFAULTS)
            rows.append(make_row(**common, experiment=f"study `{setup.name}` [{home}], Table 4",
                                 not_run=ctx.why(setup.teacher_recipe, home, _distill_command(setup.name, home))))
            continue
        profile, per_seed = found
        seeds = sorted(per_seed)
        statistics = [difference(error_points(per_seed[s][first]), error_points(per_seed[s][second])) for s in seeds]
        estimate = measure(statistics, [r for records in per_seed.values() for r in records.values()])
        errors = {role: np.mean([100 * (1 - per_seed[s][role].metrics["test_accuracy"]) for s in seeds])
                  for role in (first, second)}
        published = paper.ORIGINAL_DISTILLATION_ERROR
        note = (f"ours: {errors[first]:.2f} % vs {errors[second]:.2f} %; {paper.ORIGINAL} (MNIST): "
                f"{published[first].value:.2f} % vs {published[second].value:.2f} %")
        rows.append(make_row(**common, estimate=estimate, profile=profile, seeds=seeds, note=note,
                             experiment=experiment_text(f"study `{setup.name}`", profile, "Table 4's four runs",
                                                        seeds)))
    return rows


def _figure_rows(ctx: Context, setup) -> list[LedgerRow]:
    DISTILLATION_DEFAULTS = study_defaults("distillation")
    from lsbook.experiments.distillation_grid import StudyRecords

    figure = "Section 6.2 and Figure 8" if setup.distill_loss == "original" else "Section 6.1 and Figure 7"
    source = f"{ORIGINAL_19}, Section 4; {REPLICATION_23}, {figure}"
    stand_in = f" ({setup.stand_in})" if setup.stand_in else ""
    found = None
    for profile in ctx.profiles:
        runner = StudyRecords(ctx.store)
        per_seed = {}
        for seed in _study_seeds(ctx, setup, profile):
            teacher = lambda a: setup.teacher(a, seed, profile)  # noqa: E731
            m2 = {a: runner.record(setup.baseline(a, seed, profile)) for a in setup.alphas}
            m3 = {}
            for t in setup.temperatures:
                spec = setup.student(teacher(0.0), t)
                record = runner.record(spec)
                gamma = None if record is None else runner.smoothness(spec)
                if record is not None and gamma is not None:
                    m3[t] = (gamma, record)
            m4 = {}
            for a in setup.alphas:
                if a == 0:
                    continue                       # M4 at α = 0 is M3 at T = 1
                spec = setup.student(teacher(a), 1.0)
                record = runner.record(spec)
                gamma = None if record is None else runner.smoothness(spec)
                if record is not None and gamma is not None:
                    m4[a] = (gamma, record)
            m2 = {a: r for a, r in m2.items() if r is not None}
            if m2 and m3:
                per_seed[seed] = (m2, m3, m4)
        if per_seed:
            found = (profile, per_seed)
            break
    m3_m2 = dict(id=f"kd-m3-m2/{setup.name}", chapter="distillation", unit="points", direction=Direction("increase"),
                 source=source, claim="Distillation from the hard-label teacher beats training the student with label "
                                      f"smoothing alone: the best M3 student (over T) is more accurate than the best M2 "
                                      f"student (over α){stand_in}.",
                 metric="test accuracy, best M3 (student ← hard-label teacher at T) minus best M2 (student trained "
                        "with α, no teacher); both sides are maxima over test accuracies, so the selection favours "
                        "neither, and the bootstrap redoes it on every resample")
    m4_m3 = dict(id=f"kd-m4-m3/{setup.name}", chapter="distillation", unit="points", direction=Direction("decrease"),
                 source=source, claim="Students of smoothed teachers (M4, α > 0, T = 1) are less accurate than "
                                      "students of the hard-label teacher whose targets are as smooth (M3 at the same "
                                      f"γ){stand_in}.",
                 metric="test accuracy, M4 minus the M3 curve interpolated at M4's γ (mean over the M4 points "
                        "within M3's γ range)")
    if found is None:
        home = ctx.home(setup.name, DISTILLATION_DEFAULTS)
        experiment = f"study `{setup.name}` [{home}], M1–M4"
        why = ctx.why(setup.teacher_recipe, home, _distill_command(setup.name, home))
        return [make_row(**m3_m2, experiment=experiment, not_run=why),
                make_row(**m4_m3, experiment=experiment, not_run=why)]
    profile, per_seed = found
    seeds = sorted(per_seed)
    rows = []
    every = [r for m2, m3, m4 in per_seed.values() for r in [*m2.values(), *(v[1] for v in m3.values()),
                                                              *(v[1] for v in m4.values())]]
    statistics = []
    for s in seeds:
        m2, m3, _ = per_seed[s]
        statistics.append(difference(best_of([accuracy_points(r) for _, r in m3.values()]),
                                     best_of([accuracy_points(r) for r in m2.values()])))
    points = f"M2 at α {', '.join(f'{a:g}' for a in sorted(per_seed[seeds[0]][0]))}; M3 at T " + \
             ", ".join(f"{t:g}" for t in sorted(per_seed[seeds[0]][1]))
    rows.append(make_row(**m3_m2, estimate=measure(statistics, every), profile=profile, seeds=seeds, note=points,
                         experiment=experiment_text(f"study `{setup.name}`", profile, "M2 and M3", seeds)))
    statistics, compared = [], []
    for s in seeds:
        _, m3, m4 = per_seed[s]
        curve = sorted(m3.values(), key=lambda v: v[0])
        gammas = [g for g, _ in curve]
        inside = {a: v for a, v in m4.items() if len(curve) >= 2 and gammas[0] <= v[0] <= gammas[-1]}
        if not inside:
            continue
        compared.append(s)
        statistics.append(mean_of([difference(accuracy_points(record), _interpolated(curve, gamma))
                                    for gamma, record in inside.values()]))
    if not statistics:
        rows.append(make_row(**m4_m3, profile=profile, seeds=seeds,
                             experiment=experiment_text(f"study `{setup.name}`", profile, "M3 and M4", seeds),
                             no_estimate="no M4 student has a γ within the range of the M3 curve"))
    else:
        rows.append(make_row(**m4_m3, estimate=measure(statistics, every), profile=profile, seeds=compared,
                             experiment=experiment_text(f"study `{setup.name}`", profile, "M3 and M4", compared)))
    return rows


def _interpolated(curve: list[tuple[float, Record]], gamma: float) -> Statistic:
    """The M3 curve's accuracy at ``gamma`` (linear between its two neighbouring points, γ fixed)."""
    gammas = [g for g, _ in curve]
    right = min(int(np.searchsorted(gammas, gamma, side="left")), len(curve) - 1)
    left = max(right - 1, 0)
    if gammas[right] == gammas[left]:
        return accuracy_points(curve[right][1])
    weight = (gamma - gammas[left]) / (gammas[right] - gammas[left])
    a, b = accuracy_points(curve[left][1]), accuracy_points(curve[right][1])
    return lambda indices: (1 - weight) * np.asarray(a(indices)) + weight * np.asarray(b(indices))


# --- Mutual information -----------------------------------------------------------------------------------

LATE_FRACTION = 0.25      # "late in training": the last quarter of the probe's estimates


def mutual_information_rows(ctx: Context) -> list[LedgerRow]:
    """Late in training, Î above the unrelated-examples reference is lower with α = 0.1."""
    MI_DEFAULTS = study_defaults("mutual_information")
    from lsbook.experiments.mutual_info import MI_SETUPS, curve, find_curve
    from lsbook.information import collapsed_reference, unrelated_reference

    rows = []
    for name in _setups(ctx, MI_DEFAULTS):
        setup = MI_SETUPS[name]
        stand_in = f" ({setup.stand_in})" if setup.stand_in else ""
        common = dict(
            id=f"mi-fall/{name}", chapter="mutual_information", unit="nats", direction=Direction("decrease"),
            claim=f"Late in training (the last quarter of the estimates) the network trained with α = {SMOOTHED:g} "
                  "carries less information about the example index than the one trained with α = 0: its estimate "
                  f"above the reference on unrelated examples is lower{stand_in}.",
            source=f"{ORIGINAL_19}, Section 4, Figure 6 and Appendix A.2; {REPLICATION_23}, Section 6.3 (not reproduced)",
            metric="Î minus its reference on unrelated examples (same N, L), late-training mean, α = 0.1 minus α = 0")
        found = None
        for profile in ctx.profiles:
            per_seed = {}
            for seed in ctx.seeds(setup.recipe, profile, setup.callback_name(profile)):
                records = {a: find_curve(setup, a, seed, profile, ctx.store) for a in (0.0, SMOOTHED)}
                if all(r is not None for r in records.values()):
                    per_seed[seed] = {a: curve(r)[1] for a, r in records.items()}
            if per_seed:
                found = (profile, per_seed)
                break
        if found is None:
            home = ctx.home(name, MI_DEFAULTS)
            seeds = " ".join(map(str, MI_DEFAULTS[home][1]))
            rows.append(make_row(**common, experiment=f"`{setup.recipe}` with the MI probe [{home}], "
                                                      f"α {SMOOTHED:g} vs 0",
                                 not_run=ctx.why(setup.recipe, home, f"python -m lsbook mutual-info {name} "
                                                                     f"--profile {home} --seeds {seeds}")))
            continue
        profile, per_seed = found
        seeds = sorted(per_seed)
        probe = setup.probe_for(profile)
        n, draws = setup.num_examples(profile), probe.draws
        reference, collapsed = unrelated_reference(n, draws), collapsed_reference(n, draws)

        def late(values: np.ndarray) -> float:
            k = max(1, math.ceil(LATE_FRACTION * len(values)))
            return float(np.mean(values[-k:])) - reference.mean

        excess = {a: float(np.mean([late(per_seed[s][a]) for s in seeds])) for a in (0.0, SMOOTHED)}
        estimate = seed_only([late(per_seed[s][SMOOTHED]) - late(per_seed[s][0.0]) for s in seeds],
                              "a run keeps only Î, not the per-example terms a bootstrap would resample")
        note = (f"late Î above the reference ({reference.mean:.3f} nats on unrelated examples at N = {n}, L = {draws}): "
                f"{excess[0.0]:.3f} at α = 0, {excess[SMOOTHED]:.3f} at α = {SMOOTHED:g}; two collapsed clusters read "
                f"{collapsed.mean:.3f} (log 2 = {math.log(2):.3f})")
        rows.append(make_row(**common, estimate=estimate, profile=profile, seeds=seeds, note=note,
                             experiment=experiment_text(f"`{setup.recipe}` with the MI probe", profile,
                                                    f"α {SMOOTHED:g} vs 0", seeds)))
    return rows
