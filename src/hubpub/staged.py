"""A large built image pushed by the engine to a staging reference, then made ready to publish
like an exported one (docs/registry.md#uploads-of-built-images, "Large images").

The export streams the whole image on every publish (about 11 s per GB here), where the
engine's push skips the layers the registry has (docs/benchmarks.md, "Uploading a build").
So an image of at least :data:`STAGE_ABOVE_BYTES` whose targets are all in one registry is
pushed by the engine to :func:`staging_ref`, a tag of its first target repository named after
its content key (``hubpub-staging-<hex>``, not a tag a config names); the manifest
it pushed is read back by digest, and :class:`~hubpub.publish.Prepared` then names the staging
repository as the home of every blob. The publish that follows is the export path's own
(built.py, registry/publish.py): each target repository mounts the blobs, then gets the
manifest by digest, and only then its tags. The staging tag stays, pointing at a complete
image (a later plan may find the image there by its content-key label, as under any other
tag of the repository, and copy it instead of building again).

Targets in several registries take the export path: the second registry would otherwise get
its blobs through the first (a download), or from a second engine push whose compression is
not known to give the same digests.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from hubpub.archive import Readable
from hubpub.errors import ConfigError, RegistryError
from hubpub.publish import Prepared
from hubpub.reference import Reference, Repository, api_host
from hubpub.registry.models import Manifest
from hubpub.registry.publish import LocalBlob
from hubpub.stagingtags import large_tag

# The size (uncompressed, base included: the engine's ``Size``) from which a build is staged.
# Measured in docs/benchmarks.md ("Large images: the staging reference"): the export path
# wins below it, the engine's push above it.
STAGE_ABOVE_BYTES = 100 * 1000 * 1000


class Registry(Protocol):
    def get_manifest(self, ref: Reference) -> Manifest: ...

    def open_blob(
        self, repo: Repository, digest: str
    ) -> contextlib.AbstractContextManager[Readable]: ...


def threshold(value: str | None) -> int | None:
    """``HUBPUB_STAGE_ABOVE_MB`` (read by the command): a size in MB (1 MB = 10^6 bytes) from
    which builds are staged, ``0`` for every build, ``off`` for none; unset, the default."""
    if value is None or not value.strip():
        return STAGE_ABOVE_BYTES
    if value.strip().lower() == "off":
        return None
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = -1.0
    # Not NaN, not negative, and finite in bytes: int() of an infinity raises (1e303 MB too).
    if not (megabytes >= 0 and math.isfinite(megabytes * 1000 * 1000)):
        raise ConfigError(
            f"HUBPUB_STAGE_ABOVE_MB={value!r} is not a size in MB",
            hint="set it to a number of MB (0: stage every build) or to off",
        )
    return int(megabytes * 1000 * 1000)


def wanted(size: int, targets: Sequence[Repository], above: int | None) -> bool:
    """Whether a build of ``size`` bytes for ``targets`` is staged (``above`` None: never)."""
    if above is None or not targets or size < above:
        return False
    return len({api_host(target.registry) for target in targets}) == 1


def staging_ref(first: Repository, key: str) -> Reference:
    """The staging tag of a build whose content key (or, without one, image ID) is ``key``:
    unique per content, so two applies of different content never share it."""
    return first.with_tag(large_tag(key))


def stage(
    push: Callable[[Reference], str],
    registry: Registry,
    ref: Reference,
    diff_ids: Sequence[str] = (),
) -> Prepared:
    """Push to ``ref`` (the engine), read back the manifest it pushed by digest, and return it
    prepared: every blob's home is ``ref``'s repository. ``diff_ids``: the image's, so that
    the layer cache learns the engine's blobs."""
    digest = push(ref)
    repo = ref.repository
    manifest = registry.get_manifest(repo.with_digest(digest))
    config = manifest.config
    if manifest.is_index or config is None:
        raise RegistryError(
            f"the engine pushed {ref} as {manifest.media_type}, not an image manifest",
            hint="publish this image without the staging reference (HUBPUB_STAGE_ABOVE_MB=off)",
        )
    blobs = tuple(
        LocalBlob(d.digest, d.size, _opener(registry, repo, d.digest))
        for d in (config, *manifest.layers)
    )
    layers = manifest.layers
    known = {}
    if len(diff_ids) == len(layers):
        known = {layer.digest: diff_id for layer, diff_id in zip(layers, diff_ids, strict=True)}
    homes = {api_host(repo.registry): {blob.digest: repo.path for blob in blobs}}
    folder = Path(tempfile.mkdtemp(prefix="hubpub-staged-"))  # nothing spooled: stays empty
    return Prepared(
        manifest,
        blobs,
        folder,
        known,
        homes,
    )


def _opener(
    registry: Registry, repo: Repository, digest: str
) -> Callable[[], contextlib.AbstractContextManager[Readable]]:
    # Only read when a target of the same registry can neither mount nor HEAD the blob (a
    # registry that refuses mounts): then it comes from the staging repository.
    return lambda: registry.open_blob(repo, digest)
