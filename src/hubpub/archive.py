"""Read a docker-archive (``docker save``, ``GET /images/{id}/get``) from a stream.

The archive is read once, front to back (``tarfile``'s stream mode): the order of its members
is the engine's (a directory walk), so ``manifest.json``, which says which file is the config
and which are the layers, may come last. Each regular file is therefore spooled to ``folder``
as it streams by, hashed on the way (a layer's sha256 is its diff ID); nothing is held in
memory but one read buffer. Symbolic links (the engine links a layer it already wrote under
another name) are resolved to the file they name.

Both layouts the engine writes are read: the legacy one (``<id>/layer.tar``, ``<id>.json``)
and the OCI one of newer engines (``blobs/sha256/<hex>``); ``manifest.json`` names the files
in either.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hubpub.errors import EngineError

_READ_SIZE = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Layer:
    """One layer as the engine exported it: an uncompressed tar spooled to ``path``."""

    diff_id: str
    path: Path
    size: int


@dataclass(frozen=True)
class ExportedImage:
    config: bytes  # the image config, byte for byte as the engine wrote it
    layers: tuple[Layer, ...]

    @property
    def config_json(self) -> dict[str, Any]:
        return _config_object(self.config, "the image config")


@dataclass(frozen=True)
class _Spooled:
    path: Path
    digest: str
    size: int


def read_archive(
    stream: Readable, folder: Path, pick: Callable[[Any], dict[str, Any]] | None = None
) -> ExportedImage:
    """The image of a single-image docker-archive read from ``stream``, its files spooled to
    ``folder`` (which the caller removes); ``pick``: the entry of ``manifest.json`` to read
    when the archive may hold several (a file source's, filesource.select_archive)."""
    # With a pick the archive is a user's file (a file source): its errors name no engine, and
    # the caller puts the source's name before them.
    archive = "the archive" if pick is not None else "the exported image archive"
    files: dict[str, _Spooled] = {}
    links: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:  # type: ignore[call-overload]
            for index, member in enumerate(tar):
                name = posixpath.normpath(member.name)
                if member.issym() or member.islnk():
                    base = posixpath.dirname(name) if member.issym() else ""
                    links[name] = posixpath.normpath(posixpath.join(base, member.linkname))
                elif member.isfile():
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    files[name] = _spool(source, folder / f"{index}")
    except (tarfile.TarError, OSError) as exc:
        what = "the archive" if pick is not None else "the image the engine exported"
        raise EngineError(f"cannot read {what}: {exc}") from None
    manifest = _read_json(_resolve("manifest.json", files, links, archive).path, archive)
    if pick is not None:
        entry = pick(manifest)
    elif not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        raise EngineError("the engine exported an archive without exactly one image")
    else:
        entry = manifest[0]
    config_name = str(entry.get("Config", ""))
    config = _resolve(config_name, files, links, archive).path.read_bytes()
    layers = []
    for name in entry.get("Layers") or ():
        spooled = _resolve(str(name), files, links, archive)
        layers.append(Layer(spooled.digest, spooled.path, spooled.size))
    image = ExportedImage(config, tuple(layers))
    config_json = _config_object(config, f"the image config {config_name} of {archive}")
    diff_ids = (config_json.get("rootfs") or {}).get("diff_ids")
    if diff_ids != [layer.diff_id for layer in layers]:
        raise EngineError(
            "the exported layers do not match the image config's diff IDs",
            hint="the engine's image store may be damaged; rebuild with --rebuild",
        )
    return image


def _spool(source: Readable, path: Path) -> _Spooled:
    hasher = hashlib.sha256()
    size = 0
    with path.open("wb") as out:
        while chunk := source.read(_READ_SIZE):
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return _Spooled(path, f"sha256:{hasher.hexdigest()}", size)


def _resolve(
    name: str, files: dict[str, _Spooled], links: dict[str, str], archive: str
) -> _Spooled:
    name = posixpath.normpath(name)
    for _ in range(16):  # a link to a link, but never a loop
        if name in files:
            return files[name]
        if name not in links:
            break
        name = links[name]
    raise EngineError(f"{archive} has no file {name}")


def _read_json(path: Path, archive: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except ValueError as exc:
        raise EngineError(f"{archive} has a malformed manifest.json: {exc}") from None


def _config_object(config: bytes, what: str) -> dict[str, Any]:
    # A user's archive may hold anything as its config (validate reads only its manifest.json):
    # an error naming the file, not a JSONDecodeError.
    try:
        data = json.loads(config)
    except ValueError as exc:
        raise EngineError(f"{what} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EngineError(f"{what} is not a JSON object")
    return data
