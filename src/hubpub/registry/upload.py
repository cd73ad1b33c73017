"""Blob uploads into a registry: mounts, upload sessions, monolithic and chunked PUTs.

Owns every request that writes a blob (distribution-spec "Pushing blobs"): whether the
repository has it (a ``HEAD``), a cross-repository mount and the registries that refused
one, an upload session and its restarts, the streamed and hashed body, and cancelling a
session that is not needed. Below the client and above the transport: it sends through
:meth:`Transport.request` only, on the endpoint the client hands it for a registry.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests

from hubpub.errors import RegistryError, TransportError
from hubpub.logs import mask
from hubpub.reference import Repository, api_host
from hubpub.registry.challenges import read_scopes, write_scopes
from hubpub.registry.models import new_hasher
from hubpub.registry.retry import RETRY_STATUSES, RetryPolicy
from hubpub.registry.transport import BodyConsumed, Endpoint, Transport

log = logging.getLogger("hubpub.registry")

# Above this size a blob goes up in PATCH chunks (distribution-spec "Pushing a blob in
# chunks"); below, in one PUT. Either way it streams: a chunk is never held in memory.
DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024

_READ_SIZE = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _BodyReader:
    """A request body that streams ``size`` bytes from ``source`` and hashes them on the way.

    ``__len__`` gives requests the Content-Length (a PUT of unknown length would go chunked,
    which some registries refuse); ``__iter__`` makes requests treat it as a stream.
    """

    def __init__(self, source: Readable, size: int, hasher: Any) -> None:
        self._source = source
        self._left = size
        self._size = size
        self._hasher = hasher

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._source.read(min(want, _READ_SIZE))
        if not data:
            raise OSError(f"source ended {self._left} bytes early")
        self._left -= len(data)
        self._hasher.update(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(_READ_SIZE):
            yield chunk


class _UploadInterrupted(Exception):
    """One upload session failed in a way a fresh session may not (5xx, reset, 416)."""


Opener = Callable[[], contextlib.AbstractContextManager[Readable]]


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    """``url`` with ``extra`` appended to its query, keeping the query the registry put there
    (distribution's ``_state`` token; docs/registry.md#uploads)."""
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class Request(Protocol):
    """How the client sends a request to a registry (``RegistryClient._request``)."""

    def __call__(
        self,
        registry: str,
        method: str,
        path_or_url: str,
        scopes: tuple[str, ...],
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        stream: bool = False,
        retry: bool = True,
    ) -> tuple[Endpoint, requests.Response]: ...


class Uploads:
    """Blob writes to every registry of one client; thread-safe.

    ``request`` is the client's: it sends through the transport to the endpoint the client
    keeps for the registry (one per API host)."""

    def __init__(
        self,
        transport: Transport,
        request: Request,
        policy: RetryPolicy,
        chunk_size: int,
    ) -> None:
        self._transport = transport
        self._request = request
        self._policy = policy
        self._chunk_size = chunk_size
        self._lock = threading.Lock()
        # Registries (API hosts) that refused a mount outright: their copies ask HEAD first
        # and upload, without trying to mount every blob again.
        self._no_mounts: set[str] = set()

    def mounts_refused(self, registry: str) -> bool:
        """The registry refused a mount outright earlier in this run."""
        with self._lock:
            return api_host(registry) in self._no_mounts

    def exists(
        self, repo: Repository, digest: str, *, scopes: tuple[str, ...] | None = None
    ) -> bool:
        scopes = scopes or read_scopes(repo)
        ep, response = self._request(
            repo.registry, "HEAD", f"/v2/{repo.path}/blobs/{digest}", scopes
        )
        return self._transport.exists(ep, response, scopes, f"blob {digest} in {repo}")

    def mount(
        self,
        repo: Repository,
        digest: str,
        from_repo: Repository,
        *,
        scopes: tuple[str, ...] | None = None,
    ) -> str | None:
        """Cross-repository mount: None when mounted (201), else the URL of an upload session
        to upload the blob through: the one the registry opened instead (202,
        distribution-spec "Mounting a blob from another repository"), or a fresh one when the
        registry refused the mount outright (ECR without the feature;
        docs/registry.md#blob-mounts)."""
        scopes = scopes or write_scopes(repo, from_repo)
        query = urlencode({"mount": digest, "from": from_repo.path})
        ep, response = self._request(
            repo.registry, "POST", f"/v2/{repo.path}/blobs/uploads/?{query}", scopes
        )
        if response.status_code == 201:
            return None
        if response.status_code == 202 and response.headers.get("Location"):
            return urljoin(response.url, response.headers["Location"])
        if response.status_code in (401, 403):
            raise self._transport.status_error(ep, response, scopes, f"blob upload to {repo}")
        # ECR and others refuse mounts they do not support: upload instead
        # (docs/registry.md#blob-mounts).
        log.info("mount of %s into %s refused (%s); uploading", digest, repo, response.status_code)
        if 400 <= response.status_code < 500 and response.status_code != 429:
            # A refusal of the feature (ECR answers 4xx); a 429 or a 5xx is the moment's.
            with self._lock:
                self._no_mounts.add(api_host(repo.registry))
        return self.start(repo, scopes)

    def start(self, repo: Repository, scopes: tuple[str, ...]) -> str:
        ep, response = self._request(
            repo.registry, "POST", f"/v2/{repo.path}/blobs/uploads/", scopes
        )
        location = response.headers.get("Location")
        if response.status_code != 202 or not location:
            raise self._transport.status_error(ep, response, scopes, f"blob upload to {repo}")
        return urljoin(response.url, location)

    def upload_file(self, repo: Repository, path: Path, digest: str | None = None) -> str:
        """Upload a file from disk (streamed), unless the repository has it; returns its
        digest (computed by one read when not given)."""
        if digest is None:
            hasher = new_hasher("sha256:")
            with path.open("rb") as handle:
                while chunk := handle.read(_READ_SIZE):
                    hasher.update(chunk)
            digest = f"sha256:{hasher.hexdigest()}"
        scopes = write_scopes(repo)
        if self.exists(repo, digest, scopes=scopes):
            return digest
        size = path.stat().st_size
        self.upload(repo, digest, size, lambda: path.open("rb"), scopes=scopes)
        return digest

    def upload(
        self,
        repo: Repository,
        digest: str,
        size: int,
        opener: Opener,
        *,
        scopes: tuple[str, ...] | None = None,
        location: str | None = None,
    ) -> None:
        """Stream ``size`` bytes from ``opener()`` into ``repo`` as ``digest``.

        Monolithic (POST, then PUT ``?digest=``) up to the chunk size, else PATCH chunks
        with ``Content-Range``. A failed PATCH or PUT cannot be resent (the session's state is
        unknown), so the whole session restarts from the first byte with a fresh ``opener()``
        (distribution-spec "Error codes": BLOB_UPLOAD_INVALID / 416 end a session).
        """
        scopes = scopes or write_scopes(repo)
        attempts = self._policy.upload_attempts
        last: Exception | None = None
        # An explicit loop rather than stamina: each attempt differs (check whether the last
        # PUT landed, open a new session, re-open the source), and every request inside
        # already has stamina's retries; the wait here only spaces whole sessions.
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                policy = self._policy
                time.sleep(min(policy.wait_max, policy.wait_initial * 2 ** (attempt - 2)))
                if self.exists(repo, digest, scopes=scopes):
                    return  # the previous PUT landed, only its answer was lost
                location = None
            # The session's URL as it moves on (each PATCH answers the next one): a failed
            # session is cancelled there rather than left open until the registry expires it.
            current: list[str] = []
            try:
                current.append(location or self.start(repo, scopes))
                self._session(repo, digest, size, opener, scopes, current)
                return
            except (_UploadInterrupted, TransportError, BodyConsumed, OSError) as exc:
                if current:
                    self.cancel(repo, current[-1], scopes)
                last = exc
                log.info(
                    "upload of %s to %s failed (%s); attempt %d of %d",
                    digest,
                    repo,
                    mask(str(exc)) or type(exc).__name__,
                    attempt,
                    attempts,
                )
            except BaseException:
                # Refused, or interrupted (Ctrl-C): no other attempt, and the session is not
                # needed any more.
                if current:
                    self.cancel(repo, current[-1], scopes)
                raise
        raise TransportError(
            f"upload of blob {digest} to {repo} failed {attempts} times: "
            f"{mask(str(last)) or type(last).__name__}",
            hint="the registry or the network is failing; nothing was tagged, try again later",
        )

    def _session(
        self,
        repo: Repository,
        digest: str,
        size: int,
        opener: Opener,
        scopes: tuple[str, ...],
        where: list[str],
    ) -> None:
        """One session, at ``where[-1]``; each new URL the registry answers is appended."""
        location = where[-1]
        hasher = new_hasher(digest)
        with opener() as source:
            reader = _BodyReader(source, size, hasher)
            if size > self._chunk_size:
                offset = 0
                while offset < size:
                    length = min(self._chunk_size, size - offset)
                    chunk = _BodyReader(reader, length, new_hasher(digest))
                    ep, response = self._request(
                        repo.registry,
                        "PATCH",
                        location,
                        scopes,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{offset + length - 1}",
                        },
                        data=chunk,
                        retry=False,
                    )
                    self._check(ep, response, scopes, repo, expect=(202,))
                    location = urljoin(response.url, response.headers.get("Location", location))
                    where.append(location)
                    offset += length
                body: _BodyReader | None = None
            else:
                # An empty body as a stream would go out chunked, which some registries refuse.
                body = reader if size else None
            ep, response = self._request(
                repo.registry,
                "PUT",
                _with_query(location, {"digest": digest}),
                scopes,
                headers={"Content-Type": "application/octet-stream"},
                data=body,
                retry=False,
            )
            self._check(ep, response, scopes, repo, expect=(201, 204))
        actual = f"{digest.partition(':')[0]}:{hasher.hexdigest()}"
        if actual != digest:
            raise RegistryError(f"blob {digest} read from its source hashes to {actual}")
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise RegistryError(f"registry {ep.registry} stored blob {digest} as {answered}")

    def _check(
        self,
        ep: Endpoint,
        response: requests.Response,
        scopes: tuple[str, ...],
        repo: Repository,
        expect: tuple[int, ...],
    ) -> None:
        if response.status_code in expect:
            return
        if response.status_code in RETRY_STATUSES or response.status_code in (404, 416):
            # 404 BLOB_UPLOAD_UNKNOWN: the session expired or was lost; 416: out of order.
            raise _UploadInterrupted(f"HTTP {response.status_code}")
        raise self._transport.status_error(ep, response, scopes, f"blob upload to {repo}")

    def cancel(self, repo: Repository, location: str, scopes: tuple[str, ...]) -> None:
        """Close an upload session that is not needed (distribution-spec "Canceling an
        upload"). Best effort: a registry expires abandoned sessions anyway."""
        try:
            _, response = self._request(repo.registry, "DELETE", location, scopes, retry=False)
            response.close()
        except RegistryError as exc:
            log.debug("cancelling an upload to %s: %s", repo, exc)
