"""A saved plan edited by hand is refused before any change (docs/architecture.md: CI is
concurrent and out of order, and a saved plan may be edited): apply makes the plan again from
the config and the digests the file observed, and refuses a reference, action or source the
config does not produce. What the registry holds is read back with skopeo."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import build_project, changes_by_tag, commit_at, uid


def _edit(planfile: Path, change: Any) -> None:
    data = json.loads(planfile.read_text())
    change(data)
    planfile.write_text(json.dumps(data, indent=2))


def test_a_reference_added_to_a_saved_plan_is_refused(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    victim = f"{registry_plain.host}/victim{uid()}/repo:latest"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    planfile = tmp_path / "plan.json"
    project.ok("plan", "--ref", "refs/heads/main", "--out", str(planfile))

    def add_victim(data: Any) -> None:
        changes = data["images"][0]["changes"]
        first = changes[0]
        changes.append({**first, "ref": victim, "via": "tag", "source": first["ref"]})
        data["observed"]["tags"][victim] = None

    _edit(planfile, add_victim)
    refused = project.hubpub("apply", str(planfile))
    assert refused.code == 1
    assert refused.stderr.strip() == (
        f"hubpub: error: the plan {planfile} writes {victim}, which the config does not "
        "publish (the file was edited or made for another config: run 'hubpub plan --out' "
        "again)"
    )
    for repository in (path, victim.partition("/")[2].rpartition(":")[0]):
        listed = skopeo.run(
            "list-tags",
            *skopeo.flags(registry_plain),
            f"docker://{registry_plain.host}/{repository}",
            check=False,
        )
        assert listed.returncode != 0  # nothing was pushed anywhere


def test_a_conflict_turned_into_an_update_in_a_saved_plan_is_refused(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    release = ("--ref", "refs/tags/v1.0.0")
    project.git("tag", "v1.0.0")
    project.ok("apply", *release)
    published = skopeo.digest(registry_plain, f"{path}:1.0.0")
    # The release tag is moved to another commit: 1.0.0 is immutable, a conflict.
    project.write("app/msg", "rewritten\n")
    project.commit("rewritten")
    project.git("tag", "-f", "v1.0.0")
    planfile = tmp_path / "plan.json"
    plan = project.ok("plan", *release, "--out", str(planfile))
    assert f"! conflict  {repo}:1.0.0" in plan.stdout

    def overwrite(data: Any) -> None:
        for change in data["images"][0]["changes"]:
            if change["action"] == "conflict":
                change["action"] = "update"

    _edit(planfile, overwrite)
    refused = project.hubpub("apply", str(planfile))
    assert refused.code == 1
    assert refused.stderr.strip() == (
        f"hubpub: error: the plan {planfile} has update via push (immutable) for {repo}:1.0.0, "
        "the config gives conflict via push (immutable) (the file was edited or made for "
        "another config: run 'hubpub plan --out' again)"
    )
    assert skopeo.digest(registry_plain, f"{path}:1.0.0") == published


def test_a_skip_turned_into_an_update_in_a_saved_plan_does_not_move_the_tag_back(
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
    main = ("--ref", "refs/heads/main")
    project.ok("apply", *main)  # the child's pipeline finishes first
    newest = skopeo.digest(registry_plain, f"{path}:main")

    # The parent's pipeline saves its plan: main is a skip (a newer commit is published) ...
    project.git("checkout", "-q", parent)
    planfile = tmp_path / "plan.json"
    project.ok("plan", *main, "--out", str(planfile))
    fresh = changes_by_tag(project.ok("plan", *main, "--allow-backwards", "--json").json())
    assert fresh["main"]["action"] == "update"

    # ... which someone turns into the update a backwards plan would have.
    def move_back(data: Any) -> None:
        for change in data["images"][0]["changes"]:
            if change["ref"].endswith(":main"):
                assert change["action"] == "skip", change
                change["action"] = "update"
                change["via"] = fresh["main"]["via"]
                change["source"] = f"{repo}:sha-{parent[:7]}"  # what that update reads
                change.pop("reason", None)

    _edit(planfile, move_back)
    applied = project.hubpub("apply", str(planfile))

    assert applied.code == 0, applied.stderr
    assert "would move backwards" in applied.stdout + applied.stderr
    assert skopeo.digest(registry_plain, f"{path}:main") == newest
    assert skopeo.digest(registry_plain, f"{path}:sha-{parent[:7]}") != newest
