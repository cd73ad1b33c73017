"""taskgraph.py: the tasks ``hubpub build`` keeps of a plan's graph, as a table."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hubpub.errors import PlanError
from hubpub.reference import parse_reference
from hubpub.taskgraph import Interrupted, NoProgress, Task, TaskResult, builds_only, run_graph


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


def test_the_finishing_work_fails_the_tasks_it_names_and_ctrl_c_there_keeps_the_results() -> None:
    tasks = [task("tag r.io/app:main"), task("tag r.io/app:edge")]

    def work(t: Task, deps: Sequence[TaskResult]) -> str:
        return "sha256:" + "a" * 64

    results = run_graph(
        tasks, work, NoProgress(), 2, finish=lambda: {tasks[1].id: PlanError("503")}
    )
    assert [(r.status, r.error) for r in results.values()] == [("done", None), ("failed", "503")]

    def interrupted() -> dict[str, Exception]:
        raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        run_graph(tasks, work, NoProgress(), 2, finish=interrupted)
    assert [r.status for r in caught.value.results] == ["done", "done"]
