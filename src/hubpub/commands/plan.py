"""`hubpub plan` (not built yet)."""

from __future__ import annotations

import click

from hubpub.errors import HubpubError


@click.command("plan")
def command() -> None:
    """Not built yet."""
    raise HubpubError("'hubpub plan' is not built yet")
