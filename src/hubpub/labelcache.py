"""The content-key label of each image digest, cached on disk under
``$XDG_CACHE_HOME/hubpub/labels``: manifests are content-addressed, so the label of a digest
never changes. observe.py reads and fills it; apply writes the key of every image it pushed.

With the key, the same read gives the image's provenance labels (the revision, created and
version the planner's rule that tags only move forward looks at: planner.Provenance), kept in
the same file; an entry written without them answers the key only.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("hubpub.observe")


class LabelCache:
    """manifest digest -> content-key label (or None), one small file per digest."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @classmethod
    def default(cls, environ: Mapping[str, str]) -> LabelCache:
        base = environ.get("XDG_CACHE_HOME") or (
            str(Path(environ["HOME"]) / ".cache") if environ.get("HOME") else None
        )
        return cls(Path(base) / "hubpub" / "labels" if base else None)

    def _path(self, digest: str) -> Path | None:
        if self.folder is None:
            return None
        algorithm, _, hexpart = digest.partition(":")
        if not hexpart.isalnum() or not algorithm.isalnum():
            return None
        return self.folder / algorithm / hexpart

    def _read(self, digest: str) -> dict[str, object] | None:
        path = self._path(digest)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and "label" in data else None

    def get(self, digest: str) -> tuple[bool, str | None]:
        """(found, label)."""
        data = self._read(digest)
        if data is None:
            return False, None
        label = data["label"]
        return True, label if isinstance(label, str) else None

    def provenance(self, digest: str) -> dict[str, str | None] | None:
        """The provenance labels cached with the key (None: not cached)."""
        data = self._read(digest)
        found = data.get("provenance") if data is not None else None
        if not isinstance(found, dict):
            return None
        return {str(k): v if isinstance(v, str) else None for k, v in found.items()}

    def put(
        self,
        digest: str,
        label: str | None,
        provenance: Mapping[str, str | None] | None = None,
    ) -> None:
        path = self._path(digest)
        if path is None:
            return
        record: dict[str, object] = {"label": label}
        if provenance is not None:
            record["provenance"] = dict(provenance)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            os.replace(tmp, path)  # atomic: concurrent plans never read half a file
        except OSError as exc:  # a cache that cannot be written only costs requests
            log.debug("cannot write the label cache %s: %s", path, exc)
