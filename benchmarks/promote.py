"""Benchmark 1 (docs/benchmarks.md, "Promotion"): promote an already-pushed 100 MB image to 10
new tags in another repository of the same registry.

- hubpub: ``source = "<registry>/src/big:rc"``, 10 tags in ``<registry>/dst-N/big``:
  ``hubpub apply`` (one HEAD of the source, one HEAD per tag, one cross-repository copy (blobs
  mounted), nine manifest PUTs).
- baseline: what a release script does with the docker CLI, for each tag:
  ``docker pull src`` + ``docker tag src dst:tag`` + ``docker push dst:tag``, starting from an
  engine that does not have the image (a CI runner).

Both through the FaultProxy at 10 ms each way and 1 Gbit/s. Target: hubpub at least 10 times
faster, and no blob uploaded.

    .venv/bin/python benchmarks/promote.py
"""

from __future__ import annotations

import os
import time

from _common import Project, docker, network, row, services, startup_seconds, uploads

SIZE = 100 * 1000 * 1000
TAGS = [f"1.0.{n}" for n in range(10)]


def main() -> None:
    with services() as svc:
        proxy, engine = svc.proxy, svc.engine
        host = proxy.host
        source = f"{host}/src/big:rc"

        # Setup (not timed): a 100 MB image in src/big:rc.
        ctx = svc.workdir / "big"
        ctx.mkdir()
        (ctx / "blob").write_bytes(os.urandom(SIZE))
        (ctx / "Dockerfile").write_text(f"FROM {svc.base}\nCOPY blob /blob\n")
        docker(engine, "build", "-q", "-t", source, str(ctx))
        docker(engine, "push", "-q", source)

        # hubpub
        project = Project(svc.workdir / "release", engine)
        tags = ", ".join(f'"{t}"' for t in TAGS)
        project.write(
            "hubpub.toml",
            f'version = 1\n[registries."{host}"]\ninsecure = true\n\n'
            f'[[image]]\nname = "big"\nsource = "{source}"\n'
            f'repositories = ["{host}/dst-hubpub/big"]\ntags = [{tags}]\n',
        )
        project.commit()
        proxy.clear()
        hub = project.hubpub("apply")
        hub_uploads = uploads(proxy)
        hub_requests = len(proxy.requests)

        # baseline: a cold engine, then pull + tag + push per tag
        docker(engine, "rmi", "-f", source)
        proxy.clear()
        start = time.perf_counter()
        for tag in TAGS:
            target = f"{host}/dst-docker/big:{tag}"
            docker(engine, "pull", "-q", source)
            docker(engine, "tag", source, target)
            docker(engine, "push", "-q", target)
        base = time.perf_counter() - start
        base_uploads = uploads(proxy)
        base_requests = len(proxy.requests)

        print(f"promote a 100 MB image to 10 tags in another repository ({network()})")
        print(row("hubpub apply", hub, f"{hub_requests} requests, {hub_uploads} blob uploads"))
        print(
            row(
                "docker pull + tag + push (x10)",
                base,
                f"{base_requests} requests, {base_uploads} blob uploads",
            )
        )
        print(f"  speed-up: {base / hub:.1f}x (target: 10x, no blob uploaded)")
        print(f"  (hubpub's Python start-up here: {startup_seconds():.2f} s of its time)")


if __name__ == "__main__":
    main()
