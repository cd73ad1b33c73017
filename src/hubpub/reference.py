"""Image references, parsed and normalized exactly as distribution/reference does.

docker-image-py is a faithful port of distribution's ``ParseNormalizedNamed``: ``ubuntu`` is
``docker.io/library/ubuntu``, ``index.docker.io/x/y`` is ``docker.io/x/y``, ``localhost:5000/x``
keeps its host, uppercase repository paths are refused with distribution's own reason.
This module wraps it in small frozen value types that the rest of hubpub passes around.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docker_image import reference as _dref

from hubpub.errors import ReferenceError_

DOCKER_HUB = "docker.io"
# Docker Hub's API is not served on docker.io itself (registry-protocol.md, "Docker Hub").
DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# distribution/reference's tag grammar: [\w][\w.-]{0,127}, ASCII \w.
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def is_valid_tag(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


@dataclass(frozen=True, order=True)
class Repository:
    """A normalized repository: ``registry`` is the host (``docker.io``, ``localhost:5000``)."""

    registry: str
    path: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"

    def with_tag(self, tag: str) -> Reference:
        return Reference(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self, digest=digest)

    @property
    def api_host(self) -> str:
        return api_host(self.registry)


@dataclass(frozen=True, order=True)
class Reference:
    """A repository with a tag, a digest, or both (``repo:tag@sha256:...``)."""

    repository: Repository
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = str(self.repository)
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def registry(self) -> str:
        return self.repository.registry

    @property
    def path(self) -> str:
        return self.repository.path

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        if self.digest is not None:
            return self.digest
        return self.tag if self.tag is not None else "latest"


def api_host(registry: str) -> str:
    """The host that serves the registry API for a normalized registry name."""
    return DOCKER_HUB_API if registry in _DOCKER_HUB_ALIASES else registry


def credential_host(registry: str) -> str:
    """The key the Docker config and credential helpers use: every Docker Hub name is
    ``docker.io``'s (registry-protocol.md, "The docker SDK": only that name maps to Hub)."""
    return DOCKER_HUB if registry in _DOCKER_HUB_ALIASES else registry


def parse_reference(text: str) -> Reference:
    """Parse and normalize ``text``; raise :class:`ReferenceError_` with distribution's reason."""
    try:
        parsed = _dref.Reference.parse_normalized_named(text.strip())
    except _dref.InvalidReference as exc:
        reason = str(exc) or type(exc).__name__
        raise ReferenceError_(f"invalid image reference {text!r}: {reason}") from None
    domain, path = parsed.split_hostname()
    return Reference(Repository(domain, path), tag=parsed["tag"], digest=parsed["digest"])


def parse_repository(text: str) -> Repository:
    """A repository as written in ``repositories = [...]``: no tag, no digest."""
    ref = parse_reference(text)
    if ref.tag is not None or ref.digest is not None:
        raise ReferenceError_(
            f"repository {text!r} must not carry a tag or digest",
            hint=f"write {str(ref.repository)!r}; tags come from the image's tag rules",
        )
    return ref.repository
