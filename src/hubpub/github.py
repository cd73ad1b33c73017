"""GitHub Actions' files and workflow commands: ``$GITHUB_OUTPUT`` (step outputs),
``$GITHUB_STEP_SUMMARY``, and the ``::error``/``::warning``/``::group::`` lines the runner
turns into annotations and collapsible log groups.

The one writer of all of them: ``tags`` writes docker/metadata-action's outputs, ``plan`` and
``apply`` their summary and (apply) the references and digests, ``cli`` its errors as
annotations, apply's progress its build logs as groups. Both files are appended to, never
replaced: earlier steps' lines stay. Nothing is written when the variable is unset, and no
workflow command is printed unless ``GITHUB_ACTIONS`` is ``true`` (outside Actions). A
file that cannot be written is a warning, not an error: the images are published by then, and
the exit code says how the publication went.
Workflow commands go to stderr, which the runner reads for them as it reads stdout, so that
``--json`` on stdout stays JSON. Their syntax:
https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

log = logging.getLogger("hubpub.github")


def write_outputs(
    environ: Mapping[str, str], outputs: Mapping[str, str], *, multiline: bool = False
) -> None:
    """Append ``outputs`` to ``$GITHUB_OUTPUT``: ``name=value`` for a one-line value, the
    multi-line syntax with a random delimiter otherwise (every value with ``multiline``, as
    @actions/core's setOutput writes them)."""
    path = environ.get("GITHUB_OUTPUT")
    if path:
        text = "".join(_output(n, v, multiline) for n, v in outputs.items())
        _append(Path(path), text, "GITHUB_OUTPUT")


def write_summary(environ: Mapping[str, str], text: str) -> None:
    """Append markdown ``text`` to ``$GITHUB_STEP_SUMMARY``."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if path:
        _append(Path(path), text, "GITHUB_STEP_SUMMARY")


def _output(name: str, value: str, multiline: bool) -> str:
    if "\n" not in value and not multiline:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{uuid.uuid4()}"  # a delimiter that cannot occur in the value
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(path: Path, text: str, variable: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        log.warning("cannot write $%s (%s: %s): left unwritten", variable, path, exc.strerror)


def enabled(environ: Mapping[str, str]) -> bool:
    """Running as a GitHub Actions step: workflow commands are understood."""
    return environ.get("GITHUB_ACTIONS") == "true"


# hubpub's located messages start "file:line: " or "file:line:col: " (docs/config.md), the
# form an editor (and GitHub's annotations) can jump to.
_LOCATED = re.compile(r"(?P<file>[^\s:]+):(?P<line>\d+)(?::(?P<col>\d+))?: ")


def annotation(level: str, message: str, *, title: str = "hubpub") -> str:
    """One ``::error``/``::warning`` workflow command for ``message``, with ``file``,
    ``line`` and ``col`` when the message starts with the location of a file (a file that
    exists: ``localhost:5000: ...`` names a registry, not line 5000)."""
    properties = {"title": title}
    match = _LOCATED.match(message)
    if match and Path(match["file"]).is_file():
        properties["file"] = match["file"]
        properties["line"] = match["line"]
        if match["col"]:
            properties["col"] = match["col"]
    props = ",".join(
        f"{name}={_escape(value, in_property=True)}" for name, value in properties.items()
    )
    return f"::{level} {props}::{_escape(message)}"


def annotate(
    environ: Mapping[str, str], level: str, messages: Iterable[str], stream: IO[str] | None = None
) -> None:
    """Print each message as a workflow command (under GitHub Actions only)."""
    if not enabled(environ):
        return
    out = stream or sys.stderr
    for message in messages:
        print(annotation(level, message), file=out, flush=True)


def group(title: str, lines: Iterable[str]) -> str:
    """``lines`` as one collapsible log group, with a workflow-command-free body (a build's
    own output cannot start or end groups, or raise annotations, by echoing ``::``)."""
    token = f"hubpub-{uuid.uuid4().hex}"
    body = "".join(f"{line}\n" for line in lines)
    return f"::group::{_escape(title)}\n::stop-commands::{token}\n{body}::{token}::\n::endgroup::\n"


def _escape(value: str, *, in_property: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if in_property:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value
