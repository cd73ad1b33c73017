"""The manifest a built image is published with, and which cached layers are reused."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from hubpub.archive import Layer
from hubpub.layers import CachedLayer, LayerCache
from hubpub.publish import DOCKER_CONFIG, DOCKER_LAYER, _reusable, compose, prepare
from hubpub.reference import Reference, Repository
from hubpub.registry.models import DOCKER_MANIFEST, Manifest, digest_of
from hubpub.registry.publish import LocalBlob


def _blob(data: bytes) -> LocalBlob:
    return LocalBlob(digest_of(data), len(data), lambda: contextlib.nullcontext(io.BytesIO(data)))


def test_the_manifest_is_schema_2_with_gzip_layers_in_order_and_the_same_every_time() -> None:
    config, one, two = _blob(b"{}"), _blob(b"one"), _blob(b"two")
    manifest = compose(config, [one, two])
    assert manifest.media_type == DOCKER_MANIFEST
    doc = json.loads(manifest.raw)
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == DOCKER_MANIFEST
    assert doc["config"] == {"mediaType": DOCKER_CONFIG, "size": 2, "digest": config.digest}
    assert [(x["mediaType"], x["digest"], x["size"]) for x in doc["layers"]] == [
        (DOCKER_LAYER, one.digest, 3),
        (DOCKER_LAYER, two.digest, 3),
    ]
    assert compose(config, [one, two]).digest == manifest.digest == digest_of(manifest.raw)


DIFF = "sha256:" + "11" * 32
BLOB = "sha256:" + "22" * 32


class Heads:
    def __init__(self, present: set[tuple[str, str]]) -> None:
        self.present = present
        self.asked: list[tuple[str, str]] = []

    def blob_exists(
        self, repo: Repository, digest: str, *, scopes: tuple[str, ...] | None = None
    ) -> bool:
        self.asked.append((str(repo), digest))
        return (str(repo), digest) in self.present


@pytest.mark.parametrize(
    ("cached", "present", "reused"),
    [
        # Both registries hold the cached blob: one HEAD each, no compression.
        (
            {"a.example": "x/app", "b.example": "y/app"},
            {"a.example/x/app", "b.example/y/app"},
            True,
        ),
        # One registry has no entry: compress (the blob must be the same everywhere).
        ({"a.example": "x/app"}, {"a.example/x/app"}, False),
        # An entry the registry no longer backs: compress.
        ({"a.example": "x/app", "b.example": "y/app"}, {"a.example/x/app"}, False),
        ({}, set(), False),
    ],
)
def test_a_cached_layer_is_reused_only_when_every_target_registry_holds_it(
    tmp_path: Path, cached: dict[str, str], present: set[str], reused: bool
) -> None:
    cache = LayerCache(tmp_path)
    for registry, repo in cached.items():
        cache.put(registry, DIFF, CachedLayer(BLOB, 10, repo))
    heads = Heads({(repo, BLOB) for repo in present})
    layer = Layer(DIFF, tmp_path / "layer", 100)
    found = _reusable(layer, {"a.example": "a.example", "b.example": "b.example"}, heads, cache)
    assert (found is not None) == reused
    if found is not None:
        assert found[0] == CachedLayer(BLOB, 10, "x/app")
        assert len(heads.asked) == 2


class NoRegistry(Heads):
    def get_manifest(self, ref: Reference) -> Manifest:
        raise AssertionError("no base given: nothing to read")

    def get_blob(self, repo: Repository, digest: str) -> bytes:
        raise AssertionError("no base given: nothing to read")

    def open_blob(
        self, repo: Repository, digest: str
    ) -> contextlib.AbstractContextManager[io.BytesIO]:
        raise AssertionError("no base given: nothing to read")


def _docker_archive(layers: list[bytes]) -> bytes:
    diff_ids = [digest_of(x) for x in layers]
    config = json.dumps({"os": "linux", "rootfs": {"diff_ids": diff_ids}}).encode()
    names = [f"{n}/layer.tar" for n in range(len(layers))]
    files = {**dict(zip(names, layers, strict=True)), "c.json": config}
    files["manifest.json"] = json.dumps([{"Config": "c.json", "Layers": names}]).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_an_image_holding_the_same_layer_twice_compresses_it_once(tmp_path: Path) -> None:
    empty, app = b"\0" * 1024, b"app" * 10_000
    data = _docker_archive([empty, app, empty])
    prepared = prepare(
        lambda: contextlib.nullcontext(io.BytesIO(data)),
        [Repository("a.example", "x/app")],
        NoRegistry(set()),
        LayerCache(tmp_path / "cache"),
    )
    try:
        assert (prepared.compressed, prepared.reused, prepared.from_base) == (2, 0, 0)
        layers = json.loads(prepared.manifest.raw)["layers"]
        assert layers[0]["digest"] == layers[2]["digest"] != layers[1]["digest"]
        for blob in prepared.blobs[1:]:
            with blob.open() as handle:
                packed = handle.read()
            assert digest_of(packed) == blob.digest
            assert gzip.decompress(packed) in (empty, app)
    finally:
        prepared.close()
    assert not prepared.folder.exists()
