"""Errors of the engine and of apply name the address or option and the way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubpub.engine import Engine
from hubpub.errors import EngineError


def test_unreachable_engine_names_its_address(tmp_path: Path) -> None:
    socket = tmp_path / "no-engine.sock"  # nothing listens here: the real SDK fails to connect
    with pytest.raises(EngineError) as caught:
        Engine.from_env({"DOCKER_HOST": f"unix://{socket}"}).ping()
    assert str(caught.value) == (
        f"cannot reach the Docker engine at unix://{socket} "
        "(start dockerd, or set DOCKER_HOST to the engine's address)"
    )


def test_saved_plan_refuses_options_it_records(tmp_path: Path) -> None:
    import subprocess
    import sys

    plan = tmp_path / "x.plan"
    plan.write_text("{}")
    done = subprocess.run(
        [sys.executable, "-m", "hubpub", "apply", str(plan), "--ref", "refs/heads/main"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "hubpub: error: --ref: not allowed with a saved plan (a saved plan keeps the options it "
        "was made with; run 'hubpub plan --out' again to change them)\n"
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
