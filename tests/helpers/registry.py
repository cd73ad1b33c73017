"""Helpers for the registry client's integration tests.

Test images are written as OCI layouts on disk and pushed with ``skopeo copy``, a tool hubpub
did not write, so that what the client reads was not put there by the client itself.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from hubpub.reference import Reference, parse_reference
from hubpub.registry import RegistryClient, RegistryOptions, RetryPolicy
from tests.fixtures import skopeo
from tests.fixtures.registry import Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

# Short waits so that the fault tests run in seconds while still showing every rule.
FAST_RETRY = RetryPolicy(
    attempts=4,
    timeout=20.0,
    wait_initial=0.05,
    wait_max=0.5,
    wait_jitter=0.05,
    max_retry_after=5.0,
    read_timeout=5.0,
)


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_bytes(text: str, size: int = 0) -> bytes:
    """A real gzipped tar with one file; ``size`` pads it with incompressible bytes."""
    payload = text.encode() + (os.urandom(size) if size else b"")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hubpub-test.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(buffer.getvalue(), mtime=0)


@dataclass
class Layout:
    path: Path
    digest: str  # of the top manifest or index
    media_type: str
    children: list[str]  # child manifest digests (index only)
    blobs: list[str]  # every config and layer digest


def write_layout(
    folder: Path,
    *,
    platforms: tuple[str, ...] = ("linux/amd64",),
    index: bool = False,
    layer_size: int = 0,
    note: str = "",
) -> Layout:
    """An OCI image layout (image-spec "image-layout.md") holding one image, or an index of
    one image per platform; every image gets its own random layer."""
    blobs_dir = folder / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def put(data: bytes) -> str:
        digest = _digest(data)
        (blobs_dir / digest.split(":")[1]).write_bytes(data)
        return digest

    manifests: list[dict[str, Any]] = []
    blobs: list[str] = []
    for platform in platforms:
        os_name, arch = platform.split("/")[:2]
        layer = layer_bytes(f"{note}{platform}{uuid.uuid4()}", layer_size)
        layer_digest = put(layer)
        diff_id = _digest(gzip.decompress(layer))
        config = json.dumps(
            {
                "architecture": arch,
                "os": os_name,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "config": {"Labels": {"hubpub.test": note or "x"}},
            }
        ).encode()
        config_digest = put(config)
        blobs += [config_digest, layer_digest]
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
            }
        ).encode()
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": put(manifest),
                "size": len(manifest),
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    if index:
        top = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        ).encode()
        top_descriptor = {"mediaType": OCI_INDEX, "digest": put(top), "size": len(top)}
        children = [m["digest"] for m in manifests]
    else:
        top_descriptor = {k: v for k, v in manifests[0].items() if k != "platform"}
        children = []
    top_descriptor["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    (folder / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [top_descriptor]})
    )
    return Layout(folder, top_descriptor["digest"], top_descriptor["mediaType"], children, blobs)


def push_layout(layout: Layout, registry: Registry, ref: str) -> None:
    """``skopeo copy --all oci:LAYOUT docker://REGISTRY/REF``, keeping digests as they are."""
    dest_flags = [
        f.replace("--tls-verify", "--dest-tls-verify")
        .replace("--cert-dir", "--dest-cert-dir")
        .replace("--creds", "--dest-creds")
        .replace("--no-creds", "--dest-no-creds")
        for f in skopeo.flags(registry)
    ]
    skopeo.run(
        "copy",
        "--all",
        "--preserve-digests",
        *dest_flags,
        f"oci:{layout.path}:latest",
        f"docker://{registry.host}/{ref}",
    )


def nest_layout(layout: Layout) -> Layout:
    """``layout`` (an index) wrapped in another index: an index of an index, which image-spec
    allows and skopeo does not copy ("a manifest list instead of a manifest")."""
    blobs_dir = layout.path / "blobs" / "sha256"
    inner = (blobs_dir / layout.digest.split(":")[1]).read_bytes()
    outer = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_INDEX, "digest": layout.digest, "size": len(inner)}],
        }
    ).encode()
    digest = _digest(outer)
    (blobs_dir / digest.split(":")[1]).write_bytes(outer)
    top = {"mediaType": OCI_INDEX, "digest": digest, "size": len(outer)}
    (layout.path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return Layout(layout.path, digest, OCI_INDEX, [layout.digest, *layout.children], layout.blobs)


def push_layout_raw(layout: Layout, registry: Registry, repository: str, tag: str) -> None:
    """Push ``layout`` to a plain-HTTP, no-auth registry with bare HTTP requests (the
    distribution spec's monolithic upload and manifest PUT), manifests after what they list:
    for what skopeo does not copy, still without hubpub."""
    assert registry.username is None, "push_layout_raw speaks to an anonymous registry"
    base = f"{registry.url}/v2/{repository}"
    blobs_dir = layout.path / "blobs" / "sha256"

    def put_manifest(digest: str, reference: str) -> None:
        data = (blobs_dir / digest.split(":")[1]).read_bytes()
        doc = json.loads(data)
        for child in doc.get("manifests", []):
            put_manifest(child["digest"], child["digest"])
        for blob in [doc.get("config"), *doc.get("layers", [])]:
            if blob:
                upload = requests.post(f"{base}/blobs/uploads/", timeout=30)
                upload.raise_for_status()
                location = upload.headers["Location"]
                if location.startswith("/"):
                    location = registry.url + location
                body = (blobs_dir / blob["digest"].split(":")[1]).read_bytes()
                sep = "&" if "?" in location else "?"
                done = requests.put(
                    f"{location}{sep}digest={blob['digest']}",
                    data=body,
                    headers={"Content-Type": "application/octet-stream"},
                    timeout=30,
                )
                done.raise_for_status()
        answer = requests.put(
            f"{base}/manifests/{reference}",
            data=data,
            headers={"Content-Type": doc["mediaType"]},
            timeout=30,
        )
        answer.raise_for_status()

    put_manifest(layout.digest, tag)


def options_for(*registries: Registry) -> dict[str, RegistryOptions]:
    """What hubpub.toml would say: plain and token registries are insecure (plain HTTP), TLS
    ones name their CA."""
    return {r.host: RegistryOptions(insecure=not r.tls, ca_file=r.ca_file) for r in registries}


def creds_env(registry: Registry) -> dict[str, str]:
    """The registry's user and password as the variables that ``env_options`` names."""
    if registry.username is None:
        return {}
    return {"REG_USER": registry.username, "REG_PASS": registry.password or ""}


def env_options(*registries: Registry) -> dict[str, RegistryOptions]:
    return {
        r.host: RegistryOptions(
            insecure=not r.tls, ca_file=r.ca_file, username_env="REG_USER", password_env="REG_PASS"
        )
        for r in registries
    }


def ref(registry: Registry | str, path: str) -> Reference:
    host = registry if isinstance(registry, str) else registry.host
    return parse_reference(f"{host}/{path}")


def empty_docker_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    return folder


def client_env(docker_config: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment with no credentials but the ones a test puts there."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(docker_config.parent),
        "DOCKER_CONFIG": str(docker_config),
    }
    env.update(extra or {})
    return env


class Counter:
    """Counts responses through the client's response hook (``add_response_hook``)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, response: requests.Response) -> None:
        request = response.request
        self.seen.append((request.method or "", request.url or "", response.status_code))

    def count(self, method: str | None = None, contains: str = "") -> int:
        return sum(
            1 for m, url, _ in self.seen if (method is None or m == method) and contains in url
        )


@contextmanager
def client_for(
    *registries: Registry,
    docker_config: Path,
    environ: Mapping[str, str] | None = None,
    options: Mapping[str, RegistryOptions] | None = None,
    **kwargs: Any,
) -> Iterator[RegistryClient]:
    env = client_env(docker_config, environ)
    with RegistryClient(
        options if options is not None else options_for(*registries),
        environ=env,
        **kwargs,
    ) as client:
        yield client
