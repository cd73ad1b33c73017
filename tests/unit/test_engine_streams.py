"""Reading the engine's JSON-lines streams: what a push or a classic build produced, its
error, and the lines shown, by tables (no engine: the lines are the engine's own shapes)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hubpub.engine.streams import read_result

DIGEST = "sha256:" + "ab" * 32
DIGEST_LINE = re.compile(r"digest: (sha256:[0-9a-f]{64})")
BUILT_LINE = re.compile(r"Successfully built ([0-9a-f]{12,64})")
PUSH = {"aux": "Digest", "text": "status", "pattern": DIGEST_LINE, "prefix": "sha256:"}
BUILD = {"aux": "ID", "text": "stream", "pattern": BUILT_LINE}


@pytest.mark.parametrize(
    ("kind", "lines", "found", "error"),
    [
        # a push: the aux line, else the words of older engines
        (PUSH, [{"status": "Pushed", "id": "1"}, {"aux": {"Digest": DIGEST}}], DIGEST, None),
        (PUSH, [{"status": f"v1: digest: {DIGEST} size: 528"}], DIGEST, None),
        (PUSH, [{"aux": {"Digest": "md5:x"}}], None, None),  # not a digest hubpub reads
        (PUSH, [{"status": "Pushed"}], None, None),
        # an error is the first one, whatever follows it
        (
            PUSH,
            [{"errorDetail": {"message": "denied"}}, {"error": "later"}, {"status": "x"}],
            None,
            "denied",
        ),
        # a classic build: the aux ID, else "Successfully built"
        (BUILD, [{"stream": "Step 1/2"}, {"aux": {"ID": DIGEST}}], DIGEST, None),
        (BUILD, [{"stream": "Successfully built 0123456789ab\n"}], "0123456789ab", None),
        (BUILD, [{"aux": {"ID": ""}}, {"stream": "Step 1/1"}], None, None),
        (BUILD, [{"error": "no such file"}], None, "no such file"),
    ],
)
def test_a_stream_gives_what_it_produced_and_its_first_error(
    kind: dict[str, Any], lines: list[dict[str, Any]], found: str | None, error: str | None
) -> None:
    assert read_result(lines, None, **kind) == (found, error)


def test_the_text_lines_are_shown_with_their_layer_and_errors_are_not() -> None:
    shown: list[str] = []
    lines = [{"status": "Pushing", "id": "abc"}, {"status": " "}, {"error": "x"}, {"aux": {}}]
    read_result(lines, shown.append, **PUSH)
    assert shown == ["abc: Pushing"]
