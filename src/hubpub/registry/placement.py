"""Putting one blob into a repository, the one way copies and publishes both do it, and what a
run learns of where blobs live.

A repository of the same registry known to hold the blob lends it by a cross-repository mount,
asked first without a ``HEAD``: a mount is answered 201 whether the blob was already in the
target or only in the origin (distribution-spec "Mounting a blob from another repository"), so
the usual case costs one round trip, as in docker push. Only a 202 (the origin lacks it) asks
whether the target has it; an upload only when it does not (docs/registry.md#blob-mounts).
One :class:`Placement` per client: a blob a publish wrote is mounted by a later copy, and the
other way round, and each blob crosses the network at most once per target registry.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from hubpub.reference import Repository, api_host
from hubpub.registry.challenges import write_scopes
from hubpub.registry.upload import Readable, Uploads

Opener = Callable[[], contextlib.AbstractContextManager[Readable]]


class Placement:
    """Blob writes through ``uploads``, with the repositories of each registry known to hold
    each blob; thread-safe (one lock per registry and digest)."""

    def __init__(self, uploads: Uploads) -> None:
        self._uploads = uploads
        self._lock = threading.Lock()
        # (API host, digest) → repositories of that registry known to hold the blob.
        self._homes: dict[tuple[str, str], set[str]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def place(
        self,
        dst: Repository,
        digest: str,
        size: int,
        opener: Opener,
        scopes: tuple[str, ...],
        *,
        holder: Repository | None = None,
        hint: str | None = None,
    ) -> None:
        """Make ``dst`` hold the blob. ``holder``: a repository that does hold it (a copy's
        source: on ``dst``'s registry it lends the blob, and ``scopes`` already cover a
        mount from it); ``hint``: a repository path of ``dst``'s registry said to hold it (a
        mount that finds it absent falls back to HEAD and upload)."""
        key = (api_host(dst.registry), digest)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
            homes = self._homes.setdefault(key, set())
        with lock:  # the set of one key is only touched holding that key's lock
            if dst.path in homes:
                return
            absent = False  # a HEAD here said so already
            if hint == dst.path and holder is None:
                # Said to be there already (the engine pushed it there: a staged build,
                # docs/registry.md#large-images-the-staging-reference): a HEAD says so,
                # whatever other repository a concurrent publish has meanwhile put it in.
                if self._uploads.exists(dst, digest, scopes=scopes):
                    homes.add(dst.path)
                    return
                absent = True
            if holder is not None and api_host(holder.registry) == key[0]:
                homes.add(holder.path)
            if holder is not None and holder.path in homes:
                other: str | None = holder.path
            else:
                other = next(iter(sorted(homes)), None) or (hint if hint != dst.path else None)
            location: str | None = None
            if other is not None and not self._uploads.mounts_refused(dst.registry):
                origin = Repository(dst.registry, other)
                mount_scopes = scopes if origin == holder else write_scopes(dst, origin)
                location = self._uploads.mount(dst, digest, origin, scopes=mount_scopes)
                if location is None:
                    homes.add(dst.path)
                    return
            if not absent and self._uploads.exists(dst, digest, scopes=scopes):
                if location is not None:
                    self._uploads.cancel(dst, location, scopes)
            else:
                self._uploads.upload(dst, digest, size, opener, scopes=scopes, location=location)
            homes.add(dst.path)
