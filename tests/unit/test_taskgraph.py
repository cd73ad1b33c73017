"""taskgraph.py: the tasks ``hubpub build`` keeps of a plan's graph, as a table."""

from __future__ import annotations

import pytest

from hubpub.reference import parse_reference
from hubpub.taskgraph import Task, builds_only


def task(id_: str, *deps: str) -> Task:
    kind, _, rest = id_.partition(" ")
    if kind == "build":
        return Task(id_, "build", rest, None, deps)
    return Task(id_, kind, rest.split("/")[1].split(":")[0], parse_reference(rest), deps)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        # one image: its build, then push and tag; only the build is kept
        (
            [
                task("build base"),
                task("push r.io/base:sha", "build base"),
                task("tag r.io/base:main", "push r.io/base:sha"),
            ],
            {"build base": ()},
        ),
        # app FROM base:main: app's build waited for base's tag; now for base's build
        (
            [
                task("build base"),
                task("push r.io/base:sha", "build base"),
                task("tag r.io/base:main", "push r.io/base:sha"),
                task("build app", "tag r.io/base:main"),
                task("push r.io/app:sha", "build app"),
            ],
            {"build base": (), "build app": ("build base",)},
        ),
        # a promotion between them (a copy of base) is followed through too
        (
            [
                task("build base"),
                task("push r.io/base:sha", "build base"),
                task("copy r.io/mirror:main", "push r.io/base:sha"),
                task("build app", "copy r.io/mirror:main", "push r.io/base:sha"),
            ],
            {"build base": (), "build app": ("build base",)},
        ),
    ],
)
def test_builds_wait_for_the_builds_behind_what_they_read(
    graph: list[Task], expected: dict[str, tuple[str, ...]]
) -> None:
    assert {t.id: t.deps for t in builds_only(graph)} == expected
