"""The results store: one record per training run, keyed by a hash of the run's full configuration.

Layout::

    <root>/<recipe>/<profile>/<key>/record.json   config, metrics, provenance, array list + sha256
                                   /arrays.npz     compressed arrays (float32 logits, features, ...)
                                   /model.pt       final weights, only for runs kept as teachers
                                   /derived/<name>.json  values computed later from the run (a teacher's γ)

``<root>`` is ``$LSBOOK_RESULTS`` or ``<repo>/results`` (committed, so a book can be built from runs
trained elsewhere). The key is the sha256 of the canonical JSON of the config — recipe fields after
the profile, α, seed, ENGINE_VERSION, teacher key, distillation settings — never the git commit.
A record is written into a temporary folder and renamed into place, so readers see either nothing
or a whole record, and two writers of one key cannot mix their files. A damaged record or one from
another engine version raises :class:`StoreError` naming its path, so it is never used silently:
record.json is checked when the record is found, arrays.npz (sha256 and names) when its arrays are
first read, so finding records never reads their arrays.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsbook import ENGINE_VERSION
from lsbook.errors import StoreError

RECORD_FORMAT = 1  # layout of record.json/arrays.npz; bump when it changes
REPO_ROOT = Path(__file__).resolve().parents[1]
KEY_LENGTH = 16  # hex digits of the sha256 kept as the key (64 bits)
_DERIVED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]*")  # a file name of derived values, without .json


def default_root() -> Path:
    """``$LSBOOK_RESULTS`` or ``<repo>/results``."""
    return Path(os.environ.get("LSBOOK_RESULTS") or REPO_ROOT / "results")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the same config always gives the same text."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise StoreError(f"run config is not plain JSON ({error})") from error


def config_key(config: Mapping[str, Any]) -> str:
    """The store key of a run: sha256 of its canonical JSON config, first KEY_LENGTH hex digits."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:KEY_LENGTH]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LazyArrays(Mapping):
    """Read-only mapping name -> numpy array of a record's arrays.npz, each array loaded on first use.

    Before the first array is read, the file is checked against record.json (sha256, names), so a
    damaged file raises :class:`StoreError` when its arrays are used, not when the record is found.
    """

    def __init__(self, path: Path, names: list[str], sha256: str):
        self._path, self._names, self._sha256 = path, list(names), sha256
        self._cache: dict[str, np.ndarray] = {}
        self._checked = False

    def check(self) -> None:
        """StoreError unless arrays.npz exists, has the sha256 of record.json and every listed array."""
        if self._checked:
            return
        if not self._path.is_file():
            raise StoreError(f"damaged record {self._path.parent}: arrays.npz is missing")
        if _sha256_file(self._path) != self._sha256:
            raise StoreError(f"damaged record {self._path}: sha256 differs from record.json")
        try:
            with np.load(self._path, allow_pickle=False) as npz:
                missing = sorted(set(self._names) - set(npz.files))
        except Exception as error:  # noqa: BLE001 - any read failure is damage
            raise StoreError(f"damaged record {self._path}: {error}") from error
        if missing:
            raise StoreError(f"damaged record {self._path}: arrays missing: {', '.join(missing)}")
        self._checked = True

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(f"{name!r} not in the record's arrays ({', '.join(self._names)})")
        if name not in self._cache:
            self.check()
            try:
                with np.load(self._path, allow_pickle=False) as npz:
                    self._cache[name] = npz[name]
            except Exception as error:  # noqa: BLE001 - any read failure is damage
                raise StoreError(f"damaged arrays file {self._path}: {error}") from error
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass
class Record:
    """One stored run (read-only once stored). ``arrays`` loads lazily; ``path`` is its folder once stored."""

    key: str
    config: dict[str, Any]  # recipe, profile, alpha, seed, engine_version, teacher_key, ...
    metrics: dict[str, Any]  # test_/val_ accuracy, nll, ece; history (one dict per epoch)
    provenance: dict[str, Any]  # git commit, torch version, device, wall seconds, date, host
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None

    @property
    def recipe(self):
        """The resolved :class:`lsbook.recipes.Recipe` the run used."""
        from lsbook.recipes import recipe_from_dict

        return recipe_from_dict(self.config["resolved_recipe"])

    @property
    def model_path(self) -> Path | None:
        return None if self.path is None else self.path / "model.pt"

    @property
    def has_model(self) -> bool:
        """Whether the final weights were stored (runs trained with keep_model=True)."""
        return self.model_path is not None and self.model_path.is_file()

    def load_weights(self, device: Any = "cpu") -> dict[str, Any]:
        """The stored final weights (a state dict); StoreError if there are none or they are damaged.
        :func:`lsbook.train.load_model` builds the network they belong to."""
        import torch

        if not self.has_model:
            raise StoreError(f"run {self.key} has no stored weights ({self.model_path}); train it "
                             "again with keep_model=True (python -m lsbook train ... --keep-model)")
        try:
            return torch.load(self.model_path, map_location=device, weights_only=True)
        except Exception as error:  # noqa: BLE001
            raise StoreError(f"damaged weights file {self.model_path}: {error}") from error


def _read_record(folder: Path) -> Record:
    """Read and check ``folder``/record.json: format, engine version, key, and that the folder is
    where its config says."""
    record_file = folder / "record.json"
    try:
        data = json.loads(record_file.read_text())
    except FileNotFoundError as error:
        raise StoreError(f"damaged record {folder}: record.json is missing") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise StoreError(f"damaged record {record_file}: not valid JSON ({error})") from error
    if not isinstance(data, dict) or not {"key", "config", "metrics", "provenance", "arrays"} <= set(data):
        raise StoreError(f"damaged record {record_file}: missing key/config/metrics/provenance/arrays")
    if data.get("format") != RECORD_FORMAT:
        raise StoreError(f"record {folder} has format {data.get('format')!r}, this lsbook reads "
                         f"format {RECORD_FORMAT}; delete the record or use a matching lsbook")
    config = data["config"]
    version = config.get("engine_version")
    if version != ENGINE_VERSION:
        raise StoreError(f"record {folder} was made by engine version {version!r}, this lsbook is "
                         f"{ENGINE_VERSION}; delete it (or move it out of the store) and rerun the run")
    key = data["key"]
    if key != folder.name or config_key(config) != key:
        raise StoreError(f"damaged record {record_file}: its config does not hash to its key {folder.name}")
    if (str(config.get("recipe")), str(config.get("profile"))) != (folder.parent.parent.name, folder.parent.name):
        raise StoreError(f"misplaced record {folder}: its config is of {config.get('recipe')} at "
                         f"{config.get('profile')}; move it to <store>/{config.get('recipe')}/{config.get('profile')}/")
    arrays = LazyArrays(folder / "arrays.npz", list(data["arrays"]["names"]), data["arrays"]["sha256"])
    return Record(key=key, config=config, metrics=data["metrics"], provenance=data["provenance"],
                  arrays=arrays, path=folder)


class Store:
    """A folder of run records (see the module docstring).

    Finding a record reads its record.json only; arrays.npz is checked when its arrays are first
    read. Each Store keeps the records it has read (its index) and reads a record.json again only
    when the file changed, so repeated look-ups through one Store cost a ``stat`` each.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()
        self._index: dict[Path, tuple[tuple[int, int, int], Record]] = {}  # folder -> (record.json stat, record)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # --- reading ---------------------------------------------------------------------------------
    def folder(self, config: Mapping[str, Any], key: str) -> Path:
        """Where the record of ``config`` lives (whether or not it exists)."""
        return self.root / str(config["recipe"]) / str(config["profile"]) / key

    def get(self, key: str, config: Mapping[str, Any] | None = None) -> Record | None:
        """The record with this key, None if there is none; StoreError if it is damaged."""
        if config is not None:
            folder = self.folder(config, key)
            return self.load(folder) if folder.exists() else None
        matches = [p for p in self.root.glob(f"*/*/{glob.escape(key)}") if p.is_dir()]
        if not matches:
            return None
        if len(matches) > 1:
            raise StoreError(f"key {key} is stored more than once: {', '.join(map(str, matches))}")
        return self.load(matches[0])

    def load(self, folder: Path, *, check_arrays: bool = False) -> Record:
        """The record in ``folder``, from its record.json (read again only if the file changed since
        this Store last read it), and its arrays.npz checked too if ``check_arrays``; StoreError
        names the folder if anything is off."""
        folder = Path(folder)
        try:
            stat = (folder / "record.json").stat()
        except FileNotFoundError as error:
            raise StoreError(f"damaged record {folder}: record.json is missing") from error
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        known = self._index.get(folder)
        if known is not None and known[0] == signature:
            record = known[1]
        else:
            record = _read_record(folder)
            self._index[folder] = (signature, record)
        if check_arrays:
            record.arrays.check()
        elif not (folder / "arrays.npz").is_file():
            raise StoreError(f"damaged record {folder}: arrays.npz is missing")
        return record

    def folders(self, recipe: str | None = None, profile: str | None = None) -> list[Path]:
        """Every record folder, sorted (hidden temporary folders excluded); only those of ``recipe``
        and ``profile`` where given (the layout <recipe>/<profile>/<key> indexes them)."""
        if not self.root.is_dir():
            return []
        pattern = "/".join(glob.escape(part) if part is not None else "*" for part in (recipe, profile)) + "/*"
        return sorted(p for p in self.root.glob(pattern) if p.is_dir() and not p.name.startswith("."))

    def scan(self, *, check_arrays: bool = False) -> tuple[list[Record], list[tuple[Path, str]]]:
        """All good records, and (folder, reason) for each damaged or incompatible one; arrays.npz
        files are read and checked only if ``check_arrays``."""
        return self._load_all(self.folders(), check_arrays)

    def records(self) -> list[Record]:
        """Every record; StoreError if a record.json is damaged or from another engine version."""
        return self._good(self.folders())

    def find(self, **filters: Any) -> list[Record]:
        """Records whose config has these values, e.g. ``find(recipe="fcn-fmnist", alpha=0.1)``; a
        ``recipe`` or ``profile`` filter reads the records of that folder only."""
        def matches(record: Record) -> bool:
            for name, wanted in filters.items():
                value = record.config.get(name)
                if isinstance(wanted, float) or isinstance(value, float):
                    if value is None or wanted is None or float(value) != float(wanted):
                        return False
                elif value != wanted:
                    return False
            return True

        recipe, profile = filters.get("recipe"), filters.get("profile")
        folders = self.folders(recipe if isinstance(recipe, str) else None,
                               profile if isinstance(profile, str) else None)
        return [r for r in self._good(folders) if matches(r)]

    def _load_all(self, folders: list[Path], check_arrays: bool = False) -> tuple[list[Record], list[tuple[Path, str]]]:
        good, bad = [], []
        for folder in folders:
            try:
                good.append(self.load(folder, check_arrays=check_arrays))
            except StoreError as error:
                bad.append((folder, str(error)))
        return good, bad

    def _good(self, folders: list[Path]) -> list[Record]:
        good, bad = self._load_all(folders)
        if bad:
            raise StoreError(bad[0][1] + (f" (and {len(bad) - 1} more; see `python -m lsbook runs`)"
                                          if len(bad) > 1 else ""))
        return good

    # --- writing ---------------------------------------------------------------------------------
    def put(self, record: Record) -> Record:
        """Store ``record`` atomically and return it as read back from the store.

        If another process stored the same key first, its (identical-config) record is kept.
        """
        from lsbook.recipes import json_ready

        config = json_ready(dict(record.config))
        if config.get("engine_version") != ENGINE_VERSION:
            raise StoreError(f"record {record.key}: config engine_version {config.get('engine_version')!r} "
                             f"is not this lsbook's {ENGINE_VERSION}")
        if config_key(config) != record.key:
            raise StoreError(f"record {record.key}: key does not match the hash of its config")
        final = self.folder(config, record.key)
        tmp_root = self.root / ".tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = tmp_root / f"{record.key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            arrays = {name: np.asarray(value) for name, value in record.arrays.items()}
            for name, value in arrays.items():
                if value.dtype == object:
                    raise StoreError(f"record {record.key}: array {name!r} is not numeric")
            np.savez_compressed(tmp / "arrays.npz", **arrays)
            data = {"format": RECORD_FORMAT, "key": record.key, "config": config,
                    "metrics": json_ready(record.metrics), "provenance": json_ready(record.provenance),
                    "arrays": {"names": sorted(arrays), "sha256": _sha256_file(tmp / "arrays.npz")}}
            text = json.dumps(data, indent=1, sort_keys=True, allow_nan=True)
            (tmp / "record.json").write_text(text + "\n")
            _fsync_folder(tmp)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.exists():
                    raise
                try:  # someone else stored it first: keep theirs if it is sound
                    self.load(final, check_arrays=True)
                except StoreError:
                    trash = tmp_root / f"damaged-{record.key}-{uuid.uuid4().hex[:8]}"
                    os.rename(final, trash)
                    os.rename(tmp, final)
                    shutil.rmtree(trash, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return self.load(final)

    def put_model(self, record: Record, state_dict: Mapping[str, Any]) -> Record:
        """Add the final weights to a stored record (written to a temporary file, then renamed)."""
        import torch

        if record.path is None:
            raise StoreError(f"run {record.key} is not stored yet; put() it first")
        tmp = record.path / f".model-{os.getpid()}-{uuid.uuid4().hex[:8]}.pt"
        try:
            torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, tmp)
            os.replace(tmp, record.path / "model.pt")
        finally:
            tmp.unlink(missing_ok=True)
        return self.load(record.path)

    def put_derived(self, record: Record, name: str, values: Mapping[str, Any]) -> None:
        """Keep ``values`` computed later from a stored run (e.g. a teacher's γ, which needs its
        weights) beside its record, as ``derived/<name>.json``; a second put replaces them."""
        from lsbook.recipes import json_ready

        path = self._derived_path(record, name)
        path.parent.mkdir(exist_ok=True)
        text = json.dumps({"key": record.key, "name": name, "values": json_ready(dict(values))},
                          indent=1, sort_keys=True, allow_nan=True)
        tmp = path.parent / f".{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        try:
            tmp.write_text(text + "\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def derived(self, record: Record, name: str) -> dict[str, Any] | None:
        """The values :meth:`put_derived` kept under ``name`` beside ``record``, or None."""
        path = self._derived_path(record, name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise StoreError(f"damaged derived values {path}: not valid JSON ({error})") from error
        if not isinstance(data, dict) or data.get("key") != record.key or data.get("name") != name \
                or not isinstance(data.get("values"), dict):
            raise StoreError(f"damaged derived values {path}: not the values {name!r} of run {record.key}")
        return data["values"]

    def _derived_path(self, record: Record, name: str) -> Path:
        if not isinstance(name, str) or not _DERIVED_NAME.fullmatch(name):
            raise StoreError(f"name must be letters, digits and . _ = - (not first), got {name!r}")
        if record.path is None:
            raise StoreError(f"run {record.key} is not stored yet; put() it first")
        return record.path / "derived" / f"{name}.json"

    def delete(self, key: str) -> bool:
        """Remove a record (e.g. a stale one); True if there was one."""
        matches = [p for p in self.root.glob(f"*/*/{glob.escape(key)}") if p.is_dir()]
        for folder in matches:
            self._index.pop(folder, None)
            trash = self.root / ".tmp" / f"deleted-{key}-{uuid.uuid4().hex[:8]}"
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)
        return bool(matches)


def _fsync_folder(folder: Path) -> None:
    """Flush the files of ``folder`` to disk before it is renamed into place."""
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    if sys.platform != "win32":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
