"""platforms.py: normalizing, per-platform keys and the index warnings (pure, tables)."""

from __future__ import annotations

import pytest

from hubpub.platforms import (
    descriptor_platform,
    index_warning,
    normalize,
    normalize_all,
    of_config,
    platform_key,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("Linux/AMD64", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm64/v9", "linux/arm64/v9"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/i386", "linux/386"),
        ("linux/s390x", "linux/s390x"),
        ("windows/amd64", "windows/amd64"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize("text", ["linux", "", "linux/", "/amd64", "linux/arm64/v8/x", "lin ux/a"])
def test_not_a_platform(text: str) -> None:
    with pytest.raises(ValueError, match="expected a platform 'os/arch'"):
        normalize(text)


def test_normalize_all_keeps_the_order_and_refuses_duplicates() -> None:
    assert normalize_all(["linux/arm64", "linux/x86_64"]) == ("linux/arm64", "linux/amd64")
    with pytest.raises(ValueError, match="'linux/aarch64' is listed twice"):
        normalize_all(["linux/arm64/v8", "linux/aarch64"])


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"os": "linux", "architecture": "amd64"}, "linux/amd64"),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, "linux/arm64"),
        ({"os": "linux", "architecture": "arm", "variant": "v7"}, "linux/arm/v7"),
        ({"architecture": "arm64"}, "?/arm64"),
        ({}, "?/?"),
    ],
)
def test_of_config(config: dict[str, str], expected: str) -> None:
    assert of_config(config) == expected


def test_descriptor_platform() -> None:
    assert descriptor_platform("linux/arm64") == {"architecture": "arm64", "os": "linux"}
    assert descriptor_platform("linux/arm/v7") == {
        "architecture": "arm",
        "os": "linux",
        "variant": "v7",
    }


def test_each_platform_has_its_own_key() -> None:
    key = "sha256:" + "a" * 64
    amd, arm = platform_key(key, "linux/amd64"), platform_key(key, "linux/arm64")
    assert amd != arm
    assert amd.startswith("sha256:")
    assert len(amd) == len(key)
    assert platform_key(key, "linux/amd64") == amd  # stable
    assert platform_key("sha256:" + "b" * 64, "linux/amd64") != amd


SINGLE = "it points to a multi-platform index now; after this change it serves one platform only"


@pytest.mark.parametrize(
    ("now", "platforms", "expected"),
    [
        # a single-platform build: the existing warning, whatever the index had
        (("linux/amd64", "linux/arm64"), (), SINGLE),
        (("linux/amd64", "linux/arm64"), ("linux/arm64",), SINGLE),
        ((), (), SINGLE),
        # an index of the same platforms, or more: nothing to say
        (("linux/amd64", "linux/arm64"), ("linux/amd64", "linux/arm64"), None),
        (("linux/arm64", "linux/amd64"), ("linux/amd64", "linux/arm64"), None),
        (("linux/amd64",), ("linux/amd64", "linux/arm64"), None),
        ((), ("linux/amd64", "linux/arm64"), None),  # platforms unknown
        (("linux/amd64", "unknown"), ("linux/amd64", "linux/arm64"), None),  # attestations
        # a platform dropped: said, with which
        (
            ("linux/amd64", "linux/arm64", "linux/arm/v7"),
            ("linux/amd64", "linux/arm64"),
            "its index has linux/arm/v7 now, which the config's platforms drop; after this "
            "change it serves linux/amd64, linux/arm64",
        ),
    ],
)
def test_index_warning(now: tuple[str, ...], platforms: tuple[str, ...], expected: str) -> None:
    assert index_warning(now, platforms) == expected
