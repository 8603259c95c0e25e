"""The claim ledger: each claim of the two papers as a measurement, a 95 % interval and a verdict.

A row states one claim as a testable sentence, where it is made (paper, section, table or figure),
the runs that test it (recipe, profile, seeds), the metric and the direction claimed, our estimate
with its interval (lsbook.intervals: over seeds where there are at least three, else a paired
bootstrap over test examples, labelled as such), and a verdict reached by DECISION_RULE:
confirmed, contradicted, inconclusive, or not run here (with the reason from lsbook.book.scope).

Everything is computed from the results store when asked, so a newly stored run can flip a
verdict and every page that shows the ledger follows. The measurements themselves are in
lsbook.claim_checks; this module holds the rule, the row and the ways the ledger is printed.
``python -m lsbook claims [--profile P] [--json]`` prints it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from lsbook.book.pages import markdown_table
from lsbook.errors import LsbookError
from lsbook.intervals import BOOTSTRAP_RESAMPLES, CONFIDENCE, MIN_SEEDS, Estimate
from lsbook.profiles import get_profile

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


# The rule from an estimate and its 95 % interval [low, high] to a verdict, per kind of claim.
DECISION_RULE: dict[str, str] = {
    "increase": "claimed > 0: confirmed if the whole interval lies above 0, contradicted if it lies below 0, "
                "inconclusive if it contains 0.",
    "decrease": "claimed < 0: confirmed if the whole interval lies below 0, contradicted if it lies above 0, "
                "inconclusive if it contains 0.",
    "not_worse": "claimed 'does not hurt' with a margin m (≥ −m): confirmed if the lower bound is ≥ −m, "
                 "contradicted if the upper bound is < −m, inconclusive otherwise.",
    "equivalent": "claimed 'matches' within a margin m (|difference| ≤ m): confirmed if the interval lies inside "
                  "[−m, m], contradicted if it lies entirely outside it, inconclusive otherwise.",
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

INTERVAL_RULE = (
    f"Intervals are {int(100 * CONFIDENCE)} %. With at least {MIN_SEEDS} seeds that have every arm of a claim, the "
    "interval is the t-interval of the mean per-seed difference (it captures how much training runs differ). "
    f"With fewer seeds it is a paired percentile bootstrap over the test examples ({BOOTSTRAP_RESAMPLES} resamples, "
    "fixed seed), labelled as such: it says how much the number would move on another test set, not on another "
    "training run, so it is narrower than a seed interval would be; the Transformer's BLEU and NLL are "
    "resampled by test sentence, its token ECE by token from the stored reliability bins. Runs that keep "
    "no per-example numbers (the mutual-information curves) get no interval below three seeds, and their "
    "claims stay inconclusive. Every summary says which kind of evidence a verdict rests on: an interval "
    f"over ≥ {MIN_SEEDS} seeds, or one or two runs. A claim whose runs are not in the store is not run here, "
    "with the reason: the data is "
    "not reachable on this machine, the runs need GPU time, or they are not trained yet. Runs of the `cpu` "
    "and `smoke` profiles, a few epochs long, never yield a verdict: their rows show the estimate and say so.")


def decide(estimate: Estimate | None, direction: Direction) -> tuple[str, str]:
    """(verdict, why) for an estimate under DECISION_RULE; None: nothing to decide on."""
    if estimate is None:
        return INCONCLUSIVE, "no estimate"
    if not estimate.has_interval:
        return INCONCLUSIVE, estimate.method
    low, high, m = estimate.low, estimate.high, direction.margin
    if low > high:
        raise LsbookError(f"interval low must be <= high, got [{low}, {high}]")
    kind = direction.kind
    if kind == "increase":
        verdict = CONFIRMED if low > 0 else CONTRADICTED if high < 0 else INCONCLUSIVE
        why = {CONFIRMED: "interval above 0", CONTRADICTED: "interval below 0", INCONCLUSIVE: "interval contains 0"}
    elif kind == "decrease":
        verdict = CONFIRMED if high < 0 else CONTRADICTED if low > 0 else INCONCLUSIVE
        why = {CONFIRMED: "interval below 0", CONTRADICTED: "interval above 0", INCONCLUSIVE: "interval contains 0"}
    elif kind == "not_worse":
        verdict = CONFIRMED if low >= -m else CONTRADICTED if high < -m else INCONCLUSIVE
        why = {CONFIRMED: f"lower bound ≥ −{m:g}", CONTRADICTED: f"upper bound < −{m:g}",
               INCONCLUSIVE: f"interval contains −{m:g}"}
    else:  # equivalent
        verdict = (CONFIRMED if -m <= low and high <= m else
                   CONTRADICTED if high < -m or low > m else INCONCLUSIVE)
        why = {CONFIRMED: f"interval inside ±{m:g}", CONTRADICTED: f"interval outside ±{m:g}",
               INCONCLUSIVE: f"interval crosses ±{m:g}"}
        if high - low > 2 * m:  # no interval this wide fits inside the band: say so, not "inconclusive" forever
            why[INCONCLUSIVE] = (f"interval {high - low:.3g} wide, wider than the ±{m:g} band: evidence of this kind "
                                 "can never confirm the claim; it needs more seeds or more test examples")
    return verdict, why[verdict]


@dataclass
class LedgerRow:
    """One claim tested on one experiment."""

    id: str                    # e.g. "accuracy/fcn-fmnist"
    chapter: str               # a key of CHAPTERS
    claim: str                 # one testable sentence
    source: str                # paper, section, table or figure
    experiment: str            # recipe (or study), profile, arms, seeds
    profile: str | None        # the profile whose runs were used (None: not run here)
    seeds: list[int]           # the seeds used
    metric: str                # what the estimate measures (a difference of two arms)
    unit: str                  # unit of estimate, interval and margin
    claimed: str               # the claimed direction, e.g. "< 0"
    estimate: float | None
    low: float | None
    high: float | None
    interval: str              # how the interval was made (or why there is none)
    verdict: str               # one of VERDICTS
    reason: str                # why this verdict (for "not run here": why not)
    note: str = ""             # context: the arms' own values, the published numbers

    @property
    def evidence(self) -> str:
        """The kind of evidence under the verdict: "seeds" (an interval over ≥ 3 training runs),
        "runs" (1–2 runs: a bootstrap over test examples, or no interval), "" (nothing measured)."""
        if self.estimate is None:
            return ""
        return "seeds" if self.interval.startswith("t-interval") else "runs"

    def estimate_text(self, digits: int = 3) -> str:
        """"−0.123 [−0.200, −0.050]" (or "–" without an estimate, the point alone without an interval)."""
        if self.estimate is None:
            return "–"
        signed = lambda value: f"{value:+.{digits}f}".replace("-", "−")  # noqa: E731 - a real minus sign
        if self.low is None or self.high is None:
            return signed(self.estimate)
        return f"{signed(self.estimate)} [{signed(self.low)}, {signed(self.high)}]"


def make_row(*, id: str, chapter: str, claim: str, source: str, experiment: str, metric: str, unit: str,
             direction: Direction, estimate: Estimate | None = None, profile: str | None = None,
             seeds: Sequence[int] = (), not_run: str | None = None, note: str = "",
             no_estimate: str | None = None) -> LedgerRow:
    """A ledger row with its verdict: ``not_run`` (the reason) when the runs are missing,
    ``no_estimate`` (the reason) when the runs are there but say nothing about the claim."""
    if chapter not in CHAPTERS:
        raise LsbookError(f"chapter must be one of {', '.join(CHAPTERS)}, got {chapter!r}")
    if not_run is not None:
        verdict, reason = NOT_RUN, not_run
    elif no_estimate is not None:
        verdict, reason = INCONCLUSIVE, no_estimate
    elif profile is not None and get_profile(profile).no_verdict:  # short runs: the estimate is shown, not judged
        verdict, reason = INCONCLUSIVE, get_profile(profile).no_verdict
    else:
        verdict, reason = decide(estimate, direction)
    return LedgerRow(id=id, chapter=chapter, claim=claim, source=source, experiment=experiment,
                     profile=profile, seeds=[int(s) for s in seeds], metric=metric, unit=unit,
                     claimed=direction.text(unit), estimate=None if estimate is None else estimate.value,
                     low=None if estimate is None else estimate.low, high=None if estimate is None else estimate.high,
                     interval="–" if estimate is None else estimate.method, verdict=verdict, reason=reason, note=note)


# --- The ledger -------------------------------------------------------------------------------------

def ledger(profile: str | None = None, *, store=None, chapters: Iterable[str] | None = None) -> list[LedgerRow]:
    """Every claim's row at ``profile`` (None: $LSBOOK_PROFILE, else cpu), from the store; never trains.

    A `cpu` ledger uses the committed `paper` runs where they exist (lsbook.profiles.considered_profiles).
    ``chapters``: only these chapters' claims (keys of CHAPTERS).
    """
    from lsbook.claim_checks import FAMILIES, Context

    chosen = list(CHAPTERS) if chapters is None else list(chapters)
    for name in chosen:
        if name not in CHAPTERS:
            raise LsbookError(f"chapter must be one of {', '.join(CHAPTERS)}, got {name!r}")
    context = Context.open(profile, store)
    rows: list[LedgerRow] = []
    for chapter, family in FAMILIES:
        if chapter in chosen:
            rows.extend(family(context))
    return rows


# How the summaries name the kinds of evidence (LedgerRow.evidence).
EVIDENCE: dict[str, str] = {"seeds": f"≥ {MIN_SEEDS} seeds", "runs": "1–2 runs"}


def verdict_counts(rows: Iterable[LedgerRow]) -> dict[str, int]:
    """How many rows have each verdict (every verdict listed, zeros included)."""
    counts = Counter(row.verdict for row in rows)
    return {verdict: counts.get(verdict, 0) for verdict in VERDICTS}


def _split(rows: Sequence[LedgerRow], verdict: str) -> str:
    """" (2 on ≥ 3 seeds, 1 on 1–2 runs)" for a measured verdict with any rows; "" otherwise."""
    chosen = [row for row in rows if row.verdict == verdict]
    if verdict == NOT_RUN or not chosen:
        return ""
    return " (" + ", ".join(f"{sum(r.evidence == kind for r in chosen)} on {label}"
                            for kind, label in EVIDENCE.items()) + ")"


def counts_text(rows: Sequence[LedgerRow]) -> str:
    """"12 claims: 3 confirmed (2 on ≥ 3 seeds, 1 on 1–2 runs), 2 contradicted (...), ...": each
    measured verdict split by the kind of evidence under it."""
    counts = verdict_counts(rows)
    parts = ", ".join(f"{n} {verdict}{_split(rows, verdict)}" for verdict, n in counts.items())
    return f"{len(rows)} claim{'s' if len(rows) != 1 else ''}: {parts}."


def counts_markdown(rows: Sequence[LedgerRow]) -> str:
    """A table of verdict counts: one row per chapter, one column per verdict (a measured verdict's
    count as "all (on ≥ 3 seeds)"), and the total."""
    def cells(chosen: list[LedgerRow]) -> list[str]:
        counts = verdict_counts(chosen)
        return [str(n) if verdict == NOT_RUN or not n else
                f"{n} ({sum(r.evidence == 'seeds' for r in chosen if r.verdict == verdict)})"
                for verdict, n in counts.items()]

    table = []
    for chapter, title in CHAPTERS.items():
        chosen = [r for r in rows if r.chapter == chapter]
        if chosen:
            table.append([title, *cells(chosen), len(chosen)])
    table.append(["**all chapters**", *(f"**{cell}**" for cell in cells(list(rows))), f"**{len(rows)}**"])
    return markdown_table(["chapter", *VERDICTS, "claims"], table, "l" + "r" * (len(VERDICTS) + 1))


def headline_markdown(rows: Sequence[LedgerRow]) -> str:
    """The findings in a few sentences, strongest evidence first: what is confirmed and contradicted
    over ≥ 3 seeds, then what rests on one or two runs, then how much is inconclusive or not run."""
    def names(verdict: str, kind: str) -> list[str]:
        return [row_title(r) for r in rows if r.verdict == verdict and r.evidence == kind]

    sentences = []
    for kind, label in EVIDENCE.items():
        found = {verdict: names(verdict, kind) for verdict in (CONFIRMED, CONTRADICTED)}
        if not any(found.values()):
            continue
        parts = [f"**{verdict}** {'; '.join(items)}" for verdict, items in found.items() if items]
        lead = ("On the strongest evidence (intervals over ≥ 3 training runs): " if kind == "seeds" else
                "On one or two training runs (a bootstrap over the test examples, which leaves out how much "
                "runs differ): ")
        sentences.append(lead + ". ".join(parts) + ".")
    counts = verdict_counts(rows)
    sentences.append(f"{counts[INCONCLUSIVE]} claim{'s are' if counts[INCONCLUSIVE] != 1 else ' is'} inconclusive "
                     f"and {counts[NOT_RUN]} not run here (the table below says why for each).")
    return "\n\n".join(sentences)


def provenance(rows: Sequence[LedgerRow], store=None) -> str:
    """Where the ledger's numbers come from: the provenance line of every run at the profiles its
    rows used (lsbook.book.pages.provenance_text)."""
    from lsbook.book.pages import provenance_text
    from lsbook.experiments.smoothness import LEGACY_RECIPE
    from lsbook.store import Store

    profiles = {row.profile for row in rows if row.profile}
    records = [r for r in (store or Store()).records()
               if r.config.get("profile") in profiles and r.config.get("recipe") != LEGACY_RECIPE]
    return provenance_text(records)


def rule_markdown() -> str:
    """The decision rule, the margins and how intervals are made, as Markdown (the book prints it)."""
    lines = [f"- **{kind.replace('_', ' ')}**: {text}" for kind, text in DECISION_RULE.items()]
    lines += [f"- **margin for {name}**: {value:g} ({why})" for name, (value, why) in MARGINS.items()]
    return "\n".join(lines) + "\n\n" + INTERVAL_RULE


# Short names of the claims (the part of a row id before "/"), for the summary table.
CLAIM_TITLES: dict[str, str] = {
    "accuracy-up": "raises accuracy", "accuracy": "keeps accuracy", "exception": "exception: accuracy falls",
    "holdout-gain": "hold-out images raise accuracy", "holdout-offset": "hold-out explains our offset",
    "offset-replication": "the replication's code choices explain it",
    "clusters-plane": "tighter clusters (template plane)", "clusters-full": "tighter clusters (whole layer)",
    "ece-lower": "lowers ECE", "ece-like-T": "ECE as low as temperature scaling",
    "ece-raised": "raises ECE of a calibrated network",
    "tr-bleu": "raises BLEU", "tr-nll": "worsens NLL", "tr-nll-fitted": "worsens NLL at the fitted T", "tr-ece-lower": "lowers token ECE",
    "tr-ece-like-T": "token ECE as low as temperature scaling",
    "kd-teacher": "smoothed teacher errs less", "kd-student": "its student errs more",
    "kd-m3-m2": "M3 above M2", "kd-m4-m3": "M4 below M3", "mi-fall": "MI lower late in training",
    "sc-degrades": "degrades selective classification", "sc-lognorm": "logit normalisation recovers it",
    "calibratability": "harder to calibrate by temperature", "ls-similar": "erases similar classes' information",
    "noise": "helps under label noise", "kd-t1": "smoothed teacher fine at T = 1",
    "kd-hight": "smoothed teacher worse at larger T",
}


def row_title(row: LedgerRow) -> str:
    """"keeps accuracy: `fcn-fmnist`" — the claim's short name and what it is tested on."""
    family, _, subject = row.id.partition("/")
    title = CLAIM_TITLES.get(family, family)
    return f"{title}: `{subject}`" if subject else title


def _estimate_cell(row: LedgerRow, unit: bool = True) -> str:
    if row.estimate is None:
        return "–"
    return row.estimate_text() + (f" {row.unit}" if unit and row.unit else "")


def ledger_markdown(rows: Sequence[LedgerRow]) -> str:
    """The ledger's summary table (short cells, so that it fits a page): claim, the runs' profile and
    seeds, estimate with its 95 % interval, the claimed direction (with the unit) and the verdict.
    ledger_details gives each row in full."""
    table_rows = []
    for row in rows:
        runs = "–" if row.profile is None else f"{row.profile} {','.join(map(str, row.seeds))}"
        table_rows.append([row_title(row), f"**{row.verdict}**", EVIDENCE.get(row.evidence, "–"), runs,
                           _estimate_cell(row, unit=False), row.claimed])
    return markdown_table(["claim", "verdict", "evidence", "runs: profile, seeds", "estimate [95 % interval]",
                           "claimed"], table_rows, "llllrl")


def ledger_by_chapter(rows: Sequence[LedgerRow]) -> str:
    """One summary table per chapter, each under the chapter's name in bold."""
    parts = []
    for chapter, title in CHAPTERS.items():
        chosen = [row for row in rows if row.chapter == chapter]
        if chosen:
            parts.append(f"**{title}.** {counts_text(chosen)}\n\n{ledger_markdown(chosen)}")
    return "\n".join(parts)


def ledger_details(rows: Sequence[LedgerRow]) -> str:
    """Every measured row in full (claim, source, runs, metric, estimate, interval, why the verdict),
    then the rows not run here with their reasons, as a Markdown list."""
    measured = [row for row in rows if row.verdict != NOT_RUN]
    missing = [row for row in rows if row.verdict == NOT_RUN]
    parts = []
    for row in measured:
        estimate = _estimate_cell(row)
        parts.append(f"- **{row_title(row)} — {row.verdict}** ({row.reason}). {row.claim} "
                     f"*Source:* {row.source}. *Runs:* {row.experiment}. *Measured:* {row.metric}; claimed "
                     f"{row.claimed}; estimate {estimate}; interval: {row.interval}."
                     + (f" *Context:* {row.note}." if row.note else ""))
    if missing:
        parts.append("- **Not run here:** " + "; ".join(f"{row_title(row)} ({row.reason})" for row in missing) + ".")
    return "\n".join(parts) + "\n"


def chapter_rows(chapter: str, profile: str | None = None, *, store=None) -> str:
    """A chapter's own rows of the ledger, as Markdown: a count sentence, the table, the details."""
    rows = ledger(profile, store=store, chapters=[chapter])
    if not rows:
        return "The ledger has no claims for this chapter."
    return ("The claim ledger's rows for this chapter (the rule that turns an estimate into a verdict is on "
            "the ledger's page): " + counts_text(rows) + "\n\n" + ledger_markdown(rows)
            + "\n" + ledger_details(rows))


def ledger_json(rows: Sequence[LedgerRow], profile: str) -> str:
    """Machine-readable ledger: rows, verdict counts and the rule."""
    return json.dumps({"profile": profile, "counts": verdict_counts(rows),
                       "rule": {"directions": DECISION_RULE,
                                "margins": {k: {"value": v, "why": w} for k, (v, w) in MARGINS.items()},
                                "intervals": INTERVAL_RULE},
                       "rows": [asdict(row) for row in rows]}, indent=1, ensure_ascii=False, allow_nan=False)


def ledger_text(rows: Sequence[LedgerRow]) -> str:
    """An aligned plain-text table (one line per row) followed by each claim in full."""
    header = ("id", "verdict", "estimate [95 % interval]", "unit", "claimed", "profile", "seeds", "interval")
    lines = [header]
    for row in rows:
        lines.append((row.id, row.verdict, row.estimate_text(), row.unit or "-", row.claimed, row.profile or "-",
                      ",".join(map(str, row.seeds)) or "-", _short_method(row)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    details = []
    for row in rows:
        details.append(f"{row.id}: {row.claim}\n    source: {row.source}\n    experiment: {row.experiment}\n"
                       f"    metric: {row.metric}\n    verdict: {row.verdict} ({row.reason})"
                       + (f"\n    note: {row.note}" if row.note else ""))
    return "\n".join(table) + "\n\n" + counts_text(rows) + "\n\n" + "\n".join(details)


def _short_method(row: LedgerRow) -> str:
    if row.verdict == NOT_RUN:
        return "-"
    text = row.interval
    for long, short in (("t-interval over", "t over"), ("paired bootstrap over", "bootstrap over"),
                        ("bootstrap over", "bootstrap over")):
        if text.startswith(long):
            return short + text[len(long):].split(" (")[0]
    return text.split(":")[0]


def verdict_sentences(ids: Sequence[str], profile: str | None = None, *, chapters: Iterable[str] | None = None,
                      store=None) -> str:
    """The ledger's verdicts on the claims ``ids`` as prose (Markdown), one sentence each, so that
    a chapter states what the ledger found and a new run can change the text. ``chapters``: the
    ledger chapters that hold these claims (None: the whole ledger)."""
    by_id = {row.id: row for row in ledger(profile, store=store, chapters=chapters)}
    sentences = []
    for claim_id in ids:
        row = by_id.get(claim_id)
        if row is None:
            raise LsbookError(f"claim id {claim_id!r} is not in the ledger; known: {', '.join(sorted(by_id))}")
        if row.verdict == "not run here":
            sentences.append(f"*{row.claim}* — **not run here**: {row.reason}.")
            continue
        unit = f" {row.unit}" if row.unit else ""
        sentences.append(f"*{row.claim}* — **{row.verdict}** ({row.metric}: {row.estimate_text()}{unit}, "
                         f"claimed {row.claimed}; {row.interval}; `{row.profile}` runs, seeds "
                         f"{', '.join(map(str, row.seeds))}).")
    return " ".join(sentences)
