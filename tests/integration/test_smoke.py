"""Smoke test of the test services themselves: the engine builds, each registry mode
takes a push, and tools hubpub did not write (skopeo, docker pull + run) read it back.

If these fail, every other integration test would fail for reasons that are not hubpub's.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
import requests

from tests.fixtures.engine import DockerEngine, build, push, push_errors
from tests.fixtures.plugin import ProxyFactory, RegistryFactory
from tests.fixtures.registry import Registry

MODES = ["registry_plain", "registry_tls", "registry_token"]


@pytest.fixture(scope="module")
def busybox_based(docker_engine: DockerEngine, busybox_image: str, tmp_path_factory: Any) -> str:
    """An image FROM the local busybox with a RUN step (needs a working runtime in the engine)."""
    context = tmp_path_factory.mktemp("busybox-ctx")
    dockerfile = f'FROM {busybox_image}\nRUN echo hi > /x\nLABEL org.hubpub.test="smoke"\n'
    build(docker_engine, context, dockerfile, "hubpub-test/smoke-busybox:latest")
    return "hubpub-test/smoke-busybox:latest"


@pytest.fixture(scope="module")
def scratch_based(docker_engine: DockerEngine, tmp_path_factory: Any) -> str:
    """An image FROM scratch: one layer from the build context, no base image at all."""
    context = tmp_path_factory.mktemp("scratch-ctx")
    (context / "hello.txt").write_text("hello from scratch\n")
    build(docker_engine, context, "FROM scratch\nCOPY hello.txt /hello.txt\n", "hubpub-test/s:1")
    return "hubpub-test/s:1"


@pytest.mark.parametrize("mode", MODES)
def test_push_busybox_image_and_read_it_back(
    mode: str,
    request: pytest.FixtureRequest,
    docker_engine: DockerEngine,
    busybox_based: str,
    skopeo: ModuleType,
) -> None:
    registry: Registry = request.getfixturevalue(mode)
    repository = f"alice/smoke-{uuid.uuid4().hex[:8]}"
    digest = push(docker_engine, registry, busybox_based, repository, "v1")

    assert skopeo.list_tags(registry, repository) == ["v1"]
    info = skopeo.inspect(registry, f"{repository}:v1")
    assert info["Digest"] == digest
    assert info["Labels"] == {"org.hubpub.test": "smoke"}
    assert len(info["Layers"]) == 2  # busybox's imported layer + the RUN step

    # docker pull by digest through the registry's auth, then run it without a network.
    reference = f"{registry.host}/{repository}@{digest}"
    docker_engine.client.images.pull(reference, auth_config=registry.auth_config)
    output = docker_engine.client.containers.run(
        reference, ["cat", "/x"], network_mode="none", remove=True
    )
    assert output == b"hi\n"


@pytest.mark.parametrize("mode", MODES)
def test_push_scratch_image(
    mode: str,
    request: pytest.FixtureRequest,
    docker_engine: DockerEngine,
    scratch_based: str,
    skopeo: ModuleType,
) -> None:
    registry: Registry = request.getfixturevalue(mode)
    repository = f"alice/scratch-{uuid.uuid4().hex[:8]}"
    digest = push(docker_engine, registry, scratch_based, repository, "1.0")

    manifest = skopeo.raw(registry, f"{repository}@{digest}")
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert len(manifest["layers"]) == 1
    assert skopeo.digest(registry, f"{repository}:1.0") == digest


def test_token_registry_refuses_push_outside_the_users_namespace(
    docker_engine: DockerEngine, busybox_based: str, registry_token: Registry
) -> None:
    issuer = registry_token.issuer
    assert issuer is not None
    repository = f"bob/not-alices-{uuid.uuid4().hex[:8]}"
    docker_engine.client.images.get(busybox_based).tag(f"{registry_token.host}/{repository}", "v1")
    before = issuer.request_count

    errors = push_errors(docker_engine, registry_token, repository, "v1")

    assert errors, "alice's push to bob/ was accepted"
    # The issuer granted pull only; distribution 2.8 then refuses the upload.
    asked = [r for r in issuer.requests[before:] if any(repository in s for s in r.scopes)]
    assert asked, "the engine never asked the issuer for a token"
    assert all(r.user == "alice" for r in asked)
    # (The engine may also ask pull on alice's repositories, to mount blobs from them.)
    grants = {g for r in asked for g in r.granted if g.startswith(f"repository:{repository}:")}
    assert grants == {f"repository:{repository}:pull"}


def test_token_registry_answers_insufficient_scope_for_a_pull_only_token(
    registry_token: Registry,
) -> None:
    """The wire-level shape hubpub's client sees (distribution 2.8 says 401, not 403)."""
    issuer = registry_token.issuer
    assert issuer is not None
    token = requests.get(
        issuer.realm,
        params={"service": issuer.service, "scope": "repository:bob/app:pull,push"},
        auth=("alice", "alice-pw"),
        timeout=10,
    ).json()["token"]
    answer = requests.post(
        f"{registry_token.url}/v2/bob/app/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 401
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


def test_docker_cli_runs_against_the_engine(
    docker_engine: DockerEngine, busybox_image: str
) -> None:
    """The docker CLI with ``engine.env`` (as hubpub's subprocesses would get it)."""
    docker_cli = shutil.which("docker")
    assert docker_cli is not None, "docker CLI not found: run scripts/bootstrap (docker.io)"
    result = subprocess.run(
        [docker_cli, "run", "--rm", "--network", "none", busybox_image, "echo", "hello"],
        env=docker_engine.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr


# -- the fault proxy ------------------------------------------------------------------------------


def upload_blob(session: requests.Session, base: str, repository: str, blob: bytes) -> str:
    """Monolithic upload (POST, then PUT ?digest=) through ``base``; returns the digest."""
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    started = session.post(f"{base}/v2/{repository}/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    done = session.put(f"{location}&digest={digest}", data=blob, timeout=60)
    assert done.status_code == 201, done.text
    return digest


def test_proxy_relays_streams_and_keeps_locations_on_the_proxy(
    registry_plain: Registry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry_plain)
    session = requests.Session()
    blob = os.urandom(3_000_000)
    repository = f"alice/proxy-{uuid.uuid4().hex[:8]}"

    started = session.post(f"{proxy.url}/v2/{repository}/blobs/uploads/", timeout=30)
    # The registry builds Location from the Host header, which the proxy forwards unchanged.
    assert started.headers["Location"].startswith(f"{proxy.url}/v2/{repository}/blobs/uploads/")
    # A chunked PATCH (a generator body) and the final PUT, both through the proxy.
    patched = session.patch(
        started.headers["Location"],
        data=(blob[i : i + 500_000] for i in range(0, len(blob), 500_000)),
        timeout=60,
    )
    assert patched.status_code == 202
    assert patched.headers["Range"] == f"0-{len(blob) - 1}"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    assert (
        session.put(f"{patched.headers['Location']}&digest={digest}", timeout=30).status_code == 201
    )

    fetched = session.get(f"{proxy.url}/v2/{repository}/blobs/{digest}", timeout=30)
    assert fetched.content == blob
    assert (
        session.head(f"{proxy.url}/v2/{repository}/blobs/{digest}", timeout=30).status_code == 200
    )
    assert [(r.method, r.status) for r in proxy.requests] == [
        ("POST", 202),
        ("PATCH", 202),
        ("PUT", 201),
        ("GET", 200),
        ("HEAD", 200),
    ]


def test_proxy_injects_rate_limits_errors_and_resets(
    registry_plain: Registry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry_plain)
    session = requests.Session()
    repository = f"alice/faults-{uuid.uuid4().hex[:8]}"
    digest = upload_blob(session, registry_plain.url, repository, os.urandom(100_000))
    blob_url = f"{proxy.url}/v2/{repository}/blobs/{digest}"

    when = datetime.now(UTC) + timedelta(seconds=30)
    proxy.rate_limit(method="GET", path=r"/blobs/", times=1, retry_after=2)
    proxy.rate_limit(method="GET", path=r"/blobs/", times=1, retry_after=when)
    proxy.fail(503, method="GET", path=r"/blobs/", times=1)
    first, second, third = (session.get(blob_url, timeout=10) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert second.status_code == 429
    retry_at = email.utils.parsedate_to_datetime(second.headers["Retry-After"])
    assert abs((retry_at - when).total_seconds()) < 1
    assert (third.status_code, third.json()["errors"][0]["code"]) == (503, "UNAVAILABLE")
    assert session.get(blob_url, timeout=10).status_code == 200  # rules used up

    proxy.disconnect(method="GET", path=r"/blobs/")
    with pytest.raises(requests.ConnectionError):
        session.get(blob_url, timeout=10)
    proxy.disconnect(method="GET", path=r"/blobs/", after_bytes=1000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(blob_url, timeout=10).content  # noqa: B018 (reading the body is the test)
    assert session.get(blob_url, timeout=10).status_code == 200

    assert [(r.status, r.fault) for r in proxy.requests_matching("GET", r"/blobs/")] == [
        (429, "respond"),
        (429, "respond"),
        (503, "respond"),
        (200, None),
        (None, "disconnect"),
        (200, "disconnect"),
        (200, None),
    ]


def test_proxy_forwarded_disconnect_lets_the_upstream_act(
    registry_plain: Registry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry_plain)
    repository = f"alice/lost-{uuid.uuid4().hex[:8]}"
    proxy.disconnect(method="PUT", path=r"/blobs/uploads/", forward=True)
    with pytest.raises(requests.ConnectionError):
        upload_blob(requests.Session(), proxy.url, repository, b"lost answer")
    digest = "sha256:" + hashlib.sha256(b"lost answer").hexdigest()
    # The client never heard back, but the registry has the blob.
    assert requests.head(f"{registry_plain.url}/v2/{repository}/blobs/{digest}", timeout=10).ok


def test_proxy_survives_an_upstream_restart_and_reports_it_down(
    make_registry: RegistryFactory, fault_proxy: ProxyFactory
) -> None:
    registry = make_registry("plain")
    proxy = fault_proxy(registry)
    session = requests.Session()  # one client connection, so one kept-alive upstream one
    assert session.get(f"{proxy.url}/v2/", timeout=10).status_code == 200
    registry.restart()  # the proxy's upstream connection is now closed
    assert session.get(f"{proxy.url}/v2/", timeout=10).status_code == 200
    registry.stop()
    down = session.get(f"{proxy.url}/v2/", timeout=10)
    assert down.status_code == 502
    assert proxy.requests[-1].fault == "upstream"


def test_proxy_latency_delay_and_bandwidth(
    registry_plain: Registry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry_plain, latency=0.05)
    session = requests.Session()
    started = time.monotonic()
    assert session.get(f"{proxy.url}/v2/", timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.1  # 50 ms each way

    proxy.latency = 0
    proxy.delay(0.3, path=r"/v2/$")
    started = time.monotonic()
    session.get(f"{proxy.url}/v2/", timeout=10)
    assert time.monotonic() - started >= 0.3

    repository = f"alice/slow-{uuid.uuid4().hex[:8]}"
    blob = os.urandom(1_000_000)
    digest = upload_blob(session, registry_plain.url, repository, blob)
    proxy.bandwidth = 2_000_000
    started = time.monotonic()
    assert session.get(f"{proxy.url}/v2/{repository}/blobs/{digest}", timeout=30).content == blob
    assert time.monotonic() - started >= 0.45  # 1 MB at 2 MB/s


def test_engine_pushes_through_the_proxy(
    docker_engine: DockerEngine,
    busybox_based: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    skopeo: ModuleType,
) -> None:
    proxy = fault_proxy(registry_plain, latency=0.002)
    # One 503 on the manifest PUT: the engine does not retry it, so the first push fails.
    proxy.fail(503, method="PUT", path=r"/manifests/", times=1)
    repository = f"alice/via-proxy-{uuid.uuid4().hex[:8]}"
    through = registry_plain.through(proxy)
    assert push_errors(docker_engine, through, repository, "v1", local=busybox_based)
    digest = push(docker_engine, through, busybox_based, repository, "v1")
    assert skopeo.digest(registry_plain, f"{repository}:v1") == digest
    assert any(r.method == "PATCH" for r in proxy.requests)  # the engine's chunked uploads


def test_proxy_turns_insufficient_scope_into_docker_hubs_403(
    registry_token: Registry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry_token, docker_hub_denials=True)
    token = issue_token(registry_token, "alice", "alice-pw", "repository:bob/app:pull,push")
    answer = requests.post(
        f"{proxy.url}/v2/bob/app/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["code"] == "DENIED"
    # Without a token it is still the ordinary challenge.
    assert requests.post(f"{proxy.url}/v2/bob/app/blobs/uploads/", timeout=10).status_code == 401


# -- the token issuer -----------------------------------------------------------------------------


def issue_token(registry: Registry, user: str | None, password: str | None, *scopes: str) -> str:
    issuer = registry.issuer
    assert issuer is not None
    answer = requests.get(
        issuer.realm,
        params={"service": issuer.service, "scope": list(scopes)},
        auth=(user, password) if user is not None and password is not None else None,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["access_token"] == body["token"]
    token: str = body["token"]
    return token


def test_issuer_grants_per_user_and_counts_requests(make_registry: RegistryFactory) -> None:
    registry = make_registry("token")
    issuer = registry.issuer
    assert issuer is not None
    issuer.add_user("carol", "carol-pw", grants=[("team/*", "pull,push")])
    issuer.anonymous_pull = False

    token = issue_token(registry, "carol", "carol-pw", "repository:team/app:pull,push")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.post(
        f"{registry.url}/v2/team/app/blobs/uploads/", headers=headers, timeout=10
    ).ok
    anonymous = issue_token(registry, None, None, "repository:team/app:pull")
    listed = requests.get(
        f"{registry.url}/v2/team/app/tags/list",
        headers={"Authorization": f"Bearer {anonymous}"},
        timeout=10,
    )
    assert listed.status_code == 401  # anonymous pull switched off
    wrong = requests.get(
        issuer.realm, params={"service": issuer.service}, auth=("carol", "x"), timeout=10
    )
    assert wrong.status_code == 401

    issuer.fail(429, times=1, retry_after=2)
    limited = requests.get(issuer.realm, params={"service": issuer.service}, timeout=10)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")

    assert issuer.request_count == 4
    assert [(r.grant_type, r.user, r.granted, r.status) for r in issuer.requests] == [
        ("basic", "carol", ("repository:team/app:pull,push",), 200),
        ("anonymous", None, (), 200),
        ("basic", None, (), 401),
        ("injected", None, (), 429),
    ]


def test_issuer_identity_tokens(registry_token: Registry) -> None:
    issuer = registry_token.issuer
    assert issuer is not None
    issuer.expires_in = 120
    try:
        login = requests.get(
            issuer.realm,
            params={"service": issuer.service, "offline_token": "true"},
            auth=("alice", "alice-pw"),
            timeout=10,
        ).json()
        assert login["expires_in"] == 120
        assert login["issued_at"].endswith("Z")
        scope = "repository:alice/app:pull,push repository:bob/app:pull"
        form = {"grant_type": "refresh_token", "service": issuer.service, "client_id": "hubpub"}
        refreshed = requests.post(
            issuer.realm,
            data={**form, "refresh_token": login["refresh_token"], "scope": scope},
            timeout=10,
        )
        assert refreshed.status_code == 200
        assert issuer.requests[-1].granted == (
            "repository:alice/app:pull,push",
            "repository:bob/app:pull",
        )
        headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert requests.post(
            f"{registry_token.url}/v2/alice/app/blobs/uploads/", headers=headers, timeout=10
        ).ok
        refused = requests.post(issuer.realm, data={**form, "refresh_token": "forged"}, timeout=10)
        assert refused.status_code == 401
    finally:
        issuer.expires_in = 300


def test_the_arm64_busybox_runs_through_qemu(
    docker_engine: DockerEngine, busybox_arm64_image: str
) -> None:
    """The arm64 base the multi-platform tests build from: its config says arm64, and its
    programs run on this amd64 engine through qemu (binfmt_misc)."""
    image = docker_engine.client.images.get(busybox_arm64_image)
    assert (image.attrs["Os"], image.attrs["Architecture"]) == ("linux", "arm64")
    out = docker_engine.client.containers.run(
        busybox_arm64_image,
        ["uname", "-m"],
        remove=True,
        network_mode="none",
        platform="linux/arm64",
    )
    assert out.decode().strip() == "aarch64"
