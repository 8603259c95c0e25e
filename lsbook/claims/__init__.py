"""The claim ledger: each claim of the two papers, and of later work, as a measurement, a 95 %
interval and a verdict.

- lsbook.claims.table: the claims as data (one table of rows), the decision rule and the margins;
- lsbook.claims.arms: the one arm search and the one estimate helper;
- lsbook.claims.measures: one small function per kind of measurement;
- lsbook.claims.rows: the rows, computed once per store and code version, and how they are printed.

Nothing here imports the book layer (lsbook.book), which shows what this computes.
"""

from lsbook.claims.rows import (EVIDENCE, INTERVAL_RULE, LedgerRow, chapter_rows, compute, counts_markdown,
                                  counts_text, decide, headline_markdown, ledger, ledger_by_chapter, ledger_details,
                                  ledger_json, ledger_markdown, ledger_text, row_title, rule_markdown,
                                  verdict_counts, verdict_sentences)
from lsbook.claims.table import (CHAPTERS, CLAIMS, CONFIRMED, CONTRADICTED, DECISION_RULE, INCONCLUSIVE, MARGINS,
                                 NOT_RUN, VERDICTS, Claim, Direction, Runs, claim)

__all__ = ["CHAPTERS", "CLAIMS", "CONFIRMED", "CONTRADICTED", "DECISION_RULE", "EVIDENCE", "INCONCLUSIVE",
           "INTERVAL_RULE", "MARGINS", "NOT_RUN", "VERDICTS", "Claim", "Direction", "LedgerRow", "Runs",
           "chapter_rows", "claim", "compute", "counts_markdown", "counts_text", "decide", "headline_markdown",
           "ledger", "ledger_by_chapter", "ledger_details", "ledger_json", "ledger_markdown", "ledger_text",
           "row_title", "rule_markdown", "verdict_counts", "verdict_sentences"]
