"""``hubpub schema``: the JSON schema of hubpub.toml, generated from the pydantic model.

``schemas/hubpub.schema.json`` is this command's output, checked in (a test fails when it is
out of date: regenerate with ``hubpub schema > schemas/hubpub.schema.json``)."""

from __future__ import annotations

import json

import click

from hubpub.config import json_schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


@click.command("schema")
def command() -> None:
    """Print the JSON schema of hubpub.toml (for editors: taplo, Even Better TOML)."""
    click.echo(schema_text(), nl=False)
