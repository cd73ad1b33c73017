"""engine/trace.py: BuildKit's StatusResponse decoded from its wire format, and the lines shown.

The table bytes are encoded here from control.proto's field numbers (a few lines of protobuf's
encoding rules), independently of the decoder; ``data/buildkit_failed_run.json`` is a real
stream of this suite's engine (dockerd 20.10) building a RUN that writes to stdout and stderr,
then fails.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hubpub.engine.trace import (
    StatusResponse,
    TraceView,
    Vertex,
    VertexLog,
    VertexStatus,
    decode_aux,
    decode_status,
    fields,
)
from hubpub.errors import EngineError

DATA = Path(__file__).parent / "data"


# --- an encoder written from the proto definition ----------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | str | bytes) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def timestamp(seconds: int, nanos: int = 0) -> bytes:
    return field(1, seconds) + (field(2, nanos) if nanos else b"")


def vertex(digest: str, name: str = "", **more: object) -> bytes:
    out = field(1, digest) + (field(3, name) if name else b"")
    for inp in more.get("inputs", ()):  # type: ignore[attr-defined]
        out += field(2, inp)
    if more.get("cached"):
        out += field(4, 1)
    if "started" in more:
        out += field(5, timestamp(*more["started"]))  # type: ignore[misc]
    if "completed" in more:
        out += field(6, timestamp(*more["completed"]))  # type: ignore[misc]
    if "error" in more:
        out += field(7, str(more["error"]))
    return out


def log(digest: str, data: bytes, stream: int = 1) -> bytes:
    return field(1, digest) + field(2, timestamp(1)) + field(3, stream) + field(4, data)


def response(*, vertexes: tuple[bytes, ...] = (), statuses=(), logs=()) -> bytes:  # type: ignore[no-untyped-def]
    return (
        b"".join(field(1, v) for v in vertexes)
        + b"".join(field(2, s) for s in statuses)
        + b"".join(field(3, entry) for entry in logs)
    )


# --- the decoder -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", StatusResponse()),
        (
            response(vertexes=(vertex("sha256:a", "[1/2] FROM x", started=(100, 500_000_000)),)),
            StatusResponse(vertexes=(Vertex("sha256:a", "[1/2] FROM x", started=100.5),)),
        ),
        (
            response(
                vertexes=(
                    vertex(
                        "sha256:b",
                        "[2/2] RUN make",
                        inputs=("sha256:a",),
                        cached=True,
                        started=(100,),
                        completed=(102, 250_000_000),
                        error="exit code: 2",
                    ),
                )
            ),
            StatusResponse(
                vertexes=(
                    Vertex(
                        "sha256:b",
                        "[2/2] RUN make",
                        ("sha256:a",),
                        cached=True,
                        started=100.0,
                        completed=102.25,
                        error="exit code: 2",
                    ),
                )
            ),
        ),
        (
            response(logs=(log("sha256:b", b"compiling\n", stream=2),)),
            StatusResponse(logs=(VertexLog("sha256:b", 2, b"compiling\n"),)),
        ),
        (
            # VertexStatus: ID, vertex, name, current, total, then three timestamps
            response(
                statuses=(
                    field(1, "extracting sha256:c")
                    + field(2, "sha256:a")
                    + field(3, "extract")
                    + field(4, 300)
                    + field(5, 1000)
                    + field(6, timestamp(5)),
                )
            ),
            StatusResponse(statuses=(VertexStatus("extracting sha256:c", "sha256:a", 300, 1000),)),
        ),
        (
            # Unknown fields of every wire type are skipped: VertexWarning (4), a fixed64 and
            # a fixed32 field, a ProgressGroup (8) inside a vertex, a large varint.
            response(vertexes=(vertex("sha256:d") + field(8, field(1, "g")),))
            + field(4, field(1, "sha256:d") + field(3, b"warn"))
            + varint(9 << 3 | 1)
            + (7).to_bytes(8, "little")
            + varint(10 << 3 | 5)
            + (7).to_bytes(4, "little")
            + field(11, 2**63),
            StatusResponse(vertexes=(Vertex("sha256:d"),)),
        ),
    ],
)
def test_status_responses_decode_from_their_wire_format(
    data: bytes, expected: StatusResponse
) -> None:
    assert decode_status(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"\x0a\x05abc",  # a length past the end
        b"\x08\xff",  # a varint cut short
        b"\x0b",  # wire type 3 (a group)
        b"\x09\x00\x00",  # a fixed64 cut short
    ],
)
def test_malformed_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"truncated|unsupported wire type"):
        decode_status(data)


def test_an_unreadable_aux_is_one_engine_error() -> None:
    with pytest.raises(EngineError, match="unreadable BuildKit trace"):
        decode_aux("not base64!")
    with pytest.raises(EngineError, match="unreadable BuildKit trace"):
        decode_aux(base64.b64encode(b"\x0a\x05abc").decode())


def test_fields_yields_every_field_in_order() -> None:
    assert list(fields(field(1, 5) + field(2, "x") + field(1, 6))) == [(1, 5), (2, b"x"), (1, 6)]


# --- the lines shown ---------------------------------------------------------------------------


def test_a_build_shows_steps_as_docker_build_plain_does() -> None:
    view = TraceView()
    lines = []
    for data in (
        response(vertexes=(vertex("a", "[1/3] FROM base", started=(10,)),)),
        response(vertexes=(vertex("a", "[1/3] FROM base", started=(10,), completed=(10,)),)),
        response(vertexes=(vertex("b", "[2/3] COPY . .", cached=True),)),
        response(vertexes=(vertex("c", "[3/3] RUN make", started=(11,)),)),
        response(logs=(log("c", b"line one\nline "), log("c", b"two\n", stream=2))),
        response(logs=(log("c", b"no newline at the end"),)),
        response(
            vertexes=(vertex("c", "[3/3] RUN make", started=(11,), completed=(13, 5 * 10**8)),)
        ),
    ):
        lines += view.feed(decode_status(data))
    assert lines == [
        "#1 [1/3] FROM base",
        "#1 DONE 0.0s",
        "#2 [2/3] COPY . .",
        "#2 CACHED",
        "#3 [3/3] RUN make",
        "#3 line one",
        "#3 line two",
        "#3 no newline at the end",
        "#3 DONE 2.5s",
    ]
    assert view.failed() is None


def test_a_failed_step_is_named_with_its_last_lines_not_the_steps_cancelled_beside_it() -> None:
    view = TraceView()
    view.feed(decode_status(response(vertexes=(vertex("x", "[a 2/2] RUN sleep 9", started=(1,)),))))
    view.feed(decode_status(response(vertexes=(vertex("y", "[b 2/2] RUN make", started=(1,)),))))
    view.feed(
        decode_status(response(logs=tuple(log("y", f"out {n}\n".encode()) for n in range(15))))
    )
    lines = view.feed(
        decode_status(
            response(
                vertexes=(
                    vertex("x", "[a 2/2] RUN sleep 9", error="context canceled"),
                    vertex("y", "[b 2/2] RUN make", error="exit code: 2"),
                )
            )
        )
    )
    assert lines == ["#1 ERROR: context canceled", "#2 ERROR: exit code: 2"]
    assert view.failed() == ("[b 2/2] RUN make", tuple(f"out {n}" for n in range(5, 15)))


def test_a_real_trace_of_a_failing_run_gives_its_step_and_output() -> None:
    stream = json.loads((DATA / "buildkit_failed_run.json").read_text())
    view = TraceView()
    lines = []
    for line in stream:
        if line.get("id") == "moby.buildkit.trace":
            lines += view.feed(decode_aux(line["aux"]))
    step = '[2/2] RUN echo one && echo two >&2 && printf "no-newline" && false'
    assert f"#5 {step}" in lines
    assert lines[-4:-1] == ["#5 one", "#5 two", "#5 no-newline"]
    assert lines[-1].startswith("#5 ERROR: executor failed running [/bin/sh -c echo one")
    assert view.failed() == (step, ("one", "two", "no-newline"))
