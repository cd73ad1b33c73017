"""Compare-and-swap for tag writes: a registry has no conditional PUT, so the executor asks
here just before writing a tag that only moves forward, and once after
(docs/config.md, "Tags only move forward").

- before: HEAD the tag again. Where the plan saw it, the write goes ahead; elsewhere, the move
  is decided again about the image it points to now (:class:`MoveCheck`,
  provenance.MoveGuard): forward, it is written; backwards (another apply published a newer
  commit meanwhile), the task is skipped (:class:`Skipped`).
- after: two applies can both HEAD before either PUTs (a window of one round trip). So, once
  the other's PUT would have landed (:data:`SETTLE_SECONDS`), the writer looks again and writes
  again if an older commit's image replaced its own: the newer commit's apply has the last word.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

from hubpub.errors import HubpubError
from hubpub.planner import Change
from hubpub.reference import Reference
from hubpub.registry.models import ManifestInfo

# How long after writing a tag that only moves forward it is looked at again: far longer than
# the HEAD-to-PUT gap of another apply (one round trip), short beside an apply.
SETTLE_SECONDS = 0.3
SETTLE_ROUNDS = 2

Line = Callable[[str], None]


class Registry(Protocol):
    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]: ...


class MoveCheck(Protocol):
    """Decides again whether a tag may move, once it points somewhere the plan did not see."""

    def applies(self, change: Change) -> bool: ...

    def skip_reason(self, change: Change, now: str) -> str | None: ...


class Skipped(HubpubError):
    """Raised by a tag write whose tag another apply moved to a newer image meanwhile."""


class CompareAndSwap:
    """``recheck``: decide again even where the tag has not moved since the observation, for
    a saved plan, whose observation and actions come from a file (an ``update`` written over
    a ``skip`` by hand must not move a tag backwards either)."""

    def __init__(
        self,
        registry: Registry,
        moves: MoveCheck | None,
        settle: float = SETTLE_SECONDS,
        *,
        recheck: bool = False,
    ) -> None:
        self.registry = registry
        self.moves = moves
        self.settle = settle
        self.recheck = recheck

    def guards(self, change: Change | None) -> bool:
        return self.moves is not None and change is not None and self.moves.applies(change)

    def _now(self, ref: Reference) -> str | None:
        found = self.registry.resolve([ref]).get(ref)
        return found.digest if found is not None else None

    def before(self, change: Change | None, writing: str | None, line: Line) -> bool:
        """Before writing ``change``'s tag: True when it already points to ``writing`` (another
        apply wrote this very image); :class:`Skipped` when it moved to a newer image."""
        if self.moves is None or change is None or not self.guards(change):
            return False
        now = self._now(change.ref)
        if now is None or (now == change.current and not self.recheck):
            return False
        if now == writing:
            return True
        reason = self.moves.skip_reason(change, now)
        if reason is not None and now == change.current:
            raise Skipped(f"skipped: {change.ref} would move backwards ({reason})")
        if reason is not None:
            raise Skipped(f"skipped: {change.ref} moved meanwhile ({reason})")
        if now == change.current:
            return False
        line(f"moved meanwhile to {now}, an older commit's image: writing")
        return False

    def after(
        self, change: Change | None, written: str, write_again: Callable[[], str], line: Line
    ) -> str:
        """After writing ``written``: write again while an older commit's image replaced it."""
        if self.moves is None or change is None or not self.guards(change):
            return written
        for _ in range(SETTLE_ROUNDS):
            time.sleep(self.settle)
            now = self._now(change.ref)
            if now is None or now == written or self.moves.skip_reason(change, now) is not None:
                break
            line("an older commit's image replaced it meanwhile: writing again")
            written = write_again()
        return written
