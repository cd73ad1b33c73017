"""Publish an image whose blobs hubpub holds (a build exported from the engine) into a
repository: every blob, then the manifest by digest. The tags come after, from the caller, so a
tag never points at an image whose blobs or manifest the repository lacks.

Owns the order of a publish and the blob bookkeeping that writes each blob at most once per
registry: a repository known to hold a blob (this run wrote it there, or the caller's hint
says so) lends it by a cross-repository mount; else a ``HEAD`` on the target, and an upload
only when it lacks it (docs/registry.md#uploads-of-built-images). Blob writes go through
:class:`Uploads`, the manifest through the client's ``put_manifest``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hubpub.reference import Reference, Repository, api_host
from hubpub.registry.challenges import write_scopes
from hubpub.registry.models import Manifest
from hubpub.registry.upload import Readable, Uploads


@dataclass(frozen=True)
class LocalBlob:
    """A blob hubpub can read: ``open()`` gives its bytes from the first one, every time."""

    digest: str
    size: int
    open: Callable[[], contextlib.AbstractContextManager[Readable]]


class Registry(Protocol):
    def put_manifest(
        self, ref: Reference, manifest: Manifest, *, scopes: tuple[str, ...] | None = None
    ) -> str: ...


class Publishes:
    """Publishes of local images through one client; thread-safe. Blob transfers run on
    ``transfers``, the client's pool for blobs."""

    def __init__(
        self,
        registry: Registry,
        uploads: Uploads,
        transfers: concurrent.futures.ThreadPoolExecutor,
    ) -> None:
        self._registry = registry
        self._uploads = uploads
        self._transfers = transfers
        self._lock = threading.Lock()
        # (API host, digest) → repositories of that registry known to hold the blob.
        self._homes: dict[tuple[str, str], set[str]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def image(
        self,
        repo: Repository,
        manifest: Manifest,
        blobs: Sequence[LocalBlob],
        homes: Mapping[str, str] | None = None,
    ) -> tuple[str, ...]:
        """Write ``blobs`` (every blob ``manifest`` names) into ``repo``, then ``manifest`` by
        digest. ``homes``: digest → a repository path of ``repo``'s registry said to hold it
        (a hint: a mount that fails falls back to HEAD and upload). Returns the scopes that
        write ``repo``, for the tags' PUTs."""
        scopes = write_scopes(repo)
        hints = dict(homes or {})
        futures = [
            self._transfers.submit(self._blob, blob, repo, scopes, hints.get(blob.digest))
            for blob in {b.digest: b for b in blobs}.values()
        ]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        self._registry.put_manifest(repo.with_digest(manifest.digest), manifest, scopes=scopes)
        return scopes

    def _blob(
        self, blob: LocalBlob, repo: Repository, scopes: tuple[str, ...], hint: str | None
    ) -> None:
        key = (api_host(repo.registry), blob.digest)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
            homes = self._homes.setdefault(key, set())
        with lock:  # the set of one key is only touched holding that key's lock
            if repo.path in homes:
                return
            others = sorted(homes) or ([hint] if hint and hint != repo.path else [])
            location: str | None = None
            if others and not self._uploads.mounts_refused(repo.registry):
                origin = Repository(repo.registry, others[0])
                location = self._uploads.mount(
                    repo, blob.digest, origin, scopes=write_scopes(repo, origin)
                )
                if location is None:
                    homes.add(repo.path)
                    return
            if self._uploads.exists(repo, blob.digest, scopes=scopes):
                if location is not None:
                    self._uploads.cancel(repo, location, scopes)
            else:
                self._uploads.upload(
                    repo, blob.digest, blob.size, blob.open, scopes=scopes, location=location
                )
            homes.add(repo.path)
