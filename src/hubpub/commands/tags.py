"""`hubpub tags` (not built yet)."""

from __future__ import annotations

import click

from hubpub.errors import HubpubError


@click.command("tags")
def command() -> None:
    """Not built yet."""
    raise HubpubError("'hubpub tags' is not built yet")
