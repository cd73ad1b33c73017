"""How much of a registry's answer hubpub reads (docs/registry.md#size-limits): a manifest of
more than 4 MiB is refused without being read whole, whether announced by Content-Length or
streamed without end, and an error body becomes one short line. ``hubpub inspect`` run as a
user runs it, against the fault proxy or a tiny HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.registry import Registry
from tests.helpers.registry import push_layout, unique, write_layout
from tests.integration.test_inspect import hubpub

LIMIT = 4 * 1024 * 1024


def _big_manifest() -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
        "annotations": {"padding": "x" * (LIMIT + 1024)},
    }
    return json.dumps(manifest).encode()


def test_a_manifest_over_4_mib_is_refused(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path
) -> None:
    repo = unique("alice")
    push_layout(write_layout(tmp_path / "layout"), registry_plain, f"{repo}:1")
    proxy = fault_proxy(registry_plain)
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    proxy.respond(
        200, method="GET", path="/manifests/", times=None, headers=headers, body=_big_manifest()
    )
    done = hubpub(tmp_path, "inspect", f"{proxy.host}/{repo}:1")
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"hubpub: error: registry {proxy.host}: GET /v2/{repo}/manifests/1: the answer is "
    )
    assert "over the 4 MiB a manifest may have (distribution's limit); refused" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


class _Endless(BaseHTTPRequestHandler):
    """A "registry" whose manifests, and refusals, never end (chunked, no Content-Length)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/v2/":
            body = b"{}"
            self.send_response(200)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        # A refusal whose body never ends either, under /denied/.
        self.send_response(403 if "/denied/" in self.path else 200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b"x" * 65536
        try:
            self.wfile.write(b'd\r\n{"padding": "\r\n')
            for _ in range(1 << 16):  # 4 GiB at most: far more than anyone should read
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        except OSError:
            return  # the client stopped reading


@pytest.fixture
def endless() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_manifest_that_never_ends_is_refused_after_4_mib(endless: str, tmp_path: Path) -> None:
    done = hubpub(tmp_path, "inspect", f"{endless}/x/y:1")
    assert done.returncode == 1
    assert done.stderr.strip().startswith(
        f"hubpub: error: registry {endless}: GET /v2/x/y/manifests/1: the answer is more than "
        f"{LIMIT} bytes, over the 4 MiB"
    )


def test_an_error_body_is_read_only_as_far_as_a_message_needs(endless: str, tmp_path: Path) -> None:
    done = hubpub(tmp_path, "inspect", f"{endless}/x/denied/y:1")
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert f"registry {endless}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_manifest_that_is_not_json_names_the_reference_and_the_registry(
    registry_plain: Registry, fault_proxy: Any, tmp_path: Path
) -> None:
    """A captive portal or a proxy's error page answering 200 in HTML."""
    repo = unique("alice")
    proxy = fault_proxy(registry_plain)
    page = b"<html><body>Please log in</body></html>"
    proxy.respond(
        200,
        method="GET",
        path="/manifests/",
        times=None,
        headers={"Content-Type": "text/html"},
        body=page,
    )
    done = hubpub(tmp_path, "inspect", f"{proxy.host}/{repo}:1")
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"hubpub: error: manifest {proxy.host}/{repo}:1 from registry {proxy.host}: manifest is "
        "not valid JSON"
    ), done.stderr
    assert "(content type text/html)" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_inspect_does_not_need_a_valid_config(registry_plain: Registry, tmp_path: Path) -> None:
    """An invalid hubpub.toml in the folder is not inspect's business (a warning), unless it
    is named with -c."""
    repo = unique("alice")
    push_layout(write_layout(tmp_path / "layout"), registry_plain, f"{repo}:1")
    (tmp_path / "hubpub.toml").write_text("version = 1\nbogus = 2\n")
    done = hubpub(tmp_path, "inspect", "--digest", f"{registry_plain.host}/{repo}:1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sha256:")
    assert "hubpub.toml is not used: hubpub.toml:2: bogus: unknown key 'bogus'" in done.stderr
    named = hubpub(tmp_path, "inspect", "-c", "hubpub.toml", f"{registry_plain.host}/{repo}:1")
    assert named.returncode == 1
    assert named.stderr.startswith("hubpub: error: hubpub.toml:2: bogus: unknown key 'bogus'")
