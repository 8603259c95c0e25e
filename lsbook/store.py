"""The results store: one record per training run, keyed by a hash of the run's full configuration.

Layout::

    <root>/<recipe>/<profile>/<key>/record.json   config, metrics, provenance, array list + sha256
                                   /arrays.npz     compressed arrays (float32 logits, features, ...)
                                   /model.pt       final weights, only for runs kept as teachers

``<root>`` is ``$LSBOOK_RESULTS`` or ``<repo>/results`` (committed, so a book can be built from runs
trained elsewhere). The key is the sha256 of the canonical JSON of the config — recipe fields after
the profile, α, seed, ENGINE_VERSION, teacher key, distillation settings — never the git commit.
A record is written into a temporary folder and renamed into place, so readers see either nothing
or a whole record, and two writers of one key cannot mix their files. A damaged record (bad JSON,
missing or altered arrays) or one from another engine version raises :class:`StoreError` naming its
path: it is never used silently.
"""

from __future__ import annotations

import hashlib
import json
import os
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
    """Read-only mapping name -> numpy array, loading each array from arrays.npz on first use."""

    def __init__(self, path: Path | None, names: list[str], loaded: dict[str, np.ndarray] | None = None):
        self._path, self._names, self._cache = path, list(names), dict(loaded or {})

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(f"{name!r} not in the record's arrays ({', '.join(self._names)})")
        if name not in self._cache:
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
    """One stored run. ``arrays`` loads lazily; ``path`` is its folder once stored."""

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

    def load_model(self, device: Any = "cpu"):
        """The trained network (eval mode) rebuilt from the record's config and stored weights."""
        import torch

        from lsbook.models import build

        if not self.has_model:
            raise StoreError(f"run {self.key} has no stored weights ({self.model_path}); train it "
                             "again with keep_model=True (python -m lsbook train ... --keep-model)")
        recipe = self.recipe
        if recipe.model == "transformer":
            target_vocab, sizes = self._transformer_vocab_sizes()
            model = build("transformer", target_vocab, **sizes, **recipe.model_kwargs)
        else:
            model = build(recipe.model, self.config["num_classes"], **recipe.model_kwargs)
        try:
            state = torch.load(self.model_path, map_location=device, weights_only=True)
            model.load_state_dict(state)
        except Exception as error:  # noqa: BLE001
            raise StoreError(f"damaged weights file {self.model_path}: {error}") from error
        return model.to(device).eval()

    def _transformer_vocab_sizes(self) -> tuple[int, dict[str, int]]:
        """(target vocabulary, {src_vocab, pad_id}) of a translation run's Transformer.

        The sizes are those of the tokenizers the run trained with (its metrics' ``tokenizers``),
        not the config's requested ``num_classes``: byte-level BPE may learn fewer merges.
        """
        from lsbook.data.text import PAD_ID

        tokenizers = self.metrics.get("tokenizers")
        sizes = {}
        for role in ("source", "target"):
            entry = tokenizers.get(role) if isinstance(tokenizers, Mapping) else None
            size = entry.get("vocab_size") if isinstance(entry, Mapping) else None
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise StoreError(f"run {self.key} ({self.path}): cannot rebuild its Transformer, the record "
                                 f"lacks metrics['tokenizers']['{role}']['vocab_size']; use "
                                 "lsbook.translation.translator.load_translator(record) instead")
            sizes[role] = size
        return sizes["target"], {"src_vocab": sizes["source"], "pad_id": PAD_ID}

    def summary(self) -> str:
        """A few lines for people: what the run is and its headline metrics."""
        c, m = self.config, self.metrics
        teacher = f", teacher {c['teacher_key']}" if c.get("teacher_key") else ""
        lines = [f"run {self.key}: {c['recipe']} [{c['profile']}] alpha={c['alpha']:g} seed={c['seed']}{teacher}"]
        for split in ("test", "val"):
            if f"{split}_accuracy" in m:
                lines.append(f"  {split}: accuracy {100 * m[f'{split}_accuracy']:.2f}%  "
                             f"NLL {m.get(f'{split}_nll', float('nan')):.4f}  ECE {m.get(f'{split}_ece', float('nan')):.4f}")
        if "val_temperature" in m:
            lines.append(f"  temperature fitted on val: T={m['val_temperature']:.3f}; "
                         f"test ECE at T {m.get('test_ece_at_val_temperature', float('nan')):.4f}")
        p = self.provenance
        lines.append(f"  trained {p.get('date', '?')} on {p.get('device', '?')} in "
                     f"{p.get('wall_seconds', 0):.1f} s; stored at {self.path}")
        return "\n".join(lines)


class Store:
    """A folder of run records (see the module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

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
        matches = [p for p in self.root.glob(f"*/*/{key}") if p.is_dir()]
        if not matches:
            return None
        if len(matches) > 1:
            raise StoreError(f"key {key} is stored more than once: {', '.join(map(str, matches))}")
        return self.load(matches[0])

    def load(self, folder: Path) -> Record:
        """Read and check the record in ``folder``; StoreError names the folder if anything is off."""
        folder = Path(folder)
        record_file, arrays_file = folder / "record.json", folder / "arrays.npz"
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
        version = data["config"].get("engine_version")
        if version != ENGINE_VERSION:
            raise StoreError(f"record {folder} was made by engine version {version!r}, this lsbook is "
                             f"{ENGINE_VERSION}; delete it (or move it out of the store) and rerun the run")
        key = data["key"]
        if key != folder.name or config_key(data["config"]) != key:
            raise StoreError(f"damaged record {record_file}: its config does not hash to its key {folder.name}")
        names, digest = list(data["arrays"]["names"]), data["arrays"]["sha256"]
        if not arrays_file.is_file():
            raise StoreError(f"damaged record {folder}: arrays.npz is missing")
        if _sha256_file(arrays_file) != digest:
            raise StoreError(f"damaged record {arrays_file}: sha256 differs from record.json")
        try:
            with np.load(arrays_file, allow_pickle=False) as npz:
                missing = sorted(set(names) - set(npz.files))
        except Exception as error:  # noqa: BLE001
            raise StoreError(f"damaged record {arrays_file}: {error}") from error
        if missing:
            raise StoreError(f"damaged record {arrays_file}: arrays missing: {', '.join(missing)}")
        return Record(key=key, config=data["config"], metrics=data["metrics"],
                      provenance=data["provenance"], arrays=LazyArrays(arrays_file, names), path=folder)

    def folders(self) -> list[Path]:
        """Every record folder, sorted (hidden temporary folders excluded)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("*/*/*") if p.is_dir() and not p.name.startswith("."))

    def scan(self) -> tuple[list[Record], list[tuple[Path, str]]]:
        """All good records, and (folder, reason) for each damaged or incompatible one."""
        good, bad = [], []
        for folder in self.folders():
            try:
                good.append(self.load(folder))
            except StoreError as error:
                bad.append((folder, str(error)))
        return good, bad

    def records(self) -> list[Record]:
        """Every record; StoreError if any record is damaged or from another engine version."""
        good, bad = self.scan()
        if bad:
            raise StoreError(bad[0][1] + (f" (and {len(bad) - 1} more; see `python -m lsbook runs`)"
                                          if len(bad) > 1 else ""))
        return good

    def find(self, **filters: Any) -> list[Record]:
        """Records whose config has these values, e.g. ``find(recipe="fcn-fmnist", alpha=0.1)``."""
        def matches(record: Record) -> bool:
            for name, wanted in filters.items():
                value = record.config.get(name)
                if isinstance(wanted, float) or isinstance(value, float):
                    if value is None or wanted is None or float(value) != float(wanted):
                        return False
                elif value != wanted:
                    return False
            return True

        return [r for r in self.records() if matches(r)]

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
                    self.load(final)
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

    def delete(self, key: str) -> bool:
        """Remove a record (e.g. a stale one); True if there was one."""
        matches = [p for p in self.root.glob(f"*/*/{key}") if p.is_dir()]
        for folder in matches:
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
