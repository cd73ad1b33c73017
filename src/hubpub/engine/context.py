"""The build context as BuildKit reads it from a request body: one tar the engine unpacks.

The files are those the content key hashes (``contentkey.context_files``: the docker SDK's
own ``.dockerignore`` rules), so the key and the build agree on what counts.

Without a BuildKit session the engine hands the request body to the Dockerfile frontend as
an HTTP context, which decides "is this a tar?" from the body's first 1024 bytes alone
(``isArchive`` in BuildKit's frontend/dockerui/context.go): the first entry must then be one
plain 512-byte header. Python's default PAX format puts an extended header first whenever an
mtime has a fraction, and the frontend then takes the whole tar for the Dockerfile ("unknown
instruction: ././@PaxHeader"). So: GNU format, whole-second mtimes, owner 0, the Dockerfile
first; and gzip (recognised by its magic bytes) when even the Dockerfile's name needs a long
name entry.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from hubpub.contentkey import context_files

OUTSIDE_DOCKERFILE = ".dockerfile.outside"  # contentkey's name for a Dockerfile out of context
_SPOOL = 32 * 1024 * 1024  # larger contexts go to a temporary file, not memory


def dockerfile_name(context: Path, dockerfile: Path) -> str:
    try:
        return dockerfile.relative_to(context).as_posix()
    except ValueError:
        return OUTSIDE_DOCKERFILE


def context_tar(context: Path, dockerfile: Path) -> IO[bytes]:
    """The context of ``context`` with ``dockerfile`` (inside it or not), read to position 0."""
    name = dockerfile_name(context, dockerfile)
    files = [path for path in context_files(context, dockerfile) if path != name]
    body: IO[bytes] = tempfile.SpooledTemporaryFile(_SPOOL)  # noqa: SIM115 (the caller closes)
    try:
        if len(name.encode()) >= tarfile.LENGTH_NAME:
            with gzip.GzipFile(fileobj=body, mode="wb", compresslevel=1, mtime=0) as packed:
                _write(packed, context, dockerfile, name, files)
        else:
            _write(body, context, dockerfile, name, files)
    except BaseException:
        body.close()
        raise
    body.seek(0)
    return body


def _write(
    out: IO[bytes] | gzip.GzipFile, context: Path, dockerfile: Path, name: str, files: list[str]
) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, str(dockerfile), name)
        for path in files:
            _add(tar, os.path.join(context, path), path)


def _add(tar: tarfile.TarFile, full_path: str, name: str) -> None:
    info = tar.gettarinfo(full_path, arcname=name)
    if info is None:  # a socket: the SDK skips it too
        return
    info.mtime = int(info.mtime)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isfile():
        with open(full_path, "rb") as handle:
            tar.addfile(info, handle)
    else:
        tar.addfile(info)
