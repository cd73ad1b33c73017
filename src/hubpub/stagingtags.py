"""The names of hubpub's own tags (docs/registry.md#large-images-the-staging-reference and
#platform-staging-tags), in one place, pure: the staging tag of a large build, the staging tag
of one platform's image in the CI matrix flow, and the prefix that tells both apart from a
user's tags (observe's search of other tags skips them: ``othertags.py``).

Both are named after a content key (``sha256:<hex>``, or an image ID without a key), so two
applies of different content never share one, and a re-run finds its own.
"""

from __future__ import annotations

# Every tag hubpub names for itself starts so (docs/registry.md#platform-staging-tags).
OWN_PREFIX = "hubpub-"
LARGE_PREFIX = OWN_PREFIX + "staging-"
_PLATFORM_HEX = 12  # enough to tell contents apart, and the tag stays readable in a listing
_LARGE_HEX = 64


def key_hex(key: str) -> str:
    """The digits of ``key`` (``sha256:<hex>`` or bare), with only tag-safe characters."""
    return "".join(c for c in (key.partition(":")[2] or key) if c.isalnum())


def large_tag(key: str) -> str:
    """``hubpub-staging-<hex>``: where the engine pushes a large build whose content key (or
    image ID) is ``key`` (staged.py)."""
    return LARGE_PREFIX + key_hex(key)[:_LARGE_HEX]


def platform_tag(key: str, platform: str) -> str:
    """``hubpub-<first 12 hex digits>-<os>-<arch>[-<variant>]``: where a platform job stages
    the image whose per-platform key (platforms.platform_key) is ``key`` (cimatrix.py); 128
    characters at most, tag characters only (distribution/reference's tag grammar)."""
    return f"{OWN_PREFIX}{key_hex(key)[:_PLATFORM_HEX]}-{platform.replace('/', '-')}"


def is_own(tag: str) -> bool:
    """Whether ``tag`` is one hubpub names for itself (either kind above)."""
    return tag.startswith(OWN_PREFIX)
