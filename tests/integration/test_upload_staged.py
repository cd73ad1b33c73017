"""A large build goes through the staging reference (docs/registry.md#uploads-of-built-images,
"Large images"): the engine pushes it to ``hubpub-staging-<content key>`` in its first
repository, every target mounts the blobs from there, gets the manifest by digest, then its
tags. ``HUBPUB_STAGE_ABOVE_MB=0`` stages every build, so a small image takes that path here;
checked with skopeo, a watcher reading the registry while apply runs, and docker pull + run."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from types import ModuleType

import pytest

from tests.fixtures.engine import DockerEngine
from tests.fixtures.plugin import ProxyFactory
from tests.fixtures.proxy import FaultProxy
from tests.fixtures.registry import Registry
from tests.helpers.project import build_project, proxy_target, run_image, uid
from tests.integration.test_upload import _Reader, _writes, watching

STAGED = {"HUBPUB_STAGE_ABOVE_MB": "0"}


def _order(proxy: FaultProxy, path: str) -> list[str]:
    """``path``'s successful writes in order: ``blob`` (an upload's PUT or a mount), ``by
    digest`` (a manifest PUT by digest), ``staging`` or ``tag`` (a manifest PUT by tag)."""
    kinds = []
    for r in _writes(proxy):
        if not r.path.startswith(f"/v2/{path}/"):
            continue
        mount = r.method == "POST" and "mount=" in r.path
        if (r.method == "PUT" and "digest=" in r.path) or mount:
            kinds.append("blob")
        elif r.method == "PUT" and "/manifests/sha256:" in r.path:
            kinds.append("by digest")
        elif r.method == "PUT" and "/manifests/hubpub-staging-" in r.path:
            kinds.append("staging")
        elif r.method == "PUT" and "/manifests/" in r.path:
            kinds.append("tag")
    return kinds


def test_a_staged_build_is_mounted_into_every_repository_then_tagged(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    target = proxy_target(proxy)
    name = f"s{uid()}"
    paths = [f"{name}/app", f"{name}/mirror"]
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{proxy.host}/{p}" for p in paths],
        [target],
        base=busybox_image,
        tags='tags = [{ preset = "ref", on = "branch" }, { preset = "sha" }]',
    )
    project.env.update(STAGED)
    main = ["--ref", "refs/heads/main", f"--redirect=docker.io={registry_plain.host}"]
    readers = [_Reader(registry_plain, p) for p in paths]

    with watching(readers) as found:
        applied = project.ok("apply", *main, "--json")
    assert found["broken"] == []  # the staging tag included: the engine's push ends with it
    assert "pushing the image to the staging reference" in applied.stderr
    assert "exporting the image" not in applied.stderr
    digests = applied.json()["digests"]
    assert len(digests) == 4
    digest = next(iter(digests.values()))
    assert set(digests.values()) == {digest}

    # The staging tag: in the first repository only, named after the content key (at the
    # image the tags point to: below).
    [staging] = [t for t in readers[0].tags() if t.startswith("hubpub-staging-")]
    assert len(staging) == len("hubpub-staging-") + 64
    assert not [t for t in readers[1].tags() if t.startswith("hubpub-staging-")]

    # Counted before any other client reads through the proxy: every blob arrives once (by
    # the engine, in the first repository: an upload, or its own mount of a blob it pushed
    # elsewhere before), is mounted by hubpub into the second, and is never downloaded.
    blobs = 1 + len(readers[0].manifest("main")["layers"])
    assert proxy.requests_matching("GET", r"/blobs/") == []
    by_engine = [r for r in _writes(proxy) if "hubpub" not in r.headers.get("user-agent", "")]
    placed = [r for r in by_engine if "digest=" in r.path or "mount=" in r.path]
    assert len(placed) == blobs, [r.path for r in placed]
    assert {r.path.split("/blobs/")[0] for r in placed} == {f"/v2/{paths[0]}"}
    mounts = [r for r in _writes(proxy) if r.method == "POST" and f"/v2/{paths[1]}/" in r.path]
    assert len(mounts) == blobs
    assert all("mount=" in r.path for r in mounts)
    # In each repository, the blobs, then the manifest by digest, then the tags.
    first = _order(proxy, paths[0])
    assert first[: blobs + 1] == ["blob"] * blobs + ["staging"], first
    assert first[blobs + 1 :] == ["by digest", "tag", "tag"], first
    assert _order(proxy, paths[1]) == ["blob"] * blobs + ["by digest", "tag", "tag"]

    assert skopeo.digest(target, f"{paths[0]}:{staging}") == digest
    for path in paths:
        assert skopeo.digest(target, f"{path}:main") == digest
        raw = skopeo.raw(target, f"{path}:main")
        assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert run_image(docker_engine, f"{proxy.host}/{paths[1]}:main") == "hello v1\n"

    # A second apply uploads nothing.
    proxy.clear()
    again = project.ok("apply", *main)
    assert "No changes." in again.stdout
    assert proxy.requests_matching(None, r"/blobs/") == []
    assert proxy.requests_matching("PUT") == []


def test_below_the_threshold_a_build_is_exported_not_staged(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    path = f"t{uid()}/app"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{proxy.host}/{path}"],
        [proxy_target(proxy)],
        base=busybox_image,
        tags='tags = [{ preset = "ref", on = "branch" }]',
    )
    project.env["HUBPUB_STAGE_ABOVE_MB"] = "50"  # the image is a few MB
    applied = project.ok("apply", "--ref", "refs/heads/main")
    assert "exporting the image" in applied.stderr
    assert "staging" not in applied.stderr
    assert _Reader(registry_plain, path).tags() == ["main"]


@pytest.mark.parametrize("fault", ["engine upload 503", "manifest PUT 503 until fixed"])
def test_faults_on_the_staged_path_are_retried_or_fail_in_one_line_and_converge(
    fault: str,
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    name = f"g{uid()}"
    paths = [f"{name}/app", f"{name}/mirror"]
    msg = base64.b64encode(os.urandom(600_000)).decode() + "\n"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{proxy.host}/{p}" for p in paths],
        [proxy_target(proxy)],
        base=busybox_image,
        msg=msg,
        tags='tags = [{ preset = "ref", on = "branch" }]',
    )
    project.env.update(STAGED)
    main = ["--ref", "refs/heads/main", f"--redirect=docker.io={registry_plain.host}"]
    if fault == "engine upload 503":  # the engine's own push retries it
        proxy.fail(503, method="PUT", path="digest=", times=1)
    else:
        proxy.fail(503, method="PUT", path=f"/v2/{paths[1]}/manifests/sha256:", times=None)
    readers = [_Reader(registry_plain, p) for p in paths]
    with watching(readers) as found:
        result = project.hubpub("apply", *main)
    assert found["broken"] == []
    assert [r for r in proxy.requests_matching() if r.fault is not None], "no fault fired"
    if fault == "manifest PUT 503 until fixed":
        assert result.code == 1, result.stderr
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert readers[1].tags() == []  # no tag where the manifest is missing
        proxy.clear()
        project.ok("apply", *main)  # the second apply converges
    else:
        assert result.code == 0, result.stderr
    for reader in readers:
        assert "main" in reader.tags()
        assert reader.incomplete("main") == []
    assert run_image(docker_engine, f"{proxy.host}/{paths[1]}:main") == msg
    proxy.clear()
    again = project.ok("apply", *main)
    assert "No changes." in again.stdout
    assert proxy.requests_matching(None, r"/blobs/") == []


def test_a_staging_push_the_engine_fails_falls_back_to_the_export(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    target = proxy_target(proxy)
    path = f"x{uid()}/app"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{proxy.host}/{path}"],
        [target],
        base=busybox_image,
        tags='tags = [{ preset = "ref", on = "branch" }]',
    )
    project.env.update(STAGED)
    # Only the engine writes the staging tag: refusing it fails the engine's push alone (at
    # its last step, which the engine does not retry).
    proxy.fail(403, method="PUT", path="/manifests/hubpub-staging-", times=None)
    reader = _Reader(registry_plain, path)
    with watching([reader]) as found:
        applied = project.ok("apply", "--ref", "refs/heads/main", "--json")
    assert found["broken"] == []
    assert "the engine's push failed, exporting instead" in applied.stderr
    assert "exporting the image" in applied.stderr
    assert [r for r in proxy.requests_matching("PUT") if r.fault is not None]
    assert reader.tags() == ["main"]  # no staging tag: the engine's push never got there
    [digest] = set(applied.json()["digests"].values())
    assert skopeo.digest(target, f"{path}:main") == digest
    assert run_image(docker_engine, f"{proxy.host}/{path}:main") == "hello v1\n"


def test_an_apply_that_failed_before_its_tags_is_finished_from_the_staging_tag_with_no_build(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    tmp_path: Path,
) -> None:
    """The staging push went through, every tag PUT failed: the next plan finds the image by
    the staging tag named after its content key (othertags.py), builds nothing, and tags it."""
    proxy = fault_proxy(registry_plain)
    name = f"s{uid()}"
    paths = [f"{name}/app", f"{name}/mirror"]
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{proxy.host}/{p}" for p in paths],
        [proxy_target(proxy)],
        base=busybox_image,
        msg="from the staging tag\n",
        tags='tags = [{ preset = "ref", on = "branch" }]',
    )
    project.env.update(STAGED)
    main = ["--ref", "refs/heads/main", f"--redirect=docker.io={registry_plain.host}"]
    proxy.fail(503, method="PUT", path="/manifests/main", times=None)
    failed = project.hubpub("apply", *main)
    assert failed.code == 1, failed.stderr
    readers = [_Reader(registry_plain, p) for p in paths]
    assert "main" not in readers[0].tags()
    assert "main" not in readers[1].tags()
    staging = [t for t in readers[0].tags() if t.startswith("hubpub-staging-")]
    assert len(staging) == 1, readers[0].tags()
    proxy.clear()
    plan = json.loads(project.ok("plan", "--json", *main).stdout)
    assert plan["builds"] == []
    assert [c["via"] for c in plan["changes"]] == ["tag", "copy"], plan["changes"]
    project.ok("apply", *main)
    for reader in readers:
        assert "main" in reader.tags()
        assert reader.incomplete("main") == []
    assert run_image(docker_engine, f"{proxy.host}/{paths[1]}:main") == "from the staging tag\n"
