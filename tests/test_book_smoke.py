"""The whole book at the smoke profile: every chapter executes, and the HTML builds with -W.

This is what CI runs. Smoke runs go to a temporary results store, never to the committed one;
the papermill run and the book build share that store, so nothing is trained twice. The build
is shared with tests/test_browser.py (same session folder, built once).
"""

import os
from pathlib import Path

import nbformat
import pytest

from lsbook.book import execute as chapters

pytestmark = [pytest.mark.book, pytest.mark.slow]

NOTICE = "Smoke profile: these numbers are not results"


def smoke_folder(tmp_path_factory) -> Path:
    """One folder per test session (shared by pytest-xdist workers) for the smoke build."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "lsbook-smoke-book"


def smoke_environment(folder: Path) -> dict[str, str]:
    return {"LSBOOK_PROFILE": "smoke", "LSBOOK_RESULTS": str(folder / "results"),
            "LSBOOK_RUNS": str(folder / "runs")}


def build_smoke_book(tmp_path_factory) -> Path:
    """The smoke HTML build (built on first use in this session)."""
    folder = smoke_folder(tmp_path_factory)
    return chapters.build_book(folder, profile="smoke", env=smoke_environment(folder), reuse=True)


def test_a_chapter_runs_under_papermill_at_the_smoke_profile(tmp_path_factory):
    folder = smoke_folder(tmp_path_factory)
    output = folder / "papermill" / "accuracy.ipynb"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in smoke_environment(folder).items():
            patch.setenv(key, value)
        chapters.run_chapter("accuracy", {"recipes": ["fcn-fmnist"], "alphas": [0.0, 0.1]}, output,
                             progress=False)
    notebook = nbformat.read(output, as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    markdown = "\n".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert NOTICE in markdown
    assert "ours (smoke, 1 seed" in markdown  # the table has our row, from runs trained on the way
    # A computed sentence that the book pastes into the prose is an output a notebook reader sees.
    glued = [o for o in outputs if o.get("metadata", {}).get("scrapbook", {}).get("name") == "accuracy_summary"]
    assert len(glued) == 1 and glued[0]["data"]["text/markdown"].startswith("Our runs give")
    assert list((folder / "results").glob("fcn-fmnist/smoke/*/record.json"))


def test_the_book_builds_at_the_smoke_profile_with_every_chapter(tmp_path_factory):
    html = build_smoke_book(tmp_path_factory)
    assert (html / "index.html").is_file()
    for name in chapters.chapter_names():
        page = html / "book" / f"{name}.html"
        assert page.is_file(), name
        text = page.read_text()
        if name not in ("intro", "label_smoothing", "differences"):  # pages that show no runs
            assert NOTICE in text, f"{name} does not say that smoke numbers are not results"
        assert "Traceback" not in text, name
    # ... and the book shows it once, in the prose (not a second time as the cell's output).
    assert (html / "book" / "accuracy.html").read_text().count("Our runs give") == 1
    assert list((html / "_images").glob("*.png")), "no figure was rendered"
