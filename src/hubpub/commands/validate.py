"""``hubpub validate``: the config file and every template, checked against the git state
(docs/config.md). Exit 0 when all is well, 1 with one located error otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import click

from hubpub.commands._desired import check_files, compute_desired
from hubpub.commands._options import config_option
from hubpub.config.load import load_config


def validate(config_path: Path) -> str:
    """Check ``config_path``; return the one-line summary. Raises HubpubError."""
    config = load_config(config_path)
    git, images = compute_desired(config, dict(os.environ))
    check_files(config, images, git)
    refs = sum(len(image.tags) for image in images)
    where = git.ref_name or git.short_sha
    summary = f"{config_path}: ok ({len(images)} image(s), {refs} reference(s) for {where})"
    # Valid, but a plan here would publish nothing for these: say so rather than "ok" alone.
    idle = [image.name for image in images if not image.tags]
    if idle:
        summary += f"; no tag rule applies to {', '.join(idle)} on {where}"
    return summary


@click.command("validate")
@config_option
def command(config_path: Path) -> None:
    """Check the config file and every template against the current git state."""
    click.echo(validate(config_path))
