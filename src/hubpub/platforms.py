"""Platforms of a multi-platform build (docs/config.md, "platforms"): pure, no I/O.

- :func:`normalize` and :func:`normalize_all`: ``os/arch[/variant]`` as the config names it,
  written the way docker writes it (containerd's platforms package: ``aarch64`` is ``arm64``,
  ``x86_64`` is ``amd64``, ``arm64/v8`` is ``arm64``);
- :func:`platform_key`: the key of one platform's image, derived from the image's content key,
  so that one platform can be rebuilt alone;
- :func:`index_warning`: what a plan says when a tag's multi-platform index would lose
  platforms.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_PART = re.compile(r"[a-z0-9_.-]+")
# containerd's normalizeArch, the names docker users type (docs/config.md, "platforms").
_ARCH = {
    "i386": ("386", ""),
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
}


def normalize(text: str) -> str:
    """``os/arch[/variant]`` normalized; ValueError saying what is wrong."""
    parts = text.strip().lower().split("/")
    if not 2 <= len(parts) <= 3 or not all(_PART.fullmatch(part) for part in parts):
        raise ValueError(
            f"expected a platform 'os/arch' or 'os/arch/variant' (e.g. 'linux/arm64'), got {text!r}"
        )
    os_name, arch = parts[0], parts[1]
    variant = parts[2] if len(parts) == 3 else ""
    arch, implied = _ARCH.get(arch, (arch, ""))
    variant = variant or implied
    if arch == "arm64" and variant == "v8":
        variant = ""  # the default variant of arm64, left out as docker does
    if arch == "amd64" and variant == "v1":
        variant = ""
    if arch == "arm" and variant in ("", "7"):
        variant = "v7"
    return "/".join(part for part in (os_name, arch, variant) if part)


def normalize_all(values: Iterable[str]) -> tuple[str, ...]:
    """Each platform normalized; a duplicate (after normalizing) is an error."""
    seen: dict[str, str] = {}
    for text in values:
        platform = normalize(text)
        if platform in seen:
            raise ValueError(f"{text!r} is listed twice (as {seen[platform]!r} too)")
        seen[platform] = text
    return tuple(seen)


def of_config(config: Mapping[str, Any]) -> str:
    """The normalized platform an image config (or an index entry's ``platform``) says."""
    os_name = str(config.get("os") or "?")
    arch = str(config.get("architecture") or "?")
    variant = str(config.get("variant") or "")
    text = "/".join(part for part in (os_name, arch, variant) if part)
    try:
        return normalize(text)
    except ValueError:
        return text


def descriptor_platform(platform: str) -> dict[str, str]:
    """An index entry's ``platform`` object (the OCI image index spec)."""
    os_name, arch, *rest = platform.split("/")
    out = {"architecture": arch, "os": os_name}
    if rest:
        out["variant"] = rest[0]
    return out


def platform_key(image_key: str, platform: str) -> str:
    """The key of one platform's image of a build whose content key is ``image_key``."""
    digest = hashlib.sha256(f"{image_key}\0{platform}".encode())
    return "sha256:" + digest.hexdigest()


def index_warning(now_platforms: Sequence[str], platforms: Sequence[str]) -> str | None:
    """The warning of a change that moves a tag from an index (listing ``now_platforms``; empty
    when unknown) to an image this plan builds: a single image (``platforms`` empty or one) or
    an index of ``platforms``."""
    if len(platforms) < 2:
        return (
            "it points to a multi-platform index now; after this change it serves one platform only"
        )
    dropped = [p for p in now_platforms if p not in platforms and p != "unknown"]
    if not dropped:
        return None
    return (
        f"its index has {', '.join(dropped)} now, which the config's platforms drop; "
        f"after this change it serves {', '.join(platforms)}"
    )
