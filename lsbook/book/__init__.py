"""The book's helpers: what turns stored runs into the chapters' tables, figures, sentences and
pages, and what runs the chapters. The science (models, losses, metrics, training, the store, the
claim ledger) lives in the rest of :mod:`lsbook`; the chapters in ``book/`` call these modules.

- :mod:`lsbook.book.settings` — ``chapter_settings``: a chapter's parameters resolved (profile,
  defaults) and checked; every chapter calls it once.
- :mod:`lsbook.book.gather` — the runs behind a chapter: one (α, seed) grid per recipe, trained
  only where missing.
- :mod:`lsbook.book.pages` — Markdown output shared by every chapter: notices, tables, glued
  sentences, provenance.
- :mod:`lsbook.book.tables` — Tables 2, 3 and 5, the reproducibility and differences tables, and the
  mean ± std over seeds that every table shows.
- :mod:`lsbook.book.plots` — every figure, drawn from stored data.
- :mod:`lsbook.book.scope` — what the store holds and, for every combination it lacks, why.
- :mod:`lsbook.book.translation_report`, :mod:`lsbook.book.distillation_report`,
  :mod:`lsbook.book.mutual_information_report` — the tables and sentences of the Transformer,
  distillation and mutual-information chapters.
- :mod:`lsbook.book.execute` — the chapters as notebooks: list them, run one with papermill, build
  the book with Jupyter Book.
- :mod:`lsbook.book.chapter_sweep` — a chapter executed for each α of a list, as SLURM array tasks
  (through :mod:`lsbook.cluster`) or here.
- :mod:`lsbook.book.mathjax` — MathJax served from the built book, so formulas render offline.
"""
