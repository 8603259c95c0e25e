"""Readers for the datasets' original file formats, each returning uint8 images [N,C,H,W] + labels.

- IDX (MNIST, EMNIST, Fashion-MNIST): big-endian header, magic 0x0000080D (D = number of dims).
- CIFAR python pickles: dict with b"data" [N, 3072] (channel-major 32x32) and b"labels" /
  b"fine_labels".
- CIFAR-10 (JPEG re-encode): one ``.tar.xz`` of ``cifar10-jpeg/{train,test}/<class>/<NNNN>.jpg``,
  decoded straight from the verified archive; every class must hold its official count.
- CUB-200-2011: ``images.txt``, ``image_class_labels.txt``, ``train_test_split.txt``,
  ``classes.txt`` (all 1-based ids) and ``images/<class>/<file>.jpg``.
- Tiny ImageNet: ``wnids.txt``, ``train/<wnid>/images/*.JPEG``, ``val/val_annotations.txt``
  (file, wnid, box) and ``val/images/``.

Only the official "train" and "test" parts are read here; validation hold-outs are
:mod:`lsbook.data.splits`'s business. Every file passes through a :class:`Verifier`.
"""

from __future__ import annotations

import io
import lzma
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lsbook.data import sources
from lsbook.data.registry import get_dataset
from lsbook.data.verify import Verifier
from lsbook.errors import DataCorruptError

Decoded = tuple[torch.Tensor, torch.Tensor, list[str]]  # images uint8 [N,C,H,W], labels int64 [N], names


# --- IDX ---------------------------------------------------------------------------------------

def parse_idx(data: bytes, path: Path) -> torch.Tensor:
    """An IDX file's unsigned-byte array as a uint8 tensor of its declared shape."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataCorruptError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise DataCorruptError(f"{path}: IDX header says {expected} bytes for shape {dims}, file has {len(data)}")
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


def read_idx_pair(verifier: Verifier, images_file: str, labels_file: str, transpose: bool = False):
    """(images uint8 [N,1,H,W], labels int64 [N]) from two gzip'd IDX files."""
    images = parse_idx(verifier.read_gz(images_file), verifier.folder / images_file)
    labels = parse_idx(verifier.read_gz(labels_file), verifier.folder / labels_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataCorruptError(
            f"{verifier.folder / images_file}: {tuple(images.shape)} images do not match "
            f"{tuple(labels.shape)} labels in {labels_file}"
        )
    if transpose:  # EMNIST stores each character column-major
        images = images.transpose(1, 2).contiguous()
    return images.unsqueeze(1), labels.long()


def decode_idx(name: str, folder: Path, part: str) -> Decoded:
    info = get_dataset(name)
    verifier = Verifier(info.name, folder)
    if info.name == "emnist":
        prefix = f"emnist-balanced-{'train' if part == 'train' else 'test'}"
        images, labels = read_idx_pair(verifier, f"{prefix}-images-idx3-ubyte.gz",
                                       f"{prefix}-labels-idx1-ubyte.gz", transpose=True)
    else:
        prefix = "train" if part == "train" else "t10k"
        images, labels = read_idx_pair(verifier, f"{prefix}-images-idx3-ubyte.gz",
                                       f"{prefix}-labels-idx1-ubyte.gz")
    return images, labels, list(info.class_names)


# --- CIFAR -------------------------------------------------------------------------------------

def unpickle(verifier: Verifier, relative: str) -> dict:
    """A CIFAR pickle (read only after its digest was checked: unpickling runs code)."""
    data = verifier.read(relative)
    try:
        return pickle.loads(data, encoding="bytes")
    except Exception as error:  # pickle raises many types on damaged input
        raise DataCorruptError(f"{verifier.folder / relative}: not a readable CIFAR pickle ({error})") from None


def decode_cifar(name: str, folder: Path, part: str) -> Decoded:
    info = get_dataset(name)
    verifier = Verifier(info.name, folder)
    if info.name == "cifar10":
        base, label_key, meta, names_key = "cifar-10-batches-py", b"labels", "batches.meta", b"label_names"
        files = [f"data_batch_{i}" for i in range(1, 6)] if part == "train" else ["test_batch"]
    else:
        base, label_key, meta, names_key = "cifar-100-python", b"fine_labels", "meta", b"fine_label_names"
        files = ["train"] if part == "train" else ["test"]
    images, labels = [], []
    for file in files:
        batch = unpickle(verifier, f"{base}/{file}")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        images.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
        labels.append(torch.as_tensor(batch[label_key], dtype=torch.int64))
    names = [n.decode() if isinstance(n, bytes) else str(n)
             for n in unpickle(verifier, f"{base}/{meta}")[names_key]]
    return torch.cat(images), torch.cat(labels), names


# --- CIFAR-10, JPEG re-encode ------------------------------------------------------------------------

def decode_jpeg(data: bytes, where: str) -> np.ndarray:
    """One JPEG's pixels as uint8 [H, W, 3] (RGB); DataCorruptError naming ``where`` otherwise."""
    from PIL import Image  # decoding only, once before caching

    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as image:  # a PNG or GIF named .jpg is not one
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:  # PIL's errors on damaged files
        raise DataCorruptError(f"{where}: unreadable JPEG ({error})") from None


def decode_cifar10_jpeg(name: str, folder: Path, part: str) -> Decoded:
    """The ``part`` of the JPEG re-encode: images ordered by class, then by file name.

    The archive's sha256 is checked before it is opened; a truncated or damaged stream, an image of
    another shape, or a class with other than its official count of images is DataCorruptError.
    """
    info = get_dataset(name)
    archive = sources.CIFAR10_JPEG_ARCHIVE
    path = folder / archive
    data = Verifier(info.name, folder).read(archive)
    prefix, expected = f"cifar10-jpeg/{part}/", sources.CIFAR10_JPEG_PER_CLASS[part]
    index = {class_name: k for k, class_name in enumerate(info.class_names)}
    found: list[tuple[int, str, np.ndarray]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:xz") as tar:
            for member in tar:
                if not (member.isfile() and member.name.startswith(prefix)):
                    continue
                class_name, _, file_name = member.name[len(prefix):].partition("/")
                if class_name not in index or "/" in file_name or not file_name.endswith(".jpg"):
                    raise DataCorruptError(f"{path}: unexpected member {member.name}")
                pixels = decode_jpeg(tar.extractfile(member).read(), f"{path}:{member.name}")
                if pixels.shape != (32, 32, 3):
                    raise DataCorruptError(f"{path}:{member.name}: {pixels.shape} pixels, expected (32, 32, 3)")
                found.append((index[class_name], file_name, pixels))
            # the tar ends at its first zero block; read the xz stream to its end too, so that its
            # integrity check (CRC64 of the data), index and footer are verified: a cut there is caught
            while tar.fileobj.read(1 << 20):
                pass
    except (tarfile.TarError, lzma.LZMAError, EOFError, zlib.error) as error:
        raise DataCorruptError(f"{path}: truncated or damaged archive ({error}); fetch it again") from None
    counts = np.bincount([label for label, _, _ in found], minlength=info.num_classes)
    if (counts != expected).any():
        shown = ", ".join(f"{name} {count}" for name, count in zip(info.class_names, counts.tolist()))
        raise DataCorruptError(f"{path}: {part} images per class must be {expected} each, found {shown}")
    found.sort(key=lambda item: (item[0], item[1]))
    images = torch.from_numpy(np.stack([pixels for _, _, pixels in found])).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([label for label, _, _ in found], dtype=torch.int64)
    return images, labels, list(info.class_names)


# --- JPEG folders (CUB, Tiny ImageNet) ------------------------------------------------------------

def decode_images(verifier: Verifier, files: list[str], size: int, desc: str) -> torch.Tensor:
    """Decode image files to RGB and resize each to size x size: uint8 [N,3,size,size]."""
    from PIL import Image  # decoding only (once, before caching); augmentation never uses PIL

    out = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    for i, relative in enumerate(tqdm(files, desc=desc, unit="img", leave=False, disable=len(files) < 2000)):
        try:
            with Image.open(io.BytesIO(verifier.read(relative))) as image:
                image = image.convert("RGB")
                if image.size != (size, size):
                    image = image.resize((size, size), Image.BILINEAR)
                array = np.asarray(image, dtype=np.uint8)
        except OSError as error:
            raise DataCorruptError(f"{verifier.folder / relative}: unreadable image ({error})") from None
        out[i] = torch.from_numpy(array.copy()).permute(2, 0, 1)
    return out


def read_index(path: Path) -> list[list[str]]:
    """Whitespace-separated rows of a dataset index file (empty lines skipped)."""
    try:
        return [line.split() for line in path.read_text().splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise DataCorruptError(f"{path}: not a text index file ({error})") from None


def decode_cub(name: str, folder: Path, part: str) -> Decoded:
    """CUB-200-2011 split by train_test_split.txt (1 = train), resized to 256x256 (see registry)."""
    info = get_dataset(name)
    base = folder / "CUB_200_2011"
    images = {row[0]: row[1] for row in read_index(base / "images.txt")}
    labels = {row[0]: int(row[1]) - 1 for row in read_index(base / "image_class_labels.txt")}
    is_train = {row[0]: row[1] == "1" for row in read_index(base / "train_test_split.txt")}
    classes = sorted(read_index(base / "classes.txt"), key=lambda row: int(row[0]))
    names = [row[1].split(".", 1)[-1].replace("_", " ") for row in classes]
    wanted = sorted((i for i in images if is_train.get(i) == (part == "train")), key=int)
    missing = [i for i in wanted if i not in labels]
    if missing:
        raise DataCorruptError(f"{base / 'image_class_labels.txt'}: no label for image id {missing[0]}")
    files = [f"CUB_200_2011/images/{images[i]}" for i in wanted]
    pixels = decode_images(Verifier(info.name, folder), files, info.image_shape[1], f"CUB {part}")
    return pixels, torch.tensor([labels[i] for i in wanted], dtype=torch.int64), names


def decode_tiny(name: str, folder: Path, part: str) -> Decoded:
    """Tiny ImageNet; classes in sorted wnid order; the labelled val split serves as test."""
    info = get_dataset(name)
    base = folder / "tiny-imagenet-200"
    wnids = sorted(row[0] for row in read_index(base / "wnids.txt"))
    index = {wnid: k for k, wnid in enumerate(wnids)}
    words = {}
    if (base / "words.txt").is_file():
        for line in (base / "words.txt").read_text().splitlines():
            wnid, _, text = line.partition("\t")
            words[wnid] = text.split(",")[0].strip()
    names = [words.get(wnid, wnid) for wnid in wnids]
    if part == "train":
        files, labels = [], []
        for wnid in wnids:
            for path in sorted((base / "train" / wnid / "images").glob("*.JPEG")):
                files.append(str(path.relative_to(folder)))
                labels.append(index[wnid])
    else:
        rows = read_index(base / "val" / "val_annotations.txt")
        unknown = [row[1] for row in rows if row[1] not in index]
        if unknown:
            raise DataCorruptError(f"{base / 'val/val_annotations.txt'}: wnid {unknown[0]} not in wnids.txt")
        files = [f"tiny-imagenet-200/val/images/{row[0]}" for row in rows]
        labels = [index[row[1]] for row in rows]
    pixels = decode_images(Verifier(info.name, folder), files, info.image_shape[1], f"Tiny ImageNet {part}")
    return pixels, torch.tensor(labels, dtype=torch.int64), names


DECODERS = {
    "mnist": decode_idx, "emnist": decode_idx, "fashion-mnist": decode_idx,
    "cifar10": decode_cifar, "cifar100": decode_cifar, "cifar10-jpeg": decode_cifar10_jpeg,
    "cub200": decode_cub, "tinyimagenet": decode_tiny,
}


def decode(name: str, folder: Path, part: str) -> Decoded:
    """The official ``part`` ("train" or "test") of an image dataset, decoded and verified."""
    return DECODERS[get_dataset(name).name](name, Path(folder), part)
