"""A failed upload session is cancelled (distribution-spec "Canceling an upload"), not left
open until the registry expires it: checked by asking the registry itself, past the fault
proxy, for each session the client opened."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from hubpub.errors import RegistryError
from hubpub.reference import Repository
from tests.fixtures.registry import Registry
from tests.helpers.registry import unique
from tests.integration.test_registry_faults import fast_client

_SESSION = re.compile(r"/blobs/uploads/([0-9a-f-]{36})")


def _sessions(proxy: Any) -> list[str]:
    found = []
    for request in proxy.requests:
        match = _SESSION.search(request.path)
        if match and match[1] not in found:
            found.append(match[1])
    return found


@pytest.mark.parametrize("fault", ["a failed chunk", "a refused upload"])
def test_a_failed_upload_session_is_cancelled(
    fault: str, registry_plain: Registry, fault_proxy: Any, tmp_path: Path, docker_config: Path
) -> None:
    proxy = fault_proxy(registry_plain)
    if fault == "a failed chunk":
        proxy.fail(503, method="PATCH", path="/blobs/uploads/", times=1)
    else:
        proxy.respond(400, method="PUT", path="digest=", times=None)
    repo = unique("alice")
    (tmp_path / "blob").write_bytes(os.urandom(200_000))
    with fast_client(docker_config, chunk_size=64 * 1024) as client:
        if fault == "a failed chunk":
            client.upload_blob_file(Repository(proxy.host, repo), tmp_path / "blob")
        else:
            with pytest.raises(RegistryError):
                client.upload_blob_file(Repository(proxy.host, repo), tmp_path / "blob")
    sessions = _sessions(proxy)
    failed = sessions[:1] if fault == "a failed chunk" else sessions
    assert failed
    for uuid in failed:
        # distribution answers 204 for an open session, 404 once it is cancelled (or done).
        status = requests.get(
            f"{registry_plain.url}/v2/{repo}/blobs/uploads/{uuid}", timeout=30
        ).status_code
        assert status == 404, uuid
    assert proxy.requests_matching("DELETE", "/blobs/uploads/")
