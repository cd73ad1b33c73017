"""What is built is what is published as: a build from uncommitted files, or from another
commit than ``--sha``/``--ref`` names, is shown by ``plan`` and refused by ``apply`` unless
``--allow-dirty`` (a user's report: a dirty tree was published as ``sha-<commit>`` without a
word). Real engine, registry and git, as in test_plan_apply.py."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.integration.test_plan_apply import build_project, registry_base, run_image, uid

__all__ = ["registry_base"]  # the module-scoped fixture, shared


def test_uncommitted_changes_in_a_context_are_shown_and_refused_unless_allowed(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    main = ["--ref", "refs/heads/main"]
    sha = project.git("rev-parse", "HEAD")

    # A change outside every build context does not matter.
    project.write("README.md", "# edited, not committed\n")
    assert "warning" not in project.ok("plan", *main).stdout

    project.write("app/msg", "not committed\n")
    plan = project.ok("plan", *main)
    assert (
        f"      warning: its build context has uncommitted changes (app/msg): the image would "
        f"not be commit {sha[:12]}" in plan.stdout.splitlines()
    )
    refused = project.hubpub("apply", *main)
    assert refused.code == 1
    assert refused.stderr.strip() == (
        f"hubpub: error: image 'app': its build context has uncommitted changes (app/msg): the "
        f"image would not be commit {sha[:12]}; nothing was changed (commit the changes, or "
        "pass --allow-dirty to publish the files as they are)"
    )
    assert (
        skopeo.run(
            "list-tags", *skopeo.flags(registry_plain), f"docker://{repo}", check=False
        ).returncode
        != 0
    )

    project.ok("apply", *main, "--allow-dirty")
    assert run_image(docker_engine, f"{repo}:main") == "not committed\n"


def test_a_sha_other_than_the_checkout_is_refused_for_a_build(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    first = project.git("rev-parse", "HEAD")
    project.write("app/msg", "second\n")
    second = project.commit("second")
    refused = project.hubpub("apply", "--ref", "refs/heads/main", "--sha", first)
    assert refused.code == 1
    assert (
        f"it builds the checked-out files (commit {second[:12]}) but publishes them as commit "
        f"{first[:12]}: check out {first[:12]} first; nothing was changed" in refused.stderr
    )


def test_a_version_tag_publishes_its_own_commit_not_the_checkout(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    tmp_path: Path,
) -> None:
    """`--ref refs/tags/v1.0.0` run on a later checkout: the version is the tag's commit, so
    the sha tag names it, and a build (of other files) is refused (a user's report: main was
    published as 1.0.0)."""
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    tagged = project.git("rev-parse", "HEAD")
    project.git("tag", "v1.0.0")
    project.write("app/msg", "after the release\n")
    later = project.commit("later")
    release = ["--ref", "refs/tags/v1.0.0"]
    refs = project.ok("tags", *release, "--json").json()["images"][0]["refs"]
    assert f"{repo}:sha-{tagged[:7]}" in refs
    refused = project.hubpub("apply", *release)
    assert refused.code == 1
    assert (
        f"it builds the checked-out files (commit {later[:12]}) but publishes them as commit "
        f"{tagged[:12]}" in refused.stderr
    )
    project.git("checkout", "-q", "v1.0.0")
    project.ok("apply", *release)
