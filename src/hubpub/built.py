"""The images an apply built, ready to publish (docs/registry.md#uploads-of-built-images).

The build task of an image prepares it once (publish.py: export, compress, the manifest; or,
for a large image, staged.py: the engine's push to a staging reference); the push and the
copies of that image each write it into their repository from there, blobs then the manifest
by digest, before their tag. The files are removed when the apply ends.

A multi-platform build prepares each platform's image under its own name and adds the index
that lists them (multiplatform.py, :meth:`BuiltImages.add_index`): a publish then writes every
platform's image by digest, then the index by digest (docs/registry.md#multi-platform-images).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hubpub import publish, staged
from hubpub.errors import EngineError, PlanError
from hubpub.layers import LayerCache
from hubpub.publish import Exporter, Prepared, prepare
from hubpub.reference import Reference, Repository
from hubpub.registry.models import Manifest
from hubpub.registry.publish import LocalBlob
from hubpub.staged import stage


class Registry(publish.Registry, staged.Registry, Protocol):
    """What a built image's publish needs of the registry client."""

    def put_manifest(
        self, ref: Reference, manifest: Manifest, *, scopes: tuple[str, ...] | None = None
    ) -> str: ...

    def publish_image(
        self,
        repo: Repository,
        manifest: Manifest,
        blobs: Sequence[LocalBlob],
        homes: Mapping[str, str] | None = None,
    ) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Staging:
    """The large-image path of a build (staged.py): the staging reference, the engine's push
    to a reference (returning the pushed digest), and the image's diff IDs."""

    ref: Reference
    push: Callable[[Reference], str]
    diff_ids: Sequence[str] = ()


class BuiltImages:
    """Image name -> its :class:`Prepared` image; thread-safe."""

    def __init__(self, registry: Registry, cache: LayerCache) -> None:
        self.registry = registry
        self.cache = cache
        self._lock = threading.Lock()
        self._prepared: dict[str, Prepared] = {}
        # image name -> (its index, the names its platforms' images were prepared under)
        self._indexes: dict[str, tuple[Manifest, tuple[str, ...]]] = {}

    def prepare(
        self,
        image: str,
        export: Exporter,
        targets: Sequence[Repository],
        bases: Sequence[tuple[str, str]],
        line: Callable[[str], None],
        pick: Callable[[Any], dict[str, Any]] | None = None,
    ) -> Prepared:
        line("exporting the image and compressing its layers")
        prepared = prepare(export, targets, self.registry, self.cache, bases=bases, pick=pick)
        line(
            f"layers: {prepared.compressed} compressed, {prepared.reused} reused (layer cache), "
            f"{prepared.from_base} from the base image; manifest {prepared.manifest.digest}"
        )
        with self._lock:
            self._prepared[image] = prepared
        return prepared

    def add_index(self, image: str, index: Manifest, children: Sequence[str]) -> None:
        """``image`` is published as ``index``, whose platforms' images were prepared under
        the names ``children``."""
        for child in children:
            self.get(child)
        with self._lock:
            self._indexes[image] = (index, tuple(children))

    def manifest(self, image: str) -> Manifest:
        """What a tag of ``image`` points to: its index, or its one image's manifest."""
        with self._lock:
            index = self._indexes.get(image)
        return index[0] if index is not None else self.get(image).manifest

    def ready(
        self,
        image: str,
        export: Exporter,
        staging: Staging | None,
        targets: Sequence[Repository],
        bases: Sequence[tuple[str, str]],
        line: Callable[[str], None],
    ) -> Prepared:
        """:meth:`stage` when ``staging`` is given, else :meth:`prepare`; a staging push the
        engine fails (an HTTP registry the engine does not trust, say) falls back to the
        export, which hubpub's own client uploads."""
        if staging is not None:
            try:
                return self.stage(image, staging.push, staging.ref, staging.diff_ids, line)
            except EngineError as exc:
                line(f"the engine's push failed, exporting instead: {exc}")
        return self.prepare(image, export, targets, bases, line)

    def stage(
        self,
        image: str,
        push: Callable[[Reference], str],
        ref: Reference,
        diff_ids: Sequence[str],
        line: Callable[[str], None],
    ) -> Prepared:
        """The large-image path (staged.py): the engine pushes to the staging reference
        ``ref``; every target then mounts the blobs from there."""
        line(f"pushing the image to the staging reference {ref}")
        prepared = stage(push, self.registry, ref, diff_ids)
        line(f"staged; manifest {prepared.manifest.digest}")
        with self._lock:
            self._prepared[image] = prepared
        return prepared

    def get(self, image: str) -> Prepared:
        with self._lock:
            prepared = self._prepared.get(image)
        if prepared is None:
            raise PlanError(f"nothing was built for {image!r}")
        return prepared

    def publish(self, image: str, repo: Repository) -> tuple[tuple[str, ...], Manifest]:
        """The image's blobs, then its manifest by digest, into ``repo``; returns the scopes
        for the tags' PUTs and the manifest. The layer cache then knows ``repo`` holds every
        layer. Of a multi-platform image: each platform's image, then the index by digest."""
        with self._lock:
            index = self._indexes.get(image)
        if index is not None:
            scopes: tuple[str, ...] | None = None
            for child in index[1]:
                scopes, _ = self.publish(child, repo)
            self.registry.put_manifest(repo.with_digest(index[0].digest), index[0], scopes=scopes)
            return scopes or (), index[0]
        prepared = self.get(image)
        scopes = self.registry.publish_image(
            repo, prepared.manifest, prepared.blobs, prepared.homes_in(repo.registry)
        )
        prepared.remember(self.cache, repo)
        return scopes, prepared.manifest

    def __enter__(self) -> BuiltImages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for prepared in self._prepared.values():
                prepared.close()
            self._prepared.clear()
            self._indexes.clear()


def local_name(repository: Repository) -> str:
    """The engine's name for the last build published to ``repository``:
    ``hubpub-local/<registry>/<path>:latest``, the registry's ``:`` made ``-`` (two configs that
    name an image alike but publish elsewhere keep apart)."""
    host = re.sub(r"[^a-z0-9.-]+", "-", repository.registry.lower()).strip(".-") or "registry"
    return f"hubpub-local/{host}/{repository.path}:latest"
