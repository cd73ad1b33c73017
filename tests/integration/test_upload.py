"""apply uploads what it builds: the image exported from the engine goes straight to every
registry (a plain one and a token-auth one, each behind a fault proxy that counts requests),
blobs once per registry, the manifest by digest, the tags last; checked with skopeo, a watcher
that reads the registries directly while apply runs, and docker pull + run."""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from tests.fixtures.engine import DockerEngine
from tests.fixtures.plugin import ProxyFactory
from tests.fixtures.proxy import FaultProxy, Recorded
from tests.fixtures.registry import Registry
from tests.helpers.project import build_project, proxy_target, run_image, uid

MANIFEST_ACCEPT = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.manifest.v1+json"
)


def _token_target(proxy: FaultProxy, registry: Registry) -> SimpleNamespace:
    return SimpleNamespace(
        host=proxy.host,
        tls=False,
        cert_dir=None,
        username=registry.username,
        password=registry.password,
    )


class _Reader:
    """Reads a registry directly (not through the proxies, so their counts stay hubpub's):
    the tags of a repository and, for each, whether every blob of its manifest is there."""

    def __init__(self, registry: Registry, repository: str) -> None:
        self.base = registry.url
        self.repository = repository
        self.session = requests.Session()
        self.auth = (registry.username, registry.password) if registry.username else None

    def _get(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base}/v2/{self.repository}/{path}"
        response = self.session.request(method, url, timeout=10, **kwargs)
        if response.status_code == 401 and self.auth is not None:
            challenge = response.headers["WWW-Authenticate"]
            params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            scope = f"repository:{self.repository}:pull"
            token = self.session.get(
                params["realm"],
                params={"service": params.get("service", ""), "scope": scope},
                auth=self.auth,
                timeout=10,
            ).json()
            self.session.headers["Authorization"] = f"Bearer {token.get('token')}"
            response = self.session.request(method, url, timeout=10, **kwargs)
        return response

    def tags(self) -> list[str]:
        response = self._get("GET", "tags/list")
        if response.status_code == 404:
            return []
        return list(response.json().get("tags") or [])

    def manifest(self, tag: str) -> dict[str, Any]:
        response = self._get("GET", f"manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def incomplete(self, tag: str) -> list[str]:
        """The blobs the manifest ``tag`` points to that the repository lacks."""
        for _ in range(20):
            response = self._get("GET", f"manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
            # distribution lists a tag a moment before its link file is written, and reading
            # it then answers 404 or 500 "invalid checksum digest format": the registry's own
            # tag write in progress, not a tag pointing anywhere yet. Look again.
            if response.status_code not in (404, 500):
                break
            time.sleep(0.05)
        if response.status_code != 200:
            return [f"manifest {tag}: HTTP {response.status_code}"]
        doc = response.json()
        blobs = [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]
        return [b for b in blobs if self._get("HEAD", f"blobs/{b}").status_code != 200]


@contextmanager
def watching(readers: list[_Reader]) -> Iterator[dict[str, Any]]:
    """While the block runs, look again and again at every tag of ``readers``: each must point
    at a manifest whose blobs are all there. Yields the findings."""
    found: dict[str, Any] = {"seen": 0, "broken": []}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for reader in readers:
                for tag in reader.tags():
                    found["seen"] += 1
                    missing = reader.incomplete(tag)
                    if missing:
                        found["broken"].append((reader.repository, tag, missing))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join(timeout=30)
    for reader in readers:  # and once more at the end, when every tag is there
        for tag in reader.tags():
            found["seen"] += 1
            if reader.incomplete(tag):
                found["broken"].append((reader.repository, tag, reader.incomplete(tag)))


def _writes(proxy: FaultProxy) -> list[Recorded]:
    return [
        r
        for r in proxy.requests_matching()
        if r.method in ("PUT", "POST", "PATCH") and r.status is not None and r.status < 300
    ]


def _assert_tags_last(proxy: FaultProxy, path: str, blobs: int) -> None:
    """In ``path``'s requests as the proxy saw them: every blob written (an upload's PUT or a
    mount) and the manifest PUT by digest before the first tag PUT."""
    writes = [r for r in _writes(proxy) if r.path.startswith(f"/v2/{path}/")]
    tag_puts = [
        i
        for i, r in enumerate(writes)
        if r.method == "PUT" and "/manifests/" in r.path and "/manifests/sha256:" not in r.path
    ]
    assert tag_puts, [(r.method, r.path) for r in writes]
    before = writes[: tag_puts[0]]
    blob_writes = [
        r
        for r in before
        if (r.method == "PUT" and "digest=" in r.path)
        or (r.method == "POST" and "mount=" in r.path)
    ]
    assert len(blob_writes) == blobs, [(r.method, r.path, r.status) for r in writes]
    assert any(r.method == "PUT" and "/manifests/sha256:" in r.path for r in before)


def test_a_build_goes_straight_to_two_registries_blobs_once_each_tags_last(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    registry_token: Registry,
    fault_proxy: ProxyFactory,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    plain, token = fault_proxy(registry_plain), fault_proxy(registry_token)
    plain_target, token_target = proxy_target(plain), _token_target(token, registry_token)
    name = f"u{uid()}"
    paths = {"plain": f"{name}/app", "mirror": f"{name}/mirror", "token": f"alice/{name}"}
    repos = [
        f"{plain.host}/{paths['plain']}",
        f"{plain.host}/{paths['mirror']}",
        f"{token.host}/{paths['token']}",
    ]
    project = build_project(
        tmp_path,
        docker_engine,
        repos,
        [plain_target, token_target],
        base=busybox_image,
        tags='tags = [{ preset = "ref", on = "branch" }, { preset = "sha" }]',
    )
    redirect = f"--redirect=docker.io={registry_plain.host}"
    main = ["--ref", "refs/heads/main", redirect]
    readers = [
        _Reader(registry_plain, paths["plain"]),
        _Reader(registry_plain, paths["mirror"]),
        _Reader(registry_token, paths["token"]),
    ]

    with watching(readers) as found:
        applied = project.ok("apply", *main, "--json")
    assert found["broken"] == []
    assert found["seen"] >= 6  # every tag was looked at, at least at the end
    digests = applied.json()["digests"]
    assert len(digests) == 6
    digest = next(iter(digests.values()))
    assert set(digests.values()) == {digest}  # one image everywhere

    # Counted before any other client reads through the proxies.
    blobs = 1 + len(readers[0].manifest("main")["layers"])
    # Each blob crossed to each registry once: uploaded to one repository of the plain
    # registry and mounted into the other; uploaded to the token registry, not copied there
    # from the plain one. Not one blob was downloaded.
    for proxy in (plain, token):
        assert proxy.requests_matching("GET", r"/blobs/") == []
        uploads = [r for r in _writes(proxy) if r.method == "PUT" and "digest=" in r.path]
        assert len(uploads) == blobs, [r.path for r in uploads]
    mounts = [r for r in _writes(plain) if r.method == "POST" and "mount=" in r.path]
    assert len(mounts) == blobs
    _assert_tags_last(plain, paths["plain"], blobs)
    _assert_tags_last(plain, paths["mirror"], blobs)
    _assert_tags_last(token, paths["token"], blobs)

    # The digest hubpub reports is the one skopeo reads; the manifest is schema 2 with gzip
    # layers, as the module docstring of publish.py says.
    for target, path in (
        (plain_target, paths["plain"]),
        (plain_target, paths["mirror"]),
        (token_target, paths["token"]),
    ):
        assert skopeo.digest(target, f"{path}:main") == digest
        raw = skopeo.raw(target, f"{path}:main")
        assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
        assert raw["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
        assert {layer["mediaType"] for layer in raw["layers"]} == {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        }
    raw = skopeo.raw(plain_target, f"{paths['plain']}:main")
    assert 1 + len(raw["layers"]) == blobs
    assert (
        skopeo.config(token_target, f"{paths['token']}:main")["config"]["Labels"][
            "org.opencontainers.image.title"
        ]
        == "app"
    )

    # What a user does with it: docker pull and run, from both registries.
    assert run_image(docker_engine, f"{repos[0]}:main") == "hello v1\n"
    assert run_image(docker_engine, f"{repos[2]}:main", registry_token.auth_config) == "hello v1\n"

    # A second apply uploads nothing.
    plain.clear()
    token.clear()
    again = project.ok("apply", *main)
    assert "No changes." in again.stdout
    for proxy in (plain, token):
        assert proxy.requests_matching(None, r"/blobs/") == []
        assert proxy.requests_matching("PUT") == []

    # A new commit changes the app's layer only: the base layer is not compressed again (the
    # layer cache names it; one HEAD per registry finds it) and not uploaded again.
    project.write("app/msg", "hello v2\n")
    project.commit("v2")
    plain.clear()
    token.clear()
    applied = project.ok("apply", *main)
    base_layers = len(raw["layers"]) - 1
    assert f"layers: 1 compressed, {base_layers} reused (layer cache), 0 from" in applied.stderr, [
        line for line in applied.stderr.splitlines() if "layers" in line
    ]
    for proxy in (plain, token):
        uploads = [r for r in _writes(proxy) if r.method == "PUT" and "digest=" in r.path]
        assert len(uploads) == 2  # the new layer and the new config
    assert run_image(docker_engine, f"{repos[2]}:main", registry_token.auth_config) == "hello v2\n"


@pytest.mark.parametrize("fault", ["reset mid-blob", "503", "429", "503 until fixed"])
def test_faults_during_the_upload_are_retried_or_fail_in_one_line_and_converge(
    fault: str,
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    target = proxy_target(proxy)
    path = f"f{uid()}/app"
    # A layer of its own big enough to be cut in the middle (random: gzip cannot shrink it).
    msg = base64.b64encode(os.urandom(600_000)).decode() + "\n"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{proxy.host}/{path}"],
        [target],
        base=busybox_image,
        msg=msg,
        tags='tags = [{ preset = "ref", on = "branch" }, { preset = "sha" }]',
    )
    main = ["--ref", "refs/heads/main", f"--redirect=docker.io={registry_plain.host}"]
    if fault == "reset mid-blob":
        proxy.disconnect(method="PUT", path="digest=", times=1)
    elif fault == "503":
        proxy.fail(503, method="PUT", path="digest=", times=1)
    elif fault == "429":
        proxy.rate_limit(method="POST", path="/blobs/uploads/", retry_after=1, times=1)
    else:
        proxy.fail(503, method="PUT", path="digest=", times=None)
    reader = _Reader(registry_plain, path)
    with watching([reader]) as found:
        result = project.hubpub("apply", *main)
    assert found["broken"] == []
    faulted = [r for r in proxy.requests_matching() if r.fault is not None]
    assert faulted, "the fault never fired"
    if fault == "503 until fixed":
        assert result.code == 1, result.stderr
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1, result.stderr
        assert "upload of blob sha256:" in errors[0]
        assert "nothing was tagged" in errors[0]
        assert "Traceback" not in result.stderr
        assert reader.tags() == []  # no tag at all, so none at an incomplete image
        proxy.clear()
        project.ok("apply", *main)  # the second apply converges
    else:
        assert result.code == 0, result.stderr
    assert sorted(reader.tags()) == sorted(["main", f"sha-{project.git('rev-parse', 'HEAD')[:7]}"])
    for tag in reader.tags():
        assert reader.incomplete(tag) == []
    assert run_image(docker_engine, f"{proxy.host}/{path}:main") == msg
    again = project.ok("apply", *main)
    assert "No changes." in again.stdout


def test_the_base_image_layers_are_mounted_from_its_repository_not_compressed_again(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    target = proxy_target(proxy)
    # The base, pushed by the engine (its own gzip, its own digests) to the same registry.
    base = f"{proxy.host}/base{uid()}/busybox:1"
    repository, _, tag = base.rpartition(":")
    docker_engine.client.images.get(busybox_image).tag(repository, tag)
    for line in docker_engine.client.images.push(repository, tag=tag, stream=True, decode=True):
        assert "errorDetail" not in line, line
    base_layers = [layer["digest"] for layer in skopeo.raw(target, base.split("/", 1)[1])["layers"]]
    path = f"b{uid()}/app"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{proxy.host}/{path}"],
        [target],
        base=base,
        tags='tags = [{ preset = "ref", on = "branch" }]',
    )
    proxy.clear()
    applied = project.ok("apply", "--ref", "refs/heads/main")
    assert f"layers: 1 compressed, 0 reused (layer cache), {len(base_layers)} from the base" in (
        applied.stderr
    )
    manifest = skopeo.raw(target, f"{path}:main")
    assert [layer["digest"] for layer in manifest["layers"]][: len(base_layers)] == base_layers
    for digest in base_layers:  # mounted, not uploaded, and never downloaded
        assert proxy.requests_matching("PUT", f"digest={digest}") == []
        assert proxy.requests_matching("GET", f"/blobs/{digest}") == []
        mounts = [r for r in proxy.requests_matching("POST", "mount=") if digest in unquote(r.path)]
        assert [r.status for r in mounts] == [201]
    assert run_image(docker_engine, f"{proxy.host}/{path}:main") == "hello v1\n"
