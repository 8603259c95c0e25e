"""lsbook.book.mathjax: the book's MathJax is checked against the published hash and only what the pages
load is extracted (tested on a tarball made here, with the hash it must then carry)."""

import base64
import hashlib
import io
import tarfile

import pytest

from lsbook.book import mathjax
from lsbook.errors import LsbookError


def make_tarball(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def integrity_of(path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


FONTS = f"package/es5/{mathjax.FONTS}"
RELEASE = {
    "package/LICENSE": b"Apache License 2.0",
    f"package/es5/{mathjax.ENTRY}": b"/* MathJax */",
    f"{FONTS}/MathJax_Main-Regular.woff": b"font",
    f"{FONTS}/MathJax_Math-Italic.woff": b"font",
    "package/es5/tex-svg.js": b"not loaded by the book",
    "package/es5/sre/mathmaps/en.json": b"{}",
    f"{FONTS}/../../../../../evil.woff": b"outside",
}


def test_install_extracts_what_the_pages_load(tmp_path, monkeypatch):
    tarball = make_tarball(tmp_path / "mathjax.tgz", RELEASE)
    monkeypatch.setattr(mathjax, "INTEGRITY", integrity_of(tarball))
    target = tmp_path / "static" / "mathjax"
    assert not mathjax.is_installed(target)
    mathjax.install(tarball, target)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == ["LICENSE", "VERSION", f"{mathjax.FONTS}/MathJax_Main-Regular.woff",
                     f"{mathjax.FONTS}/MathJax_Math-Italic.woff", mathjax.ENTRY]
    assert mathjax.is_installed(target) and mathjax.ensure(target) == target
    assert not (tmp_path / "evil.woff").exists()
    (target / mathjax.STAMP).write_text("3.0.0\n")  # another release: installed again
    assert not mathjax.is_installed(target)


def test_a_tarball_that_is_not_the_published_release_is_refused(tmp_path):
    tarball = make_tarball(tmp_path / "mathjax.tgz", RELEASE)
    with pytest.raises(LsbookError, match=f"not mathjax@{mathjax.VERSION} as published"):
        mathjax.install(tarball, tmp_path / "mathjax")
    assert not (tmp_path / "mathjax").exists()


def test_a_release_without_the_entry_script_is_refused(tmp_path, monkeypatch):
    tarball = make_tarball(tmp_path / "mathjax.tgz", {"package/LICENSE": b"licence"})
    monkeypatch.setattr(mathjax, "INTEGRITY", integrity_of(tarball))
    with pytest.raises(LsbookError, match="lacks"):
        mathjax.install(tarball, tmp_path / "mathjax")


def test_the_book_config_loads_the_served_mathjax():
    import yaml

    config = yaml.safe_load((mathjax.TARGET.parents[2] / "_config.yml").read_text())["sphinx"]["config"]
    assert config["mathjax_path"] == f"mathjax/{mathjax.ENTRY}"
    assert config["html_static_path"] == [str(mathjax.TARGET.parent.relative_to(mathjax.TARGET.parents[2]))]
