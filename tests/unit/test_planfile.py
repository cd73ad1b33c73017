"""Saved plans: the round trip, and a file that is no (valid) plan."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubpub.errors import PlanError
from hubpub.planfile import PlanOptions, SavedPlan, load, save
from tests.helpers.plans import sample_plan


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
