"""The PDF of the book (jb build --builder pdflatex, xelatex) at the smoke profile.

Opt-in (LSBOOK_TEST_PDF=1): it executes every chapter once more and runs LaTeX, minutes that CI
spends on the HTML build instead. It needs Debian's texlive packages and latexmk (README).
"""

import os
import shutil

import pytest

from lsbook.book import execute as chapters

pytestmark = [pytest.mark.book, pytest.mark.slow]


@pytest.mark.skipif(os.environ.get("LSBOOK_TEST_PDF") != "1", reason="set LSBOOK_TEST_PDF=1 to build the PDF")
def test_the_pdf_builds_at_the_smoke_profile(tmp_path):
    missing = [tool for tool in ("xelatex", "latexmk") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install texlive-xetex latexmk ...)")
    latex = chapters.build_book(tmp_path, profile="smoke", builder="pdflatex",
                                env={"LSBOOK_RESULTS": str(tmp_path / "results"),
                                     "LSBOOK_RUNS": str(tmp_path / "runs")})
    pdf = latex / "lsbook.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert pdf.stat().st_size > 100_000  # text, tables and the figures
