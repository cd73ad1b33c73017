"""A build with the engine's BuildKit: ``POST /build?version=2``, no BuildKit session.

The docker SDK has no BuildKit support; the endpoint is called through its low-level
``APIClient`` (``_post``, ``_url``, ``_stream_helper``), which keeps the connection, TLS and
``DOCKER_HOST`` handling it does for every other call. With the context tar as the request
body the engine builds without a session (docs/config.md, "builder"): what needs one (build secrets,
SSH forwarding, a local cache export) is refused earlier, by validate.

The answer is a JSON stream: ``moby.buildkit.trace`` lines (progress, decoded by trace.py),
then ``{"id": "moby.image.id", "aux": {"ID": "sha256:…"}}``, or an ``errorDetail`` line.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hubpub.engine.context import context_tar, dockerfile_name
from hubpub.engine.trace import TraceView, decode_aux
from hubpub.errors import BuildError, EngineError
from hubpub.logs import mask

LineCallback = Callable[[str], None]
Builder = Literal["auto", "buildkit", "classic"]
Network = Literal["default", "none", "host"]
# The first API version with BuildKit builds (Docker 18.09).
BUILDKIT_API = (1, 39)
INLINE_CACHE_ARG = "BUILDKIT_INLINE_CACHE"
_SYNTAX = re.compile(rb"\A(?:\s*#[^\n]*\n)*?\s*#\s*syntax\s*=\s*(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Path
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str = ""  # the image's name in the config, for messages
    network: Network = "default"
    cache_from: tuple[str, ...] = ()
    inline_cache: bool = False
    # "classic" unless said otherwise: the builder hubpub used before it knew BuildKit. The
    # config's default is "auto" (BuildKit where the engine has it), passed by the executor.
    builder: Builder = "classic"
    # "os/arch[/variant]" to build for (platforms.py); None: the engine's own
    platform: str | None = None

    @property
    def what(self) -> str:
        what = f"image {self.name!r}" if self.name else str(self.context)
        return f"{what} for {self.platform}" if self.platform else what


class Refused(Exception):
    """The engine answered ``version=2`` with a client error: it has no BuildKit."""


# A RUN mount that only a BuildKit session can serve: its data comes from the client.
_SESSION_MOUNT = re.compile(r"--mount=(?:\S*,)?type=(secret|ssh)\b")


def session_mounts(dockerfile: str) -> list[tuple[int, str]]:
    """(line number, "secret" or "ssh") of each ``RUN --mount`` that needs a BuildKit session:
    build secrets and SSH forwarding come from the client over it, and hubpub's builds run
    without one (docs/config.md, "builder")."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(dockerfile.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        found.extend((number, match.group(1)) for match in _SESSION_MOUNT.finditer(line))
    return found


def supports_buildkit(api_version: str) -> bool:
    try:
        major, minor = (int(part) for part in api_version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= BUILDKIT_API


def params(request: BuildRequest) -> dict[str, str]:
    """The query of ``POST /build`` for ``request`` (the Engine API's build parameters)."""
    args = dict(request.build_args)
    if request.inline_cache:
        # The image then carries its own cache metadata: a fresh engine given it as
        # cache_from reuses its layers (docs/config.md, "cache_from").
        args[INLINE_CACHE_ARG] = "1"
    query = {
        "version": "2",
        "dockerfile": dockerfile_name(request.context, request.dockerfile),
        "rm": "1",
        "forcerm": "1",
        "networkmode": request.network,
        "buildargs": json.dumps(args),
        "labels": json.dumps(dict(request.labels)),
    }
    if request.target:
        query["target"] = request.target
    if request.cache_from:
        query["cachefrom"] = json.dumps(list(request.cache_from))
    if request.platform:
        query["platform"] = request.platform
    return query


class Streams:
    """The build streams open now, so that Ctrl-C can end them: the engine cancels a BuildKit
    build whose client went away, and the thread reading the stream returns at once.

    Closing the response is not enough: a thread blocked reading a socket is not woken when
    another closes it, only when the socket is shut down (shutdown(2))."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Any, Any] = {}  # response -> its socket (None when not found)
        self.cancelled = False

    def add(self, api: Any, response: Any) -> None:
        with self._lock:
            if self.cancelled:
                response.close()
                raise EngineError("build cancelled")
            self._open[response] = _socket_of(api, response)

    def discard(self, response: Any) -> None:
        with self._lock:
            self._open.pop(response, None)

    def close_all(self) -> None:
        with self._lock:
            self.cancelled = True
            streams, self._open = list(self._open.items()), {}
        for response, sock in streams:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(Exception):  # closing what is being read may complain
                response.close()


def _socket_of(api: Any, response: Any) -> Any:
    """The socket under a streamed response, as the SDK finds it for attach (unix, TCP, TLS);
    None for a transport it cannot (ssh, Windows pipes): those are only closed."""
    try:
        sock = api._get_raw_response_socket(response)
    except Exception:
        return None
    sock = getattr(sock, "_sock", sock)  # a SocketIO over the socket
    return sock if hasattr(sock, "shutdown") else None


def build(api: Any, request: BuildRequest, streams: Streams, on_line: LineCallback | None) -> str:
    """Build ``request`` with BuildKit through ``api`` (a docker ``APIClient``); return the
    image ID. :class:`Refused` when the engine does not take ``version=2``."""
    body = context_tar(request.context, request.dockerfile)
    try:
        response = api._post(
            api._url("/build"),
            params=params(request),
            data=body,
            headers={"Content-Type": "application/x-tar"},
            stream=True,
        )
        if response.status_code == 400 and request.builder == "auto":
            response.close()
            raise Refused(response.text)
        api._raise_for_status(response)
        streams.add(api, response)
        try:
            return _read(api._stream_helper(response, decode=True), request, streams, on_line)
        finally:
            streams.discard(response)
            response.close()
    finally:
        body.close()


def _read(
    stream: Iterator[dict[str, Any]],
    request: BuildRequest,
    streams: Streams,
    on_line: LineCallback | None,
) -> str:
    view = TraceView()
    image_id: str | None = None
    error: str | None = None
    try:
        for line in stream:
            ident, aux = line.get("id"), line.get("aux")
            if ident == "moby.buildkit.trace" and isinstance(aux, str):
                for text in view.feed(decode_aux(aux)):
                    if on_line is not None:
                        on_line(mask(text))
            elif ident == "moby.image.id" and isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
            elif "errorDetail" in line or "error" in line:
                detail = line.get("errorDetail") or {}
                error = error or str(detail.get("message") or line.get("error") or line)
            elif isinstance(line.get("stream"), str) and on_line is not None:
                text = str(line["stream"]).rstrip()
                if text:
                    on_line(mask(text))
    except Exception:
        if streams.cancelled:
            raise EngineError(f"build of {request.what} cancelled") from None
        raise
    if streams.cancelled:
        raise EngineError(f"build of {request.what} cancelled")
    if error is not None:
        raise _failure(request, view, error)
    if image_id is None:
        raise EngineError(f"build of {request.what} finished without an image ID")
    return image_id


# What BuildKit says of a RUN that failed, after repeating its command (20.10: "executor
# failed running [/bin/sh -c …]: exit code: 1"; later: "process "/bin/sh -c …" did not
# complete successfully: exit code: 1"): the message keeps the exit code, the step names it.
_EXIT_CODE = re.compile(r"(?:executor failed running|process) .*?:\s*(exit code: \d+)$")


def _failure(request: BuildRequest, view: TraceView, error: str) -> BuildError:
    error = mask(" ".join(error.split()))
    failed = view.failed()
    syntax = _syntax_image(request.dockerfile)
    if syntax is not None and (
        failed is None or syntax in failed[0] or syntax in error or "gateway.v0" in error
    ):
        return BuildError(
            f"build of {request.what} failed: the Dockerfile's '# syntax={syntax}' line needs "
            f"that frontend image from its registry: {error}",
            hint="make the registry reachable from the engine, or remove the line to use the "
            "engine's built-in Dockerfile frontend",
        )
    if failed is None:
        return BuildError(f"build of {request.what} failed: {error}")
    step, tail = failed
    short = _EXIT_CODE.search(error)
    error = short.group(1) if short else error
    hint = None
    if "network bridge not found" in error and request.network == "default":
        # An engine started with --bridge=none: RUN has no default network to join.
        hint = 'the engine has no bridge network: set network = "none" (or "host") for it'
    return BuildError(
        f"build of {request.what} failed at step {mask(step)}: {error}",
        hint=hint,
        output=tuple(mask(line) for line in tail),
    )


def _syntax_image(dockerfile: Path) -> str | None:
    try:
        with dockerfile.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    found = _SYNTAX.match(head)
    return found.group(1).decode("utf-8", "replace") if found else None
