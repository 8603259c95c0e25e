"""Writers of small datasets in the *real* file formats, shared by the tests/test_data_*.py files.

Each writer returns what it wrote (the arrays), so tests can compare loaded tensors with known
answers. The few tests here check the writers themselves against independent readers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from lsbook.data import sources


def write_idx_gz(path: Path, array: np.ndarray, compresslevel: int = 9) -> None:
    """An unsigned-byte IDX file (magic 0x0000080D), gzip'd."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.tobytes(), compresslevel=compresslevel))


def class_images(labels: np.ndarray, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random uint8 images whose first pixel encodes the label (a known answer to check)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(len(labels), *shape), dtype=np.uint8)
    images.reshape(len(labels), -1)[:, 0] = labels
    return images


def write_mnist_like(folder: Path, per_class_train: int = 20, per_class_test: int = 5,
                     num_classes: int = 10, prefix: tuple[str, str] = ("train", "t10k"),
                     stem: str = "") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four gz IDX files of MNIST / Fashion-MNIST (or EMNIST with ``stem``)."""
    written = {}
    for part, per_class, name, seed in (("train", per_class_train, prefix[0], 1), ("test", per_class_test, prefix[1], 2)):
        labels = np.tile(np.arange(num_classes, dtype=np.uint8), per_class)
        images = class_images(labels, (28, 28), seed)
        write_idx_gz(folder / f"{stem}{name}-images-idx3-ubyte.gz", images)
        write_idx_gz(folder / f"{stem}{name}-labels-idx1-ubyte.gz", labels)
        written[part] = (images, labels)
    return written


def write_emnist(folder: Path, per_class_train: int = 4, per_class_test: int = 2):
    return write_mnist_like(folder, per_class_train, per_class_test, 47,
                            prefix=("train", "test"), stem="emnist-balanced-")


class Python2Pickler(pickle._Pickler):
    """Writes ``bytes`` as Python 2 ``str`` opcodes (BINSTRING), as CIFAR's own pickles do, so
    readers must choose an ``encoding`` exactly as they must for the published files."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def write_cifar10(folder: Path, per_class_train: int = 10, per_class_test: int = 4):
    """cifar-10-batches-py/: five training batches, test_batch, batches.meta (python pickles)."""
    base = folder / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    labels = np.tile(np.arange(10), per_class_train * 5)
    images = class_images(labels, (3, 32, 32), 3)
    for i, chunk in enumerate(np.array_split(np.arange(len(labels)), 5)):
        batch = {b"batch_label": b"training batch", b"labels": labels[chunk].tolist(),
                 b"data": images[chunk].reshape(len(chunk), -1), b"filenames": []}
        (base / f"data_batch_{i + 1}").write_bytes(py2_pickle(batch))
    test_labels = np.tile(np.arange(10), per_class_test)
    test_images = class_images(test_labels, (3, 32, 32), 4)
    (base / "test_batch").write_bytes(py2_pickle(
        {b"labels": test_labels.tolist(), b"data": test_images.reshape(len(test_labels), -1)}))
    names = [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                   "horse", "ship", "truck")]
    (base / "batches.meta").write_bytes(py2_pickle({b"label_names": names, b"num_vis": 3072}))
    return {"train": (images, labels), "test": (test_images, test_labels)}


def write_cifar100(folder: Path, per_class_train: int = 2, per_class_test: int = 1):
    base = folder / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, per_class, seed in (("train", per_class_train, 5), ("test", per_class_test, 6)):
        labels = np.tile(np.arange(100), per_class)
        images = class_images(labels, (3, 32, 32), seed)
        (base / part).write_bytes(py2_pickle(
            {b"fine_labels": labels.tolist(), b"coarse_labels": (labels // 5).tolist(),
             b"data": images.reshape(len(labels), -1)}))
        written[part] = (images, labels)
    names = [f"class{k:03d}".encode() for k in range(100)]
    (base / "meta").write_bytes(py2_pickle({b"fine_label_names": names, b"coarse_label_names": []}))
    return written


def colour(label: int) -> tuple[int, int, int]:
    """A colour that identifies a class after JPEG compression and resizing."""
    return (40 * (label % 6) + 20, 60 * (label // 6 % 4) + 30, 200 - 30 * (label % 5))


def write_jpeg(path: Path, size: tuple[int, int], rgb: tuple[int, int, int], mode: str = "RGB") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, rgb)
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, format="JPEG", quality=95)


def write_cub(folder: Path, num_classes: int = 3, per_class: int = 4):
    """CUB_200_2011/: images/<id.name>/<file>.jpg and the four index files; odd sizes, one grey."""
    base = folder / "CUB_200_2011"
    classes, images, labels, split = [], [], [], []
    image_id = 0
    for k in range(num_classes):
        class_dir = f"{k + 1:03d}.Bird_Number_{k + 1}"
        classes.append(f"{k + 1} {class_dir}")
        for j in range(per_class):
            image_id += 1
            relative = f"{class_dir}/Bird_{image_id:04d}.jpg"
            grey = (k, j) == (0, 0)
            write_jpeg(base / "images" / relative, (50 + 7 * j, 40 + 3 * k),
                       (128, 128, 128) if grey else colour(k), mode="L" if grey else "RGB")
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {k + 1}")
            split.append(f"{image_id} {1 if j % 2 == 0 else 0}")
    for name, rows in (("classes.txt", classes), ("images.txt", images),
                       ("image_class_labels.txt", labels), ("train_test_split.txt", split)):
        (base / name).write_text("\n".join(rows) + "\n")
    return {"num_images": image_id}


def write_tiny(folder: Path, wnids=("n02", "n01", "n03"), per_class_train: int = 4, val_per_class: int = 2):
    """tiny-imagenet-200/: wnids.txt (unsorted), words.txt, train/<wnid>/images, val/ with annotations."""
    base = folder / "tiny-imagenet-200"
    base.mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (base / "words.txt").write_text("".join(f"{w}\tthing {w}, other name\n" for w in sorted(wnids))
                                    + "n99\tunused\n")
    order = sorted(wnids)
    for wnid in wnids:
        for j in range(per_class_train):
            write_jpeg(base / "train" / wnid / "images" / f"{wnid}_{j}.JPEG", (64, 64), colour(order.index(wnid)))
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    rows = []
    for i, wnid in enumerate([w for w in wnids for _ in range(val_per_class)]):
        write_jpeg(base / "val" / "images" / f"val_{i}.JPEG", (64, 64), colour(order.index(wnid)))
        rows.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(rows) + "\n")
    return {"order": order}


MULTI30K_SAMPLE = {
    "train": [("Two young, White males are outside near many bushes.",
               "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."),
              ("A little girl climbing into a wooden playhouse.",
               "Ein kleines Mädchen klettert in ein Spielhaus aus Holz."),
              ("A man in a blue shirt is standing on a ladder.",
               "Ein Mann in einem blauen Hemd steht auf einer Leiter.")],
    "val": [("A group of people stand in front of an igloo.",
             "Eine Gruppe von Menschen steht vor einem Iglu.")],
    "test": [("A man with a beard is smiling.", "Ein Mann mit Bart lächelt."),
             ("Two dogs play in the snow.", "Zwei Hunde spielen im Schnee.")],
}


def write_multi30k(folder: Path, sample=MULTI30K_SAMPLE) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stems = {"train": "train", "val": "val", "test": "test_2016_flickr"}
    for split, pairs in sample.items():
        for index, lang in enumerate(("en", "de")):
            text = "".join(pair[index] + "\n" for pair in pairs)
            (folder / f"{stems[split]}.{lang}.gz").write_bytes(gzip.compress(text.encode("utf-8")))


def trust(monkeypatch, name: str, folder: Path) -> None:
    """Make the fixture's own files the expected ones (sha256), as if they were published."""
    checks = []
    for relative in sources.REQUIRED_FILES[name]:
        path = folder / relative
        if path.is_file():
            checks.append(sources.FileCheck(relative, "sha256", hashlib.sha256(path.read_bytes()).hexdigest()))
    monkeypatch.setitem(sources.FILE_CHECKS, name, tuple(checks))


# --- the writers against independent readers -------------------------------------------------------

def test_idx_writer_matches_torchvision_reader(tmp_path):
    tv_mnist = pytest.importorskip("torchvision.datasets.mnist")
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx_gz(tmp_path / "x-idx3-ubyte.gz", array)
    (tmp_path / "x-idx3-ubyte").write_bytes(gzip.decompress((tmp_path / "x-idx3-ubyte.gz").read_bytes()))
    assert np.array_equal(tv_mnist.read_sn3_pascalvincent_tensor(str(tmp_path / "x-idx3-ubyte")).numpy(), array)


def test_cifar_writer_reads_back_the_way_torchvision_reads_it(tmp_path):
    written = write_cifar10(tmp_path, per_class_train=2, per_class_test=1)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as handle:
        batch = pickle.load(handle, encoding="latin1")  # torchvision's CIFAR10 reads this way
    first = np.vstack([batch["data"]]).reshape(-1, 3, 32, 32)
    assert np.array_equal(first, written["train"][0][: len(first)])
    assert batch["labels"] == written["train"][1][: len(first)].tolist()


def test_jpeg_writer_decodes_to_its_colour(tmp_path):
    from PIL import Image

    write_jpeg(tmp_path / "a.jpg", (9, 7), colour(4))
    with Image.open(io.BytesIO((tmp_path / "a.jpg").read_bytes())) as image:
        pixel = np.asarray(image.convert("RGB"))[3, 4]
    assert np.abs(pixel.astype(int) - np.array(colour(4))).max() <= 3
