"""GitHub Actions' files: ``$GITHUB_OUTPUT`` (step outputs) and ``$GITHUB_STEP_SUMMARY``.

The one writer of both: ``tags`` writes docker/metadata-action's outputs, ``plan`` and
``apply`` their summary and (apply) the references and digests they wrote. Both files are
appended to, never replaced: earlier steps' lines stay. Nothing is written when the variable
is unset (outside Actions).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path


def write_outputs(
    environ: Mapping[str, str], outputs: Mapping[str, str], *, multiline: bool = False
) -> None:
    """Append ``outputs`` to ``$GITHUB_OUTPUT``: ``name=value`` for a one-line value, the
    multi-line syntax with a random delimiter otherwise (every value with ``multiline``, as
    @actions/core's setOutput writes them)."""
    path = environ.get("GITHUB_OUTPUT")
    if path:
        _append(Path(path), "".join(_output(n, v, multiline) for n, v in outputs.items()))


def write_summary(environ: Mapping[str, str], text: str) -> None:
    """Append markdown ``text`` to ``$GITHUB_STEP_SUMMARY``."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if path:
        _append(Path(path), text)


def _output(name: str, value: str, multiline: bool) -> str:
    if "\n" not in value and not multiline:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{uuid.uuid4()}"  # a delimiter that cannot occur in the value
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
