"""fileimages.py reading file sources from disk (layouts written by tests/helpers/registry.py,
tarballs by tarfile): what it reads, and the one line each broken file gives. No registry."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hubpub.errors import ConfigError
from hubpub.fileimages import check_file_source, read_layout
from hubpub.filesource import FileSource
from tests.helpers.registry import nest_layout, write_layout


def _oci(path: Path, ref: str | None = None) -> FileSource:
    return FileSource("oci", path, ref, f"oci:{path.name}")


def _archive(path: Path, ref: str | None = None) -> FileSource:
    return FileSource("docker-archive", path, ref, f"docker-archive:{path.name}")


def test_a_layout_index_is_read_with_every_manifest_and_blob(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "l", platforms=("linux/amd64", "linux/arm64"), index=True)
    read = read_layout(_oci(layout.path, "latest"))
    assert read.top.digest == layout.digest
    assert read.top.is_index
    assert set(read.manifests) == {layout.digest, *layout.children}
    assert set(read.blobs) == set(layout.blobs)
    for digest, blob in read.blobs.items():
        with blob.open() as handle:
            data = handle.read()
        assert len(data) == blob.size
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_nested_index_is_followed(tmp_path: Path) -> None:
    inner = write_layout(tmp_path / "l", platforms=("linux/amd64", "linux/arm64"), index=True)
    outer = nest_layout(inner)
    read = read_layout(_oci(outer.path))
    assert read.top.digest == outer.digest
    assert set(read.manifests) == {outer.digest, *outer.children}


def test_a_layout_missing_a_blob_or_damaged_is_refused(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "l")
    blobs = layout.path / "blobs" / "sha256"
    (blobs / layout.blobs[1].partition(":")[2]).unlink()
    with pytest.raises(ConfigError, match=f"the layout lacks the blob {layout.blobs[1]}"):
        read_layout(_oci(layout.path))
    top = blobs / layout.digest.partition(":")[2]
    top.write_bytes(top.read_bytes() + b" ")
    with pytest.raises(ConfigError, match="does not hash to its name: the layout is damaged"):
        read_layout(_oci(layout.path))


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _oci(p / "none"), "no such folder"),
        (lambda p: _oci(p), "not an OCI image layout (it has no index.json)"),
        (lambda p: _archive(p / "none.tar"), "no such file"),
        (lambda p: _archive(_write(p / "x.tar", b"text")), "not a tar archive"),
        (
            lambda p: _archive(_tar(p / "x.tar", {"a": b"1"})),
            "not a docker-archive (it has no manifest.json)",
        ),
        (
            lambda p: _archive(_tar(p / "x.tar", {"manifest.json": b"[]"})),
            "manifest.json lists no image",
        ),
    ],
)
def test_check_file_source_says_what_is_wrong(
    tmp_path: Path, make: Callable[[Path], FileSource], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_file_source(make(tmp_path))
    assert caught.value.message == message


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_check_file_source_accepts_a_layout_and_an_archive(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "l")
    check_file_source(_oci(layout.path, "latest"))
    manifest = b'[{"Config": "c.json", "RepoTags": ["app:1"], "Layers": []}]'
    check_file_source(_archive(_tar(tmp_path / "a.tar", {"manifest.json": manifest}), "app:1"))
