"""worktree.py against real git repositories in temporary folders: which files a build would
send that the commit published does not track."""

from __future__ import annotations

from pathlib import Path

from hubpub.worktree import changed_paths, untracked_files
from tests.unit.test_gitstate import Repo, base_env


def test_untracked_files_are_those_the_commit_lacks(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    (repo.path / "app").mkdir()
    (repo.path / ".gitignore").write_text("secret.env\n")
    repo.git("add", ".gitignore")
    first = repo.commit("one", file="app/msg")
    (repo.path / "app" / "secret.env").write_text("TOKEN=x\n")  # ignored by git
    (repo.path / "app" / "new").write_text("new\n")  # untracked, not ignored
    second = repo.commit("two", file="app/later")
    env = base_env(tmp_path)
    app = repo.path / "app"
    files = [app / "msg", app / "secret.env", app / "new", app / "later", tmp_path / "outside"]

    assert untracked_files(repo.path, second, files, env) == ["app/secret.env", "app/new"]
    # At the first commit, "later" did not exist yet.
    assert untracked_files(repo.path, first, files, env) == [
        "app/secret.env",
        "app/new",
        "app/later",
    ]
    # A commit this clone does not have: nothing to compare with.
    assert untracked_files(repo.path, "0" * 40, files, env) == []
    # Only the untracked file git does not ignore shows as a change.
    assert changed_paths(repo.path, [app], env) == ["app/new"]


def test_files_of_a_submodule_count_as_tracked(tmp_path: Path) -> None:
    inner = Repo(tmp_path / "inner")
    inner.commit("lib", file="lib.txt")
    repo = Repo(tmp_path / "repo")
    allow = ("-c", "protocol.file.allow=always")
    repo.git(*allow, "submodule", "-q", "add", str(inner.path), "vendor")
    sha = repo.commit("with a submodule")
    files = [repo.path / "vendor" / "lib.txt", repo.path / "file.txt"]
    assert untracked_files(repo.path, sha, files, base_env(tmp_path)) == []
