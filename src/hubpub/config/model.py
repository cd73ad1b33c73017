"""The shape of ``hubpub.toml`` (docs/config.md): frozen pydantic models, ``extra="forbid"``.

This module only describes and checks values; reading the file, merging ``[defaults]`` and
turning validation errors into ``file:line: path: message`` lines is ``config.load``'s job.
``schemas/hubpub.schema.json`` is generated from :class:`ConfigFile` (``hubpub schema``).

Tag rules come in three forms (docs/config.md#tag-rules):

* a plain string, a template (``"sha-{{ git.short_sha }}"``);
* a table with ``template`` and optionally ``when``, ``on``, ``match`` (Docker Hub's build rules);
* a table with ``preset`` (metadata-action's types: semver, pep440, ref, sha, edge).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from hubpub import platforms
from hubpub.config.builders import Builder
from hubpub.errors import ReferenceError_
from hubpub.reference import parse_repository

# Names a user types on the command line (--only) and sees in output.
IMAGE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

RefKind = Literal["branch", "tag", "pr", "any"]


def toml_repr(value: Any) -> str:
    """A value as the user wrote it in TOML (true, not True; "x", not 'x')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _latest_input(value: Any) -> Any:
    if value == "auto" or isinstance(value, bool):
        return value
    raise ValueError(f'expected "auto", true or false, got {toml_repr(value)}')


LatestMode = Annotated[Literal["auto", True, False], BeforeValidator(_latest_input)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            # As written in the file: a repr would double every backslash.
            raise ValueError(f"invalid regular expression '{value}': {exc}") from None
    return value


# --- tag rules -----------------------------------------------------------------------------------


class _Rule(_Model):
    when: str | None = Field(
        default=None,
        description="A Jinja expression; the rule applies only when it is true "
        "(e.g. 'git.is_default_branch').",
    )
    immutable: StrictBool = Field(
        default=False,
        description="Tags this rule makes must never move once pushed.",
    )
    priority: StrictInt | None = Field(
        default=None,
        description="Order among rules, high first (metadata-action's priorities: "
        "semver/pep440 900, match 800, edge 700, ref 600, template 200, sha 100).",
    )


class TemplateRule(_Rule):
    """A template, optionally limited to a kind of ref and to refs matching a regex."""

    template: str = Field(
        description="Jinja template of the tag; an empty result skips the rule. Docker Hub's "
        "{sourceref} and {\\1} are accepted.",
    )
    on: RefKind = Field(default="any", description="The kind of ref this rule applies to.")
    match: str | None = Field(
        default=None,
        description="A regex searched in the ref name; match[1]… are its groups, match[0] the "
        "whole ref name. The rule is skipped when it does not match.",
    )

    _check_match = field_validator("match")(_check_regex)


class _PresetRule(_Rule):
    prefix: str | None = Field(default=None, description="Prepended to every tag it makes.")
    suffix: str | None = Field(default=None, description="Appended to every tag it makes.")


class _VersionPreset(_PresetRule):
    pattern: str | tuple[str, ...] | None = Field(
        default=None,
        description="Jinja pattern(s) over version, major, minor, patch, raw; default "
        "['{{version}}', '{{major}}.{{minor}}', '{{major}}']. Pre-releases get only "
        "{{version}} (or {{raw}}).",
    )
    major_zero: StrictBool = Field(
        default=False,
        description="Also make the major-only tag ('0') for 0.x versions.",
    )

    @field_validator("pattern", mode="before")
    @classmethod
    def _pattern_input(cls, value: Any) -> Any:
        # One message for the union: pydantic's would name its members ("pattern.str").
        items = value if isinstance(value, list | tuple) else [value]
        wrong = [item for item in items if not isinstance(item, str)]
        if value is None or not wrong:
            return value
        raise ValueError(f"expected a string or an array of strings, got {toml_repr(wrong[0])}")


class SemverPreset(_VersionPreset):
    preset: Literal["semver"]


class Pep440Preset(_VersionPreset):
    preset: Literal["pep440"]


class RefPreset(_PresetRule):
    preset: Literal["ref"]
    on: RefKind = Field(
        default="any", description="Only branches, tags or pull requests ('any': all three)."
    )


class ShaPreset(_PresetRule):
    preset: Literal["sha"]
    format: Literal["short", "long"] = Field(
        default="short", description="'short': 7 hex characters; 'long': the full sha."
    )


class EdgePreset(_PresetRule):
    preset: Literal["edge"]
    branch: str | None = Field(
        default=None, description="The branch that gets 'edge' (default: the default branch)."
    )


PresetRule = SemverPreset | Pep440Preset | RefPreset | ShaPreset | EdgePreset
Rule = TemplateRule | PresetRule

PRESET_MODELS: dict[str, type[_PresetRule]] = {
    "semver": SemverPreset,
    "pep440": Pep440Preset,
    "ref": RefPreset,
    "sha": ShaPreset,
    "edge": EdgePreset,
}


def rule_kind(value: Any) -> str | None:
    """Which form of tag rule ``value`` is: the discriminator of :data:`TagRule`.

    A callable discriminator (not a union) so that an error names the one form the user meant
    instead of listing why the value fits none of the seven."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, BaseModel):
        preset = getattr(value, "preset", None)
        return str(preset) if preset is not None else "template"
    if isinstance(value, dict):
        if "preset" in value:
            preset = value["preset"]
            return preset if isinstance(preset, str) and preset in PRESET_MODELS else None
        return "template"
    return None


TagRule = Annotated[
    Annotated[str, Tag("string")]
    | Annotated[TemplateRule, Tag("template")]
    | Annotated[SemverPreset, Tag("semver")]
    | Annotated[Pep440Preset, Tag("pep440")]
    | Annotated[RefPreset, Tag("ref")]
    | Annotated[ShaPreset, Tag("sha")]
    | Annotated[EdgePreset, Tag("edge")],
    Discriminator(
        rule_kind,
        custom_error_type="invalid_rule",
        custom_error_message="expected a template string, a table with 'template', or a table "
        "with 'preset' (semver, pep440, ref, sha, edge)",
    ),
]

DEFAULT_TAGS: tuple[TagRule, ...] = (RefPreset(preset="ref"),)


def as_rule(value: str | Rule) -> Rule:
    """The table form of a rule: a plain string is ``{ template = ... }``."""
    return TemplateRule(template=value) if isinstance(value, str) else value


# --- images --------------------------------------------------------------------------------------


class ImageDefaults(_Model):
    """Every ``[[image]]`` key but ``name``; ``[defaults]`` has this shape."""

    context: str | None = Field(
        default=None,
        description="Build context folder, relative to the config file's folder. "
        "Exactly one of context and source.",
    )
    dockerfile: str = Field(
        default="Dockerfile", description="Relative to the context (Docker Hub's rule)."
    )
    context_outside_repository: StrictBool = Field(
        default=False,
        description="Allow a context or Dockerfile outside the git work tree of the config "
        "(its files are then published without being checked against the commit).",
    )
    target: str | None = Field(default=None, description="Multi-stage build target.")
    build_args: dict[str, str] = Field(
        default_factory=dict, description="Build arguments; values are templates."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Image labels; values are templates."
    )
    builder: Literal["auto", "buildkit", "classic"] = Field(
        default="auto",
        description="'auto': the engine's BuildKit when it has one (API 1.39 or later), else "
        "the classic builder; 'buildkit' or 'classic' to insist on one.",
    )
    network: Literal["default", "none", "host"] = Field(
        default="default",
        description="The network of RUN steps ('none' on an engine without a bridge network).",
    )
    cache_from: tuple[str, ...] = Field(
        default=(),
        description="Images whose layers the build may reuse (templates), e.g. the branch tag "
        "published last time; with BuildKit they need inline_cache when they were built.",
    )
    inline_cache: StrictBool = Field(
        default=False,
        description="Write BuildKit's cache metadata into the image (build arg "
        "BUILDKIT_INLINE_CACHE=1), so that a later build may name it in cache_from.",
    )
    platforms: tuple[str, ...] | None = Field(
        default=None,
        # Not []: it would build for the engine's platform, as unset does, silently (and, from
        # an image, drop [defaults]' list); naming that one platform says so (docs/config.md).
        min_length=1,
        description="Build for these platforms ('os/arch[/variant]', e.g. 'linux/arm64'), at "
        "least one: two or more make an OCI image index; default: the engine's platform.",
    )
    source: str | None = Field(
        default=None,
        description="Publish this existing image (a template) instead of building one: a "
        "registry reference, 'oci:<dir>[:<ref>]' (an OCI image layout) or "
        "'docker-archive:<file>[:<repo:tag>]' (what docker save writes), relative to the "
        "config file's folder.",
    )
    repositories: tuple[str, ...] = Field(
        default=(),
        description="Where to publish, without tags: docker.io/user/name, ghcr.io/user/name.",
    )
    latest: LatestMode = Field(
        default="auto",
        description="'auto': 'latest' for the highest stable version tag; true: always; "
        "false: never.",
    )
    latest_suffix: str = Field(
        default="", description="Appended to 'latest' (variants: 'latest-alpine')."
    )
    tags: tuple[TagRule, ...] = Field(
        default=DEFAULT_TAGS,
        description="Tag rules: templates, {template, when, on, match} tables, or {preset} tables.",
    )

    @field_validator("repositories")
    @classmethod
    def _check_repositories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                parse_repository(text)
            except ReferenceError_ as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("platforms")
    @classmethod
    def _check_platforms(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else platforms.normalize_all(value)

    @field_validator("context", "dockerfile")
    @classmethod
    def _check_relative(cls, value: str | None) -> str | None:
        if value is not None and Path(value).is_absolute():
            raise ValueError(f"expected a relative path, got {value!r}")
        return value


class Image(ImageDefaults):
    """One ``[[image]]``: what to build (or promote) and under which references."""

    name: str = Field(description="Unique; used in output and in --only.")
    repositories: tuple[str, ...] = Field(
        min_length=1,
        description="Where to publish, without tags: docker.io/user/name, ghcr.io/user/name.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not IMAGE_NAME_RE.fullmatch(value):
            raise ValueError(f"expected a name of letters, digits, '.', '_' and '-', got {value!r}")
        return value

    @model_validator(mode="after")
    def _build_or_source(self) -> Image:
        if (self.context is None) == (self.source is None):
            raise ValueError(
                "set exactly one of 'context' (build the image) and 'source' (publish an "
                "existing image)"
            )
        if self.source is not None and self.platforms is not None:
            raise ValueError(
                "'platforms' is for a build: a 'source' is copied with all its platforms"
            )
        return self

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(as_rule(rule) for rule in self.tags)


# --- registries and the file ---------------------------------------------------------------------


class RegistryConfig(_Model):
    """Per-registry-host settings (``[registries."host:port"]``)."""

    insecure: StrictBool = Field(
        default=False,
        description="Allow plain HTTP to this registry (loopback hosts may use plain HTTP "
        "anyway, as Docker allows). TLS is always verified: use ca_file for a private CA.",
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle for this registry, relative to the config file."
    )
    username_env: str | None = Field(
        default=None, description="Environment variable holding the username."
    )
    password_env: str | None = Field(
        default=None, description="Environment variable holding the password or token."
    )

    @field_validator("ca_file", mode="before")
    @classmethod
    def _ca_file_string(cls, value: Any) -> Any:
        if not isinstance(value, str | Path):
            raise ValueError(f"expected a file path, got {value!r}")
        return value

    @field_validator("ca_file")
    @classmethod
    def _resolve_ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Relative to the config file's folder; absolute in Config (docs/config.md, `ca_file`).
        root = (info.context or {}).get("root")
        if value is not None and root is not None and not value.is_absolute():
            value = (Path(root) / value).resolve()
        return value

    @field_validator("username_env", "password_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME_RE.fullmatch(value):
            # Not echoed: what sits here by mistake is often the secret itself.
            raise ValueError(
                "expected the name of an environment variable (letters, digits, '_'), not its value"
            )
        return value

    @model_validator(mode="after")
    def _env_pair(self) -> RegistryConfig:
        # credentials.py reads the pair or nothing: one alone would be silently ignored.
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError(
                "username_env and password_env go together: set both, or neither to use "
                "the Docker config"
            )
        return self


class ConfigFile(_Model):
    """The whole ``hubpub.toml``."""

    model_config = ConfigDict(title="hubpub.toml", populate_by_name=False)

    version: Literal[1] = Field(description="The format's version: 1.")
    env: tuple[str, ...] = Field(
        default=(),
        description="The only environment variables templates may read, as env.NAME.",
    )
    default_branch: str | None = Field(
        default=None,
        description="The default branch, when git's origin/HEAD and CI do not say (else 'main').",
    )
    registries: dict[str, RegistryConfig] = Field(
        default_factory=dict, description="Per registry host (e.g. 'localhost:5000')."
    )
    builders: dict[str, Builder] = Field(
        default_factory=dict, description="Engines that build some platforms (by name)."
    )
    defaults: ImageDefaults | None = Field(
        default=None, description="Any [[image]] key; an image's own value wins."
    )
    images: tuple[Image, ...] = Field(
        alias="image", min_length=1, description="The images this repository publishes."
    )

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not ENV_NAME_RE.fullmatch(name):
                raise ValueError(f"expected environment variable names, got {name!r}")
        return value


class Config(ConfigFile):
    """A loaded config: the file's content plus where it lives (``path``, ``root``)."""

    path: SkipJsonSchema[Path] = Field(description="The config file, absolute.")
    root: SkipJsonSchema[Path] = Field(description="Its folder: contexts are relative to it.")

    def image(self, name: str) -> Image:
        for image in self.images:
            if image.name == name:
                return image
        raise KeyError(name)


def json_schema() -> dict[str, Any]:
    """The JSON schema of ``hubpub.toml`` (checked in as ``schemas/hubpub.schema.json``)."""
    schema = _without_null(ConfigFile.model_json_schema(by_alias=True))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _without_null(node: Any) -> Any:
    """TOML has no null: an optional key is simply left out, so ``anyOf [X, null]`` is ``X``
    and a ``null`` default is no default (editors then complete the real types)."""
    if isinstance(node, list):
        return [_without_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _without_null(value) for key, value in node.items() if value is not None}
    options = out.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            del out["anyOf"]
            out = {**kept[0], **out}
        elif len(kept) != len(options):
            out["anyOf"] = kept
    return out
