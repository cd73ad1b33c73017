"""What a config error says: the TOML syntax error and the validation error as one line each,
with pre-commit's breadcrumb (``image[figlet].tags[2]``) and "did you mean" suggestions.

Where the error is (``file:line: ``) comes from ``config.lines``; this module only words it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hubpub.config.builders import Builder, BuilderTLS
from hubpub.config.lines import Locations, PathKey, at
from hubpub.config.model import (
    PRESET_MODELS,
    ConfigFile,
    Image,
    ImageDefaults,
    RegistryConfig,
    TemplateRule,
    rule_kind,
    toml_repr,
)

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_EOF = re.compile(r"\s*\(at end of document\)\s*$")


def syntax_message(display: str, message: str) -> str:
    match = _TOML_POS.search(message)
    if match:
        text = message[: match.start()]
        return f"{at(display, int(match[1]), int(match[2]))}{_lower_first(text)} (TOML syntax)"
    match = _TOML_EOF.search(message)
    if match:
        return f"{at(display)}{_lower_first(message[: match.start()])} at end of file (TOML syntax)"
    return f"{at(display)}{_lower_first(message)} (TOML syntax)"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def validation_messages(
    exc: ValidationError, data: Mapping[str, Any], locations: Locations
) -> list[str]:
    """Every validation error, one line each, in file order, so that one run shows them all. An
    error said again by inheritance (a bad ``[defaults]`` value fails again in every image) is
    said once, at the ``[defaults]`` line that holds the value."""
    errors = _relevant(exc.errors(include_url=False))
    ordered = sorted(errors, key=lambda e: locations.line(_clean_loc(e["loc"])) or 1 << 30)
    lines: list[str] = []
    seen: set[tuple[str, str | int | None]] = set()
    for error in ordered:
        loc = _clean_loc(error["loc"])
        where = locations.where(loc)
        # The same key on the same line is one mistake, whichever table inherited it.
        said = (where, loc[-1] if loc else None)
        if said in seen:
            continue
        seen.add(said)
        message = _describe(error, loc, data)
        breadcrumb = breadcrumb_of(loc, data)
        prefix = f"{breadcrumb}: " if breadcrumb else ""
        lines.append(f"{where}{prefix}{message}")
    return lines


def _relevant(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop an error whose location is a parent of another's: a tuple that is "too short"
    only because its one item failed says nothing new. Drop a missing key, too, when its
    table has an unknown key: ``repositorys`` is the cause of "missing 'repositories'", and
    "did you mean 'repositories'?" is the message that says what to do."""
    locs = [tuple(error["loc"]) for error in errors]
    unknown_in = {
        loc[:-1]
        for error, loc in zip(errors, locs, strict=True)
        if error["type"] == "extra_forbidden"
    }
    kept = [
        error
        for error, loc in zip(errors, locs, strict=True)
        if not any(other != loc and other[: len(loc)] == loc for other in locs)
        and not (error["type"] == "missing" and loc[:-1] in unknown_in)
    ]
    return kept or errors


def _clean_loc(loc: Sequence[str | int]) -> PathKey:
    """pydantic's location without the union tag it inserts after a rule's index
    (``tags.1.semver.patern`` is ``tags[1].patern``)."""
    out: list[str | int] = []
    skip_next_tag = False
    for part in loc:
        if skip_next_tag and isinstance(part, str) and part in _RULE_TAGS:
            skip_next_tag = False
            continue
        skip_next_tag = bool(out) and out[-1] == "tags" and isinstance(part, int)
        if part != "[key]":
            out.append(part)
    return tuple(out)


_RULE_TAGS = frozenset({"string", "template", *PRESET_MODELS})


def breadcrumb_of(loc: PathKey, data: Mapping[str, Any]) -> str:
    """``image[figlet].tags[2].pattern``: images by name, other arrays by index."""
    parts: list[str] = []
    value: Any = data
    for part in loc:
        if isinstance(part, int):
            name = value[part].get("name") if _indexable(value, part) else None
            if parts and parts[-1] == "image" and isinstance(name, str) and name:
                parts[-1] = f"image[{name}]"
            else:
                parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
            value = value[part] if _indexable(value, part) else None
        else:
            if parts and parts[-1] in ("registries", "builders"):
                parts[-1] = f"{parts[-1]}[{part}]"
            else:
                parts.append(part)
            value = value.get(part) if isinstance(value, dict) else None
    return ".".join(parts)


def _indexable(value: Any, index: int) -> bool:
    return isinstance(value, list) and 0 <= index < len(value) and isinstance(value[index], dict)


_TYPE_WORDS = {
    "string_type": "a string",
    "bool_type": "true or false",
    "int_type": "an integer",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "path_type": "a file path",
}


def _describe(error: ErrorDetails, loc: PathKey, data: Mapping[str, Any]) -> str:
    kind = error["type"]
    got = toml_repr(error.get("input"))
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        allowed = allowed_keys(loc[:-1], data)
        return unknown_key_message(key, allowed)
    if kind == "missing":
        return f"missing required key '{loc[-1]}'" if loc else "missing required key"
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} item(s), got none"
    if kind == "greater_than_equal":
        return f"expected {ctx.get('ge')} or more, got {got}"
    if kind == "invalid_rule":
        value = error.get("input")
        if isinstance(value, dict) and "preset" in value:
            return unknown_preset_message(value["preset"])
        return f"{error['msg']}, got {got}"
    if kind == "value_error":
        cause = ctx.get("error")
        return str(cause) if cause is not None else error["msg"]
    return f"{_lower_first(error['msg'])}, got {got}"


def unknown_key_message(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}', did you mean '{close[0]}'?"
    if allowed:
        return f"unknown key '{key}' (expected one of: {', '.join(sorted(allowed))})"
    return f"unknown key '{key}'"


def unknown_preset_message(value: Any) -> str:
    names = list(PRESET_MODELS)
    if isinstance(value, str):
        close = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
        if close:
            return f"unknown preset '{value}', did you mean '{close[0]}'?"
    return f"unknown preset {toml_repr(value)} (expected one of: {', '.join(names)})"


def allowed_keys(parent: PathKey, data: Mapping[str, Any]) -> list[str]:
    """The keys the table at ``parent`` may have, for "did you mean" suggestions."""
    value: Any = data
    for part in parent:
        value = _step(value, part)
    model: type[BaseModel] | None = None
    if not parent:
        model = ConfigFile
    elif parent == ("defaults",):
        model = ImageDefaults
    elif len(parent) == 2 and parent[0] == "image":
        model = Image
    elif len(parent) == 2 and parent[0] == "registries":
        model = RegistryConfig
    elif len(parent) == 2 and parent[0] == "builders":
        model = Builder
    elif len(parent) == 3 and parent[0] == "builders" and parent[2] == "tls":
        model = BuilderTLS
    elif (len(parent) == 4 and parent[0] == "image" and parent[2] == "tags") or (
        len(parent) == 3 and parent[:2] == ("defaults", "tags")
    ):
        kind = rule_kind(value)
        model = TemplateRule if kind == "template" else PRESET_MODELS.get(kind or "")
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _step(value: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return value[part] if isinstance(value, list) and 0 <= part < len(value) else None
    return value.get(part) if isinstance(value, dict) else None
