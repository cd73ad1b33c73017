"""The engine module without an engine: its plain values, and errors that name the address and
the way out (and never a build arg)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from hubpub.config.builders import Builder
from hubpub.engine import Engine, PushAuth
from hubpub.engine.pool import Builders
from hubpub.errors import EngineError


def test_push_credentials_never_show_in_a_repr() -> None:
    # A --debug traceback or a log line may print the object (secrets never leak).
    for auth in (PushAuth("alice", "s3cret-pw"), PushAuth("", "", identity_token="s3cret-tok")):
        text = f"{auth!r} {auth}"
        assert "s3cret" not in text
        assert "PushAuth(username=" in text
    assert PushAuth("alice", "pw").as_auth_config("reg")["password"] == "pw"


def test_two_threads_importing_the_docker_sdk_do_not_break_each_other() -> None:
    """observe hashes contexts (docker.utils.build) while another thread may connect to the
    engine (docker): without engine.sdk_module's lock, the second import, started a few ms
    into the first, failed about half the time (ImportError / KeyError: 'docker')."""
    code = """
import sys, threading, time
from hubpub.engine import sdk_module
delay = float(sys.argv[1])
errors = []
def load(name, wait):
    time.sleep(wait)
    try:
        sdk_module(name)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=load, args=("docker", 0.0)),
           threading.Thread(target=load, args=("docker.utils.build", delay))]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""
    for delay in ("0.002", "0.004", "0.006", "0.008", "0.010", "0.003"):
        done = subprocess.run(
            [sys.executable, "-c", code, delay], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == "[]", (delay, done.stdout, done.stderr)


def test_unreachable_engine_names_its_address(tmp_path: Path) -> None:
    socket = tmp_path / "no-engine.sock"  # nothing listens here: the real SDK fails to connect
    with pytest.raises(EngineError) as caught:
        Engine.from_env({"DOCKER_HOST": f"unix://{socket}"}).ping()
    assert str(caught.value) == (
        f"cannot reach the Docker engine at unix://{socket} "
        "(start dockerd, or set DOCKER_HOST to the engine's address)"
    )


def test_engine_http_error_never_shows_the_build_args(tmp_path: Path) -> None:
    # The engine API takes build args in the query string, and the SDK's APIError prints the
    # URL: a build arg may carry a secret (planfile.py keeps them out for that reason too).
    import docker.errors
    import requests

    from hubpub.engine import BuildRequest

    response = requests.Response()
    response.status_code = 500
    response.reason = "Internal Server Error"
    response.url = (
        "http+docker://localhost/v1.43/build?t=&buildargs=%7B%22NPM_TOKEN%22%3A+%22"
        "s3cret-build-arg%22%7D&dockerfile=Dockerfile"
    )

    class Api:
        def build(self, **_kwargs: object) -> object:
            raise docker.errors.APIError("500", response=response, explanation="no space left")

    class Client:
        api = Api()

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    request = BuildRequest(
        tmp_path, tmp_path / "Dockerfile", build_args={"NPM_TOKEN": "s3cret-build-arg"}
    )
    with pytest.raises(EngineError) as caught:
        Engine(Client()).build(request)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "s3cret" not in message
    assert "buildargs" not in message
    assert message == (
        f"build of {tmp_path} failed: 500 Internal Server Error from the engine (no space left)"
    )

    class DroppedApi:
        def build(self, **_kwargs: object) -> object:
            raise requests.ConnectionError(
                "HTTPConnectionPool(host='localhost', port=None): Max retries exceeded with url: "
                "/v1.43/build?buildargs=%7B%22NPM_TOKEN%22%3A+%22s3cret-build-arg%22%7D (reset)"
            )

    Client.api = DroppedApi()  # type: ignore[assignment]
    with pytest.raises(EngineError) as caught:
        Engine(Client()).build(request)  # type: ignore[arg-type]
    assert "s3cret" not in str(caught.value)
    assert str(caught.value).endswith("with url: /v1.43/build?… (reset)")


# --- BuildKit requests (engine/buildkit.py, engine/context.py) --------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.41", True), ("1.39", True), ("1.38", False), ("2.0", True), ("x", False)],
)
def test_buildkit_needs_api_1_39(version: str, expected: bool) -> None:
    from hubpub.engine.buildkit import supports_buildkit

    assert supports_buildkit(version) is expected


def test_a_buildkit_request_carries_labels_network_cache_and_inline_cache(tmp_path: Path) -> None:
    from hubpub.engine.buildkit import BuildRequest, params

    (tmp_path / "docker").mkdir()
    plain = params(BuildRequest(tmp_path, tmp_path / "docker" / "Dockerfile"))
    assert plain == {
        "version": "2",
        "dockerfile": "docker/Dockerfile",
        "rm": "1",
        "forcerm": "1",
        "networkmode": "default",
        "buildargs": "{}",
        "labels": "{}",
    }
    full = params(
        BuildRequest(
            tmp_path,
            tmp_path.parent / "Dockerfile.out",
            target="final",
            build_args={"A": "1"},
            labels={"org.opencontainers.image.revision": "abc"},
            network="none",
            cache_from=("reg/app:main",),
            inline_cache=True,
        )
    )
    assert full["dockerfile"] == ".dockerfile.outside"
    assert full["target"] == "final"
    assert full["networkmode"] == "none"
    assert json.loads(full["buildargs"]) == {"A": "1", "BUILDKIT_INLINE_CACHE": "1"}
    assert json.loads(full["labels"]) == {"org.opencontainers.image.revision": "abc"}
    assert json.loads(full["cachefrom"]) == ["reg/app:main"]
    assert "platform" not in full  # the engine's own unless asked
    arm = params(BuildRequest(tmp_path, tmp_path / "Dockerfile", platform="linux/arm64"))
    assert arm["platform"] == "linux/arm64"
    assert BuildRequest(tmp_path, tmp_path / "D", name="app", platform="linux/arm64").what == (
        "image 'app' for linux/arm64"
    )


def test_the_context_tar_starts_with_one_plain_header_and_honours_dockerignore(
    tmp_path: Path,
) -> None:
    """BuildKit's frontend tells a tar from a Dockerfile by the body's first 1024 bytes: a PAX
    header first (Python's default for a file with a fractional mtime) made it read the whole
    tar as the Dockerfile."""
    from hubpub.engine.context import context_tar

    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (tmp_path / ".dockerignore").write_text("secret.txt\n")
    (tmp_path / "secret.txt").write_text("no")
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    (deep / "f").write_text("x")
    os.utime(tmp_path / "Dockerfile", (1.5, 1.5))
    with context_tar(tmp_path, tmp_path / "Dockerfile") as body:
        data = body.read()
    first = tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape")
    assert (first.name, first.mtime, first.type) == ("Dockerfile", 1, tarfile.REGTYPE)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert "secret.txt" not in names
    assert f"{'d' * 120}/f" in names

    # A Dockerfile whose own name needs a long-name entry: gzip, which BuildKit recognises by
    # its magic bytes.
    (deep / "Dockerfile").write_text("FROM scratch\n")
    with context_tar(tmp_path, deep / "Dockerfile") as body:
        data = body.read()
    assert data[:3] == b"\x1f\x8b\x08"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames()[0] == f"{'d' * 120}/Dockerfile"


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ("FROM x\nRUN --mount=type=secret,id=npm cat /run/secrets/npm\n", [(2, "secret")]),
        ("FROM x\nRUN --mount=type=ssh git clone git@h:r\n", [(2, "ssh")]),
        (
            "FROM x\nRUN --mount=id=k,type=secret \\\n  --mount=type=ssh true\n",
            [(2, "secret"), (3, "ssh")],
        ),
        ("FROM x\nRUN --mount=type=cache,target=/root/.cache make\n", []),
        ("FROM x\n# RUN --mount=type=secret,id=a\nRUN true\n", []),
        ("FROM x\nRUN --mount=type=secretive true\n", []),
    ],
)
def test_mounts_that_need_a_buildkit_session_are_found(
    dockerfile: str, expected: list[tuple[int, str]]
) -> None:
    from hubpub.engine.buildkit import session_mounts

    assert session_mounts(dockerfile) == expected


# --- engine/pool.py: the errors that come before any engine answers ------------------------------


def test_a_builder_whose_tls_file_is_missing_says_which_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not checked before the key is found missing")
    builder = Builder(
        docker_host="tcp://127.0.0.1:9",
        tls={"ca": tmp_path / "ca.pem", "cert": tmp_path / "c.pem", "key": tmp_path / "k.pem"},
        platforms=("linux/arm64",),
    )
    with Builders({"arm": builder}, {}) as pool, pytest.raises(EngineError) as caught:
        pool.engine_for("linux/arm64")
    assert str(caught.value).startswith(
        f"builder 'arm': its tls cert file {tmp_path / 'c.pem'} does not exist"
    )
    assert caught.value.hint == "fix the path in [builders.arm]: it is relative to the config file"


def test_an_ssh_builder_needs_the_sdks_ssh_transport() -> None:
    builder = Builder(docker_host="ssh://nobody@127.0.0.1:9", platforms=("linux/arm64",))
    with Builders({"arm": builder}, {}) as pool, pytest.raises(EngineError) as caught:
        pool.engine_for("linux/arm64")
    if importlib.util.find_spec("paramiko") is None:
        assert str(caught.value).startswith(
            "builder 'arm' at ssh://nobody@127.0.0.1:9: ssh:// needs the docker SDK's ssh "
            "transport (paramiko), which is not installed"
        )
        assert "pip install 'hubpub[ssh]'" in (caught.value.hint or "")
    else:  # installed (hubpub[ssh]): nothing listens on port 9
        assert str(caught.value).startswith("cannot reach builder 'arm' at ssh://nobody@")
        assert "`ssh` reaches the host" in (caught.value.hint or "")


def test_a_platform_no_builder_lists_and_no_platform_go_to_the_default_engine() -> None:
    builders = {"arm": Builder(docker_host="unix:///nowhere.sock", platforms=("linux/arm64",))}
    pool = Builders(builders, {})
    assert [pool.name_for(p) for p in (None, "linux/amd64", "linux/aarch64")] == [None, None, "arm"]
    assert pool.opened() == []  # routing opens nothing
