"""Pure parsing of the registry client: challenges, scopes, tokens, Link, Retry-After, hosts."""

from __future__ import annotations

import email.utils
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from hubpub.errors import RegistryError
from hubpub.logs import mask
from hubpub.reference import parse_reference
from hubpub.registry.auth import Credentials, parse_token_response
from hubpub.registry.challenges import (
    Challenge,
    normalize_scopes,
    parse_challenges,
    pick_challenge,
    scopes_want_push,
    write_scopes,
)
from hubpub.registry.credentials import docker_config_file, server_key
from hubpub.registry.errors import hub_pull_limit, parse_retry_after
from hubpub.registry.models import Manifest, digest_of, verify_digest
from hubpub.registry.transport import Transport
from hubpub.registry.upload import _with_query
from hubpub.registry.urls import host_of, is_loopback, parse_link_next, redirect_keeps_auth

# -- WWW-Authenticate ------------------------------------------------------------------------------


def test_docker_hub_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    [challenge] = parse_challenges(header)
    assert challenge == Challenge(
        "bearer",
        {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:samalba/my-app:pull,push",
        },
    )
    assert challenge.scopes == ("repository:samalba/my-app:pull,push",)


def test_insufficient_scope_with_several_scopes_and_spaces() -> None:
    header = (
        'Bearer realm="http://127.0.0.1:1/token", service="svc", '
        'scope="repository:a/b:pull repository:c:pull,push", error="insufficient_scope"'
    )
    [challenge] = parse_challenges(header)
    assert challenge.scopes == ("repository:a/b:pull", "repository:c:pull,push")
    assert challenge.error == "insufficient_scope"
    assert challenge.service == "svc"


def test_several_challenges_in_one_header_prefer_bearer() -> None:
    header = 'Basic realm="basic-realm", Bearer realm="https://r/token",service="s"'
    challenges = parse_challenges(header)
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].realm == "basic-realm"
    picked = pick_challenge(challenges)
    assert picked is not None
    assert picked.realm == "https://r/token"


def test_basic_challenge_and_escaped_quotes() -> None:
    [challenge] = parse_challenges('basic realm="say \\"hi\\", then go"')
    assert challenge.scheme == "basic"
    assert challenge.realm == 'say "hi", then go'


def test_empty_or_garbage_header() -> None:
    assert parse_challenges("") == []
    assert pick_challenge(parse_challenges("Negotiate")) is None


# -- scopes ---------------------------------------------------------------------------------------


def test_scopes_merge_actions_per_repository_and_sort() -> None:
    assert normalize_scopes(
        ["repository:b:push", "repository:a:pull", "repository:b:pull", "registry:catalog:*"]
    ) == ("registry:catalog:*", "repository:a:pull", "repository:b:pull,push")


def test_write_scopes_ask_for_the_mount_source_in_the_same_token() -> None:
    dst = parse_reference("localhost:5000/team/app").repository
    src = parse_reference("localhost:5000/base/img").repository
    assert write_scopes(dst) == ("repository:team/app:pull,push",)
    assert write_scopes(dst, src) == (
        "repository:team/app:pull,push",
        "repository:base/img:pull",
    )
    assert write_scopes(dst, dst) == ("repository:team/app:pull,push",)
    assert scopes_want_push(write_scopes(dst, src)) == ["team/app"]


def test_docker_hub_scope_uses_the_normalized_path() -> None:
    ref = parse_reference("ubuntu:24.04")
    assert write_scopes(ref.repository)[0] == "repository:library/ubuntu:pull,push"
    assert ref.repository.api_host == "registry-1.docker.io"
    assert server_key("docker.io") == "https://index.docker.io/v1/"
    assert server_key("index.docker.io") == "https://index.docker.io/v1/"
    assert server_key("ghcr.io") == "ghcr.io"


# -- tokens ---------------------------------------------------------------------------------------


def test_token_expiry_defaults_to_and_is_floored_at_60_seconds() -> None:
    assert parse_token_response({"token": "t-one"}, now=100.0).expires_at == 160.0
    assert parse_token_response({"token": "t-two", "expires_in": 5}, now=0.0).expires_at == 60.0
    long = parse_token_response({"access_token": "t-three", "expires_in": 300}, now=0.0)
    assert (long.value, long.expires_at) == ("t-three", 300.0)
    stale = parse_token_response({"token": "t-four", "expires_in": 60}, now=time.monotonic() - 61)
    assert not stale.fresh()
    assert parse_token_response({"token": "t-five"}).fresh()
    with pytest.raises(RegistryError, match="without a token"):
        parse_token_response({"expires_in": 60})


def test_tokens_and_passwords_are_masked_once_seen() -> None:
    token = parse_token_response({"token": "eyJ-secret-token-value"})
    creds = Credentials("user", "hunter2-password")
    text = f"Authorization: Bearer {token.value} / {creds.basic_header()} / hunter2-password"
    masked = mask(text)
    assert "eyJ-secret-token-value" not in masked
    assert "hunter2-password" not in masked
    assert creds.basic_header() not in masked


def test_no_secret_in_the_repr_of_credentials_or_tokens() -> None:
    creds = Credentials("user", "repr-password-1", identity_token="repr-identity-2", source="x")
    token = parse_token_response({"token": "repr-token-value-3"})
    text = repr(creds) + repr(token) + str([creds, token])
    for secret in ("repr-password-1", "repr-identity-2", "repr-token-value-3"):
        assert secret not in text
    assert "user" in repr(creds)


# -- Link, Retry-After, hosts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            '</v2/a/tags/list?n=2&last=b>; rel="next"',
            "https://r.example/v2/a/tags/list?n=2&last=b",
        ),
        (
            '<https://other.example/v2/a/tags/list?last=b>; rel="next"',
            "https://other.example/v2/a/tags/list?last=b",
        ),
        (
            "</v2/a/tags/list?next_page=gAAAAA>; rel=next",
            "https://r.example/v2/a/tags/list?next_page=gAAAAA",
        ),
        ('</first>; rel="prev", </second>; rel="next"', "https://r.example/second"),
        ('</x>; rel="prev"', None),
        ("", None),
        (None, None),
    ],
)
def test_link_next(header: str | None, expected: str | None) -> None:
    assert parse_link_next(header, "https://r.example/v2/a/tags/list?n=2") == expected


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("netloc", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry.example:5000", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_hosts(netloc: str, loopback: bool) -> None:
    assert is_loopback(netloc) is loopback


def test_host_of() -> None:
    assert host_of("[::1]:5000") == "::1"
    assert host_of("example.com:443") == "example.com"
    assert host_of("example.com") == "example.com"


def test_redirect_keeps_auth_only_on_the_same_origin() -> None:
    assert redirect_keeps_auth("https://r:5000/v2/a", "https://r:5000/v2/b")
    assert not redirect_keeps_auth("https://r:5000/v2/a", "https://s3.example/bucket/x")
    assert not redirect_keeps_auth("https://r:5000/v2/a", "http://r:5000/v2/a")
    assert not redirect_keeps_auth("https://r:5000/v2/a", "https://r:5001/v2/a")


def test_presigned_storage_queries_stay_out_of_logs() -> None:
    from hubpub.registry.urls import loggable_url

    storage = "https://bucket.s3.example/blob?X-Amz-Signature=abcdef&X-Amz-Credential=x"
    assert loggable_url(storage, "r.example:5000") == "https://bucket.s3.example/blob?..."
    own = "https://r.example:5000/v2/a/tags/list?n=100&last=b"
    assert loggable_url(own, "r.example:5000") == own


def test_upload_location_keeps_its_query() -> None:
    assert (
        _with_query("http://r/v2/a/blobs/uploads/u1?_state=abc%3D", {"digest": "sha256:00"})
        == "http://r/v2/a/blobs/uploads/u1?_state=abc%3D&digest=sha256%3A00"
    )
    assert (
        _with_query("/v2/a/blobs/uploads/u1", {"digest": "x"}) == "/v2/a/blobs/uploads/u1?digest=x"
    )


def test_docker_config_location(tmp_path: Path) -> None:
    assert docker_config_file({"HOME": "/home/u"}) == Path("/home/u/.docker/config.json")
    assert docker_config_file({"HOME": "/h", "DOCKER_CONFIG": "/cfg"}) == Path("/cfg/config.json")
    assert docker_config_file({}, tmp_path) == tmp_path / "config.json"
    assert docker_config_file({}) is None


# -- manifests ------------------------------------------------------------------------------------


def test_manifest_digest_is_of_the_exact_bytes() -> None:
    raw = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
        b'"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"digest":"sha256:' + b"a" * 64 + b'","size":7,"platform":{"os":"linux",'
        b'"architecture":"arm64","variant":"v8"}}]}'
    )
    manifest = Manifest.from_bytes(raw)
    assert manifest.digest == digest_of(raw)
    assert manifest.is_index
    assert [c.platform_text for c in manifest.children] == ["linux/arm64/v8"]
    assert manifest.config is None
    verify_digest(raw, manifest.digest, "x")
    with pytest.raises(RegistryError, match="does not match"):
        verify_digest(raw + b" ", manifest.digest, "manifest x")


def test_docker_hub_pull_limit_headers() -> None:
    import requests

    response = requests.Response()
    response.status_code = 429
    response.headers["RateLimit-Limit"] = "100;w=21600"
    response.headers["RateLimit-Remaining"] = "0;w=21600"
    assert hub_pull_limit(response) == "0 of 100 pulls left per 6 h"
    response.headers["RateLimit-Remaining"] = "12;w=21600"
    assert hub_pull_limit(response) is None


# -- the auth flow, driven by hand (it does no I/O itself) ----------------------------------------


def _response(status: int, *, headers: dict[str, str] | None = None, body: bytes = b"") -> Any:
    import requests

    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    response._content = body
    return response


def test_identity_token_exchange_falls_back_from_post_to_get() -> None:
    import base64

    import requests

    from hubpub.registry.auth import RegistryAuth, TokenCache

    identity = Credentials(None, None, identity_token="identity-token-value", source="test")
    auth = RegistryAuth("r.example", lambda: identity, TokenCache(), "docker login", lambda _: True)
    request = requests.Request("HEAD", "https://r.example/v2/a/manifests/1").prepare()
    flow = auth.flow(request, ["repository:a:pull"])
    first = next(flow)
    assert first is request
    assert "Authorization" not in first.headers  # no challenge known yet
    challenge = 'Bearer realm="https://auth.r.example/token",service="reg"'
    post = flow.send(_response(401, headers={"WWW-Authenticate": challenge}))
    assert post.method == "POST"
    assert post.url == "https://auth.r.example/token"
    assert post.body is not None
    form = dict(pair.split("=", 1) for pair in str(post.body).split("&"))
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "identity-token-value"
    assert form["service"] == "reg"
    assert form["scope"] == "repository%3Aa%3Apull"
    get = flow.send(_response(404))  # this realm has no OAuth endpoint
    assert get.method == "GET"
    assert get.url == "https://auth.r.example/token?service=reg&scope=repository%3Aa%3Apull"
    expected = base64.b64encode(b"<token>:identity-token-value").decode()
    assert get.headers["Authorization"] == f"Basic {expected}"
    again = flow.send(_response(200, body=b'{"token": "registry-token-1", "expires_in": 300}'))
    assert again is request
    assert again.headers["Authorization"] == "Bearer registry-token-1"
    with pytest.raises(StopIteration):
        flow.send(_response(200))

    # The next request with the same scopes uses the cached token: no token request.
    second = requests.Request("HEAD", "https://r.example/v2/a/manifests/2").prepare()
    flow = auth.flow(second, ["repository:a:pull"])
    assert next(flow).headers["Authorization"] == "Bearer registry-token-1"


def test_basic_challenge_without_credentials_is_not_resent() -> None:
    import requests

    from hubpub.registry.auth import RegistryAuth, TokenCache

    auth = RegistryAuth("r.example", lambda: None, TokenCache(), "docker login", lambda _: True)
    request = requests.Request("GET", "https://r.example/v2/a/tags/list").prepare()
    flow = auth.flow(request, ["repository:a:pull"])
    next(flow)
    with pytest.raises(StopIteration):
        flow.send(_response(401, headers={"WWW-Authenticate": 'Basic realm="r"'}))


def _connection_error(cause: BaseException) -> Exception:
    """A requests ConnectionError caused by ``cause``, chained as urllib3 and requests do."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise requests.ConnectionError("connection failed") from inner
    except requests.ConnectionError as outer:
        return outer


@pytest.mark.parametrize(
    ("cause", "retried"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), False),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), True),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
    ],
)
def test_a_host_dns_says_does_not_exist_is_not_retried(cause: BaseException, retried: bool) -> None:
    assert bool(Transport._backoff(_connection_error(cause))) is retried
