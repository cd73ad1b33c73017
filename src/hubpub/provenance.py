"""Where the images that tags point to come from: what the planner's rule that a tag only moves
forward needs to know before planning (docs/config.md, "Tags only move forward").

An image built by hubpub says which commit it was built from and that commit's time in its OCI
labels (``org.opencontainers.image.revision``, ``.created``), and its version (``.version``,
shown in the plan's ``- skip (newer published: …)`` line only: a release on an unchanged
commit reuses an image whose version label names the build that made it). They live in the
image's config blob, which observe already reads for the content-key label: one read gives
both, and the label cache keeps both (labelcache.py), so a plan with no change asks nothing
more. Read here, only for the images a tag that only moves forward would leave:

- :func:`moving_digests`: which digests those are, once the content keys are known;
- :func:`observe_provenance`: their labels (cache, else the registry), and how each revision
  relates in git to the commit published (a ``lineage`` callable: gitstate.commit_relations);
- :func:`read_keys`: the content-key labels observe asks for (and the provenance with them);
- :class:`MoveGuard`: the same question asked again by apply, just before a tag's PUT, about
  the image the tag points to then (the compare-and-swap of executor.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from hubpub.contentkey import LABEL
from hubpub.desired import DesiredImage
from hubpub.errors import NotFoundError, RegistryError
from hubpub.gitstate import Relation
from hubpub.labelcache import LabelCache
from hubpub.planner import Change, Commit, Provenance, newer_published, skip_text
from hubpub.platforms import of_config
from hubpub.reference import Reference, Repository
from hubpub.registry.models import Manifest

log = logging.getLogger("hubpub.observe")

T = TypeVar("T")
R = TypeVar("R")

REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
VERSION = "org.opencontainers.image.version"

Lineage = Callable[[Collection[str]], Mapping[str, Relation]]


class Registry(Protocol):
    def get_manifest(self, ref: Reference) -> Manifest: ...

    def get_blob(self, repo: Repository, digest: str) -> bytes: ...

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...


def no_lineage(revisions: Collection[str]) -> Mapping[str, Relation]:
    return {}


# Not an annotation: the platforms an index lists, kept with its annotations (label cache).
PLATFORMS = "\0platforms"


def read_config_labels(registry: Registry, repo: Repository, digest: str) -> dict[str, Any] | None:
    """Every label of the image ``repo@digest``; of an index, its annotations (hubpub puts
    the content key and the OCI ones there: docs/registry.md#multi-platform-images) and the
    platforms it lists, with one GET and no platform's config read."""
    manifest = registry.get_manifest(repo.with_digest(digest))
    config = manifest.config
    if manifest.is_index:
        annotations = manifest.json().get("annotations")
        found = dict(annotations) if isinstance(annotations, dict) else {}
        listed = (of_config(c.platform) for c in manifest.children if c.platform)
        return {**found, PLATFORMS: ",".join(dict.fromkeys(listed))}
    if config is None:
        return None
    data: Any = json.loads(registry.get_blob(repo, config.digest))
    labels = ((data or {}).get("config") or {}).get("Labels") or {}
    return labels if isinstance(labels, dict) else {}


def key_of(labels: Mapping[str, Any] | None) -> str | None:
    value = (labels or {}).get(LABEL)
    return value if isinstance(value, str) else None


def record_of(labels: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The provenance labels, as the label cache keeps them."""
    found = labels or {}
    return {
        name: value if isinstance(value := found.get(label), str) else None
        for name, label in (
            ("revision", REVISION),
            ("created", CREATED),
            ("version", VERSION),
            ("platforms", PLATFORMS),
        )
    }


def from_record(record: Mapping[str, str | None]) -> Provenance:
    platforms = tuple(p for p in (record.get("platforms") or "").split(",") if p)
    return Provenance(
        record.get("revision"), record.get("created"), record.get("version"), platforms
    )


def moving_digests(
    images: Sequence[DesiredImage],
    tags: Mapping[Reference, str | None],
    keys: Mapping[str, str],
    labels: Mapping[str, str | None],
    sources: Mapping[str, str | None],
    *,
    rebuild: bool,
) -> dict[str, Repository]:
    """digest -> a repository holding it, for each image a tag that only moves forward points
    to and that the plan may move it from: not the image it will keep (the one with the content
    key, or the promotion source's)."""
    out: dict[str, Repository] = {}
    for image in images:
        for tag in image.tags:
            now = tags.get(tag.ref)
            if now is None or not tag.monotonic or tag.immutable:
                continue
            if image.source is not None:
                stays = now == sources.get(image.name)
            else:
                stays = not rebuild and image.name in keys and labels.get(now) == keys[image.name]
            if not stays:
                out.setdefault(now, tag.ref.repository)
    return out


def observe_provenance(
    moving: Mapping[str, Repository],
    known: Mapping[str, Provenance],
    registry: Registry,
    cache: LabelCache,
    lineage: Lineage,
) -> tuple[dict[str, Provenance], dict[str, Relation]]:
    """(digest -> provenance, revision -> relation to the commit published) for ``moving``;
    ``known``: what the content-key reads already found."""
    provenance = {digest: known[digest] for digest in moving if digest in known}
    missing = []
    for digest, repo in moving.items():
        if digest in provenance:
            continue
        cached = cache.provenance(digest)
        if cached is not None:
            provenance[digest] = from_record(cached)
        else:
            missing.append((digest, repo))

    def fetch(item: tuple[str, Repository]) -> tuple[str, Provenance | None]:
        digest, repo = item
        try:
            labels = read_config_labels(registry, repo, digest)
        except (NotFoundError, RegistryError) as exc:
            # Not readable: nothing says the image is newer, so the tag moves as before.
            log.debug("cannot read the labels of %s@%s: %s", repo, digest, exc)
            return digest, None
        record = record_of(labels)
        cache.put(digest, key_of(labels), record)
        return digest, from_record(record)

    for digest, found in registry.map(fetch, missing):
        if found is not None:
            provenance[digest] = found
    revisions = {p.revision for p in provenance.values() if p.revision}
    relations = dict(lineage(revisions)) if revisions else {}
    return provenance, relations


class MoveGuard:
    """Apply's compare-and-swap question: the tag now points to ``now``, not where the plan saw
    it; would moving it to this plan's image move it backwards? (executor.py asks just before
    the PUT.) ``None`` when the move goes ahead, else the reason to skip."""

    def __init__(
        self,
        registry: Registry,
        commit: Commit,
        lineage: Lineage,
        cache: LabelCache | None = None,
        *,
        monotonic: Collection[Reference] = (),
    ) -> None:
        self.registry = registry
        self.commit = commit
        self.lineage = lineage
        self.cache = cache or LabelCache(None)
        self.monotonic = frozenset(monotonic)

    def applies(self, change: Change) -> bool:
        return change.ref in self.monotonic and not change.immutable

    def skip_reason(self, change: Change, now: str) -> str | None:
        if not self.applies(change):
            return None
        provenance, relations = observe_provenance(
            {now: change.ref.repository}, {}, self.registry, self.cache, self.lineage
        )
        found = provenance.get(now)
        if found is None:
            return None
        relation = relations.get(found.revision or "", "unknown")
        return skip_text(found) if newer_published(found, relation, self.commit) else None


def read_keys(
    where: Mapping[str, Repository],
    registry: Registry,
    cache: LabelCache,
    fetch_limit: int | None = None,
    known: dict[str, Provenance] | None = None,
) -> dict[str, str | None]:
    """The content-key label of each digest, read in the repository given for it (the same
    digest is the same bytes wherever it is): from the cache, else the registry. The same
    read gives the image's provenance labels: cached with the key, and put in ``known``."""
    labels: dict[str, str | None] = {}
    missing: list[tuple[str, Repository]] = []
    for digest, repo in where.items():
        hit, label = cache.get(digest)
        if hit:
            labels[digest] = label
            cached = cache.provenance(digest)
            if cached is not None and known is not None:
                known[digest] = from_record(cached)
        else:
            missing.append((digest, repo))

    def fetch(item: tuple[str, Repository]) -> tuple[str, str | None]:
        digest, repo = item
        try:
            all_labels = read_config_labels(registry, repo, digest)
        except NotFoundError:
            # Deleted between the HEAD and this GET: nothing proves it current (not cached).
            return digest, None
        label, record = key_of(all_labels), record_of(all_labels)
        cache.put(digest, label, record)
        if known is not None:
            known[digest] = from_record(record)
        return digest, label

    if fetch_limit is not None:
        missing = missing[:fetch_limit]
    labels.update(registry.map(fetch, missing))
    return labels


def read_label(registry: Registry, repo: Repository, digest: str) -> str | None:
    """The content-key label of the image ``repo@digest`` (of an index: its annotation);
    None for an image without it."""
    return key_of(read_config_labels(registry, repo, digest))
