"""Benchmark (docs/benchmarks.md, "Resolving tags"): resolve the digests of 500 existing tags.

Three clients, in the same run, through the same FaultProxy (tests/fixtures/proxy.py) adding
10 ms each way and capping at 1 Gbit/s, in front of a bearer-token registry (distribution 2.8
with the suite's token issuer, anonymous pulls allowed, the way Docker Hub serves public images):

- hubpub: ``RegistryClient.resolve(refs)`` from a fresh client (GET /v2/, one token per
  repository, one HEAD per tag, 8 requests in flight per registry).
- skopeo: a loop of ``skopeo inspect --raw docker://REF``, the way a script asks today. It is
  slow, so a sample (``--skopeo-sample``, 50 by default) is timed and the total extrapolated.
- floor: plain concurrent HEADs (the same 8 in flight) on one keep-alive ``requests.Session``,
  with one token per repository fetched first: the least any client could do.

Requests are counted at the proxy (registry requests) plus the issuer (token requests).
Targets: hubpub at least 10x faster than skopeo, within 1.5x of the floor, and no more than
tags + repositories + 2 requests.

    .venv/bin/python benchmarks/resolve_tags.py [--tags 500] [--repos 5] [--skopeo-sample 50]

No Docker engine is needed. Setup (not timed): one image pushed by skopeo from an OCI layout,
then its manifest PUT under every tag, checked with ``skopeo list-tags``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test services live in tests/fixtures

import requests  # noqa: E402
from tests.fixtures.registry import Registry, start_registry  # noqa: E402
from tests.helpers.registry import push_layout, write_layout  # noqa: E402

from hubpub.reference import Reference, parse_reference  # noqa: E402
from hubpub.registry import MANIFEST_ACCEPT, RegistryClient, RegistryOptions  # noqa: E402

LATENCY = 0.010  # seconds, each way
BANDWIDTH = 125_000_000  # bytes/s per direction: 1 Gbit/s
IN_FLIGHT = 8  # hubpub's default per-registry limit; the floor gets the same


_PROXY_MAIN = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.fixtures.proxy import FaultProxy
proxy = FaultProxy(sys.argv[2], latency=float(sys.argv[3]), bandwidth=int(sys.argv[4])).start()
print(proxy.port, flush=True)
for line in sys.stdin:
    if line.strip() == "count":
        print(len(proxy.requests), flush=True)
    elif line.strip() == "clear":
        proxy.clear()
        print("ok", flush=True)
"""


class ProxyProcess:
    """The FaultProxy in a process of its own: in this one it would share the GIL with the
    clients it is measuring (the proxy is Python; the clients' threads would slow it)."""

    def __init__(self, upstream: str) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PROXY_MAIN, str(ROOT), upstream, str(LATENCY), str(BANDWIDTH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"

    def _ask(self, command: str) -> str:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._process.stdout.readline().strip()

    def count(self) -> int:
        return int(self._ask("count"))

    def clear(self) -> None:
        self._ask("clear")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def seed(registry: Registry, repos: list[str], tags: int, workdir: Path) -> list[str]:
    """``tags`` tags spread over ``repos``; returns "repo:tag" strings."""
    layout = write_layout(workdir / "layout")
    names = [f"{repos[i % len(repos)]}:t{i:04d}" for i in range(tags)]
    for repo in repos:
        push_layout(layout, registry, f"{repo}:seed")
    options = {registry.host: RegistryOptions(username_env="U", password_env="P")}
    creds = {"U": registry.username or "", "P": registry.password or ""}
    with RegistryClient(options, environ=creds) as client:
        manifest = client.get_manifest(parse_reference(f"{registry.host}/{repos[0]}:seed"))
        client.map(
            lambda name: client.put_manifest(parse_reference(f"{registry.host}/{name}"), manifest),
            names,
        )
    listed = 0
    for repo in repos:
        out = subprocess.run(
            ["skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        listed += len([t for t in json.loads(out)["Tags"] if t != "seed"])
    assert listed == tags, f"skopeo sees {listed} tags, expected {tags}"
    return names


def run_hubpub(refs: list[Reference]) -> tuple[float, int, set[str]]:
    seen: list[int] = []
    with RegistryClient(environ={}, per_registry=IN_FLIGHT) as client:
        client.add_response_hook(lambda r: seen.append(r.status_code))
        start = time.perf_counter()
        found = client.resolve(refs)
        elapsed = time.perf_counter() - start
    digests = {info.digest for info in found.values() if info is not None}
    assert len(found) == len(refs)
    assert all(found.values())
    return elapsed, len(seen), digests


def run_floor(proxy: ProxyProcess, registry: Registry, names: list[str]) -> tuple[float, int]:
    assert registry.issuer is not None
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=IN_FLIGHT)
    session.mount("http://", adapter)
    count = 0
    start = time.perf_counter()
    tokens = {}
    for repo in sorted({n.split(":")[0] for n in names}):
        answer = session.get(
            registry.issuer.realm,
            params={"service": registry.issuer.service, "scope": f"repository:{repo}:pull"},
            timeout=30,
        )
        tokens[repo] = answer.json()["token"]
        count += 1

    def head(name: str) -> str:
        repo, tag = name.split(":")
        response = session.head(
            f"{proxy.url}/v2/{repo}/manifests/{tag}",
            headers={"Accept": MANIFEST_ACCEPT, "Authorization": f"Bearer {tokens[repo]}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]

    with concurrent.futures.ThreadPoolExecutor(IN_FLIGHT) as pool:
        digests = list(pool.map(head, names))
    elapsed = time.perf_counter() - start
    assert len(set(digests)) == 1
    return elapsed, count + len(names)


def run_skopeo(proxy: ProxyProcess, names: list[str]) -> tuple[float, int]:
    """Seconds and requests for ``len(names)`` sequential ``skopeo inspect --raw``."""
    start = time.perf_counter()
    for name in names:
        subprocess.run(
            [
                "skopeo",
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--no-creds",
                f"docker://{proxy.host}/{name}",
            ],
            capture_output=True,
            check=True,
        )
    return time.perf_counter() - start, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--skopeo-sample", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="hubpub and floor: median of N")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="hp-bench-resolve-", dir="/tmp"))
    registry = start_registry("token", workdir)
    proxy = ProxyProcess(registry.url)
    assert registry.issuer is not None
    try:
        repos = [f"alice/app{i}" for i in range(args.repos)]  # alice may push alice/*
        names = seed(registry, repos, args.tags, workdir)
        refs = [parse_reference(f"{proxy.host}/{name}") for name in names]
        budget = args.tags + args.repos + 2

        # Rounds alternate hubpub and the floor, so that a busy moment of the machine does
        # not land on one of them only.
        hub_times, hub_requests, floor_times, floor_requests = [], [], [], 0
        for _ in range(args.rounds):
            proxy.clear()
            registry.issuer.clear_requests()
            seconds, hooked, _digests = run_hubpub(refs)
            at_proxy = proxy.count() + registry.issuer.request_count
            assert hooked == at_proxy, (hooked, at_proxy)
            hub_times.append(seconds)
            hub_requests.append(at_proxy)
            seconds, floor_requests = run_floor(proxy, registry, names)
            floor_times.append(seconds)

        proxy.clear()
        registry.issuer.clear_requests()
        sample = names[:: max(1, len(names) // args.skopeo_sample)][: args.skopeo_sample]
        sk_seconds, _ = run_skopeo(proxy, sample)
        sk_requests = proxy.count() + registry.issuer.request_count
        scale = len(names) / len(sample)

        hub = statistics.median(hub_times)
        floor = statistics.median(floor_times)
        skopeo_total = sk_seconds * scale
        print(
            f"resolve {args.tags} tags in {args.repos} repositories, through a proxy adding "
            f"{LATENCY * 1000:.0f} ms each way at 1 Gbit/s (median of {args.rounds} rounds)"
        )
        print(f"  {'client':<44} {'wall time':>10} {'requests':>9}")
        print(f"  {'hubpub RegistryClient.resolve':<44} {hub:9.2f}s {max(hub_requests):>9}")
        print(
            f"  {f'skopeo inspect --raw loop ({len(sample)} timed, x{scale:g})':<44} "
            f"{skopeo_total:9.2f}s {round(sk_requests * scale):>9}"
        )
        print(f"  {'floor: concurrent HEADs, one session':<44} {floor:9.2f}s {floor_requests:>9}")
        print(
            f"  hubpub vs skopeo: {skopeo_total / hub:.1f}x faster (target >= 10x); "
            f"vs floor: {hub / floor:.2f}x (target <= 1.5x); "
            f"requests {max(hub_requests)} <= {budget} (tags + repositories + 2)"
        )
        ok = skopeo_total / hub >= 10 and hub / floor <= 1.5 and max(hub_requests) <= budget
        print("  targets met" if ok else "  TARGETS MISSED")
        sys.exit(0 if ok else 1)
    finally:
        proxy.stop()
        registry.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
