"""cifar10-jpeg: the JPEG re-encode of CIFAR-10, read straight from its one verified .tar.xz.

The archive here is made by the tests in the real layout (``git archive --prefix=cifar10-jpeg/``:
a pax global header naming the commit, directory entries, ``{test,train}/<class>/<NNNN>.jpg``,
32x32 RGB JPEGs of quality 75, xz-compressed), with a few images per class; the per-class counts
and the archive's sha256 are substituted for the real ones. The real archive (../shared/data) is
only hashed, never decoded, here.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lsbook.data import fetch, formats, get_dataset, load_split, locate, make_transforms, sources
from lsbook.data.load import load_part
from lsbook.data.registry import CIFAR10_CLASSES, DATASETS
from lsbook.data.roots import REPOSITORY
from lsbook.errors import DataCorruptError, DataMissingError, LsbookError

NAME = "cifar10-jpeg"
ARCHIVE = sources.CIFAR10_JPEG_ARCHIVE
PER_CLASS = {"train": 4, "test": 2}  # validation_size caps at half the part: val = 20 of 40 train
REAL_ARCHIVE = REPOSITORY.parent / "shared" / "data" / NAME / ARCHIVE
MTIME = 1_553_996_139  # git archive stamps every entry with the commit's time


# --- the archive ----------------------------------------------------------------------------------

def pixels_of(label: int, index: int, part: str) -> np.ndarray:
    """A smooth 32x32 RGB image (JPEG keeps it close) that differs by class, index and part."""
    y, x = np.mgrid[0:32, 0:32]
    shift = 0 if part == "train" else 7
    red = 30 + 18 * label + 3 * x
    green = 40 + 25 * index + shift + 2 * y
    blue = 220 - 12 * label - 2 * x - y
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, image_format: str = "JPEG") -> bytes:
    """The bytes of ``pixels`` as the re-encode's files are: quality 75, chroma 4:2:0 (PIL's defaults)."""
    from PIL import Image

    buffer = io.BytesIO()
    options = {"quality": 75, "subsampling": "4:2:0"} if image_format == "JPEG" else {}
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def pil_decode(data: bytes) -> np.ndarray:
    """An independent decode of one JPEG: PIL straight, RGB uint8 [H, W, 3]."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def member(part: str, class_name: str, index: int) -> str:
    return f"cifar10-jpeg/{part}/{class_name}/{index:04d}.jpg"


def write_archive(folder: Path, per_class: dict | None = None, replace: dict | None = None,
                  extra: dict | None = None, shuffle: int | None = None) -> dict[str, bytes]:
    """``folder/cifar10-jpeg.tar.xz`` as `git archive ... train test | xz` makes it; returns the
    JPEG bytes by member name.

    ``per_class``: part -> images per class, or part -> {class: count}; ``replace``: member -> its
    bytes instead of the JPEG; ``extra``: members added; ``shuffle``: a seed to write the files in
    another order than git's (sorted)."""
    per_class = per_class or PER_CLASS
    files: dict[str, bytes] = {}
    for part in ("test", "train"):  # git archive's order: sorted paths
        for label, class_name in enumerate(CIFAR10_CLASSES):
            count = per_class[part]
            count = count.get(class_name, PER_CLASS[part]) if isinstance(count, dict) else count
            for index in range(count):
                name = member(part, class_name, index)
                files[name] = encode(pixels_of(label, index, part))
    files.update(replace or {})
    files.update(extra or {})
    names = list(files)
    if shuffle is not None:
        random.Random(shuffle).shuffle(names)
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / ARCHIVE, "w:xz", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": sources.CIFAR10_JPEG_COMMIT}) as tar:
        written: set[str] = set()
        for name in names:
            parts = name.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth]) + "/"
                if directory not in written:
                    written.add(directory)
                    entry = tarfile.TarInfo(directory)
                    entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o775, MTIME
                    tar.addfile(entry)
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode, entry.mtime = len(files[name]), 0o664, MTIME
            tar.addfile(entry, io.BytesIO(files[name]))
    return files


def trust(monkeypatch, folder: Path) -> str:
    """The archive in ``folder`` as the expected one (its sha256 substituted for the real one's)."""
    digest = hashlib.sha256((folder / ARCHIVE).read_bytes()).hexdigest()
    monkeypatch.setitem(sources.FILE_CHECKS, NAME, (sources.FileCheck(ARCHIVE, "sha256", digest),))
    return digest


@pytest.fixture
def small(monkeypatch, tmp_path):
    """A trusted small archive in ``tmp_path/cifar10-jpeg`` with PER_CLASS images per class."""
    monkeypatch.setattr(sources, "CIFAR10_JPEG_PER_CLASS", dict(PER_CLASS))
    files = write_archive(tmp_path / NAME)
    trust(monkeypatch, tmp_path / NAME)
    return files


def expected_part(files: dict[str, bytes], part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(PIL's decode [N,3,32,32], what was encoded [N,3,32,32], labels) in class, then file-name order."""
    rows = sorted((CIFAR10_CLASSES.index(name.split("/")[2]), name.split("/")[3], name)
                  for name in files if name.startswith(f"cifar10-jpeg/{part}/"))
    decoded = np.stack([pil_decode(files[name]) for _, _, name in rows]).transpose(0, 3, 1, 2)
    encoded = np.stack([pixels_of(label, int(file[:4]), part) for label, file, _ in rows]).transpose(0, 3, 1, 2)
    return decoded, encoded, np.array([label for label, _, _ in rows])


def cache_entries(root: Path) -> list[str]:
    """Every entry of the cache folder, hidden ones (temporary .partial files) included."""
    folder = root / "cache"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_corrupt(root: Path, match: str) -> str:
    """Loading any split raises a one-line DataCorruptError matching ``match``; nothing is cached."""
    for split in ("train", "test"):
        with pytest.raises(DataCorruptError, match=match) as caught:
            load_split(NAME, split, root)
        message = str(caught.value)
        assert "\n" not in message and str(root / NAME / ARCHIVE) in message, message
        assert cache_entries(root) == [], f"{split}: a failed load left {cache_entries(root)}"
    return message


# --- loading ---------------------------------------------------------------------------------------

def test_test_part_is_every_image_ordered_by_class_then_file_name(small, tmp_path, monkeypatch):
    test = load_split(NAME, "test", tmp_path)
    assert test.images.dtype == torch.uint8 and tuple(test.images.shape) == (20, 3, 32, 32)
    assert test.images.is_contiguous() and test.labels.dtype == torch.int64
    assert test.labels.tolist() == [k for k in range(10) for _ in range(2)]
    assert test.class_names == list(CIFAR10_CLASSES) == list(DATASETS[NAME].class_names)
    assert (test.name, test.split, test.num_classes) == (NAME, "test", 10)
    decoded, encoded, labels = expected_part(small, "test")
    assert np.array_equal(test.images.numpy(), decoded)        # exactly PIL's decode of the same bytes
    assert np.array_equal(test.labels.numpy(), labels)
    error = np.abs(test.images.numpy().astype(int) - encoded.astype(int))
    assert error.mean() < 2.0 and error.max() <= 16           # lossy, but close to what was encoded
    # the archive's members in another order than git's: the same tensors
    write_archive(tmp_path / "shuffled" / NAME, shuffle=1)
    os.replace(tmp_path / "shuffled" / NAME / ARCHIVE, tmp_path / NAME / ARCHIVE)
    trust(monkeypatch, tmp_path / NAME)
    images, labels_again, _ = formats.decode(NAME, tmp_path / NAME, "test")
    assert torch.equal(images, test.images) and torch.equal(labels_again, test.labels)


def test_train_and_val_split_the_train_part_and_test_is_the_test_part(small, tmp_path):
    train = load_split(NAME, "train", tmp_path)
    val = load_split(NAME, "val", tmp_path)
    test = load_split(NAME, "test", tmp_path)
    # 5,000 held out, capped at half of this tiny training part: 20 of 40, 2 per class
    assert (len(train), len(val), len(test)) == (20, 20, 20)
    assert torch.bincount(val.labels, minlength=10).tolist() == [2] * 10   # stratified
    assert torch.bincount(train.labels, minlength=10).tolist() == [2] * 10
    decoded, _, labels = expected_part(small, "train")
    rows = lambda images: [bytes(row) for row in images.reshape(len(images), -1).numpy()]  # noqa: E731
    part_rows = [bytes(row) for row in decoded.reshape(40, -1)]
    assert len(set(part_rows)) == 40                                         # every image tells itself apart
    assert not set(rows(train.images)) & set(rows(val.images))               # never overlap
    assert sorted(rows(train.images) + rows(val.images)) == sorted(part_rows)  # and cover the train part
    for split in (train, val):
        for row, label in zip(rows(split.images), split.labels.tolist()):
            assert labels[part_rows.index(row)] == label                    # labels travel with images
    test_decoded, _, _ = expected_part(small, "test")
    assert np.array_equal(test.images.numpy(), test_decoded)
    assert not set(rows(test.images)) & set(part_rows)
    assert torch.equal(load_split(NAME, "val", tmp_path).images, val.images)  # deterministic


def test_second_load_comes_from_the_cache_without_decoding(small, tmp_path, monkeypatch):
    first = {split: load_split(NAME, split, tmp_path) for split in ("train", "val", "test")}
    caches = cache_entries(tmp_path)
    assert len(caches) == 2 and all(name.endswith(".pt") and not name.startswith(".") for name in caches)
    assert {name.split("-")[2] for name in caches} == {"train", "test"}  # cifar10-jpeg-<part>-...

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(formats, "decode", no_decoding)
    monkeypatch.setattr(formats, "decode_cifar10_jpeg", no_decoding)
    monkeypatch.setitem(formats.DECODERS, NAME, no_decoding)
    for split, loaded in first.items():
        again = load_split(NAME, split, tmp_path)
        assert torch.equal(again.images, loaded.images) and torch.equal(again.labels, loaded.labels), split
        assert again.images.dtype == torch.uint8 and again.class_names == loaded.class_names
    # a changed archive (size, modification time) is decoded again
    archive = tmp_path / NAME / ARCHIVE
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_split(NAME, "test", tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_cache_is_rebuilt_never_used(small, tmp_path, monkeypatch, damage):
    first = load_split(NAME, "test", tmp_path)
    (cache,) = (tmp_path / "cache").glob(f"{NAME}-test-*.pt")
    whole = cache.read_bytes()
    cache.write_bytes(b"not a tensor file" if damage == "garbage" else whole[: len(whole) // 2])
    with pytest.warns(UserWarning, match="unreadable cache"):
        again = load_split(NAME, "test", tmp_path)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert cache_entries(tmp_path) == [cache.name]                    # rebuilt in place, no leftovers
    monkeypatch.setattr(formats, "decode", lambda *a: pytest.fail("the rebuilt cache was not used"))
    assert torch.equal(load_split(NAME, "test", tmp_path).images, first.images)


def test_a_readable_cache_of_other_files_is_never_used(small, tmp_path):
    first = load_split(NAME, "test", tmp_path)
    (cache,) = (tmp_path / "cache").glob(f"{NAME}-test-*.pt")
    torch.save({"signature": [[ARCHIVE, 1, 1]], "images": torch.zeros_like(first.images),
                "labels": torch.zeros_like(first.labels), "class_names": ["x"] * 10}, cache)
    again = load_split(NAME, "test", tmp_path)
    assert torch.equal(again.images, first.images) and again.class_names == list(CIFAR10_CLASSES)
    assert torch.equal(torch.load(cache, weights_only=True)["images"], first.images)  # replaced


# --- damaged archives --------------------------------------------------------------------------------

def test_flipped_byte_fails_the_sha256(small, tmp_path):
    path = tmp_path / NAME / ARCHIVE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    message = assert_corrupt(tmp_path, "sha256 mismatch")
    assert sources.FILE_CHECKS[NAME][0].digest in message
    assert hashlib.sha256(bytes(data)).hexdigest() in message


@pytest.mark.parametrize("keep", [0.5, -40, -4])
def test_truncated_archive_past_its_digest_is_corrupt(small, tmp_path, monkeypatch, keep):
    """Cut in the middle of the stream, or only the xz index and footer (the images all there): the
    xz stream must end where it says it does."""
    path = tmp_path / NAME / ARCHIVE
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] if isinstance(keep, float) else data[:keep])
    trust(monkeypatch, tmp_path / NAME)  # the digest check bypassed: the archive itself must tell
    assert_corrupt(tmp_path, "truncated or damaged archive")


def test_a_class_with_another_count_is_corrupt(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "CIFAR10_JPEG_PER_CLASS", dict(PER_CLASS))
    write_archive(tmp_path / NAME, per_class={"train": {"cat": 5, "dog": 3}, "test": {"ship": 1}})
    trust(monkeypatch, tmp_path / NAME)
    with pytest.raises(DataCorruptError) as caught:
        load_split(NAME, "train", tmp_path)
    message = str(caught.value)
    assert "train images per class must be 4 each" in message and "\n" not in message
    assert "cat 5" in message and "dog 3" in message and "airplane 4" in message
    with pytest.raises(DataCorruptError, match="test images per class must be 2 each.*ship 1"):
        load_split(NAME, "test", tmp_path)
    assert cache_entries(tmp_path) == []


NOT_JPEG = {
    "text": lambda: b"this is not an image\n",
    "truncated jpeg": lambda: encode(pixels_of(5, 1, "train"))[:200],
    "png": lambda: encode(pixels_of(5, 1, "train"), "PNG"),
    "gif": lambda: encode(pixels_of(5, 1, "train"), "GIF"),
}


@pytest.mark.parametrize("kind", NOT_JPEG)
def test_a_member_that_is_not_a_jpeg_is_corrupt(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(sources, "CIFAR10_JPEG_PER_CLASS", dict(PER_CLASS))
    bad = member("train", "dog", 1)
    write_archive(tmp_path / NAME, replace={bad: NOT_JPEG[kind]()})
    trust(monkeypatch, tmp_path / NAME)
    with pytest.raises(DataCorruptError, match=f"{bad}: unreadable JPEG") as caught:
        load_split(NAME, "train", tmp_path)
    assert "\n" not in str(caught.value) and str(tmp_path / NAME / ARCHIVE) in str(caught.value)
    assert cache_entries(tmp_path) == []
    assert len(load_split(NAME, "test", tmp_path)) == 20  # the other part does not hold it


@pytest.mark.parametrize("extra, match", [
    ({"cifar10-jpeg/train/cat/notes.txt": b"x"}, "unexpected member cifar10-jpeg/train/cat/notes.txt"),
    ({"cifar10-jpeg/train/unicorn/0000.jpg": None}, "unexpected member cifar10-jpeg/train/unicorn/0000.jpg"),
    ({"cifar10-jpeg/train/cat/deeper/0000.jpg": None}, "unexpected member"),
    ({"cifar10-jpeg/train/cat/0099.jpg": "small"}, r"0099.jpg: \(31, 32, 3\) pixels, expected \(32, 32, 3\)"),
])
def test_unexpected_members_and_shapes_are_corrupt(tmp_path, monkeypatch, extra, match):
    monkeypatch.setattr(sources, "CIFAR10_JPEG_PER_CLASS", dict(PER_CLASS))
    image = pixels_of(3, 0, "train")
    contents = {None: encode(image), "small": encode(image[:31])}
    extra = {name: value if isinstance(value, bytes) else contents[value] for name, value in extra.items()}
    write_archive(tmp_path / NAME, extra=extra)
    trust(monkeypatch, tmp_path / NAME)
    with pytest.raises(DataCorruptError, match=match):
        load_split(NAME, "train", tmp_path)
    assert cache_entries(tmp_path) == []


# --- status, fetch, registry, transforms ---------------------------------------------------------------

def test_status_lists_the_archive_as_present(tmp_path, capsys):
    from lsbook.cli import main

    assert main(["data", "status", "--root", str(tmp_path)]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith(f"{NAME} "))
    assert "missing" in line and f"python -m lsbook data fetch {NAME}" in line
    write_archive(tmp_path / NAME)
    assert main(["data", "status", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    line = next(row for row in out if row.startswith(f"{NAME} "))
    assert "present" in line and str(tmp_path / NAME) in line
    assert "missing" in next(row for row in out if row.startswith("cifar10 "))  # not the official one
    assert locate(NAME, tmp_path) == tmp_path / NAME and locate("cifar10", tmp_path) is None


def test_fetch_gives_the_manual_instruction_and_leaves_nothing(tmp_path, capsys):
    root = tmp_path / "root"
    with pytest.raises(LsbookError) as caught:
        fetch(NAME, root)
    message = str(caught.value)
    assert message == sources.MANUAL[NAME] and "\n" not in message
    assert ARCHIVE in message and sources.CIFAR10_JPEG_SHA256[:16] in message
    assert sources.CIFAR10_JPEG_COMMIT in message and "git archive" in message
    assert not root.exists()                                             # no folder behind
    from lsbook.cli import main

    assert main(["data", "fetch", NAME, "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {message}" and not root.exists()
    # present: nothing to do; forced: the instruction again, the archive untouched
    write_archive(root / NAME)
    before = (root / NAME / ARCHIVE).read_bytes()
    assert fetch(NAME, root) == root / NAME
    with pytest.raises(LsbookError, match="has no download"):
        fetch(NAME, root, force=True)
    assert sorted(p.name for p in (root / NAME).iterdir()) == [ARCHIVE]
    assert (root / NAME / ARCHIVE).read_bytes() == before


def test_transforms_are_those_of_cifar10():
    jpeg, official = make_transforms(NAME), make_transforms("cifar10")
    assert jpeg.name == NAME and official.name == "cifar10"
    assert {**vars(jpeg), "name": ""} == {**vars(official), "name": ""}
    assert jpeg.output_shape == (3, 24, 24) and jpeg.crop == 24 and jpeg.flip and jpeg.pad == 0
    batch = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    trained = [t.train(batch, torch.Generator().manual_seed(5)) for t in (jpeg, official)]
    assert trained[0].shape == (8, 3, 24, 24) and trained[0].dtype == torch.float32
    assert torch.equal(trained[0], trained[1])
    assert torch.equal(jpeg.eval(batch), official.eval(batch)) and jpeg.eval(batch).shape == (8, 3, 24, 24)


def test_cifar10_never_resolves_to_the_jpeg_re_encode(tmp_path):
    jpeg, official = get_dataset(NAME), get_dataset("cifar10")
    assert (jpeg.name, jpeg.title) == (NAME, "CIFAR-10 (JPEG re-encode)")
    assert (official.name, official.title) == ("cifar10", "CIFAR-10")
    for spelling in ("cifar10", "CIFAR10", "cifar-10"):
        assert get_dataset(spelling).name == "cifar10"
    assert NAME not in official.aliases and jpeg.aliases == ()
    assert (jpeg.num_classes, jpeg.image_shape, jpeg.train_size, jpeg.test_size, jpeg.val_holdout) == \
        (official.num_classes, official.image_shape, official.train_size, official.test_size, official.val_holdout)
    assert sources.REQUIRED_FILES[NAME] == (ARCHIVE,) and NAME not in sources.DOWNLOADS
    write_archive(tmp_path / NAME)  # only the re-encode is there: cifar10 is missing, not stood in for
    with pytest.raises(DataMissingError, match="dataset 'cifar10' not found"):
        load_split("cifar10", "test", tmp_path)
    with pytest.raises(DataMissingError):
        load_part("cifar10", "train", tmp_path)


@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason=f"{REAL_ARCHIVE} is not on this machine")
def test_the_real_archive_has_the_recorded_sha256():
    (check,) = sources.FILE_CHECKS[NAME]
    assert (check.path, check.algorithm, check.decompressed) == (ARCHIVE, "sha256", False)
    assert check.digest == sources.CIFAR10_JPEG_SHA256
    hasher = hashlib.sha256()
    with open(REAL_ARCHIVE, "rb") as handle:
        while block := handle.read(1 << 20):
            hasher.update(block)
    assert hasher.hexdigest() == sources.CIFAR10_JPEG_SHA256
    assert REAL_ARCHIVE.stat().st_size == 18_558_124  # data/CHECKSUMS.md
