"""Benchmark (docs/benchmarks.md, "Two platforms on two engines"): one context built for
linux/amd64 and linux/arm64 and published as an index, with ``[builders]`` sending arm64 to a
second engine (docs/config.md, "Builder engines").

Two private engines (A, the default engine, and B, as the suite's ``docker_engine_b``) and a
registry behind the FaultProxy (10 ms each way, 1 Gbit/s). The base is a busybox index in that
registry (amd64: this machine's busybox-static; arm64: Debian's, as the suite's
``busybox_arm64_image`` makes it), so each engine pulls the platform it builds, as a builder
node does; the context COPYs a stamp and RUNs on it (arm64 through QEMU's binfmt_misc entry:
there is no arm64 machine here, so engine B emulates as engine A would).

Measured, each on fresh content (a new stamp, so nothing is found in the registry or the build
cache but the base; each engine has pulled the base before, untimed):

- (a) ``hubpub apply``, linux/amd64 alone (on A);
- (b) ``hubpub apply``, linux/arm64 alone (on B, by ``[builders]``);
- (c) ``hubpub apply`` of both, arm64 on B: target at most 1.2x the slower of (a) and (b);
- (d) ``hubpub apply`` of both on engine A alone, for reference;
- (e) the baseline a user scripts today: on each engine at once, ``docker build`` then
  ``docker push`` by a temporary tag; then the index of the two: ``docker manifest create
  --insecure`` + ``push`` when it works, else ``buildah manifest create`` + ``add`` +
  ``push`` (the docker CLI here pings the registry over https even with ``--insecure`` and
  fails on a plain-http one, and the FaultProxy speaks plain http only; the script tries
  docker's first and prints why it used buildah).

Each of (a) to (d) runs once per round, the rounds alternating them so that all see the same
load, then (e)'s rounds; the figures are medians. Every result is checked with skopeo (a single
image of the right platform, or an index of both, each entry's config of its platform) before
a figure is printed.

    .venv/bin/python benchmarks/multiplatform.py [ROUNDS]     # 3 rounds by default
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _common import BANDWIDTH, LATENCY, Project, docker, network, row, uploads
from tests.fixtures import skopeo
from tests.fixtures.engine import (
    DockerEngine,
    build_busybox_for,
    busybox_arm64,
    import_busybox,
    require_qemu_aarch64,
    start_engine,
)
from tests.fixtures.proxy import FaultProxy
from tests.fixtures.registry import Registry, start_registry

AMD, ARM = "linux/amd64", "linux/arm64"
BASE = "bench/busybox:1"
DOCKERFILE = (
    "FROM {base}\n"
    "COPY stamp /stamp\n"
    "RUN uname -m > /arch && sha256sum /stamp > /stamp.sha256 && cat /arch\n"
)
TARGET = 1.2


@dataclass
class Setup:
    a: DockerEngine
    b: DockerEngine
    registry: Registry
    proxy: FaultProxy
    workdir: Path
    docker_config: Path  # the docker CLI's own folder, not the machine user's
    storage: Path  # buildah's own storage (its manifest lists live there)
    manifest_tool: str = "docker"  # or "buildah", when docker's cannot work (publish_base)
    why: str = ""


@contextlib.contextmanager
def services() -> Iterator[Setup]:
    require_qemu_aarch64()
    workdir = Path(tempfile.mkdtemp(prefix="hp-bench-", dir="/tmp"))
    logs = workdir / "logs"
    logs.mkdir()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        a = start_engine(logs / "dockerd-a.log")
        stack.callback(a.close)
        b = start_engine(logs / "dockerd-b.log")
        stack.callback(b.close)
        registry = start_registry("plain", logs)
        stack.callback(registry.stop)
        proxy = FaultProxy(registry.url, latency=LATENCY, bandwidth=BANDWIDTH).start()
        stack.callback(proxy.stop)
        docker_config = workdir / "docker-config"
        docker_config.mkdir()
        for engine in (a, b):
            engine.env["DOCKER_CONFIG"] = str(docker_config)
        storage = workdir / "buildah"
        yield Setup(a, b, registry, proxy, workdir, docker_config, storage)


def publish_base(setup: Setup) -> str:
    """The busybox index the context is built FROM, in the registry (untimed): each platform's
    image made on engine A, pushed by its own tag, then joined by ``docker manifest``."""
    host = setup.proxy.host
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hubpub-tests"
    cache.mkdir(parents=True, exist_ok=True)
    amd = import_busybox(setup.a, f"{host}/bench/busybox:amd64")
    arm = build_busybox_for(
        setup.a, f"{host}/bench/busybox:arm64", busybox_arm64(cache / "busybox-arm64"), ARM
    )
    for name in (amd, arm):
        docker(setup.a, "push", "-q", name)
    base = f"{host}/{BASE}"
    tried = subprocess.run(
        ["docker", "manifest", "create", "--insecure", base, amd, arm],
        env=setup.a.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if tried.returncode != 0:
        setup.manifest_tool = "buildah"
        setup.why = f"docker manifest create --insecure failed: {tried.stderr.strip()}"
    else:
        docker(setup.a, "manifest", "rm", base)
    index(setup, base, [amd, arm])
    # Neither engine keeps a local image of the base's name: each pulls its platform.
    for name in (amd, arm):
        docker(setup.a, "rmi", name)
    return base


def buildah(setup: Setup, *args: str) -> None:
    argv = [
        "buildah",
        f"--root={setup.storage / 'root'}",
        f"--runroot={setup.storage / 'run'}",
        "--storage-driver=vfs",
        *args,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def index(setup: Setup, target: str, images: list[str]) -> None:
    """An index of ``images`` (already in the registry) pushed as ``target``, as a user's
    script makes it: ``docker manifest create`` + ``push``, or buildah's manifest commands
    (each ``add`` reads the image's manifest and config from the registry; the push sends the
    index alone)."""
    if setup.manifest_tool == "docker":
        docker(setup.a, "manifest", "create", "--insecure", target, *images)
        docker(setup.a, "manifest", "push", "--insecure", "--purge", target)
        return
    name = f"list-{os.urandom(4).hex()}"
    buildah(setup, "manifest", "create", name)
    for image in images:
        buildah(setup, "manifest", "add", "--tls-verify=false", name, f"docker://{image}")
    buildah(setup, "manifest", "push", "--tls-verify=false", "-q", name, f"docker://{target}")
    buildah(setup, "manifest", "rm", name)


def context(folder: Path, base: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    fresh(folder)


def fresh(folder: Path) -> None:
    """New content: a stamp no earlier run had (the COPY and the RUN after it are not cached)."""
    (folder / "stamp").write_bytes(os.urandom(64 * 1024))


def config(host: str, name: str, platforms: list[str], builder_b: str | None, tag: str) -> str:
    listed = ", ".join(f'"{p}"' for p in platforms)
    text = f'version = 1\n[registries."{host}"]\ninsecure = true\n\n'
    if builder_b is not None:
        text += f'[builders.b]\ndocker_host = "{builder_b}"\nplatforms = ["{ARM}"]\n\n'
    return text + (
        f'[[image]]\nname = "app"\ncontext = "app"\nnetwork = "none"\n'
        f'platforms = [{listed}]\nrepositories = ["{host}/bench/{name}"]\ntags = ["{tag}"]\n'
    )


def check(registry: Registry, ref: str, platforms: list[str]) -> None:
    """What the registry serves for ``ref``, read by skopeo: one image of that platform, or an
    index of exactly those platforms. A broken run stops here, before any figure."""
    manifest = skopeo.raw(registry, ref)
    if len(platforms) == 1:
        found = skopeo.config(registry, ref)
        got = [f"{found['os']}/{found['architecture']}"]
        if "manifests" in manifest:
            raise SystemExit(f"{ref}: an index, not a single image: {manifest}")
    else:
        got = [
            f"{m['platform']['os']}/{m['platform']['architecture']}"
            for m in manifest.get("manifests", [])
        ]
        for entry in manifest["manifests"]:
            arch = skopeo.config(registry, f"{ref.split(':')[0]}@{entry['digest']}")
            if arch["architecture"] != entry["platform"]["architecture"]:
                raise SystemExit(f"{ref}: {entry['digest']} is {arch['architecture']}")
    if sorted(got) != sorted(platforms):
        raise SystemExit(f"{ref}: platforms {got}, expected {platforms}")


@dataclass
class Result:
    seconds: float
    requests: int
    uploads: int


class HubpubCase:
    """One project, one image: warmed once (``hubpub build`` of a first stamp: each engine
    pulls its base platform, untimed), then each round a fresh stamp, a new tag, a commit and
    the timed ``hubpub apply``."""

    def __init__(self, setup: Setup, name: str, platforms: list[str], *, on_b: bool) -> None:
        self.setup, self.name, self.platforms, self.on_b = setup, name, platforms, on_b
        self.project = Project(setup.workdir / name, setup.a)  # A is DOCKER_HOST
        context(self.project.root / "app", f"{setup.proxy.host}/{BASE}")
        self._configure("warm")
        self.project.hubpub("build")

    def _configure(self, tag: str) -> None:
        builder_b = self.setup.b.host if self.on_b else None
        host = self.setup.proxy.host
        self.project.write("hubpub.toml", config(host, self.name, self.platforms, builder_b, tag))
        self.project.commit()

    def run(self, tag: str) -> Result:
        fresh(self.project.root / "app")
        self._configure(tag)
        self.setup.proxy.clear()
        seconds = self.project.hubpub("apply")
        proxy = self.setup.proxy
        result = Result(seconds, len(proxy.requests), uploads(proxy))
        check(self.setup.registry, f"bench/{self.name}:{tag}", self.platforms)
        return result


class Baseline:
    """docker build + push by a temporary tag on each engine at once (as two CI jobs would),
    then the index of the two (``index``). The classic builder: this docker CLI has no buildx,
    and ``docker build`` without it is the engine's classic builder."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        host = setup.proxy.host
        self.folders = {AMD: setup.workdir / "docker-amd64", ARM: setup.workdir / "docker-arm64"}
        self.engines = {AMD: setup.a, ARM: setup.b}
        self.repo = f"{host}/bench/docker"
        for engine in self.engines.values():
            # hubpub's apply pulled the base by name on each engine for the engine's own
            # platform (amd64, this machine's), and the classic builder builds FROM a local
            # image whatever platform is asked: B would build amd64. A user's engine B (an
            # arm64 machine) holds the arm64 base; dropping the name lets the warm-up below
            # pull that, untimed.
            subprocess.run(
                ["docker", "rmi", f"{host}/{BASE}"],
                env=engine.env,
                capture_output=True,
                check=False,
            )
        for platform, folder in self.folders.items():
            context(folder, f"{host}/{BASE}")
            # Warm as hubpub's side is: the base pulled, the classic builder's cache of it.
            self._build(platform, None)
        self.steps: dict[str, list[float]] = {}

    def _build(self, platform: str, ref: str | None) -> None:
        tag = ["-t", ref] if ref is not None else []
        docker(
            self.engines[platform],
            "build",
            "-q",
            "--network=none",
            f"--platform={platform}",
            *tag,
            str(self.folders[platform]),
        )

    def _step(self, name: str, since: float) -> None:
        self.steps.setdefault(name, []).append(time.perf_counter() - since)

    def run(self, tag: str) -> Result:
        for folder in self.folders.values():
            fresh(folder)
        self.setup.proxy.clear()
        errors: list[BaseException] = []

        def one(platform: str) -> None:
            try:
                arch = platform.split("/")[1]
                began = time.perf_counter()
                ref = f"{self.repo}:tmp-{arch}"
                self._build(platform, ref)
                self._step(f"build {arch}", began)
                pushed = time.perf_counter()
                docker(self.engines[platform], "push", "-q", ref)
                self._step(f"push {arch}", pushed)
            except BaseException as exc:
                errors.append(exc)

        start = time.perf_counter()
        threads = [threading.Thread(target=one, args=(p,)) for p in (AMD, ARM)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        joined = time.perf_counter()
        index(
            self.setup, f"{self.repo}:{tag}", [f"{self.repo}:tmp-amd64", f"{self.repo}:tmp-arm64"]
        )
        seconds = time.perf_counter() - start
        self._step(f"index ({self.setup.manifest_tool} manifest)", joined)
        proxy = self.setup.proxy
        result = Result(seconds, len(proxy.requests), uploads(proxy))
        check(self.setup.registry, f"bench/docker:{tag}", [AMD, ARM])
        return result


def spread(results: list[Result]) -> str:
    times = sorted(r.seconds for r in results)
    if len(times) == 1:
        return ""
    return f"{times[0]:.2f} to {times[-1]:.2f} s; "


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with services() as setup:
        publish_base(setup)
        cases = {
            "a": HubpubCase(setup, "amd64", [AMD], on_b=True),
            "b": HubpubCase(setup, "arm64", [ARM], on_b=True),
            "c": HubpubCase(setup, "both", [AMD, ARM], on_b=True),
            "d": HubpubCase(setup, "one-engine", [AMD, ARM], on_b=False),
        }
        results: dict[str, list[Result]] = {key: [] for key in "abcde"}
        # Rounds alternate the cases, so that each sees the same load; the baseline's rounds
        # come last (its warm-up takes the base's name from hubpub's pulls: see Baseline).
        for number in range(rounds):
            for key, case in cases.items():
                results[key].append(case.run(f"r{number}"))
        base = Baseline(setup)
        for number in range(rounds):
            results["e"].append(base.run(f"r{number}"))
        load = os.getloadavg()[0]

        med = {key: statistics.median(r.seconds for r in rs) for key, rs in results.items()}

        def note(key: str) -> str:
            rs = results[key]
            return f"{spread(rs)}{rs[-1].requests} requests, {rs[-1].uploads} blob uploads"

        print(
            f"two platforms of one context, arm64 on a second engine ({network()}; "
            f"median of {rounds} rounds)"
        )
        print(row("(a) hubpub apply, amd64 alone (A)", med["a"], note("a")))
        print(row("(b) hubpub apply, arm64 alone (B)", med["b"], note("b")))
        print(row("(c) hubpub apply, both (arm64 on B)", med["c"], note("c")))
        print(row("(d) hubpub apply, both on A alone", med["d"], note("d")))
        print(row("(e) docker build+push x2, index", med["e"], note("e")))
        print(f"  (the baseline's index: {setup.manifest_tool} manifest)")
        if setup.why:
            print(f"  (why not docker's: {setup.why})")
        steps = ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in base.steps.items())
        print(f"  (baseline, medians: {steps})")
        per_round = [
            c.seconds / max(a.seconds, b.seconds)
            for a, b, c in zip(results["a"], results["b"], results["c"], strict=True)
        ]
        slower = max(med["a"], med["b"])
        verdict = "ok" if med["c"] <= TARGET * slower else "missed"
        print(
            f"  (c) / slower of (a), (b): {med['c'] / slower:.2f}x (target: <= {TARGET}x): "
            f"{verdict}; per round: {', '.join(f'{x:.2f}x' for x in per_round)}"
        )
        print(f"  (c) / (d): {med['c'] / med['d']:.2f}x")
        print(f"  speed-up over the baseline: {med['e'] / med['c']:.1f}x")
        print(f"  (load average at the end: {load:.2f})")


if __name__ == "__main__":
    main()
