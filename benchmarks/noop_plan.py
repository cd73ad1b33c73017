"""Benchmark 3 (docs/benchmarks.md): a plan with no changes over 50 images × 4 tags.

The 50 images are published once (``hubpub apply``, untimed), then ``hubpub plan`` runs twice
with a cold label cache: the first run reads each image's content key from its config blob
(one manifest GET and one blob GET per digest), the second finds them all in the cache and
only HEADs. Registry: bearer tokens (Docker Hub's scheme), through the FaultProxy at 10 ms
each way and 1 Gbit/s; token requests are counted at the issuer.

Targets: requests (registry + token) no more than tags + repositories + 2, and no manifest or
blob GET on the second run. The baseline is what a script without hubpub would do to learn the
same thing: ``docker manifest inspect``-style GETs, here ``skopeo inspect`` of each tag.

    .venv/bin/python benchmarks/noop_plan.py
"""

from __future__ import annotations

import shutil
import subprocess
import time

from _common import Project, docker, network, row, services, startup_seconds

IMAGES = 50
TAGS = ["1.0.0", "1.0", "1", "latest"]


def main() -> None:
    with services("token") as svc:
        proxy, engine, registry = svc.proxy, svc.engine, svc.registry
        issuer = registry.issuer
        assert issuer is not None
        host = proxy.host
        env = {"BENCH_USER": str(registry.username), "BENCH_PASS": str(registry.password)}
        project = Project(svc.workdir / "many", engine, env)
        project.write("ctx/Dockerfile", "FROM scratch\nCOPY hello /hello\n")
        project.write("ctx/hello", "hello\n")
        tags = ", ".join(f'"{t}"' for t in TAGS)
        images = "".join(
            f'\n[[image]]\nname = "img{n:02d}"\ncontext = "ctx"\n'
            f'repositories = ["{host}/alice/img{n:02d}"]\ntags = [{tags}]\n'
            for n in range(IMAGES)
        )
        project.write(
            "hubpub.toml",
            f'version = 1\n[registries."{host}"]\ninsecure = true\n'
            f'username_env = "BENCH_USER"\npassword_env = "BENCH_PASS"\n{images}',
        )
        project.commit()
        setup = project.hubpub("apply")
        cache = project.root / ".cache"

        shutil.rmtree(cache, ignore_errors=True)  # a fresh CI machine
        proxy.clear()
        issuer.clear_requests()
        cold = project.hubpub("plan", "--detailed-exitcode")
        assert "No changes." in project.last_stdout, project.last_stdout
        cold_registry, cold_tokens = len(proxy.requests), issuer.request_count
        cold_gets = len(proxy.requests_matching("GET", r"/manifests/|/blobs/"))

        proxy.clear()
        issuer.clear_requests()
        warm = project.hubpub("plan", "--detailed-exitcode")
        assert "No changes." in project.last_stdout, project.last_stdout
        warm_registry, warm_tokens = len(proxy.requests), issuer.request_count
        warm_gets = len(proxy.requests_matching("GET", r"/manifests/|/blobs/"))

        # baseline: ask the registry about every tag with a manifest GET (skopeo inspect).
        proxy.clear()
        start = time.perf_counter()
        for n in range(IMAGES):
            for tag in TAGS:
                subprocess.run(
                    [
                        "skopeo",
                        "inspect",
                        "--tls-verify=false",
                        f"--creds={registry.username}:{registry.password}",
                        f"docker://{host}/alice/img{n:02d}:{tag}",
                    ],
                    capture_output=True,
                    check=True,
                )
        base = time.perf_counter() - start
        base_requests = len(proxy.requests)

        budget = IMAGES * len(TAGS) + IMAGES + 2
        print(f"no-change plan, {IMAGES} images x {len(TAGS)} tags ({network()}, tokens)")
        print(f"  (setup: hubpub apply of {IMAGES} images took {setup:.1f} s)")
        print(
            row(
                "hubpub plan, cold label cache",
                cold,
                f"{cold_registry} registry + {cold_tokens} token requests, "
                f"{cold_gets} manifest/blob GETs",
            )
        )
        print(
            row(
                "hubpub plan, second run",
                warm,
                f"{warm_registry} registry + {warm_tokens} token requests, "
                f"{warm_gets} manifest/blob GETs",
            )
        )
        print(row("skopeo inspect of each tag", base, f"{base_requests} registry requests"))
        total = warm_registry + warm_tokens
        verdict = "ok" if total <= budget and warm_gets == 0 else "MISSED"
        print(
            f"  second run: {total} requests, budget {budget} (tags + repositories + 2): {verdict}"
        )
        print(f"  (hubpub's Python start-up here: {startup_seconds():.2f} s of its time)")
        docker(engine, "image", "prune", "-f")


if __name__ == "__main__":
    main()
