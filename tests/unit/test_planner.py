"""The planner on a table of cases: (desired, observed) -> plan, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubpub.errors import PlanError
from hubpub.executor import tasks_for
from hubpub.gitstate import Relation
from hubpub.planner import (
    Commit,
    ImageSpec,
    Observed,
    Provenance,
    TargetTag,
    make_plan,
)
from hubpub.reference import Reference, parse_reference

D_OLD = "sha256:" + "a" * 64
D_NEW = "sha256:" + "b" * 64
D_SRC = "sha256:" + "c" * 64
KEY = "sha256:" + "1" * 64
KEY_OLD = "sha256:" + "2" * 64


def ref(text: str) -> Reference:
    return parse_reference(text)


def tags(*texts: str, immutable: tuple[str, ...] = ()) -> tuple[TargetTag, ...]:
    return tuple(TargetTag(ref(t), immutable=t in immutable, rule="r") for t in texts)


A1 = "reg.example:5000/team/app:1.2.3"
A2 = "reg.example:5000/team/app:latest"
A3 = "reg.example:5000/team/app:sha-abc1234"
B1 = "reg.example:5000/other/app:latest"
B2 = "reg.example:5000/other/app:1.2.3"
C1 = "far.example/team/app:latest"
C2 = "far.example/team/app:1.2.3"


@dataclass
class Case:
    id: str
    image: ImageSpec
    tags: dict[str, str | None]
    # expected (ref, action, via, current, desired, source) per tag, in tag order
    expect: list[tuple[str, str, str | None, str | None, str | None, str | None]]
    build: str | None = None  # expected substring of the build reason, None: no build
    labels: dict[str, str | None] = field(default_factory=dict)
    key: str | None = KEY
    source: str | None = None
    rebuild: bool = False
    others: tuple[tuple[str, str], ...] = ()


CASES = [
    Case(
        "first publish: build, push once, tag the rest in the repository",
        ImageSpec("app", tags(A1, A2, A3)),
        {A1: None, A2: None, A3: None},
        [
            (A1, "create", "push", None, None, None),
            (A2, "create", "tag", None, None, A1),
            (A3, "create", "tag", None, None, A1),
        ],
        build="no target exists yet",
    ),
    Case(
        "nothing changed: every tag noop, no build",
        ImageSpec("app", tags(A1, A2)),
        {A1: D_OLD, A2: D_OLD},
        [
            (A1, "noop", None, D_OLD, D_OLD, None),
            (A2, "noop", None, D_OLD, D_OLD, None),
        ],
        labels={D_OLD: KEY},
    ),
    Case(
        "new commit, same content: new tags created by tag from the digest, no build",
        ImageSpec(
            "app",
            tags(A1, A2, A3),
        ),
        {A1: None, A2: D_OLD, A3: None},
        [
            (A1, "create", "tag", None, D_OLD, "reg.example:5000/team/app@" + D_OLD),
            (A2, "noop", None, D_OLD, D_OLD, None),
            (A3, "create", "tag", None, D_OLD, "reg.example:5000/team/app@" + D_OLD),
        ],
        labels={D_OLD: KEY},
    ),
    Case(
        "same content in another repository: copy once per repository, then tag",
        ImageSpec("app", tags(A2, B1, B2, C1, C2)),
        {A2: D_OLD, B1: None, B2: None, C1: None, C2: None},
        [
            (A2, "noop", None, D_OLD, D_OLD, None),
            (B1, "create", "copy", None, D_OLD, "reg.example:5000/team/app@" + D_OLD),
            (B2, "create", "tag", None, D_OLD, B1),
            (C1, "create", "copy", None, D_OLD, "reg.example:5000/team/app@" + D_OLD),
            (C2, "create", "tag", None, D_OLD, C1),
        ],
        labels={D_OLD: KEY},
    ),
    Case(
        "context changed: one build, floating tags update, new sha tag created",
        ImageSpec("app", tags(A2, A3)),
        {A2: D_OLD, A3: None},
        [
            (A2, "update", "push", D_OLD, None, None),
            (A3, "create", "tag", None, None, A2),
        ],
        build="content changed",
        labels={D_OLD: KEY_OLD},
    ),
    Case(
        "build pushes once and copies to the other registry",
        ImageSpec("app", tags(A1, C1, C2)),
        {A1: None, C1: None, C2: None},
        [
            (A1, "create", "push", None, None, None),
            (C1, "create", "copy", None, None, A1),
            (C2, "create", "tag", None, None, C1),
        ],
        build="no target exists yet",
    ),
    Case(
        "existing images without a content key are rebuilt",
        ImageSpec("app", tags(A2)),
        {A2: D_OLD},
        [(A2, "update", "push", D_OLD, None, None)],
        build="carries a content key",
        labels={D_OLD: None},
    ),
    Case(
        "--rebuild ignores a matching key",
        ImageSpec("app", tags(A2)),
        {A2: D_OLD},
        [(A2, "update", "push", D_OLD, None, None)],
        build="--rebuild",
        labels={D_OLD: KEY},
        rebuild=True,
    ),
    Case(
        "immutable version tag of another image: conflict",
        ImageSpec("app", tags(A1, A2, immutable=(A1,))),
        {A1: D_OLD, A2: D_OLD},
        [
            (A1, "conflict", "push", D_OLD, None, None),
            (A2, "update", "tag", D_OLD, None, A1),
        ],
        build="content changed",
        labels={D_OLD: KEY_OLD},
    ),
    Case(
        "immutable tag already right: noop, no conflict",
        ImageSpec("app", tags(A1, A2, immutable=(A1,))),
        {A1: D_OLD, A2: None},
        [
            (A1, "noop", None, D_OLD, D_OLD, None),
            (A2, "create", "tag", None, D_OLD, "reg.example:5000/team/app@" + D_OLD),
        ],
        labels={D_OLD: KEY},
    ),
    Case(
        "immutable tag absent: a plain create",
        ImageSpec("app", tags(A1, immutable=(A1,))),
        {A1: None},
        [(A1, "create", "push", None, None, None)],
        build="no target exists yet",
    ),
    Case(
        "the key matches a second tag while the first is stale: converge on the match",
        ImageSpec("app", tags(A2, A3)),
        {A2: D_OLD, A3: D_NEW},
        [
            (A2, "update", "tag", D_OLD, D_NEW, "reg.example:5000/team/app@" + D_NEW),
            (A3, "noop", None, D_NEW, D_NEW, None),
        ],
        labels={D_OLD: KEY_OLD, D_NEW: KEY},
    ),
    Case(
        "version tag on unchanged content: found under another tag, tagged without a build",
        ImageSpec("app", tags(A1, A3, B1)),
        {A1: None, A3: None, B1: None},
        [
            (A1, "create", "tag", None, D_OLD, "reg.example:5000/team/app@" + D_OLD),
            (A3, "create", "tag", None, D_OLD, "reg.example:5000/team/app@" + D_OLD),
            (B1, "create", "copy", None, D_OLD, "reg.example:5000/team/app@" + D_OLD),
        ],
        labels={D_OLD: KEY, D_NEW: KEY_OLD},
        others=(("reg.example:5000/team/app:main", D_OLD), ("reg.example:5000/team/app:x", D_NEW)),
    ),
    Case(
        "other tags with other keys do not prevent a build",
        ImageSpec("app", tags(A1)),
        {A1: None},
        [(A1, "create", "push", None, None, None)],
        build="no target exists yet",
        labels={D_NEW: KEY_OLD},
        others=(("reg.example:5000/team/app:x", D_NEW),),
    ),
    Case(
        "--rebuild ignores other tags with the key",
        ImageSpec("app", tags(A1)),
        {A1: None},
        [(A1, "create", "push", None, None, None)],
        build="--rebuild",
        labels={D_OLD: KEY},
        others=(("reg.example:5000/team/app:main", D_OLD),),
        rebuild=True,
    ),
    Case(
        "same content, stale tag in another repository: update via copy, no build",
        ImageSpec("app", tags(A2, B1)),
        {A2: D_OLD, B1: D_NEW},
        [
            (A2, "noop", None, D_OLD, D_OLD, None),
            (B1, "update", "copy", D_NEW, D_OLD, "reg.example:5000/team/app@" + D_OLD),
        ],
        labels={D_OLD: KEY, D_NEW: KEY_OLD},
    ),
    Case(
        "context changed: the stale tag in another registry is updated by a copy of the push",
        ImageSpec("app", tags(A2, C1)),
        {A2: D_OLD, C1: D_OLD},
        [
            (A2, "update", "push", D_OLD, None, None),
            (C1, "update", "copy", D_OLD, None, A2),
        ],
        build="content changed",
        labels={D_OLD: KEY_OLD},
    ),
    Case(
        "build for three repositories on two registries: push once, copy from the same registry",
        ImageSpec("app", tags(A1, C1, B1, C2)),
        {A1: None, C1: None, B1: None, C2: None},
        [
            (A1, "create", "push", None, None, None),
            (C1, "create", "copy", None, None, A1),
            (B1, "create", "copy", None, None, A1),  # a mount, not the far copy
            (C2, "create", "tag", None, None, C1),
        ],
        build="no target exists yet",
    ),
    Case(
        "immutable tag of another image while the key is found: conflict, no build",
        ImageSpec("app", tags(A1, A2, immutable=(A1,))),
        {A1: D_NEW, A2: D_OLD},
        [
            (A1, "conflict", "tag", D_NEW, D_OLD, "reg.example:5000/team/app@" + D_OLD),
            (A2, "noop", None, D_OLD, D_OLD, None),
        ],
        labels={D_OLD: KEY, D_NEW: KEY_OLD},
    ),
    Case(
        "a mutable tag of another image is simply updated, no conflict",
        ImageSpec("app", tags(A1, A2, immutable=(A2,))),
        {A1: D_NEW, A2: D_OLD},
        [
            (A1, "update", "tag", D_NEW, D_OLD, "reg.example:5000/team/app@" + D_OLD),
            (A2, "noop", None, D_OLD, D_OLD, None),
        ],
        labels={D_OLD: KEY, D_NEW: KEY_OLD},
    ),
    Case(
        "promotion to repositories on two registries: one copy per repository, then tags",
        ImageSpec("app", tags(B1, B2, C1, C2), source=ref(A3)),
        {B1: None, B2: None, C1: None, C2: None},
        [
            (B1, "create", "copy", None, D_SRC, "reg.example:5000/team/app@" + D_SRC),
            (B2, "create", "tag", None, D_SRC, B1),
            (C1, "create", "copy", None, D_SRC, "reg.example:5000/team/app@" + D_SRC),
            (C2, "create", "tag", None, D_SRC, C1),
        ],
        key=None,
        source=D_SRC,
    ),
    Case(
        "--rebuild does not rebuild a promotion: it has nothing to build",
        ImageSpec("app", tags(C1), source=ref(A3)),
        {C1: D_SRC},
        [(C1, "noop", None, D_SRC, D_SRC, None)],
        key=None,
        source=D_SRC,
        rebuild=True,
    ),
    Case(
        "promotion across registries: copy from the source, then tag",
        ImageSpec("app", tags(C1, C2), source=ref(A3)),
        {C1: None, C2: D_OLD},
        [
            (C1, "create", "copy", None, D_SRC, "reg.example:5000/team/app@" + D_SRC),
            (C2, "update", "tag", D_OLD, D_SRC, C1),
        ],
        key=None,
        source=D_SRC,
    ),
    Case(
        "promotion within the source repository: tag only",
        ImageSpec("app", tags(A1), source=ref(A3)),
        {A1: None},
        [(A1, "create", "tag", None, D_SRC, "reg.example:5000/team/app@" + D_SRC)],
        key=None,
        source=D_SRC,
    ),
    Case(
        "promotion already done: noop",
        ImageSpec("app", tags(B1, C1), source=ref(A3)),
        {B1: D_SRC, C1: D_SRC},
        [
            (B1, "noop", None, D_SRC, D_SRC, None),
            (C1, "noop", None, D_SRC, D_SRC, None),
        ],
        key=None,
        source=D_SRC,
    ),
    Case(
        "promotion onto an immutable tag of another image: conflict",
        ImageSpec("app", tags(B2, immutable=(B2,)), source=ref(A3)),
        {B2: D_OLD},
        [(B2, "conflict", "copy", D_OLD, D_SRC, "reg.example:5000/team/app@" + D_SRC)],
        key=None,
        source=D_SRC,
    ),
    Case(
        "promotion prefers a holder in the target's registry (a mount, no data moves)",
        ImageSpec("app", tags(C1, B1), source=ref("far.example/team/app:rc")),
        {C1: D_SRC, B1: None},
        [
            (C1, "noop", None, D_SRC, D_SRC, None),
            (B1, "create", "copy", None, D_SRC, "far.example/team/app@" + D_SRC),
        ],
        key=None,
        source=D_SRC,
    ),
]


FILE = "oci:dist/image"
HELD = "reg.example:5000/team/app@" + D_SRC

CASES += [
    Case(
        "a file image, first publish: pushed from the file once, the rest from there",
        ImageSpec("app", tags(A1, A2, B1, C1), file=FILE),
        {A1: None, A2: None, B1: None, C1: None},
        [
            (A1, "create", "push", None, D_SRC, None),
            (A2, "create", "tag", None, D_SRC, A1),
            (B1, "create", "copy", None, D_SRC, A1),
            (C1, "create", "copy", None, D_SRC, A1),
        ],
        key=None,
        source=D_SRC,
    ),
    Case(
        "a file image unchanged: every tag noop, nothing read from the file",
        ImageSpec("app", tags(A1, A2), file=FILE),
        {A1: D_SRC, A2: D_SRC},
        [(A1, "noop", None, D_SRC, D_SRC, None), (A2, "noop", None, D_SRC, D_SRC, None)],
        key=None,
        source=D_SRC,
    ),
    Case(
        "a file image changed: the tags update, the first pushed from the file",
        ImageSpec("app", tags(A1, A2), file=FILE),
        {A1: D_OLD, A2: D_OLD},
        [(A1, "update", "push", D_OLD, D_SRC, None), (A2, "update", "tag", D_OLD, D_SRC, A1)],
        key=None,
        source=D_SRC,
    ),
    Case(
        "a file image a repository holds: the others copy it from there, no push",
        ImageSpec("app", tags(A1, B1, C1), file=FILE),
        {A1: D_SRC, B1: None, C1: D_OLD},
        [
            (A1, "noop", None, D_SRC, D_SRC, None),
            (B1, "create", "copy", None, D_SRC, HELD),
            (C1, "update", "copy", D_OLD, D_SRC, HELD),
        ],
        key=None,
        source=D_SRC,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plan_table(case: Case) -> None:
    observed = Observed(
        tags={ref(k): v for k, v in case.tags.items()},
        labels=case.labels,
        content_keys={"app": case.key} if case.key else {},
        sources={"app": case.source} if case.image.source or case.image.file else {},
        others={"app": tuple((ref(r), d) for r, d in case.others)},
    )
    plan = make_plan([case.image], observed, rebuild=case.rebuild)
    (image,) = plan.images
    got = [
        (
            c.ref,
            c.action,
            c.via,
            c.current,
            c.desired,
            c.source,
        )
        for c in image.changes
    ]
    want = [
        (ref(r), action, via, cur, des, ref(src) if src else None)
        for r, action, via, cur, des, src in case.expect
    ]
    assert got == want
    if case.build is None:
        assert image.build is None
    else:
        assert image.build is not None
        assert case.build in image.build.reason
        pushes = [c.ref for c in image.changes if c.via == "push"]
        assert pushes == [image.build.push_ref]


def test_summary_counts_and_changes() -> None:
    images = [
        ImageSpec("app", tags(A1, A2, A3)),
        ImageSpec("web", tags(B1, B2)),
    ]
    observed = Observed(
        tags={ref(A1): None, ref(A2): D_OLD, ref(A3): None, ref(B1): D_NEW, ref(B2): D_NEW},
        labels={D_OLD: KEY_OLD, D_NEW: KEY},
        content_keys={"app": KEY, "web": KEY},
    )
    plan = make_plan(images, observed)
    summary = plan.summary
    assert (summary.builds, summary.create, summary.update, summary.unchanged) == (1, 2, 1, 2)
    assert summary.conflicts == 0
    assert plan.has_changes
    assert [b.image for b in plan.builds] == ["app"]


def test_no_changes_plan_has_no_changes() -> None:
    observed = Observed(tags={ref(A1): D_OLD}, labels={D_OLD: KEY}, content_keys={"app": KEY})
    plan = make_plan([ImageSpec("app", tags(A1))], observed)
    assert not plan.has_changes
    assert plan.conflicts == ()


def test_missing_promotion_source_is_a_plan_error() -> None:
    image = ImageSpec("app", tags(B1), source=ref(A3))
    with pytest.raises(PlanError, match=r"source reg\.example:5000/team/app:sha-abc1234"):
        make_plan([image], Observed(tags={ref(B1): None}, sources={"app": None}))


def test_the_plan_follows_the_tags_order_not_the_observations() -> None:
    # The same observations gathered in another order (concurrent HEADs finish in any order)
    # give the same plan: tag order decides which holder is the source of the others.
    images = [ImageSpec("app", tags(A1, B1, C1, C2))]
    found = {ref(A1): None, ref(B1): D_OLD, ref(C1): D_OLD, ref(C2): None}
    others = ((ref("reg.example:5000/team/app:x"), D_OLD), (ref("far.example/team/app:y"), D_OLD))

    def observed(reverse: bool) -> Observed:
        order = reversed if reverse else list
        return Observed(
            tags=dict(order(list(found.items()))),
            labels={D_OLD: KEY},
            content_keys={"app": KEY},
            others={"app": tuple(order(others))},
        )

    plan = make_plan(images, observed(reverse=False))
    assert plan == make_plan(images, observed(reverse=True))
    sources = [change.source for change in plan.images[0].changes]
    assert sources == [
        ref("reg.example:5000/team/app@" + D_OLD),
        None,
        None,
        ref("far.example/team/app@" + D_OLD),
    ]


@pytest.mark.parametrize(
    ("case", "current", "source", "key_holder", "indexes", "warned"),
    [
        ("a build replaces an index", D_OLD, None, None, {D_OLD}, True),
        ("a build replaces an image", D_OLD, None, None, set(), False),
        ("a build creates a tag", None, None, None, {D_OLD}, False),
        ("an unchanged image reused over an index", D_OLD, None, D_NEW, {D_OLD}, True),
        ("an index promoted over an index", D_OLD, D_SRC, None, {D_OLD, D_SRC}, False),
        ("an image promoted over an index", D_OLD, D_SRC, None, {D_OLD}, True),
        ("an index promoted over an image", D_OLD, D_SRC, None, {D_SRC}, False),
        ("an index that stays", D_SRC, D_SRC, None, {D_SRC}, False),
    ],
)
def test_a_tag_that_would_lose_platforms_is_warned_about(
    case: str,
    current: str | None,
    source: str | None,
    key_holder: str | None,
    indexes: set[str],
    warned: bool,
) -> None:
    """hubpub builds for one platform: moving a multi-platform tag to its build (or to any
    single image) drops the others, which the plan says rather than leaves to arm64 users."""
    other = "reg.example:5000/team/app:sha-x"  # holds the image with the current key
    image = ImageSpec(
        "app",
        tags(A2) + (tags(other) if key_holder else ()),
        source=ref("src.example/app:rc") if source else None,
    )
    observed = Observed(
        tags={ref(A2): current, ref(other): key_holder},
        labels={key_holder: KEY} if key_holder else {},
        content_keys={} if source else {"app": KEY},
        sources={"app": source} if source else {},
        indexes=frozenset(indexes),
    )
    [change, *_] = make_plan([image], observed).images[0].changes
    assert (change.warning is not None) is warned, case
    if warned:
        assert "multi-platform index" in change.warning


AMD, ARM, ARM7 = "linux/amd64", "linux/arm64", "linux/arm/v7"


@pytest.mark.parametrize(
    ("case", "now", "platforms", "warning"),
    [
        ("a build of the engine's platform over an index", (AMD, ARM), (), "one platform only"),
        ("a build of one platform over an index", (AMD, ARM), (ARM,), "one platform only"),
        ("an index of the same platforms", (AMD, ARM), (AMD, ARM), None),
        ("an index of more platforms", (AMD,), (AMD, ARM), None),
        ("an index whose platforms are unknown", (), (AMD, ARM), None),
        ("an index that drops one", (AMD, ARM, ARM7), (AMD, ARM), "its index has linux/arm/v7"),
    ],
)
def test_a_multi_platform_build_over_an_index_says_which_platforms_it_drops(
    case: str, now: tuple[str, ...], platforms: tuple[str, ...], warning: str | None
) -> None:
    image = ImageSpec("app", tags(A2), platforms=platforms)
    observed = Observed(
        tags={ref(A2): D_OLD},
        content_keys={"app": KEY},
        indexes=frozenset({D_OLD}),
        index_platforms={D_OLD: now} if now else {},
    )
    plan = make_plan([image], observed)
    [change] = plan.images[0].changes
    assert plan.builds[0].platforms == platforms, case
    if warning is None:
        assert change.warning is None, case
        assert plan.warnings == (), case
    else:
        assert change.warning is not None, case
        assert warning in change.warning, case
        assert [w.text for w in plan.warnings] == [change.warning]


def test_an_index_that_holds_the_content_key_is_current() -> None:
    image = ImageSpec("app", tags(A2), platforms=(AMD, ARM))
    observed = Observed(
        tags={ref(A2): D_OLD},
        labels={D_OLD: KEY},
        content_keys={"app": KEY},
        indexes=frozenset({D_OLD}),
        index_platforms={D_OLD: (AMD, ARM)},
    )
    plan = make_plan([image], observed)
    assert plan.builds == ()
    assert [c.action for c in plan.changes] == ["noop"]
    assert plan.warnings == ()


# --- tags only move forward (docs/config.md, "Tags only move forward") ----------------------

PUBLISHED = "p" * 40
NEWER = "n" * 40
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_tag_that_only_moves_forward_is_skipped_and_the_push_goes_to_the_sha_tag() -> None:
    main, sha = ref(f"{REPO}:main"), ref(f"{REPO}:sha-ppppppp")
    image = ImageSpec("app", (TargetTag(main, monotonic=True), TargetTag(sha)))
    observed = Observed(
        tags={main: D_OLD, sha: None},
        labels={D_OLD: KEY_OLD},
        content_keys={"app": KEY},
        provenance={D_OLD: Provenance(NEWER, None, "1.3.0")},
        relations={NEWER: "newer"},
    )
    plan = make_plan([image], observed, commit=Commit(PUBLISHED, T0))
    by_ref = {c.ref: c for c in plan.changes}
    assert by_ref[main].action == "skip"
    assert by_ref[main].reason == "newer published: 1.3.0 / commit nnnnnnn"
    assert by_ref[sha].via == "push"
    assert plan.summary.skipped == 1
    assert not by_ref[main].is_change
    # --allow-backwards, or no commit to compare with: the tag moves, after the sha push.
    for moved in (
        make_plan([image], observed, commit=Commit(PUBLISHED, T0), allow_backwards=True),
        make_plan([image], observed),
    ):
        changes = {c.ref: c for c in moved.changes}
        assert (changes[main].action, changes[main].via) == ("update", "tag")
        assert changes[main].source == sha
        assert changes[sha].via == "push"
    # Nothing moves when every tag is skipped: no build either.
    only_main = ImageSpec("app", (TargetTag(main, monotonic=True),))
    lone = make_plan([only_main], observed, commit=Commit(PUBLISHED, T0))
    assert lone.builds == ()
    assert [c.action for c in lone.changes] == ["skip"]


REPO = "reg.example:5000/team/app"


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[frozenset[int]], list[int], list[bool]]:
    """A random commit graph (each commit's parents are earlier commits, its time later than
    theirs), an order in which pipelines publish its commits, and for each publication whether
    git can answer (a shallow clone cannot)."""
    size = draw(st.integers(2, 12))
    parents: list[frozenset[int]] = [frozenset()]
    for index in range(1, size):
        chosen = draw(st.sets(st.integers(0, index - 1), max_size=2))
        parents.append(frozenset(chosen))  # no parent: a new root (an orphan, a force push)
    order = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=20))
    known = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    return parents, order, known


def _ancestors(parents: list[frozenset[int]]) -> list[frozenset[int]]:
    out: list[frozenset[int]] = []
    for own in parents:
        out.append(frozenset(own).union(*(out[p] for p in own)))
    return out


@settings(max_examples=300, deadline=None)
@given(histories())
def test_the_rule_never_moves_a_tag_to_an_ancestor_of_its_commit(
    history: tuple[list[frozenset[int]], list[int], list[bool]],
) -> None:
    parents, order, known = history
    ancestors = _ancestors(parents)
    sha = [f"{index:040x}" for index in range(len(parents))]
    time = [T0 + timedelta(minutes=index) for index in range(len(parents))]
    main = ref(f"{REPO}:main")
    image = ImageSpec("app", (TargetTag(main, monotonic=True),))
    digest = [f"sha256:{index:064x}" for index in range(len(parents))]
    on: int | None = None  # the commit whose image main points to
    for published, git_knows in zip(order, known, strict=True):
        provenance, relations = {}, {}
        if on is not None:
            provenance[digest[on]] = Provenance(sha[on], time[on].isoformat(), None)
            if not git_knows:
                relation: Relation = "unknown"
            elif on == published:
                relation = "same"
            elif published in ancestors[on]:
                relation = "newer"
            elif on in ancestors[published]:
                relation = "older"
            else:
                relation = "diverged"
            relations[sha[on]] = relation
        observed = Observed(
            tags={main: digest[on] if on is not None else None},
            labels={digest[on]: "other"} if on is not None else {},
            content_keys={"app": "key"},
            provenance=provenance,
            relations=relations,
        )
        plan = make_plan([image], observed, commit=Commit(sha[published], time[published]))
        (change,) = plan.changes
        if change.action in ("create", "update"):
            assert on is None or published not in ancestors[on], (on, published)
            on = published
        else:
            assert change.action == "skip"
            assert on is not None
            assert published in ancestors[on] | {
                c for c in range(len(parents)) if time[c] < time[on]
            }


# --- images that depend on images -------------------------------------------------------------


def test_a_promotion_of_an_image_rebuilt_in_the_plan_copies_what_its_build_writes() -> None:
    app_sha, release = ref(f"{REPO}:sha-new"), ref("reg.example:5000/team/release:1.0.0")
    images = [
        ImageSpec("app", (TargetTag(app_sha),)),
        ImageSpec("release", (TargetTag(release),), source=app_sha, after=("app",)),
    ]
    observed = Observed(
        tags={app_sha: None, release: D_OLD},
        content_keys={"app": KEY},
        sources={"release": None},  # the source does not exist yet: app's build makes it
    )
    plan = make_plan(images, observed)
    (change,) = plan.images[1].changes
    assert (change.action, change.via, change.desired) == ("update", "copy", None)
    assert change.source == app_sha  # no digest: read once the push wrote it
    assert plan.images[1].after == ("app",)
    tasks = {t.id: t for t in tasks_for(plan)}
    assert tasks[f"copy {release}"].deps == (f"push {app_sha}",)


def test_a_promotion_with_no_tag_here_needs_no_source() -> None:
    spec = ImageSpec("release", (), source=ref(f"{REPO}:sha-new"))
    plan = make_plan([spec], Observed(tags={}))
    assert plan.images[0].changes == ()
    with pytest.raises(PlanError, match="does not exist"):
        make_plan([replace(spec, tags=(TargetTag(ref(f"{REPO}:1")),))], Observed(tags={}))


def test_a_file_image_is_pushed_with_no_build_to_wait_for() -> None:
    image = ImageSpec("app", tags(A1, A2, B1), file=FILE)
    observed = Observed(tags={ref(A1): None, ref(A2): None, ref(B1): None}, sources={"app": D_SRC})
    plan = make_plan([image], observed)
    assert plan.images[0].file == FILE
    assert plan.summary.builds == 0
    tasks = {task.id: task for task in tasks_for(plan)}
    assert set(tasks) == {f"push {A1}", f"tag {A2}", f"copy {B1}"}
    assert tasks[f"push {A1}"].deps == ()
    assert tasks[f"tag {A2}"].deps == (f"push {A1}",)
    # The other registry's copy publishes from the file too (as a build's copy does).
    assert tasks[f"copy {B1}"].from_build
