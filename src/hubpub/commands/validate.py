"""`hubpub validate` (not built yet)."""

from __future__ import annotations

import click

from hubpub.errors import HubpubError


@click.command("validate")
def command() -> None:
    """Not built yet."""
    raise HubpubError("'hubpub validate' is not built yet")
