"""The names of hubpub's own tags: one module names them all, and recognizes them."""

from __future__ import annotations

import pytest

from hubpub import cimatrix, staged
from hubpub.reference import parse_repository
from hubpub.stagingtags import is_own, key_hex, large_tag, platform_tag

KEY = "sha256:" + "61521462bf0d" + "ab" * 26
TAG_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@pytest.mark.parametrize(
    ("key", "digits"),
    [
        (KEY, KEY[7:]),
        ("61521462bf0d", "61521462bf0d"),  # an image ID without its algorithm
        ("sha256:ab/../cd", "abcd"),  # never a character a tag may not hold
    ],
)
def test_a_key_s_digits_are_after_the_algorithm_and_tag_safe(key: str, digits: str) -> None:
    assert key_hex(key) == digits


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (large_tag(KEY), "hubpub-staging-" + KEY[7:]),
        (platform_tag(KEY, "linux/arm64"), "hubpub-61521462bf0d-linux-arm64"),
        (platform_tag(KEY, "linux/arm/v7"), "hubpub-61521462bf0d-linux-arm-v7"),
    ],
)
def test_the_names_of_the_two_staging_tags(name: str, expected: str) -> None:
    assert name == expected
    assert len(name) <= 128
    assert set(name) <= TAG_CHARS


def test_both_staging_tags_are_own_tags_and_a_user_s_tag_is_not() -> None:
    assert is_own(large_tag(KEY))
    assert is_own(platform_tag(KEY, "linux/amd64"))
    assert not is_own("v1.2.3")
    assert not is_own("latest")


def test_staged_and_cimatrix_name_their_tags_here() -> None:
    # One naming, however a module spells its own helper (docs/registry.md).
    repo = parse_repository("registry.example/team/app")
    assert staged.staging_ref(repo, KEY).tag == large_tag(KEY)
    assert cimatrix.staging_tag(KEY, "linux/arm64") == platform_tag(KEY, "linux/arm64")
