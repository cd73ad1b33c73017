"""Slugging: a value made a valid tag (metadata-action's ``sanitizeTag``, and more)."""

from __future__ import annotations

import re
from typing import Any

from hubpub.reference import is_valid_tag

MAX_TAG = 128


_UNSAFE_RUN = re.compile(r"[^a-zA-Z0-9._-]+")


def sanitize(value: str) -> str:
    """metadata-action's ``sanitizeTag``: runs of characters a tag cannot hold become ``-``."""
    return _UNSAFE_RUN.sub("-", value)


def slug(value: Any) -> str:
    """A valid tag made of ``value`` ('' when nothing is left): ``my/branch`` → ``my-branch``.

    Beyond metadata-action's sanitizing, leading ``.`` and ``-`` are dropped and the result is
    cut at 128 characters, so a slug is always a valid tag or empty."""
    if value is None:
        return ""
    return sanitize(str(value)).lstrip(".-")[:MAX_TAG]


def finish_tag(prefix: str, value: str, suffix: str) -> str:
    """``prefix + value + suffix`` slugged, cut in the middle so a variant's suffix survives."""
    text = sanitize(f"{prefix}{value}{suffix}").lstrip(".-")
    if len(text) > MAX_TAG:
        tail = sanitize(suffix)
        keep = MAX_TAG - len(tail)
        text = text[:keep] + tail if keep > 0 else text[:MAX_TAG]
    return text if is_valid_tag(text) else ""
