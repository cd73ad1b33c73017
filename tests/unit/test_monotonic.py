"""The rule that a floating tag only moves forward, on a table of observed facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hubpub.gitstate import Relation
from hubpub.monotonic import Commit, Provenance, newer_published, skip_text

PUBLISHED = "p" * 40
NEWER = "n" * 40
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("revision", "relation", "created", "skips"),
    [
        (NEWER, "newer", None, True),  # the current image's commit descends from the published
        (NEWER, "older", "2030-01-01T00:00:00Z", False),  # an ancestor: forward, whatever time
        (NEWER, "diverged", "2030-01-01T00:00:00Z", False),  # a force push moves the tag
        (PUBLISHED, "same", None, False),  # a rebuild of the same commit
        (NEWER, "unknown", "2026-01-02T03:04:06Z", True),  # not in the clone: a later time
        (NEWER, "unknown", "2026-01-02T03:04:05Z", False),  # the same second: moves
        (NEWER, "unknown", "2025-12-31T00:00:00Z", False),
        (NEWER, "unknown", None, False),  # nothing to compare: moves
        (NEWER, "unknown", "yesterday", False),
        (None, "unknown", "2030-01-01T00:00:00Z", False),  # not built by hubpub: moves
    ],
)
def test_a_move_is_backwards_only_to_an_older_commit(
    revision: str | None, relation: Relation, created: str | None, skips: bool
) -> None:
    provenance = Provenance(revision, created, None)
    assert newer_published(provenance, relation, Commit(PUBLISHED, T0)) is skips


def test_the_skip_line_names_the_version_only_when_it_is_one() -> None:
    assert skip_text(Provenance(NEWER, None, "1.3.0")) == "newer published: 1.3.0 / commit nnnnnnn"
    assert skip_text(Provenance(NEWER, None, "main")) == "newer published: commit nnnnnnn"
