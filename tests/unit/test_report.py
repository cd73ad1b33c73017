"""The report of a plan and of an apply, as text and as JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hubpub.errors import PlanError
from hubpub.executor import ApplyResult, TaskResult, tasks_for
from hubpub.planfile import SavedPlan, load, save
from hubpub.planner import ImageSpec, Observed, TargetTag, make_plan
from hubpub.report import (
    PlainProgress,
    plan_json,
    render_builds,
    render_plan,
    render_result,
    summary_line,
    write_github,
)
from tests.helpers.plans import D_OLD, FAR, KEY, R, ref, sample_plan


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


def test_the_platforms_of_a_build_show_in_text_json_and_saved_plans(tmp_path: Path) -> None:
    _plan, observed = sample_plan()
    platforms = ("linux/amd64", "linux/arm64")
    images = [ImageSpec("app", (TargetTag(ref(f"{R}:sha-abc1234")),), platforms=platforms)]
    plan = make_plan(images, Observed(tags={}, content_keys={"app": "sha256:" + "1" * 64}))
    assert "  * platforms: linux/amd64, linux/arm64" in render_plan(plan).splitlines()
    assert plan_json(plan)["builds"][0]["platforms"] == list(platforms)
    path = tmp_path / "plan.json"
    save(SavedPlan(plan, observed, "sha256:" + "f" * 64, "0" * 40), path)
    assert load(path).plan.builds[0].platforms == platforms
    single = make_plan(
        [ImageSpec("app", (TargetTag(ref(f"{R}:sha-abc1234")),))],
        Observed(tags={}, content_keys={"app": "sha256:" + "1" * 64}),
    )
    assert "platforms" not in plan_json(single)["builds"][0]  # the format as before


def test_ci_lines_call_a_build_result_an_image_id_and_a_push_result_a_digest() -> None:
    plan, _ = sample_plan()
    tasks = tasks_for(plan)
    out = io.StringIO()
    progress = PlainProgress(out)
    build = next(t for t in tasks if t.kind == "build")
    push = next(t for t in tasks if t.kind == "push")
    progress.finished(TaskResult(build, "done", digest="sha256:" + "e" * 64, seconds=1.0))
    progress.finished(TaskResult(push, "done", digest="sha256:" + "d" * 64, seconds=0.5))
    assert out.getvalue().splitlines() == [
        "hubpub: build app: done image ID sha256:eeeeeeeeeeee (1.0s)",
        f"hubpub: push {push.ref}: done sha256:{'d' * 64} (0.5s)",
    ]


def test_each_build_says_which_builder_builds_it_when_told() -> None:
    plan, _ = sample_plan()
    lines = render_plan(plan, {"app": "BuildKit"}).splitlines()
    assert lines[1:3] == [
        "  * build: content changed: no target holds content key sha256:111111111111",
        "  * builder: BuildKit",
    ]
    assert "builder" not in render_plan(plan)


def test_each_build_says_which_engine_builds_it_when_there_are_builders() -> None:
    plan, _ = sample_plan()
    engines = {"app": "builder 'arm' (ssh://ci@arm)"}
    lines = render_plan(plan, {"app": "BuildKit"}, engines).splitlines()
    assert lines[1:4] == [
        "  * build: content changed: no target holds content key sha256:111111111111",
        "  * builder: BuildKit",
        "  * engine: builder 'arm' (ssh://ci@arm)",
    ]
    assert "engine" not in render_plan(plan, {"app": "BuildKit"})


def test_a_failed_build_shows_its_steps_last_lines_under_it_in_both_reports() -> None:
    plan, _ = sample_plan()
    build = next(task for task in tasks_for(plan) if task.kind == "build")
    failed = TaskResult(
        build,
        "failed",
        error="build of image 'app' failed at step [2/2] RUN make: exit code: 2",
        output=("cc -c a.c", "a.c:1: error"),
    )
    result = ApplyResult(plan, (failed,))
    for text in (render_result(result), render_builds(result)):
        lines = text.splitlines()
        assert "failed at step [2/2] RUN make: exit code: 2" in lines[0]
        assert lines[1:3] == ["      | cc -c a.c", "      | a.c:1: error"]
    assert render_builds(result).splitlines()[-1] == "Build: 0 built, 1 failed; nothing pushed."
    done = TaskResult(build, "done", digest="sha256:" + "e" * 64, seconds=2.0)
    assert render_builds(ApplyResult(plan, (done,))).splitlines()[0] == (
        f"  done        app  sha256:{'e' * 64}  (2.0s)"
    )
    assert render_builds(ApplyResult(plan, ())).startswith("Build: nothing to build")


def test_an_image_from_a_file_shows_its_file_and_the_digest_it_publishes(
    tmp_path: Path,
) -> None:
    digest = "sha256:" + "c" * 64
    image = ImageSpec("app", (TargetTag(ref(f"{R}:1")), TargetTag(ref(f"{R}:2"))), file="oci:out")
    observed = Observed(tags={ref(f"{R}:1"): None, ref(f"{R}:2"): D_OLD}, sources={"app": digest})
    plan = make_plan([image], observed)
    lines = render_plan(plan).splitlines()
    assert lines[0] == "image app (from oci:out)"
    assert lines[1].startswith(f"  + create    {R}:1")
    assert lines[1].endswith("via push  sha256:cccccccccccc")
    assert lines[2].startswith(f"  ~ update    {R}:2")
    assert lines[2].endswith("via tag   sha256:aaaaaaaaaaaa → sha256:cccccccccccc")
    assert lines[-1] == "Plan: 0 builds, 1 to create, 1 to update, 0 unchanged."
    # A saved plan keeps where the image comes from.
    save(SavedPlan(plan, observed, "sha256:" + "0" * 64, "f" * 40), tmp_path / "plan.json")
    assert load(tmp_path / "plan.json").plan == plan
