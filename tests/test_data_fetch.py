"""Acquisition: downloads verified before they are kept, archives unpacked atomically, status, CLI."""

from __future__ import annotations

import hashlib
import tarfile
import zipfile

import pytest

from lsbook.data import acquire, dataset_status, fetch, load_split, sources
from lsbook.data.text import load_multi30k
from lsbook.errors import DataCorruptError, LsbookError
from test_data_fixtures import write_cifar10, write_emnist, write_mnist_like, write_multi30k


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder) -> list[str]:
    """Temporary files of a fetch that a failed fetch must not leave behind."""
    return sorted(p.name for p in folder.rglob(".*")) if folder.exists() else []


def serve(monkeypatch, name: str, files: dict, unpack: str = "", members=()) -> None:
    """Point DOWNLOADS[name] at local file:// URLs with the given expected sha256 digests."""
    monkeypatch.setitem(sources.DOWNLOADS, name, tuple(
        sources.Download(filename, tuple(path.as_uri() if hasattr(path, "as_uri") else path for path in urls),
                         "sha256", digest, unpack, members)
        for filename, (urls, digest) in files.items()))


def test_fetch_downloads_verifies_and_renames(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_multi30k(mirror)
    serve(monkeypatch, "multi30k", {p.name: ([p], sha256(p)) for p in mirror.glob("*.gz")})
    monkeypatch.setitem(sources.FILE_CHECKS, "multi30k", tuple(
        sources.FileCheck(p.name, "sha256", sha256(p)) for p in mirror.glob("*.gz")))
    root = tmp_path / "root"
    folder = fetch("multi30k", root, progress=False)
    assert folder == root / "multi30k" and sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in mirror.glob("*.gz"))
    assert load_multi30k(root)["val"][0][0].startswith("A group of people")
    # present: a second fetch downloads nothing
    monkeypatch.setattr(acquire, "download_to", lambda *a, **k: pytest.fail("downloaded again"))
    assert fetch("multi30k", root, progress=False) == folder


def test_checksum_mismatch_leaves_nothing_behind(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_multi30k(mirror)
    files = {p.name: ([p], sha256(p)) for p in mirror.glob("*.gz")}
    files["val.de.gz"] = ([mirror / "val.de.gz"], "0" * 64)
    serve(monkeypatch, "multi30k", files)
    root = tmp_path / "root"
    with pytest.raises(DataCorruptError) as caught:
        fetch("multi30k", root, progress=False)
    message = str(caught.value)
    assert "val.de.gz" in message and "0" * 64 in message and sha256(mirror / "val.de.gz") in message
    folder = root / "multi30k"
    assert not (folder / "val.de.gz").exists() and leftovers(folder) == []
    assert dataset_status(root)[-1].present is False


def test_failed_mirror_falls_back_to_the_next(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    written = write_mnist_like(mirror, per_class_train=2, per_class_test=1)
    assert written
    serve(monkeypatch, "mnist", {p.name: ([tmp_path / "nowhere" / p.name, p], sha256(p)) for p in mirror.glob("*.gz")})
    monkeypatch.setitem(sources.FILE_CHECKS, "mnist", ())
    fetch("mnist", tmp_path / "root", progress=False)
    assert len(load_split("mnist", "test", tmp_path / "root")) == 10


def test_all_mirrors_failing_is_an_error_naming_them(tmp_path, monkeypatch):
    serve(monkeypatch, "multi30k", {"train.en.gz": ([tmp_path / "a.gz", tmp_path / "b.gz"], "0" * 64)})
    with pytest.raises(LsbookError, match="could not download train.en.gz: .*a.gz.*b.gz"):
        fetch("multi30k", tmp_path / "root", progress=False)
    assert leftovers(tmp_path / "root" / "multi30k") == []


def test_interrupted_download_is_deleted(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_multi30k(mirror)
    serve(monkeypatch, "multi30k", {p.name: ([p], sha256(p)) for p in mirror.glob("*.gz")})

    def interrupted(url, destination, algorithm, progress=True):
        destination.write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(acquire, "download_to", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch("multi30k", tmp_path / "root", progress=False)
    assert not (tmp_path / "root" / "multi30k").exists()


def test_leftovers_of_a_killed_fetch_are_removed(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_multi30k(mirror)
    serve(monkeypatch, "multi30k", {p.name: ([p], sha256(p)) for p in mirror.glob("*.gz")})
    monkeypatch.setitem(sources.FILE_CHECKS, "multi30k", ())  # fetch checks them too; the fixture is not the real data
    folder = tmp_path / "root" / "multi30k"
    (folder / ".unpack-x1").mkdir(parents=True)
    (folder / ".staging-x2").mkdir()
    (folder / ".train.en.gz.part-abc").write_bytes(b"stale")
    fetch("multi30k", tmp_path / "root", progress=False)
    assert leftovers(folder) == []


def tar_of(folder, archive):
    with tarfile.open(archive, "w:gz") as tf:
        for entry in sorted(folder.iterdir()):
            tf.add(entry, arcname=entry.name)


def test_tar_archive_is_unpacked_with_a_manifest(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    write_cifar10(staging, per_class_train=2, per_class_test=1)
    archive = tmp_path / "cifar-10-python.tar.gz"
    tar_of(staging, archive)
    serve(monkeypatch, "cifar10", {archive.name: ([archive], sha256(archive))}, unpack="tar")
    monkeypatch.setitem(sources.FILE_CHECKS, "cifar10", ())
    root = tmp_path / "root"
    folder = fetch("cifar10", root, progress=False)
    assert not (folder / archive.name).exists() and leftovers(folder) == []
    manifest = (folder / "SHA256SUMS").read_text()
    assert "cifar-10-batches-py/test_batch" in manifest
    assert len(load_split("cifar10", "test", root)) == 10
    # the manifest catches a file damaged after unpacking
    (folder / "cifar-10-batches-py" / "test_batch").write_bytes(b"damaged")
    (root / "cache").exists() and [p.unlink() for p in (root / "cache").glob("*.pt")]
    with pytest.raises(DataCorruptError, match="test_batch: sha256 .*SHA256SUMS"):
        load_split("cifar10", "test", root)


def test_published_member_digests_are_checked_after_unpacking(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    write_cifar10(staging, per_class_train=1, per_class_test=1)
    archive = tmp_path / "cifar.tgz"
    tar_of(staging, archive)
    serve(monkeypatch, "cifar10", {archive.name: ([archive], sha256(archive))}, unpack="tar")
    # the real published md5s of CIFAR-10's batches: our fixture cannot match them
    with pytest.raises(DataCorruptError, match="md5 mismatch, expected"):
        fetch("cifar10", tmp_path / "root", progress=False)
    assert not (tmp_path / "root" / "cifar10").exists()   # nothing unverified was kept


def test_zip_members_are_extracted_flat_emnist_style(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    write_emnist(staging)
    (staging / "emnist-balanced-mapping.txt").write_text("0 48\n")
    archive = tmp_path / "gzip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in staging.iterdir():
            zf.write(path, f"gzip/{path.name}")
        zf.writestr("gzip/emnist-byclass-train-images-idx3-ubyte.gz", b"not wanted")
    members = tuple(f"gzip/{p.name}" for p in staging.iterdir())
    serve(monkeypatch, "emnist", {"gzip.zip": ([archive], sha256(archive))}, unpack="zip", members=members)
    folder = fetch("emnist", tmp_path / "root", progress=False)
    names = sorted(p.name for p in folder.iterdir())
    assert "gzip.zip" not in names and "emnist-byclass-train-images-idx3-ubyte.gz" not in names
    assert "emnist-balanced-train-images-idx3-ubyte.gz" in names and "SHA256SUMS" in names
    assert len(load_split("emnist", "test", tmp_path / "root")) == 94


def test_unsafe_archive_paths_are_refused(tmp_path, monkeypatch):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escaped.txt", b"x")
    serve(monkeypatch, "tinyimagenet", {"evil.zip": ([archive], sha256(archive))}, unpack="zip")
    with pytest.raises(DataCorruptError, match="unsafe member path"):
        fetch("tinyimagenet", tmp_path / "root", progress=False)
    assert not (tmp_path / "root" / "escaped.txt").exists()
    assert leftovers(tmp_path / "root" / "tinyimagenet") == []


def test_every_dataset_has_a_download_plan():
    for name, plan in sources.DOWNLOADS.items():
        assert plan and all(item.urls and item.digest for item in plan), name
        assert all(url.startswith(("https://", "http://")) for item in plan for url in item.urls)
    assert sources.DOWNLOADS["cub200"][0].urls[0].startswith("https://data.caltech.edu/")


# --- status and the command line ------------------------------------------------------------------

def run_cli(argv: list[str]) -> int:
    from lsbook.cli import main

    return main(argv)


def test_status_lists_every_dataset(tmp_path, capsys):
    write_multi30k(tmp_path / "multi30k")
    rows = dataset_status(tmp_path)
    assert [r.name for r in rows] == ["mnist", "emnist", "fashion-mnist", "cifar10", "cifar10-jpeg", "cifar100",
                                      "cub200", "tinyimagenet", "multi30k"]
    assert rows[-1].present and rows[-1].size_bytes > 0 and rows[-1].path == tmp_path / "multi30k"
    assert run_cli(["data", "status", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    mnist = next(line for line in out if line.startswith("mnist "))
    assert "missing" in mnist and str(tmp_path / "mnist") in mnist and "python -m lsbook data fetch mnist" in mnist
    assert "present" in next(line for line in out if line.startswith("multi30k"))


def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys):
    lsbook_cli = pytest.importorskip("lsbook.cli")
    try:
        lsbook_cli.build_parser()
    except ImportError as error:  # another engineer's command module is not there yet
        pytest.skip(f"lsbook command line incomplete: {error}")
    assert lsbook_cli.main(["data", "fetch", "imagenet", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown dataset 'imagenet'") and "mnist" in err and "\n" not in err
    assert lsbook_cli.main(["data", "status", "--root", str(tmp_path)]) == 0
