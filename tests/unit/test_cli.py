"""The CLI skeleton as a user meets it: ``python -m hubpub`` in a subprocess.

A user error is one line on stderr and exit 1; the traceback appears only with ``--debug``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hubpub


def hubpub_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "HUBPUB_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "hubpub", *args],
        cwd=cwd,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    result = hubpub_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"hubpub, version {hubpub.__version__}"


def test_help_lists_the_commands_and_debug(tmp_path: Path) -> None:
    result = hubpub_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: hubpub")
    for word in ("--debug", "--version", "validate", "plan", "apply"):
        assert word in result.stdout
    assert result.stderr == ""


def test_unknown_command_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = hubpub_cli("frobnicate", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hubpub: error: ")
    assert "frobnicate" in lines[0]
    assert "Traceback" not in result.stderr


def test_user_error_without_debug_has_no_traceback(tmp_path: Path) -> None:
    result = hubpub_cli("validate", "-c", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hubpub: error: ")
    assert "missing.toml" in lines[0]


def test_debug_shows_the_traceback_then_the_same_line(tmp_path: Path) -> None:
    plain = hubpub_cli("validate", "-c", str(tmp_path / "missing.toml"), cwd=tmp_path)
    debug = hubpub_cli("--debug", "validate", "-c", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert debug.returncode == 1
    assert "Traceback (most recent call last):" in debug.stderr
    assert debug.stderr.splitlines()[-1] == plain.stderr.strip()


def test_debug_from_the_environment(tmp_path: Path) -> None:
    result = hubpub_cli(
        "validate", "-c", str(tmp_path / "missing.toml"), cwd=tmp_path, env={"HUBPUB_DEBUG": "1"}
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last):" in result.stderr


def test_bare_hubpub_prints_the_help_not_an_error(tmp_path: Path) -> None:
    result = hubpub_cli(cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: hubpub")
    assert result.stderr == ""


def test_a_mistyped_command_gets_a_suggestion(tmp_path: Path) -> None:
    # The subcommands load lazily: click alone would suggest among none of them.
    result = hubpub_cli("plna", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "hubpub: error: No such command 'plna'. Did you mean 'plan'? (see 'hubpub --help')"
    )


def test_debug_and_config_work_after_the_command_as_before_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    before = hubpub_cli("--debug", "-c", missing, "validate", cwd=tmp_path)
    after = hubpub_cli("validate", "-c", missing, "--debug", cwd=tmp_path)
    for result in (before, after):
        assert result.returncode == 1
        assert "Traceback (most recent call last):" in result.stderr
        assert result.stderr.splitlines()[-1].startswith("hubpub: error: ")
        assert "missing.toml" in result.stderr.splitlines()[-1]
    assert before.stderr.splitlines()[-1] == after.stderr.splitlines()[-1]


def test_the_config_given_after_the_command_wins(tmp_path: Path) -> None:
    result = hubpub_cli(
        "-c",
        str(tmp_path / "first.toml"),
        "validate",
        "-c",
        str(tmp_path / "second.toml"),
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "second.toml" in result.stderr
    assert "first.toml" not in result.stderr


def test_without_c_the_config_is_hubpub_toml_in_the_current_folder(tmp_path: Path) -> None:
    result = hubpub_cli("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert "hubpub.toml" in result.stderr.splitlines()[-1]


def test_every_config_error_is_its_own_line_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "hubpub.toml").write_text(
        'version = 1\n[[image]]\nname = "a"\ncontxt = "."\nrepositories = ["x/a"]\n'
        '[[image]]\nname = "b"\ncontext = "."\nrepositorys = ["x/b"]\n'
    )
    result = hubpub_cli("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hubpub: error: hubpub.toml:4: image[a].contxt: unknown key 'contxt', "
        "did you mean 'context'?",
        "hubpub: error: hubpub.toml:9: image[b].repositorys: unknown key 'repositorys', "
        "did you mean 'repositories'?",
    ]
