"""The task graph of apply and how a failure spreads through it, without I/O."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from hubpub.errors import PlanError, RegistryError
from hubpub.executor import Executor, NoProgress, Task, TaskResult, run_graph, tasks_for
from hubpub.planner import Change, ImageSpec, Observed, TargetTag, make_plan
from hubpub.reference import Reference
from hubpub.registry.models import Manifest, ManifestInfo
from tests.helpers.plans import D_OLD, D_SRC, FAR, KEY, R, ref, sample_plan


def test_task_graph_pushes_once_then_tags_and_copies() -> None:
    """A copy of the built image into another registry is published from the export: it
    waits for the build, not for the push to the first registry."""
    plan, _ = sample_plan()
    tasks = {t.id: t for t in tasks_for(plan)}
    assert tasks[f"push {R}:1.2.3"].deps == ("build app",)
    assert tasks[f"tag {R}:latest"].deps == (f"push {R}:1.2.3",)
    assert tasks[f"copy {FAR}:latest"].deps == ("build app",)
    assert tasks[f"copy {FAR}:latest"].from_build
    assert not tasks[f"tag {R}:latest"].from_build
    assert not any(t.ref == ref(f"{FAR}:web") for t in tasks.values())  # noop: no task


@pytest.mark.parametrize(
    ("source_digest", "copy_deps"),
    [
        (D_SRC, ()),  # a promotion: the source's digest is known before apply
        (None, ("build app",)),  # a build: the copy is published from the export
    ],
)
def test_tags_after_a_copy_into_their_repository_wait_only_for_its_content(
    source_digest: str | None, copy_deps: tuple[str, ...]
) -> None:
    """Promotion to N tags of another repository: one copy moves the content; the other tags
    need that content, not the copy's own tag PUT (a round trip saved)."""
    tags = [TargetTag(ref(f"{FAR}:{n}")) for n in ("1", "2", "3")]
    if source_digest is None:
        images = [ImageSpec("app", (TargetTag(ref(f"{R}:1.2.3")), *tags))]
        missing = {t.ref: None for t in (*tags, TargetTag(ref(f"{R}:1.2.3")))}
        observed = Observed(tags=missing, content_keys={"app": KEY})
    else:
        images = [ImageSpec("web", tuple(tags), source=ref(f"{R}:rc"))]
        observed = Observed(tags={t.ref: None for t in tags}, sources={"web": D_SRC})
    tasks = {t.id: t for t in tasks_for(make_plan(images, observed))}
    copy = tasks[f"copy {FAR}:1"]
    assert copy.deps == copy_deps
    for n in ("2", "3"):
        tag = tasks[f"tag {FAR}:{n}"]
        assert (tag.deps, tag.content_of) == (copy_deps, copy.id)


def test_a_failure_stops_only_its_dependents() -> None:
    plan, _ = sample_plan()
    tasks = tasks_for(plan)
    seen: list[str] = []

    def work(task: Task, deps: list[TaskResult]) -> str:  # type: ignore[type-arg]
        seen.append(task.id)
        if task.kind == "push":
            raise PlanError("push refused")
        return D_OLD

    extra = Task("copy other", "copy", "other", ref(f"{FAR}:other"))
    results = run_graph([*tasks, extra], work, NoProgress(), max_workers=4)  # type: ignore[arg-type]
    status = {task_id: r.status for task_id, r in results.items()}
    assert status["build app"] == "done"
    assert status[f"push {R}:1.2.3"] == "failed"
    assert results[f"push {R}:1.2.3"].error == "push refused"
    assert status[f"tag {R}:latest"] == "not-started"
    # Published from the export, not copied from the failed push: it does not wait for it.
    assert status[f"copy {FAR}:latest"] == "done"
    assert status["copy other"] == "done"
    assert f"tag {R}:latest" not in seen


class _Tags:
    """A registry as a table of where tags point: a PUT moves the tag; after the apply's own
    PUT, an older commit's image lands on it (another apply's late PUT), and writing again
    fails."""

    def __init__(self, manifest: Manifest, older: str) -> None:
        self.manifest, self.older = manifest, older
        self.now: dict[Reference, str] = {}
        self.puts: list[Reference] = []

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        out: dict[Reference, ManifestInfo | None] = {}
        for r in refs:
            digest = self.now.get(r)
            out[r] = ManifestInfo(digest, self.manifest.media_type, 0) if digest else None
        return out

    def get_manifest(self, reference: Reference) -> Manifest:
        return self.manifest

    def put_manifest(
        self, reference: Reference, manifest: Manifest, *, scopes: tuple[str, ...] | None = None
    ) -> str:
        self.puts.append(reference)
        if len(self.puts) > 1:
            raise RegistryError(f"manifest PUT {reference}: HTTP 503")
        self.now[reference] = self.older  # the other apply's PUT lands right after ours
        return manifest.digest


class _AllMoveForward:
    def applies(self, change: Change) -> bool:
        return True

    def skip_reason(self, change: Change, now: str) -> str | None:
        return None  # every other image is an older commit's


def test_a_tag_replaced_by_an_older_image_after_its_put_is_written_again_or_fails() -> None:
    manifest = Manifest.from_bytes(b'{"mediaType": "application/vnd.oci.image.manifest.v1+json"}')
    tag = ref(f"{R}:main")
    plan = make_plan(
        [ImageSpec("web", (TargetTag(tag),), source=ref(f"{R}:rc"))],
        Observed(tags={tag: None}, sources={"web": manifest.digest}),
    )
    table = _Tags(manifest, D_OLD)
    executor = Executor(
        table,  # type: ignore[arg-type]
        lambda: None,  # type: ignore[arg-type,return-value]
        {},
        moves=_AllMoveForward(),
        settle=0,
    )
    result = executor.apply(plan)
    # Written, looked at again after the settle (the older image there), written again: the
    # second PUT's failure is the task's.
    assert table.puts == [tag, tag]
    (only,) = result.results
    assert (only.status, only.error) == ("failed", f"manifest PUT {tag}: HTTP 503")
