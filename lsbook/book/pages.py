"""What the book's chapters share: notices (the profile's, missing data, nothing stored), Markdown
output (tables, admonitions, glued sentences) and provenance.

A chapter's code cells stay short by calling these. Everything here prints MyST Markdown (the
book sets ``nb_render_markdown_format: myst``), so admonitions and tables look the same in
JupyterLab, the HTML book and the PDF.
"""

from __future__ import annotations

import os
import platform
from typing import Iterable, Sequence

from lsbook.errors import LsbookError
from lsbook.markdown import markdown_table  # noqa: F401 - the book's tables are made with it


def admonition(kind: str, title: str, body: str) -> str:
    """A MyST admonition (kind: note, warning, important, ...) as Markdown text."""
    fence = "::::" if ":::" in body else ":::"
    return f"{fence}{{admonition}} {title}\n:class: {kind}\n\n{body.strip()}\n{fence}\n"


def show(markdown: str) -> None:
    """Display Markdown as a cell output (rendered as MyST in the book)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def profile_notice(profile: str) -> str:
    """The admonition every chapter shows under its parameters: what its numbers are worth."""
    from lsbook.profiles import PROFILE_ENV

    if profile == "smoke":
        return admonition(
            "warning", "Smoke profile: these numbers are not results",
            "This page was executed at the `smoke` profile, which trains for seconds on tiny "
            "subsets only to check that the code runs. Nothing on it says anything about label "
            "smoothing. Rebuild at the `cpu` or `paper` profile for real numbers "
            f"(`{PROFILE_ENV}=cpu jb build .`).")
    if profile == "cpu":
        return admonition(
            "note", "Which runs this page shows",
            "Every table, figure and verdict names the profile of the runs behind it. `paper` runs "
            "follow the replication's recipes, or, where a recipe's name says so (`-jpeg`, `-small`), "
            "a variant sized for a 2-core CPU on data this machine has; they were trained once and "
            "committed, and a `cpu` build reads them without retraining. `cpu` runs are the same "
            "networks with fewer epochs, trained by this build where missing: real measurements, "
            "but short of the published recipes.")
    return admonition(
        "note", "Paper profile",
        "Numbers on this page come from the `paper` profile: the replication's recipes, and the "
        "variants sized for a 2-core CPU where a recipe's name says so (`-jpeg`, `-small`).")


def environment_summary() -> dict[str, str]:
    """Versions and hardware of the machine executing the chapter (for the appendix)."""
    import torch

    import lsbook

    return {
        "lsbook": lsbook.__version__,
        "engine version": str(lsbook.ENGINE_VERSION),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "hardware": torch.cuda.get_device_name(0) if torch.cuda.is_available() else
        (platform.processor() or platform.machine()) + f", {os.cpu_count()} CPU threads",
    }


def provenance_text(records: Sequence[object]) -> str:
    """Where the numbers of a table or figure come from, read from the records' provenance:
    profile, seeds, hardware, PyTorch version and code version (git commit, engine version)."""
    if not records:
        return "No stored runs."

    def values(get) -> str:
        found = sorted({str(v) for v in (get(r) for r in records) if v not in (None, "")})
        return ", ".join(found) if found else "unknown"

    def hardware(record) -> str | None:
        p = record.provenance
        name = p.get("device_name") or p.get("device")
        return f"{name} ({p['cpu_capability']})" if name and p.get("cpu_capability") else name

    def commit(record) -> str:
        p = record.provenance
        text = (p.get("git_commit") or "uncommitted")[:10]
        return text + ("+dirty" if p.get("git_dirty") else "")

    return (f"From {len(records)} stored run{'s' if len(records) != 1 else ''}: "
            f"profile {values(lambda r: r.config.get('profile'))}; "
            f"seeds {values(lambda r: r.config.get('seed'))}; "
            f"hardware {values(hardware)}; "
            f"torch {values(lambda r: r.provenance.get('torch_version'))}; "
            f"code {values(commit)}, engine version {values(lambda r: r.config.get('engine_version'))}.")


def runs_by_profile(grids) -> str:
    """"44 stored runs (34 at the paper profile, 10 at cpu)": the runs of ``grids`` (RunGrid), counted
    by the profile they were trained at, so that a page never calls paper runs cpu runs."""
    counts: dict[str, int] = {}
    for grid in grids:
        counts[grid.profile] = counts.get(grid.profile, 0) + len(grid.records)
    total = sum(counts.values())
    parts = [f"{n} at the {p} profile" if i == 0 else f"{n} at {p}" for i, (p, n) in
             enumerate(sorted(counts.items(), key=lambda item: -item[1])) if n]
    return f"{total} stored run{'s' if total != 1 else ''}" + (f" ({', '.join(parts)})" if parts else "")


def ledger_provenance(rows: Sequence[object], store=None) -> str:
    """Where the claim ledger's numbers come from: the provenance line of every run at the profiles
    its rows used (:func:`provenance_text`)."""
    from lsbook.experiments.smoothness import LEGACY_RECIPE
    from lsbook.store import Store

    profiles = {row.profile for row in rows if row.profile}
    records = [r for r in (store or Store()).records()
               if r.config.get("profile") in profiles and r.config.get("recipe") != LEGACY_RECIPE]
    return provenance_text(records)


def missing_data_notice(recipe: str, message: str, published: str = "") -> str:
    """The admonition shown instead of our numbers when a recipe's dataset is not here."""
    body = (f"The dataset of `{recipe}` is not on the machine that built this page, so there are "
            f"no numbers of ours for it here.\n\n{message}\n\n"
            f"After fetching it (`python -m lsbook data status` lists every dataset), build again: "
            f"the missing runs are then trained and stored.")
    if published:
        body += "\n\n" + published
    return admonition("important", f"Data missing: {recipe}", body)


def missing_data_notices(missing: Sequence[tuple[str, str, str]]) -> str:
    """One admonition for every recipe whose dataset is not here: (recipe, message, published)."""
    items = "\n".join(f"- `{recipe}`: {message} {published}".rstrip() for recipe, message, published in missing)
    return admonition(
        "important", f"Data missing on this machine: {len(missing)} combination{'s' if len(missing) != 1 else ''}",
        "These combinations have no numbers of ours here, only the published ones (in the table "
        f"below too):\n\n{items}\n\nAfter fetching a dataset (`python -m lsbook data status` lists "
        "them all), build again: the missing runs are then trained and stored.")


def markdown(text: str):
    """Markdown text as a displayable object (for ``glue`` and ``{glue:md}`` in the prose)."""
    from IPython.display import Markdown

    return Markdown(text)


def glue_markdown(name: str, text: str) -> None:
    """A computed sentence: ``{glue:md}`name``` in the book's prose, and this cell's output in a notebook.

    The book shows the sentence once, where the prose puts it; a notebook reader (JupyterLab,
    papermill's output), whose prose shows the raw role, sees it under the cell instead. One output
    does both: the glue record exactly as ``myst_nb.glue(name, Markdown(text), display=False)``
    writes it (MIME types under papermill's record prefix, with ``scrapbook`` metadata — myst-nb
    removes such outputs from the page and keeps them for the roles), plus the same text as plain
    ``text/markdown``, which notebook front ends render and for which the prefixed types are
    unknown. myst-nb strips the prefix's length from every key of a record, so the plain copy
    appears in the record under the empty MIME type; only ``{glue:md}`` reads these keys.
    """
    from IPython.display import display
    from myst_nb.ext.glue import GLUE_PREFIX

    display({GLUE_PREFIX + "text/markdown": text, GLUE_PREFIX + "text/plain": text, "text/markdown": text},
            raw=True, metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})


def table_block(table: str, name: str, caption: str) -> str:
    """A numbered MyST table with a caption and a label for ``{numref}``."""
    return f":::{{table}} {caption}\n:name: {name}\n:align: left\n\n{table}:::\n"


def nothing_stored_notice(what: str, commands: Sequence[str], published_where: str) -> str:
    """The admonition of a page whose runs are not in the store yet: what to run."""
    lines = "```shell\n" + "\n".join(commands) + "\n```"
    return admonition(
        "important", f"No stored runs for {what} at this profile",
        f"The figures of this page are drawn from stored runs, and the store has none yet. "
        f"Run\n\n{lines}\n\nand build the page again. {published_where}")
