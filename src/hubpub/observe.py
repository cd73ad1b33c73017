"""Observe: what the registries hold for the desired references (docs/architecture.md#data-flow).

For every desired reference one HEAD (concurrent, through the registry client), for every
promotion source one HEAD, for every distinct base image of the build contexts one HEAD; then
the content key of each build context, and the content-key label of each image that a desired
tag of a build image points to. That label lives in the image's config blob: one GET of the
manifest and one of the config, then never again for that digest (manifests are
content-addressed, so the label of a digest never changes): it is cached on disk
(labelcache.py). A later plan only HEADs.

What is independent runs at the same time: the base images' HEADs with the tags' HEADs, and
the label reads (and, for an image none of whose tags exists, the tag lists of its
repositories) while the build contexts are hashed.

Applying a saved plan needs less: :func:`observe_builds` computes the content keys of the
images the plan builds and nothing else (``planfile.check_stale`` re-checks the tags).

With ``--redirect`` (redirects.py) every reference is observed at the registry it is
redirected to: desired references, promotion sources and base images.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from hubpub.bases import LocalImages, resolve_bases
from hubpub.contentkey import Dockerfile, content_key, context_entries
from hubpub.depgraph import Graph, publishers
from hubpub.desired import DesiredImage
from hubpub.errors import ConfigError, PlanError
from hubpub.labelcache import LabelCache
from hubpub.othertags import list_all, search_other_tags
from hubpub.planner import ImageSpec, Observed, Provenance, TargetTag
from hubpub.provenance import (
    Lineage,
    moving_digests,
    no_lineage,
    observe_provenance,
    read_keys,
)
from hubpub.redirects import Redirects
from hubpub.reference import Reference, Repository
from hubpub.registry.models import INDEX_MEDIA_TYPES, Manifest, ManifestInfo

log = logging.getLogger("hubpub.observe")

T = TypeVar("T")
R = TypeVar("R")


class Registry(Protocol):
    """The part of registry.client.RegistryClient that observe uses."""

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]: ...

    def head_manifest(self, ref: Reference) -> ManifestInfo | None: ...

    def get_manifest(self, ref: Reference) -> Manifest: ...

    def get_blob(self, repo: Repository, digest: str) -> bytes: ...

    def list_tags(self, repo: Repository, *, missing_ok: bool = False) -> list[str]: ...

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...


# --- observe --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    images: tuple[DesiredImage, ...]  # redirected, every dependency before its dependents
    specs: tuple[ImageSpec, ...]
    observed: Observed
    # image name -> ((base image as written, digest or engine:ID), ...), for messages; the
    # bases another image of the config publishes are in ``uses`` instead
    bases: Mapping[str, tuple[tuple[str, str], ...]]
    # image name -> ((base or source as written, the reference another image publishes), ...)
    uses: Mapping[str, tuple[tuple[str, Reference], ...]] = field(default_factory=dict)


def _specs(graph: Graph) -> tuple[ImageSpec, ...]:
    return tuple(
        image_spec(i, graph.after.get(i.name, ()), graph.uses.get(i.name, ())) for i in graph.images
    )


def _graph(
    images: Sequence[DesiredImage], dockerfiles: Mapping[str, Dockerfile], redirects: Redirects
) -> Graph:
    bases = {name: parsed.bases for name, parsed in dockerfiles.items()}
    return Graph.of(images, bases, redirects.reference)


def dependencies_of(
    selected: Sequence[DesiredImage], others: Sequence[DesiredImage], redirects: Redirects
) -> dict[str, tuple[str, ...]]:
    """For ``--only``: each image of ``others`` that an image of ``selected`` depends on,
    directly or not -> the selected images that depend on it."""
    everything = [redirects.image(image) for image in (*selected, *others)]
    graph = _graph(everything, _dockerfiles(everything), redirects)
    names = {image.name for image in selected}
    needed: dict[str, tuple[str, ...]] = {}

    def visit(name: str, root: str) -> None:
        for dep in graph.after.get(name, ()):
            if dep not in names and root not in needed.get(dep, ()):
                needed[dep] = (*needed.get(dep, ()), root)
                visit(dep, root)

    for name in names:
        visit(name, name)
    return needed


def image_spec(
    image: DesiredImage,
    after: Sequence[str] = (),
    uses: Sequence[tuple[str, Reference]] = (),
) -> ImageSpec:
    return ImageSpec(
        image.name,
        tuple(TargetTag(tag.ref, tag.immutable, tag.rule, tag.monotonic) for tag in image.tags),
        source=image.source,
        after=tuple(after),
        # the FROMs only: a source is the promotion's own (ImageSpec.source)
        uses=tuple((text, ref) for text, ref in uses if ref != image.source),
        platforms=image.build.platforms if image.build is not None else (),
        file=str(image.file) if image.file is not None else None,
    )


def observe(
    images: Sequence[DesiredImage],
    registry: Registry,
    *,
    engine: Callable[[], LocalImages | None] = lambda: None,
    redirects: Redirects | None = None,
    cache: LabelCache | None = None,
    rebuild: bool = False,
    lineage: Lineage = no_lineage,
) -> Observation:
    """``lineage``: how commits relate to the one published (gitstate.commit_relations), for
    the tags that only move forward (provenance.py)."""
    redirects = redirects or Redirects({})
    images = tuple(redirects.image(image) for image in images)
    cache = cache or LabelCache(None)

    # What does not wait for the network first: the base images each Dockerfile names, and
    # the images of the config they (or a promotion's source) are: those come first.
    dockerfiles = _dockerfiles(images)
    graph = _graph(images, dockerfiles, redirects)
    images = graph.images
    names = sorted(
        {n for name, parsed in dockerfiles.items() for n in graph.external(name, parsed)}
    )

    # Four side threads at most: the context hashing, the base lookups, the label reads, the
    # early tag lists (the last three fan out on the registry client's own pool). An error
    # stops the hashing first, so that it is reported without waiting for a large context.
    stop = threading.Event()
    labels: dict[str, str | None] = {}
    others: dict[str, tuple[tuple[Reference, str], ...]] = {}
    known: dict[str, Provenance] = {}  # what the label reads found besides the keys
    with ThreadPoolExecutor(4, "hubpub-observe") as side, _stop_on_error(stop):
        # 1. The build contexts are read and hashed while the registries answer (the HEADs,
        #    base lookups and label reads below wait on the network, not on this thread).
        hashing = side.submit(_hash_contexts, images, stop) if dockerfiles else None
        # 2. The base images' HEADs, at the same time as the tags' (they are independent).
        bases_future = (
            side.submit(resolve_bases, names, registry, engine, redirects) if names else None
        )
        # 3. Every desired reference and every promotion source: one HEAD each, concurrently.
        tags, indexes, sources = _head_references(images, registry)
        # 4. While the contexts hash: the labels the tags point to, and the tag lists step 6
        #    will search.
        reads = (
            _LabelReads()
            if rebuild
            else _start_label_reads(side, images, tags, registry, cache, known)
        )
        # 5. Content keys of the build contexts, base images resolved once across images.
        digests = bases_future.result() if bases_future is not None else {}
        files = hashing.result() if hashing is not None else {}
        keys, bases = _content_keys(images, dockerfiles, digests, files, graph)
        # 6. The labels, and the other tags of the images whose key no desired tag holds.
        if not rebuild:
            labels = reads.labels.result() if reads.labels is not None else {}
            others = search_other_tags(images, tags, keys, labels, reads.listing, registry, cache)
        # 7. The provenance of the images a tag that only moves forward would leave.
        moving = moving_digests(images, tags, keys, labels, sources, rebuild=rebuild)
        provenance, relations = observe_provenance(moving, known, registry, cache, lineage)

    observed = Observed(
        tags=tags,
        labels=labels,
        content_keys=keys,
        sources=sources,
        others=others,
        indexes=indexes,
        index_platforms={d: p.platforms for d, p in known.items() if p.platforms},
        provenance=provenance,
        relations=relations,
    )
    return Observation(images, _specs(graph), observed, bases, graph.uses)


def _head_references(
    images: Sequence[DesiredImage], registry: Registry
) -> tuple[dict[Reference, str | None], frozenset[str], dict[str, str | None]]:
    """(desired reference or source -> digest or None, the digests that are indexes, image
    name -> digest of its promotion source)."""
    wanted: list[Reference] = []
    for image in images:
        wanted.extend(tag.ref for tag in image.tags)
        # An image with no tag on this ref publishes nothing: its source is not looked up.
        if image.source is not None and image.tags:
            wanted.append(image.source)
    found = registry.resolve(dict.fromkeys(wanted))
    tags = {ref: (info.digest if info is not None else None) for ref, info in found.items()}
    indexes = frozenset(
        info.digest
        for info in found.values()
        if info is not None and info.media_type in INDEX_MEDIA_TYPES
    )
    sources = {
        image.name: tags.get(image.source)
        for image in images
        if image.source is not None and image.tags
    }
    return tags, indexes, sources


@dataclass(frozen=True)
class _LabelReads:
    """The label reads and tag lists running on the side (None: nothing to read)."""

    labels: Future[dict[str, str | None]] | None = None
    listing: Future[dict[Repository, list[str]]] | None = None


def _start_label_reads(
    side: ThreadPoolExecutor,
    images: Sequence[DesiredImage],
    tags: Mapping[Reference, str | None],
    registry: Registry,
    cache: LabelCache,
    known: dict[str, Provenance],
) -> _LabelReads:
    """Start reading the content-key label of every image a tag of a build image points to
    (and, in the same read, its provenance, into ``known``)."""
    labels: Future[dict[str, str | None]] | None = None
    listing: Future[dict[Repository, list[str]]] | None = None
    where = {
        digest: tag.ref.repository
        for image in images
        if image.build is not None
        for tag in reversed(image.tags)
        if (digest := tags.get(tag.ref)) is not None
    }
    if where:
        labels = side.submit(read_keys, where, registry, cache, None, known)
    # An image none of whose tags exists will search its repositories for its key (step 6)
    # whatever that key is: list their tags now, while the context hashes.
    early = list(
        dict.fromkeys(
            repo
            for image in images
            if image.build is not None and not any(tags.get(t.ref) for t in image.tags)
            for repo in image.repositories
        )
    )
    if early:
        listing = side.submit(list_all, registry, early)
    return _LabelReads(labels, listing)


def observe_builds(
    images: Sequence[DesiredImage],
    registry: Registry,
    *,
    building: Collection[str],
    engine: Callable[[], LocalImages | None] = lambda: None,
    redirects: Redirects | None = None,
) -> Observation:
    """The content keys (and base digests) of the images named in ``building`` only: what
    applying a saved plan must check again before it builds them.

    The other images cost nothing here, no Dockerfile read, no base lookup, no context hashed:
    the saved plan already says what to do with their tags, and ``planfile.check_stale``
    re-checks every tag (one HEAD each), so ``observed`` holds content keys only."""
    redirects = redirects or Redirects({})
    images = tuple(redirects.image(image) for image in images)
    # The key of an image built FROM another image of the config counts that one's key: the
    # images it builds from are keyed too.
    graph = _graph(images, _dockerfiles(images, only=building), redirects)
    wanted = set(building)
    for image in reversed(graph.images):
        if image.name in wanted:
            wanted.update(graph.after.get(image.name, ()))
    chosen = [image for image in graph.images if image.name in wanted]
    dockerfiles = _dockerfiles(chosen)
    names = sorted(
        {n for name, parsed in dockerfiles.items() for n in graph.external(name, parsed)}
    )
    stop = threading.Event()
    with ThreadPoolExecutor(1, "hubpub-observe") as side, _stop_on_error(stop):
        hashing = side.submit(_hash_contexts, chosen, stop)
        digests = resolve_bases(names, registry, engine, redirects) if names else {}
        keys, bases = _content_keys(chosen, dockerfiles, digests, hashing.result(), graph)
    keys = {name: key for name, key in keys.items() if name in building}
    observed = Observed(tags={}, content_keys=keys)
    return Observation(graph.images, _specs(graph), observed, bases, graph.uses)


def _dockerfiles(
    images: Sequence[DesiredImage], only: Collection[str] | None = None
) -> dict[str, Dockerfile]:
    """Image name -> its Dockerfile, read and parsed once: the bases it builds from are looked
    up before the key is computed, and the key hashes the very bytes they were read from."""
    parsed: dict[str, Dockerfile] = {}
    for image in images:
        if image.build is None or (only is not None and image.name not in only):
            continue
        spec = image.build
        try:
            data = spec.dockerfile.read_bytes()
        except OSError as exc:
            raise PlanError(
                f"image {image.name!r}: cannot read the Dockerfile {spec.dockerfile}: "
                f"{exc.strerror}"
            ) from None
        try:
            parsed[image.name] = Dockerfile.parse(data, spec.build_args, spec.target)
        except ConfigError as exc:  # said with the image and the file it is about
            raise ConfigError(
                f"image {image.name!r}: {spec.dockerfile}: {exc.message}", hint=exc.hint
            ) from None
    return parsed


def _hash_contexts(
    images: Sequence[DesiredImage], stop: threading.Event
) -> dict[str, list[tuple[str, int, str]]]:
    """Image name -> :func:`contentkey.context_entries` of its build context."""
    return {
        image.name: context_entries(image.build.context, image.build.dockerfile, stop)
        for image in images
        if image.build is not None
    }


@contextlib.contextmanager
def _stop_on_error(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` when the block raises (entered inside the pool's ``with``, so that it is
    set before the pool waits for its threads)."""
    try:
        yield
    except BaseException:
        stop.set()
        raise


def _content_keys(
    images: Sequence[DesiredImage],
    dockerfiles: Mapping[str, Dockerfile],
    digests: Mapping[str, str],
    files: Mapping[str, Sequence[tuple[str, int, str]]],
    graph: Graph,
) -> tuple[dict[str, str], dict[str, tuple[tuple[str, str], ...]]]:
    """The keys, dependencies first: a base another image of the config publishes stands in
    the key by that image's key (its promotion source, for a promoted one), so the plan knows
    the dependent must build again as soon as its dependency does (docs/config.md)."""
    keys: dict[str, str] = {}
    bases: dict[str, tuple[tuple[str, str], ...]] = {}
    owner = publishers(graph.images)
    by_name = {image.name: image for image in graph.images}
    for image in images:
        if image.build is None:
            continue
        spec = image.build
        parsed = dockerfiles[image.name]
        inside = {}
        for text, ref in graph.uses.get(image.name, ()):
            dep = by_name[owner[ref]]
            held = dep.file.digest if dep.file is not None else dep.source
            inside[text] = f"image:{keys[dep.name]}" if dep.name in keys else f"source:{held}"
        keys[image.name] = content_key(
            spec.context,
            spec.dockerfile,
            spec.build_args,
            spec.target,
            {**digests, **inside}.__getitem__,
            labels=spec.labels,
            parsed=parsed,
            files=files.get(image.name),
            platforms=spec.platforms,
        )
        bases[image.name] = tuple(
            (name, digests[name]) for name in graph.external(image.name, parsed)
        )
    return keys, bases
