"""What the benchmarks share: the services (an engine, a registry behind the delay proxy), a
git project with a hubpub.toml, and running hubpub and the docker CLI as a user would.

Every benchmark runs hubpub and its baseline in the same run, on the same engine, through the
same FaultProxy (tests/fixtures/proxy.py) with 10 ms of latency each way and 1 Gbit/s: the
setting of the targets (docs/benchmarks.md). ``HUBPUB_BENCH_LATENCY_MS`` and
``HUBPUB_BENCH_MBIT`` change it, to see how the comparison moves on a slower link (what a CI
runner far from its registry sees).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test services live in tests/fixtures

from tests.fixtures.engine import (  # noqa: E402
    DockerEngine,
    connect_engine,
    import_busybox,
    start_engine,
)
from tests.fixtures.proxy import FaultProxy  # noqa: E402
from tests.fixtures.registry import Registry, start_registry  # noqa: E402

LATENCY = float(os.environ.get("HUBPUB_BENCH_LATENCY_MS", "10")) / 1000  # seconds, each way
BANDWIDTH = int(float(os.environ.get("HUBPUB_BENCH_MBIT", "1000")) * 125_000)  # bytes/s each way


def network() -> str:
    """The proxy's setting, as the benchmarks print it: ``10 ms, 1 Gbit/s``."""
    mbit = BANDWIDTH / 125_000
    rate = f"{mbit / 1000:g} Gbit/s" if mbit >= 1000 else f"{mbit:g} Mbit/s"
    return f"{LATENCY * 1000:g} ms, {rate}"


@dataclass
class Services:
    engine: DockerEngine
    registry: Registry
    proxy: FaultProxy
    base: str  # a local base image
    workdir: Path


@contextlib.contextmanager
def services(mode: str = "plain") -> Iterator[Services]:
    workdir = Path(tempfile.mkdtemp(prefix="hp-bench-", dir="/tmp"))
    logs = workdir / "logs"
    logs.mkdir()
    engine = (
        connect_engine() if os.environ.get("DOCKER_HOST") else start_engine(logs / "dockerd.log")
    )
    registry = start_registry(mode, logs)  # type: ignore[arg-type]
    proxy = FaultProxy(registry.url, latency=LATENCY, bandwidth=BANDWIDTH).start()
    try:
        base = import_busybox(engine)
        yield Services(engine, registry, proxy, base, workdir)
    finally:
        proxy.stop()
        registry.stop()
        engine.close()
        shutil.rmtree(workdir, ignore_errors=True)


class Project:
    """A git repository holding a hubpub.toml, run with ``python -m hubpub``."""

    def __init__(self, root: Path, engine: DockerEngine, extra_env: dict[str, str] | None = None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DOCKER_HOST": engine.host,
            "XDG_CACHE_HOME": str(root / ".cache"),
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.com",
            **(extra_env or {}),
        }
        for name in ("GITHUB_ACTIONS", "GITHUB_REF", "GITHUB_SHA", "GITLAB_CI", "CI"):
            self.env.pop(name, None)
        self.git("init", "-q", "-b", "main")
        (root / ".gitignore").write_text(".cache/\n")

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.root, env=self.env, check=True, capture_output=True)

    def write(self, rel: str, data: str | bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)

    def commit(self) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", "bench")

    def hubpub(self, *args: str) -> float:
        """Run hubpub; return the wall time in seconds (a failure stops the benchmark)."""
        # HUBPUB_BENCH_TIMELINE=1: run through _timeline.py and print its timeline (the wall
        # time then includes the wrappers' small cost).
        timeline = os.environ.get("HUBPUB_BENCH_TIMELINE") == "1"
        runner = [str(Path(__file__).with_name("_timeline.py"))] if timeline else ["-m", "hubpub"]
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *runner, *args, "--ref", "refs/heads/main"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if done.returncode not in (0, 2):
            raise SystemExit(f"hubpub {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        self.last_stdout = done.stdout
        if timeline:
            print(f"hubpub {' '.join(args)}: {elapsed:.3f} s", file=sys.stderr)
            print(done.stderr, file=sys.stderr)
        return elapsed


def startup_seconds(command: str = "apply") -> float:
    """How long ``python -m hubpub COMMAND --help`` takes here (best of 3): the interpreter
    starting and importing everything that command loads, the floor under every run of it.
    (The CLI imports a command's module only when that command runs: ``--version`` alone
    would leave most imports out.)"""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hubpub", command, "--help"], capture_output=True, check=True
        )
        best = min(best, time.perf_counter() - start)
    return best


def docker(engine: DockerEngine, *args: str) -> None:
    """The docker CLI, as the baseline scripts a user writes would call it."""
    done = subprocess.run(
        ["docker", *args], env=engine.env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed: {done.stderr.strip()}")


def uploads(proxy: FaultProxy) -> int:
    """Blob upload sessions: POSTs that start an upload. A cross-repository mount is a POST
    with ``?mount=`` answered 201 and moves no data; answered 202 it became an upload."""
    return len(
        [
            r
            for r in proxy.requests_matching("POST", r"/blobs/uploads/")
            if "mount=" not in r.path or r.status == 202
        ]
    )


def row(name: str, seconds: float, note: str = "") -> str:
    return f"  {name:<34} {seconds:8.2f} s  {note}"
