"""Benchmark 2 (docs/benchmarks.md, "Publishing"): a fresh build to 6 tags in 2 repositories
of one registry.

- hubpub: ``hubpub apply`` on a config with 2 repositories × 3 tags: the build is exported and
  its layers compressed once, its blobs uploaded to the first repository and mounted into the
  second, the manifest PUT by digest in each, then the 6 tags.
- baseline: on the same engine, ``docker build`` then ``docker tag`` + ``docker push`` of each
  of the 6 references.

Each side builds its own image (a fresh 20 MB layer of random bytes, so neither finds the
other's blobs in the registry); the engine's build cache is warmed for both first, so what is
compared is the publishing. Through the FaultProxy at 10 ms each way and 1 Gbit/s.
Target: hubpub at least 1.5 times faster.

    .venv/bin/python benchmarks/publish.py
"""

from __future__ import annotations

import os
import time

from _common import Project, docker, network, row, services, startup_seconds, uploads

SIZE = 20 * 1000 * 1000
TAGS = ["1.4.2", "1.4", "latest"]


def context(root: os.PathLike[str] | str, base: str) -> None:
    from pathlib import Path

    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "layer").write_bytes(os.urandom(SIZE))
    (folder / "Dockerfile").write_text(f"FROM {base}\nCOPY layer /layer\n")


def main() -> None:
    with services() as svc:
        proxy, engine, host = svc.proxy, svc.engine, svc.proxy.host

        # hubpub: a project whose image is built by apply (build cache warmed first, untimed).
        project = Project(svc.workdir / "hub", engine)
        context(project.root / "app", svc.base)
        tags = ", ".join(f'"{t}"' for t in TAGS)
        project.write(
            "hubpub.toml",
            f'version = 1\n[registries."{host}"]\ninsecure = true\n\n'
            f'[[image]]\nname = "app"\ncontext = "app"\n'
            f'repositories = ["{host}/team/app-hub", "{host}/mirror/app-hub"]\n'
            f"tags = [{tags}]\n",
        )
        project.commit()
        # Warm the cache of the builder apply uses (BuildKit), with the labels apply sets:
        # ``hubpub build`` of the same commit, untimed (the baseline's ``docker build`` warms
        # the classic builder's cache, which is the one its timed build uses).
        project.hubpub("build", f"--redirect=docker.io={host}")
        proxy.clear()
        # The base image is only in the engine (no Docker Hub here): point base lookups at the
        # local registry, where they miss at once, instead of an unreachable docker.io.
        hub = project.hubpub("apply", f"--redirect=docker.io={host}")
        hub_uploads, hub_requests = uploads(proxy), len(proxy.requests)
        built = "1 build" in project.last_stdout

        # baseline: docker build, then tag + push each reference.
        folder = svc.workdir / "docker"
        context(folder, svc.base)
        docker(engine, "build", "-q", str(folder))  # warm the cache the same way
        proxy.clear()
        start = time.perf_counter()
        local = "bench/app-docker:local"
        docker(engine, "build", "-q", "-t", local, str(folder))
        steps = [time.perf_counter()]  # after the build, then after each tag + push
        for repo in (f"{host}/team/app-docker", f"{host}/mirror/app-docker"):
            for tag in TAGS:
                docker(engine, "tag", local, f"{repo}:{tag}")
                docker(engine, "push", "-q", f"{repo}:{tag}")
                steps.append(time.perf_counter())
        base = time.perf_counter() - start
        base_uploads, base_requests = uploads(proxy), len(proxy.requests)

        print(f"publish a fresh build to 6 tags in 2 repositories ({network()})")
        print(
            row(
                "hubpub apply (build + publish)",
                hub,
                f"{hub_requests} requests, {hub_uploads} blob uploads, built: {built}",
            )
        )
        print(
            row(
                "docker build + (tag + push) x6",
                base,
                f"{base_requests} requests, {base_uploads} blob uploads",
            )
        )
        print(
            f"  (baseline: build {steps[0] - start:.2f} s, first tag + push "
            f"{steps[1] - steps[0]:.2f} s, the 5 others {steps[-1] - steps[1]:.2f} s)"
        )
        print(f"  speed-up: {base / hub:.1f}x (target: 1.5x)")
        print(f"  (hubpub's Python start-up here: {startup_seconds():.2f} s of its time)")


if __name__ == "__main__":
    main()
