"""The Docker engine: pulls of bases, builds, tags, exports, and pushes to a staging reference
(the engine package's ``Engine``).

A built image is exported and uploaded by apply, or, when large, pushed by the engine to a
staging reference and composed registry-side (docs/registry.md#uploads-of-built-images). The
SDK's quirks this module absorbs (docs/registry.md#docker-sdk-quirks):

- Build, pull and push errors arrive as lines of the stream (``errorDetail``), not as
  exceptions: every line is read, and the first error becomes an
  :class:`~hubpub.errors.EngineError`.
- ``push`` without ``tag`` pushes every local tag of the repository: the tag is always given.
- The pushed manifest digest is in the ``aux`` line (classic image store) and in the status
  line ``"<tag>: digest: sha256:… size: N"``; either is enough, both are read.
- An image ID is a config digest (classic image store) or a manifest digest (containerd
  store); it is never compared with a registry digest, only used as a stand-in for an
  unpullable base image.

A build goes to the engine's BuildKit (buildkit.py) unless the request asks for the classic
builder, or the engine has no BuildKit (API < 1.39, or ``version=2`` refused) and the request
left the choice to hubpub (``builder = "auto"``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tarfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

from hubpub.engine import buildkit
from hubpub.engine.buildkit import BuildRequest, LineCallback
from hubpub.engine.sdk import sdk_module
from hubpub.engine.streams import _drain, _first_line, _report, _Stream, read_result
from hubpub.errors import EngineError, HubpubError
from hubpub.logs import mask
from hubpub.reference import Reference, Repository, parse_reference

if TYPE_CHECKING:
    import docker


def _sdk() -> Any:
    return sdk_module("docker")


def _errors() -> Any:
    return sdk_module("docker.errors")


_DIGEST_LINE = re.compile(r"digest: (sha256:[0-9a-f]{64})")
_BUILT_LINE = re.compile(r"Successfully built ([0-9a-f]{12,64})")


@dataclass(frozen=True)
class PushAuth:
    """Credentials for the engine's pulls of base images (the engine reads no Docker config of
    its own)."""

    username: str
    # Out of the repr: a --debug traceback or a log line may print the object.
    password: str = field(repr=False)
    identity_token: str | None = field(default=None, repr=False)

    def as_auth_config(self, server: str) -> dict[str, str]:
        if self.identity_token:
            return {"identitytoken": self.identity_token, "serveraddress": server}
        return {"username": self.username, "password": self.password, "serveraddress": server}


# Pushes of a name another run re-tags before one is known to be this run's image.
_PUSH_ATTEMPTS = 5


class Engine:
    """A connection to one Docker engine (``DOCKER_HOST`` and its TLS variables, or the
    default socket). Thread-safe: the SDK's client is shared by the executor's workers."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client
        self._err = _errors()
        self._streams = buildkit.Streams()
        self._buildkit: bool | None = None  # known once a build asked
        # How many builds at once: a builder's max_builds (engine/pool.py); else no bound.
        self._build_slots: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()

    def limit_builds(self, count: int) -> None:
        """At most ``count`` builds at once on this engine; more wait for a free slot."""
        self._build_slots = threading.BoundedSemaphore(count)

    def cancel_builds(self) -> None:
        """Stop every running BuildKit build now (Ctrl-C): close their streams."""
        self._streams.close_all()

    def uses_buildkit(self, builder: buildkit.Builder) -> bool:
        """Whether a build asking for ``builder`` goes to BuildKit on this engine."""
        if builder == "classic":
            return False
        if self._buildkit is None:
            self._buildkit = buildkit.supports_buildkit(str(self._client.api.api_version))
        if builder == "buildkit" and not self._buildkit:
            raise EngineError(
                f'builder = "buildkit", but the engine\'s API {self._client.api.api_version} '
                "has no BuildKit (1.39 or later has)",
                hint='set builder = "classic" or "auto", or upgrade the engine',
            )
        return self._buildkit

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Engine:
        errors = _errors()
        env = dict(os.environ if environ is None else environ)
        try:
            client = _sdk().from_env(environment=env, timeout=600)
        except errors.DockerException:
            raise _unreachable(env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST) from None
        return cls(client)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> None:
        try:
            self._client.api.ping()
        except (self._err.DockerException, requests.RequestException):
            raise _unreachable(str(self._client.api.base_url)) from None

    def image_id(self, name: str) -> str | None:
        """The local image ID of ``name``, or None when the engine does not have it."""
        try:
            data = self._client.api.inspect_image(name)
        except self._err.NotFound:  # ImageNotFound is one
            return None
        except (self._err.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot inspect image {name}: {_first_line(exc)}") from None
        return str(data["Id"])

    def image_facts(self, image_id: str) -> tuple[int, tuple[str, ...]]:
        """The size of ``image_id`` in bytes (uncompressed, base included) and its diff IDs."""
        try:
            data = self._client.api.inspect_image(image_id)
        except (self._err.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot inspect image {image_id}: {_first_line(exc)}") from None
        layers = (data.get("RootFS") or {}).get("Layers") or ()
        return int(data.get("Size") or 0), tuple(str(layer) for layer in layers)

    def push(
        self,
        image: str,
        ref: Reference,
        auth: PushAuth | None = None,
        on_line: LineCallback | None = None,
    ) -> str:
        """Tag ``image`` as ``ref``, push that one tag, untag it; return the pushed manifest
        digest, which is ``image``'s.

        Another apply on the same engine may re-tag the name between this tag and the push,
        which then sends the other run's image. The engine records the digest it pushed on the
        image it pushed, so the push is ``image``'s only when ``image`` carries that digest;
        else it is tagged and pushed again."""
        if ref.tag is None:
            raise EngineError(f"cannot push {ref}: a tag is required")
        repository, name = str(ref.repository), f"{ref.repository}:{ref.tag}"
        auth_config = auth.as_auth_config(ref.registry) if auth is not None else None
        api = self._client.api
        for _attempt in range(_PUSH_ATTEMPTS):
            self.tag(image, name)
            try:
                stream = api.push(
                    repository, tag=ref.tag, stream=True, decode=True, auth_config=auth_config
                )
                digest = self._read_push(ref, stream, on_line)
                data = api.inspect_image(image)
            except EngineError:
                raise
            except (self._err.DockerException, requests.RequestException) as exc:
                raise EngineError(f"push of {ref} failed: {_first_line(exc)}") from None
            if any(str(n).endswith(f"@{digest}") for n in data.get("RepoDigests") or ()):
                with contextlib.suppress(self._err.DockerException, requests.RequestException):
                    api.remove_image(name, noprune=True)  # the name only; the image stays
                return digest
        raise EngineError(
            f"push of {ref} failed: another process re-tagged {name} on the engine during "
            f"each of {_PUSH_ATTEMPTS} pushes"
        )

    def _read_push(
        self, ref: Reference, stream: Iterator[dict[str, Any]], on_line: LineCallback | None
    ) -> str:
        digest, error = read_result(
            stream, on_line, aux="Digest", text="status", pattern=_DIGEST_LINE, prefix="sha256:"
        )
        if error is not None:
            raise EngineError(f"push of {ref} failed: {mask(error.strip())}")
        if digest is None:
            raise EngineError(f"push of {ref} finished without a digest")
        return digest

    def ensure_base(
        self,
        name: str,
        digest: str,
        auth: PushAuth | None = None,
        on_line: LineCallback | None = None,
    ) -> None:
        """Make the engine's ``name`` the image ``digest``, the one the content key names.

        ``docker build`` uses whatever local image carries the name, however old, and pulls
        only what is missing: a persistent CI runner would build from a stale base under a key
        that names the registry's current one. So pull when the local copy is not that digest.
        """
        ref = parse_reference(name)
        if self._holds(name, ref.repository, digest):
            return
        auth_config = auth.as_auth_config(ref.registry) if auth is not None else None
        problem: str | None = None
        try:
            stream = self._client.api.pull(
                str(ref.repository),
                tag=ref.tag or "latest",
                stream=True,
                decode=True,
                auth_config=auth_config,
            )
            problem = _drain(stream, lambda line: _report(line, "status", on_line))
        except (self._err.DockerException, requests.RequestException) as exc:
            problem = _first_line(exc)
        if problem is not None:
            raise EngineError(f"cannot pull base image {name}: {problem}")
        if not self._holds(name, ref.repository, digest):
            raise EngineError(
                f"base image {name} changed since the plan: the registry no longer serves "
                f"{digest} under that name",
                hint="run 'hubpub plan' again",
            )

    def _holds(self, name: str, repository: Repository, digest: str) -> bool:
        """Whether the local ``name`` is the image ``digest`` of ``repository``."""
        try:
            data = self._client.api.inspect_image(name)
        except self._err.NotFound:
            return False
        except (self._err.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot inspect image {name}: {_first_line(exc)}") from None
        for text in data.get("RepoDigests") or ():
            try:
                known = parse_reference(text)
            except HubpubError:
                continue
            if known.repository == repository and known.digest == digest:
                return True
        return False

    def build(self, request: BuildRequest, on_line: LineCallback | None = None) -> str:
        """Build and return the image ID: BuildKit (labels applied by the build itself, no
        extra step) when the request and the engine allow it, else the classic builder. Waits
        for one of the engine's build slots first (:meth:`limit_builds`)."""
        with self._build_slots:
            return self._build(request, on_line)

    def _build(self, request: BuildRequest, on_line: LineCallback | None) -> str:
        if self.uses_buildkit(request.builder):
            try:
                return buildkit.build(self._client.api, request, self._streams, on_line)
            except buildkit.Refused:
                self._buildkit = False  # "auto": this engine takes classic builds only
                if on_line is not None:
                    on_line("the engine refused a BuildKit build: using the classic builder")
            except EngineError:
                raise
            except (self._err.DockerException, requests.RequestException, OSError) as exc:
                raise EngineError(f"build of {request.what} failed: {_first_line(exc)}") from None
        return self._classic_build(request, on_line)

    def _classic_build(self, request: BuildRequest, on_line: LineCallback | None) -> str:
        """Build with the classic builder and return the image ID; every line of the build
        stream is read.

        The labels are set by a second, one-step build (``FROM <id>`` + one ``LABEL``) rather
        than the API's ``labels`` parameter: the classic builder turns that into one step per
        label, each a container and a layer commit, and the revision and created labels change
        with every commit, so none of those steps is ever cached. The user's own steps stay
        cached and the label step is one.
        """
        context = request.context
        try:
            dockerfile = request.dockerfile.relative_to(context).as_posix()
        except ValueError:
            dockerfile = str(request.dockerfile)  # the SDK adds it to the context tar
        try:
            stream = self._client.api.build(
                path=str(context),
                dockerfile=dockerfile,
                buildargs=dict(request.build_args),
                target=request.target,
                rm=True,
                forcerm=True,
                decode=True,
                **_classic_options(request),
            )
            image_id = self._read_build(stream, on_line)
            if request.labels:
                image_id = self._label(image_id, request.labels, on_line)
        except EngineError:
            raise
        except (self._err.DockerException, requests.RequestException, OSError) as exc:
            raise EngineError(f"build of {context} failed: {_first_line(exc)}") from None
        return image_id

    def _label(self, image_id: str, labels: Mapping[str, str], on_line: LineCallback | None) -> str:
        pairs = " ".join(f"{_quote(key)}={_quote(value)}" for key, value in sorted(labels.items()))
        text = f"FROM {image_id}\nLABEL {pairs}\n".encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
        buffer.seek(0)
        stream = self._client.api.build(
            fileobj=buffer, custom_context=True, rm=True, forcerm=True, pull=False, decode=True
        )
        return self._read_build(stream, on_line)

    def _read_build(self, stream: Iterator[dict[str, Any]], on_line: LineCallback | None) -> str:
        image_id, error = read_result(stream, on_line, aux="ID", text="stream", pattern=_BUILT_LINE)
        if error is not None:
            raise EngineError(f"build failed: {mask(error.strip())}")
        if image_id is None:
            raise EngineError("build finished without an image ID")
        if not image_id.startswith("sha256:"):
            image_id = self.image_id(image_id) or image_id
        return image_id

    @contextlib.contextmanager
    def export(self, image_id: str) -> Iterator[Any]:
        """The image as a docker-archive tar stream (``GET /images/{id}/get``): a file-like
        object to read once (archive.py), not the SDK's ``get_image``, which yields chunks."""
        api = self._client.api
        try:
            response = api._get(api._url("/images/{0}/get", image_id), stream=True)
            api._raise_for_status(response)
        except (self._err.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot export image {image_id}: {_first_line(exc)}") from None
        with response:
            yield _Stream(response.raw)

    def platform_of(self, image_id: str) -> dict[str, str]:
        """The ``os``, ``architecture`` and ``variant`` (when set) of a local image's config."""
        try:
            data = self._client.api.inspect_image(image_id)
        except (self._err.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot inspect image {image_id}: {_first_line(exc)}") from None
        found = {
            "os": data.get("Os"),
            "architecture": data.get("Architecture"),
            "variant": data.get("Variant"),
        }
        return {key: str(value) for key, value in found.items() if value}

    def remove_untagged(self, image_id: str) -> bool:
        """Remove ``image_id`` if no name points to it (what a BuildKit build leaves once its
        image is exported: a dangling ``<none>`` image); True when removed. An image that is
        tagged, or that a container uses, stays."""
        api = self._client.api
        try:
            tags = [
                t for t in api.inspect_image(image_id).get("RepoTags") or [] if t != "<none>:<none>"
            ]
            if tags:
                return False
            api.remove_image(image_id)
        except (self._err.DockerException, requests.RequestException):
            return False
        return True

    def tag(self, image: str, name: str) -> None:
        repository, _, tag = name.rpartition(":")
        try:
            ok = self._client.api.tag(image, repository, tag=tag, force=True)
        except (self._err.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot tag {image} as {name}: {_first_line(exc)}") from None
        if not ok:
            raise EngineError(f"cannot tag {image} as {name}")


def _classic_options(request: BuildRequest) -> dict[str, Any]:
    """What the classic builder takes of the options hubpub passes to BuildKit: nothing more
    than before unless the config asks (inline cache is BuildKit's alone)."""
    options: dict[str, Any] = {}
    if request.network != "default":
        options["network_mode"] = request.network
    if request.cache_from:
        options["cache_from"] = list(request.cache_from)
    if request.platform:
        # Taken for a FROM it pulls, not for one the engine has already: the executor checks
        # the built image's platform (docs/config.md, "Platforms").
        options["platform"] = request.platform
    return options


def _quote(text: str) -> str:
    """A Dockerfile double-quoted word: JSON's escaping, and ``$`` kept from substitution."""
    return json.dumps(text, ensure_ascii=False).replace("$", "\\$")


DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def _unreachable(where: str) -> EngineError:
    # The SDK's text ("Error while fetching server API version: ('Connection aborted.', ...)")
    # says nothing a user can act on; the address and the two ways out do.
    where = where.replace("http+docker://localhost", DEFAULT_DOCKER_HOST)
    return EngineError(
        f"cannot reach the Docker engine at {where}",
        hint="start dockerd, or set DOCKER_HOST to the engine's address",
    )
