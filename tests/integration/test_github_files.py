"""An unwritable ``$GITHUB_OUTPUT`` or ``$GITHUB_STEP_SUMMARY`` (github.py): apply publishes,
prints its result, warns about the file and exits 0; the images are read back with skopeo."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import build_project, uid


def test_an_unwritable_github_file_is_a_warning(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    missing = tmp_path / "no-such-folder"
    project.env["GITHUB_OUTPUT"] = str(missing / "output")
    project.env["GITHUB_STEP_SUMMARY"] = str(missing / "summary")

    done = project.ok("apply", "--ref", "refs/heads/main")
    assert "done" in done.stdout  # the result table
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 2, done.stderr
    assert (
        f"cannot write $GITHUB_STEP_SUMMARY ({missing / 'summary'}: No such file or"
        in (warnings[0])
    )
    assert f"cannot write $GITHUB_OUTPUT ({missing / 'output'}: No such file" in warnings[1]
    assert "internal error" not in done.stderr
    assert "main" in skopeo.list_tags(registry_plain, path)
