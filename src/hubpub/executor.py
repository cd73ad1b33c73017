"""Apply: carry a plan out with the fewest operations, independent ones concurrently.

Each change of the plan becomes a task; a build is a task of its own. Tasks wait only for what
they need:

- ``build`` (once per image), then built.py exports it and compresses its layers once (a
  large one: the engine pushes it to a staging reference, staged.py);
  ``push`` writes its blobs, its manifest by digest, then the tag (built.py, fileimages.py);
- ``tag``: GET the manifest by digest in the repository that holds it, PUT the same bytes under
  the new tag (no blob moves);
- ``copy``: the registry client's ``copy_content`` (blobs: skip, mount or stream; an index's
  child manifests), then the tag's PUT, so a tag never points at an incomplete image; of an
  image this plan builds, a publish from the export instead (``from_build``), after the build.

A tag/copy whose source is written by another task of the plan waits for it and then reads it
by the digest that task produced (never by tag, which someone may move meanwhile). One
exception saves a round trip: a tag created from a copy into its own repository waits only for
the copied content (shared with the copy task, moved once), not for the copy's own tag PUT.

A failure stops only the tasks that depend on it; the result lists every task as done, failed,
skipped or not-started, and a second apply, planned afresh, does only what is still missing.

Before writing a tag that only moves forward, and once after, the executor checks where it
points (the compare-and-swap of swap.py): a tag is skipped rather than moved back to an older
commit's image that another apply replaced meanwhile; the look after is one batch at the end.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

from hubpub.archive import Readable
from hubpub.built import Registry as BuiltRegistry
from hubpub.built import Staging, local_name
from hubpub.desired import DesiredImage
from hubpub.errors import EngineError, PlanError
from hubpub.fileimages import FileImages, LocalImages
from hubpub.layers import LayerCache
from hubpub.planner import Change, Plan
from hubpub.platformbuild import PlatformBuilds
from hubpub.reference import Reference, Repository, parse_reference
from hubpub.registry.models import Manifest, ManifestInfo
from hubpub.staged import STAGE_ABOVE_BYTES, staging_ref, wanted
from hubpub.swap import SETTLE_SECONDS, CompareAndSwap, MoveCheck
from hubpub.taskgraph import (
    NoProgress,
    Once,
    Progress,
    SharedContent,
    Status,
    Task,
    TaskResult,
    builds_only,
    run_graph,
)

if TYPE_CHECKING:
    from hubpub.engine import BuildRequest, PushAuth

log = logging.getLogger("hubpub.executor")


class Registry(BuiltRegistry, Protocol):
    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]: ...

    def copy_content(self, src: Repository, dst: Repository, top: Manifest) -> tuple[str, ...]: ...


class EngineLike(Protocol):
    def ensure_base(
        self,
        name: str,
        digest: str,
        auth: PushAuth | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None: ...

    def build(self, request: BuildRequest, on_line: Callable[[str], None] | None = None) -> str: ...

    def export(self, image_id: str) -> contextlib.AbstractContextManager[Readable]: ...

    def tag(self, image: str, name: str) -> None: ...

    def cancel_builds(self) -> None: ...

    def image_id(self, name: str) -> str | None: ...

    def remove_untagged(self, image_id: str) -> bool: ...

    def platform_of(self, image_id: str) -> dict[str, str]: ...

    def image_facts(self, image_id: str) -> tuple[int, tuple[str, ...]]: ...

    def push(
        self,
        image: str,
        ref: Reference,
        auth: PushAuth | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> str: ...


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    results: tuple[TaskResult, ...]

    def by_status(self, status: Status) -> list[TaskResult]:
        return [r for r in self.results if r.status == status]

    @property
    def ok(self) -> bool:
        return all(r.status in ("done", "skipped") for r in self.results)

    @property
    def written(self) -> list[tuple[str, Reference, str]]:
        """(image, reference, digest) of every tag written."""
        return [
            (r.task.image, r.task.ref, r.digest)
            for r in self.results
            if r.status == "done" and r.task.ref is not None and r.digest is not None
        ]


@dataclass(frozen=True)
class BuildInputs:
    """What a build needs beyond the plan: the desired image and the labels to set."""

    image: DesiredImage
    labels: Mapping[str, str] = field(default_factory=dict)
    # (base image as the Dockerfile names it, registry digest the content key used): the
    # engine's copy is checked, and pulled when stale, before the build.
    bases: tuple[tuple[str, str], ...] = ()


def tasks_for(plan: Plan, *, allow_overwrite: bool = False) -> list[Task]:
    """The task graph of ``plan``; refuses a plan with conflicts unless ``allow_overwrite``."""
    conflicts = plan.conflicts
    if conflicts and not allow_overwrite:
        first = conflicts[0]
        more = f" and {len(conflicts) - 1} more" if len(conflicts) > 1 else ""
        raise PlanError(
            f"immutable tag {first.ref} already points to {first.current}{more}; nothing was "
            "changed",
            hint="bump the version, or pass --allow-overwrite to move it anyway",
        )
    return _PlanTasks(plan).tasks()


class _PlanTasks:
    """The tasks of a plan. The push is not always an image's first change (planner.py puts it
    on a tag that names the commit), and an image may read what another image of the plan
    writes (a promotion of an image rebuilt in the same apply, a build FROM another image of
    the config): each task is made after the one whose reference it reads, and listed in the
    plan's order, the images in theirs (dependencies first)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.writes = {
            change.ref: change
            for change in plan.changes
            if change.action not in ("noop", "skip") and change.via is not None
        }
        self.made: dict[Reference, Task] = {}

    def tasks(self) -> list[Task]:
        tasks: list[Task] = []
        for image in self.plan.images:
            if image.build is not None:
                deps = tuple(
                    dict.fromkeys(
                        self.task_of(self.writes[ref]).id
                        for _text, ref in image.build.uses
                        if ref in self.writes
                    )
                )
                tasks.append(Task(f"build {image.name}", "build", image.name, None, deps))
            tasks.extend(
                self.task_of(change) for change in image.changes if change.ref in self.writes
            )
        return tasks

    def task_of(self, change: Change, seen: tuple[Reference, ...] = ()) -> Task:
        if change.ref in self.made:
            return self.made[change.ref]
        if change.ref in seen or change.via is None:
            raise PlanError(f"plan reads {change.ref} before writing it")
        deps: tuple[str, ...] = ()
        content_of = None
        from_build = False
        if change.via == "push":
            image = next(i for i in self.plan.images if i.name == change.image)
            if image.build is None and image.file is None:
                raise PlanError(f"plan pushes {change.ref} but builds no image {change.image}")
            deps = (f"build {change.image}",) if image.build is not None else ()
        elif change.source is not None and change.source.digest is None:
            name, writer = change.image, self.writes.get(change.source)
            if writer is None:
                raise PlanError(f"plan reads {change.source} before writing it")
            source_task = self.task_of(writer, (*seen, change.ref))
            if (
                change.via == "tag"
                and source_task.kind == "copy"
                and source_task.ref is not None
                and source_task.ref.repository == change.ref.repository
            ):
                deps, content_of = source_task.deps, source_task.id
            elif change.via == "copy" and (source_task.kind, source_task.image) == ("push", name):
                deps, from_build = source_task.deps, True
            else:
                deps = (source_task.id,)
        task_id = f"{change.via} {change.ref}"
        task = Task(
            task_id, change.via, change.image, change.ref, deps, change, content_of, from_build
        )
        self.made[change.ref] = task
        return task


class Executor:
    def __init__(
        self,
        registry: Registry,
        engine: Callable[[], EngineLike],
        builds: Mapping[str, BuildInputs],
        *,
        push_auth: Callable[[str], PushAuth | None] = lambda registry: None,
        progress: Progress | None = None,
        max_workers: int = 8,
        moves: MoveCheck | None = None,
        settle: float = SETTLE_SECONDS,
        layer_cache: LayerCache | None = None,
        recheck_moves: bool = False,
        stage_above: int | None = STAGE_ABOVE_BYTES,
        files: FileImages | None = None,
    ) -> None:
        self.registry = registry
        self.stage_above = stage_above  # staged.py: large builds go through the engine's push
        self.swap = CompareAndSwap(registry, moves, settle, recheck=recheck_moves)
        self._engine_factory = engine
        self._engine: EngineLike | None = None
        self._engine_lock = threading.Lock()
        self.builds = builds
        self.push_auth = push_auth  # for the engine's pulls of base images
        self.built = LocalImages(registry, layer_cache or LayerCache(None), files)
        # image (or "<image> <platform>") -> (the ID its build gave, its engine name:
        # local_name(), the engine that has it)
        self._built_ids: dict[str, tuple[str, str, EngineLike]] = {}
        self.progress = progress or NoProgress()
        self.max_workers = max_workers
        self._manifests: dict[str, Once[Manifest]] = {}
        self._contents: dict[str, SharedContent] = {}
        self._tasks: dict[str, Task] = {}
        self._plan = Plan(())
        self._build_only = False
        self._manifest_lock = threading.Lock()

    def engine(self) -> EngineLike:
        with self._engine_lock:
            if self._engine is None:
                self._engine = self._engine_factory()
            return self._engine

    def apply(
        self, plan: Plan, *, allow_overwrite: bool = False, build_only: bool = False
    ) -> ApplyResult:
        """Carry ``plan`` out; with ``build_only``, only its builds (``hubpub build``)."""
        tasks = tasks_for(plan, allow_overwrite=allow_overwrite)
        self._plan = plan
        self._build_only = build_only
        if build_only:
            tasks = builds_only(tasks)
        self._tasks = {task.id: task for task in tasks}
        self._contents = {task.id: SharedContent(task) for task in tasks if task.kind == "copy"}
        with self.built:  # (its files removed at the end)
            settle = self.swap.settle  # the look after the tag writes, in one batch (swap.py)
            results = run_graph(
                tasks, self._run, self.progress, self.max_workers, self._interrupt, settle
            )
        if not build_only:
            self._name_built()
        return ApplyResult(plan, tuple(results[t.id] for t in tasks))

    def _name_built(self) -> None:
        """Each image built for this apply, once exported and published, would stay in the
        engine with no name: a ``<none>`` image per build. It is named
        ``hubpub-local/<its first repository>:latest`` instead (the engine's build cache may
        rest on it: docs/registry.md#uploads-of-built-images), and the image that name held
        before, now unnamed, is removed."""
        with self._engine_lock:
            made = dict(self._built_ids)
        for image, (image_id, local, engine) in made.items():
            try:
                previous = engine.image_id(local)
                engine.tag(image_id, local)
            except EngineError as exc:  # tidying up: the publication stands either way
                log.debug("could not name %s %s: %s", image, image_id, exc)
                continue
            if previous is not None and previous != image_id:
                engine.remove_untagged(previous)

    def _interrupt(self) -> None:
        """Ctrl-C: the running builds stop now, not after their current step."""
        with self._engine_lock:
            engine = self._engine
        if engine is not None:
            engine.cancel_builds()

    # --- the four kinds of task ---------------------------------------------------------------

    def _run(self, task: Task, deps: Sequence[TaskResult]) -> str:
        if task.kind == "build":
            return self._build(task, deps)
        if task.ref is None or task.change is None:
            raise PlanError(f"task {task.label} has no reference")
        scopes = None
        if task.kind == "push":
            scopes, manifest = self.built.publish(task.image, task.ref.repository)
            self._known(manifest)
        elif task.content_of is not None:
            # The copy owns the content; this tag only waits for it (and is "not started"
            # when it failed, as if it had waited for the whole copy).
            scopes = self._contents[task.content_of].wait()
            manifest = self._source_manifest(self._tasks[task.content_of], deps)
        elif task.kind == "copy":
            with self._contents[task.id].owning() as content:
                manifest = self._source_manifest(task, deps)
                if task.from_build:
                    content.scopes, _ = self.built.publish(task.image, task.ref.repository)
                else:
                    content.scopes = self.registry.copy_content(
                        manifest_home(task), task.ref.repository, manifest
                    )
            scopes = content.scopes
        else:
            manifest = self._source_manifest(task, deps)
        if self.swap.before(task.change, manifest.digest, lambda t: self.progress.line(task, t)):
            return manifest.digest  # another apply wrote this very image there meanwhile
        # A copy's PUTs (its own and those of the tags that follow it) reuse the scopes, so the
        # token, its content used: one token request per copy, not two
        # (docs/registry.md#token-auth).
        again = partial(self.registry.put_manifest, task.ref, manifest, scopes=scopes)
        digest = again()
        self.swap.record(task.id, task.change, digest, again, partial(self.progress.line, task))
        return digest

    def _source_manifest(self, reader: Task, deps: Sequence[TaskResult]) -> Manifest:
        """The manifest ``reader`` (a tag or copy) takes, by digest: the plan's, or the one
        the task it waited for produced."""
        if reader.from_build:
            return self.built.manifest(reader.image)
        source = reader.change.source if reader.change is not None else None
        if source is None:
            raise PlanError(f"task {reader.label} has no source")
        digest = source.digest or (deps[0].digest if deps else None)
        if digest is None:
            raise PlanError(f"no digest known for {source}")
        return self._manifest(source.repository, digest)

    def _inside_bases(self, task: Task, deps: Sequence[TaskResult]) -> list[tuple[str, str]]:
        """(FROM as written, digest) for each base another image of the plan publishes: the
        digest its task just wrote, or the one the tag kept (docs/config.md, "Images that
        depend on images")."""
        build = next((i.build for i in self._plan.images if i.name == task.image), None)
        written = {r.task.ref: r.digest for r in deps if r.task.ref is not None}
        kept = {c.ref: c.current for c in self._plan.changes if c.action == "noop"}
        out = []
        for text, ref in build.uses if build is not None else ():
            digest = written.get(ref) or kept.get(ref)
            if digest is not None and parse_reference(text).repository == ref.repository:
                out.append((text, digest))  # (not when redirected: the engine knows another)
        return out

    def _tag_local_bases(self, task: Task, deps: Sequence[TaskResult]) -> None:
        """``hubpub build``: the images of the plan this build starts FROM were built, not
        published; each one's new image is tagged in the engine under the name the FROM
        uses, which the engine builds from (it looks for a local image first)."""
        build = next((i.build for i in self._plan.images if i.name == task.image), None)
        built = {r.task.image: r.digest for r in deps if r.task.kind == "build" and r.digest}
        writer = {change.ref: change.image for change in self._plan.changes}
        for text, ref in build.uses if build is not None else ():
            image_id = built.get(writer.get(ref, ""))
            named = parse_reference(text)
            if image_id is not None and named.digest is None:
                self.engine().tag(image_id, f"{named.repository}:{named.tag or 'latest'}")

    def _build(self, task: Task, deps: Sequence[TaskResult] = ()) -> str:
        inputs = self.builds.get(task.image)
        if inputs is None or inputs.image.build is None:
            raise PlanError(f"image {task.image!r} has no build in the config")
        spec = inputs.image.build
        from hubpub.engine import BuildRequest  # lazy: the engine package, 8-12 ms, builds only

        request = BuildRequest(
            context=spec.context,
            dockerfile=spec.dockerfile,
            target=spec.target,
            build_args=dict(spec.build_args),
            labels=dict(inputs.labels),
            name=task.image,
            network=spec.network,
            cache_from=spec.cache_from,
            inline_cache=spec.inline_cache,
            builder=spec.builder,
        )
        line = partial(self.progress.line, task)
        if self._build_only:
            self._tag_local_bases(task, deps)
        bases = (*inputs.bases, *self._inside_bases(task, deps))
        targets = [
            t.ref.repository
            for t in self._tasks.values()
            if t.image == task.image and t.ref is not None and (t.kind == "push" or t.from_build)
        ]
        if spec.platforms:
            return self._build_platforms(task, request, spec.platforms, bases, targets)
        engine = self._engine_for(None)
        self._ensure_bases(engine, bases, line)
        image_id = engine.build(request, on_line=line)
        if self._build_only:
            return image_id  # nothing is published: no export
        if targets:
            with self._engine_lock:
                self._built_ids[task.image] = (image_id, local_name(targets[0]), engine)
        facts = engine.image_facts(image_id) if self.stage_above is not None and targets else None
        staging = None
        if facts is not None and wanted(facts[0], targets, self.stage_above):
            key = next((b.content_key for b in self._plan.builds if b.image == task.image), None)
            auth = self.push_auth(targets[0].registry)
            ref = staging_ref(targets[0], key or image_id)
            staging = Staging(ref, lambda r: engine.push(image_id, r, auth, line), facts[1])
        export = partial(engine.export, image_id)
        done = self.built.ready(task.image, export, staging, targets, bases, line)
        self._known(done.manifest)
        return image_id

    def _build_platforms(
        self,
        task: Task,
        request: BuildRequest,
        platforms: tuple[str, ...],
        bases: Sequence[tuple[str, str]],
        targets: Sequence[Repository],
    ) -> str:
        """The image's config lists platforms: each built on ``_engine_for`` it
        (platformbuild.py), then, two or more, the index that lists them."""
        line = partial(self.progress.line, task)
        job = PlatformBuilds(task.image, request, platforms, tuple(bases), tuple(targets), line)
        built = None if self._build_only else self.built
        done = job.run(self._engine_for, lambda e: self._ensure_bases(e, bases, line), built)
        if built is None:
            return done[0].image_id
        job.compose(built)
        for one in done:
            if targets:
                local = local_name(targets[0])
                if len(platforms) > 1:
                    local = f"{local}-{one.platform.replace('/', '-')}"
                with self._engine_lock:
                    self._built_ids[job.child(one.platform)] = (one.image_id, local, one.engine)
        self._known(built.manifest(task.image))
        return done[0].image_id

    def _engine_for(self, platform: str | None) -> EngineLike:
        """The engine that builds for ``platform`` (None: the engine's own platform). Every
        build asks here: the one engine, or the [builders] pool's (routing.py)."""
        return self.engine()

    def _ensure_bases(
        self, engine: EngineLike, bases: Sequence[tuple[str, str]], line: Callable[[str], None]
    ) -> None:
        for name, digest in bases:
            engine.ensure_base(
                name, digest, self.push_auth(parse_reference(name).registry), on_line=line
            )

    def _known(self, manifest: Manifest) -> None:
        with self._manifest_lock:  # its tags read the manifest by digest: no GET
            self._manifests.setdefault(manifest.digest, Once()).get(lambda: manifest)

    def _manifest(self, repo: Repository, digest: str) -> Manifest:
        # One GET per digest, however many tags and copies take it, even when they run at once:
        # the bytes of a digest are the same in every repository that holds it (get_manifest
        # checks them against the digest).
        with self._manifest_lock:
            once = self._manifests.setdefault(digest, Once())
        return once.get(lambda: self.registry.get_manifest(repo.with_digest(digest)))


def manifest_home(task: Task) -> Repository:
    """The repository a tag or copy reads its manifest from."""
    if task.change is None or task.change.source is None:
        raise PlanError(f"task {task.label} has no source")
    return task.change.source.repository
