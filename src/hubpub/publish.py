"""Prepare a built image for publishing: export it from the engine, compress each layer once,
and write its manifest (docs/registry.md#uploads-of-built-images).

The executor builds, then :func:`prepare` turns the image into blobs on disk and a manifest;
the registry client's ``publish_image`` writes them into each target repository, the manifest
by digest, and only then does the executor PUT the tags. A layer is not compressed when the
layer cache names a blob every target registry still holds (one HEAD per registry): the
manifest then names that blob, and it is mounted, not uploaded.

The manifest is Docker's schema 2 (``application/vnd.docker.distribution.manifest.v2+json``),
not OCI's: the config is the engine's own (the Docker image spec, with fields OCI does not
define, under its media type ``application/vnd.docker.container.image.v1+json``), schema 2 is
what the engine's push wrote for the same image, and every engine and registry that reads OCI
reads it too. Its layers are gzip tars (``...rootfs.diff.tar.gzip``), as uploaded.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hubpub import baselayers
from hubpub.archive import Layer, Readable, read_archive
from hubpub.baselayers import RemoteBlob, base_blobs
from hubpub.errors import RegistryError
from hubpub.layers import CachedLayer, Compressed, LayerCache, compress
from hubpub.reference import Repository, api_host
from hubpub.registry.models import DOCKER_MANIFEST, Manifest, digest_of
from hubpub.registry.publish import LocalBlob

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

Exporter = Callable[[], contextlib.AbstractContextManager[Readable]]


class BlobHeads(Protocol):
    def blob_exists(
        self, repo: Repository, digest: str, *, scopes: tuple[str, ...] | None = None
    ) -> bool: ...


class Registry(BlobHeads, baselayers.Registry, Protocol):
    """What a prepare reads: blob HEADs, a base's manifest and config, a base's blobs."""

    def open_blob(
        self, repo: Repository, digest: str
    ) -> contextlib.AbstractContextManager[Readable]: ...


@dataclass
class Prepared:
    """A built image ready to publish: its manifest, its blobs on disk, and where each
    registry already holds some of them. ``close`` removes the files."""

    manifest: Manifest
    blobs: tuple[LocalBlob, ...]
    folder: Path
    diff_ids: dict[str, str] = field(default_factory=dict)  # layer digest → diff ID
    # API host → (digest → a repository path of that registry holding it)
    homes: dict[str, dict[str, str]] = field(default_factory=dict)
    compressed: int = 0  # layers compressed by this run
    reused: int = 0  # layers named by the layer cache and found in every target registry
    from_base: int = 0  # layers taken from a base image's blobs in its registry

    def homes_in(self, registry: str) -> dict[str, str]:
        return self.homes.get(api_host(registry), {})

    def remember(self, cache: LayerCache, repo: Repository) -> None:
        """Record in ``cache`` that ``repo`` now holds every layer of the image."""
        for blob in self.blobs:
            diff_id = self.diff_ids.get(blob.digest)
            if diff_id is not None:
                cache.put(repo.registry, diff_id, CachedLayer(blob.digest, blob.size, repo.path))

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def prepare(
    export: Exporter,
    targets: Sequence[Repository],
    registry: Registry,
    cache: LayerCache,
    *,
    bases: Sequence[tuple[str, str]] = (),
    workers: int | None = None,
    pick: Callable[[Any], dict[str, Any]] | None = None,
) -> Prepared:
    """Export the image, reuse the cached blobs every target registry holds and the blobs of
    its ``bases`` ((name, registry digest): baselayers.py), compress the other layers in
    parallel threads, and compose the manifest. ``pick``: archive.read_archive's (a
    docker-archive file holding several images)."""
    folder = Path(tempfile.mkdtemp(prefix="hubpub-export-"))
    try:
        with export() as stream:
            image = read_archive(stream, folder, pick)
        registries = {api_host(t.registry): t.registry for t in targets}
        with ThreadPoolExecutor(workers or os.cpu_count() or 2, "hubpub-layers") as pool:
            reused = list(
                pool.map(lambda layer: _reusable(layer, registries, registry, cache), image.layers)
            )
            inherited: Mapping[str, RemoteBlob] = {}
            if bases and any(known is None for known in reused):
                inherited = base_blobs(registry, bases, image.config_json, cache)
            # Once per diff ID: an image may hold the same layer twice (empty layers).
            missing = {
                layer.diff_id: layer
                for layer, known in zip(image.layers, reused, strict=True)
                if known is None and layer.diff_id not in inherited
            }
            futures = {
                diff_id: pool.submit(_compress_and_drop, layer.path, folder / f"{n}.gz")
                for n, (diff_id, layer) in enumerate(missing.items())
            }
            compressed = {diff_id: future.result() for diff_id, future in futures.items()}
        homes: dict[str, dict[str, str]] = {}
        blobs: list[LocalBlob] = []
        diff_ids: dict[str, str] = {}
        counts = {"reused": 0, "from_base": 0}
        for index, (layer, known) in enumerate(zip(image.layers, reused, strict=True)):
            base = inherited.get(layer.diff_id)
            if known is not None:
                lazily = _Lazy(layer, folder / f"lazy-{index}.gz", known[0])
                blob = LocalBlob(known[0].digest, known[0].size, lazily.open)
                for host, cached in known[1].items():
                    homes.setdefault(host, {})[cached.digest] = cached.repository
                counts["reused"] += 1
            elif base is not None:
                # Streamed from the base's repository only where a target lacks it and
                # cannot mount it (another registry).
                blob = LocalBlob(base.digest, base.size, _remote(registry, base))
                homes.setdefault(api_host(base.repo.registry), {})[base.digest] = base.repo.path
                counts["from_base"] += 1
            else:
                done = compressed[layer.diff_id]
                blob = LocalBlob(done.digest, done.size, _opener(done.path))
            blobs.append(blob)
            diff_ids[blob.digest] = layer.diff_id
        config = LocalBlob(digest_of(image.config), len(image.config), _bytes(image.config))
        return Prepared(
            compose(config, blobs),
            (config, *blobs),
            folder,
            diff_ids,
            homes,
            compressed=len(compressed),
            reused=counts["reused"],
            from_base=counts["from_base"],
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def compose(config: LocalBlob, layers: Sequence[LocalBlob]) -> Manifest:
    """The schema 2 manifest of a config and its gzip layers (see the module docstring)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.size, "digest": config.digest},
        "layers": [
            {"mediaType": DOCKER_LAYER, "size": layer.size, "digest": layer.digest}
            for layer in layers
        ],
    }
    return Manifest.from_bytes(json.dumps(doc, indent=3).encode(), DOCKER_MANIFEST)


def _reusable(
    layer: Layer, registries: Mapping[str, str], registry: BlobHeads, cache: LayerCache
) -> tuple[CachedLayer, dict[str, CachedLayer]] | None:
    """The cached blob of ``layer`` when every target registry holds the same one (a HEAD
    each), with where; None when it must be compressed."""
    found = {host: cache.get(name, layer.diff_id) for host, name in registries.items()}
    entries = [entry for entry in found.values() if entry is not None]
    if not entries or len(entries) != len(found):
        return None
    first = entries[0]
    if any((e.digest, e.size) != (first.digest, first.size) for e in entries):
        return None
    for host, entry in found.items():
        assert entry is not None
        if not registry.blob_exists(Repository(registries[host], entry.repository), first.digest):
            return None
    return first, {host: e for host, e in found.items() if e is not None}


class _Lazy:
    """A reused layer compressed only if a registry turns out to lack it after all (the blob
    was deleted since the HEAD): the same deterministic gzip gives the same digest."""

    def __init__(self, layer: Layer, target: Path, cached: CachedLayer) -> None:
        self._layer, self._target, self._cached = layer, target, cached
        self._lock = threading.Lock()
        self._done: Compressed | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[Readable]:
        with self._lock:
            if self._done is None:
                self._done = compress(self._layer.path, self._target)
        if self._done.digest != self._cached.digest:
            raise RegistryError(
                f"layer {self._layer.diff_id} compresses to {self._done.digest}, not the "
                f"{self._cached.digest} the layer cache names",
                hint="the layer cache is stale; run apply again to upload it afresh",
            )
        with self._done.path.open("rb") as handle:
            yield handle


def _compress_and_drop(source: Path, target: Path) -> Compressed:
    """Compress, then remove the uncompressed spool: the image is on disk once, not twice."""
    done = compress(source, target)
    source.unlink(missing_ok=True)
    return done


def _remote(registry: Registry, blob: RemoteBlob) -> Exporter:
    return lambda: registry.open_blob(blob.repo, blob.digest)


def _opener(path: Path) -> Callable[[], contextlib.AbstractContextManager[Readable]]:
    return lambda: path.open("rb")


def _bytes(data: bytes) -> Callable[[], contextlib.AbstractContextManager[Readable]]:
    return lambda: contextlib.nullcontext(io.BytesIO(data))
