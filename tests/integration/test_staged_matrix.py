"""The staged matrix flow end to end (docs/ci-matrix.md): one ``apply --platform`` job per
platform, then a final ``apply`` that composes the index, against the suite's engine and
registries; the results read back with skopeo, a tool hubpub did not write.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

from hubpub.cimatrix import staging_tag
from hubpub.contentkey import LABEL
from hubpub.platforms import platform_key
from hubpub.registry.models import OCI_INDEX
from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, build_project, proxy_target, uid

MAIN = ("--ref", "refs/heads/main")
TAGS = 'tags = [{ preset = "ref", on = "branch" }]'
AMD, ARM = "linux/amd64", "linux/arm64"


def two_repository_project(
    tmp_path: Path, engine: DockerEngine, target: Any
) -> tuple[Project, str, str]:
    first, second = f"t{uid()}/staged", f"t{uid()}/mirror"
    project = build_project(
        tmp_path,
        engine,
        [f"{target.host}/{first}", f"{target.host}/{second}"],
        [target],
        base="scratch",
        tags=TAGS,
        extra=f'platforms = ["{AMD}", "{ARM}"]\n',
    )
    project.write("app/Dockerfile", "FROM scratch\nCOPY msg /app/msg\n")
    project.commit("FROM scratch")
    return project, first, second


def writes(proxy: Any) -> list[str]:
    return [f"{r.method} {r.path}" for r in proxy.requests if r.method in ("PUT", "POST", "PATCH")]


def test_two_platform_jobs_then_a_final_apply_publish_one_index_of_the_staged_images(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    fault_proxy: Any,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(registry_plain)
    target = proxy_target(proxy)
    project, first, second = two_repository_project(tmp_path, docker_engine, target)

    # Before any job: both platforms are needed, in the JSON and in $GITHUB_OUTPUT.
    outputs = tmp_path / "github_output"
    project.env["GITHUB_OUTPUT"] = str(outputs)
    planned = project.ok("plan", "--json", *MAIN).json()
    expected = [
        {"image": "app", "platform": AMD, "builder": "default"},
        {"image": "app", "platform": ARM, "builder": "default"},
    ]
    assert planned["matrix"] == expected
    assert outputs.read_text().splitlines()[-1] == (
        'matrix=[{"image": "app", "platform": "linux/amd64", "builder": "default"}, '
        '{"image": "app", "platform": "linux/arm64", "builder": "default"}]'
    )
    del project.env["GITHUB_OUTPUT"]

    # The amd64 job: that platform only, under its staging tag; no tag of the config moves.
    shown = project.ok("plan", "--platform", AMD, *MAIN).stdout
    assert "  * platforms: linux/amd64" in shown
    project.ok("apply", "--platform", AMD, *MAIN)
    tags = skopeo.list_tags(target, first)
    assert len(tags) == 1
    assert tags[0].endswith("-linux-amd64")
    absent = skopeo.run(
        "list-tags", *skopeo.flags(target), f"docker://{target.host}/{second}", check=False
    )
    assert absent.returncode != 0
    assert "404" in absent.stderr
    amd_config = skopeo.config(target, f"{first}:{tags[0]}")
    assert amd_config["architecture"] == "amd64"
    assert tags[0] == staging_tag(amd_config["config"]["Labels"][LABEL], AMD)

    # The final job too early: the plan names the missing platform, apply refuses.
    early = project.ok("plan", "--json", *MAIN).json()
    assert early["matrix"] == [{"image": "app", "platform": ARM, "builder": "default"}]
    assert any(ARM in w["warning"] and "--platform" in w["warning"] for w in early["warnings"])
    refused = project.ok("apply", *MAIN, code=1)
    errors = refused.stderr.strip().splitlines()
    assert len(errors) == 1, refused.stderr
    assert "image 'app'" in errors[0]
    assert f"platform {ARM} is not staged" in errors[0]
    assert f"hubpub apply --platform {ARM} --only app" in errors[0]
    assert "Traceback" not in refused.stderr
    assert skopeo.list_tags(target, first) == tags  # nothing published

    # The arm64 job; run again, it builds and writes nothing.
    project.ok("apply", "--platform", ARM, *MAIN)
    proxy.clear()
    again = project.ok("apply", "--platform", ARM, *MAIN)
    assert writes(proxy) == []
    assert "[linux/arm64]" not in again.stderr
    assert "exporting" not in again.stderr
    staged = {tag.rpartition("-linux-")[2]: tag for tag in skopeo.list_tags(target, first)}
    assert set(staged) == {"amd64", "arm64"}
    children = {arch: skopeo.digest(target, f"{first}:{tag}") for arch, tag in staged.items()}

    # Nothing left to build: no runner.
    ready = project.ok("plan", "--json", *MAIN).json()
    assert ready["matrix"] == []
    assert "every platform is staged" in ready["builds"][0]["reason"]

    # The final apply: no build, no blob upload into the first repository; the index lists
    # the staged images and carries the image's key; the mirror gets children and index.
    proxy.clear()
    final = project.ok("apply", *MAIN)
    assert "exporting" not in final.stderr
    assert not [w for w in writes(proxy) if w.startswith("POST") and first in w]
    for repo in (first, second):
        index = skopeo.raw(target, f"{repo}:main")
        assert index["mediaType"] == OCI_INDEX
        listed = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}
        assert listed == children
        key = index["annotations"][LABEL]
        assert amd_config["config"]["Labels"][LABEL] == platform_key(key, AMD)
        arm = skopeo.run(
            "inspect",
            "--override-arch",
            "arm64",
            "--config",
            *skopeo.flags(target),
            f"docker://{target.host}/{repo}:main",
        ).stdout
        assert '"architecture": "arm64"' in arm
    assert skopeo.list_tags(target, second) == ["main"]

    # Published: nothing to do, nothing to stage.
    after = project.ok("plan", "--json", *MAIN).json()
    assert after["builds"] == []
    assert after["matrix"] == []
    assert {c["action"] for c in after["changes"]} == {"noop"}


def test_a_platform_job_s_saved_plan_stages_its_platform_and_goes_stale_like_any_plan(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    project, first, _second = two_repository_project(tmp_path, docker_engine, registry_plain)
    saved = tmp_path / "arm.plan"
    project.ok("plan", "--platform", ARM, "--out", str(saved), *MAIN)
    assert json.loads(saved.read_text())["options"]["platform"] == ARM
    project.ok("apply", str(saved))
    (tag,) = skopeo.list_tags(registry_plain, first)
    assert tag.endswith("-linux-arm64")
    assert skopeo.config(registry_plain, f"{first}:{tag}")["architecture"] == "arm64"

    # Saved before a one-engine apply published the image: stale, as any saved plan.
    stale = tmp_path / "amd.plan"
    project.ok("plan", "--platform", AMD, "--out", str(stale), *MAIN)
    project.ok("apply", "--allow-missing-platforms", *MAIN)
    refused = project.ok("apply", str(stale), code=1)
    assert "Saved plan is stale" in refused.stderr
    assert len(skopeo.list_tags(registry_plain, first)) == 2  # arm64's staging tag and main

    # That partial index (--allow-missing-platforms) has no content key: the next plan still
    # wants amd64, and once it is staged the final apply publishes the whole index.
    partial = skopeo.raw(registry_plain, f"{first}:main")
    assert [m["platform"]["architecture"] for m in partial["manifests"]] == ["arm64"]
    assert LABEL not in partial["annotations"]
    assert project.ok("plan", "--json", *MAIN).json()["matrix"] == [
        {"image": "app", "platform": AMD, "builder": "default"}
    ]
    project.ok("apply", "--platform", AMD, *MAIN)
    project.ok("apply", *MAIN)
    whole = skopeo.raw(registry_plain, f"{first}:main")
    assert [m["platform"]["architecture"] for m in whole["manifests"]] == ["amd64", "arm64"]
    assert LABEL in whole["annotations"]
    assert project.ok("plan", "--json", *MAIN).json()["builds"] == []


S390X = "linux/s390x"


def test_a_saved_plan_listing_fewer_platforms_than_the_config_publishes_nothing(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    first = f"t{uid()}/staged"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{registry_plain.host}/{first}"],
        [registry_plain],
        base="scratch",
        tags=TAGS,
        extra=f'platforms = ["{AMD}", "{ARM}", "{S390X}"]\n',
    )
    project.write("app/Dockerfile", "FROM scratch\nCOPY msg /app/msg\n")
    project.commit("FROM scratch")
    project.ok("apply", "--platform", AMD, *MAIN)
    project.ok("apply", "--platform", ARM, *MAIN)
    staged = sorted(skopeo.list_tags(registry_plain, first))

    # A platform job with nothing left to do: --detailed-exitcode says so (0), though the
    # whole plan still has changes (2).
    project.ok("plan", "--platform", ARM, "--detailed-exitcode", *MAIN)
    project.ok("plan", "--detailed-exitcode", *MAIN, code=2)
    # A platform no image lists: nothing to do, and a warning naming the config.
    unlisted = project.ok("apply", "--platform", "linux/ppc64le", *MAIN)
    (line,) = unlisted.stderr.strip().splitlines()
    assert line.startswith("hubpub: warning: ")
    assert "hubpub.toml: no image lists platform linux/ppc64le" in line

    # The saved plan edited to build amd64 and arm64 only: refused, nothing published.
    saved = tmp_path / "final.plan"
    project.ok("plan", "--out", str(saved), *MAIN)
    data = json.loads(saved.read_text())
    (image,) = data["images"]
    assert image["build"]["platforms"] == [AMD, ARM, S390X]
    image["build"]["platforms"] = [AMD, ARM]
    saved.write_text(json.dumps(data))
    refused = project.ok("apply", str(saved), code=1)
    (error,) = refused.stderr.strip().splitlines()
    assert f"the plan {saved} builds image 'app' otherwise than the config" in error
    assert sorted(skopeo.list_tags(registry_plain, first)) == staged

    # Its platform option edited into no platform: the loader's error, no internal error.
    data = json.loads(saved.read_text())
    data["options"]["platform"] = "garbage"
    saved.write_text(json.dumps(data))
    broken = project.ok("apply", str(saved), code=1)
    (error,) = broken.stderr.strip().splitlines()
    assert f"{saved} is not a valid hubpub plan file: options.platform:" in error
    assert "internal error" not in broken.stderr

    # s390x is still needed, and the final apply refuses without it.
    assert project.ok("plan", "--json", *MAIN).json()["matrix"] == [
        {"image": "app", "platform": S390X, "builder": "default"}
    ]
    project.ok("apply", *MAIN, code=1)


def test_rebuild_builds_and_stages_again_and_a_final_rebuild_composes_nothing(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    project, first, _second = two_repository_project(tmp_path, docker_engine, registry_plain)
    project.ok("apply", "--platform", ARM, *MAIN)
    (arm_tag,) = skopeo.list_tags(registry_plain, first)
    before = skopeo.digest(registry_plain, f"{first}:{arm_tag}")

    # --rebuild on a platform job (a release whose image must carry its own labels): built
    # and staged again under the same staging tag (the same key), with this ref's labels.
    release = ("--ref", "refs/heads/release")
    again = project.ok("apply", "--platform", ARM, "--rebuild", *release)
    assert "exporting" in again.stderr
    assert skopeo.list_tags(registry_plain, first) == [arm_tag]
    restaged = skopeo.digest(registry_plain, f"{first}:{arm_tag}")
    assert restaged != before

    # The final apply composes: the plan it prints builds nothing and tags the index.
    project.ok("apply", "--platform", AMD, *MAIN)
    final = project.ok("apply", *MAIN)
    assert "exporting" not in final.stderr
    assert "Plan: 0 builds, 2 to create" in final.stdout
    assert "known after build" not in final.stdout
    composed = skopeo.raw(registry_plain, f"{first}:main")
    assert restaged in {m["digest"] for m in composed["manifests"]}

    # A final apply with --rebuild builds every platform itself, composing nothing of what
    # was staged: its arm64 image is not the one staged with the other ref's labels.
    rebuilt = project.ok("apply", "--rebuild", *MAIN)
    assert "exporting" in rebuilt.stderr
    assert "Plan: 1 build" in rebuilt.stdout
    index = skopeo.raw(registry_plain, f"{first}:main")
    arm = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}["arm64"]
    assert arm != restaged
    assert skopeo.digest(registry_plain, f"{first}:{arm_tag}") == restaged
