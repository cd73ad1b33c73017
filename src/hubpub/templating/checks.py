"""Static checks of an image's templates at load time, with no git state: syntax, unknown
names, unlisted environment variables; an error carries the key path for load's file:line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hubpub.config.model import Image, Pep440Preset, SemverPreset, TemplateRule
from hubpub.templating.rules import patterns_of
from hubpub.templating.sandbox import (
    GIT_NAMES,
    PATTERN_NAMES,
    RULE_NAMES,
    VALUE_NAMES,
    VERSION_NAMES,
    LocatedTemplateError,
    _Namespace,
    environment,
    is_literal,
    syntax_message,
    translate_dockerhub,
    undefined_message,
)

if TYPE_CHECKING:
    from jinja2 import nodes

# Jinja2 is imported inside the functions that use it, not here: 0.04 to 0.05 s at every start,
# which a config of literal templates never needs (the package's docstring).


def check_template(text: str, allowed: frozenset[str], env_names: Iterable[str]) -> str | None:
    """Why ``text`` cannot render, found without rendering: syntax, unknown names, unlisted
    environment variables. ``None`` when it looks fine."""
    if is_literal(text):
        return None
    from jinja2 import TemplateSyntaxError  # lazy: Jinja2, 0.04-0.05 s

    try:
        tree = environment().parse(translate_dockerhub(text))
    except TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    return _check_tree(tree, allowed, env_names)


def check_expression(text: str, allowed: frozenset[str], env_names: Iterable[str]) -> str | None:
    from jinja2 import TemplateSyntaxError, nodes  # lazy: Jinja2, 0.04-0.05 s
    from jinja2.parser import Parser  # lazy: Jinja2, 0.04-0.05 s

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
    from jinja2 import TemplateSyntaxError, meta, nodes  # lazy: Jinja2, 0.04-0.05 s
    from jinja2.utils import missing  # lazy: Jinja2, 0.04-0.05 s

    try:
        undeclared = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as exc:  # found while compiling: an unknown filter or test
        return syntax_message(exc.message)
    unknown = sorted(undeclared - allowed - set(environment().globals))
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
