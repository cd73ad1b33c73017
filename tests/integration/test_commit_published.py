"""A published tag is the commit it names (docs/config.md, ``git.sha``), end to end.

Whatever reaches a registry under ``sha-<commit>`` (built, or reused by its content key) must
be that commit's files: another checkout, uncommitted changes, files git ignores, or a context
outside the repository are shown by ``plan`` and refused by ``apply`` unless ``--allow-dirty``
(a config error, for a context outside the repository). Checked with skopeo: nothing is
published when apply refuses.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, build_project, run_image, uid

MAIN = ("--ref", "refs/heads/main")


def _tags(skopeo: ModuleType, registry: Registry, repo: str) -> set[str]:
    done = skopeo.run("list-tags", *skopeo.flags(registry), f"docker://{repo}", check=False)
    if done.returncode != 0:
        return set()  # no such repository yet
    return set(json.loads(done.stdout)["Tags"])


def _project(
    tmp_path: Path, engine: DockerEngine, registry: Registry, base: str
) -> tuple[Project, str]:
    repo = f"{registry.host}/t{uid()}/app"
    return build_project(tmp_path, engine, [repo], [registry], base=base), repo


def test_a_sha_other_than_the_checkout_is_refused_when_it_reuses_an_image(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    """``--sha A`` run from a checkout of B: B's image has the checkout's content key, so it
    would be reused (no build) and ``sha-A`` would name B's files."""
    project, repo = _project(tmp_path, docker_engine, registry_plain, registry_base)
    first = project.git("rev-parse", "HEAD")
    project.write("app/msg", "second\n")
    second = project.commit("second")
    project.ok("apply", *MAIN)  # B's image, under sha-B and main

    plan = project.ok("plan", *MAIN, "--sha", first)
    assert "* build" not in plan.stdout  # a reuse, not a build
    text = (
        f"it builds the checked-out files (commit {second[:12]}) but publishes them as "
        f"commit {first[:12]}: check out {first[:12]} first"
    )
    assert f"      warning: {text}" in plan.stdout.splitlines()
    refused = project.hubpub("apply", *MAIN, "--sha", first)
    assert refused.code == 1, refused.stdout + refused.stderr
    assert f"{text}; nothing was changed" in refused.stderr
    assert f"sha-{first[:7]}" not in _tags(skopeo, registry_plain, repo)


def test_uncommitted_files_matching_an_older_image_are_refused(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    """The working tree is edited back to the first commit's files: their key is the first
    image's, which would be reused as ``sha-<second>`` with exit 0."""
    project, repo = _project(tmp_path, docker_engine, registry_plain, registry_base)
    project.ok("apply", *MAIN)
    project.write("app/msg", "second\n")
    second = project.commit("second")
    project.write("app/msg", "hello v1\n")  # the first commit's content, not committed

    plan = project.ok("plan", *MAIN)
    assert "* build" not in plan.stdout
    text = (
        "its build context has uncommitted changes (app/msg): the image would not be commit "
        f"{second[:12]}"
    )
    assert f"      warning: {text}" in plan.stdout.splitlines()
    refused = project.hubpub("apply", *MAIN)
    assert refused.code == 1
    assert f"{text}; nothing was changed" in refused.stderr
    assert f"sha-{second[:7]}" not in _tags(skopeo, registry_plain, repo)


def test_files_git_ignores_are_not_published_unless_allowed(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    """``secret.env`` in ``.gitignore`` but not in ``.dockerignore``, and ``COPY . /app/``: the
    build would send it, and the image would carry it."""
    project, repo = _project(tmp_path, docker_engine, registry_plain, registry_base)
    project.write("app/Dockerfile", f"FROM {registry_base}\nCOPY . /app/\n")
    project.write(".gitignore", "secret.env\nbuild/\n")
    sha = project.commit("copy all")
    project.write("app/secret.env", "TOKEN=do-not-publish\n")
    project.write("app/build/out.o", "object\n")

    plan = project.ok("plan", *MAIN)
    text = (
        f"its build context sends files commit {sha[:12]} does not track (app/build/out.o, "
        f"app/secret.env): the image would not be commit {sha[:12]}; commit them, or leave "
        "them out with .dockerignore"
    )
    assert f"      warning: {text}" in plan.stdout.splitlines()
    refused = project.hubpub("apply", *MAIN)
    assert refused.code == 1
    assert f"{text}; nothing was changed" in refused.stderr
    assert _tags(skopeo, registry_plain, repo) == set()

    # Left out by .dockerignore (and committed): the build sends only the commit's files.
    project.write("app/.dockerignore", "*.tmp\nsecret.env\nbuild\n")
    project.commit("ignore them")
    plan = project.ok("plan", *MAIN)
    assert "warning" not in plan.stdout
    project.ok("apply", *MAIN)
    assert run_image(docker_engine, f"{repo}:main") == "hello v1\n"
    files = docker_engine.client.containers.run(
        f"{repo}:main", ["ls", "/app"], remove=True, network_mode="none"
    )
    assert b"secret.env" not in files


def test_a_context_outside_the_repository_is_a_config_error_unless_allowed(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    tmp_path: Path,
) -> None:
    project, _repo = _project(tmp_path, docker_engine, registry_plain, registry_base)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_text(f"FROM {registry_base}\n")
    config = (project.root / "hubpub.toml").read_text()
    project.write("hubpub.toml", config.replace('context = "app"', 'context = "../outside"'))
    project.commit("outside")
    line = next(
        number for number, text in enumerate(config.splitlines(), 1) if text.startswith("context =")
    )

    for command in ("validate", "plan"):
        refused = project.hubpub(command, *(MAIN if command == "plan" else ()))
        assert refused.code == 1
        assert refused.stderr.strip() == (
            f"hubpub: error: hubpub.toml:{line}: image[app].context: {outside} is outside the "
            f"git work tree {project.root.resolve()}: its files are no commit's (move it into "
            "the repository, or set context_outside_repository = true to publish it anyway)"
        )

    allowed = (project.root / "hubpub.toml").read_text() + "context_outside_repository = true\n"
    project.write("hubpub.toml", allowed)
    project.commit("allowed")
    plan = project.ok("plan", *MAIN)
    assert "* build" in plan.stdout
    assert "warning" not in plan.stdout


def test_a_dockerfile_outside_the_repository_is_a_config_error(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    tmp_path: Path,
) -> None:
    project, _repo = _project(tmp_path, docker_engine, registry_plain, registry_base)
    (tmp_path / "Dockerfile.outside").write_text(f"FROM {registry_base}\n")
    config = (project.root / "hubpub.toml").read_text()
    project.write("hubpub.toml", config + 'dockerfile = "../../Dockerfile.outside"\n')
    project.commit("outside")
    refused = project.hubpub("plan", *MAIN)
    assert refused.code == 1
    assert "image[app].dockerfile: " in refused.stderr
    assert "is outside the git work tree" in refused.stderr
    assert "Traceback" not in refused.stderr
