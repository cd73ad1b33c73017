"""The planner: a pure function from (desired state, observed state) to a plan.

Nothing here touches the world. :mod:`hubpub.observe` gathers what the registries hold and
the content keys of the build contexts; :func:`make_plan` decides, for every desired tag, what
to do and how, following Terraform's plan/apply model (docs/architecture.md#data-flow):

- ``noop`` when the tag already points at the image it should;
- ``create`` / ``update`` otherwise, *via*
  - ``push``: the freshly built image, exported from the engine, is uploaded to one target
    (its blobs, its manifest by digest, then the tag);
  - ``tag``: the manifest is already in that repository: PUT the same bytes under the tag;
  - ``copy``: another repository or registry holds it: mount or stream its blobs, tag last;
- ``conflict`` when an immutable tag already points at another image;
- ``skip`` when a tag that only moves forward (TargetTag.monotonic: a branch name, edge,
  latest = true) points at an image built from a newer commit than the one published: an
  older pipeline finishing last must not move it back (docs/config.md, "Tags only move
  forward"). What "newer" means is monotonic.newer_published, a rule on observed facts: the
  revision label of the image the tag points to, its relation in git to the published commit
  (gitstate.commit_relations), and its created label when git cannot say.

A change that would move a tag from a multi-platform index to a single image (an image built
without ``platforms`` is the engine's platform only; a tag that buildx made multi-platform would
stop serving the others) carries a warning, shown by the plan and in its JSON: a user migrating
from build-push-action would not expect arm64 pulls to break without a word. So does a build of
an index that drops a platform the tag's index has (platforms.index_warning).

Every warning of a plan is in one list, :attr:`Plan.warnings`: the planner's (about a tag,
informative) and those added after planning (commands/_session.py, about a build whose files
are not the commit published: they block apply). Reports render that list; plan files save it.

An image built from a context needs no build when some target already holds an image whose
content-key label equals the context's key: every other tag is then created registry-side from
that digest, and the plan is exact. Otherwise the image is built once and every stale or missing
tag takes the new image, whose digest is "known after build" (``desired is None``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from hubpub.errors import PlanError
from hubpub.gitstate import Relation
from hubpub.monotonic import Commit, Decided, Guard, Provenance, newer_published, skip_text
from hubpub.platforms import index_warning
from hubpub.reference import Reference, Repository

__all__ = [
    "Build",
    "Change",
    "Commit",
    "ImagePlan",
    "ImageSpec",
    "Observed",
    "Plan",
    "PlanWarning",
    "Provenance",
    "Relation",
    "Summary",
    "TargetTag",
    "make_plan",
    "newer_published",
    "skip_text",
]

Action = Literal["create", "update", "noop", "conflict", "skip"]
Via = Literal["push", "tag", "copy"]


@dataclass(frozen=True)
class TargetTag:
    """One desired reference of an image (desired.DesiredTag, as the planner needs it)."""

    ref: Reference
    immutable: bool = False
    rule: str = ""
    monotonic: bool = False  # moves only forward in commit history (desired.DesiredTag)


@dataclass(frozen=True)
class ImageSpec:
    """What the planner needs to know about one desired image."""

    name: str
    tags: tuple[TargetTag, ...]
    # Exactly one of: built from a context (content_key set by observe) or promoted from source.
    source: Reference | None = None
    # The images of the config it builds FROM or promotes (depgraph.py): planned before it.
    after: tuple[str, ...] = ()
    # (FROM as written, the reference of another image of the config it names): the build
    # waits for that reference and builds from the digest written there.
    uses: tuple[tuple[str, Reference], ...] = ()
    # the platforms a build makes (an index of them when two or more); empty: the engine's
    platforms: tuple[str, ...] = ()
    file: str | None = None  # a source on disk (filesource.py); its digest is in sources


@dataclass(frozen=True)
class Observed:
    """What observe found: every digest the plan depends on, nothing else."""

    # desired reference -> the manifest digest the tag points to now (None: no such tag)
    tags: Mapping[Reference, str | None]
    # manifest digest -> the content-key label of that image (None: no label / not readable)
    labels: Mapping[str, str | None] = field(default_factory=dict)
    # image name -> content key of its build context (images built from a context only)
    content_keys: Mapping[str, str] = field(default_factory=dict)
    # image name -> digest of its promotion source (None: the source does not exist), or of
    # its file source's top manifest
    sources: Mapping[str, str | None] = field(default_factory=dict)
    # image name -> other tags of its target repositories, (reference, digest): where an image
    # with the current content key may sit when no desired tag points to it yet (a version tag
    # on a commit whose context did not change since the branch build)
    others: Mapping[str, tuple[tuple[Reference, str], ...]] = field(default_factory=dict)
    # the digests above that are indexes (multi-platform), not single images
    indexes: frozenset[str] = frozenset()
    # index digest -> the platforms it lists, where its annotations were read
    index_platforms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # manifest digest -> its provenance labels: read for the images a tag that only moves
    # forward points to, when the plan would move it
    provenance: Mapping[str, Provenance] = field(default_factory=dict)
    # revision (a commit sha) -> how it relates to the commit published
    relations: Mapping[str, Relation] = field(default_factory=dict)


@dataclass(frozen=True)
class Build:
    image: str
    reason: str
    content_key: str | None
    push_ref: Reference  # the one reference the built image is first uploaded to
    # (FROM as written, a reference another image of the plan publishes): built after it
    uses: tuple[tuple[str, Reference], ...] = ()
    platforms: tuple[str, ...] = ()  # ImageSpec.platforms


@dataclass(frozen=True)
class Change:
    image: str
    ref: Reference
    action: Action
    # How a create/update/conflict would be carried out; None for noop.
    via: Via | None
    current: str | None
    # The digest the tag will point to; None while it is "known after build".
    desired: str | None
    # Where the bytes come from for tag/copy: a reference holding the image (with its digest
    # when known; else a reference another change of this plan writes first).
    source: Reference | None = None
    immutable: bool = False
    rule: str = ""
    # Something the user should know before applying (a tag that loses platforms); the plan
    # lists it in Plan.warnings, which is what reports show and plan files save.
    warning: str | None = None
    # Why a skip does not move the tag: "newer published: 1.3.0 / commit abc1234".
    reason: str | None = None

    @property
    def is_change(self) -> bool:
        return self.action not in ("noop", "skip")


@dataclass(frozen=True)
class ImagePlan:
    name: str
    build: Build | None
    changes: tuple[Change, ...]
    source: Reference | None = None
    content_key: str | None = None
    after: tuple[str, ...] = ()  # the images of the plan it depends on (depgraph.py)
    file: str | None = None  # published from this file (ImageSpec.file)


@dataclass(frozen=True)
class Summary:
    builds: int
    create: int
    update: int
    unchanged: int
    conflicts: int
    skipped: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.builds or self.create or self.update or self.conflicts)


@dataclass(frozen=True)
class PlanWarning:
    """Something the user should know before applying."""

    image: str
    text: str
    ref: Reference | None = None  # the tag it is about; None: the image's build
    blocks: bool = False  # apply refuses the plan unless --allow-dirty


@dataclass(frozen=True)
class Plan:
    images: tuple[ImagePlan, ...]
    # Those about a build first, then those about a tag (with_warnings keeps that order).
    warnings: tuple[PlanWarning, ...] = ()

    def with_warnings(self, added: Iterable[PlanWarning]) -> Plan:
        """This plan with ``added`` too: the warnings about a build before those about a tag,
        each group in the order given (the order every report lists them in)."""
        merged = sorted((*self.warnings, *added), key=lambda warning: warning.ref is not None)
        return replace(self, warnings=tuple(merged))

    @property
    def builds(self) -> tuple[Build, ...]:
        return tuple(image.build for image in self.images if image.build is not None)

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(change for image in self.images for change in image.changes)

    @property
    def conflicts(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.action == "conflict")

    @property
    def summary(self) -> Summary:
        actions = [change.action for change in self.changes]
        return Summary(
            builds=len(self.builds),
            create=actions.count("create"),
            update=actions.count("update"),
            unchanged=actions.count("noop"),
            conflicts=actions.count("conflict"),
            skipped=actions.count("skip"),
        )

    @property
    def has_changes(self) -> bool:
        return self.summary.has_changes


def make_plan(
    images: Sequence[ImageSpec],
    observed: Observed,
    *,
    rebuild: bool = False,
    commit: Commit | None = None,
    allow_backwards: bool = False,
    skipped: Mapping[Reference, str] | None = None,
) -> Plan:
    """The plan that makes every desired tag of ``images`` point at the right image.

    ``commit``: the commit published; a tag that only moves forward and points at an image of
    a newer commit is skipped (unless ``allow_backwards``). Without it nothing is skipped.
    ``skipped``: the skips decided before, by reference (a saved plan's, made again:
    planfile.check_derived), for the tags that may be skipped."""
    guard: Guard | Decided | None = None
    if skipped is not None:
        guard = Decided(skipped)
    elif commit is not None and not allow_backwards:
        guard = Guard(commit, observed.provenance, observed.relations)
    planned: dict[Reference, Change] = {}  # what the images planned so far write
    plans = []
    for image in images:  # observe puts every dependency before its dependents
        image_plan = _plan_image(image, observed, planned, rebuild=rebuild, guard=guard)
        planned.update((change.ref, change) for change in image_plan.changes)
        plans.append(replace(image_plan, after=image.after))
    plan = Plan(tuple(plans))
    return plan.with_warnings(
        PlanWarning(change.image, change.warning, change.ref)
        for change in plan.changes
        if change.warning
    )


def _plan_image(
    image: ImageSpec,
    observed: Observed,
    planned: Mapping[Reference, Change],
    *,
    rebuild: bool,
    guard: Guard | Decided | None = None,
) -> ImagePlan:
    current = {tag.ref: observed.tags.get(tag.ref) for tag in image.tags}
    skips = {
        tag.ref: reason
        for tag in image.tags
        if guard is not None and (reason := guard.skip_reason(tag, current[tag.ref])) is not None
    }
    if image.source is not None:
        if not image.tags:  # nothing to publish on this ref: the source is not looked at
            return ImagePlan(image.name, None, (), source=image.source)
        upstream = planned.get(image.source)
        if upstream is not None and upstream.action in ("create", "update", "conflict"):
            # Another image of this plan writes the source (rebuilt in this apply): copy what
            # it writes, once it is written (its digest may be known only after its build).
            holders = {image.source.repository: image.source}
            changes = _changes(
                image, current, upstream.desired, holders, observed.indexes, skips, build=False
            )
            return ImagePlan(image.name, None, changes, source=image.source)
        digest = observed.sources.get(image.name)
        if digest is None:
            raise PlanError(
                f"image {image.name!r}: the promotion source {image.source} does not exist",
                hint="push it first, or fix 'source' in the config",
            )
        holders = {image.source.repository: image.source.repository.with_digest(digest)}
        changes = _changes(image, current, digest, holders, observed.indexes, skips, build=False)
        return ImagePlan(image.name, None, changes, source=image.source)

    if image.file is not None:
        # Its digest is known before any write: tags holding it stay; the first tag of another
        # repository is "pushed" from the file, the others follow from there.
        digest = observed.sources.get(image.name)
        changes = _changes(image, current, digest, {}, observed.indexes, skips, build=True)
        return ImagePlan(image.name, None, changes, file=image.file)
    key = observed.content_keys.get(image.name)
    if not rebuild and key is not None:
        others = observed.others.get(image.name, ())
        digest = _holder_of_key(image, current, observed.labels, key)
        if digest is None:
            digest = next((d for _ref, d in others if observed.labels.get(d) == key), None)
        if digest is not None:
            holders = {
                ref.repository: ref.repository.with_digest(d) for ref, d in others if d == digest
            }
            changes = _changes(
                image, current, digest, holders, observed.indexes, skips, build=False
            )
            return ImagePlan(image.name, None, changes, content_key=key)

    changes = _changes(
        image,
        current,
        None,
        {},
        observed.indexes,
        skips,
        build=True,
        known=observed.index_platforms,
    )
    push = next((c.ref for c in changes if c.via == "push"), None)
    if push is None:  # no tag at all: nothing to build for
        return ImagePlan(image.name, None, changes, content_key=key)
    reason = _build_reason(image, current, observed.labels, key, rebuild=rebuild)
    build = Build(image.name, reason, key, push, image.uses, image.platforms)
    return ImagePlan(image.name, build, changes, content_key=key)


def _holder_of_key(
    image: ImageSpec,
    current: Mapping[Reference, str | None],
    labels: Mapping[str, str | None],
    key: str,
) -> str | None:
    """The digest of an existing target whose image carries ``key`` (first in tag order)."""
    for tag in image.tags:
        digest = current[tag.ref]
        if digest is not None and labels.get(digest) == key:
            return digest
    return None


def _changes(
    image: ImageSpec,
    current: Mapping[Reference, str | None],
    desired: str | None,
    holders: dict[Repository, Reference],
    indexes: frozenset[str],
    skips: Mapping[Reference, str],
    *,
    build: bool,
    known: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[Change, ...]:
    """One change per desired tag; ``desired is None`` means "the image this plan builds".

    ``holders`` maps each repository that holds (or will hold, once an earlier change of the
    plan ran) the desired image to a reference of it there: a tag write in such a repository
    is a manifest PUT; a repository without one gets a copy, once, and later tags in it are
    PUTs from that copy, so each blob crosses to a registry at most once.

    ``skips``: the tags not to move (a newer image is published there), with the reason.
    ``known``: the platforms of the indexes tags point to, where known.
    """
    holders = dict(holders)
    if desired is not None:
        for tag in image.tags:
            if current[tag.ref] == desired:
                holders.setdefault(tag.ref.repository, tag.ref.repository.with_digest(desired))
    push = None
    if build and not holders:
        # The engine's push writes its tag itself, with no last check of where the tag points:
        # it goes to a tag that names this commit (sha, a version) when there is one, and the
        # tags that only move forward follow as PUTs, each checked just before (executor.py).
        written = [t for t in image.tags if t.ref not in skips]
        push = next((t for t in written if not t.monotonic), written[0] if written else None)
        if push is not None:
            holders[push.ref.repository] = push.ref
    changes: list[Change] = []
    for tag in image.tags:
        now = current[tag.ref]
        if desired is not None and now == desired:
            noop = Change(image.name, tag.ref, "noop", None, now, desired, rule=tag.rule)
            changes.append(replace(noop, immutable=tag.immutable))
            continue
        if tag.ref in skips:
            skip = Change(image.name, tag.ref, "skip", None, now, desired, rule=tag.rule)
            changes.append(replace(skip, reason=skips[tag.ref]))
            continue
        if now is None:
            action: Action = "create"
        elif tag.immutable:
            action = "conflict"
        else:
            action = "update"
        via: Via
        source: Reference | None
        if tag is push:
            via, source = "push", None
        elif tag.ref.repository in holders:
            via, source = "tag", holders[tag.ref.repository]
        elif holders:
            via, source = "copy", _nearest(holders, tag.ref.repository)
        else:  # pragma: no cover - a digest to converge on always has a holder
            raise PlanError(f"image {image.name!r}: no source for {tag.ref}")
        holders.setdefault(tag.ref.repository, tag.ref)
        warning = None
        if now in indexes and desired not in indexes:  # desired None: this plan's build
            platforms = image.platforms if desired is None else ()
            warning = index_warning((known or {}).get(now, ()), platforms)
        changes.append(
            Change(
                image.name,
                tag.ref,
                action,
                via,
                now,
                desired,
                source,
                immutable=tag.immutable,
                rule=tag.rule,
                warning=warning,
            )
        )
    return tuple(changes)


def _nearest(holders: Mapping[Repository, Reference], repo: Repository) -> Reference:
    """A holder in the same registry when there is one: the copy then mounts, moving no data."""
    for holder_repo, ref in holders.items():
        if holder_repo.registry == repo.registry:
            return ref
    return next(iter(holders.values()))


def _build_reason(
    image: ImageSpec,
    current: Mapping[Reference, str | None],
    labels: Mapping[str, str | None],
    key: str | None,
    *,
    rebuild: bool,
) -> str:
    if rebuild:
        return "--rebuild given"
    existing = [digest for digest in current.values() if digest is not None]
    if not existing:
        return "no target exists yet"
    short = _short(key) if key else "unknown"
    if not any(labels.get(digest) for digest in existing):
        return f"no existing target carries a content key (wanted {short})"
    return f"content changed: no target holds content key {short}"


def _short(digest: str) -> str:
    return digest[: len("sha256:") + 12]
