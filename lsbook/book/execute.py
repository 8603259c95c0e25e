"""Chapters as notebooks: list them and their parameters, run one with other parameters, build the book.

A chapter is a jupytext MyST notebook (``book/NAME.md``) with a cell tagged ``parameters``.
``chapter run NAME -p KEY VALUE ...`` converts it with jupytext (papermill reads only ``.ipynb``),
lets papermill inject the parameters after that cell, executes it in the ``book/`` folder (as the
book build does) and writes the executed notebook, by default to
``_build/papermill/NAME-KEY=VALUE....ipynb``. Runs that are missing are trained and stored on the
way, exactly as when the book is built. ``chapter list`` names the chapters and their parameters.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from lsbook.errors import LsbookError

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOK_DIR = REPO_ROOT / "book"
TOC_FILE = REPO_ROOT / "_toc.yml"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "_build" / "papermill"


def chapter_names() -> list[str]:
    """The chapters in the order of ``_toc.yml`` (only files that are notebooks)."""
    import yaml

    toc = yaml.safe_load(TOC_FILE.read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    names = [Path(f).name for f in files]
    return [n for n in names if _is_notebook(BOOK_DIR / f"{n}.md")]


def chapter_label(name: str) -> str:
    """The MyST label on the line above the chapter's title: the target of ``{ref}`` links to it."""
    lines = chapter_path(name).read_text().splitlines()
    for above, line in zip(lines, lines[1:]):
        if line.startswith("# "):
            match = re.fullmatch(r"\(([\w-]+)\)=", above.strip())
            if match:
                return match.group(1)
            break
    raise LsbookError(f"chapter {name!r} has no (label)= line above its title")


def _is_notebook(path: Path) -> bool:
    return path.is_file() and "kernelspec:" in path.read_text().split("\n---", 1)[0]


def chapter_path(name: str) -> Path:
    """``book/NAME.md``; LsbookError listing the chapters if there is no such chapter."""
    names = chapter_names()
    if name not in names:
        raise LsbookError(f"unknown chapter {name!r}; chapters: {', '.join(names)}")
    return BOOK_DIR / f"{name}.md"


def read_chapter(name: str):
    """The chapter as an nbformat notebook (jupytext)."""
    import jupytext

    return jupytext.read(chapter_path(name))


def chapter_title(name: str) -> str:
    for line in chapter_path(name).read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return name


def chapter_parameters(name: str) -> dict[str, dict[str, str]]:
    """Parameters of the chapter's ``parameters`` cell: name -> {"default": ..., "help": ...}."""
    notebook = read_chapter(name)
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise LsbookError(f"chapter {name!r} must have exactly one cell tagged 'parameters', has {len(cells)}")
    parameters = {}
    for line in cells[0].source.splitlines():
        match = re.match(r"^([A-Za-z_]\w*)\s*=\s*(.*?)\s*(?:#\s*(.*))?$", line)
        if match:
            parameters[match.group(1)] = {"default": match.group(2), "help": match.group(3) or ""}
    return parameters


def parse_parameters(name: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``-p KEY VALUE`` pairs -> values (YAML: 0.1, [0.0, 0.1], true, null, fcn-fmnist).

    A key that is the singular of a list parameter (``alpha`` for ``alphas``, ``seed`` for
    ``seeds``, ``recipe`` for ``recipes``) sets that list to the one value. Unknown keys are an
    error that lists the chapter's parameters.
    """
    import yaml

    known = chapter_parameters(name)
    values: dict[str, Any] = {}
    for key, text in pairs:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise LsbookError(f"parameter {key}: cannot read {text!r} ({error})") from error
        if key not in known and f"{key}s" in known:
            key, value = f"{key}s", (value if isinstance(value, list) else [value])
        if key not in known:
            raise LsbookError(f"chapter {name!r} has no parameter {key!r}; parameters: {', '.join(known)}")
        values[key] = value
    return values


def default_output(name: str, parameters: dict[str, Any]) -> Path:
    """``_build/papermill/NAME-KEY=VALUE_....ipynb`` (characters unsafe in file names dropped)."""
    parts = [f"{k}={v}" for k, v in sorted(parameters.items())]
    slug = re.sub(r"[^A-Za-z0-9=._,+-]", "", "_".join(parts))[:120]
    return DEFAULT_OUTPUT_DIR / (f"{name}-{slug}.ipynb" if slug else f"{name}.ipynb")


def run_chapter(name: str, parameters: dict[str, Any] | None = None, output: str | Path | None = None,
                *, kernel_name: str = "python3", progress: bool = True) -> Path:
    """Execute chapter ``name`` with ``parameters`` injected; return the executed notebook's path.

    A failing cell raises LsbookError naming the cell, the error and the partly executed notebook.
    """
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    parameters = dict(parameters or {})
    known = chapter_parameters(name)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise LsbookError(f"chapter {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                          f"parameters: {', '.join(known)}")
    output = Path(output) if output is not None else default_output(name, parameters)
    if output.suffix != ".ipynb":
        raise LsbookError(f"output must be an .ipynb file, got {output}")
    output.parent.mkdir(parents=True, exist_ok=True)
    source = output.with_name(f".{output.stem}.input.ipynb")
    jupytext.write(read_chapter(name), source, fmt="ipynb")
    try:
        papermill.execute_notebook(str(source), str(output), parameters=parameters,
                                   kernel_name=kernel_name, cwd=str(BOOK_DIR), progress_bar=progress)
    except PapermillExecutionError as error:
        raise LsbookError(f"chapter {name!r} failed in cell {error.exec_count}: {error.ename}: "
                          f"{error.evalue}; the partly executed notebook is {output}") from error
    finally:
        source.unlink(missing_ok=True)
    return output


def build_book(output_dir: str | Path, *, profile: str = "smoke", builder: str = "html",
               env: dict[str, str] | None = None, reuse: bool = False, timeout: float | None = None) -> Path:
    """``jb build`` the whole book at ``profile`` into ``output_dir`` with -W -n --keep-going.

    Returns ``output_dir/_build/<html|latex>``. ``env`` adds environment variables (e.g. a
    temporary ``LSBOOK_RESULTS`` so that smoke runs stay out of the committed store). With
    ``reuse``, a folder that already holds a successful build of the same profile and builder is
    returned as it is (several test modules share one smoke build); a lock file keeps two
    processes from building into the same folder at once. The HTML build serves MathJax itself
    (:mod:`lsbook.book.mathjax`, fetched here once if set-up has not done it).
    """
    import contextlib
    import fcntl
    import os
    import subprocess

    from lsbook.profiles import get_profile

    get_profile(profile)
    builders = {"html": "html", "pdflatex": "latex"}
    if builder not in builders:
        raise LsbookError(f"builder must be html or pdflatex, got {builder!r}")
    if builder == "html":
        from lsbook.book import mathjax

        mathjax.ensure()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = output_dir / "_build" / builders[builder]
    stamp = output_dir / f".lsbook-build-{builder}-{profile}.ok"
    with open(output_dir / ".lsbook-build.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if reuse and stamp.is_file():
            return result
        stamp.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            import shutil

            shutil.rmtree(result)  # a -W build must start clean: a second -W build can skip a failed notebook
        command = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; "
                   "sys.argv[0] = 'jb'; sys.exit(main())", "build", str(REPO_ROOT),
                   "--path-output", str(output_dir), "-W", "-n", "--keep-going", "--builder", builder]
        environment = {**os.environ, "LSBOOK_PROFILE": profile, **(env or {})}
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = (done.stdout + done.stderr).strip().splitlines()
            raise LsbookError(f"jb build ({builder}, profile {profile}) failed with exit status "
                              f"{done.returncode}:\n" + "\n".join(log[-60:]))
        stamp.write_text(profile + "\n")
    return result
