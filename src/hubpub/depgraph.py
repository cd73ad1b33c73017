"""Images that depend on images of the same config: which, and in what order (docs/config.md,
"Images that depend on images").

An image depends on another when its promotion ``source``, or a ``FROM`` of its Dockerfile
(after build-arg substitution: contentkey.base_images), names a reference the other publishes
(any of its repositories and tags). Dependencies are planned and applied first; a cycle is a
config error naming it. Pure: the Dockerfiles' bases are read by observe and passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hubpub.contentkey import Dockerfile
from hubpub.desired import DesiredImage
from hubpub.errors import ConfigError, HubpubError
from hubpub.reference import Reference, parse_reference


def _same(ref: Reference) -> Reference:
    return ref


def dependencies(
    images: Sequence[DesiredImage],
    bases: Mapping[str, Sequence[str]],
    normalize: Callable[[Reference], Reference] = _same,
) -> dict[str, tuple[tuple[str, Reference], ...]]:
    """image name -> ((base name or source as written, the reference another image of
    ``images`` publishes), ...); ``normalize`` maps a reference as the images' are (a
    redirect)."""
    publisher = {ref: image.name for image in images for ref in image.refs}
    out: dict[str, tuple[tuple[str, Reference], ...]] = {}
    for image in images:
        named: list[tuple[str, Reference]] = []
        if image.source is not None:
            named.append((str(image.source), image.source))
        for base in bases.get(image.name, ()):
            try:
                named.append((base, normalize(parse_reference(base))))
            except HubpubError:
                continue  # not a reference: the base lookup reports it
        found = tuple(
            (text, ref) for text, ref in named if publisher.get(ref) not in (None, image.name)
        )
        out[image.name] = found
    return out


def publishers(images: Sequence[DesiredImage]) -> dict[Reference, str]:
    return {ref: image.name for image in images for ref in image.refs}


def after(
    images: Sequence[DesiredImage], uses: Mapping[str, Sequence[tuple[str, Reference]]]
) -> dict[str, tuple[str, ...]]:
    """image name -> the names of the images it depends on, in the config's order."""
    owner = publishers(images)
    names = [image.name for image in images]
    return {
        name: tuple(sorted({owner[ref] for _text, ref in uses.get(name, ())}, key=names.index))
        for name in names
    }


def in_order(
    images: Sequence[DesiredImage], deps: Mapping[str, Sequence[str]]
) -> list[DesiredImage]:
    """``images`` with every dependency before its dependents, otherwise in the config's order;
    :class:`ConfigError` naming a cycle."""
    by_name = {image.name: image for image in images}
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name) :], name]
            raise ConfigError(
                f"images depend on each other in a cycle: {' → '.join(cycle)}",
                hint="an image can build FROM or promote another image of the config, "
                "not one that depends on it",
            )
        visiting.append(name)
        for dep in deps.get(name, ()):
            if dep in by_name:
                visit(dep)
        visiting.pop()
        done.append(name)

    for image in images:
        visit(image.name)
    return [by_name[name] for name in done]


@dataclass(frozen=True)
class Graph:
    """The images in dependency order, and what each uses of the others."""

    images: tuple[DesiredImage, ...]
    uses: dict[str, tuple[tuple[str, Reference], ...]]
    after: dict[str, tuple[str, ...]]

    @classmethod
    def of(
        cls,
        images: Sequence[DesiredImage],
        bases: Mapping[str, Sequence[str]],
        normalize: Callable[[Reference], Reference] = _same,
    ) -> Graph:
        uses = dependencies(images, bases, normalize)
        deps = after(images, uses)
        return cls(tuple(in_order(images, deps)), uses, deps)

    def external(self, name: str, parsed: Dockerfile) -> list[str]:
        """The bases of ``name``'s Dockerfile that no image of the config publishes."""
        inside = {text for text, _ref in self.uses.get(name, ())}
        return [base for base in parsed.bases if base not in inside]
