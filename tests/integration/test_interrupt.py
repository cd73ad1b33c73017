"""Ctrl-C during an apply: hubpub prints what was published before it exits (130), so that a
user knows which tags moved. The registry is read back with skopeo."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import build_project, proxy_target, uid


def test_ctrl_c_prints_what_was_published(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    fault_proxy: Any,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    path = f"t{uid()}/app"
    repo = f"{proxy.host}/{path}"
    project = build_project(
        tmp_path, docker_engine, [repo], [proxy_target(proxy)], base=registry_base
    )
    # The tag after the push (main: the push goes to the sha tag) hangs: the interrupt comes
    # while it is in flight.
    proxy.delay(60, method="PUT", path="/manifests/main$", times=None)
    process = subprocess.Popen(
        [sys.executable, "-m", "hubpub", "apply", "--ref", "refs/heads/main"],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        if f"push {repo}:sha-" in line and ": done" in line:
            break
        assert line, "".join(seen)
    time.sleep(1)  # the tag's PUT is in flight now
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    sha = project.git("rev-parse", "HEAD")[:7]
    pushed = skopeo.digest(registry_plain, f"{path}:sha-{sha}")
    lines = stdout.splitlines()
    assert any(
        line.split()[:3] == ["done", "push", f"{repo}:sha-{sha}"] and pushed in line
        for line in lines
    ), stdout
    assert any("tag" in line and "interrupted while running" in line for line in lines), stdout
    assert lines[-1].startswith("Apply: 2 done, 1 failed"), stdout
    assert stderr.strip().splitlines()[-1] == "hubpub: error: interrupted"
