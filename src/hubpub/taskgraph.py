"""The task graph apply runs: its tasks and their results, and :func:`run_graph`, which runs
them as their dependencies allow (executor.py makes the tasks of a plan and runs each one).

Pure scheduling: nothing here talks to a registry or the engine; a task's work is the function
``run_graph`` is given. :class:`SharedContent` and :class:`Once` are what tasks running at once
share: a copy's content its tags wait for, a value computed by the first task that needs it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Generic, Literal, Protocol, TypeVar

from hubpub.errors import BuildError, HubpubError
from hubpub.planner import Change
from hubpub.reference import Reference
from hubpub.swap import Skipped

TaskKind = Literal["build", "push", "tag", "copy"]
Status = Literal["done", "failed", "not-started", "skipped"]


@dataclass(frozen=True)
class Task:
    id: str
    kind: TaskKind
    image: str
    ref: Reference | None  # the reference written (push/tag/copy); None for a build
    deps: tuple[str, ...] = ()
    change: Change | None = None
    # A tag whose source is a copy into the same repository: the id of that copy. The tag
    # needs only the copy's content, so it waits for what the copy waits for, not the copy.
    content_of: str | None = None
    # A copy of the image this plan builds: published from the export, after the build only.
    from_build: bool = False

    @property
    def label(self) -> str:
        if self.kind == "build":
            return f"build {self.image}"
        return f"{self.kind} {self.ref}"


@dataclass(frozen=True)
class TaskResult:
    task: Task
    status: Status
    digest: str | None = None  # image ID for a build, manifest digest otherwise
    error: str | None = None
    seconds: float = 0.0
    # A failed build: the failing step's last lines of output, shown under the error.
    output: tuple[str, ...] = ()


class Progress(Protocol):
    def started(self, task: Task) -> None: ...

    def line(self, task: Task, text: str) -> None: ...

    def finished(self, result: TaskResult) -> None: ...


class NoProgress:
    def started(self, task: Task) -> None:
        pass

    def line(self, task: Task, text: str) -> None:
        pass

    def finished(self, result: TaskResult) -> None:
        pass


def builds_only(tasks: Sequence[Task]) -> list[Task]:
    """The build tasks of ``tasks``, each waiting for the builds of the images whose
    references it reads (instead of for their pushes and tags, which do not run)."""
    by_id = {task.id: task for task in tasks}
    builds = {task.id for task in tasks if task.kind == "build"}

    def builds_behind(task_id: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if task_id in builds:
            return {task_id}
        found: set[str] = set()
        for dep in by_id[task_id].deps:
            if dep not in seen:
                found |= builds_behind(dep, seen | {task_id})
        return found

    out = []
    for task in tasks:
        if task.kind == "build":
            deps = sorted({b for dep in task.deps for b in builds_behind(dep)} - {task.id})
            out.append(replace(task, deps=tuple(deps)))
    return out


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during an apply, with the results so far (``results``: what was done)."""

    def __init__(self, results: list[TaskResult]) -> None:
        super().__init__()
        self.results = results


class NotStarted(HubpubError):
    """Raised by a task that found, once running, that the work it relies on failed."""


def run_graph(
    tasks: Sequence[Task],
    fn: Callable[[Task, Sequence[TaskResult]], str],
    progress: Progress,
    max_workers: int,
    on_interrupt: Callable[[], None] = lambda: None,
    finish: Callable[[], Mapping[str, Exception]] = lambda: {},
) -> dict[str, TaskResult]:
    """Run ``tasks`` as their dependencies allow; a failure skips only its dependents.

    On Ctrl-C ``on_interrupt`` runs before the pool waits for the tasks still running (so it
    can make them return), and no other task starts. ``finish`` runs once every task is done
    (apply's look after its tag writes, swap.py): each task it names failed with that error."""
    pool = ThreadPoolExecutor(max_workers=max(1, max_workers))
    try:
        results = _run_graph(tasks, fn, progress, pool)
    except KeyboardInterrupt:
        # Not waiting for the running tasks: the process is ending, and a build whose stream
        # is closed is cancelled by the engine.
        pool.shutdown(wait=False, cancel_futures=True)
        on_interrupt()
        raise
    except BaseException:
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)
    try:
        failures = finish()
    except KeyboardInterrupt:  # every task ran: only the finishing work is cut short
        raise Interrupted([results[t.id] for t in tasks if t.id in results]) from None
    for task_id, error in failures.items():
        results[task_id] = replace(results[task_id], status="failed", error=str(error))
        progress.finished(results[task_id])
    return results


def _run_graph(
    tasks: Sequence[Task],
    fn: Callable[[Task, Sequence[TaskResult]], str],
    progress: Progress,
    pool: ThreadPoolExecutor,
) -> dict[str, TaskResult]:
    pending = {task.id: task for task in tasks}
    results: dict[str, TaskResult] = {}
    running: dict[Future[str], tuple[Task, float]] = {}
    try:
        while pending or running:
            changed = True
            while changed:
                changed = False
                for task_id, task in list(pending.items()):
                    deps = [results.get(dep) for dep in task.deps]
                    failed = [d for d in deps if d is not None and d.status != "done"]
                    if failed:
                        reason = f"not started: {failed[0].task.label} did not complete"
                        result = TaskResult(task, "not-started", error=reason)
                        results[task_id] = result
                        progress.finished(result)
                        del pending[task_id]
                        changed = True
                    elif all(d is not None for d in deps):
                        progress.started(task)
                        ready = [d for d in deps if d is not None]
                        running[pool.submit(fn, task, ready)] = (task, time.monotonic())
                        del pending[task_id]
            if not running:
                for task_id, task in pending.items():  # a cycle: cannot happen for a plan
                    results[task_id] = TaskResult(task, "not-started", error="unmet dependency")
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                task, start = running.pop(future)
                elapsed = time.monotonic() - start
                try:
                    digest = future.result()
                except NotStarted as exc:
                    result = TaskResult(task, "not-started", error=str(exc))
                except Skipped as exc:
                    result = TaskResult(task, "skipped", error=str(exc), seconds=elapsed)
                except HubpubError as exc:
                    output = exc.output if isinstance(exc, BuildError) else ()
                    result = TaskResult(
                        task, "failed", error=str(exc), seconds=elapsed, output=output
                    )
                except Exception as exc:  # a bug: still report it as this task's failure
                    text = f"internal error: {type(exc).__name__}: {exc}"
                    result = TaskResult(task, "failed", error=text, seconds=elapsed)
                else:
                    result = TaskResult(task, "done", digest=digest, seconds=elapsed)
                results[task.id] = result
                progress.finished(result)
    except KeyboardInterrupt:
        # What was done by then, for the caller to report (apply prints it): the tasks running
        # may or may not have written, and no other starts.
        for task, _start in running.values():
            results[task.id] = TaskResult(task, "failed", error="interrupted while running")
        for task_id, task in pending.items():
            results[task_id] = TaskResult(task, "not-started", error="interrupted")
        raise Interrupted([results[t.id] for t in tasks if t.id in results]) from None
    return results


class SharedContent:
    """The content a copy task moves, which the tags that follow it into the same repository
    wait for. The copy task always starts first (it is submitted before them, with the same
    dependencies, to a FIFO pool), so a waiting tag never holds the worker the copy needs."""

    def __init__(self, owner: Task) -> None:
        self._owner = owner
        self._done = threading.Event()
        self._ok = False
        self.scopes: tuple[str, ...] | None = None  # the token scopes the content was written with

    @contextlib.contextmanager
    def owning(self) -> Iterator[SharedContent]:
        try:
            yield self
            self._ok = True
        finally:
            self._done.set()

    def wait(self) -> tuple[str, ...] | None:
        """The scopes the content was written with, once it is; NotStarted if it failed."""
        self._done.wait()
        if not self._ok:
            raise NotStarted(f"not started: {self._owner.label} did not complete")
        return self.scopes


V = TypeVar("V")


class Once(Generic[V]):
    """A value computed by the first caller; the others wait for it (a failure is retried)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: V | None = None

    def get(self, compute: Callable[[], V]) -> V:
        with self._lock:
            if self._value is None:
                self._value = compute()
            return self._value
