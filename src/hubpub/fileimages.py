"""File sources (filesource.py) read from disk and published with hubpub's registry client, no
engine at all (docs/config.md#file-sources, docs/registry.md#images-from-files).

- An OCI image layout is published byte for byte: its blobs are the files under
  ``blobs/<algorithm>/<hex>``, its manifests those blobs' exact bytes, so every digest stays the
  layout's (image-spec "image-layout.md"). Layers go as they are, compressed or not (an
  uncompressed ``…layer.v1.tar`` is a valid layer media type). An index is written children
  first (a nested index after everything it lists), then itself, by digest.
- A docker-archive has no manifest: publish.py composes one from its config and its layers,
  gzipped deterministically once (layers.py; the layer cache spares an unchanged layer the
  compression), exactly as for an image the engine built (built.py keeps it for the apply).

The identity of a file image is its top manifest's digest: the plan shows it, and a tag that
points to it is unchanged. :class:`FileImages` reads each source once per run (the plan's
digest and the apply's publish share it); :class:`LocalImages` is how the executor publishes
them, as it publishes what it built.
"""

from __future__ import annotations

import logging
import posixpath
import tarfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hubpub.built import BuiltImages, Registry
from hubpub.desired import DesiredImage
from hubpub.errors import ConfigError, EngineError, RegistryError
from hubpub.filesource import FileSource, select_archive, select_oci
from hubpub.layers import LayerCache
from hubpub.reference import Repository
from hubpub.registry.models import Descriptor, Manifest, digest_of
from hubpub.registry.publish import LocalBlob

log = logging.getLogger("hubpub.fileimages")

_LAYOUT_HINT = "give a folder an OCI tool wrote (skopeo copy … oci:DIR:REF, umoci, buildah push)"
_ARCHIVE_HINT = "give the tarball 'docker save' wrote"


def check_file_source(source: FileSource) -> None:
    """ConfigError when ``source`` is no readable layout or archive, or does not name exactly
    one image in it: what, and what to do (commands/_desired.py adds where)."""
    if source.kind == "oci":
        select_oci(_index_json(source), source.ref)
    else:
        select_archive(_manifest_json(source.path), source.ref)


def _index_json(source: FileSource) -> bytes:
    if not source.path.is_dir():
        raise ConfigError(
            "no such folder", hint=f"the path is relative to the config; {_LAYOUT_HINT}"
        )
    try:
        return (source.path / "index.json").read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "not an OCI image layout (it has no index.json)", hint=_LAYOUT_HINT
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read its index.json: {exc.strerror}") from None


def _manifest_json(path: Path) -> bytes:
    if not path.is_file():
        raise ConfigError(
            "no such file", hint=f"the path is relative to the config; {_ARCHIVE_HINT}"
        )
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if posixpath.normpath(member.name) == "manifest.json" and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return handle.read()
    except (tarfile.TarError, EOFError):
        raise ConfigError("not a tar archive", hint=_ARCHIVE_HINT) from None
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror}") from None
    raise ConfigError("not a docker-archive (it has no manifest.json)", hint=_ARCHIVE_HINT)


@dataclass
class Layout:
    """An OCI layout's image: the top manifest, every manifest under it, every blob."""

    top: Manifest
    manifests: dict[str, Manifest] = field(default_factory=dict)
    blobs: dict[str, LocalBlob] = field(default_factory=dict)


def read_layout(source: FileSource) -> Layout:
    """The image ``source`` names in its layout, every manifest read and checked against its
    digest, every blob present with its size (they are read only when uploaded)."""
    descriptor = Descriptor.from_json(select_oci(_index_json(source), source.ref))
    manifests: dict[str, Manifest] = {}
    blobs: dict[str, LocalBlob] = {}
    top = _read_manifest(source.path, descriptor, manifests, blobs)
    return Layout(top, manifests, blobs)


def _blob_path(folder: Path, digest: str) -> Path:
    algorithm, _, hexpart = digest.partition(":")
    if not algorithm.isalnum() or not hexpart.isalnum():
        raise ConfigError(f"malformed digest {digest!r}", hint=_LAYOUT_HINT)
    return folder / "blobs" / algorithm / hexpart


def _read_manifest(
    folder: Path,
    descriptor: Descriptor,
    manifests: dict[str, Manifest],
    blobs: dict[str, LocalBlob],
) -> Manifest:
    """The manifest ``descriptor`` names, after those it lists (into ``manifests``) and with
    the blobs it needs (into ``blobs``)."""
    if descriptor.digest in manifests:
        return manifests[descriptor.digest]
    path = _blob_path(folder, descriptor.digest)
    shown = path.relative_to(folder)
    try:
        raw = path.read_bytes()
    except OSError:
        raise ConfigError(f"the layout lacks the manifest {shown}", hint=_LAYOUT_HINT) from None
    if digest_of(raw, descriptor.digest.partition(":")[0]) != descriptor.digest:
        raise ConfigError(f"{shown} does not hash to its name: the layout is damaged")
    try:
        manifest = Manifest.from_bytes(raw, descriptor.media_type or None)
        manifest = Manifest(raw, manifest.media_type, descriptor.digest)
        children, needed = manifest.children, manifest.blobs
    except RegistryError as exc:
        raise ConfigError(f"{shown}: {exc.message}", hint=_LAYOUT_HINT) from None
    for child in children:
        _read_manifest(folder, child, manifests, blobs)
    for blob in needed:
        blob_path = _blob_path(folder, blob.digest)
        try:
            size = blob_path.stat().st_size
        except OSError:
            raise ConfigError(
                f"the layout lacks the blob {blob.digest} that {shown} names",
                hint="copy the image into the layout again, with every platform (skopeo copy "
                "--all)",
            ) from None
        if size != blob.size:
            raise ConfigError(
                f"{blob_path.relative_to(folder)} has {size} bytes, {shown} says {blob.size}",
                hint=_LAYOUT_HINT,
            )
        blobs[blob.digest] = LocalBlob(blob.digest, blob.size, _opener(blob_path))
    manifests[descriptor.digest] = manifest
    return manifest


def _opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


class FileImages:
    """The file images of a run, each read once (thread-safe); ``close`` removes what the
    docker-archives were spooled and compressed to."""

    def __init__(
        self, registry: Registry, cache: LayerCache, images: Sequence[DesiredImage]
    ) -> None:
        self.registry = registry
        self._sources = {
            image.name: (image.file, image.repositories)
            for image in images
            if image.file is not None
        }
        self._archives = BuiltImages(registry, cache)
        self._layouts: dict[str, Layout] = {}
        self._tops: dict[str, Manifest] = {}
        self._locks = {name: threading.Lock() for name in self._sources}

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def top(self, name: str) -> Manifest:
        """The top manifest of image ``name``'s file: its digest is what the tags point to."""
        with self._locks[name]:
            if name not in self._tops:
                self._tops[name] = self._read(name)
            return self._tops[name]

    def _read(self, name: str) -> Manifest:
        source, targets = self._sources[name]
        try:
            if source.kind == "oci":
                layout = read_layout(source)
                self._layouts[name] = layout
                return layout.top
            return self._archives.prepare(
                name,
                lambda: source.path.open("rb"),
                targets,
                (),
                lambda text: log.info("image %s: %s: %s", name, source, text),
                pick=lambda doc: select_archive(doc, source.ref),
            ).manifest
        except (ConfigError, EngineError, OSError) as exc:
            text = exc.message if isinstance(exc, ConfigError | EngineError) else str(exc)
            hint = exc.hint if isinstance(exc, ConfigError) else None
            raise ConfigError(f"image {name!r}, source {source}: {text}", hint=hint) from None

    def publish(self, name: str, repo: Repository) -> tuple[tuple[str, ...], Manifest]:
        """Everything image ``name`` needs in ``repo`` (blobs, child manifests, the top
        manifest by digest); returns the scopes for the tags' PUTs, and the top manifest. The
        file is read once per run: what is published is what the plan saw (and a saved plan's
        digest is checked before apply starts: commands/apply.py)."""
        top = self.top(name)
        layout = self._layouts.get(name)
        if layout is None:
            return self._archives.publish(name, repo)
        return self._put(layout, top, repo, set()), top

    def _put(
        self, layout: Layout, manifest: Manifest, repo: Repository, seen: set[str]
    ) -> tuple[str, ...]:
        """``manifest`` into ``repo`` after everything it names (image-spec "image-index.md":
        an index may list indexes)."""
        if not manifest.is_index:
            blobs = [layout.blobs[blob.digest] for blob in manifest.blobs]
            return self.registry.publish_image(repo, manifest, blobs)
        scopes: tuple[str, ...] | None = None
        for child in manifest.children:
            if child.digest not in seen:
                seen.add(child.digest)
                scopes = self._put(layout, layout.manifests[child.digest], repo, seen)
        self.registry.put_manifest(repo.with_digest(manifest.digest), manifest, scopes=scopes)
        return scopes or ()

    def close(self) -> None:
        self._archives.close()


class LocalImages(BuiltImages):
    """What an apply publishes from what hubpub holds: the images it built (built.py) and,
    by the same two calls, the images of ``files`` (an image from a file has no build)."""

    def __init__(self, registry: Registry, cache: LayerCache, files: FileImages | None) -> None:
        super().__init__(registry, cache)
        self.files = files

    def manifest(self, image: str) -> Manifest:
        if self.files is not None and image in self.files:
            return self.files.top(image)
        return super().manifest(image)

    def publish(self, image: str, repo: Repository) -> tuple[tuple[str, ...], Manifest]:
        if self.files is not None and image in self.files:
            return self.files.publish(image, repo)
        return super().publish(image, repo)
