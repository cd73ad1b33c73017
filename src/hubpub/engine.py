"""The Docker engine: build, tag, push. The only module that imports the docker SDK.

The SDK's quirks this module absorbs (registry-protocol.md, "The docker SDK"):

- ``push`` without ``tag`` pushes every local tag of the repository: always pass it.
- Build and push errors arrive as lines of the stream (``errorDetail``), not as exceptions:
  every line is read, and the first error becomes an :class:`~hubpub.errors.EngineError`.
- The pushed manifest digest is in the ``aux`` line (classic image store) and in the status
  line ``"<tag>: digest: sha256:… size: N"``; either is enough, both are read.
- An image ID is a config digest (classic store) or a manifest digest (containerd store); it is
  never compared with a registry digest, only used as a stand-in for an unpullable base image.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from hubpub.errors import EngineError
from hubpub.logs import mask
from hubpub.reference import Reference

LineCallback = Callable[[str], None]
_DIGEST_LINE = re.compile(r"digest: (sha256:[0-9a-f]{64})")
_BUILT_LINE = re.compile(r"Successfully built ([0-9a-f]{12,64})")


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Path
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # local names for the result ("repo:tag")


@dataclass(frozen=True)
class PushAuth:
    """Credentials for the engine's push (the engine reads no Docker config of its own)."""

    username: str
    password: str
    identity_token: str | None = None

    def as_auth_config(self, server: str) -> dict[str, str]:
        if self.identity_token:
            return {"identitytoken": self.identity_token, "serveraddress": server}
        return {"username": self.username, "password": self.password, "serveraddress": server}


class Engine:
    """A connection to one Docker engine (``DOCKER_HOST`` and its TLS variables, or the
    default socket). Thread-safe: the SDK's client is shared by the executor's workers."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Engine:
        try:
            client = docker.from_env(environment=dict(environ) if environ else None, timeout=600)
        except docker.errors.DockerException as exc:
            raise EngineError(
                f"cannot reach the Docker engine: {_first_line(exc)}",
                hint="start dockerd or set DOCKER_HOST",
            ) from None
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
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(
                f"cannot reach the Docker engine: {_first_line(exc)}",
                hint="start dockerd or set DOCKER_HOST",
            ) from None

    def image_id(self, name: str) -> str | None:
        """The local image ID of ``name``, or None when the engine does not have it."""
        try:
            data = self._client.api.inspect_image(name)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.NotFound:
            return None
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot inspect image {name}: {_first_line(exc)}") from None
        return str(data["Id"])

    def image_labels(self, name: str) -> dict[str, str]:
        try:
            data = self._client.api.inspect_image(name)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot inspect image {name}: {_first_line(exc)}") from None
        labels = (data.get("Config") or {}).get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def build(self, request: BuildRequest, on_line: LineCallback | None = None) -> str:
        """Build and return the image ID; every line of the build stream is read."""
        context = request.context
        try:
            dockerfile = request.dockerfile.relative_to(context).as_posix()
        except ValueError:
            dockerfile = str(request.dockerfile)  # the SDK adds it to the context tar
        try:
            stream = self._client.api.build(
                path=str(context),
                dockerfile=dockerfile,
                tag=request.tags[0] if request.tags else None,
                buildargs=dict(request.build_args),
                target=request.target,
                labels=dict(request.labels),
                rm=True,
                forcerm=True,
                # Use the base images as the engine has them (docker build's default); the
                # content key records which ones (contentkey.py, observe.py).
                pull=False,
                decode=True,
            )
            image_id = self._read_build(stream, on_line)
        except EngineError:
            raise
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineError(f"build of {context} failed: {_first_line(exc)}") from None
        for extra in request.tags[1:]:
            self.tag(image_id, extra)
        return image_id

    def _read_build(self, stream: Iterator[dict[str, Any]], on_line: LineCallback | None) -> str:
        image_id: str | None = None
        error: str | None = None
        for line in stream:
            if "error" in line or "errorDetail" in line:
                detail = line.get("errorDetail") or {}
                error = error or str(detail.get("message") or line.get("error") or line)
                continue
            aux = line.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
            text = line.get("stream")
            if isinstance(text, str):
                found = _BUILT_LINE.search(text)
                if found and image_id is None:
                    image_id = found.group(1)
                if on_line is not None and text.strip():
                    on_line(text.rstrip())
        if error is not None:
            raise EngineError(f"build failed: {mask(error.strip())}")
        if image_id is None:
            raise EngineError("build finished without an image ID")
        if not image_id.startswith("sha256:"):
            image_id = self.image_id(image_id) or image_id
        return image_id

    def tag(self, image: str, name: str) -> None:
        repository, _, tag = name.rpartition(":")
        try:
            ok = self._client.api.tag(image, repository, tag=tag, force=True)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot tag {image} as {name}: {_first_line(exc)}") from None
        if not ok:
            raise EngineError(f"cannot tag {image} as {name}")

    def push(
        self,
        image: str,
        ref: Reference,
        auth: PushAuth | None = None,
        on_line: LineCallback | None = None,
    ) -> str:
        """Tag ``image`` as ``ref`` and push that one tag; return the pushed manifest digest."""
        if ref.tag is None:
            raise EngineError(f"cannot push {ref}: a tag is required")
        repository = str(ref.repository)
        self.tag(image, f"{repository}:{ref.tag}")
        auth_config = auth.as_auth_config(ref.registry) if auth is not None else None
        try:
            stream = self._client.api.push(
                repository, tag=ref.tag, stream=True, decode=True, auth_config=auth_config
            )
            return self._read_push(ref, stream, on_line)
        except EngineError:
            raise
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"push of {ref} failed: {_first_line(exc)}") from None

    def _read_push(
        self, ref: Reference, stream: Iterator[dict[str, Any]], on_line: LineCallback | None
    ) -> str:
        digest: str | None = None
        error: str | None = None
        for line in stream:  # read to the end: the error may follow progress lines
            if "error" in line or "errorDetail" in line:
                detail = line.get("errorDetail") or {}
                error = error or str(detail.get("message") or line.get("error") or line)
                continue
            aux = line.get("aux")
            if isinstance(aux, dict) and str(aux.get("Digest", "")).startswith("sha256:"):
                digest = str(aux["Digest"])
            status = line.get("status")
            if isinstance(status, str):
                found = _DIGEST_LINE.search(status)
                if found and digest is None:
                    digest = found.group(1)
                if on_line is not None:
                    progress = line.get("id")
                    on_line(f"{progress}: {status}" if progress else status)
        if error is not None:
            raise EngineError(f"push of {ref} failed: {mask(error.strip())}")
        if digest is None:
            raise EngineError(f"push of {ref} finished without a digest")
        return digest

    def remove_image(self, name: str) -> None:
        """Drop a local tag (the push tag hubpub added); the image stays if others use it."""
        try:
            self._client.api.remove_image(name, noprune=True)
        except docker.errors.NotFound:
            return
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"cannot remove {name}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return mask(text.splitlines()[0])
