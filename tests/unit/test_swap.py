"""The compare-and-swap before and after a tag write, on a table of where the tag points."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest

from hubpub.errors import HubpubError
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


class Tags:
    """Where each tag points (one answer per reference, the same on every look), counting the
    looks: each ``resolve`` call is one batch of concurrent HEADs."""

    def __init__(self, now: dict[Reference, str | None]) -> None:
        self.now = now
        self.calls: list[list[Reference]] = []

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        asked = list(refs)
        self.calls.append(asked)
        kind = "application/vnd.oci.image.manifest.v1+json"
        return {
            ref: ManifestInfo(d, kind, 0) if (d := self.now[ref]) is not None else None
            for ref in asked
        }


class AllMoving(Newer):
    def applies(self, change: Change) -> bool:
        return True


def test_the_tags_of_an_apply_are_looked_at_again_together_after_one_wait() -> None:
    refs = [parse_reference(f"reg.example/team/app:t{n}") for n in range(4)]
    # t0 kept ours, t1 taken by a newer commit, t2 by an older one, t3 deleted meanwhile.
    table = Tags(dict(zip(refs, (OURS, NEWER, OLDER, None), strict=True)))
    swap = CompareAndSwap(table, AllMoving(), settle=0.2)
    writes: list[Reference] = []

    def write_again(ref: Reference) -> str:
        writes.append(ref)
        table.now[ref] = OURS
        return OURS

    for ref in refs:
        change = Change("app", ref, "update", "tag", SEEN, OURS, None)
        swap.record(str(ref), change, OURS, lambda r=ref: write_again(r), lambda _t: None)

    start = time.monotonic()
    failures = swap.settle()
    elapsed = time.monotonic() - start
    assert 0.2 <= elapsed < 0.6  # one wait for all the tags (four alone would wait 0.8 s)
    # One batch of HEADs, then a second for the tag written again only.
    assert table.calls == [refs, [refs[2]]]
    assert writes == [refs[2]]
    assert failures == {}
    assert table.now == dict.fromkeys(refs[:3], OURS) | {refs[1]: NEWER, refs[3]: None}
    assert swap.settle() == {}  # each apply's writes are looked at once
    assert len(table.calls) == 2


def test_a_tag_written_long_enough_ago_is_looked_at_without_waiting() -> None:
    table = Tags({MAIN: OURS})
    swap = CompareAndSwap(table, Newer(), settle=5)
    swap.record("main", CHANGE, OURS, print, print)
    object.__setattr__(swap._written[0], "at", time.monotonic() - 5)
    start = time.monotonic()
    assert swap.settle() == {}
    assert time.monotonic() - start < 1
    assert table.calls == [[MAIN]]


def test_a_write_again_that_fails_is_that_tags_failure() -> None:
    table = Tags({MAIN: OLDER})

    def refused() -> str:
        raise HubpubError("registry said 503")

    swap = CompareAndSwap(table, Newer(), settle=0)
    swap.record("main", CHANGE, OURS, refused, print)
    failures = swap.settle()
    assert str(failures["main"]) == "registry said 503"
