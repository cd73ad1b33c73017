"""Versions in tag names: semver and PEP 440 parsing, their order, and which stable version is
the highest (``latest = "auto"``).

Pure and standalone: git (which tag a commit's version is) and the tag rules both read versions
from here, and this module imports nothing of hubpub's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class VersionInfo:
    """A version parsed from a tag name; prints without the leading ``v``.

    ``text`` is what ``{{ version }}`` prints: semver's ``version`` (no build metadata, as
    metadata-action's ``{{version}}``) or PEP 440's normalized form."""

    raw: str
    major: int
    minor: int
    patch: int
    prerelease: str | None
    build: str | None
    is_prerelease: bool
    scheme: str  # "semver" | "pep440"
    text: str
    _release: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.text

    @property
    def is_stable(self) -> bool:
        return not self.is_prerelease

    def release_key(self) -> tuple[int, ...]:
        release = list(self._release)
        while release and release[-1] == 0:
            release.pop()
        return tuple(release)


# semver.org's grammar, as node-semver's strict FULL (a leading "v" accepted).
_NUM = r"(?:0|[1-9]\d*)"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][A-Za-z0-9-]*)"
_SEMVER = re.compile(
    rf"v?({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_SEMVER_MAX_LENGTH = 256
_MAX_SAFE_INTEGER = 2**53 - 1  # node-semver refuses larger components


def parse_semver(text: str) -> VersionInfo | None:
    if len(text) > _SEMVER_MAX_LENGTH:
        return None
    found = _SEMVER.fullmatch(text)
    if not found:
        return None
    major, minor, patch = (int(found[i]) for i in (1, 2, 3))
    if max(major, minor, patch) > _MAX_SAFE_INTEGER:
        return None
    pre, build = found[4], found[5]
    core = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    return VersionInfo(
        raw=text,
        major=major,
        minor=minor,
        patch=patch,
        prerelease=pre,
        build=build,
        is_prerelease=pre is not None,
        scheme="semver",
        text=core,
        _release=(major, minor, patch),
    )


# PEP 440, appendix B's pattern; normalization as PEP 440's "Normalization" section.
_PEP440 = re.compile(
    r"""
    v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PRE_NAMES = {"a": "a", "alpha": "a", "b": "b", "beta": "b"}
_PRE_NAMES |= {"c": "rc", "rc": "rc", "pre": "rc", "preview": "rc"}


def parse_pep440(text: str) -> VersionInfo | None:
    found = _PEP440.fullmatch(text.strip())
    if not found:
        return None
    release = tuple(int(part) for part in found["release"].split("."))
    normalized = ".".join(str(part) for part in release)
    epoch = int(found["epoch"] or 0)
    if epoch:
        normalized = f"{epoch}!{normalized}"
    pre = None
    if found["pre"]:
        pre = f"{_PRE_NAMES[found['pre_l'].lower()]}{int(found['pre_n'] or 0)}"
        normalized += pre
    post = found["post"] is not None
    if post:
        normalized += f".post{int(found['post_n1'] or found['post_n2'] or 0)}"
    dev = found["dev"] is not None
    if dev:
        normalized += f".dev{int(found['dev_n'] or 0)}"
    # What follows the release, for version.prerelease: "rc1", ".post1", ".dev0".
    qualifiers = normalized.split("!")[-1][len(".".join(map(str, release))) :] or None
    local = None
    if found["local"]:
        local = re.sub(r"[-_.]", ".", found["local"].lower())
        normalized += f"+{local}"
    padded = (*release, 0, 0)  # @renovate/pep440: a missing minor or patch is 0
    return VersionInfo(
        raw=text,
        major=padded[0],
        minor=padded[1],
        patch=padded[2],
        prerelease=qualifiers,
        build=local,
        # metadata-action: pre, post and dev releases only get their full version.
        is_prerelease=bool(pre or post or dev),
        scheme="pep440",
        text=normalized,
        _release=release,
    )


def parse_version(tag: str) -> VersionInfo | None:
    """The version a tag name stands for: semver first (metadata-action's ``semver``), else
    PEP 440; ``None`` for other tags."""
    return parse_semver(tag) or parse_pep440(tag)


def _same_scheme(version: VersionInfo, tag: str) -> VersionInfo | None:
    return parse_semver(tag) if version.scheme == "semver" else parse_pep440(tag)


def is_highest_stable(tag: str | None, all_tags: Iterable[str]) -> bool:
    """Whether ``tag`` is a stable version at least as high as every stable version tag of the
    repository: releasing backport 1.9.1 after 2.0.1 does not move ``latest``
    (docs/config.md#automatic-latest)."""
    if tag is None:
        return False
    version = parse_version(tag)
    if version is None or version.is_prerelease:
        return False
    mine = version.release_key()
    for other in all_tags:
        theirs = _same_scheme(version, other)
        if theirs is not None and theirs.is_stable and theirs.release_key() > mine:
            return False
    return True


def higher_stable(version: VersionInfo, all_tags: Iterable[str]) -> list[VersionInfo]:
    """The stable versions among ``all_tags`` (of ``version``'s scheme) higher than it: the
    ones that may own a floating tag of its series (``1`` or ``1.2``) instead of it."""
    mine = version.release_key()
    out = []
    for other in all_tags:
        theirs = _same_scheme(version, other)
        if theirs is not None and theirs.is_stable and theirs.release_key() > mine:
            out.append(theirs)
    return out
