"""Version parsing: semver (semver.org), and PEP 440 versions in their normalized form."""

from __future__ import annotations

from typing import Any

import pytest

from hubpub.templating import parse_pep440, parse_semver


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v1.2.3", ("1.2.3", 1, 2, 3, None, False)),
        ("1.2.3-rc.1+b.5", ("1.2.3-rc.1", 1, 2, 3, "rc.1", True)),
        ("v01.2.3", None),  # leading zeros are not semver
        ("1.2", None),
        ("V1.2.3", None),
        ("1.2.3-01", None),
    ],
)
def test_parse_semver(text: str, expected: Any) -> None:
    parsed = parse_semver(text)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert (
            str(parsed),
            parsed.major,
            parsed.minor,
            parsed.patch,
            parsed.prerelease,
            parsed.is_prerelease,
        ) == expected


@pytest.mark.parametrize(
    ("text", "expected", "pre"),
    [
        ("1.2.3", "1.2.3", False),
        ("v1.0", "1.0", False),
        ("1.2.3post1", "1.2.3.post1", True),
        ("1.2.3-1", "1.2.3.post1", True),
        ("1.0ALPHA2", "1.0a2", True),
        ("1.0c1", "1.0rc1", True),
        ("2!1.0", "2!1.0", False),
        ("1.0.dev", "1.0.dev0", True),
        ("1.0+Local-Build", "1.0+local.build", False),
        ("01.002", "1.2", False),
        ("not-a-version", None, False),
    ],
)
def test_parse_pep440(text: str, expected: str | None, pre: bool) -> None:
    parsed = parse_pep440(text)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert (str(parsed), parsed.is_prerelease) == (expected, pre)
