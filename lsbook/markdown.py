"""Markdown that both the claim ledger and the book print: pipe tables."""

from __future__ import annotations

from typing import Iterable, Sequence

from lsbook.errors import LsbookError


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
