"""`hubpub inspect` (not built yet)."""

from __future__ import annotations

import click

from hubpub.errors import HubpubError


@click.command("inspect")
def command() -> None:
    """Not built yet."""
    raise HubpubError("'hubpub inspect' is not built yet")
