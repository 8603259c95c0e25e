"""``load_split``: a dataset split as uint8 tensors in memory, decoded once and then cached.

The first load of an official part decodes the original files (verifying every digest) and
writes ``<cache>/<name>-<part>-<source>.pt`` atomically (temporary name, then rename); later
loads read that file, which takes a fraction of a second. The cache remembers the size and
modification time of the source files it came from and is rebuilt when they change.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from lsbook.data import formats, sources, splits
from lsbook.data.registry import get_dataset
from lsbook.data.roots import cache_dir, require
from lsbook.data.verify import MANIFEST
from lsbook.errors import LsbookError
from lsbook.validation import check_choice

CACHE_FORMAT = 1  # bump when decoding changes (resize method, orientation, ...)
SPLITS = ("train", "val", "test")


@dataclass
class ImageSplit:
    """One split of an image dataset, held in memory."""

    images: torch.Tensor       # uint8 [N, C, H, W], CPU
    labels: torch.Tensor       # int64 [N]
    class_names: list[str]     # label k -> name
    name: str = ""             # dataset name
    split: str = ""            # "train", "val" or "test"

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def source_signature(name: str, folder: Path) -> list[list]:
    """(file, size, mtime) of the files a decoded cache depends on."""
    files = list(sources.REQUIRED_FILES[name]) + [MANIFEST]
    rows = []
    for relative in files:
        path = folder / relative
        if path.exists():
            stat = path.stat()
            rows.append([relative, stat.st_size, stat.st_mtime_ns])
    return rows


def cache_path(name: str, part: str, folder: Path, root) -> Path | None:
    base = cache_dir(root)
    if base is None:
        return None
    source = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
    return base / f"{name}-{part}-{source}-v{CACHE_FORMAT}.pt"


def _read_cache(path: Path, signature: list) -> dict | None:
    try:
        cached = torch.load(path, weights_only=True, mmap=True)  # pages read on demand, shared
    except FileNotFoundError:
        return None
    except Exception as error:  # a damaged cache is rebuilt, not fatal
        warnings.warn(f"{path}: unreadable cache ({error}); decoding again", stacklevel=3)
        return None
    if cached.get("signature") != signature:
        return None
    return cached


def _write_cache(path: Path, payload: dict) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a shared data root is read by others
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_part(name: str, part: str, root: Path | str | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """An official part ("train" or "test"): images uint8 [N,C,H,W], labels int64 [N], class names."""
    info = get_dataset(name)
    folder = require(info.name, root)
    signature = source_signature(info.name, folder)
    path = cache_path(info.name, part, folder, root)
    cached = _read_cache(path, signature) if path is not None else None
    if cached is not None:
        return cached["images"], cached["labels"], list(cached["class_names"])
    images, labels, names = formats.decode(info.name, folder, part)
    if path is not None:
        payload = {"signature": signature, "images": images, "labels": labels, "class_names": names}
        try:
            _write_cache(path, payload)
        except OSError as error:
            warnings.warn(f"could not cache {info.name} {part} at {path}: {error}", stacklevel=2)
    return images, labels, names


def load_split(name: str, split: str, root: Path | str | None = None, *,
               original_split: bool = False) -> ImageSplit:
    """A split ("train", "val", "test") of an image dataset; see :mod:`lsbook.data.splits`.

    ``original_split=True`` (CIFAR-10/100 only) gives Müller et al.'s 40k train / 10k held out
    of the training set as test. Raises DataMissingError / DataCorruptError.
    """
    info = get_dataset(name)
    check_choice(split, SPLITS, "split")
    if info.kind != "image":
        raise LsbookError(f"dataset {info.name!r} is text; use lsbook.data.text.load_multi30k")
    if original_split and info.name not in ("cifar10", "cifar10-jpeg", "cifar100"):
        raise LsbookError(f"original_split applies to cifar10, cifar10-jpeg and cifar100 only, not {info.name!r}")
    part = splits.source_part(split, original_split)
    images, labels, names = load_part(info.name, part, root)
    indices = splits.split_indices(info, split, labels, original_split)
    if indices is not None:
        images, labels = images.index_select(0, indices), labels.index_select(0, indices)  # copies
    return ImageSplit(images=images, labels=labels, class_names=names, name=info.name, split=split)
