"""The composition root of ``plan`` and ``apply``: :func:`session` loads the config, reads
the git state, computes the desired images and opens the registry client; :class:`Session`
holds them with the engine (started on first use) and the engine's credentials for pulling
base images (looked up once per registry) and builds each image's inputs
(:func:`build_labels`); :func:`checkout_warnings` compares the checkout with the commit
published.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hubpub.bases import ENGINE_PREFIX
from hubpub.cimatrix import StagedPlatforms, look, note_staged, stage_plan
from hubpub.commands._desired import check_files, compute_desired
from hubpub.config.builders import routing_note
from hubpub.config.load import load_config, where_in
from hubpub.config.model import Config
from hubpub.contentkey import LABEL, context_files, user_labels
from hubpub.desired import BuildSpec, DesiredImage, desired_images
from hubpub.errors import EngineError, HubpubError, PlanError
from hubpub.executor import BuildInputs
from hubpub.fileimages import FileImages
from hubpub.gitstate import GitState, Relation, commit_relations
from hubpub.labelcache import LabelCache
from hubpub.layers import LayerCache
from hubpub.observe import Observation, dependencies_of, observe, observe_builds
from hubpub.planner import Commit, Plan, PlanWarning, make_plan
from hubpub.provenance import MoveGuard
from hubpub.redirects import Redirects
from hubpub.reference import parse_reference
from hubpub.registry.client import RegistryClient
from hubpub.registry.credentials import find_credentials
from hubpub.registry.models import RegistryOptions
from hubpub.worktree import changed_paths, untracked_files

if TYPE_CHECKING:
    from hubpub.engine import Engine, PushAuth
    from hubpub.engine.pool import Builders


@dataclass
class Session:
    """Everything one plan or apply works with; close() releases the connections."""

    environ: Mapping[str, str]
    config: Config
    git: GitState
    desired: list[DesiredImage]
    redirects: Redirects
    registry: RegistryClient
    registry_options: dict[str, RegistryOptions]
    _pool: Builders | None = None
    # registry -> the engine's credentials for it, looked up once: the executor pushes from
    # several worker threads, and each lookup re-read the Docker config (and may run a
    # credential helper). Out of the repr: they are secrets.
    _push_auths: dict[str, PushAuth | None] = field(default_factory=dict, repr=False)
    _push_auth_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _push_auth_locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    # image name -> the labels its build sets (build_inputs), which apply caches once pushed
    built_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # With --only: the images outside it that a selected image depends on -> those selected
    # images. They are planned too, and must not change (make_plan below).
    support: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _files: FileImages | None = None

    def plan(
        self, observation: Observation, *, rebuild: bool, allow_backwards: bool = False
    ) -> Plan:
        """The plan of ``observation`` for the commit published. An image outside ``--only``
        that a selected image depends on must not change in it (docs/config.md, "Images that
        depend on images"); it is left out of the plan."""
        plan = make_plan(
            observation.specs,
            observation.observed,
            rebuild=rebuild,
            commit=self.commit,
            allow_backwards=allow_backwards,
        )
        # What the selected images build FROM or promote: it must stay where it is.
        used = {ref for pairs in observation.uses.values() for _text, ref in pairs}
        for image in plan.images:
            users = self.support.get(image.name)
            moves = any(c.is_change and c.ref in used for c in image.changes)
            if users and (image.build is not None or moves):
                wanted = " ".join(f"--only {name}" for name in (image.name, *users))
                raise PlanError(
                    f"--only {users[0]}: image {users[0]!r} depends on image {image.name!r}, "
                    "which changes in this plan: publishing one without the other would build "
                    "or promote against an old image",
                    hint=f"select both: {wanted}",
                )
        return replace(plan, images=tuple(i for i in plan.images if i.name not in self.support))

    @property
    def pool(self) -> Builders:
        """The engines that build: the default one and the config's ``[builders]``, each
        opened on first use (engine/pool.py)."""
        if self._pool is None:
            from hubpub.engine.pool import Builders  # lazy: engine package, 8-12 ms, builds only

            path = self.config.path
            self._pool = Builders(
                self.config.builders,
                self.environ,
                where=lambda name: (
                    where_in(path, ("builders", name, "docker_host"))
                    + f"builders[{name}].docker_host: "
                ),
            )
        return self._pool

    def engine(self) -> Engine:
        # Kept only once it answered: a second caller never gets an unchecked engine.
        return self.pool.default()

    def local_engine(self) -> Engine | None:
        """The engine for base images that are in no registry. An engine that cannot be
        reached raises: observe names that cause instead of "not in the local engine"."""
        return self.engine()

    def push_auth(self, registry: str) -> PushAuth | None:
        # One lookup at a time per registry: two pushes to one registry must not both run its
        # helper, and a slow helper for one registry must not hold up pushes to another.
        with self._push_auth_lock:
            lock = self._push_auth_locks.setdefault(registry, threading.Lock())
        with lock:
            if registry not in self._push_auths:
                self._push_auths[registry] = self._find_push_auth(registry)
            return self._push_auths[registry]

    def _find_push_auth(self, registry: str) -> PushAuth | None:
        from hubpub.engine import PushAuth  # lazy: the engine package, 8-12 ms, builds only

        options = self.registry_options.get(registry, RegistryOptions())
        creds = find_credentials(registry, options, self.environ)
        if creds is None:
            return None
        if creds.identity_token:
            return PushAuth(creds.username or "", "", identity_token=creds.identity_token)
        if creds.username and creds.password:
            return PushAuth(creds.username, creds.password)
        return None

    @property
    def commit(self) -> Commit:
        """The commit published, for the rule that tags only move forward."""
        return Commit(self.git.sha, self.git.commit_time)

    def lineage(self, revisions: Collection[str]) -> Mapping[str, Relation]:
        """How each commit relates to the one published, asked of git."""
        return commit_relations(self.config.root, self.git.sha, revisions, self.environ)

    def move_guard(self, observation: Observation) -> MoveGuard:
        """Apply's compare-and-swap check before each tag's PUT (executor.py)."""
        monotonic = [tag.ref for image in observation.images for tag in image.tags if tag.monotonic]
        return MoveGuard(
            self.registry,
            self.commit,
            self.lineage,
            LabelCache.default(self.environ),
            monotonic=monotonic,
        )

    def builders(self, plan: Plan) -> dict[str, str]:
        """image -> the builder its build uses, for the plan's note under each build. The
        engine is asked only when the config leaves the choice to it (builder = "auto"); a
        plan made where no engine answers says what apply will choose."""
        by_name = {image.name: image for image in self.desired}
        found: dict[str, str] = {}
        for build in plan.builds:
            image = by_name.get(build.image)
            if image is None or image.build is None:
                continue
            choice = image.build.builder
            if choice == "classic":
                found[build.image] = 'classic (builder = "classic")'
                continue
            try:
                buildkit = self.engine().uses_buildkit(choice)
            except EngineError:
                found[build.image] = "BuildKit if the engine has it, else classic"
                continue
            found[build.image] = "BuildKit" if buildkit else "classic (the engine has no BuildKit)"
        return found

    def engines(self, plan: Plan) -> dict[str, str]:
        """image -> the engines its build goes to, for the plan's note under each build; none
        without ``[builders]`` (then everything builds on the default engine, as it always
        did). Pure routing: no engine is opened for it."""
        if not self.config.builders:
            return {}
        return {
            # No platforms: the engine's own (None), built on the default engine.
            build.image: routing_note(self.config.builders, build.platforms or (None,))
            for build in plan.builds
        }

    def observe(self, *, rebuild: bool) -> Observation:
        observation = observe(
            self._file_digests(self.desired),
            self.registry,
            engine=self.local_engine,
            redirects=self.redirects,
            cache=LabelCache.default(self.environ),
            rebuild=rebuild,
            lineage=self.lineage,
        )
        # A file source's digest is its top manifest's (fileimages.py), read once for the run.
        sources = dict(observation.observed.sources)
        indexes = set(observation.observed.indexes)
        for image in observation.images:
            if image.file is not None and image.file.digest is not None:
                sources[image.name] = image.file.digest
                if self.files().top(image.name).is_index:
                    indexes.add(image.file.digest)
        observed = replace(observation.observed, sources=sources, indexes=frozenset(indexes))
        return replace(observation, observed=observed)

    def files(self) -> FileImages:
        """The images of the run published from files, read when first asked for."""
        if self._files is None:
            images = [self.redirects.image(image) for image in self.desired]
            cache = LayerCache.default(self.environ)
            self._files = FileImages(self.registry, cache, images)
        return self._files

    def _file_digests(self, images: list[DesiredImage]) -> list[DesiredImage]:
        """``images``, each file source with a tag here given its digest (read now)."""
        return [
            replace(image, file=replace(image.file, digest=self.files().top(image.name).digest))
            if image.file is not None and image.tags
            else image
            for image in images
        ]

    def observe_builds(self, building: Collection[str]) -> Observation:
        """The content keys of the images named only (a saved plan's builds: apply.py)."""
        # The key of a build FROM an image published from a file counts the file's digest.
        desired = self._file_digests(self.desired) if building else self.desired
        return observe_builds(
            desired,
            self.registry,
            building=building,
            engine=self.local_engine,
            redirects=self.redirects,
        )

    def build_inputs(self, observation: Observation, plan: Plan) -> dict[str, BuildInputs]:
        created = self.git.commit_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        by_name = {image.name: image for image in observation.images}
        inputs = {}
        for image_plan in plan.images:
            image = by_name.get(image_plan.name)
            if image is None or image.build is None:
                continue
            labels = build_labels(
                image,
                image_plan.content_key,
                source_url=self.git.source_url,
                revision=self.git.sha,
                created=created,
            )
            self.built_labels[image.name] = labels
            inputs[image.name] = BuildInputs(image, labels, self._checked_bases(observation, image))
        return inputs

    def _checked_bases(
        self, observation: Observation, image: DesiredImage
    ) -> tuple[tuple[str, str], ...]:
        """The bases whose registry digest the content key names, as the Dockerfile names
        them: the engine must build from exactly those. Left out: bases known only to the
        engine (their key is the engine's own ID), bases pinned by digest (the engine fetches
        exactly that), and redirected ones (the engine knows them under another name)."""
        checked = []
        for name, digest in observation.bases.get(image.name, ()):
            if digest.startswith(ENGINE_PREFIX):
                continue
            ref = parse_reference(name)
            if ref.digest is None and self.redirects.reference(ref) == ref:
                checked.append((name, digest))
        return tuple(checked)

    def close(self, *, wait: bool = True) -> None:
        if self._files is not None:
            self._files.close()
        if self._pool is not None:
            self._pool.close()
        self.registry.close(wait=wait)


@contextmanager
def session(
    config_path: Path,
    *,
    ref: str | None,
    sha: str | None,
    only: Sequence[str],
    redirects: Sequence[str],
    environ: Mapping[str, str] | None = None,
) -> Iterator[Session]:
    environ = dict(os.environ if environ is None else environ)
    config = load_config(config_path)
    # compute_desired honours the config's default_branch and locates template errors.
    git, desired = compute_desired(config, environ, ref=ref, sha=sha, only=only)
    check_files(config, desired, git)  # a missing context or Dockerfile, located in the file
    parsed = Redirects.parse(redirects)
    support = _support(config, git, environ, desired, parsed) if only else {}
    if support:
        wanted = [*only, *support]
        desired = compute_desired(config, environ, ref=ref, sha=sha, only=wanted)[1]
    options = RegistryOptions.from_config(config.registries)
    registry = RegistryClient(options, environ=environ)
    current = Session(environ, config, git, desired, parsed, registry, options, support=support)
    try:
        yield current
    except BaseException:
        # The error is reported now, not once the requests still in flight (a failing
        # registry's retries, a saved plan's tag checks) end: nothing they find matters any more.
        current.close(wait=False)
        raise
    else:
        current.close()


def _support(
    config: Config,
    git: GitState,
    environ: Mapping[str, str],
    selected: list[DesiredImage],
    redirects: Redirects,
) -> dict[str, tuple[str, ...]]:
    """With ``--only``: the other images the selected ones depend on (observe.dependencies_of).
    An image whose desired references cannot be computed here publishes nothing to depend on."""
    chosen = {image.name for image in selected}
    others = []
    for image in config.images:
        if image.name in chosen:
            continue
        try:
            others.extend(desired_images(config, git, environ, [image.name]))
        except HubpubError:
            continue
    others = [image for image in others if image.build is None or image.build.dockerfile.is_file()]
    return dependencies_of(selected, others, redirects)


def platforms_of(observation: Observation) -> dict[str, tuple[str, ...]]:
    """Each image's platforms as the config lists them (cimatrix.py reads these, not a saved
    plan's copy)."""
    return {spec.name: spec.platforms for spec in observation.specs}


def warn_unlisted(config: Path, platforms: Mapping[str, tuple[str, ...]], platform: str) -> None:
    """``--platform`` naming a platform no image lists: "nothing to do" would hide a typo or
    a runner started for the wrong platform, so one located line says so (not an error: the
    platform job of a pipeline whose images dropped it has nothing to do)."""
    if not any(platform in listed for listed in platforms.values()):
        click.echo(
            f"hubpub: warning: {config}: no image lists platform {platform} in its "
            '"platforms", so --platform stages nothing (check the platform, or the images\' '
            '"platforms")',
            err=True,
        )


def with_staged(
    current: Session, observation: Observation, plan: Plan, platform: str | None, *, rebuild: bool
) -> tuple[Plan, dict[str, StagedPlatforms]]:
    """What the registry has staged (docs/ci-matrix.md), for ``plan`` and ``apply`` alike:
    with ``--platform``, the plan that stages that platform; without, ``plan`` saying which
    multi-platform builds are composed or miss a platform. Also what was found staged. The
    platforms are the config's; ``--rebuild`` looks at nothing staged (builds them again)."""
    platforms = platforms_of(observation)
    found = look(plan, current.registry, platform, platforms=platforms, rebuild=rebuild)
    if platform is None:
        return note_staged(plan, found), found
    warn_unlisted(current.config.path, platforms, platform)
    return stage_plan(plan, platform, found), found


def checkout_warnings(current: Session, plan: Plan) -> Plan:
    """``plan`` with a blocking warning on each image built from files whose build or reuse
    would publish files that are not the commit it is published as: ``--sha``/``--ref`` name
    another commit than the checkout, the context (or Dockerfile) has uncommitted changes, or
    the build would send files that commit does not track (git-ignored ones). hubpub builds
    the files on disk, and finds an image to reuse by their content key, then labels and tags
    it as ``git.sha``: either way a sha or version tag would name content that commit does not
    have (goreleaser refuses a dirty tree for the same reason). The blocking warnings a saved
    plan carries are replaced: apply looks again."""
    git = current.git
    plan = replace(plan, warnings=tuple(w for w in plan.warnings if not w.blocks))
    if git.checkout is None:
        return plan  # no repository (--ref and --sha given outside one): nothing to compare
    by_name = {image.name: image for image in current.desired}
    warnings = []
    for image_plan in plan.images:
        image = by_name.get(image_plan.name)
        if image is None or image.build is None:
            continue
        if image_plan.build is None and not any(c.is_change for c in image_plan.changes):
            continue  # nothing published
        text = _checkout_problem(current, image.build)
        if text is not None:
            warnings.append(PlanWarning(image_plan.name, text, blocks=True))
    return plan.with_warnings(warnings)


def _checkout_problem(current: Session, build: BuildSpec) -> str | None:
    git = current.git
    assert git.checkout is not None
    sha = git.sha[:12]
    if git.checkout != git.sha:
        return (
            f"it builds the checked-out files (commit {git.checkout[:12]}) but publishes "
            f"them as commit {sha}: check out {sha} first"
        )
    paths = [build.context, build.dockerfile]
    changed = changed_paths(current.config.path.parent, paths, current.environ)
    untracked: list[str] = []
    if git.top is not None:
        sent = [build.context / rel for rel in context_files(build.context, build.dockerfile)]
        sent = [path for path in sent if path.is_symlink() or not path.is_dir()]
        if build.dockerfile not in sent:
            sent.append(build.dockerfile)
        top = git.top.resolve()
        resolved = [Path(os.path.realpath(path.parent)) / path.name for path in sent]
        untracked = [
            rel
            for rel in untracked_files(top, git.sha, resolved, current.environ)
            if rel not in changed
        ]
    if not changed and not untracked:
        return None
    files = [*changed, *untracked]
    more = f" and {len(files) - 3} more" if len(files) > 3 else ""
    shown = ", ".join(files[:3]) + more
    if not untracked:
        return (
            f"its build context has uncommitted changes ({shown}): the image would not be "
            f"commit {sha}"
        )
    return (
        f"its build context sends files commit {sha} does not track ({shown}): the image "
        f"would not be commit {sha}; commit them, or leave them out with .dockerignore"
    )


def build_labels(
    image: DesiredImage,
    content_key: str | None,
    *,
    source_url: str | None,
    revision: str,
    created: str,
) -> dict[str, str]:
    """The labels a built image carries: the user's, the OCI ones metadata-action sets, and
    the content key (which counts the user's and leaves hubpub's per-commit ones out:
    contentkey.py)."""
    labels: dict[str, str] = {}
    if image.build is not None:
        # Without the empty ones, so that the OCI default below can apply.
        labels.update(user_labels(image.build.labels))
    oci = {
        "org.opencontainers.image.title": image.name,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.created": created,
    }
    if source_url:
        oci["org.opencontainers.image.source"] = source_url
    if image.version:
        oci["org.opencontainers.image.version"] = image.version
    for key, value in oci.items():
        labels.setdefault(key, value)
    if content_key is not None:
        labels[LABEL] = content_key
    return labels


def refuse_dirty(plan: Plan, *, allow_dirty: bool) -> None:
    """Before any change: a build whose files are not the commit it is published as (the
    plan's blocking warning, commands/_session.py checkout_warnings) needs --allow-dirty."""
    dirty = [warning for warning in plan.warnings if warning.blocks]
    if dirty and not allow_dirty:
        first = dirty[0]
        more = f" (and {len(dirty) - 1} more image)" if len(dirty) > 1 else ""
        raise PlanError(
            f"image {first.image!r}: {first.text}{more}; nothing was changed",
            hint="commit the changes, or pass --allow-dirty to publish the files as they are",
        )
