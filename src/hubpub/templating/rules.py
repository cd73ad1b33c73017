"""Rules to tag values: an image's tag rules run against the git state, metadata-action's way
(src/meta.ts, src/tag.ts): priorities, presets, ``latest``, and the hint for a value that is not
a tag."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubpub.config.model import (
    EdgePreset,
    Image,
    Pep440Preset,
    RefPreset,
    Rule,
    SemverPreset,
    ShaPreset,
    TemplateRule,
)
from hubpub.errors import TemplateError
from hubpub.gitstate import GitState, ref_kind
from hubpub.reference import is_valid_tag
from hubpub.templating.limits import shorten
from hubpub.templating.sandbox import (
    LocatedTemplateError,
    _Groups,
    base_context,
    environment,
    evaluate,
    render,
)
from hubpub.templating.slug import finish_tag, slug
from hubpub.versions import (
    VersionInfo,
    higher_stable,
    is_highest_stable,
    parse_pep440,
    parse_semver,
    parse_version,
)

log = logging.getLogger("hubpub.templating")

# Jinja2 is imported inside the functions that use it, not here: 0.04 to 0.05 s at every start,
# which a config of literal templates never needs (the package's docstring).

SHORT_SHA = 7  # metadata-action's default, which its users rely on (docs/config.md#tag-rules)

# metadata-action's priorities (src/tag.ts DefaultPriorities); templates are its "raw", a
# template with `match` its "match".
PRIORITY = {
    "semver": 900,
    "pep440": 900,
    "match": 800,
    "edge": 700,
    "ref": 600,
    "raw": 200,
    "sha": 100,
}

DEFAULT_PATTERNS = ("{{version}}", "{{major}}.{{minor}}", "{{major}}")


@dataclass(frozen=True)
class TagValue:
    tag: str
    rule: str  # "tags[1] (preset semver)", for messages and plans
    immutable: bool
    # A floating tag that moves only forward in commit history (a branch name, edge,
    # latest = true, a template): the planner skips a move to an ancestor of the commit its
    # image was built from (docs/config.md, "Tags only move forward"). False for immutable
    # tags, per-commit ones (sha) and the version-derived ones (1, 1.2, latest = "auto"),
    # which the version order decides instead.
    monotonic: bool = False


@dataclass(frozen=True)
class ImageTags:
    tags: tuple[TagValue, ...]
    version: str | None  # metadata-action's "version": the first value by priority


def patterns_of(rule: SemverPreset | Pep440Preset) -> tuple[str, ...]:
    if rule.pattern is None:
        return DEFAULT_PATTERNS
    return (rule.pattern,) if isinstance(rule.pattern, str) else rule.pattern


def rule_label(index: int, rule: Rule) -> str:
    kind = f"preset {rule.preset}" if not isinstance(rule, TemplateRule) else "template"
    return f"tags[{index}] ({kind})"


def rule_priority(rule: Rule) -> int:
    if rule.priority is not None:
        return rule.priority
    if isinstance(rule, TemplateRule):
        return PRIORITY["match" if rule.match is not None else "raw"]
    return PRIORITY[rule.preset]


def image_tags(image: Image, git: GitState, env: Mapping[str, str]) -> ImageTags:
    """The tag values of ``image`` for ``git``, metadata-action's way (src/meta.ts getVersion):
    rules by priority (high first, stable), the first value is the version, later duplicates
    are dropped, ``latest`` is decided by the first rule that produced a value, and comes last.

    ``env`` holds the listed environment variables only (:func:`listed_env`)."""
    context = base_context(git, env)
    ordered = sorted(enumerate(image.rules), key=lambda item: -rule_priority(item[1]))
    values: list[TagValue] = []
    seen: set[str] = set()
    latest_vote: bool | None = None
    for index, rule in ordered:
        where = f"image '{image.name}', tags[{index}]"
        try:
            produced, vote = _run_rule(rule, git, context, where)
        except TemplateError as exc:
            raise LocatedTemplateError(str(exc), ("tags", index)) from None
        label = rule_label(index, rule)
        for tag, immutable, monotonic in produced:
            if not tag:
                continue
            if latest_vote is None:
                latest_vote = vote
            if tag not in seen:
                seen.add(tag)
                fixed = immutable or rule.immutable
                values.append(TagValue(tag, label, fixed, monotonic and not fixed))
    if values and _wants_latest(image, git, latest_vote):
        tag = finish_tag("", "latest", image.latest_suffix)
        if tag and tag not in seen:
            # latest = true follows the branch it is published from; "auto" the versions.
            rule_text = f"latest (latest = {_latest_text(image)})"
            values.append(TagValue(tag, rule_text, False, image.latest is True))
    return ImageTags(tuple(values), values[0].tag if values else None)


def _latest_text(image: Image) -> str:
    return image.latest if isinstance(image.latest, str) else str(image.latest).lower()


def _wants_latest(image: Image, git: GitState, vote: bool | None) -> bool:
    if image.latest is True:
        return True
    if image.latest is False:
        return False
    # "auto": metadata-action's vote, and (hubpub) only the highest stable version tag.
    if not (bool(vote) and ref_kind(git.ref) == "tag"):
        return False
    version = parse_version(git.tag) if git.tag is not None else None
    if version is not None and not version.is_prerelease and not git.tags_complete:
        # A shallow clone (actions/checkout's default) lists only the tags it fetched: a
        # backport would look like the highest version and take latest, the very surprise
        # latest = "auto" exists to prevent (docs/config.md#automatic-latest). Refuse rather
        # than guess.
        raise LocatedTemplateError(
            f"image '{image.name}': latest = \"auto\" compares {git.tag} with every version "
            "tag, but this clone is shallow (or not a git repository) and may not have them all",
            ("latest",),
            hint="fetch them (actions/checkout with fetch-depth: 0, or git fetch --unshallow "
            "--tags), or set latest = true or false for this image",
        )
    return is_highest_stable(git.tag, git.version_tags)


# (tag, immutable, monotonic) of each value, and the rule's vote for latest.
Produced = tuple[list[tuple[str, bool, bool]], bool]


def _run_rule(rule: Rule, git: GitState, context: dict[str, Any], where: str) -> Produced:
    """One rule's values (each with its immutability and whether it only moves forward) and
    its vote for ``latest``."""
    kind = ref_kind(git.ref)
    if isinstance(rule, TemplateRule):
        return _run_template(rule, git, kind, context, where)
    if rule.when is not None and not evaluate(rule.when, context, f"{where}.when"):
        return [], False
    if isinstance(rule, SemverPreset | Pep440Preset):
        return _run_version(rule, git, kind, context, where)
    prefix = rule.prefix
    suffix = rule.suffix or ""
    if isinstance(rule, RefPreset):
        if kind is None or rule.on not in ("any", kind):
            return [], False
        if kind == "pr":
            number = str(git.pr_number) if git.pr_number is not None else (git.ref_name or "")
            tag = finish_tag("pr-" if prefix is None else prefix, number, suffix)
            return [(tag, False, True)], False
        name = git.branch if kind == "branch" else git.tag
        return [(finish_tag(prefix or "", name or "", suffix), False, True)], kind == "tag"
    if isinstance(rule, ShaPreset):
        if not git.sha:
            return [], False
        value = git.sha if rule.format == "long" else git.sha[:SHORT_SHA]
        tag = finish_tag("sha-" if prefix is None else prefix, value, suffix)
        return [(tag, False, False)], False  # per commit: it never names another one
    if isinstance(rule, EdgePreset):
        branch = rule.branch or git.default_branch
        if kind != "branch" or git.branch != branch:
            return [], False
        return [(finish_tag(prefix or "", "edge", suffix), False, True)], False
    raise AssertionError(f"unknown rule {rule!r}")  # pragma: no cover


def _run_template(
    rule: TemplateRule, git: GitState, kind: str | None, context: dict[str, Any], where: str
) -> Produced:
    if rule.on != "any" and rule.on != kind:
        return [], False
    if rule.match is not None:
        subject = git.ref_name
        found = re.search(rule.match, subject) if subject is not None else None
        if found is None:
            return [], False
        context = {**context, "match": _Groups((subject, *found.groups()))}
    if rule.when is not None and not evaluate(rule.when, context, f"{where}.when"):
        return [], False
    value = render(rule.template, context, where)
    if value and not is_valid_tag(value):
        raise TemplateError(
            f"{where}: {shorten(value)!r} is not a valid tag (letters, digits, '_', '.', '-'; "
            f"128 at most; not starting with '.' or '-')",
            hint=_invalid_tag_hint(rule.template, context, where),
        )
    # A template with `match` is metadata-action's `match` type, which votes for latest.
    return [(value, False, True)], rule.match is not None


def _run_version(
    rule: SemverPreset | Pep440Preset,
    git: GitState,
    kind: str | None,
    context: dict[str, Any],
    where: str,
) -> Produced:
    # metadata-action: only for refs/tags/*, the tag's slashes made dashes.
    if kind != "tag" or git.tag is None:
        return [], False
    raw = git.tag.replace("/", "-")
    version = parse_semver(raw) if isinstance(rule, SemverPreset) else parse_pep440(raw)
    if version is None:
        log.info("%s: %s is not a %s version: no tag", where, raw, rule.preset)
        return [], False
    prefix, suffix = rule.prefix or "", rule.suffix or ""
    full = finish_tag(prefix, version.text, suffix)
    names = {
        **context,
        "version": version,
        "major": version.major,
        "minor": version.minor,
        "patch": version.patch,
        "raw": raw,
    }
    out: list[tuple[str, bool, bool]] = []
    higher: list[VersionInfo] | None = None  # asked once, when a floating tag needs it
    for pattern in patterns_of(rule):
        is_raw = re.fullmatch(r"\{\{\s*raw\s*\}\}", pattern) is not None
        if version.is_prerelease and not is_raw:
            # Every pattern falls back to the full version for a pre-release (meta.ts).
            value = version.text
        else:
            if version.major == 0 and not rule.major_zero and _major_only(pattern):
                continue  # no "0" tag for 0.x unless major_zero (docs/config.md#tag-rules)
            value = render(pattern, names, f"{where}.pattern")
        tag = finish_tag(prefix, value, suffix)
        if tag != full and not version.is_prerelease:
            # A floating tag of a series (1, 1.2, v1-slim) belongs to the highest stable
            # version that renders it, as latest = "auto" to the highest of all: a backport
            # 1.2.9 after 1.3.0 makes 1.2.9 and 1.2, not 1 (docs/config.md, "Tags only move
            # forward").
            if higher is None:
                _refuse_shallow(git, version, where, tag)
                higher = higher_stable(version, git.version_tags)
            owner = _series_owner(pattern, higher, names, tag, prefix, suffix, where)
            if owner is not None:
                log.info("%s: %s belongs to %s, higher than %s: no tag", where, tag, owner, raw)
                continue
        out.append((tag, tag == full, False))
    return out, version.is_stable


def _series_owner(
    pattern: str,
    higher: list[VersionInfo],
    names: Mapping[str, Any],
    tag: str,
    prefix: str,
    suffix: str,
    where: str,
) -> str | None:
    """The first of ``higher`` whose value for ``pattern`` is ``tag`` (its raw text)."""
    for other in higher:
        other_names = {
            **names,
            "version": other,
            "major": other.major,
            "minor": other.minor,
            "patch": other.patch,
            "raw": other.raw,
        }
        if finish_tag(prefix, render(pattern, other_names, f"{where}.pattern"), suffix) == tag:
            return other.raw
    return None


def _refuse_shallow(git: GitState, version: VersionInfo, where: str, tag: str) -> None:
    """A shallow clone (actions/checkout's default) lists only the tags it fetched: a backport
    would look like the highest version and take a floating tag. Refuse rather than guess."""
    if version.is_prerelease or git.tags_complete:
        return
    raise TemplateError(
        f"{where}: the floating tag {tag!r} goes to the highest version that makes it, which "
        f"compares {git.tag} with every version tag, but this clone is shallow (or not a git "
        "repository) and may not have them all",
        hint="fetch them (actions/checkout with fetch-depth: 0, or git fetch --unshallow "
        "--tags), or write the pattern {{version}} only",
    )


_EXPRESSION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)


def _invalid_tag_hint(template: str, context: Mapping[str, Any], where: str) -> str:
    """What would make ``template``'s value a tag: slug, when that is what fixes it (the fixed
    template is rendered to show its value); else what is wrong, that slug cannot fix (a
    value that is empty here, or characters written outside ``{{ }}``)."""
    found = list(_EXPRESSION.finditer(template))
    if len(found) == 1:
        alone = render("{{ " + found[0][1] + " }}", context, where)
        if not alone:
            return (
                f'{{{{ {found[0][1]} }}}} is empty here: add when = "{found[0][1]}" to skip '
                "this rule then"
            )
    suggestion = slug_suggestion(template)
    try:
        fixed = render(suggestion, context, where)
    except TemplateError:
        fixed = ""
    if fixed and is_valid_tag(fixed):
        return f"pipe it through slug: {suggestion}, which gives {fixed!r}"
    outside = _EXPRESSION.sub("", template)
    bad = sorted({ch for ch in outside if not (ch.isascii() and (ch.isalnum() or ch in "_.-"))})
    if bad:
        return (
            f"the text outside {{{{ }}}} must be valid in a tag too, and {''.join(bad)!r} is "
            f"not; slugging the whole value would give {slug(render(template, context, where))!r}"
        )
    return f"slug of the whole value would give {slug(render(template, context, where))!r}"


def slug_suggestion(template: str) -> str:
    """The user's template with its expression piped through ``slug``, when it has one."""
    found = list(_EXPRESSION.finditer(template))
    if len(found) == 1:
        start, end = found[0].span()
        return f"{template[:start]}{{{{ {found[0][1]} | slug }}}}{template[end:]}"
    return "{{ git.branch | slug }}"


@functools.lru_cache(maxsize=128)
def _major_only(pattern: str) -> bool:
    """A pattern that names ``major`` and nothing finer (``{{major}}``, ``v{{ major }}``)."""
    from jinja2 import TemplateSyntaxError, meta  # lazy: Jinja2, 0.04-0.05 s

    try:
        used = meta.find_undeclared_variables(environment().parse(pattern))
    except TemplateSyntaxError:
        return False
    return "major" in used and not used & {"minor", "patch", "version", "raw"}
