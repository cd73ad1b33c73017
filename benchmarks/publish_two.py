"""Benchmark (docs/benchmarks.md, "Publishing to two registries"): a fresh build to 3 tags in
each of two registries, each behind its own FaultProxy (10 ms each way, 1 Gbit/s).

- hubpub: ``hubpub apply``: the build is exported once and its blobs go straight to each
  registry; counted at each proxy: blob uploads (once per blob per registry) and blob GETs
  (never: no registry-to-registry copy).
- baseline: ``docker build``, then ``docker tag`` + ``docker push`` of each of the 6 references.

    .venv/bin/python benchmarks/publish_two.py
"""

from __future__ import annotations

import time

from _common import BANDWIDTH, LATENCY, Project, docker, network, row, services
from publish import context
from tests.fixtures.proxy import FaultProxy
from tests.fixtures.registry import start_registry

TAGS = ["1.4.2", "1.4", "latest"]


def blob_puts(proxy: FaultProxy) -> int:
    return sum(1 for r in proxy.requests_matching("PUT", "digest=") if r.status == 201)


def blob_gets(proxy: FaultProxy) -> int:
    return len(proxy.requests_matching("GET", "/blobs/"))


def main() -> None:
    with services() as svc:
        engine, first = svc.engine, svc.proxy
        other = start_registry("plain", svc.workdir / "logs")
        second = FaultProxy(other.url, latency=LATENCY, bandwidth=BANDWIDTH).start()
        try:
            proxies = (first, second)
            project = Project(svc.workdir / "hub", engine)
            context(project.root / "app", svc.base)
            tags = ", ".join(f'"{t}"' for t in TAGS)
            project.write(
                "hubpub.toml",
                "version = 1\n"
                + "".join(f'[registries."{p.host}"]\ninsecure = true\n' for p in proxies)
                + '\n[[image]]\nname = "app"\ncontext = "app"\n'
                f'repositories = ["{first.host}/team/app-hub", "{second.host}/team/app-hub"]\n'
                f"tags = [{tags}]\n",
            )
            project.commit()
            # Warm the cache of the builder apply uses (BuildKit), as publish.py does.
            project.hubpub("build", f"--redirect=docker.io={first.host}")
            for proxy in proxies:
                proxy.clear()
            hub = project.hubpub("apply", f"--redirect=docker.io={first.host}")
            hub_counts = [(blob_puts(p), blob_gets(p)) for p in proxies]

            folder = svc.workdir / "docker"
            context(folder, svc.base)
            docker(engine, "build", "-q", str(folder))
            for proxy in proxies:
                proxy.clear()
            start = time.perf_counter()
            local = "bench/app-docker:local"
            docker(engine, "build", "-q", "-t", local, str(folder))
            for proxy in proxies:
                for tag in TAGS:
                    ref = f"{proxy.host}/team/app-docker:{tag}"
                    docker(engine, "tag", local, ref)
                    docker(engine, "push", "-q", ref)
            base = time.perf_counter() - start
            base_counts = [(blob_puts(p), blob_gets(p)) for p in proxies]

            def note(counts: list[tuple[int, int]]) -> str:
                return "; ".join(
                    f"registry {i + 1}: {puts} blob uploads, {gets} blob GETs"
                    for i, (puts, gets) in enumerate(counts)
                )

            print(f"publish a fresh build to 3 tags in each of 2 registries ({network()})")
            print(row("hubpub apply (build + publish)", hub, note(hub_counts)))
            print(row("docker build + (tag + push) x6", base, note(base_counts)))
            print(f"  speed-up: {base / hub:.1f}x")
        finally:
            second.stop()
            other.stop()


if __name__ == "__main__":
    main()
