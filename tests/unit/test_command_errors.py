"""Errors of the engine and of apply name the address or option and the way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubpub.engine import Engine
from hubpub.errors import EngineError


def test_unreachable_engine_names_its_address(tmp_path: Path) -> None:
    socket = tmp_path / "no-engine.sock"  # nothing listens here: the real SDK fails to connect
    with pytest.raises(EngineError) as caught:
        Engine.from_env({"DOCKER_HOST": f"unix://{socket}"}).ping()
    assert str(caught.value) == (
        f"cannot reach the Docker engine at unix://{socket} "
        "(start dockerd, or set DOCKER_HOST to the engine's address)"
    )


def test_saved_plan_refuses_options_it_records(tmp_path: Path) -> None:
    import subprocess
    import sys

    plan = tmp_path / "x.plan"
    plan.write_text("{}")
    done = subprocess.run(
        [sys.executable, "-m", "hubpub", "apply", str(plan), "--ref", "refs/heads/main"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "hubpub: error: --ref: not allowed with a saved plan (a saved plan keeps the options it "
        "was made with; run 'hubpub plan --out' again to change them)\n"
    )
