"""Benchmark (docs/benchmarks.md, "Uploading a build: export + upload against the engine's
push"): the design choice behind apply's publish of a built image.

For each base size (20 MB and 200 MB; add 1000 with ``HUBPUB_BENCH_BASES=20,200,1000``), an
image = the base + a fresh 20 MB layer, published to a registry that already holds the base
(the usual commit: only the app's layer changed):

- engine push: ``docker push`` of the image (the engine skips the layers it knows the registry
  has, so it compresses and uploads the 20 MB layer only);
- hubpub, warm: the export (``GET /images/{id}/get``, spooled and hashed), the layer cache
  naming the base's blob (one HEAD), the new layer compressed, the upload; each phase timed;
- hubpub, cold: the same with an empty layer cache (every layer compressed; the base's blob
  is still found by a HEAD and not uploaded);
- hubpub, staged: what apply does from ``HUBPUB_STAGE_ABOVE_MB`` (staged.py): the engine
  pushes to the staging tag, hubpub reads its manifest and publishes it by digest.

The layers are random bytes (gzip cannot shrink them: the compressor's worst case). Through
the FaultProxy at 10 ms each way and 1 Gbit/s.

    .venv/bin/python benchmarks/upload_design.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import docker, network, row, services

from hubpub.archive import read_archive
from hubpub.engine import Engine
from hubpub.layers import LayerCache
from hubpub.publish import prepare
from hubpub.reference import Repository
from hubpub.registry.client import RegistryClient
from hubpub.registry.models import RegistryOptions
from hubpub.staged import stage, staging_ref

MB = 1000 * 1000
BASES = [int(x) for x in os.environ.get("HUBPUB_BENCH_BASES", "20,200").split(",")]


def context(folder: Path, base: str, size: int, tag: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "layer").open("wb") as out:
        for _ in range(size // MB):
            out.write(os.urandom(MB))
    (folder / "Dockerfile").write_text(f"FROM {base}\nCOPY layer /layer-{tag.replace(':', '-')}\n")


def main() -> None:
    with services() as svc:
        engine, host = svc.engine, svc.proxy.host
        print(f"publish base + a fresh 20 MB layer, the base already in the registry ({network()})")
        hub_engine = Engine.from_env({"DOCKER_HOST": engine.host})
        options = {host: RegistryOptions(insecure=True)}
        for base_mb in BASES:
            work = svc.workdir / f"b{base_mb}"
            repo = f"{host}/bench/b{base_mb}"
            base_tag = f"{repo}:base"
            context(work / "base", svc.base, base_mb * MB, "base")
            docker(engine, "build", "-q", "-t", base_tag, str(work / "base"))
            docker(engine, "push", "-q", base_tag)
            cache_dir = Path(tempfile.mkdtemp(dir=svc.workdir))
            # hubpub published the base before (as an earlier commit's publish would have): the
            # registry holds its blobs as hubpub compressed them, and the layer cache names them.
            with RegistryClient(options, environ={}) as client:
                base_id = hub_engine.image_id(base_tag) or base_tag
                primed = prepare(
                    lambda i=base_id: hub_engine.export(i),
                    [Repository(host, f"bench/b{base_mb}")],
                    client,
                    LayerCache(cache_dir),
                )
                target = Repository(host, f"bench/b{base_mb}")
                client.publish_image(target, primed.manifest, primed.blobs)
                primed.remember(LayerCache(cache_dir), target)
                primed.close()
            results = []
            for side in ("engine push", "hubpub warm", "hubpub cold", "hubpub staged"):
                name = side.replace(" ", "-")
                context(work / name, base_tag, 20 * MB, name)
                image = f"{repo}:{name}"
                docker(engine, "build", "-q", "-t", image, str(work / name))
                svc.proxy.clear()
                start = time.perf_counter()
                if side == "engine push":
                    docker(engine, "push", "-q", image)
                    note = ""
                elif side == "hubpub staged":
                    target = Repository(host, f"bench/b{base_mb}")
                    with RegistryClient(options, environ={}) as client:
                        image_id = hub_engine.image_id(image) or image
                        t0 = time.perf_counter()
                        staged = stage(
                            lambda ref, i=image_id: hub_engine.push(i, ref),
                            client,
                            staging_ref(target, image_id),
                        )
                        t1 = time.perf_counter()
                        client.publish_image(
                            target, staged.manifest, staged.blobs, staged.homes_in(host)
                        )
                        t2 = time.perf_counter()
                        staged.close()
                    note = f"engine push to staging {t1 - t0:.2f} s, publish {t2 - t1:.2f} s"
                else:
                    cache = LayerCache(cache_dir if side == "hubpub warm" else None)
                    target = Repository(host, f"bench/b{base_mb}")
                    with RegistryClient(options, environ={}) as client:
                        image_id = hub_engine.image_id(image) or image
                        t0 = time.perf_counter()
                        prepared = prepare(
                            lambda i=image_id: hub_engine.export(i), [target], client, cache
                        )
                        t1 = time.perf_counter()
                        client.publish_image(target, prepared.manifest, prepared.blobs)
                        t2 = time.perf_counter()
                        prepared.close()
                    note = (
                        f"export + compress {t1 - t0:.2f} s ({prepared.compressed} compressed, "
                        f"{prepared.reused} reused), upload {t2 - t1:.2f} s"
                    )
                elapsed = time.perf_counter() - start
                if side == "hubpub warm":
                    spool = Path(tempfile.mkdtemp(dir=svc.workdir))
                    t0 = time.perf_counter()
                    with hub_engine.export(image_id) as stream:
                        read_archive(stream, spool)
                    note += f"; the export alone (spooled, hashed) {time.perf_counter() - t0:.2f} s"
                    shutil.rmtree(spool, ignore_errors=True)
                sent = sum(
                    1 for r in svc.proxy.requests_matching("PUT", "digest=") if r.status == 201
                )
                results.append(
                    row(f"{base_mb} MB base: {side}", elapsed, f"{sent} uploads; {note}")
                )
            shutil.rmtree(cache_dir, ignore_errors=True)
            print("\n".join(results))
        hub_engine.close()


if __name__ == "__main__":
    main()
