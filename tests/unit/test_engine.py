"""The engine module without an engine: its plain values, and errors that name the address and
the way out (and never a build arg)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hubpub.engine import Engine, PushAuth
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
