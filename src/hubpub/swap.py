"""Compare-and-swap for tag writes: a registry has no conditional PUT, so the executor asks
here just before writing a tag that only moves forward, and once after
(docs/config.md, "Tags only move forward"; docs/registry.md#tag-writes).

- before: HEAD the tag again. Where the plan saw it, the write goes ahead; elsewhere, the move
  is decided again about the image it points to now (:class:`MoveCheck`,
  provenance.MoveGuard): forward, it is written; backwards (another apply published a newer
  commit meanwhile), the task is skipped (:class:`Skipped`).
- after: two applies can both HEAD before either PUTs (a window of one round trip). So, once
  the other's PUT would have landed (:data:`SETTLE_SECONDS` after our own), the writer looks
  again and writes again if an older commit's image replaced its own: the newer commit's apply
  has the last word.

The look after is batched (:meth:`CompareAndSwap.record`, then :meth:`CompareAndSwap.settle`
once the apply's tasks are done): one wait for every tag of the apply, ending
:data:`SETTLE_SECONDS` after the last PUT (each tag is looked at no sooner after its own PUT
than alone, so nothing is weakened), then one concurrent HEAD per tag. A tag written long
enough ago (while a build ran) is looked at without any wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class Written:
    """A guarded tag this apply wrote, to look at again once the other writers' PUTs would
    have landed: ``key`` names it for the caller (the executor's task id)."""

    key: str
    change: Change
    digest: str
    write_again: Callable[[], str]
    line: Line
    at: float  # time.monotonic() when the PUT was answered


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
        self.settle_seconds = settle
        self.recheck = recheck
        self._written: list[Written] = []
        self._lock = threading.Lock()

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
        """After writing ``written`` (one tag alone, waiting here): write again while an older
        commit's image replaced it."""
        if change is None or not self.guards(change):
            return written
        entry = Written("", change, written, write_again, line, time.monotonic())
        digests, failures = self._settle([entry])
        if failures:
            raise failures[""]
        return digests.get("", written)

    def record(
        self,
        key: str,
        change: Change | None,
        written: str,
        write_again: Callable[[], str],
        line: Line,
    ) -> None:
        """After writing ``written``: remember to look at the tag again in :meth:`settle`
        (thread-safe: the executor's tasks call it from their threads)."""
        if change is None or not self.guards(change):
            return
        entry = Written(key, change, written, write_again, line, time.monotonic())
        with self._lock:
            self._written.append(entry)

    def settle(self) -> dict[str, HubpubError]:
        """Look again at every tag :meth:`record` was given, writing again where an older
        commit's image replaced it: key -> the error of a write again that failed."""
        with self._lock:
            written, self._written = self._written, []
        return self._settle(written)[1]

    def _settle(self, written: Sequence[Written]) -> tuple[dict[str, str], dict[str, HubpubError]]:
        digests = {entry.key: entry.digest for entry in written}
        failures: dict[str, HubpubError] = {}
        todo = list(written)
        for _ in range(SETTLE_ROUNDS):
            if not todo or self.moves is None:
                break
            # The last PUT's settle, which covers every earlier one: a single wait.
            wait = max(entry.at for entry in todo) + self.settle_seconds - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            found = self.registry.resolve(entry.change.ref for entry in todo)
            again: list[Written] = []
            for entry in todo:
                info = found.get(entry.change.ref)
                now = info.digest if info is not None else None
                try:
                    if (
                        now is None
                        or now == entry.digest
                        or self.moves.skip_reason(entry.change, now) is not None
                    ):
                        continue
                    entry.line("an older commit's image replaced it meanwhile: writing again")
                    digest = entry.write_again()
                except HubpubError as exc:
                    failures[entry.key] = exc
                    continue
                digests[entry.key] = digest
                again.append(replace(entry, digest=digest, at=time.monotonic()))
            todo = again
        return digests, failures
