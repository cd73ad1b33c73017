"""Builder engines (``[builders]``, docs/config.md#builder-engines) with two real engines: the
suite's dockerd (the default engine, ``DOCKER_HOST``) and a second one (``docker_engine_b``, its
own roots and socket, plus a TLS port) as a builder node. What was built where is read from
each engine's own image list, and concurrency from the times each build ran.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from types import ModuleType

import docker.errors
import pytest

from hubpub.config.builders import Builder
from hubpub.engine import BuildRequest, Engine
from hubpub.engine.pool import Builders
from hubpub.errors import EngineError
from hubpub.registry.models import OCI_INDEX
from tests.fixtures.engine import BUSYBOX_IMAGE, DockerEngine
from tests.fixtures.registry import Registry
from tests.fixtures.skopeo import SkopeoError
from tests.helpers.project import Project, build_project, uid

MAIN = ("--ref", "refs/heads/main")

# Long enough that two builds started together are both running at once, whatever the load;
# unique per build (the marker), so that no build is a cache hit of another.
SLOW = "FROM {base}\nRUN sleep 2 && echo {marker} > /marker\n"


def _request(tmp_path: Path, marker: str) -> BuildRequest:
    context = tmp_path / marker
    context.mkdir()
    (context / "Dockerfile").write_text(SLOW.format(base=BUSYBOX_IMAGE, marker=marker))
    return BuildRequest(
        context=context,
        dockerfile=context / "Dockerfile",
        name=marker,
        network="none",  # the suite's engines have no bridge network
        builder="buildkit",
    )


class Timed:
    """Builds run in threads, all started at once; when each ran on its engine: from its
    first line of output (the engine working on it, past any wait for a build slot) to its
    end."""

    def __init__(self) -> None:
        self.spans: dict[str, tuple[float, float]] = {}
        self.ids: dict[str, str] = {}
        self.errors: list[BaseException] = []

    def run(self, jobs: list[tuple[Engine, BuildRequest]]) -> None:
        threads = [threading.Thread(target=self._one, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not self.errors, self.errors

    def _one(self, engine: Engine, request: BuildRequest) -> None:
        started: list[float] = []

        def line(text: str) -> None:
            if not started:
                started.append(time.monotonic())

        try:
            self.ids[request.name] = engine.build(request, on_line=line)
            self.spans[request.name] = (started[0], time.monotonic())
        except BaseException as exc:  # reported by run()
            self.errors.append(exc)

    def overlap(self, first: str, second: str) -> bool:
        (a_start, a_end), (b_start, b_end) = self.spans[first], self.spans[second]
        return a_start < b_end and b_start < a_end


def _arch(engine: DockerEngine, name: str) -> str | None:
    """The architecture of the engine's image ``name``; None when it has no such image."""
    try:
        return str(engine.client.api.inspect_image(name)["Architecture"])
    except docker.errors.ImageNotFound:
        return None


def _has(engine: DockerEngine, image_id: str) -> bool:
    try:
        engine.client.images.get(image_id)
    except docker.errors.ImageNotFound:
        return False
    return True


def test_a_pool_routes_each_platform_to_its_engine_and_both_build_at_once(
    tmp_path: Path, docker_engine: DockerEngine, docker_engine_b: DockerEngine, busybox_image: str
) -> None:
    builders = {"b": Builder(docker_host=docker_engine_b.host, platforms=("linux/arm64",))}
    with Builders(builders, {"DOCKER_HOST": docker_engine.host}) as pool:
        on_b = pool.engine_for("linux/aarch64")  # as a user may write it
        on_a = pool.engine_for("linux/amd64")  # no builder lists it: the default engine
        assert on_a is pool.default() is pool.engine_for(None)
        assert on_b is not on_a
        assert pool.engine_for("linux/arm64") is on_b  # opened once
        timed = Timed()
        arm, amd = f"arm-{uid()}", f"amd-{uid()}"
        timed.run([(on_b, _request(tmp_path, arm)), (on_a, _request(tmp_path, amd))])
    # Each build is in its own engine's image list, and only there.
    assert _has(docker_engine_b, timed.ids[arm])
    assert not _has(docker_engine, timed.ids[arm])
    assert _has(docker_engine, timed.ids[amd])
    assert not _has(docker_engine_b, timed.ids[amd])
    # Both ran at once: each started before the other ended.
    assert timed.overlap(arm, amd), timed.spans


def test_max_builds_bounds_the_builds_one_engine_runs_at_once(
    tmp_path: Path, docker_engine: DockerEngine, docker_engine_b: DockerEngine
) -> None:
    # Two builders on the same dockerd: each is its own engine with its own bound.
    host = docker_engine_b.host
    builders = {
        "one": Builder(docker_host=host, platforms=("linux/arm64",), max_builds=1),
        "two": Builder(docker_host=host, platforms=("linux/amd64",), max_builds=2),
    }
    with Builders(builders, {"DOCKER_HOST": docker_engine.host}) as pool:
        one, two = pool.engine_for("linux/arm64"), pool.engine_for("linux/amd64")
        names = [f"{kind}-{uid()}" for kind in ("one", "one", "two", "two")]
        timed = Timed()
        timed.run(
            [(one if name.startswith("one") else two, _request(tmp_path, name)) for name in names]
        )
    assert not timed.overlap(names[0], names[1]), timed.spans  # max_builds = 1: one at a time
    assert timed.overlap(names[2], names[3]), timed.spans  # max_builds = 2: both at once
    assert all(_has(docker_engine_b, timed.ids[name]) for name in names)


def test_a_tcp_builder_with_tls_builds_there(
    tmp_path: Path, docker_engine: DockerEngine, docker_engine_b: DockerEngine
) -> None:
    tls = docker_engine_b.tls
    assert tls is not None
    builder = Builder(
        docker_host=tls.host,
        tls={"ca": tls.ca, "cert": tls.cert, "key": tls.key},
        platforms=("linux/arm64",),
    )
    context = tmp_path / "ctx"
    context.mkdir()
    marker = uid()
    (context / "Dockerfile").write_text(f"FROM scratch\nLABEL marker={marker}\n")
    with Builders({"tls": builder}, {"DOCKER_HOST": docker_engine.host}) as pool:
        engine = pool.engine_for("linux/arm64")
        image_id = engine.build(
            BuildRequest(context=context, dockerfile=context / "Dockerfile", builder="buildkit")
        )
    assert _has(docker_engine_b, image_id)
    assert docker_engine_b.client.images.get(image_id).labels["marker"] == marker


@pytest.mark.parametrize(
    ("how", "expected", "check"),
    [
        ("socket", "No such file or directory", "check that dockerd runs there"),
        ("refused", "Connection refused", "check that dockerd listens there"),
        # the TLS port refuses a client without a certificate of its CA
        ("no client cert", "[SSL", "check that dockerd listens there with TLS"),
    ],
)
def test_an_unreachable_builder_is_one_line_naming_it_and_what_to_check(
    tmp_path: Path,
    docker_engine: DockerEngine,
    docker_engine_b: DockerEngine,
    how: str,
    expected: str,
    check: str,
) -> None:
    tls = docker_engine_b.tls
    assert tls is not None
    builder = {
        "socket": Builder(docker_host=f"unix://{tmp_path}/none.sock", platforms=("linux/arm64",)),
        "refused": Builder(docker_host="tcp://127.0.0.1:9", platforms=("linux/arm64",)),
        "no client cert": Builder(
            docker_host=tls.host, tls={"ca": tls.ca}, platforms=("linux/arm64",)
        ),
    }[how]
    pool = Builders(
        {"arm": builder},
        {"DOCKER_HOST": docker_engine.host},
        where=lambda name: f"hubpub.toml:7: builders[{name}].docker_host: ",
    )
    with pool:
        started = time.monotonic()
        with pytest.raises(EngineError) as caught:
            pool.engine_for("linux/arm64")
        first = time.monotonic() - started
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(
            "hubpub.toml:7: builders[arm].docker_host: cannot reach builder 'arm' at "
            f"{builder.docker_host}: {expected}"
        ), message
        assert check in (caught.value.hint or "")
        assert "[builders.arm]" in (caught.value.hint or "")
        # Remembered: the next build routed there fails with it, without trying again.
        started = time.monotonic()
        with pytest.raises(EngineError) as again:
            pool.engine_for("linux/arm64")
        assert again.value is caught.value
        assert time.monotonic() - started <= first + 0.5
        # The default engine is not held back by a broken builder.
        pool.engine_for("linux/amd64").ping()


def test_plan_says_which_engine_builds_each_build(
    tmp_path: Path,
    docker_engine: DockerEngine,
    docker_engine_b: DockerEngine,
    registry_plain: Registry,
    busybox_image: str,
) -> None:
    repository = f"{registry_plain.host}/builders/{uid()}"
    project = build_project(
        tmp_path,
        docker_engine,
        [repository],
        [registry_plain],
        base=busybox_image,
    )
    config = project.root / "hubpub.toml"
    original = config.read_text()
    # Without [builders], no such note: the plan as it always was.
    assert "* engine:" not in project.ok("plan", *MAIN).stdout
    builders = (
        f'[builders.b]\ndocker_host = "{docker_engine_b.host}"\nplatforms = ["linux/arm64"]\n'
    )
    config.write_text(original.replace("[[image]]", builders + "\n[[image]]"))
    project.commit("builders")
    plan = project.ok("plan", *MAIN).stdout
    # The build names no platform: the default engine's own, built there.
    assert "  * engine: the default engine (DOCKER_HOST)\n" in plan, plan


def _two_platform_project(
    tmp_path: Path, engine: DockerEngine, registry: Registry, docker_host: str
) -> tuple[Project, str]:
    path = f"builders/{uid()}"
    project = build_project(
        tmp_path,
        engine,
        [f"{registry.host}/{path}"],
        [registry],
        base="scratch",
        tags='tags = [{ preset = "ref", on = "branch" }]',
        extra='platforms = ["linux/amd64", "linux/arm64"]\n',
    )
    config = project.root / "hubpub.toml"
    builder = f'[builders.b]\ndocker_host = "{docker_host}"\nplatforms = ["linux/arm64"]\n\n'
    config.write_text(config.read_text().replace("[[image]]", builder + "[[image]]", 1))
    project.write("app/Dockerfile", "FROM scratch\nCOPY msg /app/msg\n")
    project.commit("two platforms, arm64 on builder b")
    return project, path


def test_apply_builds_each_platform_on_its_engine_and_publishes_one_index(
    tmp_path: Path,
    docker_engine: DockerEngine,
    docker_engine_b: DockerEngine,
    registry_plain: Registry,
    skopeo: ModuleType,
) -> None:
    project, path = _two_platform_project(
        tmp_path, docker_engine, registry_plain, docker_engine_b.host
    )
    plan = project.ok("plan", *MAIN).stdout
    assert (
        "  * engine: linux/amd64 on the default engine (DOCKER_HOST), linux/arm64 on builder "
        f"'b' ({docker_engine_b.host})\n"
    ) in plan, plan
    project.ok("apply", *MAIN)

    index = skopeo.raw(registry_plain, f"{path}:main")
    assert index["mediaType"] == OCI_INDEX
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux"},
    ]
    # Each platform was built on its own engine, and only there (executor.py names each
    # platform's image hubpub-local/<repository>:latest-<platform> in the engine that built it).
    local = f"hubpub-local/{registry_plain.host.replace(':', '-')}/{path}:latest"
    amd, arm = f"{local}-linux-amd64", f"{local}-linux-arm64"
    assert _arch(docker_engine_b, arm) == "arm64"
    assert _arch(docker_engine, arm) is None
    assert _arch(docker_engine, amd) == "amd64"
    assert _arch(docker_engine_b, amd) is None
    # What the registry serves for arm64 is the image engine B built.
    arm_config = skopeo.run(
        "inspect",
        "--override-arch",
        "arm64",
        "--config",
        "--raw",  # the blob's bytes, whose digest is the image ID
        *skopeo.flags(registry_plain),
        f"docker://{registry_plain.host}/{path}:main",
    ).stdout
    built_on_b = docker_engine_b.client.api.inspect_image(arm)["Id"]
    assert hashlib.sha256(arm_config.encode()).hexdigest() == built_on_b.removeprefix("sha256:")


def test_apply_with_an_unreachable_builder_fails_in_one_line_and_publishes_nothing(
    tmp_path: Path,
    docker_engine: DockerEngine,
    registry_plain: Registry,
    skopeo: ModuleType,
) -> None:
    host = f"unix://{tmp_path}/nothing.sock"
    project, path = _two_platform_project(tmp_path, docker_engine, registry_plain, host)
    result = project.hubpub("apply", *MAIN)
    assert result.code == 1, result
    config = (project.root / "hubpub.toml").read_text().splitlines()
    line = next(n for n, text in enumerate(config, 1) if text.startswith("docker_host"))
    said = (
        f"hubpub.toml:{line}: builders[b].docker_host: cannot reach builder 'b' at {host}: "
        "No such file or directory (check that dockerd runs there"
    )
    # The build's line in the progress, and the one error line at the end, which says it too.
    (error,) = [text for text in result.stderr.splitlines() if text.startswith("hubpub: error:")]
    assert said in error, result.stderr
    assert f"hubpub: build app: FAILED: {said}" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(SkopeoError):
        skopeo.raw(registry_plain, f"{path}:main")
