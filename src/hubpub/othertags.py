"""Observe's search of other tags: where an image with the current content key may sit when no
desired tag points to it (docs/architecture.md#data-flow, step 6 of ``observe``).

A version tag on a commit whose context did not change since the branch build, or the staging
tag of an apply that was killed before its tags
(docs/registry.md#large-images-the-staging-reference), holds the image already: listing the
repositories' tags and reading a few labels costs less than building the same bytes again.

hubpub's own staging tags (``hubpub-`` then hex digits or ``staging-``: docs/registry.md) are
not searched by position: the one named after the current key is looked at whatever the length
of the list, and the others, which hold other content, never take a place of the lexical
window that the user's tags need.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import Protocol, TypeVar

from hubpub.desired import DesiredImage
from hubpub.errors import RegistryError
from hubpub.labelcache import LabelCache
from hubpub.provenance import read_keys
from hubpub.reference import Reference, Repository
from hubpub.registry.models import Manifest, ManifestInfo
from hubpub.staged import staging_ref
from hubpub.stagingtags import is_own

log = logging.getLogger("hubpub.observe")

T = TypeVar("T")
R = TypeVar("R")

# The prefix of every tag hubpub writes for itself (staged.py, cimatrix.py).


class Registry(Protocol):
    """The part of registry.client.RegistryClient the search uses."""

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]: ...

    def get_manifest(self, ref: Reference) -> Manifest: ...

    def get_blob(self, repo: Repository, digest: str) -> bytes: ...

    def list_tags(self, repo: Repository, *, missing_ok: bool = False) -> list[str]: ...

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...


# How many other tags of a repository observe HEADs when searching for an image that holds the
# content key: the last ones of the list (tags come back in lexical order, so later versions
# and dates); a bound keeps a repository with thousands of tags from costing thousands of
# requests on a plan that may build anyway.
MAX_OTHER_TAGS = 200
# ... and how many of their images it reads the label of (a manifest GET counts as a pull
# against Docker Hub's rate limit; a HEAD does not): the cache makes later plans free.
MAX_OTHER_LABELS = 32


def search_other_tags(
    images: Sequence[DesiredImage],
    tags: Mapping[Reference, str | None],
    keys: Mapping[str, str],
    labels: dict[str, str | None],
    listing: Future[dict[Repository, list[str]]] | None,
    registry: Registry,
    cache: LabelCache,
) -> dict[str, tuple[tuple[Reference, str], ...]]:
    """An image whose key no desired tag holds may still be in its repositories under another
    tag (a release tag on a commit whose context did not change since the branch build): list
    their tags and look, rather than build the same bytes again."""
    searching = [
        image
        for image in images
        if image.build is not None
        and image.name in keys
        and not any(labels.get(tags.get(t.ref) or "") == keys[image.name] for t in image.tags)
    ]
    if not searching:
        return {}
    listed = listing.result() if listing is not None else {}
    wanted = {image.name: keys[image.name] for image in searching}
    return _other_tags(searching, set(tags), registry, cache, labels, listed, wanted)


def _tags_of(registry: Registry, repo: Repository) -> list[str]:
    # A search for a shortcut: a registry that will not list tags only costs the build.
    try:
        return registry.list_tags(repo, missing_ok=True)
    except RegistryError as exc:
        log.debug("cannot list the tags of %s: %s", repo, exc)
        return []


def list_all(registry: Registry, repos: Sequence[Repository]) -> dict[Repository, list[str]]:
    """The tags of each repository, listed concurrently on the registry client's pool."""
    listed = registry.map(lambda repo: _tags_of(registry, repo), repos)
    return dict(zip(repos, listed, strict=True))


def _other_tags(
    images: Sequence[DesiredImage],
    desired: set[Reference],
    registry: Registry,
    cache: LabelCache,
    labels: dict[str, str | None],
    listed: Mapping[Repository, list[str]] | None = None,
    keys: Mapping[str, str] | None = None,
) -> dict[str, tuple[tuple[Reference, str], ...]]:
    """``listed``: the tags of repositories already listed (observe starts those early);
    ``keys``: image name -> the content key searched for (its staging tag is looked at)."""
    listed = listed or {}
    repos = list(dict.fromkeys(repo for image in images for repo in image.repositories))
    todo = [repo for repo in repos if repo not in listed]
    names_of = {**listed, **list_all(registry, todo)}
    if not any(names_of[repo] for repo in repos):
        # Fresh repositories (404 or no tags): nothing to search, no request more.
        return {image.name: () for image in images}
    staging = {
        staging_ref(repo, key)
        for image in images
        if (key := (keys or {}).get(image.name))
        for repo in image.repositories
    }
    candidates: dict[Repository, list[Reference]] = {}
    for repo in repos:
        names = names_of[repo]
        refs = [
            repo.with_tag(name)
            for name in names
            if repo.with_tag(name) not in desired and not is_own(name)
        ]
        own = [repo.with_tag(name) for name in names if repo.with_tag(name) in staging]
        candidates[repo] = [*refs[-MAX_OTHER_TAGS:], *own]  # own last: looked at first
    try:
        found = registry.resolve(ref for refs in candidates.values() for ref in refs)
    except RegistryError as exc:
        log.debug("cannot look at the other tags: %s", exc)
        return {}
    # Newest-looking first (the end of the lexical list: later versions, later dates).
    where: dict[str, Repository] = {}
    for ref, info in reversed(list(found.items())):
        if info is not None and info.digest not in labels:
            where.setdefault(info.digest, ref.repository)
    labels.update(read_keys(where, registry, cache, fetch_limit=MAX_OTHER_LABELS))
    others: dict[str, tuple[tuple[Reference, str], ...]] = {}
    for image in images:
        pairs = []
        for repo in image.repositories:
            for ref in candidates.get(repo, []):
                info = found.get(ref)
                if info is not None:
                    pairs.append((ref, info.digest))
        others[image.name] = tuple(pairs)
    return others
