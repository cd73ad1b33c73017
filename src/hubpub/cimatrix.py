"""The staged matrix flow (docs/ci-matrix.md): one CI job per platform, the registry as the
only meeting point, then a final job that composes the index.

- ``hubpub apply --platform P`` (:func:`stage_plan`): of every multi-platform image the plan
  builds whose platforms include ``P``, only ``P``'s image is built and written, by digest,
  under its **staging tag** in the image's first repository (:func:`staging_tag`:
  ``hubpub-<12 hex of the platform's key>-<platform with - for />``; deterministic, from
  platforms.platform_key). A staging tag already there is "already staged": nothing is built.
  No other tag moves.
- A final ``hubpub apply`` (:func:`look`): one HEAD per platform of each multi-platform build
  finds what is staged. Nothing staged: the image is built as always, every platform on the
  engines at hand. Every platform staged: nothing is built; the index of the staged images
  (:func:`compose`) is written by digest where they are, and the plan becomes tags and copies
  of it (:func:`publish_composed`), for the executor as any other. Some staged, some not
  (:func:`missing_refusal`): the plan names what is missing and the command that stages it,
  and apply refuses a partial index unless ``--allow-missing-platforms``; a partial index
  carries no content key, so a later plan composes the whole one.
- :func:`matrix`: the ``{image, platform, builder}`` builds still needed, for ``plan --json``
  and ``$GITHUB_OUTPUT``'s ``matrix`` (an unchanged image starts no runner).
- The platforms are the config's (ImageSpec.platforms), never a saved plan's copy of them. An
  image that builds ``FROM`` an image the same commit changes (:func:`unstageable`) is in no
  job's matrix: the final apply builds it after its base. ``--rebuild`` looks at nothing
  staged (:func:`look`): every platform is built again.

Not to be confused with staged.py (a large single image's engine push through
``hubpub-staging-<hex>``: docs/registry.md#platform-staging-tags). Everything here is pure
except :func:`look` (HEADs through the registry client); commands/apply.py writes the index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from hubpub.config.builders import Builder, builder_for
from hubpub.contentkey import LABEL
from hubpub.errors import PlanError
from hubpub.multiplatform import compose_index, index_annotations
from hubpub.planner import Build, Change, ImagePlan, Plan, PlanWarning
from hubpub.platforms import platform_key
from hubpub.reference import Reference, Repository
from hubpub.registry.models import Manifest, ManifestInfo
from hubpub.stagingtags import platform_tag

DEFAULT_BUILDER = "default"  # the engine DOCKER_HOST names


def staging_tag(key: str, platform: str) -> str:
    """The staging tag of a platform's image whose key (platforms.platform_key) is ``key``:
    ``hubpub-<first 12 hex digits>-<os>-<arch>[-<variant>]`` (stagingtags.py names them all)."""
    return platform_tag(key, platform)


def staging_ref(home: Repository, image_key: str, platform: str) -> Reference:
    """Where ``platform``'s image of a build whose content key is ``image_key`` is staged."""
    return home.with_tag(staging_tag(platform_key(image_key, platform), platform))


def home_of(image: ImagePlan) -> Repository | None:
    """The image's first repository (its first desired tag's): where its platforms are staged,
    the same for every job of one commit."""
    return image.changes[0].ref.repository if image.changes else None


Platforms = Mapping[str, tuple[str, ...]]  # image -> its config's platforms (ImageSpec's)


def _platforms_of(image: ImagePlan, platforms: Platforms | None) -> tuple[str, ...]:
    """The image's platforms as the config lists them (a saved plan is a file: its build's
    list is only what the file says); without ``platforms``, the build's."""
    if platforms is not None:
        return tuple(platforms.get(image.name, ()))
    return image.build.platforms if image.build is not None else ()


def _stageable(image: ImagePlan, platforms: Platforms | None) -> tuple[Build, Repository] | None:
    build = image.build
    home = home_of(image)
    listed = _platforms_of(image, platforms)
    if build is None or len(listed) < 2 or build.content_key is None or home is None:
        return None
    return replace(build, platforms=listed), home


def unstageable(plan: Plan) -> dict[str, str]:
    """The images that build ``FROM`` a reference the same plan writes anew (image -> that
    ``FROM`` text): a staged build would start from the old base, so no platform job stages
    them; the final apply builds them on its engines, after their base is published."""
    written = {c.ref for c in plan.changes if c.is_change}
    out = {}
    for image in plan.images:
        used = [text for text, ref in image.build.uses if ref in written] if image.build else []
        if used:
            out[image.name] = used[0]
    return out


@dataclass(frozen=True)
class StagedPlatforms:
    """What the registry holds of one multi-platform build's platforms."""

    image: str
    platforms: tuple[str, ...]  # the config's, in its order
    home: Repository
    refs: Mapping[str, Reference]  # platform -> its staging reference
    found: Mapping[str, ManifestInfo | None]  # platform -> what its staging tag points to

    @property
    def present(self) -> tuple[str, ...]:
        return tuple(p for p in self.platforms if p in self.refs and self.found.get(p))

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(p for p in self.platforms if p in self.refs and not self.found.get(p))


class Registry(Protocol):
    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]: ...


def wanted(
    plan: Plan, platform: str | None = None, *, platforms: Platforms | None = None
) -> dict[str, StagedPlatforms]:
    """The staging references of every multi-platform build of ``plan`` (of ``platform`` only,
    when given), nothing found yet. ``platforms``: each image's platforms from the config
    (ImageSpec.platforms), which a saved plan's file cannot change. An image of
    :func:`unstageable` has none."""
    out = {}
    blocked = unstageable(plan)
    for image in plan.images:
        stageable = _stageable(image, platforms)
        if stageable is None or image.name in blocked:
            continue
        build, home = stageable
        assert build.content_key is not None
        chosen = tuple(p for p in build.platforms if platform in (None, p))
        if not chosen:
            continue
        refs = {p: staging_ref(home, build.content_key, p) for p in chosen}
        out[image.name] = StagedPlatforms(image.name, build.platforms, home, refs, {})
    return out


def look(
    plan: Plan,
    registry: Registry,
    platform: str | None = None,
    *,
    platforms: Platforms | None = None,
    rebuild: bool = False,
) -> dict[str, StagedPlatforms]:
    """:func:`wanted`, each staging reference HEADed (one request each, concurrently).
    ``rebuild`` (``--rebuild``): nothing is looked at, every platform counts as missing, so
    that a platform job builds and stages its platform again and a final apply builds every
    platform itself instead of composing images an earlier build staged (docs/ci-matrix.md)."""
    want = wanted(plan, platform, platforms=platforms)
    if rebuild:
        return want
    found = registry.resolve(ref for staged in want.values() for ref in staged.refs.values())
    return {
        name: replace(staged, found={p: found.get(ref) for p, ref in staged.refs.items()})
        for name, staged in want.items()
    }


# --- apply --platform P --------------------------------------------------------------------


def stage_plan(plan: Plan, platform: str, staged: Mapping[str, StagedPlatforms]) -> Plan:
    """The plan of ``apply --platform``: each image of ``staged`` builds ``platform`` only and
    pushes it to its staging tag, or (already staged) does nothing; an image of
    :func:`unstageable` is left to the final apply, with a warning saying so; other images
    are left out, and no other tag moves."""
    blocked = unstageable(plan)
    images = []
    warnings = []
    for image in plan.images:
        build = image.build
        if (
            image.name in blocked
            and build
            and len(build.platforms) > 1
            and platform in build.platforms
        ):
            text = (
                f"not staged for {platform}: it builds FROM {blocked[image.name]}, which this "
                "commit publishes anew too, and a staged build would start from the old image; "
                "the final 'hubpub apply' builds it once that image is published"
            )
            warnings.append(PlanWarning(image.name, text))
            images.append(ImagePlan(image.name, None, ()))
            continue
        stage = staged.get(image.name)
        if stage is None or image.build is None or platform not in stage.refs:
            continue
        assert image.build.content_key is not None
        key = platform_key(image.build.content_key, platform)
        ref = stage.refs[platform]
        info = stage.found.get(platform)
        if info is not None:
            change = Change(image.name, ref, "noop", None, info.digest, info.digest)
            images.append(ImagePlan(image.name, None, (change,), content_key=key))
            continue
        build = Build(
            image.name,
            f"{platform} is not staged yet (key {key[:19]}…)",
            key,
            ref,
            uses=image.build.uses,
            platforms=(platform,),
        )
        change = Change(image.name, ref, "create", "push", None, None)
        images.append(ImagePlan(image.name, build, (change,), content_key=key))
    # (commands/_session.py checkout_warnings looks again)
    return Plan(tuple(images)).with_warnings(warnings)


# --- the final apply -------------------------------------------------------------------------


def command_for(image: str, platform: str) -> str:
    return f"hubpub apply --platform {platform} --only {image}"


def note_staged(plan: Plan, staged: Mapping[str, StagedPlatforms]) -> Plan:
    """``plan`` saying, for each multi-platform build, what the staged images change: every
    platform staged, no build (the reason says so); some, a warning per missing platform
    naming the command that stages it."""
    warnings = []
    images = []
    for image in plan.images:
        stage = staged.get(image.name)
        build = image.build
        if stage is None or build is None or not stage.present:
            images.append(image)
            continue
        if stage.missing:
            for platform in stage.missing:
                text = (
                    f"{platform} is not staged (staged: {', '.join(stage.present)}): run "
                    f"'{command_for(image.name, platform)}' on a {platform} runner first"
                )
                warnings.append(PlanWarning(image.name, text))
            reason = f"{build.reason}; composed from the staged {', '.join(stage.present)}"
            # A partial index (--allow-missing-platforms) carries no content key, so that no
            # later plan takes it for the whole image (nor does the label cache).
            build = replace(build, content_key=None)
            image = replace(image, content_key=None)
        else:
            reason = f"{build.reason}; every platform is staged: composed, nothing built"
        images.append(replace(image, build=replace(build, reason=reason)))
    return replace(plan, images=tuple(images)).with_warnings(warnings)


def missing_refusal(
    staged: Mapping[str, StagedPlatforms], *, allow_missing: bool
) -> PlanError | None:
    """The error of a final apply that would publish a partial index: an image with some
    platforms staged and others not (nothing staged: the engines at hand build them all)."""
    if allow_missing:
        return None
    for stage in staged.values():
        if stage.present and stage.missing:
            platform = stage.missing[0]
            more = f" (and {', '.join(stage.missing[1:])})" if len(stage.missing) > 1 else ""
            return PlanError(
                f"image {stage.image!r}: platform {platform}{more} is not staged, "
                f"{', '.join(stage.present)} is; nothing was changed",
                hint=f"run '{command_for(stage.image, platform)}' on a {platform} runner, or "
                "pass --allow-missing-platforms to publish the index without it",
            )
    return None


def composing(staged: Mapping[str, StagedPlatforms]) -> dict[str, StagedPlatforms]:
    """The images a final apply composes from staged images instead of building."""
    return {name: stage for name, stage in staged.items() if stage.present}


def compose(stage: StagedPlatforms, labels: Mapping[str, str]) -> Manifest:
    """The index of the staged images, with the annotations a build on one engine gives
    (``labels``: the image's build labels), the content key left out when platforms are
    missing (docs/ci-matrix.md). Each entry from its staging tag's HEAD: no manifest read."""
    children = [(p, info) for p in stage.present if (info := stage.found[p]) is not None]
    annotations = index_annotations(labels)
    if stage.missing:
        annotations.pop(LABEL, None)
    return compose_index(children, annotations)


def publish_composed(plan: Plan, composed: Mapping[str, tuple[StagedPlatforms, Manifest]]) -> Plan:
    """``plan`` once the index of each image of ``composed`` is in its first repository (by
    digest, where the staged children are): no build; each tag a tag of the index there, or a
    copy of it (children first) into another repository."""
    images = []
    for image in plan.images:
        if image.name not in composed:
            images.append(image)
            continue
        stage, index = composed[image.name]
        source = stage.home.with_digest(index.digest)
        changes = tuple(
            replace(
                change,
                via="tag" if change.ref.repository == stage.home else "copy",
                source=source,
                desired=index.digest,
            )
            if change.via is not None and change.action != "skip"
            else change
            for change in image.changes
        )
        images.append(replace(image, build=None, changes=changes))
    return replace(plan, images=tuple(images))


# --- the CI matrix ---------------------------------------------------------------------------


def matrix(
    staged: Mapping[str, StagedPlatforms], builders: Mapping[str, Builder] | None = None
) -> list[dict[str, str]]:
    """The platform builds still needed, one ``{image, platform, builder}`` each, in the
    plan's order: what a CI matrix of ``apply --platform`` jobs runs (empty: no job).
    ``builder``: the ``[builders]`` entry that builds the platform (config/builders.py's
    routing), else ``"default"``, the engine DOCKER_HOST names."""
    return [
        {
            "image": stage.image,
            "platform": p,
            "builder": builder_for(builders or {}, p) or DEFAULT_BUILDER,
        }
        for stage in staged.values()
        for p in stage.missing
    ]
