"""BuildKit's progress: the ``moby.buildkit.trace`` lines of a ``POST /build?version=2`` stream.

Each such line's ``aux`` is a base64 protobuf ``StatusResponse`` (BuildKit's
``api/services/control/control.proto``, public on github.com/moby/buildkit):

    StatusResponse { repeated Vertex vertexes = 1; repeated VertexStatus statuses = 2;
                     repeated VertexLog logs = 3; repeated VertexWarning warnings = 4; }
    Vertex         { string digest = 1; repeated string inputs = 2; string name = 3;
                     bool cached = 4; Timestamp started = 5; Timestamp completed = 6;
                     string error = 7; ProgressGroup progressGroup = 8; }
    VertexStatus   { string ID = 1; string vertex = 2; string name = 3; int64 current = 4;
                     int64 total = 5; Timestamp timestamp = 6, started = 7, completed = 8; }
    VertexLog      { string vertex = 1; Timestamp timestamp = 2; int64 stream = 3; bytes msg = 4; }
    Timestamp      { int64 seconds = 1; int32 nanos = 2; }   (google/protobuf/timestamp.proto)

A wire-format reader of a few dozen lines decodes that (the encoding: protobuf's "Encoding"
page, developers.google.com/protocol-buffers/docs/encoding): the ``protobuf`` package would
add a dependency, its import time and generated code for four messages, and hubpub reads
only the fields above (unknown ones are skipped, as protobuf readers do).

:class:`TraceView` turns the messages into the lines ``docker build --progress=plain``
prints (``#3 [2/3] RUN …``, ``#3 CACHED``, ``#3 DONE 0.4s``, the step's own output) and
keeps the last lines each step wrote, for the error of a failing step.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from hubpub.errors import EngineError

# --- the wire format ------------------------------------------------------------------------

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of one message: an int for varints and fixed
    widths, the bytes of a length-delimited field (a string, bytes or a nested message)."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, kind = key >> 3, key & 7
        value: int | bytes
        if kind == _VARINT:
            value, pos = _varint(data, pos)
        elif kind == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif kind in (_I64, _I32):
            width = 8 if kind == _I64 else 4
            if pos + width > len(data):
                raise ValueError("truncated fixed-width field")
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:  # 3 and 4 are the deprecated groups; nothing in control.proto uses them
            raise ValueError(f"unsupported wire type {kind}")
        yield number, value


def _text(value: int | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _timestamp(value: int | bytes) -> float | None:
    if not isinstance(value, bytes):
        return None
    seconds = nanos = 0
    for number, item in fields(value):
        if number == 1 and isinstance(item, int):
            seconds = item
        elif number == 2 and isinstance(item, int):
            nanos = item
    return seconds + nanos / 1e9


@dataclass(frozen=True)
class Vertex:
    digest: str
    name: str = ""
    inputs: tuple[str, ...] = ()
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str = ""


@dataclass(frozen=True)
class VertexLog:
    vertex: str
    stream: int  # 1 stdout, 2 stderr
    data: bytes


@dataclass(frozen=True)
class VertexStatus:
    id: str
    vertex: str
    current: int = 0
    total: int = 0


@dataclass(frozen=True)
class StatusResponse:
    vertexes: tuple[Vertex, ...] = ()
    statuses: tuple[VertexStatus, ...] = ()
    logs: tuple[VertexLog, ...] = ()


def _vertex(data: bytes) -> Vertex:
    values: dict[str, object] = {}
    inputs: list[str] = []
    for number, value in fields(data):
        if number == 1:
            values["digest"] = _text(value)
        elif number == 2:
            inputs.append(_text(value))
        elif number == 3:
            values["name"] = _text(value)
        elif number == 4:
            values["cached"] = bool(value)
        elif number == 5:
            values["started"] = _timestamp(value)
        elif number == 6:
            values["completed"] = _timestamp(value)
        elif number == 7:
            values["error"] = _text(value)
    return Vertex(inputs=tuple(inputs), **values)  # type: ignore[arg-type]


def _status(data: bytes) -> VertexStatus:
    ident = vertex = ""
    current = total = 0
    for number, value in fields(data):
        if number == 1:
            ident = _text(value)
        elif number == 2:
            vertex = _text(value)
        elif number == 4 and isinstance(value, int):
            current = value
        elif number == 5 and isinstance(value, int):
            total = value
    return VertexStatus(ident, vertex, current, total)


def _log(data: bytes) -> VertexLog:
    vertex, stream, msg = "", 0, b""
    for number, value in fields(data):
        if number == 1:
            vertex = _text(value)
        elif number == 3 and isinstance(value, int):
            stream = value
        elif number == 4 and isinstance(value, bytes):
            msg = value
    return VertexLog(vertex, stream, msg)


def decode_status(data: bytes) -> StatusResponse:
    """One ``StatusResponse`` from its protobuf bytes; ValueError when they are malformed."""
    vertexes, statuses, logs = [], [], []
    for number, value in fields(data):
        if not isinstance(value, bytes):
            continue
        if number == 1:
            vertexes.append(_vertex(value))
        elif number == 2:
            statuses.append(_status(value))
        elif number == 3:
            logs.append(_log(value))
    return StatusResponse(tuple(vertexes), tuple(statuses), tuple(logs))


def decode_aux(aux: str) -> StatusResponse:
    """The ``aux`` of a ``moby.buildkit.trace`` line (base64 of the protobuf bytes)."""
    try:
        return decode_status(base64.b64decode(aux, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise EngineError(f"the engine sent an unreadable BuildKit trace: {exc}") from None


# --- the lines hubpub shows ------------------------------------------------------------------

TAIL = 10  # lines of a failing step's own output shown with its error


@dataclass
class _Step:
    number: int
    name: str = ""
    started: float | None = None
    shown_start: bool = False
    done: bool = False
    error: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL))
    partial: str = ""  # output after its last newline, not yet a line


class TraceView:
    """The state of one build's trace: feed it each ``StatusResponse``, get plain lines."""

    def __init__(self) -> None:
        self._steps: dict[str, _Step] = {}

    def _step(self, digest: str) -> _Step:
        step = self._steps.get(digest)
        if step is None:
            step = self._steps[digest] = _Step(len(self._steps) + 1)
        return step

    def feed(self, status: StatusResponse) -> list[str]:
        lines: list[str] = []
        for vertex in status.vertexes:
            step = self._step(vertex.digest)
            step.name = vertex.name or step.name
            if vertex.started is not None:
                step.started = vertex.started
            if (vertex.started is not None or vertex.cached) and not step.shown_start:
                step.shown_start = True
                lines.append(f"#{step.number} {step.name}")
            if vertex.cached and not step.done:
                step.done = True
                lines.append(f"#{step.number} CACHED")
            elif vertex.error and not step.error:
                step.error, step.done = vertex.error, True
                lines.extend(self._flush(step))
                lines.append(f"#{step.number} ERROR: {vertex.error}")
            elif vertex.completed is not None and not step.done:
                step.done = True
                lines.extend(self._flush(step))
                took = vertex.completed - (step.started or vertex.completed)
                lines.append(f"#{step.number} DONE {max(took, 0.0):.1f}s")
        for log in status.logs:
            step = self._step(log.vertex)
            text = step.partial + log.data.decode("utf-8", "replace")
            *complete, step.partial = text.replace("\r\n", "\n").split("\n")
            for line in complete:
                step.tail.append(line)
                lines.append(f"#{step.number} {line}")
        return lines

    def _flush(self, step: _Step) -> list[str]:
        if not step.partial:
            return []
        line, step.partial = step.partial, ""
        step.tail.append(line)
        return [f"#{step.number} {line}"]

    def failed(self) -> tuple[str, tuple[str, ...]] | None:
        """(name, last output lines) of the first step that failed, if one did."""
        failed = [step for step in self._steps.values() if step.error]
        # When one step fails BuildKit cancels the others running beside it: those are not
        # the cause.
        causes = [step for step in failed if "context canceled" not in step.error] or failed
        if not causes:
            return None
        self._flush(causes[0])
        return causes[0].name, tuple(causes[0].tail)
