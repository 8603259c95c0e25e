"""Registry, readers of every real format, verification errors, caching and splits."""

from __future__ import annotations

import gzip
import hashlib
import os

import pytest
import torch

from lsbook.data import DATASETS, data_root, get_dataset, load_split, locate
from lsbook.data import formats, sources, splits
from lsbook.data.roots import candidate_dirs
from lsbook.errors import DataCorruptError, DataMissingError, LsbookError
from test_data_fixtures import (colour, trust, write_cifar10, write_cifar100, write_cub, write_emnist,
                                write_idx_gz, write_mnist_like, write_tiny)


# --- registry -----------------------------------------------------------------------------------

def test_registry_holds_every_dataset_of_table_5():
    assert set(DATASETS) == {"mnist", "emnist", "fashion-mnist", "cifar10", "cifar10-jpeg", "cifar100", "cub200",
                             "tinyimagenet", "multi30k"}
    for info in DATASETS.values():
        assert info.fetch_command == f"python -m lsbook data fetch {info.name}"
        assert info.kind in ("image", "text")
        if info.class_names:
            assert len(set(info.class_names)) == info.num_classes == len(info.class_names)
    assert DATASETS["emnist"].num_classes == 47 and DATASETS["cifar100"].class_names[:2] == ("apple", "aquarium_fish")


def test_registry_matches_torchvision_class_lists():
    datasets = pytest.importorskip("torchvision.datasets")
    assert list(DATASETS["emnist"].class_names) == datasets.EMNIST.classes_split_dict["balanced"]
    assert list(DATASETS["fashion-mnist"].class_names) == datasets.FashionMNIST.classes


def test_published_digests_match_torchvision():
    datasets = pytest.importorskip("torchvision.datasets")
    assert dict(datasets.MNIST.resources) == sources.MNIST_MD5
    assert dict(datasets.FashionMNIST.resources) == sources.FASHION_MD5
    assert (datasets.EMNIST.url, datasets.EMNIST.md5) == (sources.EMNIST_URL, sources.EMNIST_ZIP_MD5)
    for cls, url, md5, files in ((datasets.CIFAR10, sources.CIFAR10_URL, sources.CIFAR10_TGZ_MD5, sources.CIFAR10_MD5),
                                 (datasets.CIFAR100, sources.CIFAR100_URL, sources.CIFAR100_TGZ_MD5, sources.CIFAR100_MD5)):
        assert (cls.url, cls.tgz_md5) == (url, md5)
        published = {f"{cls.base_folder}/{name}": digest for name, digest in cls.train_list + cls.test_list}
        published[f"{cls.base_folder}/{cls.meta['filename']}"] = cls.meta["md5"]
        assert published == files


def test_unknown_dataset_lists_the_names():
    with pytest.raises(LsbookError, match="unknown dataset 'imagenet'.*cifar10.*multi30k"):
        get_dataset("imagenet")
    with pytest.raises(LsbookError, match="allowed"):
        load_split("svhn", "train")
    assert get_dataset("fmnist").name == "fashion-mnist"


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LSBOOK_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert candidate_dirs("multi30k")[0] == tmp_path / "multi30k"
    monkeypatch.delenv("LSBOOK_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "lsbook"
    assert candidate_dirs("fashion-mnist")[-1].as_posix() == "/usr/share/datasets/fashion-mnist"


# --- IDX: MNIST, Fashion-MNIST, EMNIST ----------------------------------------------------------

def test_mnist_splits_are_exact_disjoint_and_stratified(tmp_path, monkeypatch):
    written = write_mnist_like(tmp_path / "mnist", per_class_train=20, per_class_test=5)
    trust(monkeypatch, "mnist", tmp_path / "mnist")
    train = load_split("mnist", "train", tmp_path)
    val = load_split("mnist", "val", tmp_path)
    test = load_split("mnist", "test", tmp_path)
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (1, 28, 28)
    assert train.labels.dtype == torch.int64 and train.class_names == list("0123456789")
    # val: 5000 capped at half of this tiny training set -> 100, i.e. 10 per class
    assert len(val) == 100 and len(train) == 100 and torch.bincount(val.labels).tolist() == [10] * 10
    images, labels = written["train"]
    union = torch.cat([train.images, val.images]).reshape(200, -1)
    rows = {bytes(r.numpy()) for r in union}
    assert rows == {bytes(r) for r in images.reshape(200, -1)}            # disjoint and complete
    assert torch.equal(test.images[:, 0], torch.from_numpy(written["test"][0]))
    assert torch.equal(test.labels, torch.from_numpy(written["test"][1]).long())
    assert torch.equal(train.images[:, 0, 0, 0].long(), train.labels)      # pixel 0 encodes the label
    again = load_split("mnist", "val", tmp_path)
    assert torch.equal(again.images, val.images)                             # deterministic


def test_emnist_is_transposed_upright(tmp_path, monkeypatch):
    written = write_emnist(tmp_path / "emnist")
    trust(monkeypatch, "emnist", tmp_path / "emnist")
    test = load_split("emnist", "test", tmp_path)
    assert len(test) == 94 and test.num_classes == 47
    assert torch.equal(test.images[:, 0], torch.from_numpy(written["test"][0]).transpose(1, 2))


def test_missing_dataset_names_path_and_fetch_command(tmp_path):
    with pytest.raises(DataMissingError) as caught:
        load_split("mnist", "train", tmp_path)
    message = str(caught.value)
    assert "'mnist'" in message and str(tmp_path / "mnist") in message
    assert "python -m lsbook data fetch mnist" in message
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, ValueError)


def test_incomplete_folder_counts_as_missing(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert locate("mnist", tmp_path) is None
    with pytest.raises(DataMissingError):
        load_split("mnist", "test", tmp_path)


def test_bad_checksum_names_file_expected_and_actual(tmp_path):
    write_mnist_like(tmp_path / "mnist")  # real published md5s: the fixture cannot match them
    with pytest.raises(DataCorruptError) as caught:
        load_split("mnist", "train", tmp_path)
    message = str(caught.value)
    expected = sources.MNIST_RAW_MD5["train-images-idx3-ubyte.gz"]
    assert "train-images-idx3-ubyte.gz" in message and expected in message and "actual" in message
    assert not list(tmp_path.glob("cache/*.pt"))                             # nothing cached


def test_truncated_gzip_is_corrupt(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "mnist")
    monkeypatch.setitem(sources.FILE_CHECKS, "mnist", ())  # only the gzip stream can tell
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataCorruptError, match="t10k-images-idx3-ubyte.gz: truncated or damaged gzip"):
        load_split("mnist", "test", tmp_path)


def test_idx_header_must_match_its_size(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    write_mnist_like(folder)
    monkeypatch.setitem(sources.FILE_CHECKS, "mnist", ())
    raw = gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:-3]))
    with pytest.raises(DataCorruptError, match="IDX header"):
        load_split("mnist", "test", tmp_path)


def test_fashion_mnist_is_verified_on_decompressed_bytes(tmp_path, monkeypatch):
    """Debian recompresses the .gz files: a different gzip of the same bytes must pass."""
    folder = tmp_path / "fashion-mnist"
    written = write_mnist_like(folder, per_class_train=3, per_class_test=2)
    checks = tuple(sources.FileCheck(rel, "sha256", hashlib.sha256(gzip.decompress((folder / rel).read_bytes()))
                                     .hexdigest(), decompressed=True) for rel in sources.IDX_FILES)
    monkeypatch.setitem(sources.FILE_CHECKS, "fashion-mnist", checks)
    write_idx_gz(folder / "t10k-images-idx3-ubyte.gz", written["test"][0], compresslevel=1)
    assert len(load_split("fashion-mnist", "test", tmp_path)) == 20
    damaged = written["test"][0].copy()
    damaged[0, 0, 0] ^= 1
    write_idx_gz(folder / "t10k-images-idx3-ubyte.gz", damaged)
    with pytest.raises(DataCorruptError, match="decompressed data.*expected .*actual"):
        load_split("fashion-mnist", "test", tmp_path)


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "mnist")
    trust(monkeypatch, "mnist", tmp_path / "mnist")
    first = load_split("mnist", "train", tmp_path)
    caches = list((tmp_path / "cache").glob("mnist-train-*.pt"))
    assert len(caches) == 1 and not list((tmp_path / "cache").glob(".*partial"))

    def no_decoding(*args):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(formats, "decode", no_decoding)
    assert torch.equal(load_split("mnist", "train", tmp_path).images, first.images)
    # a changed source file invalidates the cache
    source = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_split("mnist", "train", tmp_path)


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "mnist")
    trust(monkeypatch, "mnist", tmp_path / "mnist")
    first = load_split("mnist", "test", tmp_path)
    (cache,) = (tmp_path / "cache").glob("mnist-test-*.pt")
    cache.write_bytes(b"not a tensor file")
    with pytest.warns(UserWarning, match="unreadable cache"):
        assert torch.equal(load_split("mnist", "test", tmp_path).images, first.images)


def test_bad_split_name_and_text_dataset(tmp_path):
    with pytest.raises(LsbookError, match="unknown split 'dev'.*test, train, val"):
        load_split("mnist", "dev", tmp_path)
    with pytest.raises(LsbookError, match="text"):
        load_split("multi30k", "train", tmp_path)
    with pytest.raises(LsbookError, match="original_split applies to cifar10, cifar10-jpeg and cifar100"):
        load_split("mnist", "train", tmp_path, original_split=True)


# --- CIFAR pickles ------------------------------------------------------------------------------

def test_cifar10_pickles_and_both_split_protocols(tmp_path, monkeypatch):
    written = write_cifar10(tmp_path / "cifar10", per_class_train=10, per_class_test=4)
    trust(monkeypatch, "cifar10", tmp_path / "cifar10")
    test = load_split("cifar10", "test", tmp_path)
    assert torch.equal(test.images, torch.from_numpy(written["test"][0]))
    assert test.class_names[0] == "airplane" and test.images.shape[1:] == (3, 32, 32)
    train, val = load_split("cifar10", "train", tmp_path), load_split("cifar10", "val", tmp_path)
    assert len(train) + len(val) == 500 and len(val) == 250

    o_train = load_split("cifar10", "train", tmp_path, original_split=True)
    o_test = load_split("cifar10", "test", tmp_path, original_split=True)
    o_val = load_split("cifar10", "val", tmp_path, original_split=True)
    # original: 4/5 of the training set trains, 1/5 of it is reported as test (40k/10k at full size)
    assert len(o_train) == 400 and len(o_test) == 100
    assert torch.bincount(o_test.labels).tolist() == [10] * 10
    official_train = {bytes(r) for r in written["train"][0].reshape(500, -1)}
    o_rows = [bytes(r.numpy()) for r in torch.cat([o_train.images, o_test.images]).reshape(500, -1)]
    assert set(o_rows) == official_train and len(set(o_rows)) == 500
    # its validation split never overlaps the reported test split: it comes from the official test set
    official_test = {bytes(r) for r in written["test"][0].reshape(40, -1)}
    assert {bytes(r.numpy()) for r in o_val.images.reshape(len(o_val), -1)} <= official_test


def test_cifar100_fine_labels(tmp_path, monkeypatch):
    written = write_cifar100(tmp_path / "cifar100")
    trust(monkeypatch, "cifar100", tmp_path / "cifar100")
    test = load_split("cifar100", "test", tmp_path)
    assert test.num_classes == 100 and test.class_names[7] == "class007"
    assert torch.equal(test.labels, torch.from_numpy(written["test"][1]).long())


def test_cifar_pickle_is_not_unpickled_before_its_digest_matches(tmp_path, monkeypatch):
    write_cifar10(tmp_path / "cifar10", per_class_train=1, per_class_test=1)
    trust(monkeypatch, "cifar10", tmp_path / "cifar10")
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").write_bytes(b"cos\nsystem\n(S'false'\ntR.")
    with pytest.raises(DataCorruptError, match="test_batch: sha256 mismatch"):
        load_split("cifar10", "test", tmp_path)


# --- CUB-200-2011 and Tiny ImageNet ---------------------------------------------------------------

def test_cub_official_split_resized_to_256(tmp_path, monkeypatch):
    write_cub(tmp_path / "cub200", num_classes=3, per_class=4)
    monkeypatch.setitem(sources.FILE_CHECKS, "cub200", ())
    train = load_split("cub200", "train", tmp_path)
    val = load_split("cub200", "val", tmp_path)
    test = load_split("cub200", "test", tmp_path)
    assert len(train) + len(val) == 6 and len(test) == 6          # train_test_split.txt: j even -> train
    assert test.images.shape[1:] == (3, 256, 256) and test.class_names[1] == "Bird Number 2"
    assert torch.bincount(test.labels, minlength=3).tolist() == [2, 2, 2]
    for image, label in zip(test.images, test.labels):
        mean = image.float().mean(dim=(1, 2))
        assert (mean - torch.tensor(colour(int(label)), dtype=torch.float)).abs().max() < 4
    grey = train.images[train.labels == 0]                           # the greyscale JPEG became RGB
    assert grey.shape[1] == 3


def test_tiny_imagenet_val_annotations_serve_as_test(tmp_path, monkeypatch):
    layout = write_tiny(tmp_path / "tinyimagenet", wnids=("n02", "n01", "n03"), per_class_train=10)
    monkeypatch.setitem(sources.FILE_CHECKS, "tinyimagenet", ())
    test = load_split("tinyimagenet", "test", tmp_path)
    train, val = load_split("tinyimagenet", "train", tmp_path), load_split("tinyimagenet", "val", tmp_path)
    assert test.class_names == ["thing n01", "thing n02", "thing n03"]   # sorted wnids, words.txt names
    assert len(test) == 6 and test.images.shape[1:] == (3, 64, 64)
    assert len(val) == 3 and len(train) == 27                             # 10 % hold-out, one per class
    for image, label in zip(test.images, test.labels):
        expected = torch.tensor(colour(layout["order"].index(test.class_names[label][6:])), dtype=torch.float)
        assert (image.float().mean(dim=(1, 2)) - expected).abs().max() < 4


def test_unreadable_image_is_corrupt(tmp_path, monkeypatch):
    write_tiny(tmp_path / "tinyimagenet", per_class_train=1, val_per_class=1)
    monkeypatch.setitem(sources.FILE_CHECKS, "tinyimagenet", ())
    (tmp_path / "tinyimagenet" / "tiny-imagenet-200" / "val" / "images" / "val_0.JPEG").write_bytes(b"\xff\xd8junk")
    with pytest.raises(DataCorruptError, match="val_0.JPEG: unreadable image"):
        load_split("tinyimagenet", "test", tmp_path)


# --- split arithmetic -----------------------------------------------------------------------------

def test_stratified_holdout_is_proportional_deterministic_and_disjoint():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    kept, held = splits.stratified_holdout(labels, 10, seed=3)
    assert torch.bincount(labels[held]).tolist() == [5, 3, 2]
    assert len(set(kept.tolist()) | set(held.tolist())) == 100 and not set(kept.tolist()) & set(held.tolist())
    assert torch.equal(held, splits.stratified_holdout(labels, 10, seed=3)[1])
    assert not torch.equal(held, splits.stratified_holdout(labels, 10, seed=4)[1])
    # remainders go to the largest fractional parts: 7 of (50, 30, 20) -> 3.5, 2.1, 1.4 -> 4, 2, 1
    assert torch.bincount(labels[splits.stratified_holdout(labels, 7, 0)[1]]).tolist() == [4, 2, 1]
    with pytest.raises(LsbookError, match="hold-out size"):
        splits.stratified_holdout(labels, 101, 0)


def test_validation_sizes_follow_the_documented_choice():
    assert splits.validation_size(DATASETS["fashion-mnist"], 60_000) == 5_000
    assert splits.validation_size(DATASETS["cifar10"], 50_000) == 5_000
    assert splits.validation_size(DATASETS["cub200"], 5_994) == 599
    assert splits.validation_size(DATASETS["tinyimagenet"], 100_000) == 10_000


# --- the real Fashion-MNIST (Debian package dataset-fashion-mnist) -------------------------------

REAL_FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(REAL_FASHION),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_counts_and_checksums():
    train, val, test = (load_split("fashion-mnist", split) for split in ("train", "val", "test"))
    assert len(train) + len(val) == 60_000 and len(val) == 5_000 and len(test) == 10_000
    assert torch.bincount(torch.cat([train.labels, val.labels])).tolist() == [6000] * 10
    assert torch.bincount(val.labels).tolist() == [500] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert train.images.shape[1:] == (1, 28, 28) and train.class_names[9] == "Ankle boot"
    assert 0 < test.images.float().mean() < 255
