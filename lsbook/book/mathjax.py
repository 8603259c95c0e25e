"""MathJax for the built book, served from the build itself so that formulas render offline.

Sphinx's default loads MathJax from a CDN; a reader without network access then sees raw TeX. The
book instead loads ``_static/mathjax/tex-chtml-full.js`` (``mathjax_path`` in ``_config.yml``),
which this module puts into ``book/_static/mathjax/`` (ignored by git):

- the pinned MathJax release's npm tarball, fetched with ``npm pack`` (npm's cache and registry
  settings apply), or, without npm, from the registry's tarball URL;
- checked against the sha512 that the npm registry publishes for that release;
- of which only what the pages load is kept: the combined TeX-to-CommonHTML component with every
  TeX extension built in (no extension is fetched on demand), its web fonts and the licence
  (about 1.7 MB).

The files are fetched once, at set-up (``scripts/setup.sh`` runs
``python -m lsbook.book.mathjax``; :func:`lsbook.book.execute.build_book` does it when they are
missing), and not committed: the registry serves the same bytes for a pinned version, so committing
1.7 MB of third-party minified code would only grow the repository. After that the build needs no
network.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from lsbook.errors import LsbookError

VERSION = "3.2.2"
# dist.integrity of mathjax@3.2.2 on registry.npmjs.org (npm view mathjax@3.2.2 dist.integrity).
INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
TARBALL_URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{VERSION}.tgz"
TARGET = Path(__file__).resolve().parents[2] / "book" / "_static" / "mathjax"
ENTRY = "tex-chtml-full.js"  # mathjax_path in _config.yml is "mathjax/" + ENTRY
FONTS = "output/chtml/fonts/woff-v2"  # where the CommonHTML output looks for its fonts, beside ENTRY
STAMP = "VERSION"


def is_installed(target: Path = TARGET) -> bool:
    """Whether ``target`` holds this release's entry script and fonts (checked by the stamp file)."""
    stamp = target / STAMP
    return (stamp.is_file() and stamp.read_text().strip() == VERSION and (target / ENTRY).is_file()
            and any((target / FONTS).glob("*.woff")))


def verify(tarball: Path) -> None:
    """LsbookError unless ``tarball``'s sha512 is the one the registry publishes for VERSION."""
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != INTEGRITY:
        raise LsbookError(f"{tarball} is not mathjax@{VERSION} as published (its {digest[:20]}… differs "
                          f"from {INTEGRITY[:20]}…); delete it and fetch again")


def fetch(folder: Path) -> Path:
    """The release tarball, downloaded into ``folder``: ``npm pack``, else the registry URL."""
    npm = shutil.which("npm")
    if npm:
        done = subprocess.run([npm, "pack", f"mathjax@{VERSION}", "--silent"], cwd=folder,
                              capture_output=True, text=True, timeout=600)
        packed = folder / f"mathjax-{VERSION}.tgz"
        if done.returncode == 0 and packed.is_file():
            return packed
    destination = folder / f"mathjax-{VERSION}.tgz"
    try:
        with urllib.request.urlopen(TARBALL_URL, timeout=120) as response, open(destination, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as error:
        raise LsbookError(f"cannot fetch mathjax@{VERSION} ({'npm pack failed; ' if npm else ''}{TARBALL_URL}: "
                          f"{error}); download that file elsewhere and run "
                          f"`python -m lsbook.book.mathjax --tarball FILE`") from error
    return destination


def _kept(name: str) -> str | None:
    """The path under the target folder of a tarball member that the pages need, else None."""
    if name == "package/LICENSE":
        return "LICENSE"
    prefix = "package/es5/"
    if not name.startswith(prefix):
        return None
    relative = name[len(prefix):]
    if relative == ENTRY or (relative.startswith(FONTS + "/") and relative.endswith(".woff")
                             and "/" not in relative[len(FONTS) + 1:]):
        return relative
    return None


def install(tarball: Path | None = None, target: Path = TARGET) -> Path:
    """Verify ``tarball`` (fetched when None), extract the files the pages need into ``target``."""
    with tempfile.TemporaryDirectory() as scratch:
        tarball = Path(tarball) if tarball is not None else fetch(Path(scratch))
        if not tarball.is_file():
            raise LsbookError(f"tarball {tarball} does not exist")
        verify(tarball)
        staging = Path(scratch) / "mathjax"
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive.getmembers():
                relative = _kept(member.name)
                if relative is None or not member.isfile():
                    continue
                path = staging / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.extractfile(member).read())
        (staging / STAMP).write_text(VERSION + "\n")
        if not is_installed(staging):
            raise LsbookError(f"mathjax@{VERSION}'s tarball lacks es5/{ENTRY} or its fonts")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, target)
    return target


def ensure(target: Path = TARGET) -> Path:
    """``target``, installing MathJax there first if it is missing or another version."""
    return target if is_installed(target) else install(target=target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lsbook.book.mathjax", description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help=f"a local copy of {TARBALL_URL} (no download)")
    parser.add_argument("--force", action="store_true", help="install again even if present")
    args = parser.parse_args(argv)
    try:
        if args.force or args.tarball or not is_installed():
            install(args.tarball)
    except LsbookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"MathJax {VERSION} in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
