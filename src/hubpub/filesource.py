"""Images no engine built (docs/config.md#file-sources): ``source = "oci:<dir>[:<ref>]"`` (an
OCI image layout, as buildah, umoci, rules_oci, jib and ``skopeo copy … oci:`` write it) and
``source = "docker-archive:<file.tar>[:<repo:tag>]"`` (what ``docker save`` writes).

Pure: which file a source names (relative to the config file's folder), and which image of a
layout's ``index.json`` or an archive's ``manifest.json`` it means. Reading the files and
publishing them is fileimages.py's; checking them before a plan is commands/_desired.py's.

The forms follow skopeo's transports (containers-transports(5)): the path ends at the first
``:`` after the prefix, and what follows is the reference: an OCI layout's
``org.opencontainers.image.ref.name`` annotation (image-spec "Pre-defined annotation keys"),
or a docker-archive's ``RepoTags`` entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hubpub.errors import ConfigError

OCI_PREFIX = "oci:"
ARCHIVE_PREFIX = "docker-archive:"
REF_NAME = "org.opencontainers.image.ref.name"

Kind = Literal["oci", "docker-archive"]


@dataclass(frozen=True)
class FileSource:
    """A source on disk: ``path`` absolute, ``ref`` the image in it (None: the only one)."""

    kind: Kind
    path: Path
    ref: str | None
    text: str  # as rendered from the config, for messages and the plan
    # its top manifest's digest, once read (commands/_session.py): the key of an image built
    # FROM this one's tags counts it (observe.py)
    digest: str | None = None

    def __str__(self) -> str:
        return self.text


def parse_file_source(text: str, root: Path) -> FileSource | None:
    """The file source ``text`` names, or None when it is a registry reference; ValueError
    when it names no path."""
    for prefix, kind in ((OCI_PREFIX, "oci"), (ARCHIVE_PREFIX, "docker-archive")):
        if text.startswith(prefix):
            path, _, ref = text[len(prefix) :].partition(":")
            if not path:
                what = "folder" if kind == "oci" else "file"
                raise ValueError(f"{text!r} names no {what} after {prefix!r}")
            chosen: Kind = "oci" if kind == "oci" else "docker-archive"
            return FileSource(chosen, root / path, ref or None, text)
    return None


def _json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ConfigError(
            f"{name} is not valid JSON{where}: {exc}",
            hint="write it again with the tool that made it",
        ) from None


def select_oci(index_json: bytes, ref: str | None, where: str = "index.json") -> dict[str, Any]:
    """The descriptor of ``index.json`` (a layout's entry point, image-spec "image-layout.md")
    that ``ref`` names: the entry whose ref.name annotation is ``ref``; without ``ref``, the
    only entry. ConfigError naming the references there are otherwise."""
    doc = _json(index_json, where)
    entries = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("digest"), str) for e in entries
    ):
        raise ConfigError(
            f"{where} is not an OCI image index (no 'manifests' list of descriptors)",
            hint="give the folder an OCI tool wrote (skopeo copy … oci:DIR, umoci, buildah)",
        )
    refs = [_ref_name(entry) for entry in entries]
    if ref is not None:
        chosen = [entry for entry, name in zip(entries, refs, strict=True) if name == ref]
        if not chosen:
            raise ConfigError(
                f"{where} has no image named {ref!r} (its refs: {_listed(refs)})",
                hint="write one of its refs after the folder, e.g. oci:DIR:REF",
            )
        return dict(chosen[0])
    if len(entries) == 1:
        return dict(entries[0])
    if not entries:
        raise ConfigError(f"{where} lists no image", hint="write the image into the layout first")
    raise ConfigError(
        f"{where} holds {len(entries)} images (refs: {_listed(refs)}): name the one to publish",
        hint="add its ref after the folder, e.g. oci:DIR:REF",
    )


def select_archive(
    manifest_json: bytes | Any, ref: str | None, where: str = "manifest.json"
) -> dict[str, Any]:
    """The entry of a docker-archive's ``manifest.json`` (one per image: Config, RepoTags,
    Layers; its bytes or their JSON) that ``ref`` names among its RepoTags; without ``ref``,
    the only entry."""
    doc = _json(manifest_json, where) if isinstance(manifest_json, bytes) else manifest_json
    if not isinstance(doc, list) or not all(
        isinstance(e, dict) and isinstance(e.get("Config"), str) for e in doc
    ):
        raise ConfigError(
            f"{where} is not a docker-archive manifest (a list of {{Config, RepoTags, Layers}})",
            hint="give the tarball 'docker save' wrote",
        )
    tags = [list(_strings(entry.get("RepoTags"))) for entry in doc]
    shown = [", ".join(names) or "(untagged)" for names in tags]
    if ref is not None:
        wanted = ref if ":" in ref.rpartition("/")[2] else f"{ref}:latest"
        chosen = [e for e, names in zip(doc, tags, strict=True) if wanted in names]
        if not chosen:
            raise ConfigError(
                f"{where} has no image tagged {ref!r} (its images: {'; '.join(shown) or 'none'})",
                hint="write one of its tags after the file, e.g. docker-archive:FILE:REPO:TAG",
            )
        return dict(chosen[0])
    if len(doc) == 1:
        return dict(doc[0])
    if not doc:
        raise ConfigError(f"{where} lists no image", hint="give the tarball 'docker save' wrote")
    raise ConfigError(
        f"{where} holds {len(doc)} images ({'; '.join(shown)}): name the one to publish",
        hint="add its tag after the file, e.g. docker-archive:FILE:REPO:TAG",
    )


def _ref_name(entry: Mapping[str, Any]) -> str | None:
    annotations = entry.get("annotations")
    name = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
    return name if isinstance(name, str) else None


def _listed(refs: Sequence[str | None]) -> str:
    named = [name for name in refs if name is not None]
    unnamed = len(refs) - len(named)
    parts = [repr(name) for name in named]
    if unnamed:
        parts.append(f"{unnamed} without a ref")
    return ", ".join(parts) or "none"


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))
