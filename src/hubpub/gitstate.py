"""The git and CI state a publication is computed from (docs/config.md#what-templates-see).

This is the only module that runs ``git``, and only through :func:`run_git`, with the
environment passed in (pre-commit's rule: tests control it). CI variables come from the same
mapping, so a detached checkout in CI still knows its branch:

* GitHub Actions: ``GITHUB_REF``, ``GITHUB_SHA``, ``GITHUB_HEAD_REF``, and the event file
  (``GITHUB_EVENT_PATH``) for a pull request's head sha (users want the head, not the merge
  commit: docs/config.md#where-hubpub-differs-from-metadata-action) and the repository's
  default branch;
* GitLab CI: ``CI_COMMIT_REF_NAME``, ``CI_COMMIT_SHA``, ``CI_COMMIT_TAG``,
  ``CI_MERGE_REQUEST_IID``, ``CI_DEFAULT_BRANCH``, ``CI_PROJECT_URL``.

``--ref`` and ``--sha`` override both. Precedence, high to low: option, CI, git.

Without a git repository hubpub still runs when the ref and the sha are both known (options or
CI variables), e.g. from an exported tarball in a CI job: nothing else needs git.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from hubpub.errors import GitError
from hubpub.versions import parse_version

SHORT_SHA = 7
FALLBACK_DEFAULT_BRANCH = "main"
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_PR_REF = re.compile(r"refs/(?:pull|merge-requests)/(\d+)(?:/.*)?")
_SHORT_REF_PREFIXES = ("refs/heads/", "refs/tags/", "refs/pull/", "refs/merge-requests/")

T = TypeVar("T")


@dataclass(frozen=True)
class GitState:
    """What templates see as ``git.*`` (docs/config.md#what-templates-see)."""

    sha: str
    short_sha: str
    branch: str | None  # None when detached and no CI variable names one
    tag: str | None  # set only when the ref is a tag
    ref: str | None  # full ref: refs/heads/main, refs/tags/v1.2.3, refs/pull/2/merge
    ref_name: str | None  # main, v1.2.3, 2/merge (GITHUB_REF_NAME's rule)
    default_branch: str
    is_default_branch: bool
    commit_time: datetime  # aware
    dirty: bool
    pr_number: int | None
    version_tags: tuple[str, ...]  # every tag of the repository (for latest = "auto")
    source_url: str | None  # https URL of the repository, never with credentials
    # Not template variables (metadata): what hubpub checks before it builds or picks latest.
    # The commit checked out in the working tree, the files a build sends (None: no git).
    checkout: str | None = field(default=None, metadata={"template": False})
    # False when ``version_tags`` may miss some: a shallow clone (actions/checkout's default
    # fetch-depth: 1), or no repository at all.
    tags_complete: bool = field(default=True, metadata={"template": False})


def ref_kind(ref: str | None) -> str | None:
    """``branch``, ``tag``, ``pr`` or ``None`` (detached, or another kind of ref)."""
    if ref is None:
        return None
    if ref.startswith("refs/heads/"):
        return "branch"
    if ref.startswith("refs/tags/"):
        return "tag"
    if _PR_REF.fullmatch(ref):
        return "pr"
    return None


def short_name(ref: str) -> str:
    for prefix in _SHORT_REF_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref.removeprefix("refs/")


# --- the one place git runs --------------------------------------------------------------------


class _NoGit(Exception):
    pass


def run_git(
    args: Sequence[str], cwd: Path, environ: Mapping[str, str], *, strip: bool = True
) -> str:
    """``git ARGS`` in ``cwd`` with ``environ``; its stdout, stripped (``strip=False``: as
    printed, for formats where leading spaces count). :class:`GitError` on failure, with git's
    own message."""
    env = {"PATH": os.environ.get("PATH", os.defpath), **environ}
    # Stable, non-interactive output whatever the user's setup.
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except FileNotFoundError:
        raise _NoGit("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)} took more than 60 s in {cwd}") from None
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise GitError(f"git {' '.join(args)}: {message.removeprefix('fatal: ')}")
    return done.stdout.strip() if strip else done.stdout


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
    found = _PR_REF.fullmatch(ref or "")
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


# --- reading the state -------------------------------------------------------------------------


def read_git_state(
    repo_dir: Path,
    environ: Mapping[str, str],
    ref: str | None = None,
    sha: str | None = None,
    *,
    default_branch: str | None = None,
) -> GitState:
    """The state to publish from: options (``ref``, ``sha``), then CI variables, then git.

    ``default_branch`` is the config's key: it wins over CI's and origin/HEAD's, since a user
    who writes it means it."""
    repo_dir = Path(repo_dir)
    ci = ci_state(environ)
    git: _Git | None
    try:
        top = run_git(["rev-parse", "--show-toplevel"], repo_dir, environ)
        git = _Git(Path(top), environ)
    except (GitError, _NoGit) as exc:
        if not ((ref or ci.ref) and (sha or ci.sha)):
            # git's own reason only when it says more than "not a git repository" (git
            # missing, a "dubious ownership" refusal in a CI container).
            reason = "" if "not a git repository" in str(exc) else f" ({exc})"
            raise GitError(
                f"{repo_dir} is not in a git repository{reason}",
                hint="run hubpub inside a clone, or pass both --ref and --sha",
            ) from None
        git = None

    default = default_branch or ci.default_branch
    # The questions that depend on no other answer are asked at once, in threads, while the
    # ref and the commit are worked out: each is a git process of 4 to 10 ms (7 of them for a
    # plain clone), all before any network work (docs/benchmarks.md, "Start-up"). Their
    # answers are read where they were asked before, so the first error is still the first.
    with ThreadPoolExecutor(4, thread_name_prefix="hubpub-git") as pool:

        def early(needed: bool, question: Callable[[_Git], T]) -> Future[T] | None:
            return pool.submit(question, git) if needed and git is not None else None

        dirty = early(True, _Git.dirty)
        version_tags = early(True, _Git.tags)
        shallow = early(True, _Git.is_shallow)
        checkout = early(True, _Git.checkout)
        origin_head = early(default is None, _Git.origin_head)
        origin_url = early(ci.source_url is None, _Git.origin_url)

        full_ref = _full_ref(ref, git) if ref is not None else ci.ref
        if ref is None and full_ref is None and git is not None:
            full_ref = git.head_ref()
        commit = _resolve_sha(sha, git) if sha is not None else ci.sha
        if commit is None and git is not None and ref_kind(full_ref) == "tag" and full_ref:
            # --ref refs/tags/v1.2.3 publishes v1.2.3, which is the tag's commit, not whatever
            # is checked out (a user's report: main was published as 1.2.3). The checkout
            # check before a build then says to check the tag out.
            commit = git.resolve_commit(full_ref)
        if commit is None:
            commit = git.head_sha() if git is not None else None
        if commit is None:  # pragma: no cover - guarded above
            raise GitError("no commit to publish: pass --sha")

        kind = ref_kind(full_ref)
        branch: str | None = None
        if kind == "branch" and full_ref is not None:
            branch = short_name(full_ref)
        elif kind == "pr" and ref is None:
            branch = ci.branch
        tag = short_name(full_ref) if kind == "tag" and full_ref is not None else None
        pr_number = None
        if kind == "pr" and full_ref is not None:
            found = _PR_REF.fullmatch(full_ref)
            pr_number = int(found[1]) if found else ci.pr_number

        if origin_head is not None:
            default = origin_head.result()
        default = default or FALLBACK_DEFAULT_BRANCH

        source_url = ci.source_url
        if origin_url is not None:
            source_url = origin_url.result()

        return GitState(
            sha=commit,
            short_sha=commit[:SHORT_SHA],
            branch=branch,
            tag=tag,
            ref=full_ref,
            ref_name=short_name(full_ref) if full_ref is not None else None,
            default_branch=default,
            is_default_branch=kind == "branch" and branch == default,
            commit_time=git.commit_time(commit) if git is not None else _time_without_git(environ),
            dirty=dirty.result() if dirty is not None else False,
            pr_number=pr_number,
            version_tags=version_tags.result() if version_tags is not None else (),
            source_url=source_url,
            checkout=checkout.result() if checkout is not None else None,
            tags_complete=not shallow.result() if shallow is not None else False,
        )


def _full_ref(ref: str, git: _Git | None) -> str:
    """``--ref`` as a full ref: ``v1.2.3`` is ``refs/tags/v1.2.3`` when that tag exists, else
    ``refs/heads/v1.2.3`` when that branch exists."""
    ref = ref.strip()
    if ref.startswith("refs/"):
        if ref_kind(ref) is None or not short_name(ref):
            raise GitError(f"--ref {ref!r}: not a branch, tag or pull request ref", hint=_REF_HINT)
        return ref
    if git is not None:
        for candidate in (f"refs/tags/{ref}", f"refs/heads/{ref}"):
            if git.has_ref(candidate):
                return candidate
    raise GitError(f"--ref {ref!r}: no tag or branch of that name", hint=_REF_HINT)


_REF_HINT = "give a full ref: refs/heads/NAME, refs/tags/NAME or refs/pull/N/merge"


def _resolve_sha(sha: str, git: _Git | None) -> str:
    sha = sha.strip().lower()
    if git is not None:
        resolved = git.resolve_commit(sha)
        if resolved is not None:
            return resolved
    if _FULL_SHA.fullmatch(sha):
        return sha  # not in this clone (shallow CI checkout): trust a full sha
    raise GitError(
        f"--sha {sha!r}: not a commit of this repository",
        hint="give the full 40-character sha",
    )


def _time_without_git(environ: Mapping[str, str]) -> datetime:
    # Reproducible builds' convention, else now.
    epoch = environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(tz=UTC)


def changed_paths(repo_dir: Path, paths: Sequence[Path], environ: Mapping[str, str]) -> list[str]:
    """Files under ``paths`` that differ from HEAD: modified, added, deleted, or untracked and
    not ignored (a build sends those too). Relative to the repository's top; empty outside a
    repository."""
    try:
        out = run_git(
            ["status", "--porcelain", "--untracked-files=all", "--", *map(str, paths)],
            repo_dir,
            environ,
            strip=False,  # " M path": the status columns start with a space
        )
    except (GitError, _NoGit):
        return []
    # "XY path" or "XY old -> new": the path a build would read is the last one.
    return [line[3:].rpartition(" -> ")[2] for line in out.splitlines() if len(line) > 3]


class _Git:
    """The questions hubpub asks git, each through :func:`run_git`."""

    def __init__(self, top: Path, environ: Mapping[str, str]) -> None:
        self.top = top
        self.environ = environ

    def run(self, *args: str) -> str:
        return run_git(args, self.top, self.environ)

    def try_run(self, *args: str) -> str | None:
        try:
            return self.run(*args)
        except GitError:
            return None

    def head_sha(self) -> str:
        sha = self.try_run("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        if not sha:
            raise GitError(
                f"the git repository in {self.top} has no commit yet",
                hint="commit first, or pass --sha",
            )
        return sha

    def head_ref(self) -> str | None:
        """The checked-out branch; when detached, a tag at HEAD (the highest version if there
        are several); else ``None``."""
        branch = self.try_run("symbolic-ref", "-q", "HEAD")
        if branch:
            return branch
        tags = [t for t in (self.try_run("tag", "--points-at", "HEAD") or "").splitlines() if t]
        if not tags:
            return None
        return f"refs/tags/{_best_tag(tags)}"

    def has_ref(self, ref: str) -> bool:
        return self.try_run("show-ref", "--verify", "--quiet", ref) is not None

    def resolve_commit(self, sha: str) -> str | None:
        return self.try_run("rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}") or None

    def commit_time(self, sha: str) -> datetime:
        text = self.try_run("show", "-s", "--format=%cI", sha) or self.try_run(
            "show", "-s", "--format=%cI", "HEAD"
        )
        if not text:
            return datetime.now(tz=UTC)
        return datetime.fromisoformat(text)

    def dirty(self) -> bool:
        # Tracked changes only, as `git describe --dirty`.
        return bool(self.run("status", "--porcelain", "--untracked-files=no"))

    def tags(self) -> tuple[str, ...]:
        return tuple(t for t in self.run("tag", "--list").splitlines() if t)

    def is_shallow(self) -> bool:
        return self.try_run("rev-parse", "--is-shallow-repository") == "true"

    def checkout(self) -> str | None:
        """HEAD's commit, None when there is none yet (``--sha`` may still name one)."""
        return self.try_run("rev-parse", "--verify", "--quiet", "HEAD^{commit}") or None

    def origin_head(self) -> str | None:
        ref = self.try_run("symbolic-ref", "-q", "refs/remotes/origin/HEAD")
        return ref.removeprefix("refs/remotes/origin/") if ref else None

    def origin_url(self) -> str | None:
        url = self.try_run("remote", "get-url", "origin")
        return clean_url(url) if url else None


def _best_tag(tags: list[str]) -> str:
    versions = [(parse_version(tag), tag) for tag in tags]
    parsed = [(v.release_key(), v.is_stable, tag) for v, tag in versions if v is not None]
    if parsed:
        return max(parsed)[2]
    return sorted(tags)[0]
