"""The compressed blobs of a build's base images, by diff ID, read from their registry.

A built image's first layers are its base's (the same diff IDs as the base's config). The
base was resolved by digest in its registry (bases.py), so its manifest and config (two small
GETs) say which compressed blob holds each of those layers: publish.py names those blobs in the
manifest instead of compressing the layers again, and they are mounted from the base's
repository (same registry) or streamed from it (another registry), never recompressed
(docs/registry.md#uploads-of-built-images). Only an optimisation: a base that cannot be read
is logged and its layers are compressed as any other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hubpub.errors import HubpubError
from hubpub.layers import LayerCache
from hubpub.reference import Reference, Repository, parse_reference
from hubpub.registry.models import Manifest

log = logging.getLogger("hubpub.layers")

# Gzip layers under either name: the bytes are the same, so publish.py may list them under
# the Docker media type its manifest uses.
GZIP_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    }
)


@dataclass(frozen=True)
class RemoteBlob:
    repo: Repository
    digest: str
    size: int


class Registry(Protocol):
    def get_manifest(self, ref: Reference) -> Manifest: ...

    def get_blob(self, repo: Repository, digest: str) -> bytes: ...


def base_blobs(
    registry: Registry,
    bases: Sequence[tuple[str, str]],
    platform: Mapping[str, Any],
    cache: LayerCache | None = None,
) -> dict[str, RemoteBlob]:
    """diff ID -> the blob of a base image holding that layer, for the bases given as (name,
    registry digest), for ``platform`` (the built image's config: ``os``, ``architecture``).
    ``cache`` keeps what a base's manifest and config said (they never change)."""
    found: dict[str, RemoteBlob] = {}
    cache = cache or LayerCache(None)
    key = f"{platform.get('os')}/{platform.get('architecture')}"
    for name, digest in bases:
        try:
            repo = parse_reference(name).repository
            rows = cache.get_base(digest, key)
            if rows is None:
                rows = _layers(registry, repo, digest, platform)
                cache.put_base(digest, key, rows)
            for diff_id, blob, size in rows:
                found.setdefault(diff_id, RemoteBlob(repo, blob, size))
        except (HubpubError, ValueError, KeyError, TypeError) as exc:
            log.info("base image %s: its layers will be compressed again (%s)", name, exc)
    return found


def _layers(
    registry: Registry, repo: Repository, digest: str, platform: Mapping[str, Any]
) -> list[tuple[str, str, int]]:
    """(diff ID, blob digest, size) of each gzip layer of the base."""
    manifest = registry.get_manifest(repo.with_digest(digest))
    if manifest.is_index:
        wanted = (platform.get("os"), platform.get("architecture"))
        child = next(
            (
                c
                for c in manifest.children
                if c.platform and (c.platform.get("os"), c.platform.get("architecture")) == wanted
            ),
            None,
        )
        if child is None:
            return []
        manifest = registry.get_manifest(repo.with_digest(child.digest))
    config = manifest.config
    if config is None:
        return []
    diff_ids = json.loads(registry.get_blob(repo, config.digest))["rootfs"]["diff_ids"]
    layers = manifest.layers
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
        return []
    return [
        (str(diff_id), layer.digest, layer.size)
        for diff_id, layer in zip(diff_ids, layers, strict=True)
        if layer.media_type in GZIP_LAYERS
    ]
