"""Image references, parsed and normalized exactly as distribution/reference does.

docker-image-py is a faithful port of distribution's ``ParseNormalizedNamed``: ``ubuntu`` is
``docker.io/library/ubuntu``, ``index.docker.io/x/y`` is ``docker.io/x/y``, ``localhost:5000/x``
keeps its host, uppercase repository paths are refused with distribution's own reason.
This module wraps it in small frozen value types that the rest of hubpub passes around.

docker-image-py stays the authority, but importing it costs 0.04 to 0.06 s at every start (it
imports the ``regex`` package and compiles the whole grammar), more than all the parsing a run
does. So the common form, ASCII ``[host[:port]/]path[:tag][@sha256:<64 hex>]``, is parsed here
by the same steps on a port of distribution's grammar to the standard ``re``
(:func:`_parse_common`), and docker-image-py is imported only for what that does not accept:
IPv6 hosts, other digest algorithms, and every invalid reference, so that an error keeps
distribution's reason. tests/unit/test_reference.py checks that both give the same result, by a
table and by a property over generated references.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from hubpub.errors import ReferenceError_

DOCKER_HUB = "docker.io"
# Docker Hub's API is not served on docker.io itself (docs/registry.md#references-and-hosts).
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
    ``docker.io``'s (only that name maps to Hub's key: docs/registry.md#docker-hub-quirks)."""
    return DOCKER_HUB if registry in _DOCKER_HUB_ALIASES else registry


def parse_reference(text: str) -> Reference:
    """Parse and normalize ``text``; raise :class:`ReferenceError_` with distribution's reason."""
    parsed = _parse_common(text.strip())
    ref = parsed if parsed is not None else _parse_with_docker_image(text)
    host, colon, port = ref.registry.rpartition(":")
    if colon and not host.endswith("]") and port.isdigit() and not 0 < int(port) < 65536:
        # distribution's grammar takes any digits; no connection can be made to such a port.
        raise ReferenceError_(
            f"invalid image reference {text.strip()!r}: port {port} is out of range (1-65535)"
        )
    return ref


def _parse_with_docker_image(text: str) -> Reference:
    # Imported here: see the module's docstring (0.04 to 0.06 s that most runs never need).
    from docker_image import digest as ddigest  # lazy: 0.04-0.06 s (docstring)
    from docker_image import reference as dref  # lazy: 0.04-0.06 s (docstring)

    try:
        parsed = dref.Reference.parse_normalized_named(text.strip())
    # A malformed digest (uppercase hex) raises InvalidDigest, which is no InvalidReference:
    # it used to escape as an internal error.
    except (dref.InvalidReference, ddigest.InvalidDigest) as exc:
        reason = str(exc) or type(exc).__name__
        raise ReferenceError_(f"invalid image reference {text!r}: {reason}") from None
    domain, path = parsed.split_hostname()
    return Reference(Repository(domain, path), tag=parsed["tag"], digest=parsed["digest"])


# distribution/reference's grammar (regexp.go), as docker_image/regexp.py writes it, minus the
# IPv6 host form. ASCII only: Go's classes are ASCII, and so is everything this path accepts.
_ALPHA_NUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHA_NUMERIC}(?:{_SEPARATOR}{_ALPHA_NUMERIC})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_NAME_TOTAL_LENGTH_MAX = 255  # of the path, as docker-image-py counts it
_LEGACY_DOCKER_HUB = "index.docker.io"
_OFFICIAL_NAMESPACE = "library"


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(host, identifier, canonical reference), compiled on first use (about 1 ms)."""
    return (
        re.compile(_HOST, re.ASCII),
        re.compile(r"[a-f0-9]{64}", re.ASCII),
        # A normalized reference: host, path, tag, digest. The host is what precedes the first
        # "/" (it holds no "/"), so the groups are the ones distribution's split gives.
        re.compile(
            rf"({_HOST})/({_REMOTE_NAME})(?::({_TAG}))?(?:@(sha256:[0-9a-f]{{64}}))?", re.ASCII
        ),
    )


def _parse_common(text: str) -> Reference | None:
    """docker-image-py's ``parse_normalized_named`` on its success path, step by step; ``None``
    for anything it might refuse or that this port does not cover (the caller then asks
    docker-image-py). Nothing here raises."""
    host_re, identifier_re, canonical_re = _patterns()
    # try_validate: a first component with a "." must be a host.
    first, slash, rest = text.partition("/")
    if slash and "." in first and host_re.fullmatch(first) is None:
        return None
    if identifier_re.fullmatch(text):
        return None  # refused: "cannot specify 64-byte hexadecimal strings"
    # split_docker_domain (distribution's splitDockerDomain).
    if not slash:
        domain, remainder = DOCKER_HUB, f"{_OFFICIAL_NAMESPACE}/{text}"
    elif first == "localhost" or ("." in first or ":" in first) or first.lower() != first:
        domain, remainder = first, rest
    else:
        domain, remainder = DOCKER_HUB, text
    if domain == _LEGACY_DOCKER_HUB:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"{_OFFICIAL_NAMESPACE}/{remainder}"
    remote_name = remainder.partition(":")[0]
    if remote_name.lower() != remote_name:
        return None  # refused: "repository name (...) must be lowercase"
    # parse() of the normalized text: the grammar (which also keeps out every character
    # try_validate refuses), then the path's length.
    found = canonical_re.fullmatch(f"{domain}/{remainder}")
    if found is None or len(found[2]) > _NAME_TOTAL_LENGTH_MAX:
        return None
    return Reference(Repository(found[1], found[2]), tag=found[3], digest=found[4])


def parse_repository(text: str) -> Repository:
    """A repository as written in ``repositories = [...]``: no tag, no digest."""
    ref = parse_reference(text)
    if ref.tag is not None or ref.digest is not None:
        raise ReferenceError_(
            f"repository {text!r} must not carry a tag or digest",
            hint=f"write {str(ref.repository)!r}; tags come from the image's tag rules",
        )
    return ref.repository
