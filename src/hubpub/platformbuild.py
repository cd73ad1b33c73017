"""The builds of an image's platforms (docs/config.md, "Platforms"): each platform's image
built separately, its platform checked, and prepared for publishing.

executor.py hands over an image whose config lists ``platforms``. Each platform's build goes to
the engine the executor's ``engine_for`` gives for it (the builder that lists the platform, else
the default engine: docs/config.md#builder-engines; a builder runs at most its ``max_builds``
at once), with BuildKit's ``platform=``; the built config's ``os``/``architecture``/``variant``
must be the one asked (multiplatform.check_platform), else nothing is published. The builds of
one image run concurrently, at most :data:`WORKERS` at once: BuildKit runs them side by side,
and an emulated (QEMU) build is CPU-bound. Measured on the development machine (2 cores, dockerd
20.10), an amd64 and an emulated arm64 build of the same COPY + RUN sha256sum context: 4.9-5.0 s
one after the other, 3.0-4.0 s together; more than two at once would only share the cores.

One platform listed: one image, prepared as any build. Two or more: each platform's image is
prepared under its own name (``"<image> <platform>"``) and the index that lists them is added
to built.py, which publishes the images by digest, then the index, before any tag.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from hubpub.archive import Readable
from hubpub.built import BuiltImages
from hubpub.multiplatform import check_platform, compose_index, index_annotations
from hubpub.multiplatform import platform_labels as labels_for
from hubpub.reference import Repository

if TYPE_CHECKING:
    from hubpub.engine import BuildRequest

WORKERS = 2


class PlatformEngine(Protocol):
    def build(self, request: BuildRequest, on_line: Callable[[str], None] | None = None) -> str: ...

    def platform_of(self, image_id: str) -> dict[str, str]: ...

    def export(self, image_id: str) -> contextlib.AbstractContextManager[Readable]: ...


E = TypeVar("E", bound=PlatformEngine)


@dataclass(frozen=True)
class Built(Generic[E]):
    """One platform's image: its engine's ID, and the engine that has it."""

    platform: str
    image_id: str
    engine: E


@dataclass(frozen=True)
class PlatformBuilds:
    image: str
    request: BuildRequest
    platforms: tuple[str, ...]
    bases: tuple[tuple[str, str], ...]  # (FROM as written, registry digest), for built.py
    targets: tuple[Repository, ...]
    line: Callable[[str], None]

    def child(self, platform: str) -> str:
        """The name a platform's image is prepared under in built.py."""
        return f"{self.image} {platform}" if len(self.platforms) > 1 else self.image

    def run(
        self,
        engine_for: Callable[[str], E],
        ready: Callable[[E], None],
        built: BuiltImages | None,
    ) -> list[Built[E]]:
        """Build every platform (``ready``: what an engine must do first, pulling the bases);
        with ``built`` (not ``hubpub build``), prepare each and the index."""
        with ThreadPoolExecutor(min(WORKERS, len(self.platforms)), "hubpub-platform") as pool:
            return list(pool.map(lambda p: self._one(p, engine_for, ready, built), self.platforms))

    def _one(
        self,
        platform: str,
        engine_for: Callable[[str], E],
        ready: Callable[[E], None],
        built: BuiltImages | None,
    ) -> Built[E]:
        many = len(self.platforms) > 1
        engine = engine_for(platform)
        ready(engine)
        line = (lambda text: self.line(f"[{platform}] {text}")) if many else self.line
        labels = labels_for(self.request.labels, platform) if many else self.request.labels
        request = replace(self.request, platform=platform, labels=labels)
        image_id = engine.build(request, on_line=line)
        check_platform(self.image, platform, engine.platform_of(image_id))
        # hubpub build's report gives one image ID per image: each platform's is said here.
        line(f"built {image_id} for {platform}")
        if built is not None:
            built.prepare(
                self.child(platform),
                lambda: engine.export(image_id),
                self.targets,
                self.bases,
                line,
            )
        return Built(platform, image_id, engine)

    def compose(self, built: BuiltImages) -> None:
        """The index of the prepared platforms' images (two or more platforms)."""
        if len(self.platforms) < 2:
            return
        names = [self.child(platform) for platform in self.platforms]
        index = compose_index(
            [(p, built.get(n).manifest) for p, n in zip(self.platforms, names, strict=True)],
            index_annotations(self.request.labels),
        )
        self.line(f"index {index.digest} of {', '.join(self.platforms)}")
        built.add_index(self.image, index, names)
