"""``hubpub tags``: the desired references of each image, as text or JSON.

With ``--json`` the output is exactly ``{"images": [{"name": ..., "refs": [...]}]}``. When
``GITHUB_OUTPUT`` is set, the references are also written there the way docker/metadata-action
does (``tags``: one reference a line; ``json``; ``version`` when one image is selected), so a
workflow can feed them to ``docker/build-push-action`` unchanged."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from hubpub.commands._desired import compute_desired
from hubpub.commands._options import selection_options
from hubpub.config.load import load_config
from hubpub.desired import DesiredImage
from hubpub.github import write_outputs


def tags_document(images: Sequence[DesiredImage]) -> dict[str, Any]:
    return {"images": [{"name": i.name, "refs": [str(r) for r in i.refs]} for i in images]}


def tags_text(images: Sequence[DesiredImage]) -> str:
    lines: list[str] = []
    for image in images:
        version = f" (version {image.version})" if image.version else ""
        lines.append(f"{image.name}{version}")
        if not image.tags:
            lines.append("  (no tags for this ref)")
        for tag in image.tags:
            mark = ", immutable" if tag.immutable else ""
            lines.append(f"  {tag.ref}  # {tag.rule}{mark}")
    return "\n".join(lines)


def github_outputs(images: Sequence[DesiredImage]) -> dict[str, str]:
    """metadata-action's outputs: ``tags`` (one reference a line), ``json``, and ``version``
    when one image is selected."""
    outputs: dict[str, str] = {
        "tags": "\n".join(str(ref) for image in images for ref in image.refs),
        "json": json.dumps(tags_document(images)),
    }
    if len(images) == 1 and images[0].version:
        outputs["version"] = images[0].version
    return outputs


def run_tags(
    config_path: Path,
    environ: Mapping[str, str],
    *,
    ref: str | None = None,
    sha: str | None = None,
    only: Sequence[str] = (),
) -> list[DesiredImage]:
    config = load_config(config_path)
    _git, images = compute_desired(config, environ, ref=ref, sha=sha, only=only)
    # Every value in the multi-line syntax, as metadata-action's (@actions/core) are written.
    write_outputs(environ, github_outputs(images), multiline=True)
    return images


@click.command("tags")
@selection_options
@click.option("--json", "as_json", is_flag=True, help='Print JSON: {"images": [...]}.')
def command(
    config_path: Path, ref: str | None, sha: str | None, only: tuple[str, ...], as_json: bool
) -> None:
    """Print the references each image should carry for the current git state."""
    images = run_tags(config_path, dict(os.environ), ref=ref, sha=sha, only=only)
    if as_json:
        click.echo(json.dumps(tags_document(images), indent=2))
    else:
        click.echo(tags_text(images))
