"""read_git_state against real git repositories in temporary folders (no mocks of git), with CI
variables passed in as the environment (docs/config.md#what-templates-see)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hubpub.errors import GitError
from hubpub.gitstate import (
    ci_state,
    clean_url,
    commit_relations,
    read_git_state,
    ref_kind,
    run_git,
)


class Repo:
    """A throwaway git repository with a fixed identity and clock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 1_700_000_000
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    @property
    def env(self) -> dict[str, str]:
        return base_env(self.path.parent) | {
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "GIT_AUTHOR_DATE": f"@{self.clock} +0000",
            "GIT_COMMITTER_DATE": f"@{self.clock} +0000",
        }

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(self, message: str = "change", file: str = "file.txt") -> str:
        self.clock += 60
        target = self.path / file
        target.write_text(f"{message} {self.clock}\n")
        self.git("add", file)
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, *, annotated: bool = False, ref: str = "HEAD") -> None:
        if annotated:
            self.git("tag", "-a", name, "-m", f"release {name}", ref)
        else:
            self.git("tag", name, ref)


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: no CI variables of the machine running the tests leak in."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def read(repo: Repo, extra: Mapping[str, str] | None = None, **kwargs: str | None):  # type: ignore[no-untyped-def]
    return read_git_state(repo.path, base_env(repo.path.parent) | dict(extra or {}), **kwargs)


def test_branch(repo: Repo) -> None:
    sha = repo.commit("one")
    state = read(repo)
    assert state.sha == sha
    assert state.short_sha == sha[:7]
    assert (state.ref, state.ref_name, state.branch, state.tag) == (
        "refs/heads/main",
        "main",
        "main",
        None,
    )
    assert state.default_branch == "main"
    assert state.is_default_branch
    assert state.commit_time == datetime.fromtimestamp(repo.clock, tz=UTC)
    assert state.commit_time.tzinfo is not None
    assert not state.dirty
    assert state.pr_number is None
    assert state.source_url is None


def test_feature_branch_in_subfolder(repo: Repo) -> None:
    repo.commit()
    repo.git("checkout", "-q", "-b", "my/branch")
    (repo.path / "sub").mkdir()
    state = read_git_state(repo.path / "sub", base_env(repo.path.parent))
    assert state.branch == "my/branch"
    assert not state.is_default_branch


def test_dirty_tracked_changes_only(repo: Repo) -> None:
    repo.commit()
    (repo.path / "untracked.txt").write_text("x")
    assert not read(repo).dirty
    (repo.path / "file.txt").write_text("changed")
    assert read(repo).dirty


@pytest.mark.parametrize("annotated", [False, True])
def test_detached_on_a_tag(repo: Repo, annotated: bool) -> None:
    sha = repo.commit()
    repo.tag("v1.2.3", annotated=annotated)
    repo.git("checkout", "-q", "--detach", "v1.2.3")
    state = read(repo)
    assert state.sha == sha  # the commit, not the annotated tag object
    assert (state.ref, state.tag, state.branch) == ("refs/tags/v1.2.3", "v1.2.3", None)
    assert state.version_tags == ("v1.2.3",)


def test_detached_picks_the_highest_version_tag(repo: Repo) -> None:
    repo.commit()
    for name in ("v1.0.0-rc.1", "v1.0.0", "latest-build", "v0.9.0"):
        repo.tag(name)
    repo.git("checkout", "-q", "--detach")
    assert read(repo).tag == "v1.0.0"


def test_detached_without_tag_or_ci(repo: Repo) -> None:
    repo.commit()
    repo.commit()
    repo.git("checkout", "-q", "HEAD~1")
    state = read(repo)
    assert (state.ref, state.ref_name, state.branch, state.tag) == (None, None, None, None)
    assert not state.is_default_branch


def test_on_a_branch_a_tag_at_head_does_not_make_it_a_tag_build(repo: Repo) -> None:
    # CI sends a branch push and a tag push as two events; locally, the branch wins.
    repo.commit()
    repo.tag("v1.0.0")
    state = read(repo)
    assert (state.ref, state.tag) == ("refs/heads/main", None)
    assert state.version_tags == ("v1.0.0",)


def test_github_detached_branch(repo: Repo) -> None:
    sha = repo.commit()
    repo.git("checkout", "-q", "--detach")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": sha,
        "GITHUB_REPOSITORY": "jpetazzo/figlet",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    state = read(repo, env)
    assert (state.branch, state.ref, state.is_default_branch) == ("main", "refs/heads/main", True)
    assert state.source_url == "https://github.com/jpetazzo/figlet"


def test_github_pull_request_uses_head_sha(repo: Repo, tmp_path: Path) -> None:
    head = repo.commit("head")
    merge = repo.commit("merge")
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "pull_request": {"number": 2, "head": {"sha": head, "ref": "feature/x"}},
                "repository": {"default_branch": "trunk"},
            }
        )
    )
    env = {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REF": "refs/pull/2/merge",
        "GITHUB_SHA": merge,
        "GITHUB_HEAD_REF": "feature/x",
        "GITHUB_EVENT_PATH": str(event),
    }
    state = read(repo, env)
    assert state.sha == head
    assert (state.ref, state.ref_name, state.pr_number) == ("refs/pull/2/merge", "2/merge", 2)
    assert state.branch == "feature/x"
    assert state.default_branch == "trunk"
    assert not state.is_default_branch


def test_github_tag(repo: Repo) -> None:
    sha = repo.commit()
    env = {"GITHUB_REF": "refs/tags/v2.0.0", "GITHUB_SHA": sha}
    state = read(repo, env)
    assert (state.tag, state.branch, state.ref_name) == ("v2.0.0", None, "v2.0.0")


def test_gitlab_variables(repo: Repo) -> None:
    sha = repo.commit()
    repo.git("checkout", "-q", "--detach")
    base = {
        "CI_COMMIT_SHA": sha,
        "CI_DEFAULT_BRANCH": "develop",
        "CI_PROJECT_URL": "https://gitlab-ci-token:secret@gitlab.com/jp/figlet",
    }
    state = read(repo, base | {"CI_COMMIT_REF_NAME": "develop", "CI_COMMIT_BRANCH": "develop"})
    assert (state.branch, state.is_default_branch) == ("develop", True)
    assert state.source_url == "https://gitlab.com/jp/figlet"
    state = read(repo, base | {"CI_COMMIT_REF_NAME": "v1.0.0", "CI_COMMIT_TAG": "v1.0.0"})
    assert (state.ref, state.tag) == ("refs/tags/v1.0.0", "v1.0.0")
    state = read(
        repo,
        base
        | {
            "CI_COMMIT_REF_NAME": "feat",
            "CI_MERGE_REQUEST_IID": "17",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feat",
        },
    )
    assert (state.ref, state.pr_number, state.branch) == ("refs/merge-requests/17/head", 17, "feat")
    assert ref_kind(state.ref) == "pr"


def test_options_override_ci_and_git(repo: Repo) -> None:
    first = repo.commit()
    second = repo.commit()
    repo.tag("v1.0.0", ref=first)
    env = {"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": second}
    state = read(repo, env, ref="refs/tags/v9.9.9", sha=first[:10])
    assert (state.ref, state.tag, state.sha) == ("refs/tags/v9.9.9", "v9.9.9", first)
    # A short name resolves to the tag, else the branch, of that name.
    assert read(repo, ref="v1.0.0").ref == "refs/tags/v1.0.0"
    assert read(repo, ref="main").ref == "refs/heads/main"
    with pytest.raises(GitError, match="--ref 'nope': no tag or branch"):
        read(repo, ref="nope")
    with pytest.raises(GitError, match="--sha 'zzz': not a commit"):
        read(repo, sha="zzz")


@pytest.mark.parametrize(
    "ref", ["refs/heads/", "refs/tags/", "refs/pull/x/merge", "refs/foo/bar", "refs/"]
)
def test_a_malformed_full_ref_is_an_error(repo: Repo, ref: str) -> None:
    # Without the check these published nothing and said only "(no tags for this ref)".
    repo.commit()
    with pytest.raises(GitError) as caught:
        read(repo, ref=ref)
    assert str(caught.value) == (
        f"--ref '{ref}': not a branch, tag or pull request ref "
        "(give a full ref: refs/heads/NAME, refs/tags/NAME or refs/pull/N/merge)"
    )


def test_default_branch_from_origin_head_and_config(tmp_path: Path, repo: Repo) -> None:
    repo.commit()
    repo.git("branch", "-m", "main", "trunk")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(repo.path), str(clone)],
        check=True,
        env=repo.env,
        capture_output=True,
    )
    env = base_env(tmp_path)
    state = read_git_state(clone, env)
    assert (state.default_branch, state.is_default_branch) == ("trunk", True)
    assert state.source_url is None  # a local path is not a URL worth a label
    assert read_git_state(clone, env, default_branch="main").default_branch == "main"


def test_source_url_never_leaks_credentials(repo: Repo) -> None:
    repo.commit()
    repo.git("remote", "add", "origin", "https://user:hunter22@github.com/jpetazzo/figlet.git")
    state = read(repo)
    assert state.source_url == "https://github.com/jpetazzo/figlet"
    assert "hunter22" not in repr(state)


def test_not_a_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(GitError) as caught:
        read_git_state(folder, base_env(tmp_path) | {"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert str(caught.value) == (
        f"{folder} is not in a git repository "
        "(run hubpub inside a clone, or pass both --ref and --sha)"
    )
    # With both known, git is not needed (an exported tarball in CI).
    sha = "a" * 40
    state = read_git_state(
        folder,
        base_env(tmp_path) | {"SOURCE_DATE_EPOCH": "1700000000"},
        ref="refs/tags/v1.0.0",
        sha=sha,
    )
    assert (state.tag, state.sha, state.dirty, state.version_tags) == ("v1.0.0", sha, False, ())
    assert state.commit_time == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    state = read_git_state(
        folder, base_env(tmp_path) | {"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": sha}
    )
    assert state.branch == "main"


def test_empty_repository(repo: Repo) -> None:
    with pytest.raises(GitError, match="no commit yet"):
        read(repo)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:jpetazzo/figlet.git", "https://github.com/jpetazzo/figlet"),
        ("ssh://git@github.com/jpetazzo/figlet", "https://github.com/jpetazzo/figlet"),
        ("ssh://git@gitlab.example.com:2222/a/b.git", "https://gitlab.example.com/a/b"),
        ("https://x-access-token:ghs_abc@github.com/a/b.git", "https://github.com/a/b"),
        ("https://oauth2@gitlab.com/a/b", "https://gitlab.com/a/b"),
        ("http://git.local:8080/a/b", "http://git.local:8080/a/b"),
        ("git://example.com/a/b.git", "https://example.com/a/b"),
        ("/srv/git/figlet.git", None),
        ("../figlet", None),
        ("file:///srv/git/figlet", None),
    ],
)
def test_clean_url(url: str, expected: str | None) -> None:
    assert clean_url(url) == expected


def test_ci_state_outside_ci() -> None:
    assert ci_state({"PATH": "/bin"}) == ci_state({})


def test_commit_relations_answer_from_the_history(tmp_path: Path) -> None:
    """How the commit an image was built from relates to the one published: what the rule
    that tags only move forward decides from (planner.newer_published)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(tmp_path),
    }

    def git(*args: str, cwd: Path = repo) -> str:
        return run_git(args, cwd, env)

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "parent")
    parent = git("rev-parse", "HEAD")
    git("commit", "-q", "--allow-empty", "-m", "child")
    child = git("rev-parse", "HEAD")
    git("checkout", "-q", "-b", "side", parent)
    git("commit", "-q", "--allow-empty", "-m", "side")
    side = git("rev-parse", "HEAD")
    missing = "f" * 40
    revisions = [child, parent, side, missing, ""]
    assert commit_relations(repo, parent, revisions, env) == {
        child: "newer",
        parent: "same",
        side: "newer",
        missing: "unknown",
    }
    assert commit_relations(repo, child, revisions, env) == {
        child: "same",
        parent: "older",
        side: "diverged",
        missing: "unknown",
    }
    # A shallow clone of the child: the parent is cut off, nothing is proven.
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", "--branch", "main", f"file://{repo}", str(shallow))
    assert commit_relations(shallow, child, [parent, side], env) == {
        parent: "unknown",
        side: "unknown",
    }
    # Outside a repository, or a published commit git does not know: nothing is known.
    outside = tmp_path / "outside"
    outside.mkdir()
    assert commit_relations(outside, child, [parent], env) == {parent: "unknown"}
    assert commit_relations(repo, missing, [parent], env) == {parent: "unknown"}
    assert commit_relations(repo, child, [], env) == {}
