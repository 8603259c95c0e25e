"""The book's scope, read from the store: what was run, and for everything else, why not.

A combination has numbers of ours only where the store holds its runs. Where it does not, the
reason is one of three, decided here and nowhere else so that the introduction, the claim ledger
and the chapters say the same thing:

- the data is not reachable on this machine (lsbook.data.roots.locate finds no copy);
- GPU time: the data is here, but the run is too large for a CPU at that profile (GPU_MODELS);
- not trained yet: the data is here and the run fits a CPU, it simply has not been run.

The reason itself is lsbook.runs.why_not_run, which the claim ledger shares.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from lsbook import paper
from lsbook.book.pages import markdown_table
from lsbook.profiles import considered_profiles
from lsbook.runs import why_not_run

# Rows of the papers that no recipe here reproduces, and why (lsbook.paper.EXTRA_ROWS).
OUT_OF_SCOPE = {
    "inceptionv4-imagenet": "out of scope: ImageNet and Inception-v4 are the original's only; the replication did "
                            "not run them either (a GPU cluster's work)",
    "transformer-wmt14": "out of scope: the original's WMT14 Transformer; the replication (and this book) trains "
                         "on Multi30k instead",
}


def _kind(record) -> str:
    config = record.config
    if config.get("teacher_key"):
        return "distilled students"
    if config.get("step_callback"):
        return "with the mutual-information probe"
    return "plain runs"


def _hardware(records: Iterable) -> str:
    names = sorted({str(r.provenance.get("device_name") or r.provenance.get("device") or "unknown") for r in records})
    return "; ".join(names)


def runs_overview(store=None) -> str:
    """One row per (recipe, profile, kind of run) in the store: α, seeds, count and hardware (from the
    records' provenance)."""
    from lsbook.book.tables import describe
    from lsbook.experiments.smoothness import LEGACY_RECIPE
    from lsbook.store import Store

    store = store or Store()
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for record in store.records():
        if record.config.get("recipe") == LEGACY_RECIPE:
            continue                       # γ of teachers stored as records, not training runs
        groups[(record.config["recipe"], record.config["profile"], _kind(record))].append(record)
    rows = []
    for (recipe, profile, kind), records in sorted(groups.items()):
        try:
            dataset, architecture = describe(recipe)
        except KeyError:  # a variant recipe (e.g. fcn-fmnist-student) is not in lsbook.recipes
            dataset, architecture = "", ""
        alphas = sorted({float(r.config["alpha"]) for r in records})
        seeds = sorted({int(r.config["seed"]) for r in records})
        rows.append([f"`{recipe}`" + (f" ({architecture}, {dataset})" if dataset else ""), profile, kind,
                     ", ".join(f"{a:g}" for a in alphas), ", ".join(map(str, seeds)), len(records),
                     _hardware(records)])
    if not rows:
        return "The results store holds no runs."
    return markdown_table(["recipe", "profile", "runs", "α", "seeds", "count", "hardware"], rows, "lllllrl")


def combination_scope(profile: str, store=None) -> list[dict[str, str]]:
    """Every combination of the replication's Table 5 (and the original's extra rows): whether the
    store has plain runs of it at a considered profile, or why the book shows published numbers only."""
    from lsbook.book.tables import describe
    from lsbook.recipes import RECIPES, variants_of
    from lsbook.runs import probe_inside as probe_rides_inside
    from lsbook.store import Store

    store = store or Store()
    profiles = considered_profiles(profile)
    held: dict[str, set[str]] = defaultdict(set)
    for record in store.records():
        config = record.config
        if not config.get("teacher_key") and (not config.get("step_callback") or
                                              probe_rides_inside(str(config["recipe"]), config["alpha"])):
            held[str(config["recipe"])].add(str(config["profile"]))
    result = []
    for recipe in (*paper.TABLE5_EXPERIMENTS, *paper.EXTRA_ROWS):
        dataset, architecture = describe(recipe)
        experiments = ", ".join("Acc." if e == "accuracy" else e.upper() for e in paper.EXPERIMENTS
                                if e in paper.TABLE5_EXPERIMENTS.get(recipe, ()))
        ours = [p for p in profiles if p in held.get(recipe, set())]
        variants = [v for v in variants_of(recipe) if any(p in held.get(v, set()) for p in profiles)]
        other = "; ".join(f"ours on another {'encoding' if RECIPES[v].dataset != RECIPES[recipe].dataset else 'size'}"
                          f" and schedule: {describe(v)[0]}, {describe(v)[1]} (`{v}`)" for v in variants)
        if recipe in OUT_OF_SCOPE:
            shows, why = "published numbers only", OUT_OF_SCOPE[recipe]
        elif ours:
            shows, why = f"ours ({', '.join(ours)}) and the published numbers" + (f"; {other}" if other else ""), ""
        elif variants:
            shows = f"the published numbers, and {other}"
            why = why_not_run(recipe, profiles[-1])
        else:
            shows, why = "published numbers only", why_not_run(recipe, profiles[-1])
        result.append({"recipe": recipe, "combination": f"{architecture}, {dataset}",
                       "experiments": experiments or "–", "shows": shows, "why": why})
    return result


def scope_table(profile: str, store=None) -> str:
    """combination_scope as a Markdown table (the introduction shows it)."""
    rows = [[f"{row['combination']} (`{row['recipe']}`)", row["experiments"], row["shows"], row["why"] or "–"]
            for row in combination_scope(profile, store)]
    return markdown_table(["combination", "experiments (Table 5: Acc., PLR, IMC, KD)", "this book shows", "why"],
                          rows, "llll")


def scope_sentence(profile: str, store=None) -> str:
    """How many combinations have runs of ours at the considered profiles, named, in one sentence."""
    rows = combination_scope(profile, store)
    ours = [row["combination"] for row in rows if row["shows"].startswith("ours")]
    variants = [row["combination"] for row in rows if "ours on another encoding" in row["shows"]]
    profiles = considered_profiles(profile)
    total = len(rows)
    if not ours:
        return (f"None of the {total} combinations of the papers has runs of ours at the "
                f"{' or '.join(profiles)} profile yet; every table shows the published numbers only.")
    text = (f"Of the {total} combinations of the papers, {len(ours)} {'has' if len(ours) == 1 else 'have'} runs of "
            f"ours at the {' or '.join(profiles)} profile ({'; '.join(ours)}); the other {total - len(ours)} show "
            "the published numbers, for the reason given in their row below")
    if variants:
        text += (f", and {len(variants)} of them ({'; '.join(variants)}) also show runs of ours on data and at a "
                 "schedule this machine has (named in the row)")
    return text + "."
