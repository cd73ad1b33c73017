"""Saved plans: the round trip, and a file that is no (valid) plan."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubpub.errors import PlanError
from hubpub.planfile import PlanOptions, SavedPlan, check_derived, load, save
from hubpub.planner import Change, ImageSpec, Observed, Plan, TargetTag, make_plan
from hubpub.reference import parse_reference
from tests.helpers.plans import R, sample_plan


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
        # options.platform (plan --platform) edited: each used to be an internal ValueError
        # in apply.
        (
            lambda d: d["options"].update(platform="garbage"),
            "is not a valid hubpub plan file: options.platform: expected a platform 'os/arch' "
            "or 'os/arch/variant' (e.g. 'linux/arm64'), got 'garbage'",
        ),
        (
            lambda d: d["options"].update(platform=5),
            "is not a valid hubpub plan file: options.platform: expected a platform string, got 5",
        ),
        (
            lambda d: d["options"].update(platform=["linux/arm64"]),
            "is not a valid hubpub plan file: options.platform: expected a platform string, "
            "got ['linux/arm64']",
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


# --- a saved plan is made again from the config (check_derived) ---------------------------------


def _edited(plan: Plan, edit: Callable[[Change], Change | None]) -> Plan:
    images = []
    for image in plan.images:
        changes = [edit(change) for change in image.changes]
        images.append(dataclasses.replace(image, changes=tuple(c for c in changes if c)))
    return dataclasses.replace(plan, images=tuple(images))


def _monotonic_specs() -> list[ImageSpec]:
    r = "reg.example:5000/team/app"
    return [
        ImageSpec(
            "app",
            (
                TargetTag(parse_reference(f"{r}:main"), monotonic=True),
                TargetTag(parse_reference(f"{r}:sha-abc1234")),
            ),
        )
    ]


def _monotonic_observed() -> Observed:
    r = "reg.example:5000/team/app"
    return Observed(
        tags={
            parse_reference(f"{r}:main"): "sha256:" + "a" * 64,
            parse_reference(f"{r}:sha-abc1234"): None,
        },
        content_keys={"app": "sha256:" + "1" * 64},
    )


def test_a_saved_plan_as_made_is_what_the_config_gives() -> None:
    plan, observed = sample_plan()
    specs = [
        ImageSpec(i.name, tuple(TargetTag(c.ref, c.immutable) for c in i.changes), source=i.source)
        for i in plan.images
    ]
    check_derived(SavedPlan(plan, observed, "", ""), specs, "plan.json")
    # A skip writes nothing: the file's is taken as it is, for a tag that may be skipped.
    skipped = make_plan(
        _monotonic_specs(),
        _monotonic_observed(),
        skipped={_monotonic_specs()[0].tags[0].ref: "newer published: commit abc"},
    )
    assert [c.action for c in skipped.changes] == ["skip", "create"]
    check_derived(SavedPlan(skipped, _monotonic_observed(), "", ""), _monotonic_specs(), "p")


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (
            lambda c: dataclasses.replace(c, ref=parse_reference("victim.example/repo:latest")),
            "writes victim.example/repo:latest, which the config does not publish",
        ),
        (
            lambda c: dataclasses.replace(c, action="update") if c.action == "conflict" else c,
            "has update via push (immutable) for",
        ),
        (
            lambda c: (
                dataclasses.replace(c, source=parse_reference("evil.example/x:1"), via="copy")
                if c.via == "tag"
                else c
            ),
            "from evil.example/x:1",
        ),
        (lambda c: None if "sha-" in str(c.ref) else c, "leaves out"),
    ],
)
def test_an_edited_saved_plan_is_refused(
    edit: Callable[[Change], Change | None], says: str
) -> None:
    plan, observed = sample_plan()
    observed = dataclasses.replace(
        observed, tags={**observed.tags, parse_reference(f"{R}:1.2.3"): "sha256:" + "e" * 64}
    )
    specs = [
        ImageSpec(i.name, tuple(TargetTag(c.ref, c.immutable) for c in i.changes), source=i.source)
        for i in plan.images
    ]
    honest = make_plan(specs, observed)
    assert "conflict" in [c.action for c in honest.changes]
    with pytest.raises(PlanError, match=re.escape(says)):
        check_derived(SavedPlan(_edited(honest, edit), observed, "", ""), specs, "plan.json")


def test_a_saved_plan_s_platform_is_read_normalized(tmp_path: Path) -> None:
    plan, observed = sample_plan()
    path = tmp_path / "plan.json"
    save(SavedPlan(plan, observed, "", "0" * 40, PlanOptions(platform="linux/arm64")), path)
    data = json.loads(path.read_text())
    data["options"]["platform"] = "linux/aarch64"
    path.write_text(json.dumps(data))
    assert load(path).options.platform == "linux/arm64"


def test_a_saved_plan_building_other_platforms_than_the_config_is_refused() -> None:
    # Fewer platforms would publish a partial index carrying the whole image's content key.
    specs = [
        ImageSpec(
            "app",
            (TargetTag(parse_reference(f"{R}:main")),),
            platforms=("linux/amd64", "linux/arm64", "linux/s390x"),
        )
    ]
    observed = Observed(
        tags={parse_reference(f"{R}:main"): None}, content_keys={"app": "sha256:" + "1" * 64}
    )
    honest = make_plan(specs, observed)
    check_derived(SavedPlan(honest, observed, "", ""), specs, "plan.json")
    build = honest.images[0].build
    assert build is not None
    edited = dataclasses.replace(
        honest,
        images=(
            dataclasses.replace(
                honest.images[0],
                build=dataclasses.replace(build, platforms=("linux/amd64", "linux/arm64")),
            ),
        ),
    )
    with pytest.raises(PlanError, match="builds image 'app' otherwise than the config"):
        check_derived(SavedPlan(edited, observed, "", ""), specs, "plan.json")
