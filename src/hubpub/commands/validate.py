"""``hubpub validate``: the config file and every template, checked against the git state
(issue 3, "Commands"). Exit 0 when all is well, 1 with one located error otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import click

from hubpub.commands._desired import compute_desired
from hubpub.commands._options import config_option
from hubpub.config import Config, load_config
from hubpub.config.load import where_in
from hubpub.desired import DesiredImage
from hubpub.errors import ConfigError


def check_files(config: Config, images: list[DesiredImage]) -> None:
    """Build contexts, Dockerfiles and CA files exist (a typo there would only show at build
    or push time)."""
    for host, registry in config.registries.items():
        if registry.ca_file is not None and not registry.ca_file.is_file():
            where = where_in(config.path, ("registries", host, "ca_file"))
            shown = _shown(registry.ca_file, config.root)
            raise ConfigError(f"{where}registries[{host}].ca_file: no file {shown}")
    for image in images:
        if image.build is None:
            continue
        index = [i.name for i in config.images].index(image.name)
        if not image.build.context.is_dir():
            where = where_in(config.path, ("image", index, "context"))
            raise ConfigError(
                f"{where}image[{image.name}].context: no folder "
                f"{_shown(image.build.context, config.root)}",
                hint="context is relative to the config file's folder",
            )
        if not image.build.dockerfile.is_file():
            where = where_in(config.path, ("image", index, "dockerfile"))
            raise ConfigError(
                f"{where}image[{image.name}].dockerfile: no file "
                f"{_shown(image.build.dockerfile, config.root)}",
                hint="dockerfile is relative to the context, as on Docker Hub",
            )


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def validate(config_path: Path) -> str:
    """Check ``config_path``; return the one-line summary. Raises HubpubError."""
    config = load_config(config_path)
    git, images = compute_desired(config, dict(os.environ))
    check_files(config, images)
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
