"""The book's tables, computed from stored runs and set beside the published numbers.

Table 2 (accuracy), Table 3 (calibration, with T fitted on the held-out validation split and
never on the reported test split), Table 5 (the recipes), the reproducibility table, and the
differences from the replication (lsbook.differences). Each returns MyST Markdown (a pipe table)
ready for ``lsbook.book.pages.show``. The numbers over seeds that every chapter's tables share are
here too: :func:`mean_std`, :func:`format_spread` and :class:`Summary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from lsbook import paper
from lsbook.book.gather import RunGrid
from lsbook.book.pages import markdown_table
from lsbook.differences import Difference
from lsbook.recipes import ARCHITECTURE_TITLES

def describe(recipe: str) -> tuple[str, str]:
    """(dataset title, architecture title) of a recipe, or of one of the original's extra rows."""
    from lsbook.data import get_dataset
    from lsbook.recipes import RECIPES, schedule_text

    if recipe in paper.EXTRA_ROWS:
        dataset = "ImageNet" if "imagenet" in recipe else "WMT14 EN-DE"
        return dataset, "Inception-v4" if "inception" in recipe else "Transformer"
    r = RECIPES[recipe]
    architecture = ARCHITECTURE_TITLES.get(r.model, r.model)
    schedule = schedule_text(recipe)  # a variant sized for this machine names its length
    return get_dataset(r.dataset).title, architecture + (f", {schedule}" if schedule else "")


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("mean_std needs at least one value")
    return float(values.mean()), (float(values.std(ddof=1)) if values.size > 1 else None)


@dataclass
class Summary:
    """Mean and spread over seeds of one quantity."""

    values: list[float]                     # one per seed found

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else float("nan")

    def text(self, scale: float = 100.0, digits: int = 2, unit: str = "%", missing: str = "missing") -> str:
        """"m ± s %" (or "m %" for one seed, ``missing`` for none)."""
        if not self.values:
            return missing
        if self.n == 1:
            return f"{self.mean * scale:.{digits}f}{unit}"
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f}{unit}"


def format_spread(values: Sequence[float], digits: int, scale: float = 1.0) -> str:
    """'mean ± std' (or the single value, or "–" for none) of ``values × scale`` with ``digits`` decimals."""
    return Summary([float(v) for v in values]).text(scale, digits, unit="", missing="–")


def _published(value: paper.Value | None, digits: int) -> str:
    if value is None:
        return "–"
    text = f"{value.value:.{digits}f}"
    return text if value.std is None else f"{text} ± {value.std:.{digits}f}"


def _by_recipe(grids: Iterable[RunGrid]) -> list[tuple[str, list[RunGrid]]]:
    """Grids grouped by recipe, in order of first appearance (one recipe may have several
    grids: the build's profile and stored runs of another profile)."""
    groups: dict[str, list[RunGrid]] = {}
    for grid in grids:
        groups.setdefault(grid.recipe, []).append(grid)
    return list(groups.items())


def grid_title(grid: RunGrid, short: bool = False) -> str:
    """How a figure names a grid of runs: "ResNet-56, CIFAR-10 (JPEG re-encode), 40 epochs (...) [paper]"
    (``short``: the schedule without its steps, for a panel's row label)."""
    dataset, architecture = describe(grid.recipe)
    name, _, schedule = architecture.partition(", ")
    if short:  # a panel's row label: the schedule's epochs, the encoding in one word
        schedule, dataset = schedule.split(" (")[0], dataset.replace(" re-encode", "")
    return f"{name}, {dataset}" + (f", {schedule}" if schedule else "") + f" [{grid.profile}]"


# The α at which the original's Figure 3 calibrates ResNet-56: drawn beside a diagram's own α where stored.
ORIGINAL_FIGURE3_ALPHA = 0.05


def diagram_runs(grid: RunGrid, alpha: float) -> list:
    """The smoothed runs a reliability diagram draws for ``grid``: its first seed at α, and at the
    original's Figure 3 α where the grid holds it."""
    alphas = sorted({float(alpha), *((ORIGINAL_FIGURE3_ALPHA,) if grid.at(ORIGINAL_FIGURE3_ALPHA) else ())})
    return [grid.at(a)[0] for a in alphas if grid.at(a)]


def _ours_label(grid: RunGrid) -> str:
    if not grid.records:
        why = "dataset not on this machine" if grid.missing_data else "not run"
        return f"ours ({grid.profile}): {why}"
    synthetic = any(r.config.get("resolved_recipe", {}).get("synthetic_data") for r in grid.all())
    return f"ours ({grid.profile}, {seed_count_text(grid)}{', synthetic stand-in data' if synthetic else ''})"


def seed_count_text(grid: RunGrid) -> str:
    """'1 seed', '3 seeds', or '1–2 seeds per α' while a grid is still being filled."""
    per_alpha = [len(grid.at(a)) for a in grid.alphas if grid.at(a)]
    if per_alpha and min(per_alpha) != max(per_alpha):
        return f"{min(per_alpha)}–{max(per_alpha)} seeds per α"
    seeds = {s for (_, s) in grid.records}
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"


# --- Table 2 -------------------------------------------------------------------------------------

def accuracy_table(grids: Iterable[RunGrid], alphas: Sequence[float], extra_rows: Sequence[str] = ()) -> str:
    """Table 2: top-1 test accuracy [%], ours (mean ± std over seeds) above the published rows."""
    header = ["dataset", "architecture", "source", *[f"α = {a:g}" for a in alphas]]
    rows = []
    for recipe, group in _by_recipe(grids):
        dataset, architecture = describe(recipe)
        for i, grid in enumerate(group):
            ours = [format_spread([r.metrics["test_accuracy"] for r in grid.at(a)], 2, 100.0) for a in alphas]
            rows.append([dataset if i == 0 else "", architecture if i == 0 else "", _ours_label(grid), *ours])
        rows += _published_accuracy_rows(recipe, alphas)
    for name in extra_rows:
        dataset, architecture = describe(name)
        rows += [[dataset, architecture, *row[2:]] for row in _published_accuracy_rows(name, alphas)]
    return markdown_table(header, rows, "lll" + "r" * len(alphas))


def _published_accuracy_rows(recipe: str, alphas: Sequence[float]) -> list[list[str]]:
    rows = []
    for source, table in ((paper.REPLICATION, paper.REPLICATION_ACCURACY),
                          (paper.ORIGINAL, paper.ORIGINAL_ACCURACY)):
        if recipe in table:
            cells = [_published(table[recipe].get(float(a)), 1 if source == paper.ORIGINAL else 2)
                     for a in alphas]
            rows.append(["", "", source, *cells])
    return rows


# --- Table 3 -------------------------------------------------------------------------------------

@dataclass
class CalibrationResult:
    """Calibration of one recipe's runs: temperature scaling of α = 0 beside label smoothing."""

    temperatures: list[float]          # per seed: T fitted on the validation split (α = 0)
    scaled_ece: list[float]            # per seed: test ECE of α = 0 at that T
    ece: dict[float, list[float]]      # α -> per seed: test ECE at T = 1


def calibration_of(grid: RunGrid, n_bins: int = 15) -> CalibrationResult:
    """Fit T on each α = 0 run's validation logits (never test) and measure test ECE (15 bins)."""
    from lsbook.calibration import expected_calibration_error, fit_temperature

    temperatures, scaled = [], []
    for record in grid.at(0.0):
        arrays = record.arrays
        t = fit_temperature(arrays["val_logits"], arrays["val_labels"])
        temperatures.append(t)
        scaled.append(expected_calibration_error(arrays["test_logits"], arrays["test_labels"], n_bins, t))
    ece = {a: [expected_calibration_error(r.arrays["test_logits"], r.arrays["test_labels"], n_bins)
               for r in grid.at(a)] for a in grid.alphas}
    return CalibrationResult(temperatures, scaled, ece)


def calibration_table(grids: Iterable[RunGrid], alphas: Sequence[float],
                      extra_rows: Sequence[str] = ()) -> str:
    """Table 3: ECE of α = 0 at its fitted T (and T), then ECE at T = 1 for every α."""
    header = ["dataset", "architecture", "source", "ECE at T (α = 0)", "T",
              *[f"ECE α = {a:g}" for a in alphas]]
    rows = []
    for recipe, group in _by_recipe(grids):
        dataset, architecture = describe(recipe)
        for i, grid in enumerate(group):
            result = calibration_of(grid)
            rows.append([dataset if i == 0 else "", architecture if i == 0 else "", _ours_label(grid),
                         format_spread(result.scaled_ece, 3), format_spread(result.temperatures, 2),
                         *[format_spread(result.ece.get(float(a), []), 3) for a in alphas]])
        rows += _published_calibration_rows(recipe, alphas)
    for name in extra_rows:
        dataset, architecture = describe(name)
        rows += [[dataset, architecture, *row[2:]] for row in _published_calibration_rows(name, alphas)]
    return markdown_table(header, rows, "lll" + "r" * (2 + len(alphas)))


def _published_calibration_rows(recipe: str, alphas: Sequence[float]) -> list[list[str]]:
    rows = []
    for source, table in ((paper.REPLICATION, paper.REPLICATION_CALIBRATION),
                          (paper.ORIGINAL, paper.ORIGINAL_CALIBRATION)):
        row = table.get(recipe)
        if row is None:
            continue
        by_alpha = dict(row.smoothed_ece)
        if row.baseline_ece is not None:
            by_alpha[0.0] = row.baseline_ece
        cells = [f"{by_alpha[float(a)]:.3f}" if float(a) in by_alpha else "–" for a in alphas]
        rows.append(["", "", source, f"{row.scaled_ece:.3f}", f"{row.temperature:g}", *cells])
    return rows


# --- Table 5 and profiles ------------------------------------------------------------------------

def recipes_table() -> str:
    """Table 5 generated from RECIPES: what each recipe trains, and which experiments use it."""
    from lsbook.recipes import RECIPES

    header = ["recipe", "dataset", "architecture", *[k.upper() if k != "accuracy" else "Acc."
                                                      for k in paper.EXPERIMENTS],
              "batch", "length", "optimiser", "lr schedule", "weight decay", "loss ×", "clip"]
    rows = []
    for name, r in RECIPES.items():
        dataset, architecture = describe(name)
        marks = paper.TABLE5_EXPERIMENTS.get(name, frozenset({"kd"} if name.startswith("fcn-mnist-") else ()))
        optimiser = f"{r.optimizer} lr {r.lr:g}" + (f", momentum {r.momentum:g}" if r.momentum else "") + \
            (" (Nesterov)" if r.nesterov else "")
        rows.append([f"`{name}`", dataset, architecture,
                     *["✓" if k in marks else "" for k in paper.EXPERIMENTS],
                     r.batch_size, f"{r.epochs} epochs" if r.total_steps is None else f"{r.total_steps:,} steps",
                     optimiser, _schedule(r),
                     f"{r.weight_decay:g}" if r.weight_decay else "0", f"{r.loss_multiplier:g}",
                     f"{r.grad_clip_norm:g}" if r.grad_clip_norm else "–"])
    return markdown_table(header, rows, "lll" + "c" * len(paper.EXPERIMENTS) + "rrllrrr")


def _schedule(r) -> str:
    if r.schedule == "multistep" and r.lr_milestone_steps:
        return f"×{r.lr_gamma:g} at steps {', '.join(f'{m:,}' for m in r.lr_milestone_steps)}"
    if r.schedule == "multistep":
        return f"×{r.lr_gamma:g} at epochs {', '.join(map(str, r.lr_milestones))}"
    if r.schedule == "step":
        return f"×{r.lr_gamma:g} every {r.lr_step_epochs} epochs"
    if r.schedule == "linear":
        return "linear to 0"
    return "constant"


def profile_changes_table(profile: str) -> str:
    """Everything ``profile`` changes from the ``paper`` profile (lsbook.profiles.profile_changes):
    each recipe's fields, the Transformer's settings, chapter defaults, probe intervals."""
    from lsbook.profiles import profile_changes

    rows = [[what, changes] for what, changes in profile_changes(profile)]
    return markdown_table(["what", f"changed by the `{profile}` profile"], rows, "ll")


# --- Reproducibility ---------------------------------------------------------------------------

def reproducibility_table(records: Iterable) -> str:
    """One row per stored run: what it is, its headline number and where/how it was made."""
    header = ["run", "recipe", "α", "seed", "teacher", "profile", "test acc. [%]", "hardware", "torch",
              "code", "engine", "date", "wall time"]
    rows = []
    for r in sorted(records, key=lambda r: (str(r.config.get("recipe")), str(r.config.get("profile")),
                                            r.config.get("alpha") or 0.0, r.config.get("seed") or 0, r.key)):
        c, m, p = r.config, r.metrics, r.provenance
        commit = (p.get("git_commit") or "uncommitted")[:10] + ("+dirty" if p.get("git_dirty") else "")
        accuracy = m.get("test_accuracy")
        alpha = c.get("alpha")
        teacher = c.get("teacher_key")
        if teacher and c.get("distill"):
            teacher = f"{teacher} at T = {c['distill']['temperature']:g}"
        hardware = str(p.get("device_name") or p.get("device"))
        if p.get("cpu_capability"):
            hardware += f" ({p['cpu_capability']})"
        rows.append([f"`{r.key}`", f"`{c.get('recipe')}`", "–" if alpha is None else f"{alpha:g}",
                     c.get("seed"), teacher, c.get("profile"),
                     "–" if accuracy is None else f"{100 * accuracy:.2f}",
                     hardware, p.get("torch_version"), commit,
                     c.get("engine_version"), str(p.get("date", ""))[:10],
                     f"{p.get('wall_seconds', 0):.0f} s"])
    return markdown_table(header, rows, "llrrllrlllrlr")


# --- Sentences for the prose (glued into the text) -------------------------------------------------

def accuracy_summary(grids: Iterable[RunGrid]) -> str:
    """One sentence per recipe with runs: accuracy at α = 0 and the best α (means over seeds)."""
    parts = []
    for grid in grids:
        means = {a: float(np.mean([r.metrics["test_accuracy"] for r in grid.at(a)]))
                 for a in grid.alphas if grid.at(a)}
        if 0.0 not in means or len(means) < 2:
            continue
        dataset, architecture = describe(grid.recipe)
        best = max((a for a in means if a > 0), key=lambda a: means[a])
        change = 100 * (means[best] - means[0.0])
        parts.append(f"{architecture} on {dataset} ({grid.profile} profile): {100 * means[0.0]:.2f} % at α = 0, "
                     f"{100 * means[best]:.2f} % at its best α = {best:g} ({change:+.2f} points)")
    if not parts:
        return ("No runs with both α = 0 and some α > 0 are available at this profile, so there "
                "is nothing of ours to compare yet; the table shows the published numbers.")
    return "Our runs give " + "; ".join(parts) + "."


def calibration_summary(grids: Iterable[RunGrid]) -> str:
    """One sentence per recipe: ECE at α = 0, after temperature scaling, and the best α."""
    parts = []
    for grid in grids:
        if not grid.at(0.0):
            continue
        result = calibration_of(grid)
        dataset, architecture = describe(grid.recipe)
        base = float(np.mean(result.ece[0.0]))
        text = (f"{architecture} on {dataset} ({grid.profile} profile): ECE {base:.3f} at α = 0, "
                f"{float(np.mean(result.scaled_ece)):.3f} at the fitted T = "
                f"{float(np.mean(result.temperatures)):.2f}")
        smoothed = {a: float(np.mean(v)) for a, v in result.ece.items() if a > 0 and v}
        if smoothed:
            best = min(smoothed, key=smoothed.get)
            text += f", and {smoothed[best]:.3f} with label smoothing at α = {best:g}"
        parts.append(text)
    if not parts:
        return ("No α = 0 runs are available at this profile, so there is no calibration of ours "
                "to report yet; the table shows the published numbers.")
    return "We measure " + "; ".join(parts) + "."


def published_line(recipe: str, kind: str = "accuracy") -> str:
    """The published numbers of a recipe in one line (for the missing-data notice).

    ``kind``: "accuracy" (Table 2, %) or "calibration" (Table 3, ECE at T = 1 per α).
    """
    if kind not in ("accuracy", "calibration"):
        raise ValueError(f"kind must be accuracy or calibration, got {kind!r}")
    parts = []
    if kind == "accuracy":
        for source, table, digits in ((paper.REPLICATION, paper.REPLICATION_ACCURACY, 2),
                                      (paper.ORIGINAL, paper.ORIGINAL_ACCURACY, 1)):
            if recipe in table:
                values = ", ".join(f"{_published(v, digits)} % at α = {a:g}" for a, v in table[recipe].items())
                parts.append(f"{source}: {values}")
    else:
        for source, table in ((paper.REPLICATION, paper.REPLICATION_CALIBRATION),
                              (paper.ORIGINAL, paper.ORIGINAL_CALIBRATION)):
            row = table.get(recipe)
            if row is not None:
                eces = {0.0: row.baseline_ece, **row.smoothed_ece}
                values = ", ".join(f"{e:.3f} at α = {a:g}" for a, e in sorted(eces.items()) if e is not None)
                parts.append(f"{source}: ECE {values}; {row.scaled_ece:.3f} at T = {row.temperature:g}")
    return ("Published: " + "; ".join(parts) + ".") if parts else "No published numbers for this combination."


# --- Published-only tables (pages whose runs are not stored yet) -------------------------------------

def published_calibration_table(names: Sequence[str], alphas: Sequence[float] = paper.TABLE_ALPHAS) -> str:
    """Table 3's published rows for ``names`` (recipes or the original's extra rows)."""
    header = ["dataset", "architecture", "source", "ECE at T (α = 0)", "T",
              *[f"ECE α = {a:g}" for a in alphas]]
    rows = []
    for name in names:
        dataset, architecture = describe(name)
        rows += [[dataset, architecture, *row[2:]] for row in _published_calibration_rows(name, alphas)]
    return markdown_table(header, rows, "lll" + "r" * (2 + len(alphas)))


def literature_table() -> str:
    """The original's Table 1: label smoothing in earlier work."""
    rows = [[row.task, row.metric, f"{row.without:g}", " / ".join(f"{v:g}" for v in row.with_ls)]
            for row in paper.ORIGINAL_LITERATURE]
    return markdown_table(["task", "metric", "without LS", "with LS"], rows, "llrr")


def differences_table(items: Iterable[Difference]) -> str:
    """One row per difference from the replication: the topic (with links to the chapters that
    discuss it), what the replication does and where it says so, what we do and where our code
    does it, and why."""
    from lsbook.book.execute import chapter_label

    rows = []
    for d in items:
        links = ", ".join(f"{{ref}}`{chapter_label(c)}`" for c in d.chapters)
        where = "; ".join([f"`{c}`" for c in d.code] + [f"recipe `{r}`" for r in d.recipes])
        scope = "" if d.general else " at " + ", ".join(f"`{p}`" for p in d.profiles)
        rows.append([f"**{d.topic}**{scope}" + (f" (see {links})" if links else ""),
                     f"{d.replication} *Source:* {d.source}.",
                     d.ours + (f" *In our code:* {where}." if where else ""),
                     d.why])
    return markdown_table(["", "The replication", "Here", "Why"], rows, "llll")


# The Fashion-MNIST offset, choice by choice: our FCN on all 60,000 images, then with each of the
# replication's three remaining code choices alone, then all three (lsbook.recipes, `fcn-fmnist-full-*`).
REPLICATION_ABLATION = (
    ("ours, all 60,000 images", "fcn-fmnist-full"),
    ("+ biases drawn like the weights", "fcn-fmnist-full-biasinit"),
    ("+ learning rate lowered per epoch", "fcn-fmnist-full-epochlr"),
    ("+ shifts of round(U(−2, 2)) px", "fcn-fmnist-full-roundshift"),
    ("all three: the replication's code", "fcn-fmnist-full-replication"),
)


def replication_ablation_table(store=None) -> str:
    """Per arm of REPLICATION_ABLATION: its stored `paper` runs at α = 0 (seeds), test accuracy
    mean ± sd, its effect (minus the first arm, on the seeds both have) and its offset from the
    replication's Table 2 number; "not trained yet" where an arm has no run."""
    from lsbook.store import Store

    store = store or Store()
    published = paper.REPLICATION_ACCURACY["fcn-fmnist"][0.0].value
    accuracy = {recipe: {int(r.config["seed"]): 100 * float(r.metrics["test_accuracy"])
                         for r in store.find(recipe=recipe, profile="paper", alpha=0.0)
                         if not r.config.get("teacher_key") and not r.config.get("step_callback")}
                for _, recipe in REPLICATION_ABLATION}
    base = accuracy[REPLICATION_ABLATION[0][1]]
    rows = []
    for arm, recipe in REPLICATION_ABLATION:
        found = accuracy[recipe]
        if not found:
            rows.append([arm, f"`{recipe}`", "–", "not trained yet", "–", "–"])
            continue
        shared = sorted(set(found) & set(base))
        effect = (format_spread([found[s] - base[s] for s in shared], 2) if shared and recipe != REPLICATION_ABLATION[0][1]
                  else "–")
        rows.append([arm, f"`{recipe}`", ", ".join(map(str, sorted(found))), format_spread(list(found.values()), 2),
                     effect, f"{np.mean(list(found.values())) - published:+.2f}".replace("-", "−")])
    return markdown_table(["arm", "recipe", "seeds", "test accuracy [%]", "effect [points]",
                           f"minus the replication's {published:.2f} %"], rows, "lllrrr")
