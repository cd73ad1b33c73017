"""Two applies at once on one engine (docs/architecture.md: CI is concurrent): each publishes
its own image. When the engine pushed a local name (``repository:tag``) that both runs re-tag,
a run could push the other's image and tag it ``sha-<its commit>``; apply now uploads the image
it built by its ID (docs/registry.md#uploads-of-built-images), and this test keeps it so."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, Result, build_project, uid

ROUNDS = 4


def test_parallel_applies_of_two_commits_each_publish_their_own_image(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    # Two checkouts of one repository, one per CI job, on two commits of main.
    checkouts = [Project.__new__(Project), Project.__new__(Project)]
    for index, checkout in enumerate(checkouts):
        checkout.root = tmp_path / f"job{index}"
        checkout.env = project.env
        project.git("worktree", "add", "-q", "--detach", str(checkout.root))

    for round_ in range(ROUNDS):
        commits = []
        for index, checkout in enumerate(checkouts):
            project.write("app/msg", f"round {round_} job {index}\n")
            commits.append(project.commit(f"round {round_} job {index}"))
            checkout.git("checkout", "-q", "--detach", commits[-1])

        def apply(checkout: Project) -> Result:
            return checkout.hubpub("apply", "--ref", "refs/heads/main")

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(apply, checkouts))
        for result in results:
            assert result.code == 0, result.stdout + result.stderr
        for sha in commits:
            labels = skopeo.config(registry_plain, f"{path}:sha-{sha[:7]}")["config"]["Labels"]
            assert labels["org.opencontainers.image.revision"] == sha, f"round {round_}"
