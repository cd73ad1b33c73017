"""The commands of src/hubpub/commands, as a user meets them.

``hubpub tags`` and ``hubpub validate`` end to end through ``cli.main`` (docs/config.md),
in a real git repository, with the process environment under the test's control. The JSON
schema (docs/config.md): generated from the model, checked in, printed by ``hubpub schema``,
and the example validates against it. What ``hubpub apply`` refuses with a saved plan.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from hubpub.cli import main
from hubpub.commands.schema import schema_text
from hubpub.commands.validate import validate
from hubpub.config.model import ConfigFile

# --- hubpub tags and hubpub validate --------------------------------------------------------------


CONFIG = """\
version = 1

[[image]]
name = "figlet"
context = "figlet"
repositories = ["jpetazzo/figlet", "ghcr.io/jpetazzo/figlet"]
tags = [{ preset = "sha" }, { preset = "semver" }, { preset = "ref" }]

[[image]]
name = "figlet-promoted"
source = "docker.io/jpetazzo/figlet:sha-{{ git.short_sha }}"
repositories = ["quay.io/jpetazzo/figlet"]
tags = [{ preset = "semver" }]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with a commit tagged v1.2.3 checked out on main, as the cwd; no CI
    variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "CI_", "GIT_")) or name == "GITLAB_CI":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = tmp_path / "project"
    (root / "figlet").mkdir(parents=True)
    (root / "figlet" / "Dockerfile").write_text("FROM scratch\n")
    (root / "hubpub.toml").write_text(CONFIG)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["commit", "-q", "-m", "one"],
        ["tag", "v1.2.3"],
    ):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    monkeypatch.chdir(root)
    return root


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    code = caught.value.code
    return code if isinstance(code, int) else 0


def sha(root: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_tags_json_exact(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("tags", "--json", "--ref", "refs/tags/v1.2.3") == 0
    short = sha(project)[:7]
    expected = {
        "images": [
            {
                "name": "figlet",
                "refs": [
                    f"{repo}:{tag}"
                    for repo in ("docker.io/jpetazzo/figlet", "ghcr.io/jpetazzo/figlet")
                    for tag in ("1.2.3", "1.2", "1", "v1.2.3", f"sha-{short}", "latest")
                ],
            },
            {
                "name": "figlet-promoted",
                "refs": [f"quay.io/jpetazzo/figlet:{t}" for t in ("1.2.3", "1.2", "1", "latest")],
            },
        ]
    }
    assert json.loads(capsys.readouterr().out) == expected


def test_tags_text_on_branch_with_only(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("tags", "--only", "figlet") == 0
    out = capsys.readouterr().out
    short = sha(project)[:7]
    assert out.splitlines() == [
        "figlet (version main)",
        "  docker.io/jpetazzo/figlet:main  # tags[2] (preset ref)",
        f"  docker.io/jpetazzo/figlet:sha-{short}  # tags[0] (preset sha)",
        "  ghcr.io/jpetazzo/figlet:main  # tags[2] (preset ref)",
        f"  ghcr.io/jpetazzo/figlet:sha-{short}  # tags[0] (preset sha)",
    ]


def test_tags_sha_option(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = "b" * 40
    assert (
        run(
            "tags",
            "--json",
            "--sha",
            other,
            "--only",
            "figlet-promoted",
            "--ref",
            "refs/tags/v1.2.3",
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["images"][0]["refs"][0] == (
        "quay.io/jpetazzo/figlet:1.2.3"
    )


def test_github_output(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "github_output"
    output.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_REF", "refs/tags/v1.2.3")
    monkeypatch.setenv("GITHUB_SHA", sha(project))
    assert run("tags", "--only", "figlet-promoted") == 0
    text = output.read_text()
    assert text.startswith("earlier=1\n")
    found = dict(
        (m[1], m[3]) for m in re.finditer(r"(\w+)<<(ghadelimiter_[\w-]+)\n(.*?)\n\2\n", text, re.S)
    )
    assert found["tags"].splitlines() == [
        f"quay.io/jpetazzo/figlet:{t}" for t in ("1.2.3", "1.2", "1", "latest")
    ]
    assert json.loads(found["json"])["images"][0]["name"] == "figlet-promoted"
    assert found["version"] == "1.2.3"
    capsys.readouterr()


def test_errors_are_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "hubpub.toml").write_text(CONFIG.replace('{ preset = "ref" }', '{ preset = "rf" }'))
    assert run("tags") == 1
    err = capsys.readouterr().err
    assert err == (
        "hubpub: error: hubpub.toml:7: image[figlet].tags[2]: unknown preset 'rf', "
        "did you mean 'ref'?\n"
    )
    assert run("tags", "--only", "nope", "-c", "missing.toml") == 1
    assert capsys.readouterr().err.startswith("hubpub: error: missing.toml: no such file")


def test_unknown_only(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("tags", "--only", "figlett") == 1
    assert "did you mean 'figlet'?" in capsys.readouterr().err


def test_validate(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate") == 0
    # figlet-promoted has only a semver rule: on a branch it publishes nothing, which is said.
    assert capsys.readouterr().out == (
        "hubpub.toml: ok (2 image(s), 4 reference(s) for main); no tag rule applies to "
        "figlet-promoted on main\n"
    )
    (project / "figlet" / "Dockerfile").unlink()
    assert run("validate", "-c", "hubpub.toml") == 1
    assert capsys.readouterr().err == (
        "hubpub: error: hubpub.toml:3: image[figlet].dockerfile: no file figlet/Dockerfile "
        "(dockerfile is relative to the context, as on Docker Hub)\n"
    )


def test_validate_runtime_template_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "hubpub.toml").write_text(
        textwrap.dedent(
            """\
            version = 1
            [[image]]
            name = "figlet"
            context = "figlet"
            repositories = ["jpetazzo/figlet"]
            tags = ["{{ git.ref }}"]
            """
        )
    )
    assert run("validate") == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "hubpub: error: hubpub.toml:6: image 'figlet', tags[0]: 'refs/heads/main' is not a valid"
    )
    assert "| slug" in err
    assert "Traceback" not in err


def test_not_a_git_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "CI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "hubpub.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path / "plain")
    assert run("tags") == 1
    assert "not in a git repository" in capsys.readouterr().err
    assert run("tags", "--json", "--ref", "refs/heads/main", "--sha", "c" * 40) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["images"][0]["refs"][0] == "docker.io/jpetazzo/figlet:main"


def test_validate_checks_ca_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = CONFIG.replace(
        "version = 1\n", 'version = 1\n[registries."localhost:5000"]\nca_file = "certs/ca.pem"\n'
    )
    (project / "hubpub.toml").write_text(text)
    assert run("validate") == 1
    assert capsys.readouterr().err == (
        "hubpub: error: hubpub.toml:3: registries[localhost:5000].ca_file: no file certs/ca.pem\n"
    )
    (project / "certs").mkdir()
    (project / "certs" / "ca.pem").write_text("x")
    # Not PEM: said here, rather than as a TLS failure blamed on the registry later.
    assert run("validate") == 1
    assert capsys.readouterr().err == (
        "hubpub: error: hubpub.toml:3: registries[localhost:5000].ca_file: certs/ca.pem holds "
        "no PEM certificate (give the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----))\n"
    )
    (project / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nx\n")
    assert run("validate") == 0


@pytest.mark.parametrize(
    ("dockerfile", "extra", "expected"),
    [
        (
            "FROM scratch AS build\nFROM scratch AS runtime\n",
            'target = "runtme"\n',
            "hubpub.toml:6: image[figlet].target: figlet/Dockerfile: target 'runtme' is not "
            "one of its stages (build, runtime)",
        ),
        (
            "ARG BASE\nFROM ${BASE}\n",
            "",
            "figlet/Dockerfile:2: image[figlet]: FROM ${BASE}: build arg BASE is not set (set "
            "it in the image's build_args, or give the ARG a default before the first FROM)",
        ),
        ("# only a comment\n", "", "figlet/Dockerfile: image[figlet]: cannot parse it: file "),
        ("RUN true\n", "", "figlet/Dockerfile: image[figlet]: no FROM instruction"),
    ],
)
def test_validate_checks_the_dockerfile_without_an_engine(
    project: Path, capsys: pytest.CaptureFixture[str], dockerfile: str, extra: str, expected: str
) -> None:
    (project / "figlet" / "Dockerfile").write_text(dockerfile)
    text = CONFIG.replace('context = "figlet"\n', f'context = "figlet"\n{extra}', 1)
    (project / "hubpub.toml").write_text(text)
    assert run("validate") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"hubpub: error: {expected}")
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_validate_accepts_a_from_whose_arg_is_set(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "figlet" / "Dockerfile").write_text(
        "ARG BASE\nARG TAG=1\nFROM ${BASE}:${TAG} AS build\nFROM ${NOPE:-scratch}\n"
    )
    text = CONFIG.replace(
        'context = "figlet"\n', 'context = "figlet"\nbuild_args = { BASE = "busybox" }\n', 1
    )
    (project / "hubpub.toml").write_text(text)
    assert run("validate") == 0, capsys.readouterr().err


def test_latest_auto_refuses_to_guess_in_a_shallow_clone(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A backport v1.2.3 released after v2.0.0, built from a shallow clone of its tag (what
    actions/checkout does by default): the clone knows no v2.0.0, so latest = "auto" would
    move latest to the backport. hubpub refuses, and says how to fetch the tags; a full clone
    decides as usual."""
    env = {**os.environ, "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}
    env |= {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com"}

    def git(*args: str, cwd: Path = project) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    git("commit", "-q", "--allow-empty", "-m", "two")
    git("tag", "v2.0.0")
    (project / "hubpub.toml").write_text(CONFIG.replace(', { preset = "ref" }', ""))
    git("add", ".")
    git("commit", "-q", "-m", "config")
    git("tag", "-f", "v1.2.3")  # the backport's tag, on the newest commit
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", "--branch", "v1.2.3", f"file://{project}", str(shallow))
    os.chdir(shallow)
    capsys.readouterr()
    assert run("tags", "--ref", "refs/tags/v1.2.3", "--only", "figlet") == 1
    err = capsys.readouterr().err.strip()
    # The semver preset's floating tags (1, 1.2) follow the same rule as latest = "auto"
    # (docs/config.md, "Tags only move forward"), and are decided first.
    assert re.fullmatch(
        r"hubpub: error: .*hubpub\.toml:\d+: image 'figlet', tags\[\d\]: the floating tag "
        r"'1\.2' goes to the highest version that makes it, which compares v1\.2\.3 with every "
        r"version tag, but this clone is shallow .*fetch-depth: 0.*",
        err,
    ), err
    assert "\n" not in err

    full = tmp_path / "full"
    git("clone", "-q", f"file://{project}", str(full))
    os.chdir(full)
    assert run("tags", "--json", "--ref", "refs/tags/v1.2.3", "--only", "figlet") == 0
    refs = json.loads(capsys.readouterr().out)["images"][0]["refs"]
    assert not any(ref.endswith(":latest") for ref in refs)  # 2.0.0 is higher


# --- hubpub schema --------------------------------------------------------------------------------


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


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_platform_that_is_not_os_arch_is_refused_before_anything_runs(
    tmp_path: Path, command: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hubpub", command, "--platform", "arm64"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert "--platform" in done.stderr
    assert "expected a platform 'os/arch'" in done.stderr
    assert len(lines) == 1, lines


def test_a_saved_plan_keeps_its_platform(tmp_path: Path) -> None:
    plan = tmp_path / "x.plan"
    plan.write_text("{}")
    done = subprocess.run(
        [sys.executable, "-m", "hubpub", "apply", str(plan), "--platform", "linux/arm64"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("hubpub: error: --platform: not allowed with a saved plan")


# --- hubpub apply ---------------------------------------------------------------------------------


def test_saved_plan_refuses_options_it_records(tmp_path: Path) -> None:
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
