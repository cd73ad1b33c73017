"""Property (issue 3, "Acceptance"): arbitrary branch and tag names through every preset give
valid tags or nothing, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from hubpub.config.model import Image
from hubpub.gitstate import GitState
from hubpub.reference import is_valid_tag
from hubpub.templating import image_tags, slug

PRESETS = [
    {"preset": "semver"},
    {"preset": "semver", "pattern": "{{raw}}", "suffix": "/x"},
    {"preset": "pep440", "prefix": "-."},
    {"preset": "ref"},
    {"preset": "sha"},
    {"preset": "edge", "branch": "main"},
    "{{ git.ref_name | slug }}",
]

names = st.one_of(
    st.text(min_size=1, max_size=300),
    st.from_regex(
        r"v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[a-z0-9.]{1,10})?(\+[a-z0-9.]+)?", fullmatch=True
    ),
    st.from_regex(
        r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}(a|b|rc|post|dev|\.post|-)?[0-9]?", fullmatch=True
    ),
)


def state(kind: str, name: str, tags: list[str]) -> GitState:
    ref = f"refs/{kind}/{name}"
    return GitState(
        sha="f" * 40,
        short_sha="f" * 7,
        branch=name if kind == "heads" else None,
        tag=name if kind == "tags" else None,
        ref=ref,
        ref_name=name,
        default_branch="main",
        is_default_branch=kind == "heads" and name == "main",
        commit_time=datetime(2026, 1, 1, tzinfo=UTC),
        dirty=False,
        pr_number=None,
        version_tags=(*tags, name) if kind == "tags" else tuple(tags),
        source_url=None,
    )


IMAGE = Image.model_validate(
    {"name": "p", "context": ".", "repositories": ["x/y"], "tags": PRESETS, "latest_suffix": "+"}
)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(["heads", "tags"]), name=names, others=st.lists(names, max_size=5))
def test_presets_make_valid_tags_or_nothing(kind: str, name: str, others: list[str]) -> None:
    result = image_tags(IMAGE, state(kind, name, others), {})
    tags = [value.tag for value in result.tags]
    assert len(tags) == len(set(tags))
    for tag in tags:
        assert is_valid_tag(tag), (name, tag)
    assert result.version == (tags[0] if tags else None)


@given(st.text())
def test_slug_is_valid_or_empty(text: str) -> None:
    value = slug(text)
    assert value == "" or is_valid_tag(value)
