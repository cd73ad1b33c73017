"""The registry client against real distribution registries (docs/registry.md, fact by fact).

Images are pushed by skopeo from OCI layouts, and what hubpub writes is read back by skopeo.
Three modes: plain HTTP, HTTPS + htpasswd, bearer tokens (alice owns ``alice/*``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from hubpub import __version__
from hubpub.errors import AuthError, DeniedError, NotFoundError, RegistryError, TransportError
from hubpub.executor import Executor
from hubpub.planner import ImageSpec, Observed, TargetTag, make_plan
from hubpub.reference import Repository
from hubpub.registry import OCI_INDEX, OCI_MANIFEST, Manifest, RegistryClient, RegistryOptions
from tests.fixtures import skopeo
from tests.fixtures.registry import Registry
from tests.helpers.registry import (
    Counter,
    client_env,
    client_for,
    creds_env,
    env_options,
    nest_layout,
    options_for,
    push_layout,
    push_layout_raw,
    ref,
    unique,
    write_layout,
)

MODES = ["registry_plain", "registry_tls", "registry_token"]


# -- manifests, tags, copies in each mode ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_read_and_copy_an_index_in_each_mode(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path, docker_config: Path
) -> None:
    registry: Registry = request.getfixturevalue(mode)
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), index=True)
    push_layout(layout, registry, f"{repo}:1.0")

    with client_for(
        registry,
        docker_config=docker_config,
        environ=creds_env(registry),
        options=env_options(registry),
    ) as client:
        info = client.head_manifest(ref(registry, f"{repo}:1.0"))
        assert info is not None
        assert info.digest == skopeo.digest(registry, f"{repo}:1.0") == layout.digest
        assert info.media_type == OCI_INDEX
        assert client.head_manifest(ref(registry, f"{repo}:absent")) is None

        manifest = client.get_manifest(ref(registry, f"{repo}:1.0"))
        assert manifest.raw == skopeo.raw_manifest(registry, f"{repo}:1.0")
        assert manifest.is_index
        assert [c.platform_text for c in manifest.children] == ["linux/amd64", "linux/arm64"]
        assert info.size == len(manifest.raw)

        child = client.get_manifest(ref(registry, f"{repo}@{layout.children[1]}"))
        assert child.media_type == OCI_MANIFEST
        assert child.config is not None
        config = json.loads(client.get_blob(Repository(registry.host, repo), child.config.digest))
        assert config["architecture"] == "arm64"
        assert client.blob_exists(Repository(registry.host, repo), child.layers[0].digest)
        assert not client.blob_exists(Repository(registry.host, repo), "sha256:" + "0" * 64)

        target = f"{repo}-copy"
        digest = client.copy_image(ref(registry, f"{repo}:1.0"), ref(registry, f"{target}:2.0"))
        assert client.list_tags(Repository(registry.host, repo)) == ["1.0"]

    # What hubpub wrote, read by skopeo: same digest, children present by digest.
    assert digest == layout.digest == skopeo.digest(registry, f"{target}:2.0")
    for child_digest in layout.children:
        assert skopeo.digest(registry, f"{target}@{child_digest}") == child_digest
    assert skopeo.list_tags(registry, target) == ["2.0"]


def test_a_copy_within_a_registry_mounts_each_blob_without_asking_first(
    registry_plain: Registry, tmp_path: Path, docker_config: Path
) -> None:
    """A mount is answered 201 whether the blob was in the target already or only in the
    source, so a copy on one registry sends one POST per blob and no blob HEAD (distribution-
    spec "Mounting a blob from another repository"); a second copy into a repository that
    holds part of the image still converges."""
    repo, target = unique("alice"), unique("alice")
    layout = write_layout(tmp_path / "layout", layer_size=50_000)
    push_layout(layout, registry_plain, f"{repo}:1")
    counter = Counter()
    with client_for(registry_plain, docker_config=docker_config) as client:
        client.add_response_hook(counter)
        client.copy_image(ref(registry_plain, f"{repo}:1"), ref(registry_plain, f"{target}:1"))
        assert counter.count("HEAD", "/blobs/") == 0
        assert counter.count("POST", "mount=") == len(layout.blobs) == 2
        assert counter.count("PATCH") + counter.count("PUT", "/blobs/") == 0
    again = Counter()
    with client_for(registry_plain, docker_config=docker_config) as client:
        # A fresh client (no memory of where blobs are): the blobs are mounted again, 201.
        client.add_response_hook(again)
        client.copy_image(ref(registry_plain, f"{repo}:1"), ref(registry_plain, f"{target}:2"))
    mounts = [status for m, url, status in again.seen if m == "POST" and "mount=" in url]
    assert mounts == [201] * len(layout.blobs)
    assert again.count("HEAD", "/blobs/") + again.count("PATCH") == 0
    for tag in ("1", "2"):
        assert skopeo.digest(registry_plain, f"{target}:{tag}") == layout.digest
    out = tmp_path / "out"
    src_flags = [f.replace("--", "--src-", 1) for f in skopeo.flags(registry_plain)]
    skopeo.run("copy", *src_flags, f"docker://{registry_plain.host}/{target}:2", f"oci:{out}:x")
    for blob in layout.blobs:
        assert (out / "blobs/sha256" / blob.split(":")[1]).is_file()


def test_a_registry_that_refuses_mounts_is_asked_once_then_uploaded_to(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    """ECR without the feature refuses a mount outright (docs/registry.md#blob-mounts): hubpub
    uploads instead, and stops trying to mount on that registry (the blobs already in flight try
    once; a later copy does not try at all)."""
    proxy = fault_proxy(registry_plain)
    repo, first, second = unique("alice"), unique("alice"), unique("alice")
    layout = write_layout(tmp_path / "layout", layer_size=30_000)
    push_layout(layout, registry_plain, f"{repo}:1")
    proxy.respond(405, method="POST", path="mount=", times=None)
    with client_for(docker_config=docker_config, options={}) as client:
        client.copy_image(ref(proxy.host, f"{repo}:1"), ref(proxy.host, f"{first}:1"))
        refused = len(proxy.requests_matching("POST", "mount="))
        assert 1 <= refused <= len(layout.blobs)
        client.copy_image(ref(proxy.host, f"{repo}:1"), ref(proxy.host, f"{second}:1"))
        assert len(proxy.requests_matching("POST", "mount=")) == refused
    assert len(proxy.requests_matching("PUT", "digest=")) == 2 * len(layout.blobs)
    for target in (first, second):
        assert skopeo.digest(registry_plain, f"{target}:1") == layout.digest


def test_retag_within_a_repository_only_puts_the_manifest(
    registry_plain: Registry, tmp_path: Path, docker_config: Path
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_plain, f"{repo}:a")
    counter = Counter()
    with client_for(registry_plain, docker_config=docker_config) as client:
        client.add_response_hook(counter)
        client.copy_image(ref(registry_plain, f"{repo}:a"), ref(registry_plain, f"{repo}:b"))
    assert counter.count("HEAD", "/blobs/") == 0
    assert counter.count("POST") == 0
    assert counter.count("PUT") == 1
    assert skopeo.digest(registry_plain, f"{repo}:b") == layout.digest


def test_put_manifest_keeps_the_exact_bytes(
    registry_tls: Registry, tmp_path: Path, docker_config: Path
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_tls, f"{repo}:src")
    with client_for(
        registry_tls,
        docker_config=docker_config,
        environ=creds_env(registry_tls),
        options=env_options(registry_tls),
    ) as client:
        original = client.get_manifest(ref(registry_tls, f"{repo}:src"))
        # Same document, other bytes (indentation): another digest, kept as is.
        pretty = json.dumps(original.json(), indent=3).encode()
        manifest = Manifest.from_bytes(pretty)
        assert manifest.digest != original.digest
        digest = client.put_manifest(ref(registry_tls, f"{repo}:pretty"), manifest)
    assert digest == manifest.digest == skopeo.digest(registry_tls, f"{repo}:pretty")
    assert skopeo.raw_manifest(registry_tls, f"{repo}:pretty") == pretty


def test_tags_list_follows_link_pagination(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    """distribution 2.8 ignores ``n``, so the proxy serves the pages the way other registries
    do: a relative link, an absolute one, then Quay's opaque token (which ignores ``last``)."""
    proxy = fault_proxy(registry_plain)
    repo = unique("alice")
    base = f"/v2/{repo}/tags/list"

    def page(tags: list[str], link: str | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if link is not None:
            headers["Link"] = f'<{link}>; rel="next"'
        return {"headers": headers, "body": json.dumps({"name": repo, "tags": tags}).encode()}

    proxy.respond(200, path=r"next_page=opaque-2", **page(["e"], None))
    proxy.respond(200, path=r"last=d$", **page(["d"], f"{base}?next_page=opaque-2"))
    proxy.respond(200, path=r"last=b$", **page(["c"], f"{proxy.url}{base}?n=2&last=d"))
    proxy.respond(200, path=r"\?n=2$", **page(["a", "b"], f"{base}?n=2&last=b"))
    with client_for(docker_config=docker_config, options={}) as client:
        tags = client.list_tags(Repository(proxy.host, repo), page_size=2)
    assert tags == ["a", "b", "c", "d", "e"]
    assert [r.path for r in proxy.requests_matching("GET", "/tags/list")] == [
        f"{base}?n=2",
        f"{base}?n=2&last=b",
        f"{base}?n=2&last=d",
        f"{base}?next_page=opaque-2",
    ]


def test_unknown_repository_and_tag(registry_plain: Registry, docker_config: Path) -> None:
    repo = Repository(registry_plain.host, unique("nobody"))
    with client_for(registry_plain, docker_config=docker_config) as client:
        with pytest.raises(NotFoundError) as excinfo:
            client.list_tags(repo)
        assert client.list_tags(repo, missing_ok=True) == []
        with pytest.raises(NotFoundError, match=f"manifest {repo}:1 not found on registry"):
            client.get_manifest(repo.with_tag("1"))
        assert client.head_manifest(repo.with_tag("1")) is None
    assert str(excinfo.value) == (
        f"repository of tags of {repo} does not exist on registry {registry_plain.host} "
        "(check the name; a push creates the repository)"
    )


# -- blobs: monolithic, chunked, streamed between registries ---------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
def test_upload_a_file_monolithic_or_chunked(
    chunked: bool, registry_tls: Registry, tmp_path: Path, docker_config: Path
) -> None:
    repo = unique("alice")
    data = os.urandom(300_000)
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    counter = Counter()
    with client_for(
        registry_tls,
        docker_config=docker_config,
        environ=creds_env(registry_tls),
        options=env_options(registry_tls),
        chunk_size=64 * 1024 if chunked else 1024 * 1024,
    ) as client:
        client.add_response_hook(counter)
        digest = client.upload_blob_file(Repository(registry_tls.host, repo), blob)
        assert client.get_blob(Repository(registry_tls.host, repo), digest) == data
    assert counter.count("PATCH") == (5 if chunked else 0)  # 300 000 B in 64 KiB chunks
    assert counter.count("PUT", "digest=") == 1
    # Read back with plain requests (not hubpub's client) as well.
    answer = requests.get(
        f"{registry_tls.url}/v2/{repo}/blobs/{digest}",
        auth=(registry_tls.username or "", registry_tls.password or ""),
        verify=str(registry_tls.ca_file),
        timeout=30,
    )
    assert answer.content == data


def test_an_empty_blob_goes_up_with_content_length_zero(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    """An empty stream would go out ``Transfer-Encoding: chunked``, which some registries
    refuse for a blob PUT."""
    proxy = fault_proxy(registry_plain)
    repo = Repository(proxy.host, unique("alice"))
    (tmp_path / "empty").write_bytes(b"")
    with client_for(docker_config=docker_config, options={}) as client:
        digest = client.upload_blob_file(repo, tmp_path / "empty")
        assert client.get_blob(repo, digest) == b""
    assert digest == "sha256:" + hashlib.sha256(b"").hexdigest()
    [put] = proxy.requests_matching("PUT", "digest=")
    assert put.headers.get("content-length") == "0"
    assert "transfer-encoding" not in put.headers
    # Every request says who sends it (the session's default headers never reached them).
    assert {r.headers.get("user-agent") for r in proxy.requests} == {f"hubpub/{__version__}"}


def test_a_mount_answered_202_is_an_upload_session(
    registry_tls: Registry, tmp_path: Path, docker_config: Path
) -> None:
    """distribution-spec "Mounting a blob": 202 means the registry opened an upload instead
    (here: the source repository does not hold the blob); hubpub uploads through it."""
    repo = Repository(registry_tls.host, unique("alice"))
    elsewhere = Repository(registry_tls.host, unique("alice"))
    data = os.urandom(5000)
    (tmp_path / "blob").write_bytes(data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    counter = Counter()
    with client_for(
        registry_tls,
        docker_config=docker_config,
        environ=creds_env(registry_tls),
        options=env_options(registry_tls),
    ) as client:
        client.add_response_hook(counter)
        location = client.mount_blob(repo, digest, elsewhere)
        assert location is not None
        client.upload_blob(
            repo, digest, len(data), lambda: (tmp_path / "blob").open("rb"), location=location
        )
        assert client.get_blob(repo, digest) == data
    writes = [(m, status) for m, _, status in counter.seen if m in ("POST", "PUT")]
    assert writes == [("POST", 202), ("PUT", 201)]


def test_copy_between_registries_streams_each_blob_once_per_target(
    registry_plain: Registry,
    registry_tls: Registry,
    tmp_path: Path,
    docker_config: Path,
) -> None:
    repo = unique("alice")
    layout = write_layout(
        tmp_path / "layout",
        platforms=("linux/amd64", "linux/arm64"),
        index=True,
        layer_size=200_000,
    )
    push_layout(layout, registry_plain, f"{repo}:1")
    counter = Counter()
    options = env_options(registry_tls) | options_for(registry_plain)
    with client_for(
        registry_plain,
        registry_tls,
        docker_config=docker_config,
        environ=creds_env(registry_tls),
        options=options,
        chunk_size=128 * 1024,
    ) as client:
        client.add_response_hook(counter)
        first = client.copy_image(ref(registry_plain, f"{repo}:1"), ref(registry_tls, f"{repo}:1"))
        second = client.copy_image(
            ref(registry_plain, f"{repo}:1"), ref(registry_tls, f"{repo}-b:1")
        )
    assert first == second == layout.digest
    # Four blobs, each uploaded once to the TLS registry; the second repository mounts them.
    assert counter.count("PUT", "digest=") == len(layout.blobs) == 4
    assert counter.count("POST", "mount=") == 4
    assert counter.count("GET", f"{registry_plain.host}/v2/{repo}/blobs/") == 4
    # skopeo reads the copies back byte for byte.
    for name in (repo, f"{repo}-b"):
        out = tmp_path / f"out-{name.replace('/', '_')}"
        skopeo.run(
            "copy",
            "--all",
            "--preserve-digests",
            *[f.replace("--", "--src-", 1) for f in skopeo.flags(registry_tls)],
            f"docker://{registry_tls.host}/{name}:1",
            f"oci:{out}:x",
        )
        for blob in layout.blobs:
            name_ = blob.split(":")[1]
            assert (out / "blobs/sha256" / name_).read_bytes() == (
                layout.path / "blobs/sha256" / name_
            ).read_bytes()


# -- tokens ---------------------------------------------------------------------------------------


def test_resolving_200_tags_takes_one_token_per_scope_and_one_head_per_tag(
    registry_token: Registry, tmp_path: Path, docker_config: Path
) -> None:
    repos = [unique("alice"), unique("alice")]
    layout = write_layout(tmp_path / "layout")
    for repo in repos:
        push_layout(layout, registry_token, f"{repo}:t0")
    refs = [ref(registry_token, f"{repos[0]}:t{i}") for i in range(150)]
    refs += [ref(registry_token, f"{repos[1]}:t{i}") for i in range(50)]
    env, options = creds_env(registry_token), env_options(registry_token)
    with client_for(
        registry_token, docker_config=docker_config, environ=env, options=options
    ) as seeder:
        source = seeder.get_manifest(refs[0])
        seeder.map(lambda r: seeder.put_manifest(r, source), [r for r in refs if r.tag != "t0"])
    assert len(skopeo.list_tags(registry_token, repos[0])) == 150
    assert len(skopeo.list_tags(registry_token, repos[1])) == 50

    assert registry_token.issuer is not None
    registry_token.issuer.clear_requests()
    counter = Counter()
    with client_for(
        registry_token, docker_config=docker_config, environ=env, options=options
    ) as client:
        client.add_response_hook(counter)
        resolved = client.resolve(refs)
        again = client.resolve(refs[:10])  # cached token: no new token request
    assert len(resolved) == 200
    assert {info.digest for info in resolved.values() if info} == {layout.digest}
    assert all(again[r] == resolved[r] for r in refs[:10])
    token_fetches = counter.count(contains="/token")
    assert token_fetches == 2 == registry_token.issuer.request_count
    assert sorted(r.scopes for r in registry_token.issuer.requests) == sorted(
        [(f"repository:{repos[0]}:pull",), (f"repository:{repos[1]}:pull",)]
    )
    assert counter.count("HEAD", "/manifests/") == 210
    assert counter.count("GET", "/manifests/") == 0
    # GET /v2/ once, a token per repository, a HEAD per reference.
    assert len(counter.seen) == 1 + 2 + 210


def test_push_elsewhere_is_denied_naming_the_repository(
    registry_token: Registry, tmp_path: Path, docker_config: Path
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_token, f"{repo}:1")
    target = f"bob/{unique('x').split('/')[1]}"
    with (
        client_for(
            registry_token,
            docker_config=docker_config,
            environ=creds_env(registry_token),
            options=env_options(registry_token),
        ) as client,
        pytest.raises(DeniedError) as excinfo,
    ):
        client.copy_image(ref(registry_token, f"{repo}:1"), ref(registry_token, f"{target}:1"))
    message = str(excinfo.value)
    assert f"no push access to {registry_token.host}/{target}" in message
    assert "$REG_USER/$REG_PASS" in message
    assert (registry_token.password or "?") not in message
    assert (
        skopeo.run(
            "inspect",
            "--tls-verify=false",
            "--no-creds",
            f"docker://{registry_token.host}/{target}:1",
            check=False,
        ).returncode
        != 0
    )


def test_docker_hub_style_403_denied(
    registry_token: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    proxy = fault_proxy(registry_token, docker_hub_denials=True)
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_token, f"{repo}:1")
    target = f"bob/{unique('y').split('/')[1]}"
    options = {
        proxy.host: RegistryOptions(username_env="REG_USER", password_env="REG_PASS"),
    }
    with (
        client_for(
            docker_config=docker_config, environ=creds_env(registry_token), options=options
        ) as client,
        pytest.raises(DeniedError, match=f"no push access to {proxy.host}/{target}"),
    ):
        client.copy_image(ref(proxy.host, f"{repo}:1"), ref(proxy.host, f"{target}:1"))
    denials = [r.status for r in proxy.requests if r.fault == "denied"]
    assert denials
    assert set(denials) == {403}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (  # credentials from the environment are what to check, not what to set
            {"REG_USER": "tester", "REG_PASS": "not-the-password"},
            "refused the credentials from $REG_USER/$REG_PASS (check $REG_USER/$REG_PASS)",
        ),
        (  # a secret not passed to the CI step: say which, not "no credentials were found"
            {"REG_USER": "tester"},
            ": $REG_USER is set but $REG_PASS is not (set both, or neither to use the Docker "
            "config)",
        ),
    ],
)
def test_wrong_environment_credentials_name_registry_and_cure(
    env: dict[str, str], message: str, registry_tls: Registry, docker_config: Path
) -> None:
    with (
        client_for(
            registry_tls,
            docker_config=docker_config,
            environ=env,
            options=env_options(registry_tls),
        ) as client,
        pytest.raises(AuthError) as excinfo,
    ):
        client.head_manifest(ref(registry_tls, "alice/x:1"))
    sep = "" if message.startswith(":") else " "
    assert str(excinfo.value) == f"registry {registry_tls.host}{sep}{message}"


def test_no_credentials_at_all(registry_tls: Registry, docker_config: Path) -> None:
    with (
        client_for(registry_tls, docker_config=docker_config) as client,
        pytest.raises(AuthError) as excinfo,
    ):
        client.list_tags(Repository(registry_tls.host, "alice/x"))
    assert str(excinfo.value).startswith(
        f"registry {registry_tls.host} requires authentication and no credentials were found"
    )
    assert f"docker login {registry_tls.host}" in str(excinfo.value)


# -- credentials from the Docker config and helpers ------------------------------------------------


def _authorized(client: RegistryClient, registry: Registry) -> bool:
    """An authenticated request went through (a tag list of a repository nobody made)."""
    return client.list_tags(Repository(registry.host, unique("n")), missing_ok=True) == []


def _auth(user: str, password: str | None) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_docker_config_auths_entry(registry_tls: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"auths": {registry_tls.host: {"auth": _auth("tester", registry_tls.password)}}})
    )
    with client_for(registry_tls, docker_config=folder) as client:
        assert _authorized(client, registry_tls)


def test_docker_config_without_config_json_does_not_fall_back_to_home(
    registry_tls: Registry, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(
        json.dumps({"auths": {registry_tls.host: {"auth": _auth("tester", registry_tls.password)}}})
    )
    empty = tmp_path / "empty-docker-config"
    empty.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "DOCKER_CONFIG": str(empty)}
    with (
        RegistryClient(options_for(registry_tls), environ=env) as client,
        pytest.raises(AuthError, match="no credentials were found"),
    ):
        client.list_tags(Repository(registry_tls.host, "alice/x"))
    # Without DOCKER_CONFIG, ~/.docker/config.json is the one.
    del env["DOCKER_CONFIG"]
    with RegistryClient(options_for(registry_tls), environ=env) as client:
        assert _authorized(client, registry_tls)


def test_environment_variables_win_over_the_docker_config(
    registry_tls: Registry, tmp_path: Path
) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"auths": {registry_tls.host: {"auth": _auth("tester", "stale-password")}}})
    )
    with client_for(
        registry_tls,
        docker_config=folder,
        environ=creds_env(registry_tls),
        options=env_options(registry_tls),
    ) as client:
        assert _authorized(client, registry_tls)


def test_identity_token_uses_the_refresh_token_grant(
    registry_token: Registry, tmp_path: Path
) -> None:
    assert registry_token.issuer is not None
    identity = registry_token.issuer.refresh_token_for("alice")
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"auths": {registry_token.host: {"identitytoken": identity}}})
    )
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_token, f"{repo}:1")
    registry_token.issuer.clear_requests()
    with client_for(registry_token, docker_config=folder) as client:
        digest = client.copy_image(
            ref(registry_token, f"{repo}:1"), ref(registry_token, f"{repo}-id:1")
        )
    grants = {(r.method, r.grant_type, r.user) for r in registry_token.issuer.requests}
    assert grants == {("POST", "refresh_token", "alice")}
    assert digest == skopeo.digest(registry_token, f"{repo}-id:1")


HELPER = """#!{python}
import json, sys
server = sys.stdin.read().strip()
with open({log!r}, "a") as log:
    log.write(sys.argv[1] + " " + server + "\\n")
answers = {answers!r}
if server not in answers:
    print("credentials not found in native keychain")
    sys.exit(1)
user, secret = answers[server]
print(json.dumps({{"ServerURL": server, "Username": user, "Secret": secret}}))
"""


def _helper(folder: Path, name: str, answers: dict[str, tuple[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    script = folder / f"docker-credential-{name}"
    script.write_text(HELPER.format(python=sys.executable, log=str(log), answers=answers))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


def test_credential_helpers_from_path(
    registry_tls: Registry, registry_token: Registry, tmp_path: Path
) -> None:
    assert registry_token.issuer is not None
    bindir = tmp_path / "bin"
    store_log = _helper(
        bindir, "hubpubstore", {registry_tls.host: ("tester", registry_tls.password or "")}
    )
    token = registry_token.issuer.refresh_token_for("alice")
    helper_log = _helper(bindir, "hubpubtoken", {registry_token.host: ("<token>", token)})
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "credsStore": "hubpubstore",
                "credHelpers": {registry_token.host: "hubpubtoken"},
                "auths": {registry_tls.host: {}},
            }
        )
    )
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_token, f"{repo}:1")
    with client_for(registry_tls, registry_token, docker_config=folder, environ=env) as client:
        assert (
            client.copy_image(ref(registry_token, f"{repo}:1"), ref(registry_tls, f"{repo}:1"))
            == layout.digest
        )
    assert skopeo.digest(registry_tls, f"{repo}:1") == layout.digest
    assert store_log.read_text() == f"get {registry_tls.host}\n"
    assert helper_log.read_text() == f"get {registry_token.host}\n"


def test_missing_credential_helper_is_named(registry_tls: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"credsStore": "hubpub-nowhere"}))
    with (
        client_for(registry_tls, docker_config=folder) as client,
        pytest.raises(AuthError) as excinfo,
    ):
        client.list_tags(Repository(registry_tls.host, "alice/x"))
    assert str(excinfo.value) == (
        f"credential helper docker-credential-hubpub-nowhere (credsStore in "
        f"{folder / 'config.json'}) is not installed or not on PATH (install "
        f"docker-credential-hubpub-nowhere, or remove it from {folder / 'config.json'})"
    )


# -- TLS and transport errors ---------------------------------------------------------------------


def test_tls_needs_a_trusted_ca_even_when_insecure(
    registry_tls: Registry, tmp_path: Path, docker_config: Path
) -> None:
    env = creds_env(registry_tls)
    for options in (
        {},
        {registry_tls.host: RegistryOptions(insecure=True)},  # never a reason to skip verifying
    ):
        with (
            client_for(
                registry_tls, docker_config=docker_config, environ=env, options=options
            ) as client,
            pytest.raises(TransportError) as excinfo,
        ):
            client.head_manifest(ref(registry_tls, "alice/x:1"))
        assert str(excinfo.value).startswith(
            f"TLS verification failed for registry {registry_tls.host} at "
            f"https://{registry_tls.host} (certificate not trusted)"
        )
        assert "ca_file" in str(excinfo.value)


def test_tls_ca_from_docker_certs_d(registry_tls: Registry, tmp_path: Path) -> None:
    home = tmp_path / "home"
    certs = home / ".docker" / "certs.d" / registry_tls.host
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes((registry_tls.ca_file or Path("/")).read_bytes())
    (home / ".docker" / "config.json").write_text(
        json.dumps({"auths": {registry_tls.host: {"auth": _auth("tester", registry_tls.password)}}})
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    with RegistryClient(environ=env) as client:
        assert _authorized(client, registry_tls)


def test_connection_refused(docker_config: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from tests.helpers.registry import FAST_RETRY

    with RegistryClient(environ=client_env(docker_config), retry=FAST_RETRY) as client:
        with pytest.raises(TransportError) as excinfo:
            client.head_manifest(ref(f"127.0.0.1:{port}", "alice/x:1"))
        # The next request to that registry in the same run fails with the same error at
        # once, without a second round of retries (a user waited 17.6 s for two of them).
        with pytest.raises(TransportError) as again:
            client.list_tags(Repository(f"127.0.0.1:{port}", "alice/y"))
        assert again.value is excinfo.value
    assert str(excinfo.value) == (
        f"cannot connect to registry 127.0.0.1:{port} at http://127.0.0.1:{port}: connection "
        f"refused after {FAST_RETRY.attempts} attempts (is the registry running, and are its "
        "host and port right?)"
    )


def test_authorization_is_not_forwarded_to_another_host(
    registry_token: Registry,
    registry_plain: Registry,
    fault_proxy: Any,
    tmp_path: Path,
    docker_config: Path,
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_token, f"{repo}:1")
    push_layout(layout, registry_plain, f"{repo}:1")
    front = fault_proxy(registry_token)
    storage = fault_proxy(registry_plain)  # another host:port, as object storage would be
    blob = layout.blobs[0]
    front.respond(
        307,
        method="GET",
        path=f"/blobs/{blob}",
        headers={"Location": f"{storage.url}/v2/{repo}/blobs/{blob}"},
        body=b"",
    )
    options = {front.host: RegistryOptions(username_env="REG_USER", password_env="REG_PASS")}
    with client_for(
        docker_config=docker_config, environ=creds_env(registry_token), options=options
    ) as client:
        data = client.get_blob(Repository(front.host, repo), blob)
    assert data == (layout.path / "blobs/sha256" / blob.split(":")[1]).read_bytes()
    sent = front.requests_matching("GET", f"/blobs/{blob}")
    assert sent[0].headers["authorization"].startswith("Bearer ")
    followed = storage.requests_matching("GET", f"/blobs/{blob}")
    assert len(followed) == 1
    assert "authorization" not in followed[0].headers


def test_a_link_to_another_origin_gets_no_credentials(
    registry_plain: Registry,
    fault_proxy: Any,
    tmp_path: Path,
    docker_config: Path,
) -> None:
    """A ``Link`` (or an upload ``Location``) is a URL the registry hands out, not a redirect,
    but the rule is the same: the registry's Authorization (here Basic: the password itself)
    never goes to another host."""
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_plain, f"{repo}:b")
    front = fault_proxy(registry_plain)
    elsewhere = fault_proxy(registry_plain)  # another host:port
    link = f'<{elsewhere.url}/v2/{repo}/tags/list?n=1&last=a>; rel="next"'
    front.respond(
        200,
        path=r"/tags/list\?n=1$",
        headers={"Content-Type": "application/json", "Link": link},
        body=json.dumps({"name": repo, "tags": ["a"]}).encode(),
    )
    # The front asks for Basic credentials (a plain registry behind it does not care).
    front.respond(401, path=r"/v2/$", headers={"WWW-Authenticate": 'Basic realm="r"'}, body=b"")
    options = {front.host: RegistryOptions(username_env="REG_USER", password_env="REG_PASS")}
    env = {"REG_USER": "tester", "REG_PASS": "link-secret-pw"}
    with client_for(docker_config=docker_config, environ=env, options=options) as client:
        tags = client.list_tags(Repository(front.host, repo), page_size=1)
    assert tags == ["a", "b"]
    [first] = front.requests_matching("GET", "/tags/list")
    assert first.headers["authorization"].startswith("Basic ")
    followed = elsewhere.requests_matching("GET", "/tags/list")
    assert followed
    assert all("authorization" not in r.headers for r in followed)


def test_manifest_bytes_are_verified(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_plain, f"{repo}:1")
    proxy = fault_proxy(registry_plain)
    tampered = b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'"}'
    proxy.respond(
        200,
        method="GET",
        path="/manifests/",
        headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": layout.digest},
        body=tampered,
    )
    with (
        client_for(docker_config=docker_config, options={}) as client,
        pytest.raises(RegistryError, match="does not match"),
    ):
        client.get_manifest(ref(proxy.host, f"{repo}:1"))


def test_missing_digest_header_falls_back_to_get_and_hash(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_plain, f"{repo}:1")
    proxy = fault_proxy(registry_plain)
    proxy.respond(
        200, method="HEAD", path="/manifests/", headers={"Content-Type": OCI_MANIFEST}, body=b""
    )
    with client_for(docker_config=docker_config, options={}) as client:
        info = client.head_manifest(ref(proxy.host, f"{repo}:1"))
    assert info is not None
    assert info.digest == layout.digest
    assert [r.method for r in proxy.requests_matching(path="/manifests/")] == ["HEAD", "GET"]


# -- secrets --------------------------------------------------------------------------------------


def test_no_secret_in_debug_output(
    registry_token: Registry, tmp_path: Path, docker_config: Path
) -> None:
    """``hubpub --debug inspect`` logs every request, and never a credential or token."""
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout")
    push_layout(layout, registry_token, f"{repo}:1")
    password = registry_token.password or "?"

    def run(secret: str, *args: str) -> subprocess.CompletedProcess[str]:
        (docker_config / "config.json").write_text(
            json.dumps({"auths": {registry_token.host: {"auth": _auth("alice", secret)}}})
        )
        return subprocess.run(
            [str(Path(sys.executable).parent / "hubpub"), "--debug", "inspect", *args],
            capture_output=True,
            text=True,
            env=client_env(docker_config),
            cwd=tmp_path,
            check=False,
        )

    ok = run(password, f"{registry_token.host}/{repo}:1", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["digest"] == layout.digest
    assert f"GET http://{registry_token.host}/v2/{repo}/manifests/1 -> 200" in ok.stderr
    bad = run("wrong-secret-value", f"{registry_token.host}/{repo}:1")
    assert bad.returncode == 1
    assert "refused the credentials from" in bad.stderr
    assert "docker login" in bad.stderr
    everything = ok.stdout + ok.stderr + bad.stdout + bad.stderr
    for secret in (password, "wrong-secret-value", _auth("alice", password), "Bearer ey"):
        assert secret not in everything


def test_docker_hub_names_share_one_credential_entry(tmp_path: Path) -> None:
    """`docker login` stores Docker Hub as https://index.docker.io/v1/; every Hub name of a
    reference (docker.io, index.docker.io, registry-1.docker.io) must find it, in the auths
    and through a helper (the SDK maps only docker.io; docs/registry.md#docker-hub-quirks)."""
    from hubpub.registry.credentials import DockerConfig

    bindir = tmp_path / "bin"
    log = _helper(bindir, "hubpubhub", {"https://index.docker.io/v1/": ("hubuser", "hub-pass")})
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    helper_cfg = tmp_path / "helper" / "config.json"
    helper_cfg.parent.mkdir()
    helper_cfg.write_text(json.dumps({"credHelpers": {"https://index.docker.io/v1/": "hubpubhub"}}))
    inline_cfg = tmp_path / "inline" / "config.json"
    inline_cfg.parent.mkdir()
    inline_cfg.write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": _auth("me", "pw-1")}}})
    )
    for name in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        found = DockerConfig(helper_cfg, env).lookup(name)
        assert found is not None
        assert (found.username, found.password) == ("hubuser", "hub-pass")
        inline = DockerConfig(inline_cfg, env).lookup(name)
        assert inline is not None
        assert (inline.username, inline.password) == ("me", "pw-1")
    assert log.read_text() == "get https://index.docker.io/v1/\n" * 3
    assert DockerConfig(inline_cfg, env).lookup("ghcr.io") is None


def test_a_promotion_copies_once_then_tags_with_the_copys_token(
    registry_token: Registry, tmp_path: Path, docker_config: Path
) -> None:
    """apply's registry-side half on a bearer-token registry: one copy (blobs mounted, no blob
    HEAD), the other tags PUT as soon as the content is there, and every write to the target
    with one token (the copy's scopes are reused for the PUTs; docs/registry.md#token-auth)."""
    source, target = unique("alice"), unique("alice")
    layout = write_layout(tmp_path / "layout", layer_size=20_000)
    push_layout(layout, registry_token, f"{source}:rc")
    tags = [TargetTag(ref(registry_token, f"{target}:{n}")) for n in ("1", "1.0", "latest")]
    images = [ImageSpec("app", tuple(tags), source=ref(registry_token, f"{source}:rc"))]
    observed = Observed(tags={t.ref: None for t in tags}, sources={"app": layout.digest})
    plan = make_plan(images, observed)
    assert [c.via for c in plan.images[0].changes] == ["copy", "tag", "tag"]

    def no_engine() -> Any:
        raise AssertionError("a promotion needs no engine")

    assert registry_token.issuer is not None
    registry_token.issuer.clear_requests()
    counter = Counter()
    env, options = creds_env(registry_token), env_options(registry_token)
    with client_for(
        registry_token, docker_config=docker_config, environ=env, options=options
    ) as client:
        client.add_response_hook(counter)
        result = Executor(client, no_engine, {}).apply(plan)
    assert [r.status for r in result.results] == ["done"] * 3
    # One token reads the source's manifest (in a real apply, observe's HEAD fetched it
    # already); one, and only one, writes: the copy's, reused by all three PUTs.
    asked = [frozenset(r.scopes) for r in registry_token.issuer.requests]
    assert sorted(asked, key=len) == [
        {f"repository:{source}:pull"},
        {f"repository:{source}:pull", f"repository:{target}:pull,push"},
    ]
    assert counter.count("HEAD", "/blobs/") == 0
    assert counter.count("POST", "mount=") == len(layout.blobs)
    assert counter.count("PUT", "/manifests/") == 3
    for tag in tags:
        assert skopeo.digest(registry_token, f"{tag.ref.path}:{tag.ref.tag}") == layout.digest


def test_an_index_of_indexes_is_copied_whole_with_every_digest_kept(
    registry_plain: Registry,
    registry_tls: Registry,
    tmp_path: Path,
    docker_config: Path,
) -> None:
    repo = unique("alice")
    inner = write_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), index=True)
    layout = nest_layout(inner)
    push_layout_raw(layout, registry_plain, repo, "1")
    options = env_options(registry_tls) | options_for(registry_plain)
    with client_for(
        registry_plain,
        registry_tls,
        docker_config=docker_config,
        environ=creds_env(registry_tls),
        options=options,
    ) as client:
        across = client.copy_image(ref(registry_plain, f"{repo}:1"), ref(registry_tls, f"{repo}:1"))
        within = client.copy_image(
            ref(registry_plain, f"{repo}:1"), ref(registry_plain, f"{repo}-b:1")
        )
    assert across == within == layout.digest
    blobs = tmp_path / "layout" / "blobs" / "sha256"
    for registry, name in ((registry_tls, repo), (registry_plain, f"{repo}-b")):
        # skopeo reads every level back byte for byte: the outer index by its tag, the inner
        # index and each image by digest, and each image's blobs.
        assert (
            skopeo.raw_manifest(registry, f"{name}:1")
            == (blobs / layout.digest.split(":")[1]).read_bytes()
        )
        for digest in layout.children:
            assert (
                skopeo.raw_manifest(registry, f"{name}@{digest}")
                == (blobs / digest.split(":")[1]).read_bytes()
            )
        for child in inner.children:
            config = skopeo.run(
                "inspect",
                "--config",
                "--raw",
                *skopeo.flags(registry),
                f"docker://{registry.host}/{name}@{child}",
            ).stdout
            assert json.loads(config)["os"] == "linux"


def test_every_manifest_request_accepts_all_four_manifest_types(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    # A distribution registry answers 404 for an OCI index to a request whose Accept does not
    # list it (docs/registry.md#oci-index-accept): HEAD and GET alike must list all four.
    repo = unique("alice")
    layout = write_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), index=True)
    push_layout(layout, registry_plain, f"{repo}:1")
    proxy = fault_proxy(registry_plain)
    with client_for(docker_config=docker_config, options={}) as client:
        assert client.head_manifest(ref(proxy.host, f"{repo}:1")) is not None
        assert client.get_manifest(ref(proxy.host, f"{repo}:1")).digest == layout.digest
        client.copy_image(ref(proxy.host, f"{repo}:1"), ref(proxy.host, f"{repo}-c:1"))
    manifest_requests = [r for r in proxy.requests if "/manifests/" in r.path]
    assert {r.method for r in manifest_requests} >= {"HEAD", "GET", "PUT"}
    for request in manifest_requests:
        if request.method in ("HEAD", "GET"):
            accepted = {t.strip() for t in request.headers["accept"].split(",")}
            assert accepted >= {
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            }, request
