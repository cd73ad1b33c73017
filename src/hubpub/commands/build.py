"""`hubpub build`: build every image the plan would build, and publish nothing.

What a pull-request job runs (docker/build-push-action's ``push: false``): the same plan as
``apply`` (same content keys, same labels, the same builder), then only its builds. Nothing is
pushed, tagged or copied, and no registry is written to; the registries are only read, to
know which images need a build (``--rebuild`` builds them all). The report lists each image
built with its image ID (a multi-platform image's first platform's; each platform's ID is in
its progress line, ``[linux/arm64] built sha256:… for linux/arm64``); the exit code is 1
when a build failed, else 0 (with ``--detailed-exitcode``: 2 when something was built).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from hubpub.commands._options import selection_options
from hubpub.commands._session import checkout_warnings, refuse_dirty, session
from hubpub.errors import HubpubError
from hubpub.executor import ApplyResult
from hubpub.report import PlainProgress, RichProgress, render_builds, render_plan, result_json
from hubpub.routing import PooledExecutor
from hubpub.taskgraph import Progress


@click.command("build")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing needed a build, 2 when images were built (1 is an error).",
)
@click.option(
    "--redirect",
    "redirects",
    multiple=True,
    metavar="FROM=TO",
    help="Use registry TO wherever the config says FROM (repeatable).",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Build every image, even those whose content key is already published.",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Build even when the files differ from the commit the labels name.",
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
    allow_dirty: bool,
) -> int:
    """Build what apply would build, and push nothing."""
    with session(config_path, ref=ref, sha=sha, only=only, redirects=redirects) as current:
        observation = current.observe(rebuild=rebuild)
        plan = current.plan(observation, rebuild=rebuild, allow_backwards=False)
        plan = checkout_warnings(current, plan)
        if not as_json:
            click.echo(render_plan(plan, current.builders(plan), current.engines(plan)))
        refuse_dirty(plan, allow_dirty=allow_dirty)
        display = RichProgress() if sys.stderr.isatty() and not as_json else None
        progress: Progress = display or PlainProgress(sys.stderr)
        executor = PooledExecutor(
            current.registry,
            current.engine,
            current.build_inputs(observation, plan),
            push_auth=current.push_auth,
            progress=progress,
            engines=current.pool,
        )
        with display or contextlib.nullcontext():
            # Nothing is written, so a tag that apply would refuse to move does not matter.
            result: ApplyResult = executor.apply(plan, allow_overwrite=True, build_only=True)
        if as_json:
            click.echo(json.dumps(result_json(result), indent=2))
        else:
            click.echo(render_builds(result))
    failed = result.by_status("failed")
    if failed:
        raise HubpubError(
            f"build failed: {len(failed)} of {len(result.results)} images failed to build "
            f"({failed[0].task.label}: {failed[0].error})",
            hint="fix the cause and run 'hubpub build' again",
        )
    return 2 if detailed_exitcode and result.results else 0
