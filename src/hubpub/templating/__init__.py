"""Tag templates, presets, slugging and versions: from an image's tag rules and the git state to
the list of tag values (issue 3, "Rules").

* Templates are Jinja2 in a :class:`~jinja2.sandbox.SandboxedEnvironment` whose undefined is
  strict: reading a name that does not exist is an error naming the image, the rule and the name.
  ``None`` renders as the empty string, so ``"{{ git.branch }}"`` on a tag build is skipped.
* Presets copy docker/metadata-action (src/meta.ts, src/tag.ts): priorities, pre-release
  handling, ``sha-`` + 7, ``pr-<n>``, slugging. hubpub's improvements (tag-semantics.md, "Most
  reported problems"): no ``0`` tag for 0.x unless ``major_zero``; ``latest = "auto"`` only for
  the highest stable version among the repository's tags; prefix/suffix on any preset;
  ``latest_suffix``.
* Everything here is pure: no git, no files, no environment beyond what is passed in.
* Jinja2 is imported only when a template or expression has Jinja syntax in it (0.04 to 0.05 s
  at every start, plus its lexer on first use): a literal template (``"1.4.2"``, ``"edge"``),
  which many configs only have, renders as itself, as Jinja would render it (:func:`is_literal`).
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

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
from hubpub.versions import (
    VersionInfo,
    is_highest_stable,
    parse_pep440,
    parse_semver,
    parse_version,
)

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.sandbox import SandboxedEnvironment

log = logging.getLogger("hubpub.templating")

MAX_TAG = 128
SHORT_SHA = 7  # metadata-action's default; changing it broke users (#467, #479, #480)

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


# --- slugging ----------------------------------------------------------------------------------

_UNSAFE_RUN = re.compile(r"[^a-zA-Z0-9._-]+")


def sanitize(value: str) -> str:
    """metadata-action's ``sanitizeTag``: runs of characters a tag cannot hold become ``-``."""
    return _UNSAFE_RUN.sub("-", value)


def slug(value: Any) -> str:
    """A valid tag made of ``value`` ('' when nothing is left): ``my/branch`` → ``my-branch``.

    Beyond metadata-action's sanitizing, leading ``.`` and ``-`` are dropped and the result is
    cut at 128 characters, so a slug is always a valid tag or empty."""
    if value is None:
        return ""
    return sanitize(str(value)).lstrip(".-")[:MAX_TAG]


def finish_tag(prefix: str, value: str, suffix: str) -> str:
    """``prefix + value + suffix`` slugged, cut in the middle so a variant's suffix survives."""
    text = sanitize(f"{prefix}{value}{suffix}").lstrip(".-")
    if len(text) > MAX_TAG:
        tail = sanitize(suffix)
        keep = MAX_TAG - len(tail)
        text = text[:keep] + tail if keep > 0 else text[:MAX_TAG]
    return text if is_valid_tag(text) else ""


# --- the sandbox -------------------------------------------------------------------------------


class _Namespace:
    """``git``, ``env``: attribute access to a fixed set of names; anything else is undefined
    with a message naming ``git.nope``."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self._name = name
        self._values = dict(values)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __repr__(self) -> str:
        return f"<{self._name}>"


class _Groups(tuple[str | None, ...]):
    """``match``: ``match[0]`` the whole ref name, ``match[1]``… the regex's groups."""


def undefined_message(obj: Any, name: Any, known: Iterable[str] = ()) -> str:
    """Why ``obj.name`` (or the bare ``name`` when ``obj`` is jinja's ``missing``) is undefined,
    with the nearest of the ``known`` names as what to write instead."""
    from jinja2.utils import missing  # only Jinja's paths get here: it is loaded

    if obj is missing:
        return f"'{name}' is undefined{_suggestion(str(name), known)}"
    if isinstance(obj, _Namespace):
        if obj._name == "env":
            return (
                f"environment variable '{name}' is not listed in env "
                f"(add it to env = [...] at the top of the file)"
            )
        prefix = f"{obj._name}."
        return (
            f"'{prefix}{name}' is undefined{_suggestion(str(name), known or obj._values, prefix)}"
        )
    if isinstance(obj, _Groups):
        return f"'match[{name}]' is undefined (the rule's regex has {len(obj) - 1} group(s))"
    if obj is None:
        return (
            f"cannot read '{name}' of a none value (version is none unless the ref is a "
            f'version tag; guard the rule with when = "version")'
        )
    return f"{type(obj).__name__} has no attribute '{name}'"


def _suggestion(name: str, known: Iterable[str], prefix: str = "") -> str:
    names = sorted(known)
    if not names:
        return ""
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f" (did you mean '{prefix}{close[0]}'?)"
    return f" (write one of: {', '.join(prefix + known_name for known_name in names)})"


def _finalize(value: Any) -> Any:
    return "" if value is None else value


@functools.cache
def environment() -> SandboxedEnvironment:
    """The sandbox every template and expression runs in, made (and Jinja2 imported) on first
    use: see the module's docstring."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    class _Undefined(StrictUndefined):
        __slots__ = ()

        @property
        def _undefined_message(self) -> str:
            return undefined_message(self._undefined_obj, self._undefined_name)

    env = SandboxedEnvironment(
        undefined=_Undefined, finalize=_finalize, autoescape=False, keep_trailing_newline=False
    )
    env.filters["slug"] = slug
    return env


# Docker Hub build rules: {sourceref} is the whole ref name, {\1}…{\9} the regex's groups.
_SOURCEREF = re.compile(r"(?<!\{)\{sourceref\}(?!\})")
_GROUP = re.compile(r"(?<!\{)\{\\([1-9])\}(?!\})")


def translate_dockerhub(text: str) -> str:
    """Docker Hub's ``{sourceref}`` and ``{\\1}`` as Jinja (tag-semantics.md, "Docker Hub")."""
    text = _SOURCEREF.sub("{{ git.ref_name }}", text)
    return _GROUP.sub(r"{{ match[\1] }}", text)


# What opens Jinja syntax (the default delimiters; line statements and comments are off).
_JINJA_OPENERS = ("{{", "{%", "{#")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # Jinja's lexer's newline_re


def is_literal(text: str) -> bool:
    """Whether ``text`` (Docker Hub's ``{sourceref}`` and ``{\\1}`` translated) holds no Jinja
    syntax: Jinja would then parse it as one piece of template data, with no names to check
    and nothing that can fail, and render it as itself (tests/unit/test_templating_property.py
    compares the two). Translation only ever adds ``{{``: a literal is ``text`` unchanged."""
    translated = translate_dockerhub(text)
    return not any(opener in translated for opener in _JINJA_OPENERS)


def _render_literal(text: str) -> str:
    """What Jinja renders for template data: newlines normalized to ``\\n`` and the one
    trailing newline dropped (its lexer's tokeniter, keep_trailing_newline=False)."""
    lines = _NEWLINE.split(text)
    if lines[-1] == "":
        del lines[-1]
    return "\n".join(lines)


@functools.lru_cache(maxsize=512)
def _compile(text: str) -> Any:
    return environment().from_string(translate_dockerhub(text))


@functools.lru_cache(maxsize=512)
def _compile_expression(text: str) -> Any:
    return environment().compile_expression(text, undefined_to_none=False)


# --- errors ------------------------------------------------------------------------------------


class LocatedTemplateError(TemplateError):
    """A template error with the key path inside the image (``("tags", 2)``), for load's
    file:line prefix."""

    def __init__(
        self, message: str, path: tuple[str | int, ...], *, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path


def _fail(where: str, exc: Exception) -> TemplateError:
    from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

    if isinstance(exc, UndefinedError):
        return TemplateError(f"{where}: {exc.message}")
    if isinstance(exc, SecurityError):
        return TemplateError(f"{where}: not allowed in a template: {exc}")
    if isinstance(exc, TemplateSyntaxError):
        return TemplateError(f"{where}: template syntax error: {exc.message}")
    return TemplateError(f"{where}: {type(exc).__name__}: {exc}")


def render(text: str, context: Mapping[str, Any], where: str) -> str:
    """``text`` rendered in the sandbox, stripped; errors name ``where`` (image and rule)."""
    if is_literal(text):
        return _render_literal(text).strip()
    from jinja2.exceptions import TemplateError as JinjaTemplateError

    try:
        return str(_compile(text).render(context)).strip()
    except (JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise _fail(where, exc) from None


def evaluate(expression: str, context: Mapping[str, Any], where: str) -> bool:
    """A ``when`` expression's truth."""
    from jinja2.exceptions import TemplateError as JinjaTemplateError

    try:
        return bool(_compile_expression(expression)(**context))
    except (JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise _fail(where, exc) from None


# --- what templates see ------------------------------------------------------------------------

GIT_NAMES = frozenset(f.name for f in fields(GitState) if f.metadata.get("template", True))
VERSION_NAMES = frozenset(f.name for f in fields(VersionInfo) if not f.name.startswith("_")) | {
    "is_stable"
}
RULE_NAMES = frozenset({"git", "version", "match", "env"})
PATTERN_NAMES = RULE_NAMES | {"major", "minor", "patch", "raw"}
VALUE_NAMES = frozenset({"git", "version", "env"})


def base_context(git: GitState, env: Mapping[str, str]) -> dict[str, Any]:
    """Names every template sees. ``env`` holds only the variables listed in ``env``."""
    values = {name: getattr(git, name) for name in GIT_NAMES}
    return {
        "git": _Namespace("git", values),
        "version": parse_version(git.tag) if git.tag is not None else None,
        "match": _Groups((git.ref_name,)),
        "env": _Namespace("env", env),
    }


def listed_env(names: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The listed variables; one listed but unset reads as '' (so ``validate`` works on a
    laptop where CI's variables are missing)."""
    return {name: environ.get(name, "") for name in names}


# --- static checks (load time: no git state needed) ---------------------------------------------


def check_template(text: str, allowed: frozenset[str], env_names: Iterable[str]) -> str | None:
    """Why ``text`` cannot render, found without rendering: syntax, unknown names, unlisted
    environment variables. ``None`` when it looks fine."""
    if is_literal(text):
        return None
    from jinja2 import TemplateSyntaxError

    try:
        tree = environment().parse(translate_dockerhub(text))
    except TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    return _check_tree(tree, allowed, env_names)


def check_expression(text: str, allowed: frozenset[str], env_names: Iterable[str]) -> str | None:
    from jinja2 import TemplateSyntaxError, nodes
    from jinja2.parser import Parser

    # Parsed as an expression, as compile_expression does, not wrapped in "{{ (...) }}": an
    # error then speaks of what the user wrote ("unexpected ')'" named a parenthesis of ours).
    try:
        parser = Parser(environment(), text, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            extra = parser.stream.current.value
            return f"expression syntax error: unexpected {extra!r} in {text.strip()!r}"
    except TemplateSyntaxError as exc:
        message = (exc.message or "").replace("'end of template'", "end of template")
        message = message.replace("end of template", "end of the expression")
        return f"expression syntax error: {message}"
    tree = nodes.Template([nodes.Output([expression])])
    tree.set_environment(environment())  # what the parser would have done for a template
    return _check_tree(tree, allowed, env_names)


def _check_tree(
    tree: nodes.Template, allowed: frozenset[str], env_names: Iterable[str]
) -> str | None:
    from jinja2 import meta, nodes
    from jinja2.utils import missing

    unknown = sorted(meta.find_undeclared_variables(tree) - allowed - set(environment().globals))
    if unknown:
        return undefined_message(missing, unknown[0], allowed)
    listed = set(env_names)
    known = {"git": GIT_NAMES, "version": VERSION_NAMES}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        if not isinstance(target, nodes.Name) or target.ctx != "load":
            continue
        if isinstance(node, nodes.Getattr):
            key: Any = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
        else:
            continue
        if target.name == "env" and key not in listed:
            return undefined_message(_Namespace("env", {}), key)
        if target.name in known and key not in known[target.name]:
            return undefined_message(_Namespace(target.name, {}), key, known[target.name])
    return None


def check_image_templates(image: Image, env_names: Iterable[str]) -> None:
    """Every template of ``image`` checked statically: an error names the image and the rule,
    and carries the key path for load's file:line."""
    names = tuple(env_names)

    def fail(path: tuple[str | int, ...], label: str, problem: str) -> None:
        raise LocatedTemplateError(f"image '{image.name}', {label}: {problem}", path)

    for index, rule in enumerate(image.rules):
        label = f"tags[{index}]"
        path: tuple[str | int, ...] = ("tags", index)
        if rule.when is not None:
            problem = check_expression(rule.when, RULE_NAMES, names)
            if problem:
                fail((*path, "when"), f"{label}.when", problem)
        if isinstance(rule, TemplateRule):
            problem = check_template(rule.template, RULE_NAMES, names)
            if problem:
                fail(path, label, problem)
        elif isinstance(rule, SemverPreset | Pep440Preset) and rule.pattern is not None:
            # The default patterns need no check (test_default_patterns_pass_the_static_check):
            # checking them would load Jinja for every config with a semver preset.
            for pattern in patterns_of(rule):
                problem = check_template(pattern, PATTERN_NAMES, names)
                if problem:
                    fail((*path, "pattern"), f"{label}.pattern", problem)
    for key in ("build_args", "labels"):
        mapping: Mapping[str, str] = getattr(image, key)
        for name, value in mapping.items():
            problem = check_template(value, VALUE_NAMES, names)
            if problem:
                fail((key, name), f"{key}.{name}", problem)
    if image.source is not None:
        problem = check_template(image.source, VALUE_NAMES, names)
        if problem:
            fail(("source",), "source", problem)


# --- rules → tag values ------------------------------------------------------------------------


@dataclass(frozen=True)
class TagValue:
    tag: str
    rule: str  # "tags[1] (preset semver)", for messages and plans
    immutable: bool


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
        for tag, immutable in produced:
            if not tag:
                continue
            if latest_vote is None:
                latest_vote = vote
            if tag not in seen:
                seen.add(tag)
                values.append(TagValue(tag, label, immutable or rule.immutable))
    if values and _wants_latest(image, git, latest_vote):
        tag = finish_tag("", "latest", image.latest_suffix)
        if tag and tag not in seen:
            values.append(TagValue(tag, f"latest (latest = {_latest_text(image)})", False))
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
        # latest = "auto" exists to prevent (issue 3). Refuse rather than guess.
        raise LocatedTemplateError(
            f"image '{image.name}': latest = \"auto\" compares {git.tag} with every version "
            "tag, but this clone is shallow (or not a git repository) and may not have them all",
            ("latest",),
            hint="fetch them (actions/checkout with fetch-depth: 0, or git fetch --unshallow "
            "--tags), or set latest = true or false for this image",
        )
    return is_highest_stable(git.tag, git.version_tags)


Produced = tuple[list[tuple[str, bool]], bool]


def _run_rule(rule: Rule, git: GitState, context: dict[str, Any], where: str) -> Produced:
    """One rule's values (each with its immutability) and its vote for ``latest``."""
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
            return [(finish_tag("pr-" if prefix is None else prefix, number, suffix), False)], False
        name = git.branch if kind == "branch" else git.tag
        return [(finish_tag(prefix or "", name or "", suffix), False)], kind == "tag"
    if isinstance(rule, ShaPreset):
        if not git.sha:
            return [], False
        value = git.sha if rule.format == "long" else git.sha[:SHORT_SHA]
        return [(finish_tag("sha-" if prefix is None else prefix, value, suffix), False)], False
    if isinstance(rule, EdgePreset):
        branch = rule.branch or git.default_branch
        if kind != "branch" or git.branch != branch:
            return [], False
        return [(finish_tag(prefix or "", "edge", suffix), False)], False
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
            f"{where}: {value!r} is not a valid tag (letters, digits, '_', '.', '-'; "
            f"128 at most; not starting with '.' or '-')",
            hint=_invalid_tag_hint(rule.template, context, where),
        )
    # A template with `match` is metadata-action's `match` type, which votes for latest.
    return [(value, False)], rule.match is not None


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
    out: list[tuple[str, bool]] = []
    for pattern in patterns_of(rule):
        is_raw = re.fullmatch(r"\{\{\s*raw\s*\}\}", pattern) is not None
        if version.is_prerelease and not is_raw:
            # Every pattern falls back to the full version for a pre-release (meta.ts).
            value = version.text
        else:
            if version.major == 0 and not rule.major_zero and _major_only(pattern):
                continue  # hubpub: no "0" tag for 0.x unless asked (tag-semantics.md)
            value = render(pattern, names, f"{where}.pattern")
        tag = finish_tag(prefix, value, suffix)
        out.append((tag, tag == full))
    return out, version.is_stable


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
    from jinja2 import TemplateSyntaxError, meta

    try:
        used = meta.find_undeclared_variables(environment().parse(pattern))
    except TemplateSyntaxError:
        return False
    return "major" in used and not used & {"minor", "patch", "version", "raw"}
