"""Options shared by ``tags``, ``plan`` and ``apply``, so all three agree on what is desired."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hubpub.platforms import normalize

F = TypeVar("F", bound=Callable[..., Any])


DEFAULT_CONFIG = Path("hubpub.toml")


def _config_path(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    """The command's ``-c``, else the one given before the command (``hubpub -c F plan``)."""
    if value is not None:
        return value
    before = (ctx.find_root().obj or {}).get("config_path")
    return before if isinstance(before, Path) else DEFAULT_CONFIG


def config_option(func: F) -> F:
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        callback=_config_path,
        show_default="hubpub.toml",
        help="The hubpub config file.",
    )(func)


def selection_options(func: F) -> F:
    """``--ref``, ``--sha`` (override git and CI) and ``--only NAME`` (repeatable)."""
    func = click.option(
        "--only",
        "only",
        multiple=True,
        metavar="NAME",
        help="Only this image (repeatable).",
    )(func)
    func = click.option(
        "--sha", default=None, help="The commit to publish, instead of git's or CI's."
    )(func)
    func = click.option(
        "--ref",
        default=None,
        help="The git ref to publish as (refs/tags/v1.2.3, refs/heads/main, refs/pull/7/merge).",
    )(func)
    return config_option(func)


def plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``plan`` and ``apply`` share."""
    for option in reversed(
        [
            click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text."),
            click.option(
                "--detailed-exitcode",
                is_flag=True,
                help="Exit 0 when there are no changes, 2 when there are (1 is an error).",
            ),
            click.option(
                "--redirect",
                "redirects",
                multiple=True,
                metavar="FROM=TO",
                help="Use registry TO wherever the config says FROM, e.g. "
                "docker.io=localhost:5000 to rehearse a release (repeatable).",
            ),
            click.option(
                "--rebuild",
                is_flag=True,
                help="Build even when an image with the same content key already exists.",
            ),
            click.option(
                "--allow-overwrite",
                is_flag=True,
                help="Let apply move immutable tags that point to another image.",
            ),
            click.option(
                "--allow-backwards",
                is_flag=True,
                help="Move floating tags (branch names, edge, latest = true) even to an image "
                "of an older commit than the one they point to.",
            ),
        ]
    ):
        func = option(func)
    return selection_options(func)


def _platform(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def platform_option(func: F) -> F:
    """``--platform P`` of ``plan`` and ``apply``: one CI job's platform (cimatrix.py)."""
    return click.option(
        "--platform",
        "platform",
        default=None,
        metavar="OS/ARCH",
        callback=_platform,
        help="Build only this platform of each multi-platform image and stage it in the "
        "registry, moving no tag; a final apply without it composes the index "
        "(docs/ci-matrix.md).",
    )(func)
