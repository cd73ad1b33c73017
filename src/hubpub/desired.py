"""Config + git state → the desired references of each image (the first step of
config → desired → observed → plan → apply).

Pure: the git state and the environment are passed in; nothing here talks to git or a registry
or reads a file (commands/_desired.py reads the git state and locates errors in the config).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hubpub.config.model import Config, Image
from hubpub.errors import ConfigError, ReferenceError_, TemplateError
from hubpub.filesource import FileSource, parse_file_source
from hubpub.gitstate import GitState
from hubpub.reference import Reference, Repository, parse_reference, parse_repository
from hubpub.templating import (
    VALUE_NAMES,
    LocatedTemplateError,
    base_context,
    image_tags,
    listed_env,
    render,
)
from hubpub.templating.limits import shorten

__all__ = [
    "BuildSpec",
    "DesiredImage",
    "DesiredTag",
    "desired_images",
    "select_images",
]


@dataclass(frozen=True)
class DesiredTag:
    ref: Reference  # repository + tag
    rule: str  # "tags[1] (preset semver)", for messages
    immutable: bool  # full version tag of semver/pep440, or rule immutable = true
    monotonic: bool = False  # moves only forward in commit history (templating TagValue)


@dataclass(frozen=True)
class BuildSpec:
    context: Path  # absolute
    dockerfile: Path  # absolute
    target: str | None
    build_args: Mapping[str, str] = field(default_factory=dict)  # rendered
    labels: Mapping[str, str] = field(default_factory=dict)  # the user's labels, rendered
    builder: Literal["auto", "buildkit", "classic"] = "auto"
    network: Literal["default", "none", "host"] = "default"
    cache_from: tuple[str, ...] = ()  # rendered; empty results dropped
    inline_cache: bool = False
    # normalized (platforms.py); empty: the engine's platform, one image as before
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class DesiredImage:
    name: str
    repositories: tuple[Repository, ...]
    tags: tuple[DesiredTag, ...]  # every repository × every tag value, stable order
    build: BuildSpec | None  # exactly one of build / source / file
    source: Reference | None  # rendered promotion source
    version: str | None  # metadata-action's "version" (first tag by priority)
    file: FileSource | None = None  # a source on disk: oci:DIR, docker-archive:FILE

    @property
    def refs(self) -> tuple[Reference, ...]:
        return tuple(tag.ref for tag in self.tags)


def select_images(config: Config, only: Sequence[str] = ()) -> tuple[Image, ...]:
    """The images named by ``--only`` (all when empty), in the file's order."""
    if not only:
        return config.images
    names = [image.name for image in config.images]
    for name in only:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"images: {', '.join(names)}"
            raise ConfigError(
                f"--only {name!r}: no image of that name in {config.path.name}", hint=hint
            )
    return tuple(image for image in config.images if image.name in only)


def desired_images(
    config: Config, git: GitState, environ: Mapping[str, str], only: Sequence[str] = ()
) -> list[DesiredImage]:
    """Every selected image with its references, build or source, rendered for ``git``."""
    env = listed_env(config.env, environ)
    out: list[DesiredImage] = []
    owners: dict[Reference, tuple[str, str]] = {}  # ref -> (image, rule) that publishes it
    for image in select_images(config, only):
        index = config.images.index(image)
        try:
            desired = _desired(config, image, git, env)
        except LocatedTemplateError as exc:
            raise LocatedTemplateError(str(exc), ("image", index, *exc.path)) from None
        for tag in desired.tags:
            owner = owners.setdefault(tag.ref, (image.name, tag.rule))
            if owner[0] != image.name:
                # Two images would race for one tag: whichever apply pushed last would win.
                raise LocatedTemplateError(
                    f"image '{image.name}', {tag.rule}: {tag.ref} is also published by image "
                    f"'{owner[0]}', {owner[1]}",
                    ("image", index, "repositories"),
                    hint="a reference belongs to one image: give them different repositories, "
                    "or a suffix to one's tags",
                )
        out.append(desired)
    return out


def _desired(config: Config, image: Image, git: GitState, env: Mapping[str, str]) -> DesiredImage:
    repositories: list[Repository] = []
    for text in image.repositories:
        try:
            repository = parse_repository(text)
        except ReferenceError_ as exc:
            raise ReferenceError_(f"image '{image.name}', repositories: {exc}") from None
        if repository not in repositories:
            repositories.append(repository)

    values = image_tags(image, git, env)
    tags = tuple(
        DesiredTag(repository.with_tag(value.tag), value.rule, value.immutable, value.monotonic)
        for repository in repositories
        for value in values.tags
    )

    context = {k: v for k, v in base_context(git, env).items() if k in VALUE_NAMES}
    where = f"image '{image.name}'"
    build: BuildSpec | None = None
    source: Reference | None = None
    file: FileSource | None = None
    if image.context is not None:
        folder = (config.root / image.context).resolve()
        build = BuildSpec(
            context=folder,
            dockerfile=(folder / image.dockerfile).resolve(),
            target=image.target,
            build_args={
                name: _render(value, context, where, ("build_args", name))
                for name, value in image.build_args.items()
            },
            labels={
                name: _render(value, context, where, ("labels", name))
                for name, value in image.labels.items()
            },
            builder=image.builder,
            network=image.network,
            cache_from=_cache_from(image, context, where),
            inline_cache=image.inline_cache,
            platforms=image.platforms or (),
        )
    elif image.source is not None:
        text = _render(image.source, context, where, ("source",))
        if not text:
            raise LocatedTemplateError(f"{where}, source: the template renders empty", ("source",))
        try:
            file = parse_file_source(text, config.root)
        except ValueError as exc:
            raise LocatedTemplateError(f"{where}, source: {exc}", ("source",)) from None
        source = None if file is not None else _source(text, where)
    return DesiredImage(
        name=image.name,
        repositories=tuple(repositories),
        tags=tags,
        build=build,
        source=source,
        version=values.version,
        file=file,
    )


def _source(text: str, where: str) -> Reference:
    try:
        source = parse_reference(text)
    except ReferenceError_ as exc:
        raise LocatedTemplateError(f"{where}, source: {exc}", ("source",)) from None
    if source.tag is None and source.digest is None:
        raise LocatedTemplateError(
            f"{where}, source: {shorten(text)!r} names no tag or digest",
            ("source",),
            hint="write the tag to promote, e.g. ':sha-{{ git.short_sha }}'",
        )
    return source


def _cache_from(image: Image, context: Mapping[str, object], where: str) -> tuple[str, ...]:
    """The rendered ``cache_from`` references; one that renders empty is left out (a template
    such as ``{{ git.branch }}`` on a tag build), one that is no reference is an error."""
    refs: list[str] = []
    for index, text in enumerate(image.cache_from):
        path: tuple[str | int, ...] = ("cache_from", index)
        value = _render(text, context, where, path)
        if not value:
            continue
        try:
            parse_reference(value)
        except ReferenceError_ as exc:
            raise LocatedTemplateError(f"{where}, cache_from[{index}]: {exc}", path) from None
        if value not in refs:
            refs.append(value)
    return tuple(refs)


def _render(
    text: str, context: Mapping[str, object], where: str, path: tuple[str | int, ...]
) -> str:
    shown = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    try:
        return render(text, context, f"{where}, {shown[1:]}")
    except TemplateError as exc:
        raise LocatedTemplateError(str(exc), path) from None
