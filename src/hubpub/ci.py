"""What a CI job's variables say about the ref and commit it runs for, and the ref and URL
rules they share with git (gitstate.py reads git; this module reads no file but a CI event,
and runs nothing).

* GitHub Actions: ``GITHUB_REF``, ``GITHUB_SHA``, ``GITHUB_HEAD_REF``, and the event file
  (``GITHUB_EVENT_PATH``) for a pull request's head sha (users want the head, not the merge
  commit: docs/config.md#where-hubpub-differs-from-metadata-action) and the repository's
  default branch;
* GitLab CI: ``CI_COMMIT_REF_NAME``, ``CI_COMMIT_SHA``, ``CI_COMMIT_TAG``,
  ``CI_MERGE_REQUEST_IID``, ``CI_DEFAULT_BRANCH``, ``CI_PROJECT_URL``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PR_REF = re.compile(r"refs/(?:pull|merge-requests)/(\d+)(?:/.*)?")
_SHORT_REF_PREFIXES = ("refs/heads/", "refs/tags/", "refs/pull/", "refs/merge-requests/")


def ref_kind(ref: str | None) -> str | None:
    """``branch``, ``tag``, ``pr`` or ``None`` (detached, or another kind of ref)."""
    if ref is None:
        return None
    if ref.startswith("refs/heads/"):
        return "branch"
    if ref.startswith("refs/tags/"):
        return "tag"
    if PR_REF.fullmatch(ref):
        return "pr"
    return None


def short_name(ref: str) -> str:
    for prefix in _SHORT_REF_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref.removeprefix("refs/")


# --- CI ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CIState:
    ref: str | None = None
    sha: str | None = None
    branch: str | None = None  # the PR/MR source branch, for a detached checkout
    pr_number: int | None = None
    default_branch: str | None = None
    source_url: str | None = None


def ci_state(environ: Mapping[str, str]) -> CIState:
    """What the CI variables say; all ``None`` outside CI."""
    if environ.get("GITHUB_REF") or environ.get("GITHUB_SHA"):
        return _github(environ)
    if environ.get("CI_COMMIT_SHA") or environ.get("CI_COMMIT_REF_NAME"):
        return _gitlab(environ)
    return CIState()


def _github(environ: Mapping[str, str]) -> CIState:
    ref = environ.get("GITHUB_REF") or None
    sha = environ.get("GITHUB_SHA") or None
    event = _event(environ.get("GITHUB_EVENT_PATH"))
    pull = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else None
    head_sha = _dig(pull, "head", "sha")
    if ref_kind(ref) == "pr" and isinstance(head_sha, str) and head_sha:
        sha = head_sha  # the PR's head, not GitHub's merge commit (docs/config.md)
    default = _dig(event, "repository", "default_branch")
    repository = environ.get("GITHUB_REPOSITORY")
    server = environ.get("GITHUB_SERVER_URL") or "https://github.com"
    found = PR_REF.fullmatch(ref or "")
    return CIState(
        ref=ref,
        sha=sha,
        branch=environ.get("GITHUB_HEAD_REF") or None,
        pr_number=int(found[1]) if found else None,
        default_branch=default if isinstance(default, str) and default else None,
        source_url=clean_url(f"{server}/{repository}") if repository else None,
    )


def _gitlab(environ: Mapping[str, str]) -> CIState:
    tag = environ.get("CI_COMMIT_TAG") or None
    iid = environ.get("CI_MERGE_REQUEST_IID") or None
    name = environ.get("CI_COMMIT_BRANCH") or environ.get("CI_COMMIT_REF_NAME") or None
    branch = None
    if tag:
        ref: str | None = f"refs/tags/{tag}"
    elif iid and iid.isdigit():
        ref = f"refs/merge-requests/{iid}/head"
        branch = environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or name
    elif name:
        ref = f"refs/heads/{name}"
    else:
        ref = None
    url = environ.get("CI_PROJECT_URL")
    return CIState(
        ref=ref,
        sha=environ.get("CI_COMMIT_SHA") or None,
        branch=branch,
        pr_number=int(iid) if iid and iid.isdigit() else None,
        default_branch=environ.get("CI_DEFAULT_BRANCH") or None,
        source_url=clean_url(url) if url else None,
    )


def _event(path: str | None) -> dict[str, object]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _dig(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# --- URLs --------------------------------------------------------------------------------------

_SCP_LIKE = re.compile(r"(?:[^@/]+@)?([^:/]+):(?!//)(.+)")


def clean_url(url: str) -> str | None:
    """The https URL of a remote, without credentials; ``None`` for local paths.

    ``git@github.com:x/y.git`` and ``ssh://git@github.com/x/y`` become
    ``https://github.com/x/y``; ``https://user:token@host/x/y.git`` becomes
    ``https://host/x/y`` (a token in a remote must never reach a label or a log)."""
    url = url.strip()
    if "://" not in url:
        found = _SCP_LIKE.fullmatch(url)
        if not found or found[1] in (".", "..") or url.startswith(("/", ".")):
            return None
        host, path = found[1], found[2]
        return f"https://{host}/{_strip_path(path)}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ssh", "git", "git+ssh", "ssh+git") or not (
        parts.hostname
    ):
        return None
    scheme = "http" if parts.scheme == "http" else "https"
    host = parts.hostname
    if parts.port and scheme == parts.scheme:
        host = f"{host}:{parts.port}"
    path = _strip_path(parts.path)
    return f"{scheme}://{host}/{path}" if path else f"{scheme}://{host}"


def _strip_path(path: str) -> str:
    return path.strip("/").removesuffix(".git")
