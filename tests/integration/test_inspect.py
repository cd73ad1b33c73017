"""`hubpub inspect` run as a user runs it, against real registries (no Docker engine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures import skopeo
from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import build_project
from tests.helpers.registry import (
    empty_docker_config,
    push_layout,
    unique,
    write_layout,
)

HUBPUB = str(Path(sys.executable).parent / "hubpub")


def hubpub(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "DOCKER_CONFIG": str(empty_docker_config(cwd / ".docker-config")),
    }
    return subprocess.run(
        [HUBPUB, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=base | (env or {}),
        check=False,
        timeout=120,
    )


def test_inspect_an_index_text_json_raw_digest(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), index=True)
    push_layout(layout, registry_plain, f"{repo}:1")
    proxy = fault_proxy(registry_plain)
    name = f"{proxy.host}/{repo}:1"

    text = hubpub(tmp_path, "inspect", name)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        f"Name:       {name}",
        f"Digest:     {layout.digest}",
        "Media type: application/vnd.oci.image.index.v1+json",
        f"Size:       {len(skopeo.raw_manifest(registry_plain, f'{repo}:1'))}",
        "Platforms:",
        f"  linux/amd64          {layout.children[0]}",
        f"  linux/arm64          {layout.children[1]}",
    ]

    doc = json.loads(hubpub(tmp_path, "inspect", name, "--json").stdout)
    assert doc["digest"] == skopeo.digest(registry_plain, f"{repo}:1")
    assert [p["platform"] for p in doc["platforms"]] == ["linux/amd64", "linux/arm64"]

    raw = subprocess.run(
        [HUBPUB, "inspect", name, "--raw"], capture_output=True, cwd=tmp_path, check=True
    ).stdout
    assert raw == skopeo.raw_manifest(registry_plain, f"{repo}:1")

    proxy.clear()
    digest = hubpub(tmp_path, "inspect", name, "--digest")
    assert digest.stdout.strip() == layout.digest
    # --digest is one HEAD after the version check: no manifest GET (no Docker Hub pull).
    assert [(r.method, r.path) for r in proxy.requests] == [
        ("GET", "/v2/"),
        ("HEAD", f"/v2/{repo}/manifests/1"),
    ]


def test_inspect_a_single_image_reads_its_platform_from_the_config(
    registry_plain: Registry, tmp_path: Path
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout", platforms=("linux/arm64",))
    push_layout(layout, registry_plain, f"{repo}:1")
    out = hubpub(tmp_path, "inspect", f"{registry_plain.host}/{repo}:1")
    assert out.returncode == 0, out.stderr
    assert "Platform:   linux/arm64" in out.stdout.splitlines()
    assert f"Digest:     {layout.digest}" in out.stdout.splitlines()


def test_inspect_uses_the_registries_of_hubpub_toml(registry_tls: Registry, tmp_path: Path) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_tls, f"{repo}:1")
    name = f"{registry_tls.host}/{repo}:1"
    creds = {"TLS_USER": registry_tls.username or "", "TLS_PASS": registry_tls.password or ""}

    project = tmp_path / "project"
    project.mkdir()
    (project / "hubpub.toml").write_text(
        "version = 1\n"
        f'[registries."{registry_tls.host}"]\n'
        f'ca_file = "{registry_tls.ca_file}"\n'
        'username_env = "TLS_USER"\npassword_env = "TLS_PASS"\n\n'
        '[[image]]\nname = "x"\n'
        f'source = "{name}"\nrepositories = ["{registry_tls.host}/{repo}-x"]\ntags = ["1"]\n'
    )
    ok = hubpub(project, "inspect", name, "--digest", env=creds)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == layout.digest

    # Elsewhere (no hubpub.toml): the CA is unknown, and the message says what to do.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bad = hubpub(elsewhere, "inspect", name, env=creds)
    assert bad.returncode == 1
    assert bad.stderr.startswith(
        f"hubpub: error: TLS verification failed for registry {registry_tls.host}"
    )
    assert "ca_file" in bad.stderr

    missing = hubpub(elsewhere, "inspect", name, "-c", "nope.toml")
    assert missing.returncode == 1
    assert "nope.toml: no such file" in missing.stderr


def test_inspect_shows_the_labels_that_say_which_commit_made_the_image(
    tmp_path: Path,
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
) -> None:
    path = f"{unique('alice')}/app"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{registry_plain.host}/{path}"],
        [registry_plain],
        base=busybox_image,
        tags='tags = [{ preset = "ref", on = "branch" }]',
    )
    commit = project.git("rev-parse", "HEAD")
    project.ok("apply", "--ref", "refs/heads/main", f"--redirect=docker.io={registry_plain.host}")

    ref = f"{registry_plain.host}/{path}:main"
    doc = json.loads(project.ok("inspect", ref, "--json").stdout)
    labels = skopeo.inspect(registry_plain, f"{path}:main")["Labels"]
    assert doc["labels"] == dict(sorted(labels.items()))
    assert doc["labels"]["org.opencontainers.image.revision"] == commit
    text = project.ok("inspect", ref).stdout.splitlines()
    start = text.index("Labels:")
    assert f"  org.opencontainers.image.revision={commit}" in text[start:]
    assert "  org.opencontainers.image.version=main" in text[start:]
