"""cimatrix.py: the staged matrix flow's names and decisions (pure), by tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest

from hubpub.cimatrix import (
    StagedPlatforms,
    compose,
    composing,
    look,
    matrix,
    missing_refusal,
    note_staged,
    publish_composed,
    stage_plan,
    staging_ref,
    staging_tag,
    wanted,
)
from hubpub.config.builders import Builder
from hubpub.contentkey import LABEL
from hubpub.planner import Build, Change, ImagePlan, Plan
from hubpub.platforms import platform_key
from hubpub.reference import Reference, parse_reference
from hubpub.registry.models import DOCKER_MANIFEST, ManifestInfo

KEY = "sha256:" + "ab" * 32
AMD, ARM, ARM7 = "linux/amd64", "linux/arm64", "linux/arm/v7"
MAIN = parse_reference("registry.example/team/app:main")
MIRROR = parse_reference("other.example/app:main")


@pytest.mark.parametrize(
    ("key", "platform", "tag"),
    [
        ("sha256:" + "0123456789ab" + "f" * 52, AMD, "hubpub-0123456789ab-linux-amd64"),
        ("sha256:" + "fedcba987654" + "0" * 52, ARM, "hubpub-fedcba987654-linux-arm64"),
        ("sha256:" + "0" * 64, ARM7, "hubpub-000000000000-linux-arm-v7"),
    ],
)
def test_a_staging_tag_is_the_key_s_first_12_hex_digits_and_the_platform(
    key: str, platform: str, tag: str
) -> None:
    assert staging_tag(key, platform) == tag
    assert parse_reference(f"registry.example/app:{tag}").tag == tag  # a valid tag


def test_the_staging_reference_uses_the_platform_s_own_key_in_the_image_s_first_repository() -> (
    None
):
    ref = staging_ref(MAIN.repository, KEY, ARM)
    assert ref.repository == MAIN.repository
    assert ref.tag == staging_tag(platform_key(KEY, ARM), ARM)
    # Deterministic, and another per platform and per key.
    assert ref == staging_ref(MAIN.repository, KEY, ARM)
    assert ref != staging_ref(MAIN.repository, KEY, AMD)
    assert ref != staging_ref(MAIN.repository, "sha256:" + "cd" * 32, ARM)


def image(
    name: str = "app", platforms: tuple[str, ...] = (AMD, ARM), key: str | None = KEY
) -> ImagePlan:
    changes = tuple(
        Change(name, ref, "create", "push" if i == 0 else "copy", None, None)
        for i, ref in enumerate((MAIN, MIRROR))
    )
    build = Build(name, "no target exists yet", key, MAIN, platforms=platforms)
    return ImagePlan(name, build, changes, content_key=key)


def info(n: int) -> ManifestInfo:
    return ManifestInfo("sha256:" + f"{n}" * 64, DOCKER_MANIFEST, 500 + n)


class Heads:
    def __init__(self, present: dict[Reference, ManifestInfo]) -> None:
        self.present = present
        self.asked: list[Reference] = []

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        asked = list(refs)
        self.asked.extend(asked)
        return {ref: self.present.get(ref) for ref in asked}


def test_only_builds_of_two_or_more_platforms_with_a_key_have_staging_references() -> None:
    plan = Plan(
        (
            image("multi"),
            image("single", platforms=(AMD,)),
            image("engine", platforms=()),
            image("unkeyed", key=None),
            ImagePlan("current", None, ()),
        )
    )
    assert list(wanted(plan)) == ["multi"]
    assert list(wanted(plan)["multi"].refs) == [AMD, ARM]
    assert list(wanted(plan, ARM)["multi"].refs) == [ARM]
    assert wanted(plan, ARM7) == {}


@pytest.mark.parametrize(
    ("staged", "refused", "composed", "needed"),
    [
        # Nothing staged: one engine builds every platform, as without staging.
        ((), None, False, [AMD, ARM]),
        # Some staged: the missing one is refused, named with the command that stages it.
        ((AMD,), ARM, True, [ARM]),
        ((ARM,), AMD, True, [AMD]),
        # All staged: composed, nothing to build, no runner.
        ((AMD, ARM), None, True, []),
    ],
)
def test_what_a_final_apply_does_with_what_is_staged(
    staged: tuple[str, ...], refused: str | None, composed: bool, needed: list[str]
) -> None:
    plan = Plan((image(),))
    refs = wanted(plan)["app"].refs
    heads = Heads({refs[p]: info(i) for i, p in enumerate(staged, 1)})
    found = look(plan, heads)
    assert heads.asked == [refs[AMD], refs[ARM]]  # one HEAD per platform
    error = missing_refusal(found, allow_missing=False)
    if refused is None:
        assert error is None
    else:
        assert error is not None
        line = f"{error.message} ({error.hint})"
        assert "image 'app'" in line
        assert f"platform {refused} is not staged" in line
        assert f"hubpub apply --platform {refused} --only app" in line
        assert "--allow-missing-platforms" in line
        assert missing_refusal(found, allow_missing=True) is None
    assert ("app" in composing(found)) is composed
    assert [m["platform"] for m in matrix(found)] == needed
    assert all(m["image"] == "app" and m["builder"] == "default" for m in matrix(found))


def test_the_final_plan_says_what_is_missing_and_a_partial_index_keeps_no_key() -> None:
    plan = Plan((image(),))
    refs = wanted(plan)["app"].refs
    partial = note_staged(plan, look(plan, Heads({refs[AMD]: info(1)})))
    assert [w.text for w in partial.warnings] == [
        f"{ARM} is not staged (staged: {AMD}): run 'hubpub apply --platform {ARM} --only app' "
        f"on a {ARM} runner first"
    ]
    build = partial.images[0].build
    assert build is not None
    assert build.content_key is None
    assert partial.images[0].content_key is None
    whole = note_staged(plan, look(plan, Heads({refs[AMD]: info(1), refs[ARM]: info(2)})))
    assert whole.warnings == ()
    assert whole.images[0].build is not None
    assert whole.images[0].build.content_key == KEY
    assert "every platform is staged" in whole.images[0].build.reason
    # Nothing staged: the plan as it was.
    assert note_staged(plan, look(plan, Heads({}))) == plan


def test_a_platform_job_builds_its_platform_for_the_staging_tag_or_nothing() -> None:
    plan = Plan((image(), image("amd-only", platforms=(AMD, ARM7)), ImagePlan("current", None, ())))
    staged = look(plan, Heads({}), ARM)
    job = stage_plan(plan, ARM, staged)
    assert [i.name for i in job.images] == ["app"]  # the others have no arm64 to stage
    (one,) = job.images
    key = platform_key(KEY, ARM)
    assert one.build is not None
    assert (one.build.platforms, one.build.content_key, one.content_key) == ((ARM,), key, key)
    assert [(c.ref, c.action, c.via) for c in one.changes] == [
        (staging_ref(MAIN.repository, KEY, ARM), "create", "push")
    ]
    # Run again once staged: nothing to build, the staging tag unchanged.
    again = stage_plan(plan, ARM, look(plan, Heads({one.changes[0].ref: info(3)}), ARM))
    (done,) = again.images
    assert done.build is None
    assert [(c.action, c.current) for c in done.changes] == [("noop", info(3).digest)]
    assert matrix(look(plan, Heads({one.changes[0].ref: info(3)}), ARM)) == []


def test_a_staged_image_of_a_missing_platform_is_listed_as_it_is() -> None:
    stage = StagedPlatforms(
        "app", (AMD, ARM), MAIN.repository, {AMD: MAIN, ARM: MIRROR}, {AMD: info(1)}
    )
    assert (stage.present, stage.missing) == ((AMD,), (ARM,))


def test_the_index_of_the_staged_images_then_tags_and_copies_of_it_and_no_build() -> None:
    plan = Plan((image(), ImagePlan("other", None, ())))
    refs = wanted(plan)["app"].refs
    found = look(plan, Heads({refs[AMD]: info(1), refs[ARM]: info(2)}))
    labels = {LABEL: KEY, "org.opencontainers.image.revision": "abc", "user": "not on the index"}
    index = compose(found["app"], labels)
    assert index.is_index
    assert [(d.digest, d.size) for d in index.children] == [
        (info(1).digest, info(1).size),
        (info(2).digest, info(2).size),
    ]
    assert index.json()["annotations"] == {LABEL: KEY, "org.opencontainers.image.revision": "abc"}
    composed = publish_composed(plan, {"app": (found["app"], index)})
    assert composed.images[1] == plan.images[1]
    app = composed.images[0]
    assert app.build is None
    source = MAIN.repository.with_digest(index.digest)
    assert [(c.ref, c.via, c.source, c.desired) for c in app.changes] == [
        (MAIN, "tag", source, index.digest),  # where the children are
        (MIRROR, "copy", source, index.digest),  # children first, then the index
    ]


def test_a_partial_index_carries_no_content_key() -> None:
    plan = Plan((image(),))
    refs = wanted(plan)["app"].refs
    found = look(plan, Heads({refs[ARM]: info(2)}))
    index = compose(found["app"], {LABEL: KEY, "org.opencontainers.image.title": "app"})
    assert [d.digest for d in index.children] == [info(2).digest]
    assert index.json()["annotations"] == {"org.opencontainers.image.title": "app"}


def test_each_matrix_entry_names_the_builder_that_builds_its_platform() -> None:
    plan = Plan((image(),))
    found = look(plan, Heads({}))
    builders = {
        "arm": Builder(docker_host="ssh://ci@arm-runner", platforms=(ARM,)),
        "arm-too": Builder(docker_host="ssh://ci@arm-two", platforms=(ARM,)),
    }
    assert [(m["platform"], m["builder"]) for m in matrix(found, builders)] == [
        (AMD, "default"),  # no builder lists it: the engine DOCKER_HOST names
        (ARM, "arm"),  # the first builder listing it, as apply routes it
    ]


S390X = "linux/s390x"


def test_the_platforms_are_the_config_s_not_a_saved_plan_s() -> None:
    # A saved plan edited to list amd64 and arm64 only, the config listing s390x too: the
    # staged amd64 and arm64 are not the whole image; s390x is still needed.
    plan = Plan((image(),))
    config = {"app": (AMD, ARM, S390X)}
    refs = wanted(plan, platforms=config)["app"].refs
    assert list(refs) == [AMD, ARM, S390X]
    found = look(plan, Heads({refs[AMD]: info(1), refs[ARM]: info(2)}), platforms=config)
    assert found["app"].missing == (S390X,)
    assert [m["platform"] for m in matrix(found)] == [S390X]
    assert missing_refusal(found, allow_missing=False) is not None
    noted = note_staged(plan, found)
    assert noted.images[0].content_key is None  # a partial index: no key
    # The config listing one platform: nothing to stage, whatever the plan says.
    assert wanted(plan, platforms={"app": (AMD,)}) == {}
    assert wanted(plan, platforms={}) == {}


def test_rebuild_looks_at_nothing_staged_and_builds_every_platform_again() -> None:
    plan = Plan((image(),))
    refs = wanted(plan)["app"].refs
    heads = Heads({refs[AMD]: info(1), refs[ARM]: info(2)})
    found = look(plan, heads, rebuild=True)
    assert heads.asked == []
    assert found["app"].missing == (AMD, ARM)
    assert composing(found) == {}
    assert note_staged(plan, found) == plan  # built on the engines at hand, not composed
    job = stage_plan(plan, ARM, look(plan, heads, ARM, rebuild=True))
    (one,) = job.images
    assert one.build is not None
    assert [(c.ref, c.action, c.via) for c in one.changes] == [(refs[ARM], "create", "push")]


def _base_and_app(app_platforms: tuple[str, ...] = (AMD, ARM)) -> Plan:
    base_ref = parse_reference("registry.example/team/base:main")
    base = ImagePlan(
        "base",
        Build("base", "changed", KEY, base_ref, platforms=(AMD, ARM)),
        (Change("base", base_ref, "update", "push", "sha256:" + "0" * 64, None),),
        content_key=KEY,
    )
    app = image(platforms=app_platforms)
    assert app.build is not None
    app = dataclasses.replace(
        app,
        build=dataclasses.replace(app.build, uses=(("registry.example/team/base:main", base_ref),)),
    )
    return Plan((base, app))


def test_an_image_built_from_a_changed_image_is_left_to_the_final_apply() -> None:
    plan = _base_and_app()
    assert list(wanted(plan)) == ["base"]
    assert [(m["image"], m["platform"]) for m in matrix(look(plan, Heads({})))] == [
        ("base", AMD),
        ("base", ARM),
    ]
    # The platform job stages the base and skips the app, saying so; it is not refused.
    job = stage_plan(plan, ARM, look(plan, Heads({}), ARM))
    assert [(i.name, i.build is not None) for i in job.images] == [("base", True), ("app", False)]
    assert job.images[1].changes == ()
    (warning,) = job.warnings
    assert warning.image == "app"
    assert not warning.blocks
    assert "not staged for linux/arm64: it builds FROM registry.example/team/base:main" in (
        warning.text
    )
    assert "final 'hubpub apply'" in warning.text
    # The final apply: the app is not composed, so it is built (after its base).
    assert note_staged(plan, look(plan, Heads({}))).images[1] == plan.images[1]
    # Its base unchanged: staged as any other.
    unchanged = Plan((plan.images[1],))
    assert list(wanted(unchanged)) == ["app"]
    # A platform the app does not list: no warning.
    assert stage_plan(plan, ARM7, look(plan, Heads({}), ARM7)).warnings == ()
