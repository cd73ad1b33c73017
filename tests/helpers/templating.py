"""A hand-built git state and image, and the tag values a rule gives for them, for the tests of
the tag rules (test_templating.py, and its subprocess that checks which modules load)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hubpub.config.model import Image
from hubpub.gitstate import GitState, ref_kind, short_name
from hubpub.templating import image_tags

SHA = "0123456789abcdef0123456789abcdef01234567"


def make_state(
    ref: str | None,
    *,
    tags: tuple[str, ...] = (),
    default_branch: str = "main",
    head_branch: str | None = None,
    sha: str = SHA,
) -> GitState:
    """A GitState as read_git_state derives it from a ref (see test_gitstate.py for git)."""
    kind = ref_kind(ref)
    name = short_name(ref) if ref else None
    branch = name if kind == "branch" else head_branch if kind == "pr" else None
    tag = name if kind == "tag" else None
    if kind == "tag" and tag not in tags:
        tags = (*tags, tag)  # type: ignore[assignment]
    pr = int(name.split("/")[0]) if kind == "pr" and name else None
    return GitState(
        sha=sha,
        short_sha=sha[:7],
        branch=branch,
        tag=tag,
        ref=ref,
        ref_name=name,
        default_branch=default_branch,
        is_default_branch=kind == "branch" and branch == default_branch,
        commit_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        dirty=False,
        pr_number=pr,
        version_tags=tags,
        source_url="https://github.com/jpetazzo/figlet",
    )


def make_image(*tags: Any, **keys: Any) -> Image:
    return Image.model_validate(
        {
            "name": "figlet",
            "context": ".",
            "repositories": ["jpetazzo/figlet"],
            "tags": tags,
            **keys,
        }
    )


def values(image: Image, state: GitState, env: dict[str, str] | None = None) -> list[str]:
    return [value.tag for value in image_tags(image, state, env or {}).tags]
