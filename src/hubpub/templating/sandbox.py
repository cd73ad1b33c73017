"""The sandbox templates run in, and what they see: the Jinja2 environment (made, and Jinja2
imported, on first use; see the package's docstring), Docker Hub's syntax translated, literal
templates rendered without Jinja, the names a template may read (``git``, ``version``, ``match``,
``env``), and the messages of an undefined name or a failed template.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from hubpub.errors import TemplateError
from hubpub.gitstate import GitState
from hubpub.templating import limits
from hubpub.templating.slug import slug
from hubpub.versions import VersionInfo, parse_version

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

# Jinja2 is imported inside the functions that use it, not here: 0.04 to 0.05 s at every start,
# which a config of literal templates never needs (the package's docstring).


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
    from jinja2.utils import missing  # lazy: only Jinja's paths get here, where it is loaded

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
    use: see the package's docstring."""
    from jinja2 import StrictUndefined  # lazy: Jinja2, 0.04-0.05 s
    from jinja2.sandbox import SandboxedEnvironment  # lazy: Jinja2, 0.04-0.05 s

    class _Undefined(StrictUndefined):
        __slots__ = ()

        @property
        def _undefined_message(self) -> str:
            return undefined_message(self._undefined_obj, self._undefined_name)

    class _Bounded(SandboxedEnvironment):
        """The sandbox with the bounds of limits.py on operators, calls and filters."""

        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            return limits.binop(operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            limits.check_arguments(args, kwargs)
            return limits.check_value(super().call(__context, __obj, *args, **kwargs))

    env = _Bounded(
        undefined=_Undefined, finalize=_finalize, autoescape=False, keep_trailing_newline=False
    )
    env.filters["slug"] = slug
    env.filters = {name: limits.checked(f) for name, f in env.filters.items()}
    env.globals["range"] = limits.bounded_range
    del env.globals["lipsum"]  # pages of text on demand: nothing a tag or label needs
    return env


# Docker Hub build rules: {sourceref} is the whole ref name, {\1}…{\9} the regex's groups.
_SOURCEREF = re.compile(r"(?<!\{)\{sourceref\}(?!\})")
_GROUP = re.compile(r"(?<!\{)\{\\([1-9])\}(?!\})")


def translate_dockerhub(text: str) -> str:
    """Docker Hub's ``{sourceref}`` and ``{\\1}`` as Jinja
    (docs/config.md#docker-hub-build-rules)."""
    text = _SOURCEREF.sub("{{ git.ref_name }}", text)
    return _GROUP.sub(r"{{ match[\1] }}", text)


# What opens Jinja syntax (the default delimiters; line statements and comments are off).
_JINJA_OPENERS = ("{{", "{%", "{#")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # Jinja's lexer's newline_re


def is_literal(text: str) -> bool:
    """Whether ``text`` (Docker Hub's ``{sourceref}`` and ``{\\1}`` translated) holds no Jinja
    syntax: Jinja would then parse it as one piece of template data, with no names to check
    and nothing that can fail, and render it as itself (tests/unit/test_templating.py
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


def _fail(where: str, exc: BaseException) -> TemplateError:
    from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError  # lazy: Jinja2

    if isinstance(exc, limits.LimitError):
        return TemplateError(f"{where}: template over hubpub's limits: {exc}")
    if isinstance(exc, RecursionError):
        return TemplateError(
            f"{where}: the template recurses without end (a macro calling itself?)"
        )
    if isinstance(exc, UndefinedError):
        return TemplateError(f"{where}: {exc.message}")
    if isinstance(exc, SecurityError):
        return TemplateError(f"{where}: not allowed in a template: {exc}")
    if isinstance(exc, TemplateSyntaxError):
        return TemplateError(f"{where}: {syntax_message(exc.message)}")
    return TemplateError(f"{where}: {type(exc).__name__}: {limits.shorten(str(exc), 200)}")


def syntax_message(message: str | None) -> str:
    """A syntax error's message as hubpub words it: an unknown filter or test (which Jinja
    finds when it compiles) with the nearest known name."""
    unknown = _UNKNOWN.fullmatch(message or "")
    if unknown:
        kind, name = unknown.groups()
        known = environment().filters if kind == "filter" else environment().tests
        return f"no {kind} {name!r}{_suggestion(name, known)}"
    return f"template syntax error: {message}"


# Jinja's own words for an unknown filter or test (compiler.py).
_UNKNOWN = re.compile(r"No (filter|test) named '([^']*)'(?: found)?\.?")


def _failures() -> tuple[type[BaseException], ...]:
    """What rendering may raise: Jinja's errors, Python's from the template's values, and the
    bounds of limits.py."""
    from jinja2.exceptions import TemplateError as JinjaTemplateError  # lazy: Jinja2, 0.04-0.05 s

    return (
        JinjaTemplateError,
        ArithmeticError,
        TypeError,
        ValueError,
        LookupError,
        RecursionError,
        limits.LimitError,
    )


def render(text: str, context: Mapping[str, Any], where: str) -> str:
    """``text`` rendered in the sandbox, stripped; errors name ``where`` (image and rule)."""
    if is_literal(text):
        return _render_literal(text).strip()
    try:
        # Statements may loop: only they need the watchdog (a thread per rendering).
        with limits.budget(timed="{%" in text):
            value = str(_compile(text).render(context)).strip()
    except _failures() as exc:
        raise _fail(where, exc) from None
    if len(value) > limits.MAX_VALUE:
        raise TemplateError(
            f"{where}: the template renders {len(value)} characters (at most "
            f"{limits.MAX_VALUE}): {limits.shorten(value)!r}"
        )
    return value


def evaluate(expression: str, context: Mapping[str, Any], where: str) -> bool:
    """A ``when`` expression's truth."""
    try:
        with limits.budget(timed=False):  # an expression has no loop but range's, counted
            return bool(_compile_expression(expression)(**context))
    except _failures() as exc:
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
