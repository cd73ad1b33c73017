"""Options shared by ``tags``, ``plan`` and ``apply`` (issue 3 and 5 ask for the same ones)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=Path("hubpub.toml"),
        show_default=True,
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
