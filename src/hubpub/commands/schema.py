"""`hubpub schema` (not built yet)."""

from __future__ import annotations

import click

from hubpub.errors import HubpubError


@click.command("schema")
def command() -> None:
    """Not built yet."""
    raise HubpubError("'hubpub schema' is not built yet")
