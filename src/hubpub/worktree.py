"""The work tree against the commit published: which files a build would send that are not
that commit's (commands/_session.py checkout_warnings asks, before anything is published).

git runs through :func:`gitstate.run_git`, its one owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hubpub.errors import GitError
from hubpub.gitstate import NoGit, run_git


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
    except (GitError, NoGit):
        return []
    # "XY path" or "XY old -> new": the path a build would read is the last one.
    return [line[3:].rpartition(" -> ")[2] for line in out.splitlines() if len(line) > 3]


def untracked_files(
    top: Path, sha: str, paths: Sequence[Path], environ: Mapping[str, str]
) -> list[str]:
    """Of the files ``paths`` (absolute, under ``top``), those the commit ``sha`` does not
    track, relative to ``top``, in the order given: a build that sends them publishes files
    that commit does not have (a git-ignored ``secret.env`` under ``COPY . /app/``). A file
    inside a submodule counts as tracked (the superproject records only its commit). Empty
    when ``sha`` is not in this clone: nothing to compare with."""
    relative = []
    for path in paths:
        try:
            relative.append(path.relative_to(top).as_posix())
        except ValueError:
            continue  # outside the work tree: check_files allowed it on purpose
    if not relative:
        return []
    try:
        out = run_git(["ls-tree", "-r", "-z", "--full-tree", sha], top, environ, strip=False)
    except (GitError, NoGit):
        return []
    tracked: set[str] = set()
    modules: list[str] = []
    for entry in out.split("\0"):
        meta, _, name = entry.partition("\t")
        if not name:
            continue
        if meta.split(" ")[1:2] == ["commit"]:
            modules.append(name + "/")
        tracked.add(name)
    return [
        rel
        for rel in relative
        if rel not in tracked and not any(rel.startswith(module) for module in modules)
    ]
