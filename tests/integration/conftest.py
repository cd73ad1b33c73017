"""Fixtures shared by the integration test modules (the services themselves are in
tests/fixtures; plain helpers in tests/helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import uid
from tests.helpers.registry import empty_docker_config


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    """An empty Docker config folder: no credentials but the ones a test puts there."""
    return empty_docker_config(tmp_path / "docker-config")


@pytest.fixture(scope="module")
def registry_base(docker_engine: DockerEngine, busybox_image: str, registry_plain: Registry) -> str:
    """The busybox image pushed to the plain registry: a base that resolves through a registry."""
    ref = f"{registry_plain.host}/base{uid()}/busybox:1"
    repository, _, tag = ref.rpartition(":")
    docker_engine.client.images.get(busybox_image).tag(repository, tag)
    for line in docker_engine.client.images.push(repository, tag=tag, stream=True, decode=True):
        assert "errorDetail" not in line, line
    return ref
