"""Every retry rule of docs/registry.md#retries-and-429, shown through the suite's fault proxy.

The proxy sits between hubpub and a real registry and answers 429 / 5xx, resets connections
(before forwarding, after, or mid-body) and delays requests on chosen paths. Its records say
what hubpub sent; skopeo says what the registry holds afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from hubpub.errors import RateLimitError, TransportError
from hubpub.reference import Repository
from hubpub.registry import RegistryClient, RegistryOptions
from tests.fixtures import skopeo
from tests.fixtures.registry import Registry
from tests.helpers.registry import (
    FAST_RETRY,
    empty_docker_config,
    options_for,
    push_layout,
    ref,
    unique,
    write_layout,
)


@pytest.fixture
def image(registry_plain: Registry, tmp_path: Path) -> tuple[str, Any]:
    """A single-platform image in the plain registry: (repository, layout)."""
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout", layer_size=150_000)
    push_layout(layout, registry_plain, f"{repo}:1")
    return repo, layout


def fast_client(docker_config: Path, **kwargs: Any) -> RegistryClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return RegistryClient(
        {}, environ={"PATH": os.environ["PATH"], "DOCKER_CONFIG": str(docker_config)}, **kwargs
    )


def statuses(proxy: Any, method: str, path: str) -> list[int | None]:
    return [r.status for r in proxy.requests_matching(method, path)]


# -- 429 ------------------------------------------------------------------------------------------


def test_429_waits_retry_after_seconds(
    registry_plain: Registry, fault_proxy: Any, image: tuple[str, Any], docker_config: Path
) -> None:
    repo, layout = image
    proxy = fault_proxy(registry_plain)
    proxy.rate_limit(method="HEAD", path="/manifests/", times=2, retry_after=1)
    with fast_client(docker_config) as client:
        started = time.monotonic()
        info = client.head_manifest(ref(proxy.host, f"{repo}:1"))
        elapsed = time.monotonic() - started
    assert info is not None
    assert info.digest == layout.digest
    assert statuses(proxy, "HEAD", "/manifests/") == [429, 429, 200]
    assert elapsed >= 2.0  # two waits of Retry-After: 1, not FAST_RETRY's 0.05 s backoff


def test_429_waits_until_an_http_date(
    registry_plain: Registry, fault_proxy: Any, image: tuple[str, Any], docker_config: Path
) -> None:
    repo, _ = image
    proxy = fault_proxy(registry_plain)
    proxy.rate_limit(
        method="GET", path="/manifests/", retry_after=datetime.now(UTC) + timedelta(seconds=3)
    )
    with fast_client(docker_config) as client:
        started = time.monotonic()
        client.get_manifest(ref(proxy.host, f"{repo}:1"))
        elapsed = time.monotonic() - started
    assert statuses(proxy, "GET", "/manifests/") == [429, 200]
    assert elapsed >= 1.5  # the date has whole seconds: between 2 and 3 s from now


def test_429_backoff_is_shared_by_every_request_to_the_registry(
    registry_plain: Registry, fault_proxy: Any, image: tuple[str, Any], docker_config: Path
) -> None:
    repo, layout = image
    proxy = fault_proxy(registry_plain)
    proxy.rate_limit(method="HEAD", path="/manifests/t0$", retry_after=3)
    refs = [ref(proxy.host, f"{repo}:t{i}") for i in range(12)]
    seen: list[tuple[float, str, int]] = []
    with fast_client(docker_config, max_workers=4, per_registry=4) as client:
        client.head_manifest(ref(proxy.host, f"{repo}:1"))  # first contact: GET /v2/ done
        client.add_response_hook(
            lambda r: seen.append((time.monotonic(), r.request.url or "", r.status_code))
        )
        found = client.resolve(refs)
    assert set(found.values()) == {None}  # absent tags; what matters is when they were asked
    [limited_at] = [t for t, url, status in seen if status == 429]
    after = [t - limited_at for t, url, status in seen if t > limited_at]
    # Requests already on the wire when the 429 came may answer just after it; then nothing
    # until its Retry-After has passed: every worker waited, instead of firing more requests
    # at a registry that said stop.
    assert [d for d in after if 0.6 < d < 2.9] == []
    assert len([d for d in after if d >= 2.9]) >= 8  # most of the 12 HEADs had to wait
    assert statuses(proxy, "HEAD", "/manifests/t0$") == [429, 404]
    assert layout.digest  # (the image exists; t0…t11 do not)


def test_429_with_a_retry_after_beyond_the_budget_fails_at_once(
    registry_plain: Registry, fault_proxy: Any, image: tuple[str, Any], docker_config: Path
) -> None:
    repo, _ = image
    proxy = fault_proxy(registry_plain)
    proxy.rate_limit(method="HEAD", path="/manifests/", retry_after=120, times=None)
    with fast_client(docker_config) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as excinfo:
            client.head_manifest(ref(proxy.host, f"{repo}:1"))
    assert time.monotonic() - started < 2
    assert str(excinfo.value) == (
        f"registry {proxy.host} kept answering 429 Too Many Requests to manifest "
        f"{proxy.host}/{repo}:1; it asks to retry after 120 s (lower the concurrency or try "
        "again later)"
    )
    assert statuses(proxy, "HEAD", "/manifests/") == [429]


def test_docker_hub_pull_limit_is_reported_not_hammered(
    registry_plain: Registry, fault_proxy: Any, image: tuple[str, Any], docker_config: Path
) -> None:
    repo, _ = image
    proxy = fault_proxy(registry_plain)
    proxy.respond(
        429,
        method="GET",
        path="/manifests/",
        times=None,
        headers={
            "RateLimit-Limit": "100;w=21600",
            "RateLimit-Remaining": "0;w=21600",
            "Retry-After": "1",
        },
        body=b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull '
        b'rate limit."}]}',
    )
    with fast_client(docker_config) as client, pytest.raises(RateLimitError) as excinfo:
        client.get_manifest(ref(proxy.host, f"{repo}:1"))
    assert str(excinfo.value) == (
        "Docker Hub pull rate limit reached (0 of 100 pulls left per 6 h) (log in "
        "(`docker login`) for a higher limit, or wait for the window to pass)"
    )
    assert statuses(proxy, "GET", "/manifests/") == [429]


# -- 5xx, resets, timeouts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "method", "path"),
    [
        ("503", "HEAD", "/manifests/"),
        ("500", "GET", "/manifests/"),
        ("reset-before", "GET", "/manifests/"),
        ("reset-mid-body", "GET", "/blobs/"),
        ("reset-after-forward", "PUT", "/manifests/"),
        ("502", "PUT", "/manifests/"),
        # First contact: the plain GET /v2/ goes out beside the HTTPS attempt, and its failure
        # is retried like any other request's.
        ("503", "GET", "/v2/$"),
        ("reset-before", "GET", "/v2/$"),
    ],
)
def test_server_errors_and_resets_are_retried(
    fault: str,
    method: str,
    path: str,
    registry_plain: Registry,
    fault_proxy: Any,
    image: tuple[str, Any],
    docker_config: Path,
) -> None:
    repo, layout = image
    proxy = fault_proxy(registry_plain)
    if fault.isdigit():
        proxy.fail(int(fault), method=method, path=path)
    elif fault == "reset-before":
        proxy.disconnect(method=method, path=path)
    elif fault == "reset-mid-body":
        proxy.disconnect(method=method, path=path, after_bytes=10_000)
    else:
        proxy.disconnect(method=method, path=path, forward=True)
    with fast_client(docker_config) as client:
        src = ref(proxy.host, f"{repo}:1")
        assert client.head_manifest(src) is not None
        manifest = client.get_manifest(src)
        layer = manifest.layers[0]
        data = client.get_blob(Repository(proxy.host, repo), layer.digest)
        client.put_manifest(ref(proxy.host, f"{repo}:retried"), manifest)
    assert len(data) == layer.size
    records = proxy.requests_matching(method, path)
    assert records[0].fault in ("respond", "disconnect")
    assert records[1].fault is None
    assert records[1].status in (200, 201)
    assert skopeo.digest(registry_plain, f"{repo}:retried") == layout.digest


def test_timeouts_are_retried(
    registry_plain: Registry, fault_proxy: Any, image: tuple[str, Any], docker_config: Path
) -> None:
    repo, layout = image
    proxy = fault_proxy(registry_plain)
    delayed = proxy.delay(6.0, method="HEAD", path="/manifests/")
    policy = dataclasses.replace(FAST_RETRY, read_timeout=1.0)
    with fast_client(docker_config, retry=policy) as client:
        started = time.monotonic()
        info = client.head_manifest(ref(proxy.host, f"{repo}:1"))
        elapsed = time.monotonic() - started
    assert info is not None
    assert info.digest == layout.digest
    assert elapsed < 5  # did not wait for the delayed answer
    assert delayed.hits == 1  # the first HEAD was held back (and given up on)...
    [answered] = proxy.requests_matching("HEAD", "/manifests/")
    assert answered.fault is None  # ...the second one, sent after the timeout, answered
    assert answered.status == 200


def test_retries_are_bounded_and_fail_clearly(
    registry_plain: Registry, fault_proxy: Any, image: tuple[str, Any], docker_config: Path
) -> None:
    repo, _ = image
    proxy = fault_proxy(registry_plain)
    proxy.fail(503, method="HEAD", path="/manifests/", times=None)
    with fast_client(docker_config) as client, pytest.raises(TransportError) as excinfo:
        client.head_manifest(ref(proxy.host, f"{repo}:1"))
    assert str(excinfo.value) == (
        f"registry {proxy.host} answered HTTP 503 to manifest {proxy.host}/{repo}:1 after "
        f"{FAST_RETRY.attempts} attempts (the registry is failing; try again later)"
    )
    assert statuses(proxy, "HEAD", "/manifests/") == [503] * FAST_RETRY.attempts


def test_resets_forever_fail_clearly(
    registry_plain: Registry, fault_proxy: Any, image: tuple[str, Any], docker_config: Path
) -> None:
    repo, _ = image
    proxy = fault_proxy(registry_plain)
    proxy.disconnect(method="GET", path="/manifests/", times=None)
    with fast_client(docker_config) as client, pytest.raises(TransportError) as excinfo:
        client.get_manifest(ref(proxy.host, f"{repo}:1"))
    assert str(excinfo.value).startswith(
        f"connection to registry {proxy.host} failed during GET /v2/{repo}/manifests/1 after "
        f"{FAST_RETRY.attempts} attempts"
    )
    assert len(proxy.requests_matching("GET", "/manifests/")) == FAST_RETRY.attempts


# -- uploads restart their session ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    ["patch-reset", "patch-503", "put-503", "put-reset-after-forward"],
)
def test_a_failed_chunk_restarts_the_upload_session(
    fault: str, registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    proxy = fault_proxy(registry_plain)
    if fault == "patch-reset":
        proxy.disconnect(method="PATCH", path="/blobs/uploads/", times=1)
    elif fault == "patch-503":
        proxy.fail(503, method="PATCH", path="/blobs/uploads/")
    elif fault == "put-503":
        proxy.fail(503, method="PUT", path="digest=")
    else:
        proxy.disconnect(method="PUT", path="digest=", forward=True)
    repo = unique("alice")
    data = os.urandom(300_000)
    (tmp_path / "blob").write_bytes(data)
    with fast_client(docker_config, chunk_size=64 * 1024) as client:
        digest = client.upload_blob_file(Repository(proxy.host, repo), tmp_path / "blob")
    sessions = proxy.requests_matching("POST", "/blobs/uploads/$")
    if fault == "put-reset-after-forward":
        # The PUT landed; only its answer was lost: a HEAD finds the blob, no second session.
        assert len(sessions) == 1
        assert statuses(proxy, "HEAD", f"/blobs/{digest}") == [404, 200]
    else:
        assert len(sessions) == 2  # the first session was abandoned, a new one started
    stored = requests.get(f"{registry_plain.url}/v2/{repo}/blobs/{digest}", timeout=30)
    assert stored.content == data


def test_a_429_on_a_chunk_holds_off_the_restarted_session(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    """A chunk cannot be resent, so its 429 restarts the session, and the new session waits
    for the Retry-After like every other request to that registry."""
    proxy = fault_proxy(registry_plain)
    proxy.rate_limit(method="PATCH", path="/blobs/uploads/", retry_after=2)
    repo = unique("alice")
    data = os.urandom(200_000)
    (tmp_path / "blob").write_bytes(data)
    seen: list[tuple[float, str, int]] = []
    with fast_client(docker_config, chunk_size=64 * 1024) as client:
        client.add_response_hook(
            lambda r: seen.append((time.monotonic(), r.request.method or "", r.status_code))
        )
        digest = client.upload_blob_file(Repository(proxy.host, repo), tmp_path / "blob")
    [limited_at] = [t for t, _, status in seen if status == 429]
    after = [t - limited_at for t, _, _ in seen if t > limited_at]
    assert after
    assert min(after) >= 1.9  # not FAST_RETRY's 0.05 s between sessions
    assert len(proxy.requests_matching("POST", "/blobs/uploads/$")) == 2
    stored = requests.get(f"{registry_plain.url}/v2/{repo}/blobs/{digest}", timeout=30)
    assert stored.content == data


def test_a_source_reset_mid_stream_restarts_the_copy_of_that_blob(
    registry_plain: Registry,
    registry_tls: Registry,
    fault_proxy: Any,
    image: tuple[str, Any],
    tmp_path: Path,
) -> None:
    repo, layout = image
    source = fault_proxy(registry_plain)
    layer = layout.blobs[1]
    source.disconnect(method="GET", path=f"/blobs/{layer}", after_bytes=50_000)
    env = {
        "PATH": os.environ["PATH"],
        "DOCKER_CONFIG": str(empty_docker_config(tmp_path / "cfg")),
        "U": registry_tls.username or "",
        "P": registry_tls.password or "",
    }
    options = {
        registry_tls.host: RegistryOptions(
            ca_file=registry_tls.ca_file, username_env="U", password_env="P"
        )
    }
    with RegistryClient(options, environ=env, retry=FAST_RETRY) as client:
        digest = client.copy_image(ref(source.host, f"{repo}:1"), ref(registry_tls, f"{repo}:1"))
    assert digest == layout.digest == skopeo.digest(registry_tls, f"{repo}:1")
    # Reset after 50 000 bytes, then fetched whole by a restarted upload session.
    assert [r.fault for r in source.requests_matching("GET", f"/blobs/{layer}")] == [
        "disconnect",
        None,
    ]


# -- a run that exhausts its retries leaves the registry consistent -------------------------------


def _blobs_complete(registry: Registry, reference: str, tmp_path: Path) -> bool:
    """skopeo can copy ``reference`` out with every blob: nothing it points at is missing."""
    out = tmp_path / f"check-{abs(hash(reference))}"
    result = skopeo.run(
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-no-creds",
        f"docker://{registry.host}/{reference}",
        f"oci:{out}:x",
        check=False,
    )
    return result.returncode == 0


@pytest.mark.parametrize("failing", ["blob uploads", "the tag"])
def test_exhausted_retries_fail_clearly_and_tag_nothing_broken(
    failing: str,
    registry_plain: Registry,
    fault_proxy: Any,
    tmp_path: Path,
    docker_config: Path,
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), index=True)
    source = f"{repo}-src"
    push_layout(layout, registry_plain, f"{source}:1")
    src_proxy = fault_proxy(registry_plain)
    dst_proxy = fault_proxy(registry_plain)  # same registry behind another host: no mounts
    if failing == "blob uploads":
        dst_proxy.fail(503, method="PUT", path="digest=", times=None)
    else:
        dst_proxy.fail(503, method="PUT", path=r"/manifests/1$", times=None)
    with fast_client(docker_config) as client, pytest.raises(TransportError) as excinfo:
        client.copy_image(ref(src_proxy.host, f"{source}:1"), ref(dst_proxy.host, f"{repo}:1"))
    message = str(excinfo.value)
    if failing == "blob uploads":
        assert message.startswith("upload of blob sha256:")
        assert f"to {dst_proxy.host}/{repo} failed {FAST_RETRY.upload_attempts} times" in message
        assert "nothing was tagged" in message
        assert dst_proxy.requests_matching("PUT", "/manifests/") == []
    else:
        assert message == (
            f"registry {dst_proxy.host} answered HTTP 503 to manifest {dst_proxy.host}/{repo}:1 "
            f"after {FAST_RETRY.attempts} attempts (the registry is failing; try again later)"
        )
        # The children went up before the tag, each complete.
        for child in layout.children:
            assert _blobs_complete(registry_plain, f"{repo}@{child}", tmp_path)
    # The registry itself: the tag does not exist, so nothing points at a missing blob.
    tags = skopeo.run(
        "list-tags", "--tls-verify=false", f"docker://{registry_plain.host}/{repo}", check=False
    )
    assert '"1"' not in tags.stdout
    assert not _blobs_complete(registry_plain, f"{repo}:1", tmp_path)
    assert _blobs_complete(registry_plain, f"{source}:1", tmp_path)
    assert options_for  # (helpers shared with test_registry.py)
