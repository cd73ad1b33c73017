"""`hubpub apply [PLANFILE]`: build, push and tag until the registries match the config.

Without PLANFILE it plans and applies at once, without prompting (it runs in CI). With one it
applies exactly that saved plan after checking that it was made for this config and commit,
that the build context of every image it builds still has the content key the plan saw, and
that every tag it touches still points where the plan saw it (Terraform's "Saved plan is
stale"). A plan with conflicts is refused before any change unless ``--allow-overwrite`` is
given. A partial failure prints what was done, what failed and what did not start, and exits
1; running apply again converges.
"""

from __future__ import annotations

import contextlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import click

from hubpub import github, staged
from hubpub.cimatrix import (
    StagedPlatforms,
    compose,
    composing,
    missing_refusal,
    publish_composed,
)
from hubpub.commands._options import plan_options, platform_option
from hubpub.commands._session import (
    Session,
    checkout_warnings,
    refuse_dirty,
    session,
    with_staged,
)
from hubpub.errors import HubpubError, PlanError, StalePlanError
from hubpub.executor import ApplyResult, BuildInputs, tasks_for
from hubpub.labelcache import LabelCache
from hubpub.layers import LayerCache
from hubpub.observe import Observation
from hubpub.planfile import SavedPlan, check_derived, check_stale, config_hash, load
from hubpub.planner import Plan
from hubpub.provenance import record_of
from hubpub.registry.models import Manifest
from hubpub.report import (
    GitHubProgress,
    PlainProgress,
    RichProgress,
    render_plan,
    render_result,
    result_json,
    write_github,
)
from hubpub.routing import PooledExecutor
from hubpub.taskgraph import Interrupted, Progress


@click.command("apply")
@plan_options
@platform_option
@click.option(
    "--allow-missing-platforms",
    is_flag=True,
    help="Publish the index of the staged platforms even when some platform is not staged.",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Build even when the files differ from the commit published (uncommitted changes, "
    "or --sha/--ref naming another commit than the checkout).",
)
@click.argument(
    "planfile", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
def command(
    config_path: Path,
    ref: str | None,
    sha: str | None,
    only: tuple[str, ...],
    as_json: bool,
    detailed_exitcode: bool,
    redirects: tuple[str, ...],
    rebuild: bool,
    allow_overwrite: bool,
    allow_backwards: bool,
    platform: str | None,
    allow_missing_platforms: bool,
    allow_dirty: bool,
    planfile: Path | None,
) -> int:
    """Apply a fresh plan, or exactly the saved PLANFILE."""
    saved: SavedPlan | None = None
    if planfile is not None:
        given = [
            name
            for name, value in (
                ("--ref", ref),
                ("--sha", sha),
                ("--only", only),
                ("--redirect", redirects),
                ("--rebuild", rebuild),
                ("--platform", platform),
            )
            if value
        ]
        if given:
            raise PlanError(
                f"{', '.join(given)}: not allowed with a saved plan",
                hint="a saved plan keeps the options it was made with; run 'hubpub plan --out' "
                "again to change them",
            )
        saved = load(planfile)
        if not config_path.is_file():
            raise PlanError(
                f"{config_path}: no such file, and {planfile} needs the config it was made for",
                hint="pass -c with that config's path",
            )
        # Before anything reads the config with the plan's options (its --only names images
        # of the config it was made for): another config is the cause to report.
        _check_config(config_path, saved, planfile)
        ref, sha, only = saved.options.ref, saved.options.sha, saved.options.only
        redirects, rebuild = saved.options.redirects, saved.options.rebuild
        allow_overwrite = allow_overwrite or saved.options.allow_overwrite
        allow_backwards = allow_backwards or saved.options.allow_backwards
        platform = saved.options.platform  # normalized by the loader

    with session(config_path, ref=ref, sha=sha, only=only, redirects=redirects) as current:
        if saved is not None:
            observation, plan = _check_saved(current, saved, planfile)
        else:
            observation = current.observe(rebuild=rebuild)
            plan = current.plan(observation, rebuild=rebuild, allow_backwards=allow_backwards)
        # With --platform, the plan stages that platform and composes nothing; without, it
        # composes the images whose platforms are all staged.
        plan, found = with_staged(current, observation, plan, platform, rebuild=rebuild)
        if platform is not None:
            found = {}
        plan = checkout_warnings(current, plan)
        # The index of staged images is known before any change: the plan shown is the one
        # applied (tags of it, no build), and nothing is written before the refusals below.
        indexes = _indexes(current, observation, plan, composing(found))
        if indexes:
            plan = publish_composed(plan, indexes)
        if not as_json:
            click.echo(render_plan(plan, current.builders(plan), current.engines(plan)))
        tasks_for(plan, allow_overwrite=allow_overwrite)  # refuses conflicts before any change
        refuse_dirty(plan, allow_dirty=allow_dirty)
        refusal = missing_refusal(found, allow_missing=allow_missing_platforms)
        if refusal is not None:
            raise refusal
        for stage, index in indexes.values():
            # Untagged, by digest where the staged children are: nothing points to it yet.
            current.registry.put_manifest(stage.home.with_digest(index.digest), index)
        try:
            result = _execute(
                current,
                observation,
                plan,
                allow_overwrite=allow_overwrite,
                allow_backwards=allow_backwards,
                saved=saved is not None,
                platform=platform,
            )
        except Interrupted as exc:
            # Ctrl-C: what was published (and what was not) before the exit, as a result.
            click.echo("")
            click.echo(render_result(ApplyResult(plan, tuple(exc.results))))
            raise
        _remember_keys(current, plan, result)
        write_github(current.environ, plan, result)
        if as_json:
            click.echo(json.dumps(result_json(result), indent=2))
        else:
            if result.results:
                click.echo("")  # after the plan
            click.echo(render_result(result))
    failed = result.by_status("failed")
    if failed:
        skipped = len(result.by_status("not-started"))
        raise HubpubError(
            f"apply failed: {len(failed)} of {len(result.results)} actions failed "
            f"({failed[0].task.label}: {failed[0].error}), {skipped} not started",
            hint="fix the cause and run 'hubpub apply' again: it does only what is missing",
        )
    return 2 if detailed_exitcode and plan.has_changes else 0


def _check_config(config_path: Path, saved: SavedPlan, planfile: Path) -> None:
    if config_hash(config_path) != saved.config_sha256:
        raise PlanError(
            f"the plan {planfile} was made for another version of {config_path}, or for "
            "another config",
            hint="pass -c with the config it was made for, or run 'hubpub plan --out' again",
        )


def _check_saved(
    current: Session, saved: SavedPlan, planfile: Path | None
) -> tuple[Observation, Plan]:
    if current.git.sha != saved.commit:
        raise PlanError(
            f"the plan {planfile} was made for commit {saved.commit[:12]}, this is "
            f"{current.git.sha[:12]}",
            hint="run 'hubpub plan --out' again",
        )
    # Only what the plan builds is keyed again: an image it only tags needs no context hashed
    # and no base looked up (its tags are all the plan acts on). Every tag the plan touches is
    # HEADed once, at the same time as the hashing.
    building = {image.name for image in saved.plan.images if image.build is not None}
    side = ThreadPoolExecutor(1, "hubpub-stale")
    try:
        tags = side.submit(check_stale, saved.plan, current.registry, saved.observed.sources)
        observation = current.observe_builds(building)
        # The references, actions and sources must be the config's (the file may have been
        # edited); the images outside --only that it depends on are not the plan's.
        check_derived(saved, observation.specs, str(planfile), leave_out=set(current.support))
        for image in saved.plan.images:
            if image.build is None:
                continue
            now = observation.observed.content_keys.get(image.name)
            if now != image.build.content_key:
                raise StalePlanError(
                    f"Saved plan is stale: the build context of {image.name!r} changed "
                    f"(content key {now}, the plan expected {image.build.content_key})",
                    hint="run 'hubpub plan' again",
                )
        _check_files(current, saved)
        tags.result()  # StalePlanError when a tag moved
    finally:
        # An error found here is reported at once, without waiting for the tag checks (which
        # may be retrying a failing registry); they change nothing, and the process ends.
        side.shutdown(wait=False, cancel_futures=True)
    return observation, saved.plan


def _check_files(current: Session, saved: SavedPlan) -> None:
    """A file the saved plan publishes from must still give the digest it planned (a build
    output is often made again between plan and apply: fileimages.py)."""
    for image in saved.plan.images:
        if image.file is None or not any(change.is_change for change in image.changes):
            continue
        now = current.files().top(image.name).digest
        planned = saved.observed.sources.get(image.name)
        if now != planned:
            raise StalePlanError(
                f"Saved plan is stale: {image.file} of image {image.name!r} is now {now}, "
                f"the plan expected {planned}",
                hint="run 'hubpub plan' again",
            )


def _remember_keys(current: Session, plan: Plan, result: ApplyResult) -> None:
    """Cache the content key (and the provenance labels) of every image just pushed: the next
    plan then only HEADs."""
    keys = {image.name: image.content_key for image in plan.images if image.build is not None}
    cache = LabelCache.default(current.environ)
    for item in result.results:
        if item.task.kind == "push" and item.status == "done" and item.digest is not None:
            labels = current.built_labels.get(item.task.image, {})
            cache.put(item.digest, keys.get(item.task.image), record_of(labels))


def _execute(
    current: Session,
    observation: Observation,
    plan: Plan,
    *,
    allow_overwrite: bool,
    allow_backwards: bool,
    saved: bool = False,
    platform: str | None = None,
) -> ApplyResult:
    # A progress display on a terminal; plain log lines in CI, where redraws would garble logs.
    # Under GitHub Actions, each build's log is a collapsible group.
    display = RichProgress() if sys.stderr.isatty() else None
    plain = GitHubProgress if github.enabled(current.environ) else PlainProgress
    progress: Progress = display or plain(sys.stderr)
    executor = PooledExecutor(
        current.registry,
        current.engine,
        _only_platform(current.build_inputs(observation, plan), platform),
        push_auth=current.push_auth,
        progress=progress,
        engines=current.pool,
        moves=None if allow_backwards else current.move_guard(observation),
        layer_cache=LayerCache.default(current.environ),
        # A saved plan's skips and observation come from a file: each tag that only moves
        # forward is decided again against what it points to now.
        recheck_moves=saved,
        stage_above=staged.threshold(current.environ.get("HUBPUB_STAGE_ABOVE_MB")),
        files=current.files(),
    )
    with display or contextlib.nullcontext():
        return executor.apply(plan, allow_overwrite=allow_overwrite)


def _indexes(
    current: Session,
    observation: Observation,
    plan: Plan,
    found: dict[str, StagedPlatforms],
) -> dict[str, tuple[StagedPlatforms, Manifest]]:
    """The index of each image whose platforms CI jobs staged (docs/ci-matrix.md), with the
    annotations of the image's build labels; nothing written yet."""
    if not found:
        return {}
    inputs = current.build_inputs(observation, plan)
    return {name: (stage, compose(stage, inputs[name].labels)) for name, stage in found.items()}


def _only_platform(inputs: dict[str, BuildInputs], platform: str | None) -> dict[str, BuildInputs]:
    """With ``--platform``: each build makes that platform only (its labels already carry the
    platform's key: cimatrix.stage_plan)."""
    if platform is None:
        return inputs
    out = {}
    for name, one in inputs.items():
        build = one.image.build
        if build is not None:
            image = replace(one.image, build=replace(build, platforms=(platform,)))
            one = replace(one, image=image)
        out[name] = one
    return out
