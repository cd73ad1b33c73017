"""Base images: the digest each ``FROM`` of a Dockerfile names, for the content key.

A digest written in the Dockerfile, else the registry's (one HEAD each, concurrently), else
the local engine's image ID (marked with :data:`ENGINE_PREFIX`). observe.py asks for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from hubpub.errors import HubpubError, PlanError, RegistryError
from hubpub.redirects import Redirects
from hubpub.reference import Reference, parse_reference
from hubpub.registry.models import ManifestInfo

log = logging.getLogger("hubpub.observe")

T = TypeVar("T")
R = TypeVar("R")

# The content key of a base image that only the local engine has is its image ID, marked so
# that it never equals a registry digest.
ENGINE_PREFIX = "engine:"


class Registry(Protocol):
    """The part of registry.client.RegistryClient that the base lookups use."""

    def head_manifest(self, ref: Reference) -> ManifestInfo | None: ...

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...


class LocalImages(Protocol):
    """The part of engine.Engine that observe uses (only when a base is not in a registry)."""

    def image_id(self, name: str) -> str | None: ...


def resolve_bases(
    names: Sequence[str],
    registry: Registry,
    engine: Callable[[], LocalImages | None],
    redirects: Redirects,
) -> dict[str, str]:
    """Base image name -> digest: a digest written in the Dockerfile, else the registry's
    (one HEAD each), else the local engine's image ID.

    The engine fallback exists because a base image may exist only in the engine (an image
    built or imported locally, like the tests' busybox: nothing can be pulled there): the build
    uses it all the same (docker build does not pull by default), so its image ID stands for
    its content in the key rather than failing the plan.

    ``engine`` is called only when a base is in no registry: it returns None when there is no
    engine to ask, and raises :class:`HubpubError` when one cannot be reached, which the error
    then names next to the registry's answer.
    """
    result: dict[str, str] = {}
    lookups: dict[str, Reference] = {}
    for name in names:
        try:
            ref = parse_reference(name)
        except HubpubError:
            ref = None
        if ref is not None and ref.digest is not None:
            result[name] = ref.digest
        elif ref is not None:
            lookups[name] = redirects.reference(ref)
    refs = list(dict.fromkeys(lookups.values()))

    def head(ref: Reference) -> tuple[ManifestInfo | None, str | None]:
        # One unreachable registry must not hide the others: each lookup fails on its own.
        try:
            return registry.head_manifest(ref), None
        except RegistryError as exc:
            return None, str(exc)

    answers = dict(zip(refs, registry.map(head, refs), strict=True))
    found = {ref: info for ref, (info, _err) in answers.items()}
    failures = {ref: err for ref, (_info, err) in answers.items() if err is not None}
    local: LocalImages | None = None
    for name in names:
        if name in result:
            continue
        lookup = lookups.get(name)
        info = found.get(lookup) if lookup is not None else None
        if info is not None:
            result[name] = info.digest
            continue
        why = failures.get(lookup) if lookup is not None else None
        where = str(lookup) if lookup is not None else name
        elsewhere = "push it to a registry, or pin it by digest"
        try:
            local = local or engine()
            image_id = local.image_id(name) if local is not None else None
        except HubpubError as exc:
            # An engine that cannot be asked is not an engine without the image: "nor in the
            # local engine" sent users looking for an image when dockerd was down.
            log.debug("base image %s: the engine could not be asked: %s", name, exc)
            raise PlanError(
                f"base image {name}: not found at {where}"
                + (f" ({why})" if why else "")
                + f", and the local engine could not be asked: {exc.message}",
                hint=f"{exc.hint}; or {elsewhere}" if exc.hint else elsewhere,
            ) from None
        if image_id is not None:
            log.debug("base image %s: not in a registry, using the engine's %s", name, image_id)
            result[name] = ENGINE_PREFIX + image_id
            continue
        raise PlanError(
            f"base image {name}: not found at {where} nor in the local engine"
            + (f" ({why})" if why else ""),
            hint="push or pull it first, or pin it by digest",
        )
    return result
