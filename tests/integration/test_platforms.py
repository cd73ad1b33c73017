"""Multi-platform builds end to end (docs/config.md, "Platforms"): ``hubpub apply`` against the
suite's engine and registries, the results read back with skopeo and ``docker pull --platform``
/ ``docker run --platform``, tools hubpub did not write.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

from hubpub.contentkey import LABEL
from hubpub.platforms import platform_key
from hubpub.registry.models import DOCKER_MANIFEST, OCI_INDEX
from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, build_project, proxy_target, uid

MAIN = ("--ref", "refs/heads/main")
TAGS = 'tags = [{ preset = "ref", on = "branch" }]'


def scratch_project(
    tmp_path: Path, engine: DockerEngine, target: Any, platforms: str, *, more: str = ""
) -> tuple[Project, str]:
    path = f"t{uid()}/multi"
    project = build_project(
        tmp_path,
        engine,
        [f"{target.host}/{path}"],
        [target],
        base="scratch",
        tags=TAGS,
        extra=f"platforms = {platforms}\n{more}",
    )
    project.write("app/Dockerfile", "FROM scratch\nCOPY msg /app/msg\n")
    project.commit("FROM scratch")
    return project, path


def arch_of(engine: DockerEngine, ref: str) -> str:
    return str(engine.client.api.inspect_image(ref)["Architecture"])


def drop_local(engine: DockerEngine, ref: str) -> None:
    repository = ref.rpartition(":")[0]
    for image in engine.client.images.list(name=repository):
        if ref in image.tags:
            engine.client.images.remove(ref, noprune=True)


def test_two_platforms_on_one_engine_make_an_oci_index_that_docker_and_skopeo_read(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    fault_proxy: Any,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    target = proxy_target(proxy)
    project, path = scratch_project(
        tmp_path, docker_engine, target, '["linux/amd64", "linux/arm64"]'
    )
    planned = project.ok("plan", "--json", *MAIN).json()
    assert [b["platforms"] for b in planned["builds"]] == [["linux/amd64", "linux/arm64"]]
    assert "  * platforms: linux/amd64, linux/arm64" in project.ok("plan", *MAIN).stdout

    # hubpub build: every platform built, nothing pushed.
    built = project.ok("build", *MAIN)
    assert "Build: 1 built, 0 failed; nothing pushed." in built.stdout
    assert "[linux/arm64] " in built.stderr
    assert "[linux/amd64] " in built.stderr
    # Each platform's image ID is said, and the engine holds that platform under it.
    for arch in ("amd64", "arm64"):
        said = re.search(
            rf"\[linux/{arch}\] built (sha256:[0-9a-f]{{64}}) for linux/{arch}", built.stderr
        )
        assert said is not None, built.stderr
        inspected = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Architecture}}", said[1]],
            env=docker_engine.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert inspected.stdout.strip() == arch
    project.ok("apply", *MAIN)

    index = skopeo.raw(target, f"{path}:main")
    assert index["mediaType"] == OCI_INDEX
    platforms = [m["platform"] for m in index["manifests"]]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux"},
    ]
    # Docker schema 2 children (what publish.py writes): docs/registry.md#multi-platform-images
    assert {m["mediaType"] for m in index["manifests"]} == {DOCKER_MANIFEST}
    annotations = index["annotations"]
    key = annotations[LABEL]
    assert key.startswith("sha256:")
    assert annotations["org.opencontainers.image.revision"] == project.git("rev-parse", "HEAD")
    assert annotations["org.opencontainers.image.title"] == "app"
    assert "org.opencontainers.image.created" in annotations

    # Each platform's config: its architecture, and its own key in the content-key label.
    for arch in ("amd64", "arm64"):
        out = skopeo.run(
            "inspect",
            "--override-arch",
            arch,
            "--config",
            *skopeo.flags(target),
            f"docker://{target.host}/{path}:main",
        ).stdout
        config = json.loads(out)
        assert config["architecture"] == arch
        labels = config["config"]["Labels"]
        assert labels[LABEL] == platform_key(key, f"linux/{arch}")
        assert (
            labels["org.opencontainers.image.revision"]
            == annotations["org.opencontainers.image.revision"]
        )
    # Each child is in the repository by digest, untagged.
    assert skopeo.list_tags(target, path) == ["main"]

    ref = f"{target.host}/{path}:main"
    drop_local(docker_engine, ref)
    docker_engine.client.api.pull(f"{target.host}/{path}", tag="main", platform="linux/arm64")
    assert arch_of(docker_engine, ref) == "arm64"
    drop_local(docker_engine, ref)
    docker_engine.client.api.pull(f"{target.host}/{path}", tag="main", platform="linux/amd64")
    assert arch_of(docker_engine, ref) == "amd64"

    # Unchanged: no build, no change, and the index's annotations alone say so: with an empty
    # label cache one GET of the index, no platform's manifest or config; then none at all.
    project.env["XDG_CACHE_HOME"] = str(tmp_path / "fresh-cache")
    index_get = f"/v2/{path}/manifests/{skopeo.digest(target, f'{path}:main')}"
    for expected in ([index_get], []):
        proxy.clear()
        replan = project.ok("plan", "--json", *MAIN).json()
        assert replan["builds"] == []
        assert [c["action"] for c in replan["changes"]] == ["noop"]
        gets = [r.path for r in proxy.requests if r.method == "GET" and r.path != "/v2/"]
        assert gets == expected
    proxy.clear()
    project.ok("apply", *MAIN)
    assert [r for r in proxy.requests if r.method in ("PUT", "POST", "PATCH")] == []

    # A config that drops a platform the tag's index has: the plan says which.
    toml = (project.root / "hubpub.toml").read_text()
    project.write("hubpub.toml", toml.replace('"linux/arm64"]', '"linux/arm/v7"]'))
    project.commit("arm/v7 instead of arm64")
    warned = project.ok("plan", *MAIN).stdout
    assert (
        "warning: its index has linux/arm64 now, which the config's platforms drop; after "
        "this change it serves linux/amd64, linux/arm/v7"
    ) in warned


def test_a_run_step_of_an_arm64_build_runs_emulated_and_its_image_runs_on_arm64(
    docker_engine: DockerEngine,
    busybox_arm64_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    project, path = scratch_project(
        tmp_path, docker_engine, registry_plain, '["linux/arm64"]', more='network = "none"\n'
    )
    project.write(
        "app/Dockerfile", f"FROM {busybox_arm64_image}\nRUN uname -m > /arch\nCOPY msg /app/msg\n"
    )
    project.commit("RUN on arm64")
    project.ok("apply", *MAIN)

    # One platform: a single manifest, not an index.
    manifest = skopeo.raw(registry_plain, f"{path}:main")
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert skopeo.config(registry_plain, f"{path}:main")["architecture"] == "arm64"

    ref = f"{registry_plain.host}/{path}:main"
    drop_local(docker_engine, ref)
    docker_engine.client.api.pull(
        f"{registry_plain.host}/{path}", tag="main", platform="linux/arm64"
    )
    container = docker_engine.client.api.create_container(
        ref, ["cat", "/arch"], platform="linux/arm64", network_disabled=True
    )
    try:
        docker_engine.client.api.start(container)
        docker_engine.client.api.wait(container)
        out = docker_engine.client.api.logs(container)
    finally:
        docker_engine.client.api.remove_container(container, force=True)
    assert out.decode().strip() == "aarch64"
    assert project.ok("plan", "--json", *MAIN).json()["builds"] == []


def test_a_build_of_the_wrong_architecture_is_an_error_and_publishes_nothing(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    # The classic builder builds FROM a local image for that image's architecture (amd64),
    # whatever platform is asked.
    project, path = scratch_project(
        tmp_path,
        docker_engine,
        registry_plain,
        '["linux/arm64"]',
        more='builder = "classic"\nnetwork = "none"\n',
    )
    project.write("app/Dockerfile", f"FROM {busybox_image}\nCOPY msg /app/msg\n")
    project.commit("FROM a local amd64 image")
    failed = project.ok("apply", *MAIN, code=1)
    errors = [line for line in failed.stderr.splitlines() if "error" in line]
    assert any(
        "the build for linux/arm64 made an image for linux/amd64" in line for line in errors
    ), failed.stderr
    assert "Traceback" not in failed.stderr
    absent = skopeo.run(
        "inspect",
        "--raw",
        *skopeo.flags(registry_plain),
        f"docker://{registry_plain.host}/{path}:main",
        check=False,
    )
    assert absent.returncode != 0
    assert "manifest unknown" in absent.stderr
