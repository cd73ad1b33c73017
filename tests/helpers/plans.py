"""A sample plan, and the digests and repositories it is made of, for the tests of what
surrounds the planner (report, planfile, executor, GitHub outputs)."""

from __future__ import annotations

from hubpub.planner import ImageSpec, Observed, Plan, TargetTag, make_plan
from hubpub.reference import parse_reference

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
