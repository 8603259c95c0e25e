"""What the book's chapters share: the profile they run at, notices, Markdown output, provenance.

A chapter's code cells stay short by calling these. Everything here prints MyST Markdown (the
book sets ``nb_render_markdown_format: myst``), so admonitions and tables look the same in
JupyterLab, the HTML book and the PDF.
"""

from __future__ import annotations

import os
import platform
from typing import Iterable, Sequence

from lsbook.errors import LsbookError

# Environment variable that picks the profile of a whole build (CI sets it to "smoke").
PROFILE_ENV = "LSBOOK_PROFILE"
DEFAULT_PROFILE = "cpu"


def known_profiles() -> tuple[str, ...]:
    """The profile names of lsbook.profiles (smoke, cpu, paper)."""
    try:
        from lsbook.profiles import PROFILES
    except ImportError:  # engine module not installed yet: the contract's names
        PROFILES = ("smoke", "cpu", "paper")
    return tuple(PROFILES)


def resolve_profile(profile: str | None = None) -> str:
    """The chapter's profile: its ``profile`` parameter, else ``$LSBOOK_PROFILE``, else "cpu"."""
    chosen = profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if chosen not in known_profiles():
        source = "profile parameter" if profile else f"${PROFILE_ENV}"
        raise LsbookError(f"{source} must be one of {', '.join(known_profiles())}, got {chosen!r}")
    return chosen


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
    if profile == "smoke":
        return admonition(
            "warning", "Smoke profile: these numbers are not results",
            "This page was executed at the `smoke` profile, which trains for seconds on tiny "
            "subsets only to check that the code runs. Nothing on it says anything about label "
            "smoothing. Rebuild at the `cpu` or `paper` profile for real numbers "
            f"(`{PROFILE_ENV}=cpu jb build .`).")
    if profile == "cpu":
        return admonition(
            "note", "CPU profile",
            "Numbers on this page come from the `cpu` profile: real data that is available "
            "offline, with fewer epochs than the papers. They are real measurements, labelled "
            "with their profile, but not the published recipes; the `paper` profile runs those.")
    return admonition(
        "note", "Paper profile",
        "Numbers on this page come from the `paper` profile: the replication's recipes.")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]],
                   align: str | None = None) -> str:
    """A pipe table; ``align`` is one character per column among l, c, r (default: l then r)."""
    header = [str(cell) for cell in header]
    rows = [[_cell(value) for value in row] for row in rows]
    for row in rows:
        if len(row) != len(header):
            raise LsbookError(f"table row {row} has {len(row)} cells for {len(header)} columns")
    align = align or ("l" + "r" * (len(header) - 1))
    rule = {"l": ":--", "c": ":-:", "r": "--:"}
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "–"
    text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


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
    """One line saying where the numbers of a table or figure come from, from record provenance:
    profile, seeds, hardware, torch version and code version (git commit and engine version)."""
    if not records:
        return "No stored runs."
    def values(get) -> str:
        found = sorted({str(v) for v in (get(r) for r in records) if v not in (None, "")})
        return ", ".join(found) if found else "unknown"
    return (f"{len(records)} run(s); profile {values(lambda r: r.config.get('profile'))}; "
            f"seeds {values(lambda r: r.config.get('seed'))}; "
            f"hardware {values(lambda r: r.provenance.get('device'))}; "
            f"torch {values(lambda r: r.provenance.get('torch_version') or r.provenance.get('torch'))}; "
            f"code {values(lambda r: _short_commit(r.provenance.get('git_commit') or r.provenance.get('commit')))}"
            f" (engine v{values(lambda r: r.config.get('engine_version'))}).")


def _short_commit(commit: object) -> str | None:
    if not commit:
        return None
    text = str(commit)
    return text[:10] + ("+dirty" if text.endswith("dirty") and not text[:10].endswith("dirty") else "")
