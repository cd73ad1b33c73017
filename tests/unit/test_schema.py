"""The JSON schema (issue 3, "Schema"): generated from the model, checked in, printed by
``hubpub schema``, and the example validates against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from hubpub.cli import main
from hubpub.commands.schema import schema_text
from hubpub.commands.validate import validate
from hubpub.config.model import ConfigFile

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "hubpub.schema.json"
EXAMPLE = ROOT / "examples" / "hubpub.toml"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_checked_in_schema_is_up_to_date() -> None:
    assert SCHEMA.read_text() == schema_text(), (
        "schemas/hubpub.schema.json is out of date: run "
        "'hubpub schema > schemas/hubpub.schema.json'"
    )


def test_schema_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["schema"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == SCHEMA.read_text()


def test_example_declares_and_matches_the_schema() -> None:
    text = EXAMPLE.read_text()
    assert text.splitlines()[0] == "#:schema ../schemas/hubpub.schema.json"
    assert (EXAMPLE.parent / "../schemas/hubpub.schema.json").resolve() == SCHEMA
    validator().validate(tomllib.loads(text))


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (
            {
                "version": 1,
                "image": [
                    {
                        "name": "a",
                        "context": ".",
                        "repositories": ["x/a"],
                        "tags": [{"preset": "semver", "patern": "x"}],
                    }
                ],
            },
            ["image", 0, "tags", 0],
        ),
        (
            {
                "version": 1,
                "image": [
                    {"name": "a", "context": ".", "repositories": ["x/a"], "latest": "sometimes"}
                ],
            },
            ["image", 0, "latest"],
        ),
        (
            {"version": 2, "image": [{"name": "a", "context": ".", "repositories": ["x"]}]},
            ["version"],
        ),
        (
            {"version": 1, "image": [{"name": "a", "contxt": ".", "repositories": ["x"]}]},
            ["image", 0],
        ),
    ],
)
def test_schema_refuses_what_the_model_refuses(
    tmp_path: Path, document: dict[str, object], path: list[object]
) -> None:
    # Each document is wrong in one place: the schema (for editors) and the model (for
    # hubpub) must both refuse it, the schema at that place.
    assert [list(error.absolute_path) for error in validator().iter_errors(document)] == [path]
    with pytest.raises(ValidationError):
        ConfigFile.model_validate(document, context={"root": tmp_path})


def test_hubpub_validate_passes_on_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy in a fresh git repository: the check must not depend on this checkout's state.
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "CI_")):
            monkeypatch.delenv(name)
    shutil.copytree(EXAMPLE.parent, tmp_path / "examples")
    shutil.copytree(SCHEMA.parent, tmp_path / "schemas")
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    summary = validate(tmp_path / "examples" / "hubpub.toml")
    assert "ok (1 image(s), 3 reference(s) for main)" in summary
