"""Placement's decisions, against uploads given as a table of which repository holds which
blob: the requests it makes, in order."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pytest

from hubpub.reference import Repository, parse_repository
from hubpub.registry.placement import Placement

FIRST = parse_repository("registry.test/team/app")
SECOND = parse_repository("registry.test/team/mirror")
BLOB = "sha256:" + "ab" * 32


class _Uploads:
    """Repositories -> the blobs they hold; every call recorded as (what, repository path)."""

    def __init__(self, holds: dict[str, set[str]]) -> None:
        self.holds = holds
        self.calls: list[tuple[str, str]] = []

    def mounts_refused(self, registry: str) -> bool:
        return False

    def exists(self, repo: Repository, digest: str, *, scopes: Any = None) -> bool:
        self.calls.append(("head", repo.path))
        return digest in self.holds.get(repo.path, set())

    def mount(self, repo: Repository, digest: str, origin: Repository, *, scopes: Any) -> None:
        self.calls.append(("mount", repo.path))
        self.holds.setdefault(repo.path, set()).add(digest)

    def upload(self, repo: Repository, digest: str, size: int, opener: Any, **kw: Any) -> None:
        self.calls.append(("upload", repo.path))
        self.holds.setdefault(repo.path, set()).add(digest)

    def cancel(self, repo: Repository, location: str, scopes: Any) -> None:
        self.calls.append(("cancel", repo.path))


@contextlib.contextmanager
def _opener() -> Iterator[io.BytesIO]:
    yield io.BytesIO(b"x")


@pytest.mark.parametrize(
    ("order", "holds", "calls"),
    [
        # A staged build: the engine pushed the blob into the first repository. Whichever
        # target goes first, the first repository is only asked (HEAD), the second mounts.
        (
            [FIRST, SECOND],
            {"team/app": {BLOB}},
            [("head", "team/app"), ("mount", "team/mirror")],
        ),
        (
            [SECOND, FIRST],
            {"team/app": {BLOB}},
            [("mount", "team/mirror"), ("head", "team/app")],
        ),
        # Said to be there but gone (a stale layer cache): one HEAD, then the upload.
        ([FIRST], {}, [("head", "team/app"), ("upload", "team/app")]),
    ],
)
def test_a_blob_said_to_be_in_its_target_is_asked_for_there_not_mounted_again(
    order: list[Repository], holds: dict[str, set[str]], calls: list[tuple[str, str]]
) -> None:
    uploads = _Uploads(holds)
    placement = Placement(uploads)  # type: ignore[arg-type]
    for dst in order:
        placement.place(dst, BLOB, 1, _opener, (), hint=FIRST.path)
    assert uploads.calls == calls
