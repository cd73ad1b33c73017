"""The OCI image index of a multi-platform build, and the checks of its platforms' images
(docs/registry.md#multi-platform-images): pure, no I/O.

The executor builds each platform's image separately (routed through its ``_engine_for``),
checks the platform the engine built with :func:`check_platform`, prepares each image for
publishing (publish.py), and composes the index here: each platform's manifest by digest with
its ``platform``, and the image's content key and OCI annotations in ``annotations``. built.py
then writes the platforms' images by digest and the index by digest before any tag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Protocol

from hubpub.contentkey import LABEL
from hubpub.errors import BuildError
from hubpub.platforms import descriptor_platform, of_config, platform_key
from hubpub.registry.models import OCI_INDEX, Manifest

OCI_PREFIX = "org.opencontainers.image."


def check_platform(image: str, asked: str, config: Mapping[str, str]) -> None:
    """A BuildError when the built image's config (``os``/``architecture``/``variant``) is
    another platform than ``asked``: such an image is never published."""
    built = of_config(config)
    if built != asked:
        raise BuildError(
            f"image {image!r}: the build for {asked} made an image for {built}; nothing of it "
            "is published",
            hint='use the BuildKit builder (builder = "auto" or "buildkit"), or a base '
            "image that has this platform",
        )


def platform_labels(labels: Mapping[str, str], platform: str) -> dict[str, str]:
    """The labels of one platform's image: the image's, with that platform's own key in the
    content-key label (platforms.platform_key)."""
    out = dict(labels)
    if LABEL in out:
        out[LABEL] = platform_key(out[LABEL], platform)
    return out


def index_annotations(labels: Mapping[str, str]) -> dict[str, str]:
    """What the index carries of the image's labels: the OCI ones and the content key, so that
    a plan reads them from the index alone (docs/config.md, "Platforms")."""
    return {
        key: value
        for key, value in sorted(labels.items())
        if key.startswith(OCI_PREFIX) or key == LABEL
    }


class Described(Protocol):
    """What an index entry says of a manifest: a Manifest built here, or the ManifestInfo of
    a staged one's HEAD (cimatrix.py)."""

    @property
    def media_type(self) -> str: ...

    @property
    def digest(self) -> str: ...

    @property
    def size(self) -> int: ...


def compose_index(
    children: Sequence[tuple[str, Described]], annotations: Mapping[str, str]
) -> Manifest:
    """An OCI image index of ``children`` ((platform, manifest), in the config's order)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": manifest.media_type,
                "size": manifest.size,
                "digest": manifest.digest,
                "platform": descriptor_platform(platform),
            }
            for platform, manifest in children
        ],
        "annotations": dict(annotations),
    }
    return Manifest.from_bytes(json.dumps(doc, indent=3).encode(), OCI_INDEX)
