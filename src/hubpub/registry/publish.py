"""Publish an image whose blobs hubpub holds (a build exported from the engine) into a
repository: every blob, then the manifest by digest. The tags come after, from the caller, so a
tag never points at an image whose blobs or manifest the repository lacks.

Owns the order of a publish. Each blob is put in place by the client's :class:`Placement`,
which writes it at most once per registry: a repository known to hold it (this run wrote it
there, or the caller's hint says so) lends it by a cross-repository mount; else a ``HEAD`` on
the target, and an upload only when it lacks it (docs/registry.md#uploads-of-built-images).
The manifest goes through the client's ``put_manifest``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hubpub.reference import Reference, Repository
from hubpub.registry.challenges import write_scopes
from hubpub.registry.models import Manifest
from hubpub.registry.placement import Placement
from hubpub.registry.upload import Readable


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
        placement: Placement,
        transfers: concurrent.futures.ThreadPoolExecutor,
    ) -> None:
        self._registry = registry
        self._placement = placement
        self._transfers = transfers

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
        self._placement.place(repo, blob.digest, blob.size, blob.open, scopes, hint=hint)
