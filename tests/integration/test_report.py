"""What apply shows while it runs, where users read it: a GitHub Actions log (each build's
log in a collapsible group, errors as annotations, a step summary that says what failed) and
a terminal (live rows for the running tasks only, then one result table), through a real
engine and registry. The terminal is a pseudo-terminal read by a terminal emulator (pyte)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import uuid
from pathlib import Path

import pyte

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, build_project

# The step prints "42-compiled", which its command line does not contain.
FAILING = "FROM {base}\nCOPY msg /app/msg\nRUN echo $((6 * 7))-compiled && exit 3\n"


def project_for(tmp_path: Path, engine: DockerEngine, registry: Registry, base: str) -> Project:
    path = f"r{uuid.uuid4().hex[:8]}/app"
    return build_project(
        tmp_path,
        engine,
        [f"{registry.host}/{path}"],
        [registry],
        base=base,
        tags='tags = [{ preset = "ref", on = "branch" }, { preset = "sha" }]',
        # RUN steps under BuildKit on the suite's engine, which has no bridge network.
        extra='network = "none"\n',
    )


def args(registry: Registry) -> list[str]:
    return ["apply", "--ref", "refs/heads/main", f"--redirect=docker.io={registry.host}"]


def test_github_actions_log_groups_each_build_and_annotates_the_failure(
    tmp_path: Path, docker_engine: DockerEngine, busybox_image: str, registry_plain: Registry
) -> None:
    project = project_for(tmp_path, docker_engine, registry_plain, busybox_image)
    project.write("app/Dockerfile", FAILING.format(base=busybox_image))
    project.commit("a build that fails")
    summary = tmp_path / "summary.md"
    project.env |= {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}

    result = project.hubpub(*args(registry_plain))

    assert result.code == 1
    lines = result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("::group::hubpub: build"))
    assert re.fullmatch(r"::group::hubpub: build app \(FAILED, \d+\.\ds\)", lines[start])
    end = lines.index("::endgroup::", start)
    body = "\n".join(lines[start:end])
    assert "42-compiled" in body
    # The build's log stays inside the group; outside it, a line for its start and its end.
    outside = lines[:start] + lines[end + 1 :]
    build_lines = [line for line in outside if line.startswith("hubpub: build app")]
    assert build_lines[0] == "hubpub: build app ..."
    assert build_lines[1].startswith("hubpub: build app: FAILED: ")
    assert len(build_lines) == 2, build_lines
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 1, errors
    assert errors[0].startswith("::error title=hubpub::apply failed: 1 of ")
    assert lines[-1].startswith("hubpub: error: apply failed: 1 of ")
    text = summary.read_text()
    assert "**Failed:**" in text
    assert "- build app: " in text


def test_a_config_error_under_github_actions_is_an_annotation_on_its_line(
    tmp_path: Path, docker_engine: DockerEngine, busybox_image: str, registry_plain: Registry
) -> None:
    project = project_for(tmp_path, docker_engine, registry_plain, busybox_image)
    text = (project.root / "hubpub.toml").read_text().replace("context =", "contxt =")
    project.write("hubpub.toml", text)
    line = text.splitlines().index('contxt = "app"') + 1
    project.env |= {"GITHUB_ACTIONS": "true"}

    result = project.hubpub("validate")

    assert result.code == 1
    assert result.stderr.splitlines()[0] == (
        f"::error title=hubpub,file=hubpub.toml,line={line}::hubpub.toml:{line}: "
        "image[app].contxt: unknown key 'contxt', did you mean 'context'?"
    )


def run_in_terminal(project: Project, argv: list[str], columns: int = 160) -> tuple[int, str]:
    """Run hubpub with stdout and stderr on a pseudo-terminal; the screen a user sees after."""
    rows = 60
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**project.env, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    process = subprocess.Popen(
        [sys.executable, "-m", "hubpub", *argv],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the follower side closed: the process is done
                break
            if not data:
                break
            stream.feed(data)
        elif process.poll() is not None:
            break
    code = process.wait(timeout=60)
    os.close(leader)
    return code, "\n".join(line.rstrip() for line in screen.display).strip()


def test_a_terminal_shows_one_result_table_not_the_live_rows_again(
    tmp_path: Path, docker_engine: DockerEngine, busybox_image: str, registry_plain: Registry
) -> None:
    project = project_for(tmp_path, docker_engine, registry_plain, busybox_image)
    sha = project.git("rev-parse", "HEAD")[:7]

    code, screen = run_in_terminal(project, args(registry_plain))

    assert code == 0, screen
    lines = screen.splitlines()
    assert sum(line.startswith("Apply: ") for line in lines) == 1, screen
    push = [line for line in lines if f"push {registry_plain.host}/" in line]
    tag = [line for line in lines if f"tag {registry_plain.host}/" in line]
    # Each task once, in the result table: the live display left no finished row behind.
    assert len(push) == 1, screen
    assert push[0].lstrip().startswith("done "), screen
    assert len(tag) == 1, screen
    assert tag[0].lstrip().startswith("done "), screen
    # The build is published to the tag that names the commit; main follows as a manifest PUT
    # (docs/config.md#tags-only-move-forward).
    assert f":sha-{sha}" in push[0]
    assert ":main" in tag[0]
    assert not any(mark in screen for mark in ("✓", "✗")), screen
