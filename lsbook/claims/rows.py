"""The claim ledger: every (claim, subject) of the claim table as a row with an estimate, its 95 %
interval and a verdict, and the ways the ledger is printed.

Everything is computed from the results store when asked, so a newly stored run can flip a verdict
and every page that shows the ledger follows; nothing is typed by hand. A ledger is computed once per
store and code version and kept in a cache file ($LSBOOK_CACHE, else ~/.cache/lsbook), so the pages
of one build reuse it until a run is stored or the code changes. ``python -m lsbook claims
[--profile P] [--json]`` prints it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from lsbook.claims import measures
from lsbook.claims.arms import Context, estimate
from lsbook.claims.table import (CHAPTERS, CLAIMS, CONFIRMED, CONTRADICTED, DECISION_RULE, INCONCLUSIVE, MARGINS,
                                 NOT_RUN, VERDICTS, Claim, Direction)
from lsbook.errors import LsbookError
from lsbook.intervals import BOOTSTRAP_RESAMPLES, CONFIDENCE, MIN_SEEDS, Estimate
from lsbook.markdown import markdown_table
from lsbook.profiles import get_profile, resolve_profile

INTERVAL_RULE = (
    f"Intervals are {int(100 * CONFIDENCE)} %. With at least {MIN_SEEDS} seeds that have every arm of a claim, the "
    "interval is the t-interval of the mean per-seed difference (it captures how much training runs differ). "
    f"With fewer seeds it is a paired percentile bootstrap over the test examples ({BOOTSTRAP_RESAMPLES} resamples, "
    "fixed seed), labelled as such: it says how much the number would move on another test set, not on another "
    "training run, so it is narrower than a seed interval would be. The Transformer's BLEU and NLL are resampled by "
    "test sentence from the per-sentence scores its runs keep, and its token ECE by token from the stored "
    "reliability bins. Numbers that a run keeps only as one value (the mutual-information curves, a fitted "
    "temperature, the NLL at the fitted temperature) get no interval below three seeds, and their claims stay "
    "inconclusive. Every summary says which kind of evidence a verdict rests on: an interval "
    f"over ≥ {MIN_SEEDS} seeds, or one or two runs. A claim whose runs are not in the store is not run here, "
    "with the reason: the data is not reachable on this machine, the runs need GPU time, or they are not trained "
    "yet. Runs of the `cpu` and `smoke` profiles, a few epochs long, never yield a verdict: their rows show the "
    "estimate and say so.")

# How the summaries name the kinds of evidence (LedgerRow.evidence).
EVIDENCE: dict[str, str] = {"seeds": f"≥ {MIN_SEEDS} seeds", "runs": "1–2 runs"}


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
    """One claim tested on one subject."""

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
    title: str = ""            # the claim's short name (lsbook.claims.table.Claim.title)

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


def _row(ctx: Context, claim: Claim, subject: measures.Subject) -> LedgerRow:
    """The ledger row of ``claim`` on ``subject``: measured, then decided by DECISION_RULE."""
    words = measures.fields(claim, subject)
    result = measures.MEASURES[claim.measure](ctx, claim, subject)
    recipe = getattr(result, "recipe", "") or subject.recipe
    what = (f"study `{recipe}`" if claim.chapter == "distillation" or claim.measure == "students_by_temperature"
            else f"`{recipe}` with the MI probe" if claim.chapter == "mutual_information" else f"`{recipe}`")
    arms = claim.arms.format(**words)
    common = dict(id=measures.row_id(claim, subject), chapter=claim.chapter, claim=claim.statement.format(**words),
                  source=claim.source.format(**words), metric=claim.metric.format(**words), unit=claim.unit,
                  claimed=claim.direction.text(claim.unit), title=claim.title, note="")
    if isinstance(result, measures.NotRun):
        return LedgerRow(**common, experiment=f"{what} [{result.profile}], {arms}", profile=None, seeds=[],
                         estimate=None, low=None, high=None, interval="–", verdict=NOT_RUN, reason=result.reason)
    seeds = [int(s) for s in result.seeds]
    length = f" ({claim.runs.length})" if claim.runs.length else ""
    experiment = (f"{what} [{result.profile}]{length}, {getattr(result, 'arms', '') or arms}, "
                  f"seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds))}")
    if isinstance(result, measures.NoEstimate):
        return LedgerRow(**common, experiment=experiment, profile=result.profile, seeds=seeds, estimate=None,
                         low=None, high=None, interval="–", verdict=INCONCLUSIVE, reason=result.reason)
    found = estimate(result)
    short = get_profile(result.profile).no_verdict   # short runs: the estimate is shown, not judged
    verdict, reason = (INCONCLUSIVE, short) if short else decide(found, claim.direction)
    return LedgerRow(**{**common, "note": result.note}, experiment=experiment, profile=result.profile, seeds=seeds,
                     estimate=found.value, low=found.low, high=found.high, interval=found.method, verdict=verdict,
                     reason=reason)


def compute(profile: str | None = None, *, store=None) -> list[LedgerRow]:
    """Every row of the claim table at ``profile``, computed from the store (never trains)."""
    ctx = Context.open(profile, store)
    return [_row(ctx, claim, subject) for chapter in CHAPTERS for claim in CLAIMS if claim.chapter == chapter
            for subject in measures.subjects(claim)]


def ledger(profile: str | None = None, *, store=None, chapters: Iterable[str] | None = None) -> list[LedgerRow]:
    """Every claim's row at ``profile`` (None: $LSBOOK_PROFILE, else cpu), from the store; never trains.

    A `cpu` ledger uses the committed `paper` runs where they exist (lsbook.profiles.considered_profiles).
    ``chapters``: only these chapters' claims (keys of CHAPTERS). Computed once per store and code
    version (:func:`cached`).
    """
    chosen = list(CHAPTERS) if chapters is None else list(chapters)
    for name in chosen:
        if name not in CHAPTERS:
            raise LsbookError(f"chapter must be one of {', '.join(CHAPTERS)}, got {name!r}")
    return [row for row in cached(profile, store=store) if row.chapter in chosen]


# --- Computed once, reused until the store or the code changes -------------------------------------------------

PACKAGE = Path(__file__).resolve().parents[1]


def cache_folder() -> Path:
    """Where computed ledgers are kept: $LSBOOK_CACHE/ledger, else ~/.cache/lsbook/ledger."""
    return Path(os.environ.get("LSBOOK_CACHE") or Path.home() / ".cache" / "lsbook") / "ledger"


def fingerprint(profile: str, store) -> str:
    """A hash of what a ledger depends on: the profile, every file of the store (name, size, time),
    the package's source files and which datasets this machine has."""
    from lsbook.data import DATASETS, roots   # lazy: the lsbook.data package imports torch
    from lsbook.store import Store

    store = store or Store()
    digest = hashlib.sha256(f"{profile}\n{Path(store.root).resolve()}\n".encode())
    for root in (Path(store.root), PACKAGE):
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and (root != PACKAGE or path.suffix == ".py"):
                    stat = path.stat()
                    digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    for name in sorted(DATASETS):
        digest.update(f"{name}:{roots.locate(name)}\n".encode())
    return digest.hexdigest()[:24]


def cached(profile: str | None = None, *, store=None) -> list[LedgerRow]:
    """The whole ledger at ``profile``: read from the cache if this store and code computed it before,
    else computed now and written there (atomically; a cache that cannot be written is skipped)."""
    profile = resolve_profile(profile)
    path = cache_folder() / f"{profile}-{fingerprint(profile, store)}.json"
    try:
        return [LedgerRow(**row) for row in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        pass
    rows = compute(profile, store=store)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps([asdict(row) for row in rows], ensure_ascii=False, allow_nan=False))
        os.replace(partial, path)
    except OSError:
        pass
    return rows


# --- Printing ----------------------------------------------------------------------------------------------------

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
    for kind in EVIDENCE:
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


def rule_markdown() -> str:
    """The decision rule, the margins and how intervals are made, as Markdown (the book prints it)."""
    lines = [f"- **{kind.replace('_', ' ')}**: {text}" for kind, text in DECISION_RULE.items()]
    lines += [f"- **margin for {name}**: {value:g} ({why})" for name, (value, why) in MARGINS.items()]
    return "\n".join(lines) + "\n\n" + INTERVAL_RULE


def row_title(row: LedgerRow) -> str:
    """"keeps accuracy: `fcn-fmnist`" — the claim's short name and what it is tested on."""
    family, _, subject = row.id.partition("/")
    title = row.title or family
    return f"{title}: `{subject}`" if subject else title


def _md(text: str) -> str:
    """``text`` safe inside Markdown emphasis (α* would open one)."""
    return text.replace("*", "\\*")


def _estimate_cell(row: LedgerRow, unit: bool = True) -> str:
    if row.estimate is None:
        return "–"
    return row.estimate_text() + (f" {row.unit}" if unit and row.unit else "")


def ledger_markdown(rows: Sequence[LedgerRow]) -> str:
    """The ledger's summary table of the measured rows (short cells, so that it fits a page; the
    verdict second, so that a phone shows it), then one line per reason for the rows not run here:
    claim, verdict, evidence, the runs' profile and seeds, estimate with its 95 % interval and the
    claimed direction. ledger_details gives each row in full."""
    measured = [row for row in rows if row.verdict != NOT_RUN]
    parts = []
    if measured:
        table_rows = []
        for row in measured:
            table_rows.append([row_title(row), f"**{row.verdict}**", EVIDENCE.get(row.evidence, "–"),
                               f"{row.profile} {','.join(map(str, row.seeds))}", _estimate_cell(row, unit=False),
                               row.claimed])
        table = markdown_table(["claim", "verdict", "evidence", "runs: profile, seeds", "estimate [95 % interval]",
                                "claimed"], table_rows, "llllrl")
        parts.append(f":::{{table}}\n:class: ledger-table\n\n{table}:::\n")
    parts.append(not_run_markdown(rows))
    return "\n".join(part for part in parts if part)


def not_run_markdown(rows: Sequence[LedgerRow]) -> str:
    """The rows not run here, one sentence per kind of reason (data, GPU time, not trained yet), each
    claim once with the subjects it is missing on."""
    by_reason: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        if row.verdict == NOT_RUN:
            family, _, subject = row.id.partition("/")
            claims = by_reason.setdefault(row.reason.split(":")[0], {})
            claims.setdefault(row.title or family, []).extend([f"`{subject}`"] if subject else [])
    return "\n".join(f"*Not run here, {kind} ({sum(max(len(s), 1) for s in claims.values())}):* "
                     + "; ".join(title + (f" ({', '.join(subjects)})" if subjects else "")
                                 for title, subjects in claims.items()) + ".\n"
                     for kind, claims in by_reason.items())


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
        parts.append(f"- **{row_title(row)} — {row.verdict}** ({row.reason}). {_md(row.claim)} "
                     f"*Source:* {row.source}. *Runs:* {row.experiment}. *Measured:* {_md(row.metric)}; claimed "
                     f"{row.claimed}; estimate {_estimate_cell(row)}; interval: {row.interval}."
                     + (f" *Context:* {_md(row.note)}." if row.note else ""))
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
        if row.verdict == NOT_RUN:
            sentences.append(f"*{_md(row.claim)}* — **not run here**: {row.reason}.")
            continue
        unit = f" {row.unit}" if row.unit else ""
        sentences.append(f"*{_md(row.claim)}* — **{row.verdict}** ({_md(row.metric)}: {row.estimate_text()}{unit}, "
                         f"claimed {row.claimed}; {row.interval}; `{row.profile}` runs, seeds "
                         f"{', '.join(map(str, row.seeds))}).")
    return " ".join(sentences)

