"""observe without a registry: the content keys it computes, and for which images."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from hubpub.contentkey import LABEL
from hubpub.desired import BuildSpec, DesiredImage, DesiredTag
from hubpub.errors import PlanError
from hubpub.filesource import FileSource
from hubpub.observe import observe, observe_builds
from hubpub.reference import Reference, Repository, parse_repository
from hubpub.registry.models import DOCKER_MANIFEST, OCI_INDEX, Manifest, ManifestInfo

T = TypeVar("T")
R = TypeVar("R")


class _EmptyRegistry:
    """A registry that holds nothing: every HEAD misses, every repository is empty."""

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        return dict.fromkeys(refs)

    def head_manifest(self, ref: Reference) -> ManifestInfo | None:
        return None

    def get_manifest(self, ref: Reference) -> Manifest:
        raise AssertionError("no manifest to read")

    def get_blob(self, repo: Repository, digest: str) -> bytes:
        raise AssertionError("no blob to read")

    def list_tags(self, repo: Repository, *, missing_ok: bool = False) -> list[str]:
        return []

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [fn(item) for item in items]


def test_observe_keys_the_users_labels(tmp_path: Path) -> None:
    # A label changed in the config changes the image: the plan must build it again.
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY x /x\n")
    (tmp_path / "x").write_text("x")
    repo = parse_repository("localhost:5000/o/app")

    def image(labels: dict[str, str]) -> DesiredImage:
        spec = BuildSpec(tmp_path, tmp_path / "Dockerfile", None, {}, labels)
        tag = DesiredTag(repo.with_tag("main"), "tags[0]", False)
        return DesiredImage("app", (repo,), (tag,), spec, None, None)

    def key(labels: dict[str, str]) -> str:
        return observe([image(labels)], _EmptyRegistry()).observed.content_keys["app"]

    assert key({"org.example.a": "1"}) != key({"org.example.a": "2"})
    assert key({}) != key({"org.example.a": "1"})


def test_observe_builds_keys_only_the_images_named(tmp_path: Path) -> None:
    # apply of a saved plan keys again only the images the plan builds: the others' Dockerfiles
    # are not read, their bases not looked up, their contexts not hashed (here neither exists).
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY x /x\n")
    (tmp_path / "x").write_text("x")
    repo = parse_repository("localhost:5000/o/app")
    gone = tmp_path / "gone"

    def image(name: str, context: Path) -> DesiredImage:
        spec = BuildSpec(context, context / "Dockerfile", None, {}, {})
        tag = DesiredTag(repo.with_tag(name), "tags[0]", False)
        return DesiredImage(name, (repo,), (tag,), spec, None, None)

    images = [image("app", tmp_path), image("tagged", gone)]
    done = observe_builds(images, _EmptyRegistry(), building={"app"})
    full = observe(images[:1], _EmptyRegistry()).observed.content_keys
    assert done.observed.content_keys == full  # the key observe computes, nothing else
    assert done.bases == {"app": ()}
    assert [i.name for i in done.images] == ["app", "tagged"]  # every image, for the builds
    assert observe_builds(images, _EmptyRegistry(), building=()).observed.content_keys == {}
    with pytest.raises(PlanError, match="cannot read the Dockerfile"):
        observe_builds(images, _EmptyRegistry(), building={"tagged"})


class _IndexRegistry(_EmptyRegistry):
    """Every tag points to one OCI index; its children and their configs are never read."""

    def __init__(self, index: Manifest) -> None:
        self.index = index
        self.reads: list[str] = []

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        return dict.fromkeys(refs, self.index.info)

    def get_manifest(self, ref: Reference) -> Manifest:
        self.reads.append(str(ref.digest))
        assert ref.digest == self.index.digest, "only the index is read"
        return self.index


def test_an_index_is_current_by_its_annotations_alone(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY x /x\n")
    (tmp_path / "x").write_text("x")
    repo = parse_repository("localhost:5000/o/app")
    spec = BuildSpec(
        tmp_path, tmp_path / "Dockerfile", None, platforms=("linux/amd64", "linux/arm64")
    )
    tag = DesiredTag(repo.with_tag("main"), "tags[0]", False)
    image = DesiredImage("app", (repo,), (tag,), spec, None, None)
    key = observe([image], _EmptyRegistry()).observed.content_keys["app"]
    children = [
        {"mediaType": DOCKER_MANIFEST, "size": 1, "digest": "sha256:" + c * 64, "platform": p}
        for c, p in (
            ("a", {"os": "linux", "architecture": "amd64"}),
            ("b", {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        )
    ]
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children,
        "annotations": {LABEL: key, "org.opencontainers.image.revision": "r" * 40},
    }
    index = Manifest.from_bytes(json.dumps(doc).encode(), OCI_INDEX)
    registry = _IndexRegistry(index)

    found = observe([image], registry)

    observed = found.observed
    assert observed.labels == {index.digest: key}
    assert observed.indexes == frozenset({index.digest})
    assert observed.index_platforms == {index.digest: ("linux/amd64", "linux/arm64")}
    assert registry.reads == [index.digest]
    assert found.specs[0].platforms == ("linux/amd64", "linux/arm64")


def test_a_build_from_an_image_published_from_a_file_is_keyed_by_the_files_digest(
    tmp_path: Path,
) -> None:
    # The base is an OCI layout on disk; the app builds FROM its tag: a new layout must
    # rebuild the app, though its own context did not change.
    base_repo = parse_repository("localhost:5000/o/base")
    (tmp_path / "Dockerfile").write_text(f"FROM {base_repo}:1\nCOPY x /x\n")
    (tmp_path / "x").write_text("x")
    repo = parse_repository("localhost:5000/o/app")

    def images(digest: str) -> list[DesiredImage]:
        file = FileSource("oci", tmp_path / "layout", None, "oci:layout", digest)
        base_tag = DesiredTag(base_repo.with_tag("1"), "tags[0]", False)
        base = DesiredImage("base", (base_repo,), (base_tag,), None, None, None, file)
        spec = BuildSpec(tmp_path, tmp_path / "Dockerfile", None, {}, {})
        app = DesiredImage(
            "app", (repo,), (DesiredTag(repo.with_tag("1"), "t", False),), spec, None, None
        )
        return [app, base]

    def key(digest: str) -> str:
        observation = observe(images(digest), _EmptyRegistry())
        assert [image.name for image in observation.images] == ["base", "app"]
        return observation.observed.content_keys["app"]

    def saved_key(digest: str) -> str:
        return observe_builds(
            images(digest), _EmptyRegistry(), building={"app"}
        ).observed.content_keys["app"]

    one, two = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    assert key(one) == key(one) == saved_key(one)
    assert key(one) != key(two)
