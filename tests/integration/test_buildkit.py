"""Builds through the engine's BuildKit, end to end: ``hubpub apply`` and ``hubpub build`` as
subprocesses against the suite's engine (dockerd 20.10, no bridge network: RUN steps use
``network = "none"``), the results read back with skopeo and ``docker pull`` + ``docker run``.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import docker.errors
import pytest

from hubpub.contentkey import LABEL
from hubpub.engine import BuildRequest, Engine
from hubpub.errors import EngineError
from tests.fixtures.engine import DockerEngine, start_engine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, build_project, short_sha, uid

MAIN = ("--ref", "refs/heads/main")

# Three stages: the target is "final"; the last one fails if it is ever built.
STAGES = """\
FROM {base} AS base
ARG MSG
RUN echo "built: $MSG" > /msg
FROM base AS final
RUN cat /msg > /out && echo done >> /out
FROM base AS last
RUN false
"""

BUILD_OPTIONS = """\
network = "none"
target = "final"
build_args = {{ MSG = "hello {{{{ git.short_sha }}}}" }}
labels = {{ "org.example.team" = "core" }}
{more}
"""


def project_with(
    tmp_path: Path,
    engine: DockerEngine,
    registry: Registry,
    base: str,
    dockerfile: str,
    *,
    more: str = "",
    path: str | None = None,
) -> tuple[Project, str]:
    path = path or f"t{uid()}/app"
    project = build_project(
        tmp_path,
        engine,
        [f"{registry.host}/{path}"],
        [registry],
        base=base,
        tags='tags = [{ preset = "ref", on = "branch" }]',
        extra=BUILD_OPTIONS.format(more=more),
    )
    project.write("app/Dockerfile", dockerfile.format(base=base))
    project.commit("the Dockerfile under test")
    return project, path


def run_ref(engine: DockerEngine, ref: str, *command: str) -> str:
    """docker pull + docker run, as a user of the published image does."""
    repository, _, tag = ref.rpartition(":")
    engine.client.images.pull(repository, tag=tag)
    out = engine.client.containers.run(ref, list(command), remove=True, network_mode="none")
    return out.decode() if isinstance(out, bytes) else str(out)


def history(config: dict[str, Any]) -> list[str]:
    return [str(step.get("created_by", "")) for step in config.get("history", [])]


def test_buildkit_builds_run_args_target_and_labels_without_a_label_step(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    project, path = project_with(tmp_path, docker_engine, registry_plain, busybox_image, STAGES)
    applied = project.ok("apply", *MAIN)
    assert "  * builder: BuildKit" in applied.stdout
    # BuildKit's steps in the log, as docker build --progress=plain shows them.
    assert "[final 1/1] RUN cat /msg > /out && echo done >> /out" in applied.stderr

    config = skopeo.config(registry_plain, f"{path}:main")
    labels = config["config"]["Labels"]
    assert labels["org.example.team"] == "core"
    assert labels[LABEL].startswith("sha256:")
    assert labels["org.opencontainers.image.revision"] == project.git("rev-parse", "HEAD")
    steps = history(config)
    assert any("RUN" in step and "/out" in step for step in steps), steps
    assert not any("LABEL" in step for step in steps), steps  # labels came with the build
    out = run_ref(docker_engine, f"{registry_plain.host}/{path}:main", "cat", "/out")
    assert out == f"built: hello {short_sha(project)}\ndone\n"


def test_hubpub_build_builds_what_apply_would_and_pushes_nothing(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    project, path = project_with(tmp_path, docker_engine, registry_plain, busybox_image, STAGES)
    built = project.ok("build", *MAIN, "--detailed-exitcode", code=2)
    assert "  * build: no target exists yet" in built.stdout
    assert "  * builder: BuildKit" in built.stdout
    assert built.stdout.rstrip().endswith("Build: 1 built, 0 failed; nothing pushed.")
    line = next(text for text in built.stdout.splitlines() if text.startswith("  done"))
    image_id = line.split()[2]
    assert image_id.startswith("sha256:")
    # Nothing reached the registry: no repository, no tag.
    where = f"docker://{registry_plain.host}/{path}:main"
    assert skopeo.run("inspect", *skopeo.flags(registry_plain), where, check=False).returncode
    # The engine has the image, with the labels and content key apply would give it.
    labels = docker_engine.client.images.get(image_id).labels
    assert labels["org.example.team"] == "core"
    assert labels["org.opencontainers.image.revision"] == project.git("rev-parse", "HEAD")
    key = labels[LABEL]
    out = docker_engine.client.containers.run(
        image_id, ["cat", "/out"], remove=True, network_mode="none"
    )
    assert out.decode() == f"built: hello {short_sha(project)}\ndone\n"

    # The JSON report names the same image; apply then publishes that content key.
    data = project.ok("build", *MAIN, "--json").json()
    assert [(r["action"], r["image"], r["status"]) for r in data["results"]] == [
        ("build", "app", "done")
    ]
    project.ok("apply", *MAIN)
    config = skopeo.config(registry_plain, f"{path}:main")
    assert config["config"]["Labels"][LABEL] == key
    # Published with this content: nothing left to build.
    again = project.ok("build", *MAIN, "--detailed-exitcode")
    assert "Build: nothing to build" in again.stdout


def test_a_failing_build_of_hubpub_build_exits_1_naming_it(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    dockerfile = "FROM {base} AS final\nRUN echo broken >&2; exit 7\n"
    project, _path = project_with(
        tmp_path, docker_engine, registry_plain, busybox_image, dockerfile
    )
    failed = project.hubpub("build", *MAIN)
    assert failed.code == 1
    assert "      | broken" in failed.stdout
    assert "Build: 0 built, 1 failed; nothing pushed." in failed.stdout
    assert failed.stderr.strip().splitlines()[-1] == (
        "hubpub: error: build failed: 1 of 1 images failed to build (build app: build of "
        "image 'app' failed at step [2/2] RUN echo broken >&2; exit 7: exit code: 7) (fix the "
        "cause and run 'hubpub build' again)"
    )


def test_the_classic_builder_still_builds_when_asked(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    project, path = project_with(
        tmp_path,
        docker_engine,
        registry_plain,
        busybox_image,
        STAGES,
        more='builder = "classic"',
    )
    applied = project.ok("apply", *MAIN)
    assert '  * builder: classic (builder = "classic")' in applied.stdout
    assert "Step 1/" in applied.stderr  # the classic builder's own log
    config = skopeo.config(registry_plain, f"{path}:main")
    assert config["config"]["Labels"]["org.example.team"] == "core"
    assert config["config"]["Labels"][LABEL].startswith("sha256:")
    assert any("LABEL" in step for step in history(config))  # its one label step
    out = run_ref(docker_engine, f"{registry_plain.host}/{path}:main", "cat", "/out")
    assert out == f"built: hello {short_sha(project)}\ndone\n"


def test_a_dockerfile_with_buildkit_syntax_builds(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    # The classic builder fails both: "the --mount option requires BuildKit".
    dockerfile = (
        "FROM {base} AS final\n"
        "COPY --chmod=750 msg /app/msg\n"
        "RUN --mount=type=cache,target=/cache echo kept >> /cache/log && cp /cache/log /out\n"
    )
    project, path = project_with(tmp_path, docker_engine, registry_plain, busybox_image, dockerfile)
    project.ok("apply", *MAIN)
    ref = f"{registry_plain.host}/{path}:main"
    assert run_ref(docker_engine, ref, "cat", "/out") == "kept\n"
    assert run_ref(docker_engine, ref, "ls", "-l", "/app/msg").startswith("-rwxr-x--- ")


def test_a_failing_step_is_one_line_naming_it_then_its_last_output_lines(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    # stderr first, then a pause: BuildKit sends a step's two streams in separate batches, so
    # lines written close together on both may arrive in either order.
    dockerfile = (
        "FROM {base} AS final\n"
        "RUN echo to-stderr >&2; sleep 0.5; "
        'for n in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "line $n"; done; exit 3\n'
    )
    project, path = project_with(tmp_path, docker_engine, registry_plain, busybox_image, dockerfile)
    failed = project.hubpub("apply", *MAIN)
    assert failed.code == 1
    step = "[2/2] RUN echo to-stderr >&2; sleep 0.5; for n in 1 2 3 4 5 6 7 8 9 10 11 12"
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("hubpub: error: apply failed: 1 of 2 actions failed (build app: ")
    assert f"build of image 'app' failed at step {step}" in last
    assert "exit code: 3" in last
    # The step's own last lines (ten), under the failed build, in the log and in the report.
    tail = [f"line {n}" for n in range(3, 13)]
    assert [f"      | {text}" for text in tail] == [
        line for line in failed.stdout.splitlines() if line.startswith("      | ")
    ]
    for text in tail:
        assert f"hubpub: build app: | {text}\n" in failed.stderr
    assert "| line 2\n" not in failed.stdout + failed.stderr
    # Both streams in the log.
    assert re.search(r"^hubpub: build app: #\d+ to-stderr$", failed.stderr, re.M)
    where = f"docker://{registry_plain.host}/{path}:main"
    assert skopeo.run("inspect", *skopeo.flags(registry_plain), where, check=False).returncode


def test_a_syntax_line_whose_frontend_cannot_be_pulled_says_so(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    # Port 1: nothing listens, as for an engine that cannot reach docker.io.
    dockerfile = "# syntax=127.0.0.1:1/dockerfile/frontend:1\nFROM {base} AS final\nRUN true\n"
    project, _path = project_with(
        tmp_path, docker_engine, registry_plain, busybox_image, dockerfile
    )
    failed = project.hubpub("apply", *MAIN)
    assert failed.code == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert (
        "build of image 'app' failed: the Dockerfile's '# syntax=127.0.0.1:1/dockerfile/"
        "frontend:1' line needs that frontend image from its registry: " in last
    )
    assert "connection refused" in last


def test_build_secrets_and_ssh_are_refused_by_validate(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    dockerfile = "FROM {base} AS final\nRUN --mount=type=secret,id=npm cat /run/secrets/npm\n"
    project, _path = project_with(
        tmp_path, docker_engine, registry_plain, busybox_image, dockerfile
    )
    for command in ("validate", "plan"):
        result = project.hubpub(command, *(() if command == "validate" else MAIN))
        assert result.code == 1
        assert result.stderr == (
            "hubpub: error: app/Dockerfile:2: image[app]: RUN --mount=type=secret needs a "
            "BuildKit session (build secrets), which hubpub's builds do not open (remove the "
            "mount, or build this image with 'docker buildx build')\n"
        )


def running(command: str) -> bool:
    """Whether a process of this machine runs ``command`` (a build step's, under the engine;
    busybox's sh may run it in-process, so its own command line counts too)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if command.encode() in cmdline.read_bytes().replace(b"\0", b" "):
                return True
        except OSError:
            continue
    return False


def within(seconds: float, check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def gone(command: str) -> bool:
    return within(10, lambda: not running(command))


def test_cancelling_stops_the_engines_build_and_its_reader_at_once(
    docker_engine: DockerEngine, busybox_image: str, tmp_path: Path
) -> None:
    seconds = 1000 + int(uid(), 16) % 8000  # a sleep no other test runs
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\nRUN echo started && sleep {seconds}\n"
    )
    request = BuildRequest(
        tmp_path, tmp_path / "Dockerfile", network="none", builder="buildkit", name="app"
    )
    engine = Engine.from_env(docker_engine.env)
    started = threading.Event()
    outcome: list[BaseException | str] = []

    def build() -> None:
        try:
            outcome.append(
                engine.build(request, lambda line: started.set() if "started" in line else None)
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=build, daemon=True)  # a failed test must not hang
    thread.start()
    assert started.wait(60)
    assert within(10, lambda: running(f"sleep {seconds}"))
    begin = time.monotonic()
    engine.cancel_builds()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - begin < 5
    assert len(outcome) == 1
    assert isinstance(outcome[0], EngineError)
    assert str(outcome[0]) == "build of image 'app' cancelled"
    assert gone(f"sleep {seconds}")  # the engine stopped the step, not only hubpub reading
    engine.close()


def test_ctrl_c_stops_a_running_build_at_once(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    seconds = 1000 + int(uid(), 16) % 8000
    dockerfile = f"FROM {{base}} AS final\nRUN echo started && sleep {seconds}\n"
    project, _path = project_with(
        tmp_path, docker_engine, registry_plain, busybox_image, dockerfile
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "hubpub", "apply", *MAIN],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # the build's own output: the RUN step is running
        seen.append(line)
        if line.rstrip().endswith(" started"):
            break
    else:
        raise AssertionError("".join(seen))
    assert within(10, lambda: running(f"sleep {seconds}"))
    start = time.monotonic()
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    took = time.monotonic() - start
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "hubpub: error: interrupted"
    assert took < 10, took  # not the many seconds the step would have taken
    assert gone(f"sleep {seconds}")


def test_a_fresh_engine_reuses_the_published_layers_through_cache_from(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    service_log_dir: Path,
    tmp_path: Path,
) -> None:
    """A cold CI runner: engine A published with the inline cache; engine B, started empty,
    builds the next commit with cache_from naming what A published, and its build log shows
    the unchanged RUN step as cached, not run again."""
    base = f"{registry_plain.host}/base{uid()}/busybox"
    docker_engine.client.images.get(busybox_image).tag(base, "1")
    for line in docker_engine.client.images.push(base, tag="1", stream=True, decode=True):
        assert "errorDetail" not in line, line
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    dockerfile = (
        "FROM {base} AS final\n"
        "RUN echo expensive step ran && echo once > /expensive\n"
        "COPY msg /app/msg\n"
    )
    project, path = project_with(
        tmp_path,
        docker_engine,
        registry_plain,
        f"{base}:1",
        dockerfile,
        more=f'inline_cache = true\ncache_from = ["{repo}:{{{{ git.branch }}}}"]',
        path=path,
    )
    first = project.ok("apply", *MAIN)
    assert re.search(r"^hubpub: build app: #\d+ expensive step ran$", first.stderr, re.M)

    fresh = start_engine(service_log_dir / f"dockerd-cold-{uid()}.log")
    try:
        project.env["DOCKER_HOST"] = fresh.host
        project.write("app/msg", "hello v2\n")
        project.commit("a new message")
        second = project.ok("apply", *MAIN)
        log = [
            line.split("build app: ", 1)[1]
            for line in second.stderr.splitlines()
            if line.startswith("hubpub: build app: #")
        ]
        run = next(line.split()[0] for line in log if "RUN echo expensive step ran" in line)
        assert f"{run} CACHED" in log, "\n".join(log)
        ran = [line for line in log if line.endswith(" expensive step ran")]
        assert ran == [], log  # its output would show had it run again
        out = fresh.client.containers.run(
            f"{repo}:main", ["cat", "/app/msg", "/expensive"], remove=True, network_mode="none"
        )
        assert out.decode() == "hello v2\nonce\n"
    finally:
        fresh.close()


def test_an_engine_api_without_buildkit_gets_the_classic_build_or_a_clear_refusal(
    docker_engine: DockerEngine, busybox_image: str, tmp_path: Path
) -> None:
    """The same engine, spoken to at API 1.38 (before BuildKit builds): "auto" falls back to
    the classic builder and its label step; "buildkit" is refused in one line."""
    import docker

    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN echo old > /api\n")
    request = BuildRequest(
        tmp_path,
        tmp_path / "Dockerfile",
        labels={"org.example.api": "1.38"},
        network="none",
        builder="auto",
        name="app",
    )
    old = Engine(docker.DockerClient(base_url=docker_engine.host, version="1.38"))
    try:
        assert not old.uses_buildkit("auto")
        lines: list[str] = []
        image_id = old.build(request, lines.append)
        assert any(line.startswith("Step 1/") for line in lines)  # the classic builder's log
        assert docker_engine.client.images.get(image_id).labels["org.example.api"] == "1.38"
        steps = [step["CreatedBy"] for step in docker_engine.client.api.history(image_id)]
        assert any("LABEL" in step for step in steps), steps
        with pytest.raises(EngineError) as caught:
            old.build(replace(request, builder="buildkit"))
        assert str(caught.value) == (
            'builder = "buildkit", but the engine\'s API 1.38 has no BuildKit (1.39 or later '
            'has) (set builder = "classic" or "auto", or upgrade the engine)'
        )
    finally:
        old.close()


STABLE = "FROM {base} AS final\nRUN echo stable > /stable\nCOPY msg /app/msg\n"


def test_apply_leaves_no_dangling_image_in_the_engine(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    project, path = project_with(tmp_path, docker_engine, registry_plain, busybox_image, STABLE)
    local = f"hubpub-local/{registry_plain.host.replace(':', '-')}/{path}:latest"

    def dangling() -> set[str]:
        return {i.id for i in docker_engine.client.images.list(filters={"dangling": True})}

    def build_id(result: dict[str, Any]) -> str:
        (build,) = [r for r in result["results"] if r["action"] == "build"]
        image_id: str = build["digest"]
        return image_id

    before = dangling()
    first = build_id(project.ok("apply", *MAIN, "--json").json())
    # The built image keeps a name (the engine's build cache goes with it), not <none>.
    assert docker_engine.client.images.get(local).id == first
    assert dangling() <= before

    project.write("app/msg", "a new message\n")
    project.commit("a change the last step sees")
    rebuilt = project.ok("apply", *MAIN, "--json")
    second = build_id(rebuilt.json())
    assert second != first
    # The name moved to the new build; the old image, now nameless, is gone.
    assert docker_engine.client.images.get(local).id == second
    with pytest.raises(docker.errors.ImageNotFound):
        docker_engine.client.images.get(first)
    assert dangling() <= before
    out = run_ref(docker_engine, f"{registry_plain.host}/{path}:main", "cat", "/app/msg")
    assert out == "a new message\n"
