"""multiplatform.py: the index of a multi-platform build and the checks of its images (pure)."""

from __future__ import annotations

import json

import pytest

from hubpub.contentkey import LABEL
from hubpub.errors import BuildError
from hubpub.multiplatform import (
    check_platform,
    compose_index,
    index_annotations,
    platform_labels,
)
from hubpub.platforms import platform_key
from hubpub.registry.models import DOCKER_MANIFEST, OCI_INDEX, Manifest

KEY = "sha256:" + "1" * 64


def child(arch: str) -> Manifest:
    doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "arch": arch}
    return Manifest.from_bytes(json.dumps(doc).encode(), DOCKER_MANIFEST)


def test_the_index_lists_each_platform_by_digest_with_the_annotations() -> None:
    amd, arm = child("amd64"), child("arm64")
    annotations = {LABEL: KEY, "org.opencontainers.image.revision": "abc"}
    index = compose_index([("linux/amd64", amd), ("linux/arm/v7", arm)], annotations)
    assert index.media_type == OCI_INDEX
    assert index.is_index
    doc = index.json()
    assert doc["mediaType"] == OCI_INDEX
    assert doc["annotations"] == annotations
    assert [(d.digest, d.size, d.media_type) for d in index.children] == [
        (amd.digest, amd.size, DOCKER_MANIFEST),
        (arm.digest, arm.size, DOCKER_MANIFEST),
    ]
    assert [d.platform for d in index.children] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
    ]
    # Deterministic: the same children and annotations are the same digest.
    assert compose_index([("linux/amd64", amd), ("linux/arm/v7", arm)], annotations) == index


@pytest.mark.parametrize(
    ("asked", "config", "built"),
    [
        ("linux/arm64", {"os": "linux", "architecture": "amd64"}, "linux/amd64"),
        ("linux/arm/v7", {"os": "linux", "architecture": "arm", "variant": "v6"}, "linux/arm/v6"),
        ("linux/amd64", {"architecture": "amd64"}, "?/amd64"),
    ],
)
def test_an_image_of_another_platform_is_a_build_error_naming_both(
    asked: str, config: dict[str, str], built: str
) -> None:
    with pytest.raises(BuildError) as caught:
        check_platform("app", asked, config)
    assert caught.value.message == (
        f"image 'app': the build for {asked} made an image for {built}; nothing of it is published"
    )


@pytest.mark.parametrize(
    ("asked", "config"),
    [
        ("linux/arm64", {"os": "linux", "architecture": "arm64"}),
        ("linux/arm64", {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        ("linux/amd64", {"os": "linux", "architecture": "amd64"}),
    ],
)
def test_an_image_of_the_platform_asked_passes(asked: str, config: dict[str, str]) -> None:
    check_platform("app", asked, config)


def test_each_platform_carries_its_own_key_and_the_index_the_images() -> None:
    labels = {
        LABEL: KEY,
        "org.opencontainers.image.revision": "abc",
        "org.example.team": "core",
    }
    assert platform_labels(labels, "linux/arm64") == {
        **labels,
        LABEL: platform_key(KEY, "linux/arm64"),
    }
    assert platform_labels({"a": "b"}, "linux/arm64") == {"a": "b"}
    assert index_annotations(labels) == {LABEL: KEY, "org.opencontainers.image.revision": "abc"}
