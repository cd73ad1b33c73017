"""staged.py's pure parts: the threshold, which builds are staged, the staging tag's name."""

from __future__ import annotations

import pytest

from hubpub.errors import ConfigError
from hubpub.reference import Repository
from hubpub.staged import STAGE_ABOVE_BYTES, staging_ref, threshold, wanted


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, STAGE_ABOVE_BYTES),
        ("", STAGE_ABOVE_BYTES),
        ("off", None),
        ("OFF", None),
        ("0", 0),
        ("250", 250_000_000),
        ("0.5", 500_000),
    ],
)
def test_the_threshold_is_read_in_mb_or_off(value: str | None, expected: int | None) -> None:
    assert threshold(value) == expected


@pytest.mark.parametrize("value", ["big", "-1", "nan", "1e", "inf", "Infinity", "1e303"])
def test_a_threshold_that_is_no_size_is_one_line_saying_what_to_set(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        threshold(value)
    assert caught.value.message == f"HUBPUB_STAGE_ABOVE_MB={value!r} is not a size in MB"
    assert caught.value.hint == "set it to a number of MB (0: stage every build) or to off"


A = Repository("r.example", "team/app")
B = Repository("r.example", "mirror/app")
C = Repository("other.example:5000", "team/app")


@pytest.mark.parametrize(
    ("size", "targets", "above", "expected"),
    [
        (10, [A, B], 0, True),  # 0: every build
        (10, [A, B], 11, False),  # below
        (11, [A, B], 11, True),  # at it
        (10**9, [A], None, False),  # off
        (10**9, [A, C], 0, False),  # two registries: the export path
        (10**9, [], 0, False),  # nothing to publish
    ],
)
def test_a_build_is_staged_from_the_threshold_when_its_targets_share_one_registry(
    size: int, targets: list[Repository], above: int | None, expected: bool
) -> None:
    assert wanted(size, targets, above) is expected


def test_the_staging_tag_is_named_after_the_content_key_in_the_first_repository() -> None:
    ref = staging_ref(A, "sha256:" + "ab" * 32)
    assert ref.repository == A
    assert ref.tag == "hubpub-staging-" + "ab" * 32
    assert staging_ref(A, "sha256:" + "cd" * 32).tag != ref.tag
