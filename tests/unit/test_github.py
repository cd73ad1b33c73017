"""What apply writes for GitHub Actions: the step summary and the step outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hubpub.executor import ApplyResult, TaskResult, tasks_for
from hubpub.github import annotate, annotation, group
from hubpub.report import final_digests, write_github
from tests.helpers.github import parse_outputs
from tests.helpers.plans import D_SRC, FAR, R, sample_plan


def test_github_summary_and_outputs(tmp_path: Path) -> None:
    plan, _ = sample_plan()
    tasks = tasks_for(plan)
    digest = "sha256:" + "d" * 64
    results = tuple(
        TaskResult(t, "done", digest=("sha256:" + "e" * 64) if t.kind == "build" else digest)
        for t in tasks
    )
    result = ApplyResult(plan, results)
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    write_github({"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}, plan, result)
    text = summary.read_text()
    assert text.startswith("### hubpub apply\n")
    assert "- build **app**: content changed" in text
    assert f"| app | `{R}:latest` | update (tag) | `sha256:dddddddddddd` | done |" in text
    assert f"| web | `{FAR}:web` | unchanged | `sha256:cccccccccccc` | unchanged |" in text
    assert "Plan: 1 build, 3 to create, 1 to update, 1 unchanged." in text

    outputs = parse_outputs(output.read_text())
    written = [f"{R}:1.2.3", f"{R}:latest", f"{R}:sha-abc1234", f"{FAR}:latest"]
    # Every desired reference, changed or not (web's tag was already there): a later step
    # (sign, deploy) gets them all; `changed` is what this run wrote.
    assert outputs["refs"].splitlines() == [*written, f"{FAR}:web"]
    assert outputs["changed"].splitlines() == written
    assert json.loads(outputs["digests"]) == {
        **dict.fromkeys(written, digest),
        f"{FAR}:web": D_SRC,
    }
    assert json.loads(outputs["json"])["digests"] == json.loads(outputs["digests"])
    images = json.loads(outputs["images"])
    assert images["app"]["digest"] == digest
    assert images["web"] == {"digest": D_SRC, "refs": [f"{FAR}:web"]}


def test_a_no_change_apply_still_names_every_reference(tmp_path: Path) -> None:
    plan, _ = sample_plan()
    web_only = [image for image in plan.images if image.name == "web"]
    quiet = type(plan)(tuple(web_only))
    output = tmp_path / "output"
    write_github({"GITHUB_OUTPUT": str(output)}, quiet, ApplyResult(quiet, ()))
    outputs = parse_outputs(output.read_text())
    assert outputs["refs"] == f"{FAR}:web"
    assert json.loads(outputs["digests"]) == {f"{FAR}:web": D_SRC}
    assert outputs["changed"] == ""


def test_the_summary_of_a_failed_apply_says_what_failed_and_why(tmp_path: Path) -> None:
    plan, _ = sample_plan()
    results = []
    for task in tasks_for(plan):
        if task.kind == "build":
            results.append(TaskResult(task, "failed", error="step RUN make:\nexit code 2"))
        else:
            results.append(TaskResult(task, "not-started", error="not started: build failed"))
    summary = tmp_path / "summary.md"
    write_github({"GITHUB_STEP_SUMMARY": str(summary)}, plan, ApplyResult(plan, tuple(results)))
    text = summary.read_text()
    assert "**Failed:**\n\n- build app: step RUN make: exit code 2\n" in text
    row = next(line for line in text.splitlines() if f"`{R}:sha-abc1234`" in line)
    assert row.endswith("|  | not-started |"), row
    assert "``" not in text


def test_outputs_after_a_partial_failure_name_only_the_tags_that_point_there() -> None:
    plan, _ = sample_plan()
    pushed = "sha256:" + "f" * 64
    results = []
    for task in tasks_for(plan):
        if task.kind == "build":
            results.append(TaskResult(task, "done", digest="sha256:" + "e" * 64))
        elif task.kind == "push":
            results.append(TaskResult(task, "done", digest=pushed))
        else:
            results.append(TaskResult(task, "failed", error="refused"))
    push_ref = next(str(t.ref) for t in tasks_for(plan) if t.kind == "push")
    images = final_digests(ApplyResult(plan, tuple(results)))
    assert images["app"] == {"digest": pushed, "refs": [push_ref]}
    assert images["web"] == {"digest": D_SRC, "refs": [f"{FAR}:web"]}


@pytest.mark.parametrize(
    ("level", "message", "expected"),
    [
        (
            "error",
            "hubpub.toml:4: image[a].contxt: unknown key 'contxt', did you mean 'context'?",
            "::error title=hubpub,file=hubpub.toml,line=4::hubpub.toml:4: image[a].contxt: "
            "unknown key 'contxt', did you mean 'context'?",
        ),
        (
            "error",
            "ci/hubpub.toml:3:8: invalid value (TOML syntax)",
            "::error title=hubpub,file=ci/hubpub.toml,line=3,col=8::ci/hubpub.toml:3:8: "
            "invalid value (TOML syntax)",
        ),
        (
            "warning",
            "image 'app': 100% of\nits files: changed",
            "::warning title=hubpub::image 'app': 100%25 of%0Aits files: changed",
        ),
        (
            "error",
            "localhost:5000: refused",  # a registry's port is not a line number
            "::error title=hubpub::localhost:5000: refused",
        ),
    ],
)
def test_annotations_name_the_file_and_line_a_message_starts_with(
    level: str, message: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ci").mkdir()
    for name in ("hubpub.toml", "ci/hubpub.toml"):
        (tmp_path / name).write_text("")
    assert annotation(level, message) == expected


def test_annotations_only_under_github_actions() -> None:
    out = io.StringIO()
    annotate({}, "error", ["x"], stream=out)
    assert out.getvalue() == ""
    annotate({"GITHUB_ACTIONS": "true"}, "error", ["x", "y"], stream=out)
    assert out.getvalue() == "::error title=hubpub::x\n::error title=hubpub::y\n"


def test_a_group_cannot_be_ended_by_the_log_it_holds() -> None:
    text = group("hubpub: build app (done, 1.0s)", ["step 1", "::endgroup::", "::error::x"])
    lines = text.splitlines()
    assert lines[0] == "::group::hubpub: build app (done, 1.0s)"
    token = lines[1].removeprefix("::stop-commands::")
    assert lines[2:5] == ["step 1", "::endgroup::", "::error::x"]
    assert lines[5:] == [f"::{token}::", "::endgroup::"]
