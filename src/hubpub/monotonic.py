"""The rule that a floating tag only moves forward in commit history (docs/config.md, "Tags
only move forward"), on observed facts: pure, and decided the same way by the planner and by
apply's compare-and-swap (swap.py through provenance.MoveGuard).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hubpub.gitstate import Relation
from hubpub.reference import Reference
from hubpub.versions import parse_version


@dataclass(frozen=True)
class Provenance:
    """What an image's OCI labels say of where it comes from (observe reads them with its
    content key): the commit it was built from, that commit's time, its version."""

    revision: str | None = None
    created: str | None = None  # RFC 3339, as labelled: hubpub writes the commit's time
    version: str | None = None
    # of an index: the platforms it lists (read with its annotations, which hold the rest)
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Commit:
    """The commit a plan publishes."""

    sha: str
    time: datetime  # aware


def newer_published(provenance: Provenance, relation: Relation, commit: Commit) -> bool:
    """Whether the image a tag points to (its ``provenance``) was built from a commit newer than
    ``commit``, so that moving the tag to ``commit``'s image would move it backwards.

    Newer means: its revision descends from ``commit`` in git; when git cannot say (the
    revision is not in the clone: a shallow clone, a force-pushed branch), its created time
    (hubpub labels the build commit's time) is later than ``commit``'s. Diverged histories
    (a force push) and images that do not say their revision move."""
    revision = provenance.revision
    if not revision or revision == commit.sha:
        return False
    if relation == "newer":
        return True
    if relation in ("older", "diverged", "same"):
        return False
    created = _parse_time(provenance.created)
    return created is not None and created > commit.time


def skip_text(provenance: Provenance) -> str:
    """``newer published: 1.3.0 / commit abc1234``: the version when the label names one (a
    branch build's says its branch: only the commit is shown then)."""
    version = provenance.version
    what = [version] if version and parse_version(version) is not None else []
    if provenance.revision:
        what.append(f"commit {provenance.revision[:7]}")
    return "newer published: " + " / ".join(what)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class _Tag(Protocol):
    @property
    def ref(self) -> Reference: ...
    @property
    def monotonic(self) -> bool: ...
    @property
    def immutable(self) -> bool: ...


@dataclass(frozen=True)
class Decided:
    """Skips decided before (a saved plan's): a tag is skipped as it was, if it may be."""

    skipped: Mapping[Reference, str]

    def skip_reason(self, tag: _Tag, now: str | None) -> str | None:
        if not tag.monotonic or tag.immutable or now is None:
            return None
        return self.skipped.get(tag.ref)


@dataclass(frozen=True)
class Guard:
    """The planner's question: does the tag point at an image of a newer commit than
    ``commit`` (observed ``provenance`` by digest, ``relations`` by revision)?"""

    commit: Commit
    provenance: Mapping[str, Provenance]
    relations: Mapping[str, Relation]

    def skip_reason(self, tag: _Tag, now: str | None) -> str | None:
        if not tag.monotonic or tag.immutable or now is None:
            return None
        provenance = self.provenance.get(now)
        if provenance is None:
            return None
        relation = self.relations.get(provenance.revision or "", "unknown")
        if not newer_published(provenance, relation, self.commit):
            return None
        return skip_text(provenance)
