"""`hubpub apply` (not built yet)."""

from __future__ import annotations

import click

from hubpub.errors import HubpubError


@click.command("apply")
def command() -> None:
    """Not built yet."""
    raise HubpubError("'hubpub apply' is not built yet")
