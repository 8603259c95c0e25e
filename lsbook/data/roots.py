"""Where datasets are looked for: the data root, then known local copies.

The data root is ``$LSBOOK_DATA`` or, unset, ``$XDG_CACHE_HOME/lsbook`` (``~/.cache/lsbook``).
Each dataset lives in ``<root>/<name>/`` (``fetch`` writes there). When no root is passed
explicitly, two kinds of local copies are consulted after it, read-only:

- ``../shared/data/<name>/`` beside the repository checkout (Multi30k's files in CI), and
- Debian's ``dataset-fashion-mnist`` package, ``/usr/share/datasets/fashion-mnist/``.

An explicit ``root`` argument means "exactly this folder" (tests rely on it).
Decoded tensors are cached under ``<root>/cache/``, or, where the root is read-only (a shared
folder), under the user cache folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lsbook.data import sources
from lsbook.data.registry import get_dataset
from lsbook.errors import DataMissingError

REPOSITORY = Path(__file__).resolve().parents[2]

# Known read-only copies, by dataset (absolute paths; checked in order after the data root).
SYSTEM_SOURCES: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/lsbook``, else ``~/.cache/lsbook``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lsbook"


def data_root() -> Path:
    """The folder that holds (and receives) every dataset: ``$LSBOOK_DATA`` or the user cache."""
    configured = os.environ.get("LSBOOK_DATA")
    return Path(configured).expanduser() if configured else user_cache_root()


def candidate_dirs(name: str, root: Path | str | None = None) -> list[Path]:
    """Folders that may hold dataset ``name``, in the order they are tried."""
    info = get_dataset(name)
    if root is not None:
        return [Path(root) / info.name]
    candidates = [data_root() / info.name, REPOSITORY.parent / "shared" / "data" / info.name]
    candidates += list(SYSTEM_SOURCES.get(info.name, ()))
    unique: list[Path] = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return unique


def is_complete(name: str, folder: Path) -> bool:
    """Whether ``folder`` holds every file dataset ``name`` needs (existence only, no hashing)."""
    return all((folder / rel).exists() for rel in sources.REQUIRED_FILES[get_dataset(name).name])


def locate(name: str, root: Path | str | None = None) -> Path | None:
    """The first candidate folder that holds the whole dataset, or None."""
    for folder in candidate_dirs(name, root):
        if is_complete(name, folder):
            return folder
    return None


def require(name: str, root: Path | str | None = None) -> Path:
    """The dataset's folder; DataMissingError naming where it looked and the fetch command."""
    folder = locate(name, root)
    if folder is None:
        info = get_dataset(name)
        looked = ", ".join(str(path) for path in candidate_dirs(name, root))
        raise DataMissingError(
            f"dataset {info.name!r} not found (looked in {looked}); "
            f"run `{info.fetch_command}` (set LSBOOK_DATA to choose the data root)"
        )
    return folder


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            return True
    except OSError:
        return False


def cache_dir(root: Path | str | None = None) -> Path | None:
    """Where decoded tensors are cached: ``<root>/cache`` if writable, else the user cache; or None."""
    base = Path(root) if root is not None else data_root()
    for folder in (base / "cache", user_cache_root() / "cache"):
        if _writable(folder):
            return folder
    return None
