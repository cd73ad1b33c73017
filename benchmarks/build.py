"""Build time alone: the classic builder against the engine's BuildKit, same context, same run.

Each build goes through hubpub's own engine layer (``Engine.build``), as ``apply`` runs it:
the classic builder then adds its one ``LABEL`` step, BuildKit applies the labels in the
build. Three contexts:

- ``scratch + COPY``: ``FROM scratch`` and one small file;
- ``busybox + COPY + RUN``: the suite's busybox, a file, one ``RUN`` (network none);
- ``busybox + 20 MB COPY + RUN``: the same with a 20 MB file of random bytes.

Every round changes a file of the context (a fresh random stamp), so no build is a cache hit
of an earlier one; the two builders alternate, and the median of the rounds is printed. No
registry is involved.

    .venv/bin/python benchmarks/build.py [ROUNDS]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import row
from tests.fixtures.engine import connect_engine, import_busybox, start_engine

from hubpub.engine import BuildRequest, Engine

LABELS = {
    "org.opencontainers.image.revision": "0" * 40,
    "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
    "io.hubpub.content-key": "sha256:" + "1" * 64,
}


def contexts(root: Path, base: str) -> dict[str, Path]:
    out = {}
    for name, dockerfile, size in (
        ("scratch + COPY", "FROM scratch\nCOPY stamp /stamp\n", 0),
        (
            "busybox + COPY + RUN",
            f"FROM {base}\nCOPY stamp /stamp\nRUN cat /stamp > /copy\n",
            0,
        ),
        (
            "busybox + 20 MB COPY + RUN",
            f"FROM {base}\nCOPY big stamp /data/\nRUN cat /data/stamp > /copy\n",
            20 * 1000 * 1000,
        ),
    ):
        folder = root / name.replace(" ", "").replace("+", "-")
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(dockerfile)
        if size:
            (folder / "big").write_bytes(os.urandom(size))
        out[name] = folder
    return out


def timed(engine: Engine, folder: Path, builder: str) -> float:
    # A new stamp: the COPY and everything after it is built again, by either builder.
    (folder / "stamp").write_bytes(os.urandom(16).hex().encode())
    request = BuildRequest(
        folder,
        folder / "Dockerfile",
        labels=LABELS,
        network="none",
        builder=builder,  # type: ignore[arg-type]
    )
    start = time.perf_counter()
    engine.build(request)
    return time.perf_counter() - start


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    workdir = Path(tempfile.mkdtemp(prefix="hp-bench-", dir="/tmp"))
    docker = (
        connect_engine() if os.environ.get("DOCKER_HOST") else start_engine(workdir / "dockerd.log")
    )
    try:
        base = import_busybox(docker)
        engine = Engine.from_env(docker.env)
        print(f"build time alone, median of {rounds} rounds (the same engine, vfs storage)")
        for name, folder in contexts(workdir, base).items():
            for builder in ("classic", "buildkit"):  # untimed: the first build of each warms up
                timed(engine, folder, builder)
            times: dict[str, list[float]] = {"classic": [], "buildkit": []}
            for _ in range(rounds):
                for builder in times:
                    times[builder].append(timed(engine, folder, builder))
            classic = statistics.median(times["classic"])
            buildkit = statistics.median(times["buildkit"])
            print(row(f"{name}: classic (+ label step)", classic))
            print(row(f"{name}: BuildKit", buildkit, f"{classic / buildkit:.1f}x faster"))
        engine.close()
    finally:
        docker.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
