"""Chapters as notebooks: list them and their parameters, run one with other parameters, build the book.

A chapter is a jupytext MyST notebook (``book/NAME.md``) with a cell tagged ``parameters``.
``chapter run NAME -p KEY VALUE ...`` converts it with jupytext (papermill reads only ``.ipynb``),
lets papermill inject the parameters after that cell, executes it in the ``book/`` folder (as the
book build does) and writes the executed notebook, by default to
``_build/papermill/NAME-KEY=VALUE....ipynb``. Runs that are missing are trained and stored on the
way, exactly as when the book is built. ``chapter list`` names the chapters and their parameters.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from lsbook.errors import LsbookError

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOK_DIR = REPO_ROOT / "book"
TOC_FILE = REPO_ROOT / "_toc.yml"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "_build" / "papermill"
# The chapters that show grids of runs (lsbook.book.settings.CHAPTERS, named here without importing torch).
RUN_CHAPTERS = ("accuracy", "calibration", "penultimate", "transformer", "distillation", "mutual_information")


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
            if key == "alphas" and name in RUN_CHAPTERS:   # one more α beside the grid and its α = 0 baseline
                values[key] = [*values.get(key, []), *value]
                continue
        if key not in known:
            raise LsbookError(f"chapter {name!r} has no parameter {key!r}; parameters: {', '.join(known)}")
        values[key] = value
    if "alphas" in values and name in RUN_CHAPTERS and not any(key == "alphas" for key, _ in pairs):
        values["alphas"] = _with_grid(name, values)
    check_parameters(name, values)
    return values


def _with_grid(name: str, values: dict[str, Any]) -> list[float]:
    """The α given by ``-p alpha A`` added to the chapter's default grid at its profile (α = 0, the
    baseline every comparison needs, included), so that one more α never replaces the grid."""
    from lsbook.profiles import chapter_defaults, resolve_profile
    from lsbook.validation import check_alpha

    added = [check_alpha(a) for a in values["alphas"]]
    grid = chapter_defaults(resolve_profile(values.get("profile")), name).get("alphas") or []
    return sorted({0.0, *map(float, grid), *added})


def check_parameters(name: str, values: dict[str, Any]) -> None:
    """Check the parameters the chapter resolves (lsbook.book.settings.chapter_settings) before any
    cell runs: a bad value is a one-line LsbookError naming the parameter and what is allowed."""
    from lsbook.book.settings import CHAPTERS, PROFILE_ONLY_CHAPTERS, chapter_settings

    if name not in (*CHAPTERS, *PROFILE_ONLY_CHAPTERS):
        return
    taken = ("profile",) if name in PROFILE_ONLY_CHAPTERS else (
        "profile", "recipes", "alphas", "seeds", "setups", "temperatures")
    try:
        chapter_settings(name, **{key: values[key] for key in taken if key in values})
    except (TypeError, ValueError) as error:
        raise LsbookError(f"chapter {name!r}: {error}") from error


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
    check_parameters(name, parameters)
    output = Path(output) if output is not None else default_output(name, parameters)
    if output.suffix != ".ipynb":
        raise LsbookError(f"output must be an .ipynb file, got {output}")
    output.parent.mkdir(parents=True, exist_ok=True)
    source = output.with_name(f".{output.stem}.input.ipynb")
    jupytext.write(read_chapter(name), source, fmt="ipynb")
    results = os.environ.get("LSBOOK_RESULTS") or str(user_store())
    if progress:
        print(f"runs this chapter trains are stored in {results}", file=sys.stderr, flush=True)
    previous = os.environ.get("LSBOOK_RESULTS")
    os.environ["LSBOOK_RESULTS"] = results           # the kernel inherits it
    try:
        papermill.execute_notebook(str(source), str(output), parameters=parameters,
                                   kernel_name=kernel_name, cwd=str(BOOK_DIR), progress_bar=progress)
    except PapermillExecutionError as error:
        raise LsbookError(f"chapter {name!r} failed in cell {error.exec_count}: {error.ename}: "
                          f"{error.evalue}; the partly executed notebook is {output}") from error
    finally:
        source.unlink(missing_ok=True)
        if previous is None:
            os.environ.pop("LSBOOK_RESULTS", None)
        else:
            os.environ["LSBOOK_RESULTS"] = previous
    return output


USER_STORE = DEFAULT_OUTPUT_DIR / "results"


def user_store(folder: Path = USER_STORE) -> Path:
    """A results store for chapter runs outside the tracked ``results/``: every committed record is
    linked into it file by file (so the chapter reads them), and new runs, and anything derived from
    a committed run, are written beside them into real files of this folder, never into ``results/``."""
    from lsbook.store import Store

    committed = Store()
    for record_folder in committed.folders():
        for file in record_folder.rglob("*"):            # the record's files and its derived/ values
            link = folder / file.relative_to(committed.root)
            if file.is_file() and not (link.exists() or link.is_symlink()):
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(file.resolve())
    return folder


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
        ensure_book_runs(profile, environment, timeout)
        before = count_records(environment)
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = (done.stdout + done.stderr).strip().splitlines()
            raise LsbookError(f"jb build ({builder}, profile {profile}) failed with exit status "
                              f"{done.returncode}:\n" + "\n".join(log[-60:]))
        trained = count_records(environment) - before
        if trained:
            raise LsbookError(f"the pages trained {trained} run(s) that `runs ensure --book` did not: "
                              "lsbook.book.settings.chapter_runs must name every run a chapter shows")
        stamp.write_text(profile + "\n")
    return result


def ensure_book_runs(profile: str, environment: dict[str, str], timeout: float | None = None) -> None:
    """``python -m lsbook runs ensure --book``: train every run the book shows at ``profile`` first."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "lsbook", "runs", "ensure", "--book", "--profile", profile,
                           "--quiet"], env=environment, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT)
    if done.returncode != 0:
        log = (done.stdout + done.stderr).strip().splitlines()
        raise LsbookError(f"runs ensure --book (profile {profile}) failed with exit status {done.returncode}:\n"
                          + "\n".join(log[-40:]))


def count_records(environment: dict[str, str]) -> int:
    """How many runs the store of ``environment`` ($LSBOOK_RESULTS) holds."""
    from lsbook.store import Store

    return len(Store(environment.get("LSBOOK_RESULTS") or None).folders())
