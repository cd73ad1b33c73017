"""What surrounds the planner without I/O: the report text and JSON, saved plans, the task
graph of apply and how a failure spreads through it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubpub.errors import PlanError
from hubpub.executor import ApplyResult, NoProgress, Task, TaskResult, run_graph, tasks_for
from hubpub.planfile import PlanOptions, SavedPlan, load, save
from hubpub.planner import ImageSpec, Observed, Plan, TargetTag, make_plan
from hubpub.reference import parse_reference
from hubpub.report import (
    final_digests,
    plan_json,
    render_plan,
    render_result,
    summary_line,
    write_github,
)

D_OLD = "sha256:" + "a" * 64
D_SRC = "sha256:" + "c" * 64
KEY = "sha256:" + "1" * 64
KEY_OLD = "sha256:" + "2" * 64
R = "reg.example:5000/team/app"
FAR = "far.example/team/app"


def ref(text: str):  # type: ignore[no-untyped-def]
    return parse_reference(text)


def sample_plan() -> tuple[Plan, Observed]:
    images = [
        ImageSpec(
            "app",
            (
                TargetTag(ref(f"{R}:1.2.3"), immutable=True, rule="tags[0] (preset semver)"),
                TargetTag(ref(f"{R}:latest")),
                TargetTag(ref(f"{R}:sha-abc1234")),
                TargetTag(ref(f"{FAR}:latest")),
            ),
        ),
        ImageSpec("web", (TargetTag(ref(f"{FAR}:web")),), source=ref(f"{R}:rc")),
    ]
    observed = Observed(
        tags={
            ref(f"{R}:1.2.3"): None,
            ref(f"{R}:latest"): D_OLD,
            ref(f"{R}:sha-abc1234"): None,
            ref(f"{FAR}:latest"): None,
            ref(f"{FAR}:web"): D_SRC,
        },
        labels={D_OLD: KEY_OLD},
        content_keys={"app": KEY},
        sources={"web": D_SRC},
    )
    return make_plan(images, observed), observed


def test_text_report_is_grouped_by_image_with_a_summary() -> None:
    plan, _ = sample_plan()
    text = render_plan(plan)
    lines = text.splitlines()
    assert lines[0] == "image app"
    assert lines[1] == "  * build: content changed: no target holds content key sha256:111111111111"
    assert any(line.startswith(f"  + create    {R}:1.2.3") and "via push" in line for line in lines)
    assert any(
        line.startswith(f"  ~ update    {R}:latest")
        and "sha256:aaaaaaaaaaaa → (known after build)" in line
        for line in lines
    )
    assert f"image web (promoted from {R}:rc)" in lines
    assert any(line.startswith(f"  = unchanged {FAR}:web") for line in lines)
    assert lines[-1] == "Plan: 1 build, 3 to create, 1 to update, 1 unchanged."


def test_summary_line_counts_conflicts() -> None:
    images = [ImageSpec("app", (TargetTag(ref(f"{R}:1.0.0"), immutable=True),))]
    observed = Observed(tags={ref(f"{R}:1.0.0"): D_OLD}, content_keys={"app": KEY})
    plan = make_plan(images, observed)
    assert (
        summary_line(plan.summary)
        == "Plan: 1 build, 0 to create, 0 to update, 0 unchanged, 1 conflict."
    )
    assert "! conflict  " in render_plan(plan)
    with pytest.raises(PlanError, match=r"immutable tag .*1\.0\.0 already points to sha256:a"):
        tasks_for(plan)
    assert [t.kind for t in tasks_for(plan, allow_overwrite=True)] == ["build", "push"]


def test_json_has_exactly_the_issue_format() -> None:
    plan, _ = sample_plan()
    data = plan_json(plan)
    assert set(data) == {"format_version", "builds", "changes"}
    assert data["format_version"] == 1
    assert data["builds"] == [
        {
            "image": "app",
            "reason": "content changed: no target holds content key sha256:111111111111",
        }
    ]
    for change in data["changes"]:
        assert set(change) == {"image", "ref", "action", "via", "current", "desired"}
    by_ref = {c["ref"]: c for c in data["changes"]}
    assert by_ref[f"{R}:latest"] == {
        "image": "app",
        "ref": f"{R}:latest",
        "action": "update",
        "via": "tag",
        "current": D_OLD,
        "desired": None,
    }
    assert by_ref[f"{FAR}:web"]["via"] is None
    json.dumps(data)


def test_saved_plan_round_trips(tmp_path: Path) -> None:
    plan, observed = sample_plan()
    saved = SavedPlan(
        plan, observed, "sha256:" + "f" * 64, "0" * 40, PlanOptions(ref="refs/tags/v1.2.3")
    )
    path = tmp_path / "plan.json"
    save(saved, path)
    assert load(path) == saved
    data = json.loads(path.read_text())
    assert data["format_version"] == 1
    data["format_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError, match="plan format 99"):
        load(path)


def _first_change(data: dict[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = data["images"][0]["changes"][0]
    return change


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            lambda d: d.pop("observed"),
            "is not a valid hubpub plan file: missing key 'observed'",
        ),
        (
            lambda d: d["observed"].update(tags=[]),
            "is not a valid hubpub plan file: 'list' object has no attribute 'items'",
        ),
        (
            lambda d: _first_change(d).update(ref="Bad Ref"),
            "is not a valid hubpub plan file: invalid image reference 'Bad Ref'",
        ),
        (
            lambda d: _first_change(d).update(action="delete"),
            "is not a valid hubpub plan file: unexpected value 'delete'",
        ),
        (
            lambda d: d.update(images=None),
            "is not a valid hubpub plan file: 'NoneType' object is not iterable",
        ),
    ],
)
def test_a_broken_plan_file_is_one_located_error(
    tmp_path: Path, content: str | bytes | Callable[[dict[str, Any]], object], problem: str
) -> None:
    # Each used to be an internal error, a repr, or a message without the file's name.
    plan, observed = sample_plan()
    path = tmp_path / "plan.json"
    save(SavedPlan(plan, observed, "sha256:" + "f" * 64, "0" * 40), path)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        data = json.loads(path.read_text())
        content(data)
        path.write_text(json.dumps(data))
    with pytest.raises(PlanError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path} {problem}")
    assert message.endswith(f"(make it again with 'hubpub plan --out {path}')")
    assert "\n" not in message


CONFIG_TOML = 'version = 1\n\n[[image]]\nname = "app"\ncontext = "."\n'


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (CONFIG_TOML, "is not a hubpub plan file (not JSON: Expecting value at line 1 column 1)"),
        (
            "{not json",
            "is not a hubpub plan file (not JSON: Expecting property name enclosed in double "
            "quotes at line 1 column 2)",
        ),
        (b"\xff\xfe", "is not a hubpub plan file (not text)"),
        ("[]", "is not a hubpub plan file (no format_version)"),
        ('{"format_version": 1}', "is not a hubpub plan file (none of a plan's keys)"),
    ],
)
def test_a_file_that_is_no_plan_is_not_to_be_made_again(
    tmp_path: Path, content: str | bytes, problem: str
) -> None:
    # 'hubpub apply hubpub.toml' used to advise 'hubpub plan --out hubpub.toml', which replaced
    # the config with a plan: a file that is no plan is told apart, and what PLANFILE is said.
    path = tmp_path / "hubpub.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(PlanError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path} {problem}")
    assert "plan --out " + str(path) not in message
    assert message.endswith(
        "(a PLANFILE is what 'hubpub plan --out FILE' writes; if hubpub.toml is the config, "
        f"give it with -c: 'hubpub apply -c {path}')"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    "content",
    [CONFIG_TOML, "{not json", b"\xff\xfe", "", "[]", '{"format_version": 1, "name": "x"}'],
)
def test_saving_a_plan_never_replaces_another_file(tmp_path: Path, content: str | bytes) -> None:
    plan, observed = sample_plan()
    path = tmp_path / "hubpub.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    before = path.read_bytes()
    with pytest.raises(PlanError) as caught:
        save(SavedPlan(plan, observed, "sha256:" + "f" * 64, "0" * 40), path)
    assert str(caught.value) == (
        f"{path} exists and is not a hubpub plan file: not replacing it with the plan "
        "(choose another path for --out, or delete that file first)"
    )
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["hubpub.toml"]  # no temp file left


def test_saving_a_plan_never_replaces_a_fifo(tmp_path: Path) -> None:
    # Opening a FIFO to look at it would block until a writer came.
    path = tmp_path / "pipe"
    os.mkfifo(path)
    plan, observed = sample_plan()
    with pytest.raises(PlanError, match="exists and is not a hubpub plan file"):
        save(SavedPlan(plan, observed, "sha256:" + "f" * 64, "0" * 40), path)


@pytest.mark.parametrize(
    "older",
    [
        lambda d: d,
        lambda d: {**d, "format_version": 99},  # another hubpub's
        lambda d: {k: v for k, v in d.items() if k != "observed"},  # damaged: load says so
        lambda d: {"format_version": 1, "builds": [], "changes": []},  # 'plan --json' output
    ],
)
def test_saving_a_plan_replaces_a_plan(
    tmp_path: Path, older: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    plan, observed = sample_plan()
    path = tmp_path / "plan.json"
    save(SavedPlan(plan, observed, "sha256:" + "e" * 64, "1" * 40), path)
    path.write_text(json.dumps(older(json.loads(path.read_text()))))
    saved = SavedPlan(plan, observed, "sha256:" + "f" * 64, "0" * 40)
    save(saved, path)
    assert load(path) == saved
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_task_graph_pushes_once_then_tags_and_copies() -> None:
    plan, _ = sample_plan()
    tasks = {t.id: t for t in tasks_for(plan)}
    assert tasks[f"push {R}:1.2.3"].deps == ("build app",)
    assert tasks[f"tag {R}:latest"].deps == (f"push {R}:1.2.3",)
    assert tasks[f"copy {FAR}:latest"].deps == (f"push {R}:1.2.3",)
    assert not any(t.ref == ref(f"{FAR}:web") for t in tasks.values())  # noop: no task


@pytest.mark.parametrize(
    ("source_digest", "copy_deps"),
    [
        (D_SRC, ()),  # a promotion: the source's digest is known before apply
        (None, (f"push {R}:1.2.3",)),  # a build: the copy waits for the push
    ],
)
def test_tags_after_a_copy_into_their_repository_wait_only_for_its_content(
    source_digest: str | None, copy_deps: tuple[str, ...]
) -> None:
    """Promotion to N tags of another repository: one copy moves the content; the other tags
    need that content, not the copy's own tag PUT (a round trip saved, issue 5)."""
    tags = [TargetTag(ref(f"{FAR}:{n}")) for n in ("1", "2", "3")]
    if source_digest is None:
        images = [ImageSpec("app", (TargetTag(ref(f"{R}:1.2.3")), *tags))]
        missing = {t.ref: None for t in (*tags, TargetTag(ref(f"{R}:1.2.3")))}
        observed = Observed(tags=missing, content_keys={"app": KEY})
    else:
        images = [ImageSpec("web", tuple(tags), source=ref(f"{R}:rc"))]
        observed = Observed(tags={t.ref: None for t in tags}, sources={"web": D_SRC})
    tasks = {t.id: t for t in tasks_for(make_plan(images, observed))}
    copy = tasks[f"copy {FAR}:1"]
    assert copy.deps == copy_deps
    for n in ("2", "3"):
        tag = tasks[f"tag {FAR}:{n}"]
        assert (tag.deps, tag.content_of) == (copy_deps, copy.id)


def test_a_failure_stops_only_its_dependents() -> None:
    plan, _ = sample_plan()
    tasks = tasks_for(plan)
    seen: list[str] = []

    def work(task: Task, deps: list[TaskResult]) -> str:  # type: ignore[type-arg]
        seen.append(task.id)
        if task.kind == "push":
            raise PlanError("push refused")
        return D_OLD

    extra = Task("copy other", "copy", "other", ref(f"{FAR}:other"))
    results = run_graph([*tasks, extra], work, NoProgress(), max_workers=4)  # type: ignore[arg-type]
    status = {task_id: r.status for task_id, r in results.items()}
    assert status["build app"] == "done"
    assert status[f"push {R}:1.2.3"] == "failed"
    assert results[f"push {R}:1.2.3"].error == "push refused"
    assert status[f"tag {R}:latest"] == "not-started"
    assert status[f"copy {FAR}:latest"] == "not-started"
    assert status["copy other"] == "done"
    assert f"tag {R}:latest" not in seen


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


def test_result_report_lists_done_failed_not_started() -> None:
    plan, _ = sample_plan()
    tasks = tasks_for(plan)
    results = []
    for task in tasks:
        if task.kind == "build":
            results.append(TaskResult(task, "done", digest="sha256:" + "e" * 64, seconds=1.5))
        elif task.kind == "push":
            results.append(TaskResult(task, "failed", error="push refused"))
        else:
            results.append(TaskResult(task, "not-started", error="not started: push failed"))
    text = render_result(ApplyResult(plan, tuple(results)))
    assert "  done        build app" in text
    assert f"  failed      push {R}:1.2.3" in text
    assert "push refused" in text
    assert text.splitlines()[-1] == "Apply: 1 done, 1 failed, 3 not started."


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


def test_a_platform_warning_shows_in_text_json_summary_and_saved_plans(tmp_path: Path) -> None:
    plan, observed = sample_plan()
    observed = Observed(
        tags=observed.tags,
        labels=observed.labels,
        content_keys=observed.content_keys,
        sources=observed.sources,
        indexes=frozenset({D_OLD}),  # R:latest is multi-platform today
    )
    images = [
        ImageSpec(
            "app",
            (TargetTag(ref(f"{R}:latest")), TargetTag(ref(f"{R}:sha-abc1234"))),
        )
    ]
    plan = make_plan(images, observed)
    lines = render_plan(plan).splitlines()
    at = lines.index(next(line for line in lines if f"{R}:latest" in line))
    assert lines[at + 1] == (
        "      warning: it points to a multi-platform index now; after this change it serves "
        "one platform only"
    )
    assert sum("warning:" in line for line in lines) == 1
    assert plan_json(plan)["warnings"] == [
        {"ref": f"{R}:latest", "warning": plan.changes[0].warning}
    ]
    summary = tmp_path / "summary.md"
    write_github({"GITHUB_STEP_SUMMARY": str(summary)}, plan)
    assert f"> [!WARNING]\n> `{R}:latest`: it points to a multi-platform index" in (
        summary.read_text()
    )
    path = tmp_path / "plan.json"
    save(SavedPlan(plan, observed, "sha256:" + "f" * 64, "0" * 40), path)
    again = load(path)
    assert again.plan == plan
    assert again.observed.indexes == frozenset({D_OLD})
