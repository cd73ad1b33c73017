"""The registry client: manifests, tags, blobs and registry-side copies (docs/registry.md).

Owns the client's lifecycle (its thread pools, ``close``), the endpoint of each registry
(options, credentials, login hint), manifests, tags and blob reads. Uploads (upload.py) and
copies (copy.py) are delegated; every request goes through the transport's public methods.

Requests per operation (OCI distribution-spec v1.1; docs/registry.md):

- first contact with a registry: ``GET /v2/`` (scheme, and the challenge for every later token)
- a tag's digest: one ``HEAD /v2/<name>/manifests/<tag>`` (a HEAD is not a Docker Hub pull);
  a ``GET`` only when the registry omits ``Docker-Content-Digest`` or the body is needed
- tokens: one per (realm, service, scope set), cached until it expires
- copy: source manifest(s) ``GET``; per blob a mount when both repositories share a registry
  (a ``HEAD`` on the target only when the mount is answered 202), else a ``HEAD`` on the
  target and a streamed upload; manifests ``PUT`` children first and the tag last, so a tag
  never points at something missing
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import requests

from hubpub.errors import RegistryError
from hubpub.reference import Reference, Repository, api_host, credential_host
from hubpub.registry import credentials as creds_mod
from hubpub.registry.auth import Credentials
from hubpub.registry.challenges import read_scopes, write_scopes
from hubpub.registry.copy import Copies
from hubpub.registry.models import (
    MANIFEST_ACCEPT,
    MANIFEST_MEDIA_TYPES,
    Manifest,
    ManifestInfo,
    RegistryOptions,
    digest_of,
    verify_digest,
)
from hubpub.registry.placement import Placement
from hubpub.registry.publish import LocalBlob, Publishes
from hubpub.registry.retry import RetryPolicy
from hubpub.registry.transport import (
    Endpoint,
    ResponseHook,
    Transport,
)
from hubpub.registry.upload import DEFAULT_CHUNK_SIZE, Opener, Readable, Uploads
from hubpub.registry.urls import parse_link_next

log = logging.getLogger("hubpub.registry")

T = TypeVar("T")
R = TypeVar("R")

# A config blob or a manifest is small; get_blob refuses more so a typo cannot fill memory.
SMALL_BLOB_LIMIT = 32 * 1024 * 1024


class RegistryClient:
    """Talks to OCI registries. Thread-safe; use as a context manager.

    ``options`` maps registry names (as in references: ``docker.io``, ``localhost:5000``) to
    :class:`RegistryOptions`. ``environ`` is the environment for credentials, ``HOME`` and
    helpers (``os.environ`` by default); ``docker_config`` overrides the Docker config folder.
    """

    def __init__(
        self,
        options: Mapping[str, RegistryOptions] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        docker_config: Path | None = None,
        max_workers: int = 16,
        per_registry: int = 8,
        retry: RetryPolicy | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self._options = dict(options or {})
        self._environ: Mapping[str, str] = dict(os.environ if environ is None else environ)
        self._docker_config_folder = docker_config
        self._docker_config: creds_mod.DockerConfig | None = None
        self._hooks: list[ResponseHook] = []
        self._policy = retry or RetryPolicy()
        self._transport = Transport(
            self._policy,
            self._hooks,
            self._environ,
            self._options,
            pool_size=max_workers,
            per_registry=per_registry,
        )
        self._endpoints: dict[str, Endpoint] = {}
        self._uploads = Uploads(self._transport, self._request, self._policy, chunk_size)
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, "hubpub-registry")
        # A separate pool for blob transfers, so copy_image may run inside map() without
        # waiting on its own pool (a bounded pool that waits on itself deadlocks).
        self._transfers = concurrent.futures.ThreadPoolExecutor(max_workers, "hubpub-blobs")
        # One record of where blobs live: a copy mounts what a publish wrote, and back.
        placement = Placement(self._uploads)
        self._copies = Copies(self, placement, self._transfers)
        self._publishes = Publishes(self, placement, self._transfers)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self, *, wait: bool = True) -> None:
        """Release the pools and connections. ``wait=False``: do not wait for requests in
        flight (the caller is reporting an error and will not read their answers)."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._transfers.shutdown(wait=wait, cancel_futures=True)
        self._transport.close()

    def add_response_hook(self, hook: Callable[[requests.Response], None]) -> None:
        """Call ``hook`` with every HTTP response, token requests and redirects included."""
        self._hooks.append(hook)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Run ``fn`` over ``items`` on the client's bounded pool; results in order, and the
        first exception is raised."""
        return list(self._pool.map(fn, items))

    # -- endpoints -------------------------------------------------------------------------

    def options_for(self, registry: str) -> RegistryOptions:
        for name in (registry, api_host(registry), credential_host(registry)):
            if name in self._options:
                return self._options[name]
        return RegistryOptions()

    def _read_docker_config(self) -> creds_mod.DockerConfig:
        """The Docker config, read once for the client's whole life."""
        with self._lock:
            if self._docker_config is None:
                path = creds_mod.docker_config_file(self._environ, self._docker_config_folder)
                self._docker_config = creds_mod.DockerConfig(path, self._environ)
            return self._docker_config

    def _credentials(self, registry: str, options: RegistryOptions) -> Credentials | None:
        return creds_mod.find_credentials(
            registry, options, self._environ, self._read_docker_config
        )

    def _endpoint(self, registry: str) -> Endpoint:
        host = api_host(registry)
        with self._lock:
            ep = self._endpoints.get(host)
            if ep is None:
                options = self.options_for(registry)
                ep = self._transport.new_endpoint(
                    credential_host(registry),
                    host,
                    options,
                    lambda: self._credentials(registry, options),
                    creds_mod.login_hint(registry, options),
                )
                self._endpoints[host] = ep
        return ep

    def _ready(self, registry: str) -> Endpoint:
        return self._transport.ready(self._endpoint(registry))

    def _request(
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
    ) -> tuple[Endpoint, requests.Response]:
        ep = self._endpoint(registry)
        response = self._transport.request(
            ep, method, path_or_url, scopes, headers=headers, data=data, stream=stream, retry=retry
        )
        return ep, response

    def _fail(
        self, ep: Endpoint, response: requests.Response, scopes: tuple[str, ...], what: str
    ) -> RegistryError:
        return self._transport.status_error(ep, response, scopes, what)

    # -- manifests -------------------------------------------------------------------------

    def head_manifest(self, ref: Reference) -> ManifestInfo | None:
        """The digest, media type and size of ``ref``, or None when the tag (or repository)
        does not exist. One HEAD; a GET only if the registry omits the digest header."""
        scopes = read_scopes(ref.repository)
        ep, response = self._manifest_request("HEAD", ref, scopes)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(ep, response, scopes, f"manifest {ref}")
        digest = response.headers.get("Docker-Content-Digest")
        media_type = _media_type(response)
        length = response.headers.get("Content-Length", "")
        if not digest or not media_type or not length.isdigit():
            # distribution-spec: the header is a SHOULD; without it, hash the body ourselves.
            return self.get_manifest(ref).info
        if ref.digest is not None and digest != ref.digest:
            raise RegistryError(f"registry {ep.registry} answered digest {digest} for {ref}")
        return ManifestInfo(digest=digest, media_type=media_type, size=int(length))

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        """``head_manifest`` for every reference, concurrently (one HEAD each)."""
        unique = list(dict.fromkeys(refs))
        return dict(zip(unique, self.map(self.head_manifest, unique), strict=True))

    def get_manifest(self, ref: Reference) -> Manifest:
        """The manifest's exact bytes, verified against the digest asked for, or the one the
        registry names, or (neither given) hashed to find it."""
        scopes = read_scopes(ref.repository)
        what = f"manifest {ref}"
        ep, response = self._manifest_request("GET", ref, scopes)
        if response.status_code != 200:
            raise self._fail(ep, response, scopes, what)
        raw = response.content
        expected = ref.digest or response.headers.get("Docker-Content-Digest")
        if expected:
            verify_digest(raw, expected, f"{what} from {ep.registry}")
        manifest = Manifest(
            raw=raw,
            media_type=_media_type(response) or "unknown",
            digest=expected or digest_of(raw),
        )
        try:
            declared = manifest.json().get("mediaType")
        except RegistryError as exc:  # a body that is not JSON: an HTML page, a proxy's answer
            raise RegistryError(
                f"{what} from registry {ep.registry}: {exc} (content type "
                f"{response.headers.get('Content-Type') or 'none'})",
                hint="check that the address is a container registry",
            ) from None
        if (
            manifest.media_type not in MANIFEST_MEDIA_TYPES
            and isinstance(declared, str)
            and declared
        ):
            # A registry that answers "application/json" leaves the document to say what it is.
            manifest = dataclasses.replace(manifest, media_type=declared)
        return manifest

    def put_manifest(
        self, ref: Reference, manifest: Manifest, *, scopes: tuple[str, ...] | None = None
    ) -> str:
        """PUT the exact bytes with their media type; the registry's digest must be ours."""
        scopes = scopes or write_scopes(ref.repository)
        what = f"manifest {ref}"
        ep, response = self._request(
            ref.registry,
            "PUT",
            f"/v2/{ref.path}/manifests/{ref.identifier}",
            scopes,
            headers={"Content-Type": manifest.media_type},
            data=manifest.raw,
        )
        if response.status_code not in (200, 201, 202):
            raise self._fail(ep, response, scopes, what)
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != manifest.digest:
            raise RegistryError(
                f"registry {ep.registry} stored {what} as {answered}, not {manifest.digest}",
                hint="the registry rewrote the manifest; hubpub refuses to tag an image it did "
                "not push",
            )
        return manifest.digest

    def manifest_exists(self, ref: Reference, scopes: tuple[str, ...]) -> bool:
        """Whether ``ref`` exists (a HEAD; anything but 200 or 404 is an error)."""
        ep, response = self._manifest_request("HEAD", ref, scopes)
        return self._transport.exists(ep, response, scopes, f"manifest {ref}")

    def _manifest_request(
        self, method: str, ref: Reference, scopes: tuple[str, ...]
    ) -> tuple[Endpoint, requests.Response]:
        """A HEAD or GET of a manifest, accepting every manifest type: with fewer, a tag of an
        index answers with another digest (docs/registry.md#oci-index-accept)."""
        return self._request(
            ref.registry,
            method,
            f"/v2/{ref.path}/manifests/{ref.identifier}",
            scopes,
            headers={"Accept": MANIFEST_ACCEPT},
        )

    # -- tags ------------------------------------------------------------------------------

    def list_tags(
        self, repo: Repository, *, missing_ok: bool = False, page_size: int = 1000
    ) -> list[str]:
        """Every tag, following ``Link: <...>; rel="next"`` as given (relative, absolute or
        opaque). ``missing_ok``: an unknown repository has no tags instead of an error."""
        scopes = read_scopes(repo)
        url: str | None = f"/v2/{repo.path}/tags/list?n={page_size}"
        tags: list[str] = []
        while url is not None:
            ep, response = self._request(repo.registry, "GET", url, scopes)
            if response.status_code == 404 and missing_ok:
                return []
            if response.status_code != 200:
                raise self._fail(ep, response, scopes, f"tags of {repo}")
            try:
                page = response.json().get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"registry {ep.registry} sent a malformed tag list") from None
            tags.extend(str(t) for t in page)
            url = parse_link_next(response.headers.get("Link"), response.url)
        return tags

    # -- blobs -----------------------------------------------------------------------------

    def blob_exists(
        self, repo: Repository, digest: str, *, scopes: tuple[str, ...] | None = None
    ) -> bool:
        return self._uploads.exists(repo, digest, scopes=scopes)

    def get_blob(self, repo: Repository, digest: str) -> bytes:
        """A small blob (an image config), verified against its digest. A body cut short
        is fetched again, like any other reset (the retry covers reading, not only sending)."""
        scopes = read_scopes(repo)
        what = f"blob {digest} of {repo}"
        path = f"/v2/{repo.path}/blobs/{digest}"

        def fetch() -> bytes:
            ep, response = self._request(repo.registry, "GET", path, scopes, stream=True)
            with response:
                if response.status_code != 200:
                    _ = response.content
                    raise self._fail(ep, response, scopes, what)
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > SMALL_BLOB_LIMIT:
                    raise RegistryError(f"{what} is {length} bytes; get_blob is for small blobs")
                return response.content

        data = self._transport.retry_body(self._ready(repo.registry), "GET", path, fetch)
        verify_digest(data, digest, what)
        return data

    @contextlib.contextmanager
    def open_blob(self, repo: Repository, digest: str) -> Iterator[Readable]:
        """A stream of the blob's bytes (redirects to storage followed without credentials)."""
        scopes = read_scopes(repo)
        ep, response = self._request(
            repo.registry, "GET", f"/v2/{repo.path}/blobs/{digest}", scopes, stream=True
        )
        with response:
            if response.status_code != 200:
                _ = response.content
                raise self._fail(ep, response, scopes, f"blob {digest} of {repo}")
            yield response.raw

    def mount_blob(
        self,
        repo: Repository,
        digest: str,
        from_repo: Repository,
        *,
        scopes: tuple[str, ...] | None = None,
    ) -> str | None:
        """Cross-repository mount: None when mounted, else the URL of an upload session
        (:meth:`Uploads.mount`)."""
        return self._uploads.mount(repo, digest, from_repo, scopes=scopes)

    def upload_blob_file(self, repo: Repository, path: Path, digest: str | None = None) -> str:
        """Upload a file from disk (streamed), unless the repository has it; returns its
        digest (:meth:`Uploads.upload_file`)."""
        return self._uploads.upload_file(repo, path, digest)

    def upload_blob(
        self,
        repo: Repository,
        digest: str,
        size: int,
        opener: Opener,
        *,
        scopes: tuple[str, ...] | None = None,
        location: str | None = None,
    ) -> None:
        """Stream ``size`` bytes from ``opener()`` into ``repo`` as ``digest``
        (:meth:`Uploads.upload`)."""
        self._uploads.upload(repo, digest, size, opener, scopes=scopes, location=location)

    # -- copies ----------------------------------------------------------------------------

    def copy_image(
        self, src: Reference, dst: Reference, *, manifest: Manifest | None = None
    ) -> str:
        """Copy ``src`` to ``dst`` registry-side; returns the digest (:meth:`Copies.image`)."""
        return self._copies.image(src, dst, manifest=manifest)

    def copy_content(self, src: Repository, dst: Repository, top: Manifest) -> tuple[str, ...]:
        """Everything ``top`` needs in ``dst`` before a tag can point to it; returns the
        scopes for the tag's PUT (:meth:`Copies.content`)."""
        return self._copies.content(src, dst, top)

    # -- publishes of local images ---------------------------------------------------------

    def publish_image(
        self,
        repo: Repository,
        manifest: Manifest,
        blobs: Sequence[LocalBlob],
        homes: Mapping[str, str] | None = None,
    ) -> tuple[str, ...]:
        """Write a local image's blobs into ``repo``, then its manifest by digest; returns
        the scopes for the tags' PUTs (:meth:`Publishes.image`)."""
        return self._publishes.image(repo, manifest, blobs, homes)


def _media_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip()
