"""Reading the engine's answers: its JSON-lines streams (build, pull, push) and its errors,
as one masked line (docs/registry.md#docker-sdk-quirks)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from hubpub.engine.buildkit import LineCallback
from hubpub.logs import mask


class _Stream:
    """A response body whose read errors (urllib3's, which are not OSErrors) are OSErrors."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self._raw.read(size))
        except OSError:
            raise
        except Exception as exc:
            raise OSError(f"the engine's stream broke: {type(exc).__name__}: {exc}") from exc


def _drain(
    stream: Iterable[Mapping[str, Any]], handle: Callable[[Mapping[str, Any]], None]
) -> str | None:
    """Read an engine stream (build, pull, push) to the end and return its first error.

    The docker SDK reports these errors inside the stream, not as exceptions, and one may
    follow other lines (docs/registry.md#docker-sdk-quirks): every line is read, and each
    line that is not an error goes to ``handle``."""
    error: str | None = None
    for line in stream:
        problem = _stream_error(line)
        if problem is None:
            handle(line)
        elif error is None:
            error = problem
    return error


def read_result(
    stream: Iterable[Mapping[str, Any]],
    on_line: LineCallback | None,
    *,
    aux: str,
    text: str,
    pattern: re.Pattern[str],
    prefix: str = "",
) -> tuple[str | None, str | None]:
    """Read a push's or a classic build's stream to the end, each line's ``text`` key passed to
    ``on_line``; return (what it produced, its first error). What it produced is the ``aux``
    key of its ``aux`` line (a value starting with ``prefix``), else group 1 of the first
    match of ``pattern`` in a text line: older engines say it only in words."""
    found: str | None = None

    def handle(line: Mapping[str, Any]) -> None:
        nonlocal found
        extra = line.get("aux")
        value = extra.get(aux) if isinstance(extra, dict) else None
        if value and str(value).startswith(prefix):
            found = str(value)
        words = line.get(text)
        if isinstance(words, str) and found is None:
            match = pattern.search(words)
            found = match.group(1) if match else None
        _report(line, text, on_line)

    error = _drain(stream, handle)
    return found, error


def _report(line: Mapping[str, Any], key: str, on_line: LineCallback | None) -> None:
    """Pass the text of a stream line (``stream`` of a build, ``status`` of a pull or push,
    with its layer id) to ``on_line``."""
    text = line.get(key)
    if on_line is None or not isinstance(text, str) or not text.strip():
        return
    progress = line.get("id")
    on_line(f"{progress}: {text.rstrip()}" if progress else text.rstrip())


def _stream_error(line: Mapping[str, Any]) -> str | None:
    """The error a line of a build, pull or push stream reports, if it is one."""
    if "error" not in line and "errorDetail" not in line:
        return None
    detail = line.get("errorDetail") or {}
    return str(detail.get("message") or line.get("error") or line)


# A URL's query: the engine API takes the build args there, and they may carry secrets.
_QUERY = re.compile(r"\?[^\s'\"]+")


def _first_line(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        # The SDK's APIError text is "500 Server Error for <URL with the build args>: ...".
        text = f"{response.status_code} {response.reason} from the engine"
        explanation = getattr(exc, "explanation", None)
        if isinstance(explanation, bytes):
            explanation = explanation.decode("utf-8", "replace")
        if explanation:
            text += f" ({str(explanation).strip()})"
    else:
        text = str(exc).strip() or type(exc).__name__
    return mask(_QUERY.sub("?…", text.splitlines()[0]))
