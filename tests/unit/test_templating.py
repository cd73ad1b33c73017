"""Tag rules → tag values, by tables and without I/O (docs/config.md#how-tag-values-are-computed).

The git state is built by hand (tests/helpers/templating.py); test_desired.py drives the same
logic through real git repositories. Expected values follow docker/metadata-action's README and
src/meta.ts unless a comment says which hubpub improvement changes them
(docs/config.md#where-hubpub-differs-from-metadata-action).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubpub.config.model import Image
from hubpub.errors import TemplateError
from hubpub.gitstate import GitState
from hubpub.reference import is_valid_tag
from hubpub.templating import (
    DEFAULT_PATTERNS,
    PATTERN_NAMES,
    RULE_NAMES,
    base_context,
    check_expression,
    check_template,
    environment,
    image_tags,
    is_highest_stable,
    is_literal,
    render,
    slug,
    slug_suggestion,
    translate_dockerhub,
)
from hubpub.templating.sandbox import _compile, _render_literal
from hubpub.versions import parse_semver
from tests.helpers.templating import SHA, make_image, make_state, values

SEMVER = {"preset": "semver"}
PEP440 = {"preset": "pep440"}
REF = {"preset": "ref"}
SHA_PRESET = {"preset": "sha"}
EDGE = {"preset": "edge"}

TABLE: list[tuple[str, str | None, tuple[Any, ...], dict[str, Any], list[str]]] = [
    # metadata-action's documented examples
    ("semver release", "refs/tags/v1.2.3", (SEMVER,), {}, ["1.2.3", "1.2", "1", "latest"]),
    ("semver pre-release", "refs/tags/v2.0.8-beta.67", (SEMVER,), {}, ["2.0.8-beta.67"]),
    ("semver without v", "refs/tags/1.2.3", (SEMVER,), {}, ["1.2.3", "1.2", "1", "latest"]),
    (
        "semver build dropped",
        "refs/tags/v1.2.3+build.5",
        (SEMVER,),
        {},
        ["1.2.3", "1.2", "1", "latest"],
    ),
    ("semver not a version", "refs/tags/foo", (SEMVER,), {}, []),
    ("semver on a branch", "refs/heads/main", (SEMVER,), {}, []),
    (
        "semver raw",
        "refs/tags/v1.2.3",
        ({"preset": "semver", "pattern": "{{raw}}"},),
        {},
        ["v1.2.3", "latest"],
    ),
    (
        "semver raw pre-release",
        "refs/tags/v2.0.8-rc.1",
        ({"preset": "semver", "pattern": "{{ raw }}"},),
        {},
        ["v2.0.8-rc.1"],
    ),
    (
        "semver one pattern",
        "refs/tags/v1.2.3",
        ({"preset": "semver", "pattern": "{{major}}.{{minor}}"},),
        {},
        ["1.2", "latest"],
    ),
    # hubpub: no "0" for 0.x unless major_zero (metadata-action gives 0)
    ("semver 0.x", "refs/tags/v0.9.1", (SEMVER,), {}, ["0.9.1", "0.9", "latest"]),
    (
        "semver 0.x major_zero",
        "refs/tags/v0.9.1",
        ({"preset": "semver", "major_zero": True},),
        {},
        ["0.9.1", "0.9", "0", "latest"],
    ),
    # hubpub: prefix/suffix on a preset reach every tag it makes; latest_suffix for variants
    (
        "semver suffix",
        "refs/tags/v1.2.3",
        ({"preset": "semver", "suffix": "-alpine"},),
        {"latest_suffix": "-alpine"},
        ["1.2.3-alpine", "1.2-alpine", "1-alpine", "latest-alpine"],
    ),
    (
        "semver prefix",
        "refs/tags/v1.2.3",
        ({"preset": "semver", "prefix": "v"},),
        {},
        ["v1.2.3", "v1.2", "v1", "latest"],
    ),
    ("pep440 release", "refs/tags/1.2.3", (PEP440,), {}, ["1.2.3", "1.2", "1", "latest"]),
    ("pep440 post", "refs/tags/1.2.3post1", (PEP440,), {}, ["1.2.3.post1"]),
    ("pep440 pre", "refs/tags/v1.1.0a1", (PEP440,), {}, ["1.1.0a1"]),
    ("pep440 rc spelled", "refs/tags/1.2.3-preview.2", (PEP440,), {}, ["1.2.3rc2"]),
    ("pep440 dev", "refs/tags/1.0.0.dev1", (PEP440,), {}, ["1.0.0.dev1"]),
    (
        "pep440 local",
        "refs/tags/1.0+ubuntu.1",
        (PEP440,),
        {},
        ["1.0-ubuntu.1", "1.0", "1", "latest"],
    ),
    ("ref branch slugged", "refs/heads/my/branch", (REF,), {}, ["my-branch"]),
    ("ref tag", "refs/tags/v1.2.3", (REF,), {}, ["v1.2.3", "latest"]),
    ("ref tag not a version", "refs/tags/foo", (REF,), {}, ["foo"]),
    ("ref pull request", "refs/pull/2/merge", (REF,), {}, ["pr-2"]),
    ("ref pr prefix", "refs/pull/2/merge", ({"preset": "ref", "prefix": "mr-"},), {}, ["mr-2"]),
    ("ref only tags", "refs/heads/main", ({"preset": "ref", "on": "tag"},), {}, []),
    ("ref detached", None, (REF,), {}, []),
    ("sha short", "refs/heads/main", (SHA_PRESET,), {}, ["sha-0123456"]),
    ("sha long", "refs/heads/main", ({"preset": "sha", "format": "long"},), {}, [f"sha-{SHA}"]),
    ("sha no prefix", "refs/heads/main", ({"preset": "sha", "prefix": ""},), {}, ["0123456"]),
    ("edge default branch", "refs/heads/main", (EDGE,), {}, ["edge"]),
    ("edge other branch", "refs/heads/dev", (EDGE,), {}, []),
    ("edge named branch", "refs/heads/dev", ({"preset": "edge", "branch": "dev"},), {}, ["edge"]),
    # priorities: semver (900) before sha (100) whatever the order written; latest last
    (
        "priorities",
        "refs/tags/v1.2.3",
        (SHA_PRESET, SEMVER, REF),
        {},
        ["1.2.3", "1.2", "1", "v1.2.3", "sha-0123456", "latest"],
    ),
    (
        "branch build",
        "refs/heads/main",
        (SHA_PRESET, SEMVER, REF, EDGE),
        {},
        ["edge", "main", "sha-0123456"],
    ),
    # latest = true / false
    ("latest true on a branch", "refs/heads/main", (REF,), {"latest": True}, ["main", "latest"]),
    (
        "latest false on a release",
        "refs/tags/v1.2.3",
        (SEMVER,),
        {"latest": False},
        ["1.2.3", "1.2", "1"],
    ),
    (
        "latest auto not for sha-first",
        "refs/tags/v1.2.3",
        ({"preset": "sha", "priority": 1000}, SEMVER),
        {},
        ["sha-0123456", "1.2.3", "1.2", "1"],
    ),
    # templates
    ("template", "refs/heads/main", ("sha-{{ git.short_sha }}",), {}, ["sha-0123456"]),
    ("template empty skipped", "refs/heads/main", ("{{ git.tag }}", "x"), {}, ["x"]),
    ("template duplicates dropped", "refs/heads/main", ("{{ git.branch }}", REF), {}, ["main"]),
    (
        "template when",
        "refs/heads/main",
        ({"template": "edge", "when": "git.is_default_branch"},),
        {},
        ["edge"],
    ),
    (
        "template when false",
        "refs/heads/dev",
        ({"template": "edge", "when": "git.is_default_branch"},),
        {},
        [],
    ),
    ("template on", "refs/tags/v1", ({"template": "stable", "on": "branch"},), {}, []),
    (
        "template match",
        "refs/heads/release-1.4",
        (
            {
                "on": "branch",
                "match": r"^release-(\d+)\.(\d+)$",
                "template": "{{ match[1] }}.{{ match[2] }}-rc",
            },
        ),
        {},
        ["1.4-rc"],
    ),
    (
        "template no match",
        "refs/heads/main",
        ({"match": r"^release-(\d+)$", "template": "{{ match[1] }}"},),
        {},
        [],
    ),
    (
        "match[0] is the ref name",
        "refs/heads/release-1.4",
        ({"match": r"\d+", "template": "{{ match[0] }}"},),
        {},
        ["release-1.4"],
    ),
    # Docker Hub build rules: {sourceref} and {\1}
    (
        "docker hub group",
        "refs/tags/v1.2",
        ({"on": "tag", "match": r"^v([0-9.]+)$", "template": r"{\1}"},),
        {},
        ["1.2", "latest"],
    ),
    (
        "docker hub sourceref",
        "refs/heads/main",
        ({"on": "branch", "template": "{sourceref}"},),
        {},
        ["main"],
    ),
    (
        "version in template",
        "refs/tags/v3.1.4",
        ("v{{ version.major }}", "{{ version }}"),
        {},
        ["v3", "3.1.4"],
    ),
    (
        "commit time",
        "refs/heads/main",
        ("{{ git.commit_time.strftime('%Y%m%d') }}-{{ git.short_sha }}",),
        {},
        ["20260102-0123456"],
    ),
    (
        "slug filter",
        "refs/heads/feature/Ünïcode x",
        ("{{ git.branch | slug }}",),
        {},
        ["feature-n-code-x"],
    ),
]


@pytest.mark.parametrize(
    ("ref", "rules", "keys", "expected"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_rules_table(
    ref: str | None, rules: tuple[Any, ...], keys: dict[str, Any], expected: list[str]
) -> None:
    assert values(make_image(*rules, **keys), make_state(ref)) == expected


def test_backport_does_not_move_latest() -> None:
    tags = ("v1.9.0", "v2.0.0", "v2.0.1", "v1.9.1", "v3.0.0-rc.1", "not-a-version")
    image = make_image(SEMVER)
    assert values(image, make_state("refs/tags/v1.9.1", tags=tags)) == ["1.9.1", "1.9", "1"]
    assert values(image, make_state("refs/tags/v2.0.1", tags=tags)) == [
        "2.0.1",
        "2.0",
        "2",
        "latest",
    ]
    # A pre-release of a higher version does not hold latest back.
    assert is_highest_stable("v2.0.1", tags)
    assert not is_highest_stable("v3.0.0-rc.1", tags)
    assert not is_highest_stable("v1.9.1", tags)
    assert not is_highest_stable(None, tags)


# A floating tag of a version series belongs to the highest stable version that makes it
# (docs/config.md, "Tags only move forward"): (released tag, the repository's other version
# tags, rules, expected tags).
SERIES = [
    ("backport after a minor", "v1.2.9", ("v1.3.0",), (SEMVER,), ["1.2.9", "1.2"]),
    ("backport after a major", "v1.2.9", ("v2.0.0",), (SEMVER,), ["1.2.9", "1.2", "1"]),
    ("old patch of a series", "v1.2.8", ("v1.2.9", "v1.3.0"), (SEMVER,), ["1.2.8"]),
    ("highest of all", "v1.3.1", ("v1.2.9", "v1.3.0"), (SEMVER,), ["1.3.1", "1.3", "1", "latest"]),
    (
        "a higher pre-release does not count",
        "v1.2.9",
        ("v1.3.0-rc.1",),
        (SEMVER,),
        ["1.2.9", "1.2", "1", "latest"],
    ),
    (
        "prefix and suffix alike",
        "v1.2.9",
        ("v1.3.0",),
        ({"preset": "semver", "prefix": "v", "suffix": "-slim"},),
        ["v1.2.9-slim", "v1.2-slim"],
    ),
    (
        "custom pattern",
        "v1.2.9",
        ("v1.3.0",),
        ({"preset": "semver", "pattern": ["{{version}}", "{{major}}.x"]},),
        ["1.2.9"],
    ),
    ("pep440 alike", "1.2.9", ("1.3.0",), (PEP440,), ["1.2.9", "1.2"]),
    ("pep440 post release is not stable", "1.3.post1", ("1.3",), (PEP440,), ["1.3.post1"]),
    (
        "the other scheme does not count",
        "1.2.9",
        ("1.3",),
        (SEMVER,),
        ["1.2.9", "1.2", "1", "latest"],
    ),
]


@pytest.mark.parametrize(
    ("tag", "others", "rules", "expected"),
    [row[1:] for row in SERIES],
    ids=[row[0] for row in SERIES],
)
def test_a_floating_version_tag_goes_to_the_highest_of_its_series(
    tag: str, others: tuple[str, ...], rules: tuple[Any, ...], expected: list[str]
) -> None:
    state = make_state(f"refs/tags/{tag}", tags=others)
    assert values(make_image(*rules), state) == expected


def test_a_shallow_clone_refuses_to_decide_a_series() -> None:
    state = replace(make_state("refs/tags/v1.2.9"), tags_complete=False)
    with pytest.raises(TemplateError, match=r"the floating tag '1\.2' goes to the highest"):
        image_tags(make_image(SEMVER, latest=False), state, {})
    # Only the full version, or a pre-release: nothing to compare.
    only_full = make_image({"preset": "semver", "pattern": "{{version}}"}, latest=False)
    assert values(only_full, state) == ["1.2.9"]
    pre = replace(make_state("refs/tags/v1.3.0-rc.1"), tags_complete=False)
    assert values(make_image(SEMVER), pre) == ["1.3.0-rc.1"]


def test_which_tags_only_move_forward_in_history() -> None:
    rules = (SEMVER, SHA_PRESET, {"preset": "ref"}, {"preset": "edge"}, "nightly")
    branch = image_tags(make_image(*rules, latest=True), make_state("refs/heads/main"), {})
    assert {v.tag: v.monotonic for v in branch.tags} == {
        "main": True,
        "edge": True,
        "nightly": True,
        "latest": True,
        "sha-0123456": False,  # names its commit
    }
    release = image_tags(make_image(*rules), make_state("refs/tags/v1.2.3"), {})
    # The version order decides 1, 1.2 and latest = "auto", not the commit order.
    assert {v.tag: v.monotonic for v in release.tags} == {
        "1.2.3": False,
        "1.2": False,
        "1": False,
        "v1.2.3": True,
        "nightly": True,
        "sha-0123456": False,
        "latest": False,
    }
    fixed = image_tags(make_image({"template": "x", "immutable": True}), make_state(None), {})
    assert [v.monotonic for v in fixed.tags] == [False]


def test_version_and_immutable() -> None:
    image = make_image(SHA_PRESET, SEMVER, {"template": "stable", "immutable": True})
    result = image_tags(image, make_state("refs/tags/v1.2.3"), {})
    assert result.version == "1.2.3"
    flags = {value.tag: value.immutable for value in result.tags}
    assert flags == {
        "1.2.3": True,
        "1.2": False,
        "1": False,
        "stable": True,
        "sha-0123456": False,
        "latest": False,
    }
    rules = {value.tag: value.rule for value in result.tags}
    assert rules["1.2"] == "tags[1] (preset semver)"
    assert rules["stable"] == "tags[2] (template)"
    assert image_tags(make_image(SEMVER), make_state("refs/heads/x"), {}).version is None


def test_pre_release_full_version_is_immutable() -> None:
    result = image_tags(make_image(SEMVER), make_state("refs/tags/v2.0.8-beta.67"), {})
    assert [(v.tag, v.immutable) for v in result.tags] == [("2.0.8-beta.67", True)]


def test_env_listed_only() -> None:
    image = make_image("build-{{ env.BUILD_NUMBER }}")
    assert values(image, make_state("refs/heads/main"), {"BUILD_NUMBER": "42"}) == ["build-42"]
    with pytest.raises(TemplateError, match=r"environment variable 'BUILD_NUMBER' is not listed"):
        values(image, make_state("refs/heads/main"), {})


@pytest.mark.parametrize(
    ("rule", "ref", "message"),
    [
        (
            "{{ git.nope }}",
            "refs/heads/main",
            r"^image 'figlet', tags\[0\]: 'git\.nope' is undefined "
            r"\(write one of: git\.branch, git\.commit_time, .*, git\.version_tags\)$",
        ),
        ("{{ nope }}", "refs/heads/main", r"tags\[0\]: 'nope' is undefined"),
        (
            "{{ git.brnch }}",
            "refs/heads/main",
            r"'git\.brnch' is undefined \(did you mean 'git\.branch'\?\)$",
        ),
        ("v{{ version.major }}", "refs/heads/main", r"tags\[0\]: cannot read 'major' of a none"),
        (
            {"template": "x", "when": "git.nope"},
            "refs/heads/main",
            r"tags\[0\]\.when: 'git\.nope' is undefined",
        ),
        (
            {"match": "(a)", "template": "{{ match[2] }}"},
            "refs/heads/a",
            r"'match\[2\]' is undefined \(the rule's regex has 1 group",
        ),
        (
            "{{ ''.__class__ }}",
            "refs/heads/main",
            r"tags\[0\]: not allowed in a template: str has no attribute '__class__'$",
        ),
        ("{{ 1 / 0 }}", "refs/heads/main", r"ZeroDivisionError"),
    ],
)
def test_template_errors_name_image_and_rule(rule: Any, ref: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        values(make_image(rule), make_state(ref))


def test_invalid_tag_suggests_slug() -> None:
    image = make_image("{{ git.branch }}")
    with pytest.raises(TemplateError) as caught:
        values(image, make_state("refs/heads/feature/x"))
    text = str(caught.value)
    assert "image 'figlet', tags[0]: 'feature/x' is not a valid tag" in text
    assert "{{ git.branch | slug }}" in text
    assert "'feature-x'" in text
    assert slug_suggestion("v-{{git.ref_name}}-x") == "v-{{ git.ref_name | slug }}-x"


@pytest.mark.parametrize(
    ("template", "ref", "hint"),
    [
        (  # slug fixes it: the fixed template is rendered to show its value
            "v-{{ git.ref_name }}-x",
            "refs/heads/my/branch",
            "pipe it through slug: v-{{ git.ref_name | slug }}-x, which gives 'v-my-branch-x'",
        ),
        (  # the '/' is the user's own text: slug of the expression cannot fix it
            "feature/{{ git.short_sha }}",
            "refs/heads/main",
            "the text outside {{ }} must be valid in a tag too, and '/' is not; slugging the "
            "whole value would give 'feature-0123456'",
        ),
        (  # a detached HEAD has no branch: the value is empty, and slug is not the answer
            "{{ git.branch }}-x",
            None,
            '{{ git.branch }} is empty here: add when = "git.branch" to skip this rule then',
        ),
    ],
)
def test_an_invalid_tag_gets_the_hint_that_fixes_it(
    template: str, ref: str | None, hint: str
) -> None:
    """A user's report: the hint offered slug where slug could not help, and named a value
    the suggested template would not give."""
    with pytest.raises(TemplateError) as caught:
        values(make_image(template), make_state(ref))
    assert str(caught.value).endswith(f"({hint})")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my/branch", "my-branch"),
        ("feature//x y", "feature-x-y"),
        ("-leading", "leading"),
        (".hidden", "hidden"),
        ("UPPER_case.1", "UPPER_case.1"),
        ("a" * 200, "a" * 128),
        ("///", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_slug(value: Any, expected: str) -> None:
    assert slug(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{sourceref}", "{{ git.ref_name }}"),
        (r"{\1}-{\2}", "{{ match[1] }}-{{ match[2] }}"),
        ("{{ git.sha }}", "{{ git.sha }}"),
        ("plain", "plain"),
    ],
)
def test_translate_dockerhub(text: str, expected: str) -> None:
    assert translate_dockerhub(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sha-{{ git.short_sha }}", None),
        ("{{ git.branch | slug }}-{{ env.BUILD }}", None),
        ("{{ version.major if version }}", None),
        ("{{ git.nope }}", "'git.nope' is undefined"),
        ("{{ git['nope'] }}", "'git.nope' is undefined"),
        ("{{ env.HOME }}", "environment variable 'HOME' is not listed in env"),
        ("{{ version.nope }}", "'version.nope' is undefined"),
        ("{{ branch }}", "'branch' is undefined"),
        ("{{ git.sha ", "template syntax error"),
        ("{{ range(3) | join }}", None),
    ],
)
def test_check_template(text: str, problem: str | None) -> None:
    found = check_template(text, frozenset({"git", "version", "match", "env"}), ["BUILD"])
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        # A user's report: the message named a ')' that hubpub had added around the text.
        ("git.is_default_branch and", "expression syntax error: unexpected end of the expression"),
        ("(git.dirty", "expression syntax error: unexpected end of the expression, expected ')'."),
        ("git.dirty git.sha", "expression syntax error: unexpected 'git' in 'git.dirty git.sha'"),
        ("git.dirty)", "expression syntax error: unexpected ')'"),
    ],
)
def test_a_when_syntax_error_speaks_of_what_was_written(expression: str, problem: str) -> None:
    assert check_expression(expression, PATTERN_NAMES, []) == problem


def test_check_expression() -> None:
    allowed = frozenset({"git", "version", "match", "env"})
    assert check_expression("git.is_default_branch and not git.dirty", allowed, []) is None
    assert "'git.is_default' is undefined" in (
        check_expression("git.is_default", allowed, []) or ""
    )
    assert "syntax error" in (check_expression("git.sha ==", allowed, []) or "")


def test_all_preset_tags_are_valid() -> None:
    image = make_image(SHA_PRESET, SEMVER, PEP440, REF, EDGE, latest=True)
    for ref in ("refs/heads/" + "x/" * 100, "refs/tags/-bad", "refs/pull/7/merge"):
        for value in values(image, make_state(ref)):
            assert is_valid_tag(value), value


def test_default_patterns_pass_the_static_check() -> None:
    # check_image_templates skips them (a semver preset alone then never loads Jinja).
    for pattern in DEFAULT_PATTERNS:
        assert check_template(pattern, PATTERN_NAMES, []) is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("bad/tag", r"tags\[0\]: 'bad/tag' is not a valid tag"),
        ("-x", r"tags\[0\]: '-x' is not a valid tag"),
        ("a" * 129, r"is not a valid tag"),
    ],
)
def test_a_literal_template_is_checked_as_any_other(rule: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        values(make_image(rule), make_state("refs/heads/main"))


def test_literal_templates_do_not_load_jinja() -> None:
    """Only a template with Jinja syntax in it imports Jinja2 (hubpub.templating's docstring)."""
    code = """
import sys
from tests.helpers.templating import make_image, make_state, values
from hubpub.templating import check_image_templates
image = make_image(" 1.4.2 ", "edge", {"preset": "semver"}, {"preset": "sha"}, latest=True)
check_image_templates(image, [])
print(values(image, make_state("refs/heads/main")), "jinja2" in sys.modules)
image = make_image("v-{{ git.short_sha }}")
print(values(image, make_state("refs/heads/main")), "jinja2" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [
        "['1.4.2', 'edge', 'sha-0123456', 'latest'] False",
        "['v-0123456'] True",
    ]


# --- properties ---------------------------------------------------------------------------------
# Arbitrary branch and tag names through every preset give valid tags or nothing, never a crash
# (docs/config.md#slugging).


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


# Random release histories: releasing versions in any order never moves a floating tag of a
# series (1, 1.2, latest) to a version lower than the one it names.
_versions = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.booleans()).map(
    lambda v: f"v{v[0]}.{v[1]}.{v[2]}" + ("-rc.1" if v[3] else "")
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_versions, min_size=1, max_size=12, unique=True))
def test_releases_in_any_order_never_move_a_series_tag_to_an_older_version(
    releases: list[str],
) -> None:
    image = make_image(SEMVER)
    owner: dict[str, str] = {}  # tag -> the version it names in the registry
    for index, tag in enumerate(releases):
        state = make_state(f"refs/tags/{tag}", tags=tuple(releases[: index + 1]))
        mine = parse_semver(tag)
        assert mine is not None
        for value in image_tags(image, state, {}).tags:
            if value.immutable:
                continue
            before = owner.get(value.tag)
            if before is not None:
                theirs = parse_semver(before)
                assert theirs is not None
                assert theirs.release_key() <= mine.release_key(), (value.tag, before, tag)
            owner[value.tag] = tag


# --- limits (docs/config.md#limits) ------------------------------------------------------------

BOUNDED = [
    ("{{ ('a' * 99999) * 99999 }}", "a value of 99999 characters or items (at most 65536)"),
    ("{{ 'a' * 70000 }}", "a value of 70000 characters or items (at most 65536)"),
    ("{{ 9 ** 99999 }}", "9 ** 99999 is too large"),
    ("{{ 2 ** 5000 }}", "2 ** 5000 is too large"),
    ("{{ 'a'.ljust(10 ** 8) }}", "the argument 100000000 is over 65536"),
    ("{{ 'a' | center(100000000) }}", "the argument 100000000 is over 65536"),
    ("{% for i in range(999) %}{% for j in range(999) %}{% endfor %}{% endfor %}", "loops of more"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recurses without end"),
    ("{{ git.branch | slugify }}", "no filter 'slugify' (did you mean 'slug'?)"),
    ("{{ 'x' is strng }}", "no test 'strng' (did you mean 'string'?)"),
    ("{{ lipsum(5) }}", "'lipsum' is undefined"),
    ("{{ 'a' * 5000 }}", "renders 5000 characters (at most 4096): 'aaaa"),
]


@pytest.mark.parametrize(("template", "says"), BOUNDED)
def test_templates_are_bounded(template: str, says: str) -> None:
    context = base_context(make_state("refs/heads/main"), {})
    with pytest.raises(TemplateError) as caught:
        render(template, context, "image 'app', tags[0]")
    message = str(caught.value)
    assert message.startswith("image 'app', tags[0]: ")
    assert says in message
    assert len(message) < 300


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("{{ 'a' * 4096 }}", "a" * 4096),
        ("{{ 2 ** 64 }}", str(2**64)),
        ("{{ range(3) | join('-') }}", "0-1-2"),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
    ],
)
def test_templates_within_the_bounds_render(template: str, value: str) -> None:
    assert render(template, base_context(make_state("refs/heads/main"), {}), "here") == value
