"""Tags only move forward (docs/config.md, "Tags only move forward"), end to end.

Real engine, real registry, real git history; what the tags point to is read back with skopeo.
An older pipeline that finishes last, a backport release, a shallow clone, and two applies
racing on one tag must never leave a floating tag on an older image.
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, build_project, changes_by_tag, commit_at, uid

REVISION = "org.opencontainers.image.revision"


def test_an_older_commit_finishing_last_does_not_move_floating_tags_back(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    tags = (
        'tags = [{ preset = "ref", on = "branch" }, { preset = "edge" }, { preset = "sha" }]\n'
        "latest = true"
    )
    project = build_project(
        tmp_path, docker_engine, [repo], [registry_plain], base=registry_base, tags=tags
    )
    parent = commit_at(project, "parent", 10)
    project.write("app/msg", "child\n")
    child = commit_at(project, "child", 20)
    main = ["--ref", "refs/heads/main"]

    # The child's pipeline finishes first.
    project.ok("apply", *main)
    newest = skopeo.digest(registry_plain, f"{path}:main")

    # Then the parent's: its sha tag is published, main, edge and latest stay on the child.
    project.git("checkout", "-q", parent)
    plan = project.ok("plan", *main, "--json").json()
    changes = changes_by_tag(plan)
    for tag in ("main", "edge", "latest"):
        assert changes[tag]["action"] == "skip", changes[tag]
        assert changes[tag]["reason"] == f"newer published: commit {child[:7]}"
        assert changes[tag]["current"] == newest
    assert changes[f"sha-{parent[:7]}"]["action"] == "create"
    text = project.ok("plan", *main).stdout
    line = rf"  - skip +{re.escape(repo)}:main +\(newer published: commit {child[:7]}\)"
    assert re.search(line, text), text
    assert "3 skipped." in text

    applied = project.ok("apply", *main)  # exit 0: a skip is not a failure
    assert "3 skipped." in applied.stdout
    for tag in ("main", "edge", "latest"):
        assert skopeo.digest(registry_plain, f"{path}:{tag}") == newest
    older = skopeo.digest(registry_plain, f"{path}:sha-{parent[:7]}")
    assert older != newest
    assert (
        skopeo.config(registry_plain, f"{path}:sha-{parent[:7]}")["config"]["Labels"][REVISION]
        == parent
    )

    # Nothing left to do: a second run of the old pipeline skips again, and builds nothing.
    again = project.ok("plan", *main, "--json", "--detailed-exitcode").json()
    assert again["builds"] == []
    assert {c["action"] for c in again["changes"]} == {"skip", "noop"}

    # --allow-backwards moves them (a deliberate rollback).
    back = project.ok("plan", *main, "--allow-backwards", "--json").json()
    assert changes_by_tag(back)["main"]["action"] == "update"
    project.ok("apply", *main, "--allow-backwards")
    assert skopeo.digest(registry_plain, f"{path}:main") == older

    # Forward again from the child: a descendant moves the tag as always.
    project.git("checkout", "-q", child)
    project.ok("apply", *main)
    assert skopeo.digest(registry_plain, f"{path}:main") == newest


def test_a_shallow_clone_compares_commit_times_and_a_force_push_moves_the_tag(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    tags = 'tags = [{ preset = "ref", on = "branch" }, { preset = "sha" }]'
    project = build_project(
        tmp_path, docker_engine, [repo], [registry_plain], base=registry_base, tags=tags
    )
    parent = commit_at(project, "parent", 10)
    project.write("app/msg", "child\n")
    commit_at(project, "child", 20)
    main = ["--ref", "refs/heads/main"]
    project.ok("apply", *main)
    newest = skopeo.digest(registry_plain, f"{path}:main")

    # actions/checkout's default: a clone of depth 1 of the parent, where the child is unknown.
    shallow = tmp_path / "shallow"
    project.git("branch", "-f", "old", parent)
    source = f"file://{project.root}"
    project.git("clone", "-q", "--depth", "1", "--branch", "old", source, str(shallow))
    clone = Project(shallow, docker_engine)
    clone.env = project.env
    plan = clone.ok("plan", *main, "--json").json()
    assert changes_by_tag(plan)["main"]["action"] == "skip"
    clone.ok("apply", *main)
    assert skopeo.digest(registry_plain, f"{path}:main") == newest

    # A force push: a new commit on another line of history, later than the child.
    project.git("checkout", "-q", "-b", "rewritten", parent)
    project.write("app/msg", "rewritten\n")
    rewritten = commit_at(project, "rewritten", 30)
    plan = project.ok("plan", *main, "--json").json()
    assert changes_by_tag(plan)["main"]["action"] == "update"
    project.ok("apply", *main)
    labels = skopeo.config(registry_plain, f"{path}:main")["config"]["Labels"]
    assert labels[REVISION] == rewritten


def test_a_backport_release_does_not_move_the_major_tag(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    base = project.git("rev-parse", "HEAD")
    project.write("app/msg", "1.3.0\n")
    project.commit("1.3.0")
    project.git("tag", "v1.3.0")
    project.ok("apply", "--ref", "refs/tags/v1.3.0")
    new = skopeo.digest(registry_plain, f"{path}:1.3.0")
    for tag in ("1.3", "1", "latest"):
        assert skopeo.digest(registry_plain, f"{path}:{tag}") == new

    project.git("checkout", "-q", "-b", "release-1.2", base)
    project.write("app/msg", "1.2.9\n")
    project.commit("backport")
    project.git("tag", "v1.2.9")
    plan = project.ok("plan", "--ref", "refs/tags/v1.2.9", "--json").json()
    assert {"1.2.9", "1.2"} <= set(changes_by_tag(plan))
    assert not {"1", "latest"} & set(changes_by_tag(plan))
    project.ok("apply", "--ref", "refs/tags/v1.2.9")
    backport = skopeo.digest(registry_plain, f"{path}:1.2.9")
    assert skopeo.digest(registry_plain, f"{path}:1.2") == backport != new
    for tag in ("1.3", "1", "latest"):
        assert skopeo.digest(registry_plain, f"{path}:{tag}") == new


def test_two_applies_racing_on_a_branch_leave_it_on_the_child(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    """Two pipelines, a parent and its child, started together: whichever finishes last, main
    ends on the child (the compare-and-swap before each tag's PUT, executor.py)."""
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    tags = 'tags = [{ preset = "ref", on = "branch" }, { preset = "sha" }]'
    project = build_project(
        tmp_path, docker_engine, [repo], [registry_plain], base=registry_base, tags=tags
    )
    trees = [tmp_path / "parent", tmp_path / "child"]
    for tree in trees:
        project.git("worktree", "add", "-q", "--detach", str(tree))

    def apply(tree: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hubpub", "apply", "--ref", "refs/heads/main"],
            cwd=tree,
            env=project.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    for round_ in range(4):
        project.write("app/msg", f"parent {round_}\n")
        parent = commit_at(project, f"parent {round_}", 100 * round_ + 10)
        project.write("app/msg", f"child {round_}\n")
        child = commit_at(project, f"child {round_}", 100 * round_ + 20)
        for tree, commit in zip(trees, (parent, child), strict=True):
            subprocess.run(["git", "checkout", "-q", "--detach", commit], cwd=tree, check=True)
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(apply, trees))
        for result in done:
            assert result.returncode == 0, result.stdout + result.stderr
        labels = skopeo.config(registry_plain, f"{path}:main")["config"]["Labels"]
        assert labels[REVISION] == child, (round_, [r.stdout + r.stderr for r in done])
        assert skopeo.digest(registry_plain, f"{path}:main") == skopeo.digest(
            registry_plain, f"{path}:sha-{child[:7]}"
        )
