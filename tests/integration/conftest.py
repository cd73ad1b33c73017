"""Fixtures shared by the integration test modules (the services themselves are in
tests/fixtures; plain helpers in tests/helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.registry import empty_docker_config


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    """An empty Docker config folder: no credentials but the ones a test puts there."""
    return empty_docker_config(tmp_path / "docker-config")
