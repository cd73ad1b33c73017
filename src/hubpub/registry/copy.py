"""Registry-side copies: an image or an index, with its blobs and child manifests.

Owns the order of a copy (blobs first, child manifests next, the tag last, so a tag never
points at something missing). Each blob is put in place by the client's :class:`Placement`
(a mount from where it is known to live, else a ``HEAD`` and a streamed upload, at most once
per target registry); manifests and blob reads go through the client's public methods (the
:class:`Registry` protocol), so this module imports no client.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from typing import Protocol

from hubpub.reference import Reference, Repository, api_host
from hubpub.registry.challenges import write_scopes
from hubpub.registry.models import Descriptor, Manifest
from hubpub.registry.placement import Placement
from hubpub.registry.upload import Readable


class Registry(Protocol):
    """What a copy reads and writes besides blobs (:class:`RegistryClient` is one)."""

    def get_manifest(self, ref: Reference) -> Manifest: ...

    def put_manifest(
        self, ref: Reference, manifest: Manifest, *, scopes: tuple[str, ...] | None = None
    ) -> str: ...

    def manifest_exists(self, ref: Reference, scopes: tuple[str, ...]) -> bool: ...

    def open_blob(
        self, repo: Repository, digest: str
    ) -> contextlib.AbstractContextManager[Readable]: ...


class Copies:
    """Copies between repositories of one client; thread-safe. Blob transfers run on
    ``transfers``, a pool of their own, so that a copy may run inside the client's ``map``
    without waiting on its own pool (a bounded pool that waits on itself deadlocks)."""

    def __init__(
        self,
        registry: Registry,
        placement: Placement,
        transfers: concurrent.futures.ThreadPoolExecutor,
    ) -> None:
        self._registry = registry
        self._placement = placement
        self._transfers = transfers

    def image(self, src: Reference, dst: Reference, *, manifest: Manifest | None = None) -> str:
        """Copy ``src`` (an image or an index with its children) to ``dst`` registry-side;
        returns the digest. Blobs first, child manifests next, the tag last.

        ``manifest``: the bytes of ``src``, when the caller already holds them (``src`` must
        then name them by digest); saves the GET."""
        if manifest is not None and src.digest != manifest.digest:
            raise ValueError(f"copy_image: the manifest given is {manifest.digest}, not {src}")
        top = manifest if manifest is not None else self._registry.get_manifest(src)
        scopes = self.content(src.repository, dst.repository, top)
        target = (
            Reference(dst.repository, tag=dst.tag)
            if dst.tag
            else dst.repository.with_digest(top.digest)
        )
        return self._registry.put_manifest(target, top, scopes=scopes)

    def content(self, src: Repository, dst: Repository, top: Manifest) -> tuple[str, ...]:
        """Everything ``top`` (held by ``src``) needs in ``dst`` before a tag can point to it:
        its blobs and, for an index, its child manifests by digest (a child that is itself an
        index, with its own children first). Returns the scopes that write ``dst`` (and mount
        from ``src`` on the same registry), for the tag's PUT."""
        same_registry = api_host(src.registry) == api_host(dst.registry)
        scopes = write_scopes(dst, src if same_registry else None)
        if src != dst:
            self._content(src, dst, top, scopes)
        return scopes

    def _content(
        self, src: Repository, dst: Repository, top: Manifest, scopes: tuple[str, ...]
    ) -> None:
        if not top.is_index:
            self._copy_blobs(list(top.blobs), src, dst, scopes)
            return
        images: list[Manifest] = []
        indexes: list[Manifest] = []
        for entry in top.children:
            if self._registry.manifest_exists(dst.with_digest(entry.digest), scopes):
                continue  # a manifest in a repository implies what it lists is there too
            child = self._registry.get_manifest(src.with_digest(entry.digest))
            (indexes if child.is_index else images).append(child)
        # An index may list indexes (image-spec "image-index.md": manifests of any media
        # type); each lands after everything it lists, as the top does, so no manifest ever
        # names one that is missing.
        self._copy_blobs([b for m in images for b in m.blobs], src, dst, scopes)
        for child in images:
            self._registry.put_manifest(dst.with_digest(child.digest), child, scopes=scopes)
        for child in indexes:
            self._content(src, dst, child, scopes)
            self._registry.put_manifest(dst.with_digest(child.digest), child, scopes=scopes)

    def _copy_blobs(
        self,
        blobs: list[Descriptor],
        src: Repository,
        dst: Repository,
        scopes: tuple[str, ...],
    ) -> None:
        unique = list({b.digest: b for b in blobs}.values())
        futures = [self._transfers.submit(self._copy_blob, b, src, dst, scopes) for b in unique]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def _copy_blob(
        self, blob: Descriptor, src: Repository, dst: Repository, scopes: tuple[str, ...]
    ) -> None:
        self._placement.place(
            dst,
            blob.digest,
            blob.size,
            lambda: self._registry.open_blob(src, blob.digest),
            scopes,
            holder=src,
        )
