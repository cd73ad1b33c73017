"""Which images of a config depend on which, and in what order they are planned."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubpub.depgraph import Graph
from hubpub.desired import BuildSpec, DesiredImage, DesiredTag
from hubpub.errors import ConfigError
from hubpub.reference import parse_reference, parse_repository

REG = "reg.example:5000/team"


def image(
    name: str, *, source: str | None = None, tags: tuple[str, ...] = ("main",)
) -> DesiredImage:
    repo = parse_repository(f"{REG}/{name}")
    build = None if source else BuildSpec(Path("/x"), Path("/x/Dockerfile"), None)
    desired = tuple(DesiredTag(repo.with_tag(tag), "tags[0]", False) for tag in tags)
    src = parse_reference(source) if source else None
    return DesiredImage(name, (repo,), desired, build, src, None)


@pytest.mark.parametrize(
    ("images", "bases", "order", "after"),
    [
        (  # a FROM another image's tag: it comes first, whatever the file's order
            [image("app"), image("base")],
            {"app": [f"{REG}/base:main", "busybox:1"]},
            ["base", "app"],
            {"app": ("base",), "base": ()},
        ),
        (  # a tag the other image does not publish here: no dependency
            [image("app"), image("base")],
            {"app": [f"{REG}/base:1.0"]},
            ["app", "base"],
            {"app": (), "base": ()},
        ),
        (  # a promotion of another image's reference, and a chain
            [image("release", source=f"{REG}/app:main"), image("app"), image("base")],
            {"app": [f"{REG}/base:main"]},
            ["base", "app", "release"],
            {"release": ("app",), "app": ("base",), "base": ()},
        ),
        (  # Docker Hub's short names are the same reference
            [image("app"), image("lib")],
            {"app": ["docker.io/library/ubuntu:main"]},
            ["app", "lib"],
            {"app": (), "lib": ()},
        ),
    ],
)
def test_dependencies_and_order(
    images: list[DesiredImage],
    bases: dict[str, list[str]],
    order: list[str],
    after: dict[str, tuple[str, ...]],
) -> None:
    graph = Graph.of(images, bases)
    assert [i.name for i in graph.images] == order
    assert graph.after == after


def test_a_cycle_is_a_config_error_naming_it() -> None:
    images = [image("a"), image("b"), image("c")]
    bases = {"a": [f"{REG}/b:main"], "b": [f"{REG}/c:main"], "c": [f"{REG}/a:main"]}
    with pytest.raises(ConfigError, match="in a cycle: a → b → c → a"):
        Graph.of(images, bases)
