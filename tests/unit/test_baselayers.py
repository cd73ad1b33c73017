"""A base image's blobs by diff ID, read through a table standing in for the registry."""

from __future__ import annotations

import json
from pathlib import Path

from hubpub.baselayers import RemoteBlob, base_blobs
from hubpub.errors import RegistryError
from hubpub.layers import LayerCache
from hubpub.reference import Reference, Repository
from hubpub.registry.models import Manifest

REPO = Repository("reg.example", "lib/base")
GZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def _d(n: int) -> str:
    return f"sha256:{n:064x}"


class Table:
    def __init__(self, manifests: dict[str, Manifest], blobs: dict[str, bytes]) -> None:
        self.manifests, self.blobs = manifests, blobs

    def get_manifest(self, ref: Reference) -> Manifest:
        if ref.digest not in self.manifests:
            raise RegistryError(f"manifest {ref} unknown")
        return self.manifests[ref.digest]

    def get_blob(self, repo: Repository, digest: str) -> bytes:
        return self.blobs[digest]


def _image(layers: list[tuple[str, int]], diff_ids: list[str]) -> tuple[Manifest, bytes]:
    config = json.dumps({"rootfs": {"diff_ids": diff_ids}}).encode()
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "x", "digest": _d(99), "size": len(config)},
        "layers": [{"mediaType": t, "digest": _d(n), "size": n} for t, n in layers],
    }
    return Manifest.from_bytes(json.dumps(doc).encode()), config


AMD64 = {"os": "linux", "architecture": "amd64"}


def test_a_single_image_base_names_its_gzip_blobs_by_diff_id() -> None:
    manifest, config = _image([(GZ, 1), (OCI_GZ, 2), (ZSTD, 3)], [_d(11), _d(12), _d(13)])
    table = Table({manifest.digest: manifest}, {_d(99): config})
    found = base_blobs(table, [("reg.example/lib/base:1", manifest.digest)], AMD64)
    assert found == {_d(11): RemoteBlob(REPO, _d(1), 1), _d(12): RemoteBlob(REPO, _d(2), 2)}


def test_an_index_gives_the_child_of_the_built_image_platform() -> None:
    amd, amd_config = _image([(GZ, 1)], [_d(11)])
    arm, _ = _image([(GZ, 2)], [_d(12)])
    index_doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": arm.media_type,
                "digest": arm.digest,
                "size": arm.size,
                "platform": {"os": "linux", "architecture": "arm64"},
            },
            {
                "mediaType": amd.media_type,
                "digest": amd.digest,
                "size": amd.size,
                "platform": AMD64,
            },
        ],
    }
    index = Manifest.from_bytes(json.dumps(index_doc).encode())
    table = Table({index.digest: index, amd.digest: amd, arm.digest: arm}, {_d(99): amd_config})
    found = base_blobs(table, [("reg.example/lib/base:1", index.digest)], AMD64)
    assert found == {_d(11): RemoteBlob(REPO, _d(1), 1)}
    assert base_blobs(table, [("reg.example/lib/base:1", index.digest)], {"os": "windows"}) == {}


def test_a_base_that_cannot_be_read_or_does_not_add_up_gives_nothing() -> None:
    manifest, config = _image([(GZ, 1), (GZ, 2)], [_d(11)])  # 2 layers, 1 diff ID
    table = Table({manifest.digest: manifest}, {_d(99): config})
    assert base_blobs(table, [("reg.example/lib/base:1", manifest.digest)], AMD64) == {}
    assert base_blobs(table, [("reg.example/lib/base:1", _d(5))], AMD64) == {}  # unknown
    assert base_blobs(table, [("NOT A NAME", manifest.digest)], AMD64) == {}


def test_what_a_base_said_is_kept_so_the_next_build_reads_nothing(tmp_path: Path) -> None:
    manifest, config = _image([(GZ, 1)], [_d(11)])
    cache = LayerCache(tmp_path)
    table = Table({manifest.digest: manifest}, {_d(99): config})
    bases = [("reg.example/lib/base:1", manifest.digest)]
    first = base_blobs(table, bases, AMD64, cache)
    assert base_blobs(Table({}, {}), bases, AMD64, cache) == first  # no registry read
    assert base_blobs(Table({}, {}), bases, {"os": "linux", "architecture": "arm64"}, cache) == {}
