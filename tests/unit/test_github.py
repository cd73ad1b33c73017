"""What apply writes for GitHub Actions: the step summary and the step outputs."""

from __future__ import annotations

import json
from pathlib import Path

from hubpub.executor import ApplyResult, TaskResult, tasks_for
from hubpub.report import final_digests, write_github
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

    lines = output.read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith("refs<<")))
    marker = lines[start].split("<<", 1)[1]
    end = lines.index(marker, start + 1)
    assert lines[start + 1 : end] == [
        f"{R}:1.2.3",
        f"{R}:latest",
        f"{R}:sha-abc1234",
        f"{FAR}:latest",
    ]
    digests = json.loads(next(line for line in lines if line.startswith("digests="))[8:])
    assert digests == {
        f"{R}:1.2.3": digest,
        f"{R}:latest": digest,
        f"{R}:sha-abc1234": digest,
        f"{FAR}:latest": digest,
    }
    images = json.loads(next(line for line in lines if line.startswith("images="))[7:])
    assert images["app"]["digest"] == digest
    assert images["web"] == {"digest": D_SRC, "refs": [f"{FAR}:web"]}


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
