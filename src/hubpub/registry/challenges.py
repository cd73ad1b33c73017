"""What a registry's ``WWW-Authenticate`` says, and the token scopes hubpub asks for: pure
parsing, no I/O (tested in tests/unit/test_registry.py).

Owns: :class:`Challenge` and its parsing (RFC 7235), the choice between Bearer and Basic,
and the scope strings of distribution's docs/spec/auth/scope.md (the scopes that read or
write a repository, merging them, and finding the repositories a scope set would push to).
``auth`` builds the flow on these and ``errors`` reads a refusal's challenge with them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from hubpub.reference import Repository

_TOKEN68 = r"[A-Za-z0-9\-._~+/]+=*"
_PARAM_RE = re.compile(r'\s*([A-Za-z0-9!#$%&\'*+\-.^_`|~]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*')
_SCHEME_RE = re.compile(r"\s*([A-Za-z0-9!#$%&\'*+\-.^_`|~]+)(?:\s+|$|(?=,))")


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header (RFC 7235 section 4.1)."""

    scheme: str  # lowercased: "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        # token.md: several scopes may be given space-separated in one parameter.
        return tuple(s for s in self.params.get("scope", "").split(" ") if s)

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in ``header``; several may share one header separated by commas, and
    a quoted value may itself contain commas (a scope list)."""
    challenges: list[Challenge] = []
    pos = 0
    text = header.strip()
    while pos < len(text):
        while pos < len(text) and text[pos] in ", ":
            pos += 1
        scheme_match = _SCHEME_RE.match(text, pos)
        if scheme_match is None:
            break
        scheme = scheme_match.group(1).lower()
        pos = scheme_match.end()
        params: dict[str, str] = {}
        while pos < len(text):
            param = _PARAM_RE.match(text, pos)
            if param is None:
                break
            # A scheme followed by a param looks like "name=value"; a bare token after a comma
            # is the next challenge's scheme, which _PARAM_RE does not match (no "=").
            name, value = param.group(1).lower(), param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[name] = value
            pos = param.end()
            if pos < len(text) and text[pos] == ",":
                pos += 1
        if not params:
            token68 = re.match(_TOKEN68, text[pos:])
            if token68:
                pos += token68.end()
        challenges.append(Challenge(scheme, params))
    return challenges


def pick_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """Bearer when offered (it carries scopes), else Basic."""
    found = {c.scheme: c for c in challenges}
    return found.get("bearer") or found.get("basic")


def repository_scope(path: str, *actions: str) -> str:
    return f"repository:{path}:{','.join(actions)}"


def read_scopes(repo: Repository) -> tuple[str, ...]:
    return (repository_scope(repo.path, "pull"),)


def write_scopes(repo: Repository, mount_from: Repository | None = None) -> tuple[str, ...]:
    """``pull,push`` only when writing; a mount also reads its source, and asks for it in the
    same token (docs/registry.md#blob-mounts)."""
    scopes = [repository_scope(repo.path, "pull", "push")]
    if mount_from is not None and mount_from.path != repo.path:
        scopes.append(repository_scope(mount_from.path, "pull"))
    return tuple(scopes)


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Merge the actions of equal resources and sort, so that a cache key names a set of
    grants, not the order they were asked in: ``repository:a:push`` and ``repository:a:pull``
    become ``repository:a:pull,push`` (token.md "Requesting a Token": one scope per resource)."""
    merged: dict[tuple[str, str], set[str]] = {}
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if not name:  # not "type:name:actions"; keep it verbatim
            merged.setdefault((scope, ""), set())
            continue
        merged.setdefault((kind, name), set()).update(a for a in actions.split(",") if a)
    out = []
    for (kind, name), acts in sorted(merged.items()):
        out.append(f"{kind}:{name}:{','.join(sorted(acts))}" if acts or name else kind)
    return tuple(out)


def scopes_want_push(scopes: Iterable[str]) -> list[str]:
    """The repositories whose scope asks for push (for a DENIED message)."""
    repos = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind == "repository" and "push" in actions.split(","):
            repos.append(name)
    return repos
