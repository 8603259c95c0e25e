"""Reading dataset files with their digests checked: a damaged file never reaches a tensor.

A dataset folder is vouched for by the published or measured digests of
:data:`lsbook.data.sources.FILE_CHECKS` and, where ``fetch`` unpacked an archive, by a
``SHA256SUMS`` file it wrote after verifying the archive (format of ``sha256sum``).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from lsbook.data import sources
from lsbook.errors import DataCorruptError

MANIFEST = "SHA256SUMS"


def digest_bytes(data: bytes, algorithm: str) -> str:
    """Hex digest of ``data`` with hashlib's ``algorithm`` ("md5", "sha256")."""
    return hashlib.new(algorithm, data).hexdigest()


def digest_file(path: Path, algorithm: str, chunk: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks (archives can be hundreds of MB)."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            hasher.update(block)
    return hasher.hexdigest()


def digest_gz_file(path: Path, algorithm: str, chunk: int = 1 << 20) -> str:
    """Hex digest of a gzip file's decompressed bytes, streamed; a damaged stream is DataCorruptError."""
    hasher = hashlib.new(algorithm)
    try:
        with gzip.open(path, "rb") as handle:
            while block := handle.read(chunk):
                hasher.update(block)
    except (EOFError, OSError, zlib.error) as error:
        raise DataCorruptError(f"{path.name}: truncated or damaged gzip file ({error})") from None
    return hasher.hexdigest()


def corrupt(path: Path, algorithm: str, expected: str, actual: str, what: str = "") -> DataCorruptError:
    """The one-line error for a file whose digest is wrong."""
    return DataCorruptError(
        f"{path}: {algorithm} {what}mismatch, expected {expected}, actual {actual}; "
        f"delete the file and fetch the dataset again"
    )


def gunzip(path: Path, data: bytes) -> bytes:
    """Decompress gzip ``data`` read from ``path``; a truncated or damaged stream is DataCorruptError."""
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as error:
        raise DataCorruptError(
            f"{path}: truncated or damaged gzip file ({error}); sha256 of the file is "
            f"{digest_bytes(data, 'sha256')}; delete it and fetch the dataset again"
        ) from None


def read_manifest(folder: Path) -> dict[str, str]:
    """relative path -> sha256 from ``folder/SHA256SUMS``; empty when there is none."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return {}
    entries = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, _, relative = line.partition("  ")
            entries[relative] = digest.strip().lower()
    return entries


def write_manifest(folder: Path, relative_paths: list[str]) -> None:
    """Record the sha256 of files just unpacked from a verified archive (atomic write)."""
    lines = [f"{digest_file(folder / rel, 'sha256')}  {rel}\n" for rel in sorted(relative_paths)]
    temporary = folder / f".{MANIFEST}.partial"
    temporary.write_text("".join(lines))
    temporary.replace(folder / MANIFEST)


class Verifier:
    """Reads files of one dataset folder, checking every digest known for them."""

    def __init__(self, name: str, folder: Path):
        self.folder = Path(folder)
        self.checks = {check.path: check for check in sources.FILE_CHECKS.get(name, ())}
        self.manifest = read_manifest(self.folder)

    def read(self, relative: str) -> bytes:
        """The bytes of ``folder/relative`` after the file-level digests are checked."""
        path = self.folder / relative
        data = path.read_bytes()
        check = self.checks.get(relative)
        if check is not None and not check.decompressed:
            actual = digest_bytes(data, check.algorithm)
            if actual != check.digest:
                raise corrupt(path, check.algorithm, check.digest, actual)
        expected = self.manifest.get(relative)
        if expected is not None:
            actual = digest_bytes(data, "sha256")
            if actual != expected:
                raise corrupt(path, "sha256", expected, actual, f"({MANIFEST}) ")
        return data

    def read_gz(self, relative: str) -> bytes:
        """The decompressed bytes of a ``.gz`` file, checked before and after decompression."""
        path = self.folder / relative
        data = gunzip(path, self.read(relative))
        check = self.checks.get(relative)
        if check is not None and check.decompressed:
            actual = digest_bytes(data, check.algorithm)
            if actual != check.digest:
                raise corrupt(path, check.algorithm, check.digest, actual, "(of the decompressed data) ")
        return data
