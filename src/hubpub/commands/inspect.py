"""`hubpub inspect REF`: what a registry holds for a reference, without a Docker engine.

Like ``crane digest`` plus ``skopeo inspect``: the digest, media type and size of the manifest,
and for an index the platforms it points to. ``--digest`` makes only a HEAD (it does not count
against Docker Hub's pull limit); ``--raw`` prints the manifest's exact bytes.

Registry settings (``insecure``, ``ca_file``, ``username_env``/``password_env``) come from
``[registries]`` of the config file when it exists; ``--insecure`` allows plain HTTP for the
reference's registry without one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from hubpub.commands._options import config_option
from hubpub.errors import HubpubError, NotFoundError
from hubpub.reference import Reference, parse_reference
from hubpub.registry import Manifest, RegistryClient, RegistryOptions
from hubpub.registry.models import platform_text

log = logging.getLogger("hubpub.inspect")


def registry_options(config_path: Path, explicit: bool) -> dict[str, RegistryOptions]:
    """``[registries]`` of the config as client options; nothing when the default file is
    absent (inspect works anywhere) or invalid (a warning: inspect needs only its registries,
    and the error is ``validate``'s to report), an error when a file named with ``-c`` is
    missing or invalid."""
    if not explicit and not config_path.exists():
        return {}
    from hubpub.config.load import load_config  # lazy: inspect needs no config; 0.09-0.11 s

    try:
        config = load_config(config_path)
    except HubpubError as exc:  # the file's errors: syntax, keys, templates
        if explicit:
            raise
        log.warning("%s is not used: %s", config_path, exc)
        return {}
    return RegistryOptions.from_config(config.registries)


def describe(client: RegistryClient, ref: Reference, manifest: Manifest) -> dict[str, Any]:
    """The JSON document ``--json`` prints (keys in skopeo's spirit, lowerCamel)."""
    doc: dict[str, Any] = {
        "name": str(ref),
        "digest": manifest.digest,
        "mediaType": manifest.media_type,
        "size": manifest.size,
    }
    annotations = manifest.json().get("annotations")
    if isinstance(annotations, dict) and annotations:
        doc["annotations"] = {str(k): str(v) for k, v in sorted(annotations.items())}
    if manifest.is_index:
        doc["platforms"] = [
            {
                "platform": child.platform_text,
                "digest": child.digest,
                "mediaType": child.media_type,
                "size": child.size,
            }
            for child in manifest.children
        ]
        return doc
    config = manifest.config
    platform = None
    if config is not None:
        # The config blob is small and is not a manifest pull.
        try:
            data = json.loads(client.get_blob(ref.repository, config.digest))
        except ValueError:
            data = None  # not an image config (an artifact): its platform is unknown
        if isinstance(data, dict) and data.get("os"):
            platform = platform_text(data)
        doc["config"] = {"digest": config.digest, "mediaType": config.media_type}
        # The labels say which commit, version and time made the image (revision, version,
        # created, source: the OCI annotation keys hubpub sets, docs/config.md).
        labels = (data.get("config") or {}).get("Labels") if isinstance(data, dict) else None
        if isinstance(labels, dict) and labels:
            doc["labels"] = {str(k): str(v) for k, v in sorted(labels.items())}
    doc["platforms"] = [{"platform": platform or "unknown", "digest": manifest.digest}]
    doc["layers"] = [{"digest": layer.digest, "size": layer.size} for layer in manifest.layers]
    return doc


def _text(doc: dict[str, Any]) -> str:
    lines = [
        f"Name:       {doc['name']}",
        f"Digest:     {doc['digest']}",
        f"Media type: {doc['mediaType']}",
        f"Size:       {doc['size']}",
    ]
    if "layers" in doc:
        total = sum(layer["size"] for layer in doc["layers"])
        lines.append(f"Platform:   {doc['platforms'][0]['platform']}")
        lines.append(f"Layers:     {len(doc['layers'])} ({total} bytes compressed)")
    else:
        lines.append("Platforms:")
        lines.extend(f"  {p['platform']:<20} {p['digest']}" for p in doc["platforms"])
    for title, key in (("Labels:", "labels"), ("Annotations:", "annotations")):
        if doc.get(key):
            lines.append(title)
            lines.extend(f"  {name}={value}" for name, value in doc[key].items())
    return "\n".join(lines)


@click.command("inspect")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
@click.option("--raw", is_flag=True, help="Print the manifest's exact bytes.")
@click.option(
    "--digest",
    "digest_only",
    is_flag=True,
    help="Print only the digest (one HEAD: not a Docker Hub pull).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow plain HTTP for this registry (TLS is still verified when used).",
)
@config_option
@click.pass_context
def command(
    ctx: click.Context,
    reference: str,
    as_json: bool,
    raw: bool,
    digest_only: bool,
    insecure: bool,
    config_path: Path,
) -> None:
    """Show the digest, media type, size and platforms of REFERENCE (no Docker engine)."""
    if sum((as_json, raw, digest_only)) > 1:
        raise click.UsageError("--json, --raw and --digest exclude each other")
    ref = parse_reference(reference)
    source = ctx.get_parameter_source("config_path")
    given_first = (ctx.find_root().obj or {}).get("config_path") is not None  # hubpub -c F inspect
    explicit = given_first or (source is not None and source.name != "DEFAULT")
    options = registry_options(config_path, explicit)
    if insecure:
        base = options.get(ref.registry, RegistryOptions())
        options[ref.registry] = dataclasses.replace(base, insecure=True)
    with RegistryClient(options) as client:
        if digest_only:
            info = client.head_manifest(ref)
            if info is None:
                raise NotFoundError(f"{ref} does not exist")
            click.echo(info.digest)
            return
        manifest = client.get_manifest(ref)
        if raw:
            sys.stdout.buffer.write(manifest.raw)
            sys.stdout.buffer.flush()
            return
        doc = describe(client, ref, manifest)
    click.echo(json.dumps(doc, indent=2) if as_json else _text(doc))
