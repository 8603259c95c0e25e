"""Downloading datasets into the data root, trusting nothing until its digest matches.

``fetch(name)`` downloads each file of :data:`lsbook.data.sources.DOWNLOADS` to a temporary
name in the dataset's folder, checks the published md5 / measured sha256, and only then
renames it into place; archives are unpacked into a temporary folder whose contents are moved
into place once complete, with a ``SHA256SUMS`` recording what was unpacked. Any failure
(network, bad digest, interruption) deletes the partial files, so the data root holds only
verified data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from lsbook.data import sources
from lsbook.data.registry import DATASETS, get_dataset
from lsbook.data.roots import candidate_dirs, data_root, is_complete, locate
from lsbook.data.verify import MANIFEST, corrupt, digest_file, write_manifest
from lsbook.errors import DataCorruptError, LsbookError

CHUNK = 1 << 20
TIMEOUT_S = 60


def download_to(url: str, destination: Path, algorithm: str, progress: bool = True) -> str:
    """Stream ``url`` into ``destination`` and return the hex digest of what was written."""
    hasher = hashlib.new(algorithm)
    request = urllib.request.Request(url, headers={"User-Agent": "lsbook"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(destination, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name.split(".part-")[0].lstrip("."),
                  disable=not progress, leave=False) as bar:
            while block := response.read(CHUNK):
                out.write(block)
                hasher.update(block)
                bar.update(len(block))
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
            except OSError as error:  # URLError, HTTPError, timeouts: try the next mirror
                errors.append(f"{url}: {error}")
                continue
            if actual != item.digest:
                raise DataCorruptError(
                    f"{url} -> {folder / item.filename}: {item.algorithm} mismatch, expected "
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
            raise DataCorruptError(f"{archive}: unsafe member path {name!r}; refusing to unpack")


def unpack(name: str, item: sources.Download, archive: Path, folder: Path) -> list[str]:
    """Unpack a verified archive into ``folder``; returns the relative paths placed.

    Members are extracted into a temporary folder and checked against the published digests of
    FILE_CHECKS (CIFAR's batches) before anything is moved into place.
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
                        raise DataCorruptError(f"{archive}: expected member {absent[0]} is not in the archive")
                    for member in item.members:
                        with zf.open(member) as source, open(staging / Path(member).name, "wb") as out:
                            shutil.copyfileobj(source, out, CHUNK)
                else:
                    zf.extractall(staging)
        else:
            with tarfile.open(archive) as tf:
                _safe_members(tf.getnames(), archive)
                tf.extractall(staging, filter="data")
        verify_folder(name, staging)
        placed = []
        for entry in sorted(staging.iterdir()):
            target = folder / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(entry, target)
            placed += [str(p.relative_to(folder)) for p in ([target] if target.is_file() else target.rglob("*"))
                       if p.is_file()]
        return placed
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_leftovers(folder: Path) -> None:
    """Delete temporary files of an earlier fetch that was killed before it could clean up."""
    for path in folder.glob(".*.part-*"):
        path.unlink(missing_ok=True)
    for path in folder.glob(".unpack-*"):
        shutil.rmtree(path, ignore_errors=True)


def verify_folder(name: str, folder: Path) -> None:
    """Check the file-level digests of FILE_CHECKS found in ``folder`` (CIFAR's unpacked batches)."""
    for check in sources.FILE_CHECKS.get(name, ()):
        path = folder / check.path
        if path.is_file() and not check.decompressed:
            actual = digest_file(path, check.algorithm)
            if actual != check.digest:
                raise corrupt(path, check.algorithm, check.digest, actual)


def fetch(name: str, root: Path | str | None = None, *, force: bool = False, progress: bool = True) -> Path:
    """Download and verify dataset ``name`` into ``<root>/<name>/``; returns that folder.

    Already present there (all files exist) and not ``force``: nothing is downloaded.
    """
    info = get_dataset(name)
    folder = Path(root if root is not None else data_root()) / info.name
    if not force and is_complete(info.name, folder):
        return folder
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder)
    unpacked: list[str] = []
    try:
        for item in sources.DOWNLOADS[info.name]:
            path = fetch_file(item, folder, progress)
            if item.unpack:
                try:
                    unpacked += unpack(info.name, item, path, folder)
                finally:
                    path.unlink(missing_ok=True)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # leave the data root as it was
        raise
    if unpacked:
        write_manifest(folder, [rel for rel in unpacked if rel != MANIFEST])
    if not is_complete(info.name, folder):
        missing = [rel for rel in sources.REQUIRED_FILES[info.name] if not (folder / rel).exists()]
        raise DataCorruptError(f"{folder}: download verified but {missing[0]} is missing from it")
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
