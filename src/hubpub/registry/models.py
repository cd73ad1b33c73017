"""The values the registry client hands to the rest of hubpub (docs/architecture.md#data-flow).

A :class:`Manifest` keeps the exact bytes the registry served: its digest is the sha256 of those
bytes (OCI image-spec, "Descriptors": the digest covers the raw content), so re-serialized JSON
would name another image. Parsing is lazy and only for reading descriptors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from hubpub.errors import RegistryError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

# All four, always (docs/registry.md#oci-index-accept): without the OCI types distribution
# answers 404 for OCI manifests; without the list type a tag that points to a list answers with
# its linux/amd64 child, which has another digest.
MANIFEST_MEDIA_TYPES = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
INDEX_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})

_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach one registry; ``[registries."host"]`` of hubpub.toml."""

    insecure: bool = False
    ca_file: Path | None = None
    username_env: str | None = None
    password_env: str | None = None

    @classmethod
    def from_config(cls, registries: Mapping[str, _RegistrySettings]) -> dict[str, RegistryOptions]:
        """``Config.registries`` (config/model.py ``RegistryConfig``) as client options."""
        return {
            host: cls(
                insecure=rc.insecure,
                ca_file=rc.ca_file,
                username_env=rc.username_env,
                password_env=rc.password_env,
            )
            for host, rc in registries.items()
        }


class _RegistrySettings(Protocol):
    """What :meth:`RegistryOptions.from_config` reads (the registry does not import config)."""

    @property
    def insecure(self) -> bool: ...
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def username_env(self) -> str | None: ...
    @property
    def password_env(self) -> str | None: ...


@dataclass(frozen=True)
class ManifestInfo:
    """What a HEAD tells: enough to compare a tag with a desired digest."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (image-spec "Descriptors")."""

    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None

    @classmethod
    def from_json(cls, data: Any) -> Descriptor:
        if not isinstance(data, dict):
            raise RegistryError(f"malformed descriptor in manifest: {data!r:.80}")
        try:
            return cls(
                media_type=str(data.get("mediaType", "")),
                digest=str(data["digest"]),
                size=int(data["size"]),
                platform=data.get("platform"),
                annotations=data.get("annotations"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"malformed descriptor in manifest: {exc}") from None

    @property
    def platform_text(self) -> str:
        """``linux/arm64/v8`` as docker writes platforms; ``unknown`` for attestations."""
        return platform_text(self.platform)


def platform_text(platform: Mapping[str, Any] | None) -> str:
    """``os/architecture[/variant]`` of an index entry's platform or an image config (both
    name them so); ``unknown`` when there is none."""
    if not platform:
        return "unknown"
    parts = [str(platform.get("os", "?")), str(platform.get("architecture", "?"))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{_HASHES[algorithm](data).hexdigest()}"


def new_hasher(digest: str) -> Any:
    """A hashlib object for ``digest``'s algorithm (sha256 or sha512, image-spec "Digests")."""
    algorithm = digest.partition(":")[0]
    if algorithm not in _HASHES:
        raise RegistryError(f"unsupported digest algorithm in {digest!r}")
    return _HASHES[algorithm]()


def verify_digest(data: bytes, expected: str, what: str) -> None:
    """Raise unless ``data`` hashes to ``expected`` (OCI distribution-spec "Pulling manifests":
    a client should verify the content against the digest it asked for)."""
    hasher = new_hasher(expected)
    hasher.update(data)
    actual = f"{expected.partition(':')[0]}:{hasher.hexdigest()}"
    if actual != expected:
        raise RegistryError(f"{what}: content digest {actual} does not match {expected}")


@dataclass(frozen=True)
class Manifest:
    """A manifest or index exactly as served: ``raw`` is sha256-verified against ``digest``."""

    raw: bytes
    media_type: str
    digest: str

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str | None = None) -> Manifest:
        """Wrap bytes read from disk or built locally; the media type defaults to the
        document's own ``mediaType`` (image-spec requires it for both manifests and indexes)."""
        declared = _parse(raw).get("mediaType")
        chosen = media_type or (declared if isinstance(declared, str) else None)
        if not chosen:
            raise RegistryError("manifest has no mediaType; pass it explicitly")
        return cls(raw=raw, media_type=chosen, digest=digest_of(raw))

    def json(self) -> dict[str, Any]:
        return self._doc

    @cached_property
    def _doc(self) -> dict[str, Any]:
        return _parse(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def info(self) -> ManifestInfo:
        return ManifestInfo(digest=self.digest, media_type=self.media_type, size=len(self.raw))

    @property
    def children(self) -> list[Descriptor]:
        """The manifests an index points to (empty for an image manifest)."""
        if not self.is_index:
            return []
        return [Descriptor.from_json(d) for d in self._doc.get("manifests", [])]

    @property
    def config(self) -> Descriptor | None:
        if self.is_index or "config" not in self._doc:
            return None
        return Descriptor.from_json(self._doc["config"])

    @property
    def layers(self) -> list[Descriptor]:
        if self.is_index:
            return []
        return [Descriptor.from_json(d) for d in self._doc.get("layers", [])]

    @property
    def blobs(self) -> list[Descriptor]:
        """Config first, then layers: every blob an image manifest needs in its repository."""
        config = self.config
        return ([config] if config is not None else []) + self.layers


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RegistryError("manifest is not a JSON object")
    return doc
