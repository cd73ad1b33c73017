"""``--redirect FROM=TO``: use registry TO wherever the config says FROM.

``docker.io=localhost:5000`` rewrites the registry of every desired reference, of promotion
sources and of base-image lookups (observe.py), so a release can be rehearsed locally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from hubpub.desired import DesiredImage
from hubpub.errors import HubpubError, PlanError
from hubpub.reference import Reference, Repository, api_host, parse_reference


@dataclass(frozen=True)
class Redirects:
    """``docker.io=localhost:5000``: registry host -> registry host."""

    mapping: Mapping[str, str]

    @classmethod
    def parse(cls, items: Iterable[str]) -> Redirects:
        mapping: dict[str, str] = {}
        for item in items:
            old, sep, new = item.partition("=")
            if not sep or not old.strip() or not new.strip():
                raise PlanError(
                    f"invalid --redirect {item!r}",
                    hint="write FROM=TO, e.g. docker.io=localhost:5000",
                )
            mapping[_registry_host(old.strip(), item)] = _registry_host(new.strip(), item)
        return cls(mapping)

    def __bool__(self) -> bool:
        return bool(self.mapping)

    def repository(self, repo: Repository) -> Repository:
        target = self.mapping.get(repo.registry)
        return repo if target is None else Repository(target, repo.path)

    def reference(self, ref: Reference) -> Reference:
        return replace(ref, repository=self.repository(ref.repository))

    def image(self, image: DesiredImage) -> DesiredImage:
        if not self.mapping:
            return image
        tags = tuple(replace(tag, ref=self.reference(tag.ref)) for tag in image.tags)
        return replace(
            image,
            repositories=tuple(self.repository(r) for r in image.repositories),
            tags=tags,
            source=self.reference(image.source) if image.source is not None else None,
        )

    def as_list(self) -> list[str]:
        return [f"{old}={new}" for old, new in sorted(self.mapping.items())]


def _registry_host(text: str, item: str) -> str:
    """``text`` as a normalized registry host (index.docker.io is docker.io), or a PlanError."""
    try:
        ref = parse_reference(f"{text}/x/y")
    except HubpubError:
        ref = None
    # distribution/reference reads a first component without "." or ":" (and not localhost)
    # as a Docker Hub namespace: "foo" would silently mean docker.io.
    if ref is None or (ref.registry != text and api_host(text) != api_host(ref.registry)):
        raise PlanError(
            f"invalid --redirect {item!r}: {text!r} is not a registry host",
            hint="write FROM=TO with hosts, e.g. docker.io=localhost:5000",
        )
    return ref.registry
