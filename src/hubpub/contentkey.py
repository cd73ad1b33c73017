"""The content key of a build: know without building whether an image is current.

The key is a sha256 over everything the engine's build sees and nothing that changes with
every commit:

- every file the build context sends after ``.dockerignore`` (the docker SDK's own
  ``exclude_paths``, so the key and the build agree on which files count), with its path
  relative to the context, its mode and the sha256 of its bytes (a symlink: its target);
- the Dockerfile's bytes, the rendered build args, the target stage, the user's labels;
- the digest of every external image the build starts from (``FROM``, ``COPY --from``),
  resolved by a caller-supplied function (observe uses the registry client).

The OCI labels hubpub adds (revision, version, created) stay out on purpose: a release then
promotes the very bytes that were built and tested. Every image hubpub builds carries the key
as the :data:`LABEL` label; observe reads it back from the config blob of each existing tag.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dockerfile as _dockerfile

from hubpub.errors import ConfigError, ReferenceError_
from hubpub.reference import parse_reference

LABEL = "io.hubpub.content-key"
_FORMAT = "hubpub-content-key/v1"
# The name the docker SDK gives a Dockerfile that lives outside its context (process_dockerfile).
_OUTSIDE_DOCKERFILE = ".dockerfile.outside"


@dataclass(frozen=True)
class Dockerfile:
    """A Dockerfile read and parsed once: observe needs its bases (to look them up, concurrently
    with the tags) before it can compute the key, which needs the bytes and the bases again."""

    data: bytes  # exactly as read: the key hashes these bytes
    bases: tuple[str, ...]  # base_images() of them, for the build args and target given

    @classmethod
    def parse(cls, data: bytes, build_args: Mapping[str, str], target: str | None) -> Dockerfile:
        return cls(data, tuple(base_images(data.decode("utf-8", "replace"), build_args, target)))


def base_images(text: str, build_args: Mapping[str, str], target: str | None = None) -> list[str]:
    """The external images a Dockerfile builds from, in order, without duplicates.

    ``scratch`` and earlier stage names are skipped; ``ARG`` defaults declared before the first
    ``FROM`` and the build args are substituted (Docker's rule: only those global ARGs reach
    ``FROM``). With ``target``, the stages after it are left out: they are not built.
    """
    try:
        commands = _dockerfile.parse_string(text)
    except _dockerfile.GoParseError as exc:
        raise ConfigError(
            f"cannot parse the Dockerfile: {str(exc).strip() or 'no instructions'}"
        ) from None
    global_args: dict[str, str] = {}
    stages: list[str] = []  # stage names (lowercase; "" for an unnamed stage), in order
    images: list[str] = []

    def add(image: str) -> None:
        if image.lower() != "scratch" and image.lower() not in stages and image not in images:
            images.append(image)

    seen_from = False
    for cmd in commands:
        name = cmd.cmd.upper()
        if name == "ARG" and not seen_from:
            for item in cmd.value:
                key, has_default, default = item.partition("=")
                if key in build_args:
                    global_args[key] = build_args[key]
                elif has_default:  # "ARG V" alone leaves V unset: ${V-x} gives x
                    global_args[key] = _unquote(default)
        elif name == "FROM":
            if stages and target is not None and stages[-1] == target.lower():
                break
            seen_from = True
            values = list(cmd.value)
            image = substitute(values[0], global_args)
            if image.lower() not in stages:  # an earlier stage, by any case, is no image
                _check_base(values[0], image, global_args)
            stage = values[2] if len(values) >= 3 and values[1].upper() == "AS" else ""
            add(image)
            stages.append(stage.lower())
        elif name in ("COPY", "ADD") and seen_from:
            for flag in cmd.flags:
                if flag.startswith("--from="):
                    source = flag[len("--from=") :]
                    # A stage name or index refers to this build, anything else to an image.
                    if not source.isdigit():
                        add(source)
    return images


def dockerfile_problems(
    text: str, build_args: Mapping[str, str], target: str | None = None
) -> list[tuple[int | None, str]]:
    """What would make the engine refuse this Dockerfile before building anything, found
    without an engine (``validate``): ``(line, problem)`` pairs, ``line`` None for the file.

    It does not parse; it has no ``FROM``; ``target`` names none of its stages; a ``FROM``
    uses a variable that no global ``ARG`` default or build arg sets (``FROM ${BASE}`` with
    ``BASE`` unset would be ``FROM``, an empty image name)."""
    try:
        commands = _dockerfile.parse_string(text)
    except _dockerfile.GoParseError as exc:
        return [(None, f"cannot parse it: {exc}")]
    problems: list[tuple[int | None, str]] = []
    global_args: dict[str, str | None] = {}
    stages: list[str] = []
    for cmd in commands:
        name = cmd.cmd.upper()
        if name == "ARG" and not stages:
            for item in cmd.value:
                key, has_default, default = item.partition("=")
                if key in build_args:
                    global_args[key] = build_args[key]
                else:
                    global_args[key] = _unquote(default) if has_default else None
        elif name == "FROM":
            values = list(cmd.value)
            stages.append(values[2] if len(values) >= 3 and values[1].upper() == "AS" else "")
            for match in _VAR.finditer(values[0] if values else ""):
                var = match.group("plain") or match.group("braced")
                defaulted = match.group("op") in (":-", "-", ":+", "+")
                if global_args.get(var) is None and var not in build_args and not defaulted:
                    problems.append(
                        (
                            cmd.start_line,
                            f"{cmd.original.strip()}: build arg {var} is not set "
                            "(set it in the image's build_args, or give the ARG a default "
                            "before the first FROM)",
                        )
                    )
    if not stages:
        problems.append((None, "no FROM instruction"))
    elif target is not None and target.lower() not in (stage.lower() for stage in stages):
        named = ", ".join(stage for stage in stages if stage) or "none is named"
        problems.append((None, f"target {target!r} is not one of its stages ({named})"))
    return problems


def _check_base(written: str, image: str, variables: Mapping[str, str]) -> None:
    """A ``FROM`` that names no valid image, said with what it was written as: an unset build
    arg gave "base image : not found at ," before."""
    if image.lower() == "scratch":
        return
    unset = sorted(
        {m.group("plain") or m.group("braced") for m in _VAR.finditer(written)} - set(variables)
    )
    if not image:
        because = f" ({', '.join(unset)} unset)" if unset else ""
        raise ConfigError(
            f"FROM {written} names no image{because}",
            hint="set it in the image's build_args, or give the ARG a default before FROM",
        )
    try:
        parse_reference(image)
    except ReferenceError_ as exc:
        raise ConfigError(f"FROM {written}: {exc.message}", hint=exc.hint) from None


_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-+])?(?P<word>[^}]*)\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Dockerfile variable substitution: ``$X``, ``${X}``, ``${X:-default}``, ``${X:+alt}``."""

    def repl(match: re.Match[str]) -> str:
        name = match.group("plain") or match.group("braced")
        value = variables.get(name)
        op = match.group("op")
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return match.group("word") if unset else str(value)
        if op in (":+", "+"):
            unset = value is None or (op == ":+" and value == "")
            return "" if unset else match.group("word")
        return value or ""

    return _VAR.sub(repl, text)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def dockerignore_patterns(context: Path) -> list[str]:
    """The patterns as the docker SDK reads them (api/build.py)."""
    path = context / ".dockerignore"
    if not path.exists():
        return []
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context: Path, dockerfile: Path) -> list[str]:
    """The paths (relative, sorted) the docker SDK sends as the build context."""
    # Imported here: the docker SDK is slow to import and most runs never hash a context; and
    # through the engine module's lock, as another thread may be importing it (engine/sdk.py).
    from hubpub.engine.sdk import sdk_module  # lazy: the docker SDK costs 0.25 s (engine/sdk.py)

    exclude_paths = sdk_module("docker.utils.build").exclude_paths
    rel = _dockerfile_name(context, dockerfile)
    found: list[str] = exclude_paths(str(context), dockerignore_patterns(context), dockerfile=rel)
    return sorted(found)


def _dockerfile_name(context: Path, dockerfile: Path) -> str:
    try:
        return dockerfile.relative_to(context).as_posix()
    except ValueError:
        return _OUTSIDE_DOCKERFILE


def user_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels of the config an image carries: an empty value is a template that had
    nothing to say (a source URL unknown here), and sets no label, as in metadata-action."""
    return {key: value for key, value in labels.items() if value != ""}


def content_key(
    context: Path,
    dockerfile: Path,
    build_args: Mapping[str, str],
    target: str | None,
    resolve: Callable[[str], str],
    labels: Mapping[str, str] | None = None,
    *,
    parsed: Dockerfile | None = None,
    files: Sequence[tuple[str, int, str]] | None = None,
    platforms: Sequence[str] = (),
) -> str:
    """The key of a build; ``resolve`` turns a base image name into a digest; ``labels`` are
    the user's (the image's config carries them, so a new value is a new image).

    ``parsed``: the file at ``dockerfile`` already read and parsed with these ``build_args``
    and ``target`` (observe's), so that the bases looked up and the bytes hashed are the same
    read of the file; else it is read here. ``files``: :func:`context_entries` of the context,
    when the caller hashed it already (observe does, while the registries answer)."""
    if parsed is None:
        try:
            data = dockerfile.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the Dockerfile {dockerfile}: {exc.strerror}") from None
        parsed = Dockerfile.parse(data, build_args, target)
    return key_of(
        files=files if files is not None else context_entries(context, dockerfile),
        dockerfile=parsed.data,
        build_args=build_args,
        target=target,
        bases=[(image, resolve(image)) for image in parsed.bases],
        labels=user_labels(labels or {}),
        platforms=platforms,
    )


def context_entries(
    context: Path, dockerfile: Path, stop: threading.Event | None = None
) -> list[tuple[str, int, str]]:
    """What the key takes of a build context: (path, mode, content) of every entry the docker
    SDK would send, sorted. The slow part of a key (every file is read), and independent of
    the base images, so it can run while their digests are being asked for; ``stop`` ends it
    early (raising :class:`Stopped`) when the caller failed meanwhile and wants no result."""
    if not context.is_dir():
        raise ConfigError(f"the build context {context} is not a directory")
    files = context_files(context, dockerfile)
    for rel in files:
        try:
            rel.encode()
        except UnicodeEncodeError:
            # os.walk gives such a name with surrogates: not a path the key (or a tar header
            # the engine reads as UTF-8) can carry.
            shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise ConfigError(
                f"the build context {context} has a file whose name is not UTF-8: {shown}",
                hint="rename it, or leave it out with .dockerignore",
            ) from None
    return _file_entries(context, files, stop)


class Stopped(Exception):
    """Hashing a context was stopped by its caller (``context_entries``'s ``stop``)."""


def key_of(
    *,
    files: Sequence[tuple[str, int, str]],
    dockerfile: bytes,
    build_args: Mapping[str, str],
    target: str | None,
    bases: Sequence[tuple[str, str]],
    labels: Mapping[str, str] | None = None,
    platforms: Sequence[str] = (),
) -> str:
    """The key over already-gathered material (pure; tests use it directly). ``platforms``
    (the config's, in its order: the index lists them so) count only when set, so that the
    key of an image without them is the one earlier versions computed."""
    digest = hashlib.sha256()
    header: dict[str, object] = {
        "format": _FORMAT,
        "dockerfile": hashlib.sha256(dockerfile).hexdigest(),
        "build_args": sorted(build_args.items()),
        "target": target,
        "bases": [list(base) for base in bases],
        "labels": sorted((labels or {}).items()),
    }
    if platforms:
        header["platforms"] = list(platforms)
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(b"\n")
    for path, mode, content in files:
        # NUL cannot appear in a path: the framing is unambiguous.
        digest.update(f"{path}\0{mode:o}\0{content}\n".encode())
    return "sha256:" + digest.hexdigest()


def _file_entries(
    context: Path, paths: Sequence[str], stop: threading.Event | None = None
) -> list[tuple[str, int, str]]:
    entries = []
    for rel in paths:
        if stop is not None and stop.is_set():
            raise Stopped(str(context))
        full = os.path.join(context, rel)
        info = os.lstat(full)
        if stat.S_ISLNK(info.st_mode):
            content = "link:" + os.readlink(full)
        elif stat.S_ISDIR(info.st_mode):
            content = "dir"
        elif stat.S_ISREG(info.st_mode):
            content = _sha256_file(full)
        else:  # sockets, fifos: the engine sends them as empty entries
            content = "special"
        entries.append((rel, info.st_mode, content))
    return entries


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
