"""Read ``hubpub.toml``: parse, merge ``[defaults]``, validate, and locate every error.

An error a user can act on names the file and the line, so that an editor can jump there:

* TOML syntax: ``hubpub.toml:3:8: invalid value``;
* validation: ``hubpub.toml:14: image[figlet].tags[2]: unknown key 'patern', did you mean
  'pattern'?`` (pre-commit's breadcrumb, on one line).

Which line each key is on is ``config.lines``' job; what an error says, ``config.messages``'.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hubpub.config.builders import BUILDER_NAME_RE
from hubpub.config.lines import Locations, PathKey, at, display_name, key_lines
from hubpub.config.messages import syntax_message, validation_messages
from hubpub.config.model import Config, ConfigFile
from hubpub.errors import ConfigError, HubpubError, TemplateError
from hubpub.templating import LocatedTemplateError, check_image_templates

# Keys of [[image]] that only make sense for a build, or only for a promotion: an image that
# sets one kind does not inherit the other kind from [defaults] ("an image's own value wins").
_BUILD_KEYS = ("context", "dockerfile", "target", "build_args", "platforms")
_SOURCE_KEYS = ("source",)


def load_config(path: Path) -> Config:
    """Read, merge and validate ``path``; raise :class:`ConfigError` naming file, line and key."""
    path = Path(path).absolute()
    display = display_name(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{at(display)}no such file",
            hint="create one, or pass -c FILE; 'hubpub schema' prints its format",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{at(display)}cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{at(display, line)}not UTF-8 text", hint="TOML files are UTF-8: save it so"
        ) from None
    # Universal newlines, as read_text would: multi-line templates never see a '\r'.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Validate ``text`` as the content of ``path`` (which need not exist: tests, stdin)."""
    path = Path(path).absolute()
    display = display_name(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(syntax_message(display, str(exc))) from None

    merged, inherited = merge_defaults(data)
    locations = Locations(display, key_lines(text), inherited)
    context = {"root": path.parent}
    try:
        ConfigFile.model_validate(merged, context=context)
    except ValidationError as exc:
        raise ConfigError.all(validation_messages(exc, merged, locations)) from None

    config = Config.model_validate({**merged, "path": path, "root": path.parent}, context=context)
    _check_semantics(config, locations)
    _LOADED[path] = locations
    return config


# --- [defaults] --------------------------------------------------------------------------------


def merge_defaults(data: Mapping[str, Any]) -> tuple[dict[str, Any], set[PathKey]]:
    """``data`` with ``[defaults]`` merged into each ``[[image]]`` (the image's own value wins).

    Returns the merged data and the paths whose value came from ``[defaults]``, so an error in
    an inherited value points at the ``[defaults]`` line."""
    merged = dict(data)
    defaults = data.get("defaults")
    images = data.get("image")
    inherited: set[PathKey] = set()
    if not isinstance(defaults, dict) or not isinstance(images, list):
        return merged, inherited
    new_images: list[Any] = []
    for index, image in enumerate(images):
        if not isinstance(image, dict):
            new_images.append(image)
            continue
        skip: tuple[str, ...] = ()
        if any(key in image for key in _SOURCE_KEYS):
            skip = _BUILD_KEYS
        elif any(key in image for key in _BUILD_KEYS):
            skip = _SOURCE_KEYS
        combined = dict(image)
        for key, value in defaults.items():
            if key not in image and key not in skip:
                combined[key] = value
                inherited.add(("image", index, key))
        new_images.append(combined)
    merged["image"] = new_images
    return merged, inherited


# --- checks that need more than one value ------------------------------------------------------


def _check_semantics(config: Config, locations: Locations) -> None:
    """The checks that need more than one value, every failure at once (in file order)."""
    found: list[tuple[int, HubpubError]] = []

    def fail(key: PathKey, error: HubpubError) -> None:
        found.append((locations.line(key) or 1 << 30, error))

    seen: dict[str, int] = {}
    for index, image in enumerate(config.images):
        if image.name in seen:
            key: PathKey = ("image", index, "name")
            fail(
                key,
                ConfigError(
                    f"{locations.where(key)}image[{index}].name: duplicate image name "
                    f"{image.name!r} (image[{seen[image.name]}] has it too)",
                    hint="names are unique: rename one",
                ),
            )
        else:
            seen[image.name] = index
    for name in config.registries:
        if "/" in name or not name.strip():
            key = ("registries", name)
            fail(
                key,
                ConfigError(
                    f"{locations.where(key)}registries: expected a registry host such as "
                    f"'localhost:5000', got {name!r}"
                ),
            )
    for name in config.builders:
        if not BUILDER_NAME_RE.fullmatch(name):
            key = ("builders", name)
            fail(
                key,
                ConfigError(
                    f"{locations.where(key)}builders: expected a name of letters, digits, '.', "
                    f"'_' and '-', got {name!r}"
                ),
            )
    for index, image in enumerate(config.images):
        try:
            check_image_templates(image, config.env)
        except LocatedTemplateError as exc:
            key = ("image", index, *exc.path)
            fail(key, TemplateError(f"{locations.where(key)}{exc}"))
    if len(found) == 1:
        raise found[0][1]
    if found:
        found.sort(key=lambda item: item[0])
        raise ConfigError.all([str(error) for _line, error in found])


# --- errors found after loading ----------------------------------------------------------------


# The locations of each config file this process loaded, by path: an error found after loading
# (a template that fails on this git state) points into the text that was loaded, which is not
# read again.
_LOADED: dict[Path, Locations] = {}


def where_in(path: Path, key: PathKey) -> str:
    """``"file:line: "`` for ``key`` of the config file at ``path``, for errors found after
    loading (a template that fails on this git state). A file this process did not load (a model
    made in code) is read. Best effort: ``"file: "`` at worst."""
    display = display_name(path)
    loaded = _LOADED.get(path)
    if loaded is not None:
        return replace(loaded, display=display).where(key)
    try:
        text = path.read_text(encoding="utf-8")
        _, inherited = merge_defaults(tomllib.loads(text))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return at(display)
    return Locations(display, key_lines(text), inherited).where(key)
