"""The compare-and-swap before and after a tag write, on a table of where the tag points."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from hubpub.planner import Change
from hubpub.reference import Reference, parse_reference
from hubpub.registry.models import ManifestInfo
from hubpub.swap import CompareAndSwap, Skipped

MAIN = parse_reference("reg.example/team/app:main")
SEEN, OURS, NEWER, OLDER = (f"sha256:{c * 64}" for c in "abcd")


class Table:
    """Where the tag points, answer after answer (the last one repeats)."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.asked = 0

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        digest = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        info = ManifestInfo(digest, "application/vnd.oci.image.manifest.v1+json", 0)
        return {ref: info if digest is not None else None for ref in refs}


class Newer:
    """NEWER is an image of a newer commit; the others are not."""

    def applies(self, change: Change) -> bool:
        return change.ref == MAIN

    def skip_reason(self, change: Change, now: str) -> str | None:
        return "newer published: commit nnnnnnn" if now == NEWER else None


CHANGE = Change("app", MAIN, "update", "tag", SEEN, OURS, None)


@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        (SEEN, "write"),  # where the plan saw it
        (None, "write"),  # deleted meanwhile
        (OLDER, "write"),  # moved to an older commit's image: forward from there
        (OURS, "already"),  # another apply wrote this very image
        (NEWER, "skip"),  # a newer commit's image: never back
    ],
)
def test_before_a_write_the_tag_is_decided_again_where_it_points_now(
    now: str | None, outcome: str
) -> None:
    swap = CompareAndSwap(Table(now), Newer(), settle=0)
    if outcome == "skip":
        with pytest.raises(Skipped, match="moved meanwhile \\(newer published"):
            swap.before(CHANGE, OURS, print)
    else:
        assert swap.before(CHANGE, OURS, print) is (outcome == "already")


def test_after_a_write_an_older_image_that_replaced_it_is_replaced_again() -> None:
    writes: list[str] = []
    table = Table(OLDER, OURS)
    swap = CompareAndSwap(table, Newer(), settle=0)
    assert swap.after(CHANGE, OURS, lambda: writes.append("put") or OURS, print) == OURS
    assert writes == ["put"]
    # A newer image there: left alone; our own: nothing to do.
    for answer in (NEWER, OURS):
        writes.clear()
        swap = CompareAndSwap(Table(answer), Newer(), settle=0)
        assert swap.after(CHANGE, OURS, lambda: writes.append("put") or OURS, print) == OURS
        assert writes == []


def test_tags_that_may_move_back_are_not_looked_at() -> None:
    table = Table(NEWER)
    other = Change(
        "app", parse_reference("reg.example/team/app:sha-1"), "create", "tag", None, OURS
    )
    swap = CompareAndSwap(table, Newer(), settle=0)
    assert swap.before(other, OURS, print) is False
    assert CompareAndSwap(table, None).before(CHANGE, OURS, print) is False
    assert table.asked == 0


@pytest.mark.parametrize(
    ("seen", "recheck", "outcome"),
    [
        (NEWER, False, "write"),  # a fresh plan decided already: its observation is trusted
        (NEWER, True, "skip"),  # a saved plan's "update" over a newer image: decided again
        (SEEN, True, "write"),  # decided again, and forward
    ],
)
def test_a_saved_plan_is_decided_again_where_the_tag_has_not_moved(
    seen: str, recheck: bool, outcome: str
) -> None:
    change = Change("app", MAIN, "update", "tag", seen, OURS, None)
    swap = CompareAndSwap(Table(seen), Newer(), settle=0, recheck=recheck)
    if outcome == "skip":
        with pytest.raises(Skipped, match="would move backwards \\(newer published"):
            swap.before(change, OURS, lambda _text: None)
    else:
        assert swap.before(change, OURS, lambda _text: None) is False
