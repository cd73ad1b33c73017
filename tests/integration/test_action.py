"""The GitHub Action (``action.yml`` + ``action/run.sh``) run the way a runner runs it.

The composite action's one step is ``bash "$GITHUB_ACTION_PATH/action/run.sh"`` with the
inputs as ``INPUT_*`` variables; these tests run that script with the variables and files a
GitHub runner sets (``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_EVENT_PATH``,
``RUNNER_TEMP``...), against the suite's real engine and registry, then read the outputs file
the way the runner parses it and check the registry with skopeo.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.github import parse_outputs
from tests.helpers.project import Project, build_project

REPO_ROOT = Path(__file__).resolve().parents[2]
TAGS = (
    'tags = [{ preset = "ref", on = "branch" }, { preset = "ref", on = "pr" }, { preset = "sha" }]'
)


class Runner:
    """One job's runner: a shared RUNNER_TEMP (so the action's venv is made once per job)."""

    def __init__(self, temp: Path) -> None:
        self.temp = temp

    def run(
        self, project: Project, event: str, inputs: dict[str, str], *, pr_head: str | None = None
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
        step = self.temp / f"step-{uuid.uuid4().hex[:8]}"
        step.mkdir()
        output, summary, event_path = step / "output", step / "summary", step / "event.json"
        output.touch()
        summary.touch()
        sha = project.git("rev-parse", "HEAD")
        env = {
            **project.env,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(REPO_ROOT),
            "GITHUB_WORKSPACE": str(project.root),
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_REPOSITORY": "example/app",
            "GITHUB_SERVER_URL": "https://github.com",
            "RUNNER_TEMP": str(self.temp),
            **{f"INPUT_{name.upper().replace('-', '_')}": value for name, value in inputs.items()},
        }
        if pr_head is None:
            env |= {"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": sha}
            event_path.write_text(json.dumps({"ref": "refs/heads/main", "after": sha}))
        else:
            env |= {
                "GITHUB_REF": "refs/pull/7/merge",
                "GITHUB_SHA": sha,
                "GITHUB_HEAD_REF": "feature/x",
                "GITHUB_BASE_REF": "main",
            }
            event_path.write_text(
                json.dumps({"number": 7, "pull_request": {"number": 7, "head": {"sha": pr_head}}})
            )
        done = subprocess.run(
            ["bash", str(REPO_ROOT / "action" / "run.sh")],
            cwd=self.temp,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return done, parse_outputs(output.read_text()), summary.read_text()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(tmp_path_factory.mktemp("runner-temp"))


def make_project(
    tmp_path: Path, engine: DockerEngine, registry: Registry, base: str
) -> tuple[Project, str]:
    path = f"a{uuid.uuid4().hex[:8]}/app"
    project = build_project(
        tmp_path, engine, [f"{registry.host}/{path}"], [registry], base=base, tags=TAGS
    )
    return project, path


def redirect(registry: Registry) -> str:
    # FROM the suite's local busybox: its docker.io lookup goes to the local registry.
    return f"--redirect 'docker.io={registry.host}'"


def test_push_event_applies_and_exposes_every_written_reference(
    runner: Runner,
    tmp_path: Path,
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
) -> None:
    project, path = make_project(tmp_path, docker_engine, registry_plain, busybox_image)
    short = project.git("rev-parse", "HEAD")[:7]

    done, outputs, summary = runner.run(project, "push", {"args": redirect(registry_plain)})

    assert done.returncode == 0, done.stdout + done.stderr
    assert outputs["command"] == "apply"
    expected = {f"{registry_plain.host}/{path}:main", f"{registry_plain.host}/{path}:sha-{short}"}
    assert set(outputs["refs"].splitlines()) == expected
    digests = json.loads(outputs["digests"])
    assert set(digests) == expected
    for ref, digest in digests.items():
        assert skopeo.digest(registry_plain, ref.split("/", 1)[1]) == digest
    (digest,) = set(digests.values())
    assert json.loads(outputs["images"]) == {"app": {"digest": digest, "refs": sorted(expected)}}
    assert summary.startswith("### hubpub apply")

    # A second hubpub step of the same job reuses the action's venv: no install group.
    again, outputs, _summary = runner.run(
        project, "push", {"command": "plan", "args": f"{redirect(registry_plain)} --json"}
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "::group::install hubpub" not in again.stdout
    # plan's one output: the platform builds still needed, none (docs/ci-matrix.md)
    assert outputs == {"command": "plan", "matrix": "[]"}
    assert {c["action"] for c in json.loads(again.stdout)["changes"]} == {"noop"}


def test_pull_request_defaults_to_plan_and_publishes_nothing(
    runner: Runner,
    tmp_path: Path,
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
) -> None:
    project, path = make_project(tmp_path, docker_engine, registry_plain, busybox_image)
    head = project.git("rev-parse", "HEAD")

    done, outputs, summary = runner.run(
        project, "pull_request", {"args": redirect(registry_plain)}, pr_head=head
    )

    assert done.returncode == 0, done.stdout + done.stderr
    # plan's one output: the platform builds still needed, none (docs/ci-matrix.md)
    assert outputs == {"command": "plan", "matrix": "[]"}
    created = sorted(re.findall(r"\+ create +(\S+)", done.stdout))
    assert created == [
        f"{registry_plain.host}/{path}:pr-7",
        f"{registry_plain.host}/{path}:sha-{head[:7]}",
    ]
    assert summary.startswith("### hubpub plan")
    listed = skopeo.run(
        "list-tags", "--tls-verify=false", f"docker://{registry_plain.host}/{path}", check=False
    )
    # A repository nothing was pushed to does not exist: skopeo fails to list it.
    assert listed.returncode != 0


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
def test_apply_on_a_pull_request_is_refused_unless_allowed_twice(
    runner: Runner,
    tmp_path: Path,
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
    event: str,
) -> None:
    project, path = make_project(tmp_path, docker_engine, registry_plain, busybox_image)
    head = project.git("rev-parse", "HEAD")

    done, outputs, _summary = runner.run(
        project, event, {"command": "apply", "args": redirect(registry_plain)}, pr_head=head
    )

    assert done.returncode == 1
    assert outputs == {}
    assert f"::error title=hubpub action::command apply on a {event} event" in done.stdout
    assert "allow-pull-request-push: true" in done.stdout
    listed = skopeo.run(
        "list-tags", "--tls-verify=false", f"docker://{registry_plain.host}/{path}", check=False
    )
    assert listed.returncode != 0

    allowed, outputs, _summary = runner.run(
        project,
        event,
        {
            "command": "apply",
            "allow-pull-request-push": "true",
            "args": redirect(registry_plain),
        },
        pr_head=head,
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    short = head[:7]
    assert sorted(outputs["refs"].splitlines()) == [
        f"{registry_plain.host}/{path}:pr-7",
        f"{registry_plain.host}/{path}:sha-{short}",
    ]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": "deploy"}, "input command: 'deploy' is not one of plan, apply, build"),
        ({"args": "--only 'app"}, "input args: No closing quotation: --only 'app"),
    ],
)
def test_bad_inputs_are_one_error_annotation(
    runner: Runner,
    tmp_path: Path,
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    inputs: dict[str, str],
    message: str,
) -> None:
    project, _path = make_project(tmp_path, docker_engine, registry_plain, busybox_image)

    done, outputs, _summary = runner.run(project, "push", inputs)

    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, done.stdout
    assert message in errors[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert "refs" not in outputs


# --- the README's workflow, run step by step --------------------------------------------------


def readme_workflow() -> dict[str, Any]:
    """The first YAML block under "In GitHub Actions" in README.md."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("### In GitHub Actions", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    workflow: dict[str, Any] = yaml.safe_load(block)
    return workflow


_EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def evaluate(text: str, context: dict[str, str]) -> str:
    """``${{ name }}`` replaced from ``context``; an unknown name fails the test (the README's
    workflow uses something this runner does not know: teach it, or change the README)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in context, f"README workflow uses ${{{{ {name} }}}}"
        return context[name]

    return _EXPRESSION.sub(value, text)


def condition(expression: str, context: dict[str, str]) -> bool:
    left, op, right = expression.partition(" == ")
    assert op, f"README workflow's if: {expression!r} is not `a == 'b'`"
    return context.get(left.strip(), "") == right.strip().strip("'")


def run_readme_workflow(
    runner: Runner, project: Project, event: str, context: dict[str, str], *, pr_head: str = ""
) -> list[str]:
    """Each step of the README's job as a runner runs it; what its `run:` steps printed."""
    steps = readme_workflow()["jobs"]["hubpub"]["steps"]
    printed: list[str] = []
    for step in steps:
        if "if" in step and not condition(step["if"], context):
            continue
        env = {name: evaluate(str(value), context) for name, value in step.get("env", {}).items()}
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout@"):
            # The project is the checkout; version tags need the whole history.
            assert step["with"]["fetch-depth"] == 0
        elif uses.startswith("OWNER/hubpub@"):
            inputs = {k: evaluate(str(v), context) for k, v in step.get("with", {}).items()}
            saved = project.env
            project.env = {**saved, **env}
            try:
                done, outputs, _summary = runner.run(
                    project, event, inputs, pr_head=pr_head or None
                )
            finally:
                project.env = saved
            assert done.returncode == 0, done.stdout + done.stderr
            context |= {f"steps.{step['id']}.outputs.{k}": v for k, v in outputs.items()}
        else:
            script = evaluate(step["run"], context)
            done = subprocess.run(
                ["bash", "-e", "-c", script],
                cwd=project.root,
                env={**project.env, **env},
                capture_output=True,
                text=True,
                check=True,
            )
            printed.append(done.stdout)
    return printed


def test_the_readme_workflow_publishes_on_push_and_only_plans_on_a_pull_request(
    runner: Runner,
    tmp_path: Path,
    docker_engine: DockerEngine,
    registry_base: str,
    registry_plain: Registry,
    registry_tls: Registry,
    skopeo: ModuleType,
) -> None:
    # The README's config: the registry's credentials in REG_USER / REG_PASSWORD.
    path = f"a{uuid.uuid4().hex[:8]}/app"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{registry_tls.host}/{path}"],
        [registry_plain],  # where the base image is
        base=registry_base,
        tags=TAGS,
        extra=(
            f'\n[registries."{registry_tls.host}"]\nca_file = "{registry_tls.ca_file}"\n'
            'username_env = "REG_USER"\npassword_env = "REG_PASSWORD"\n'
        ),
    )
    context = {
        "github.actor": registry_tls.username or "",
        "secrets.GITHUB_TOKEN": registry_tls.password or "",
    }
    head = project.git("rev-parse", "HEAD")

    printed = run_readme_workflow(runner, project, "pull_request", dict(context), pr_head=head)
    assert printed == []  # the last step runs after an apply only
    listed = skopeo.run(
        "list-tags",
        *skopeo.flags(registry_tls),
        f"docker://{registry_tls.host}/{path}",
        check=False,
    )
    assert listed.returncode != 0  # nothing was pushed from the pull request

    printed = run_readme_workflow(runner, project, "push", dict(context))
    expected = [f"{registry_tls.host}/{path}:main", f"{registry_tls.host}/{path}:sha-{head[:7]}"]
    assert sorted(printed[0].split()) == sorted(expected)
    for ref in expected:
        assert skopeo.digest(registry_tls, ref.split("/", 1)[1])


def test_a_pull_request_may_build_without_publishing(
    runner: Runner,
    tmp_path: Path,
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
) -> None:
    project, path = make_project(tmp_path, docker_engine, registry_plain, busybox_image)
    head = project.git("rev-parse", "HEAD")

    done, outputs, _summary = runner.run(
        project,
        "pull_request",
        {"command": "build", "args": redirect(registry_plain)},
        pr_head=head,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert outputs["command"] == "build"
    assert "Build: 1 built, 0 failed; nothing pushed." in done.stdout
    listed = skopeo.run(
        "list-tags", "--tls-verify=false", f"docker://{registry_plain.host}/{path}", check=False
    )
    assert listed.returncode != 0
