"""The content-key label of each image digest, cached on disk under
``$XDG_CACHE_HOME/hubpub/labels``: manifests are content-addressed, so the label of a digest
never changes. observe.py reads and fills it; apply writes the key of every image it pushed.
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

    def get(self, digest: str) -> tuple[bool, str | None]:
        """(found, label)."""
        path = self._path(digest)
        if path is None:
            return False, None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return False, None
        if not isinstance(data, dict) or "label" not in data:
            return False, None
        label = data["label"]
        return True, label if isinstance(label, str) else None

    def put(self, digest: str, label: str | None) -> None:
        path = self._path(digest)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as handle:
                json.dump({"label": label}, handle)
            os.replace(tmp, path)  # atomic: concurrent plans never read half a file
        except OSError as exc:  # a cache that cannot be written only costs requests
            log.debug("cannot write the label cache %s: %s", path, exc)
