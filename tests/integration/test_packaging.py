"""hubpub as users install it: ``python -m build`` makes a wheel and an sdist, and the wheel,
installed into a fresh virtual environment, runs (``--version``, ``validate`` on the example,
``schema`` equal to the checked-in schema). The GitHub Action's ``pip install <checkout>`` is
covered by test_action.py."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import hubpub

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str | Path, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, REPO_ROOT)
    return out


def test_wheel_and_sdist_carry_the_package_data(dist: Path) -> None:
    (wheel,) = dist.glob("hubpub-*.whl")
    (sdist,) = dist.glob("hubpub-*.tar.gz")
    assert wheel.name == f"hubpub-{hubpub.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"hubpub-{hubpub.__version__}.dist-info/entry_points.txt")
    assert "hubpub/py.typed" in names
    assert "hubpub/cli.py" in names
    assert b"hubpub = hubpub.cli:main" in entry_points
    top = f"hubpub-{hubpub.__version__}"
    with tarfile.open(sdist) as archive:
        members = set(archive.getnames())
    for path in ("schemas/hubpub.schema.json", "examples/hubpub.toml", "action.yml"):
        assert f"{top}/{path}" in members
    assert f"{top}/src/hubpub/py.typed" in members


def test_the_wheel_installed_in_a_fresh_venv_runs(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("hubpub-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)

    assert run(bin_dir / "hubpub", "--version").strip().endswith(hubpub.__version__)
    validated = run(bin_dir / "hubpub", "validate", "-c", REPO_ROOT / "examples" / "hubpub.toml")
    assert validated.startswith(f"{REPO_ROOT / 'examples' / 'hubpub.toml'}: ok (1 image(s), ")
    schema = run(bin_dir / "hubpub", "schema")
    assert schema == (REPO_ROOT / "schemas" / "hubpub.schema.json").read_text()
