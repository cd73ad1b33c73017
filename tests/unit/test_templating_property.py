"""Property (issue 3, "Acceptance"): arbitrary branch and tag names through every preset give
valid tags or nothing, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from hubpub.config.model import Image
from hubpub.gitstate import GitState
from hubpub.reference import is_valid_tag
from hubpub.templating import (
    RULE_NAMES,
    check_template,
    environment,
    image_tags,
    is_literal,
    render,
    slug,
)
from hubpub.templating.sandbox import _compile, _render_literal

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


# Text that looks like Jinja's delimiters without opening one, and Docker Hub's placeholders.
_near_jinja = st.lists(
    st.sampled_from(["{", "}", "%", "#", "\\", "1", "sourceref", "a", " ", "\r", "\n"])
).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), _near_jinja))
def test_a_literal_renders_as_jinja_renders_it(text: str) -> None:
    """templating.is_literal: a template without Jinja syntax is rendered without Jinja, and
    needs no static check; Jinja agrees on both."""
    if not is_literal(text):
        return
    assert _render_literal(text) == _compile(text).render({})
    context = {"git": None, "match": ("main",)}
    assert render(text, context, "x") == str(_compile(text).render(context)).strip()
    environment().parse(text)  # no syntax error
    assert check_template(text, RULE_NAMES, []) is None
