"""Reading a docker-archive from a stream: both layouts, links, and damaged archives."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from hubpub.archive import read_archive
from hubpub.errors import EngineError

LAYER_A = b"layer a" * 1000
LAYER_B = b"layer b" * 3000


def _sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _archive(files: dict[str, bytes], links: dict[str, str] | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    buffer.seek(0)
    return buffer


def _config(*layers: bytes) -> bytes:
    return json.dumps(
        {"rootfs": {"type": "layers", "diff_ids": [_sha(x) for x in layers]}}
    ).encode()


class _OneWay(io.RawIOBase):
    """A stream that cannot seek, as the engine's response body."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(min(len(buffer), 1000))
        buffer[: len(data)] = data
        return len(data)


def test_the_legacy_layout_with_the_manifest_last_and_a_linked_layer(tmp_path: Path) -> None:
    config = _config(LAYER_A, LAYER_B, LAYER_A)
    manifest = [{"Config": "c0ffee.json", "Layers": ["1/layer.tar", "2/layer.tar", "3/layer.tar"]}]
    stream = _archive(
        {
            "1/layer.tar": LAYER_A,
            "2/layer.tar": LAYER_B,
            "c0ffee.json": config,
            "manifest.json": json.dumps(manifest).encode(),
        },
        links={"3/layer.tar": "../1/layer.tar"},
    )
    image = read_archive(_OneWay(stream.getvalue()), tmp_path)
    assert image.config == config
    assert [layer.diff_id for layer in image.layers] == [
        _sha(LAYER_A),
        _sha(LAYER_B),
        _sha(LAYER_A),
    ]
    assert [layer.size for layer in image.layers] == [len(LAYER_A), len(LAYER_B), len(LAYER_A)]
    assert image.layers[1].path.read_bytes() == LAYER_B


def test_the_oci_layout_of_newer_engines(tmp_path: Path) -> None:
    config = _config(LAYER_B)
    hexes = {
        name: hashlib.sha256(data).hexdigest() for name, data in (("c", config), ("b", LAYER_B))
    }
    manifest = [{"Config": f"blobs/sha256/{hexes['c']}", "Layers": [f"blobs/sha256/{hexes['b']}"]}]
    stream = _archive(
        {
            "manifest.json": json.dumps(manifest).encode(),
            f"blobs/sha256/{hexes['b']}": LAYER_B,
            f"blobs/sha256/{hexes['c']}": config,
        }
    )
    image = read_archive(stream, tmp_path)
    assert [layer.diff_id for layer in image.layers] == [_sha(LAYER_B)]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"1/layer.tar": LAYER_A}, "has no file manifest.json"),
        ({"manifest.json": b"{"}, "malformed manifest.json"),
        ({"manifest.json": b"[]"}, "without exactly one image"),
        (
            {
                "1/layer.tar": LAYER_A,
                "c.json": _config(LAYER_B),
                "manifest.json": b'[{"Config": "c.json", "Layers": ["1/layer.tar"]}]',
            },
            "do not match the image config's diff IDs",
        ),
        (
            {"c.json": _config(), "manifest.json": b'[{"Config": "c.json", "Layers": ["x"]}]'},
            "has no file x",
        ),
        (
            {"c.json": b"not json", "manifest.json": b'[{"Config": "c.json", "Layers": []}]'},
            "the image config c.json of the exported image archive is not JSON: Expecting value",
        ),
        (
            {"c.json": b"[1]", "manifest.json": b'[{"Config": "c.json", "Layers": []}]'},
            "the image config c.json of the exported image archive is not a JSON object",
        ),
    ],
)
def test_a_damaged_archive_is_an_engine_error(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    with pytest.raises(EngineError, match=message):
        read_archive(_archive(files), tmp_path)


def test_a_stream_cut_short_is_an_engine_error(tmp_path: Path) -> None:
    data = _archive({"1/layer.tar": LAYER_B * 10, "manifest.json": b"[]"}).getvalue()
    with pytest.raises(EngineError, match="cannot read the image the engine exported"):
        read_archive(io.BytesIO(data[:20_000]), tmp_path)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"c.json": b"not json", "manifest.json": b'[{"Config": "c.json", "Layers": []}]'},
            "the image config c.json of the archive is not JSON: Expecting value",
        ),
        (
            {"manifest.json": b'[{"Config": "nope.json", "Layers": []}]'},
            "the archive has no file nope.json",
        ),
        ({"manifest.json": b"{"}, "the archive has a malformed manifest.json"),
    ],
)
def test_a_users_archive_is_not_called_the_engines_export(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    # With a pick, the archive is a file source's: the caller names the file before the error.
    with pytest.raises(EngineError) as caught:
        read_archive(_archive(files), tmp_path, pick=lambda doc: doc[0] if doc else {})
    assert caught.value.message.startswith(message), caught.value.message
    assert "engine" not in caught.value.message
