"""Compressed layers: deterministic gzip, and the cache of diff ID -> compressed blob per
registry under ``$XDG_CACHE_HOME/hubpub/layers`` (next to the label cache).

The gzip is deterministic: ISA-L's gzip wrapper (``isal_zlib``, ``wbits=31``) writes no file
name and a zero modification time, so the same layer tar gives the same bytes, hence the same
digest, on every run with the same ISA-L (docs/registry.md#uploads-of-built-images). ISA-L
rather than zlib: at its default level it compressed 14 times faster than zlib's level 6 here,
for output 15 % larger (docs/benchmarks.md, "Compression"). The cache makes an
unchanged layer cost one HEAD on the next publish instead of a compression and an upload: it
remembers, per registry, the compressed digest and size of a diff ID and a repository that
holds it. A cache entry is a hint, never trusted alone: the blob is HEADed before use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from isal import isal_zlib

from hubpub.reference import api_host

log = logging.getLogger("hubpub.layers")

GZIP_LEVEL = isal_zlib.ISAL_DEFAULT_COMPRESSION  # 2 of ISA-L's 0 to 3
_READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Compressed:
    digest: str
    size: int
    path: Path


def compress(source: Path, target: Path, level: int = GZIP_LEVEL) -> Compressed:
    """Gzip ``source`` into ``target`` deterministically; ISA-L releases the GIL while it
    compresses, so layers compress in parallel threads."""
    packer = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
    hasher = hashlib.sha256()
    size = 0
    with source.open("rb") as src, target.open("wb") as out:
        while chunk := src.read(_READ_SIZE):
            data = packer.compress(chunk)
            if data:
                hasher.update(data)
                out.write(data)
                size += len(data)
        data = packer.flush()
        hasher.update(data)
        out.write(data)
        size += len(data)
    return Compressed(f"sha256:{hasher.hexdigest()}", size, target)


@dataclass(frozen=True)
class CachedLayer:
    digest: str
    size: int
    repository: str  # a repository path of the registry that held the blob


class LayerCache:
    """(registry, diff ID) -> :class:`CachedLayer`, one small file per entry."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @classmethod
    def default(cls, environ: Mapping[str, str]) -> LayerCache:
        base = environ.get("XDG_CACHE_HOME") or (
            str(Path(environ["HOME"]) / ".cache") if environ.get("HOME") else None
        )
        return cls(Path(base) / "hubpub" / "layers" if base else None)

    def _path(self, registry: str, diff_id: str) -> Path | None:
        if self.folder is None:
            return None
        algorithm, _, hexpart = diff_id.partition(":")
        host = api_host(registry).replace(":", "_")
        if not hexpart.isalnum() or not algorithm.isalnum() or "/" in host or host[:1] == ".":
            return None
        return self.folder / host / algorithm / hexpart

    def get(self, registry: str, diff_id: str) -> CachedLayer | None:
        path = self._path(registry, diff_id)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text())
            return CachedLayer(str(data["digest"]), int(data["size"]), str(data["repository"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, registry: str, diff_id: str, layer: CachedLayer) -> None:
        path = self._path(registry, diff_id)
        if path is None:
            return
        data = {"digest": layer.digest, "size": layer.size, "repository": layer.repository}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.replace(tmp, path)
        except OSError as exc:  # a cache that cannot be written only costs time
            log.debug("cannot write the layer cache at %s: %s", path, exc)

    # A base image's layers: (diff ID, blob digest, size) of a manifest digest and platform.
    # Content-addressed, so an entry never goes stale: the next build on the same base reads
    # no manifest and no config (baselayers.py).

    def _base_path(self, digest: str, platform: str) -> Path | None:
        algorithm, _, hexpart = digest.partition(":")
        key = platform.replace("/", "-")
        if self.folder is None or not hexpart.isalnum() or not algorithm.isalnum():
            return None
        if not key.replace("-", "").replace("_", "").replace(".", "").isalnum():
            return None
        return self.folder / "bases" / algorithm / f"{hexpart}-{key}"

    def get_base(self, digest: str, platform: str) -> list[tuple[str, str, int]] | None:
        path = self._base_path(digest, platform)
        if path is None:
            return None
        try:
            rows = json.loads(path.read_text())
            return [(str(d), str(b), int(s)) for d, b, s in rows]
        except (OSError, ValueError, TypeError):
            return None

    def put_base(self, digest: str, platform: str, rows: list[tuple[str, str, int]]) -> None:
        path = self._base_path(digest, platform)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as handle:
                json.dump(rows, handle)
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("cannot write the layer cache at %s: %s", path, exc)
