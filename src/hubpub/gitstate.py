"""The git and CI state a publication is computed from (docs/config.md#what-templates-see).

This is the only module that runs ``git``, and only through :func:`run_git`, with the
environment passed in (pre-commit's rule: tests control it). CI variables come from the same
mapping (ci.py reads them), so a detached checkout in CI still knows its branch.

Besides the state, it answers the history questions the planner's rule that tags only move
forward needs (:func:`commit_relations`: is the commit an image was built from an ancestor or
a descendant of the one published).

``--ref`` and ``--sha`` override both. Precedence, high to low: option, CI, git.

Without a git repository hubpub still runs when the ref and the sha are both known (options or
CI variables), e.g. from an exported tarball in a CI job: nothing else needs git.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

from hubpub.ci import PR_REF, CIState, ci_state, clean_url, ref_kind, short_name
from hubpub.errors import GitError
from hubpub.versions import parse_version

SHORT_SHA = 7
FALLBACK_DEFAULT_BRANCH = "main"
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

T = TypeVar("T")

__all__ = [
    "CIState",
    "GitState",
    "NoGit",
    "Relation",
    "ci_state",
    "clean_url",
    "commit_relations",
    "read_git_state",
    "ref_kind",
    "run_git",
    "short_name",
]

# How the commit an image was built from relates to the commit published: "newer" descends
# from it, "older" is its ancestor, "diverged" neither (a force push), "unknown" when git
# cannot say (not in the clone, or a shallow clone's cut history).
Relation = Literal["same", "newer", "older", "diverged", "unknown"]


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
    # The work tree's top folder: a build context outside it is a config error
    # (commands/_desired.py check_files). None: no repository.
    top: Path | None = field(default=None, metadata={"template": False})


# --- the one place git runs --------------------------------------------------------------------


class _NoGit(Exception):
    pass


# For the callers of run_git elsewhere (worktree.py): git is not installed.
NoGit = _NoGit


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
            found = PR_REF.fullmatch(full_ref)
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
            top=git.top if git is not None else None,
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


def commit_relations(
    repo_dir: Path, published: str, revisions: Iterable[str], environ: Mapping[str, str]
) -> dict[str, Relation]:
    """How each of ``revisions`` (the commits the images a tag points to were built from)
    relates to ``published``: ``newer`` (descends from it), ``older`` (an ancestor),
    ``diverged``, ``same``, or ``unknown`` when git cannot say: the revision is not in the
    clone, there is no clone, or the clone is shallow and its history may be cut (then only a
    proven ancestry counts). The planner decides from these (planner.newer_published)."""
    wanted = [revision for revision in dict.fromkeys(revisions) if revision]
    if not wanted:
        return {}
    try:
        top = run_git(["rev-parse", "--show-toplevel"], repo_dir, environ)
    except (GitError, _NoGit):
        return dict.fromkeys(wanted, "unknown")
    git = _Git(Path(top), environ)
    shallow = git.is_shallow()
    if git.resolve_commit(published) is None:
        return dict.fromkeys(wanted, "unknown")
    out: dict[str, Relation] = {}
    for revision in wanted:
        if revision == published:
            out[revision] = "same"
        elif git.resolve_commit(revision) is None:
            out[revision] = "unknown"
        elif git.is_ancestor(published, revision):
            out[revision] = "newer"
        elif git.is_ancestor(revision, published):
            out[revision] = "older"
        else:
            out[revision] = "unknown" if shallow else "diverged"
    return out


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

    def is_ancestor(self, older: str, newer: str) -> bool:
        # Exit 1 is "no"; both commits are known to exist, so no other failure is expected.
        return self.try_run("merge-base", "--is-ancestor", older, newer) is not None

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
