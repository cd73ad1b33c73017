"""`hubpub plan`: diff the desired tags against the registries and show what apply would do.

The steps, one module each: config → desired references (desired.py) → observed state
(observe.py) → plan (planner.py) → text or JSON (report.py), optionally saved (planfile.py);
the wiring of them is commands/_session.py, shared with ``apply``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubpub import github
from hubpub.cimatrix import matrix
from hubpub.commands._options import plan_options, platform_option
from hubpub.commands._session import checkout_warnings, session, with_staged
from hubpub.planfile import PlanOptions, SavedPlan, config_hash, save
from hubpub.planner import Plan
from hubpub.report import plan_json, render_plan, write_github


def print_plan(
    plan: Plan,
    *,
    as_json: bool,
    builders: dict[str, str] | None = None,
    engines: dict[str, str] | None = None,
    needed: list[dict[str, str]] | None = None,
) -> None:
    """The plan as text or JSON; ``needed``: the JSON's ``matrix`` (cimatrix.matrix)."""
    if as_json:
        data = plan_json(plan)
        if needed is not None:
            data["matrix"] = needed
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_plan(plan, builders, engines))


@click.command("plan")
@plan_options
@platform_option
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Save the plan, for 'hubpub apply PLANFILE' to apply exactly it.",
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
    out: Path | None,
) -> int:
    """Show the builds, pushes and tag operations that apply would do."""
    with session(config_path, ref=ref, sha=sha, only=only, redirects=redirects) as current:
        observation = current.observe(rebuild=rebuild)
        plan = current.plan(observation, rebuild=rebuild, allow_backwards=allow_backwards)
        plan = checkout_warnings(current, plan)  # (the plan saved: every image's)
        shown, staged = with_staged(current, observation, plan, platform, rebuild=rebuild)
        if platform is not None:  # the images a platform job builds are other builds
            shown = checkout_warnings(current, shown)
        # The platform builds still needed: what is not staged yet (docs/ci-matrix.md).
        needed = matrix(staged, current.config.builders)
        if out is not None:
            saved = SavedPlan(
                plan=plan,
                observed=observation.observed,
                config_sha256=config_hash(current.config.path),
                commit=current.git.sha,
                options=PlanOptions(
                    ref=ref,
                    sha=sha,
                    only=tuple(only),
                    redirects=tuple(current.redirects.as_list()),
                    rebuild=rebuild,
                    allow_overwrite=allow_overwrite,
                    allow_backwards=allow_backwards,
                    platform=platform,
                ),
            )
            save(saved, out)
        print_plan(
            shown,
            as_json=as_json,
            builders=None if as_json else current.builders(shown),
            engines=None if as_json else current.engines(shown),
            needed=needed,
        )
        if out is not None and not as_json:
            click.echo(f"Saved the plan to {out}: 'hubpub apply {out}' applies exactly it.")
        write_github(current.environ, shown)
        github.write_outputs(current.environ, {"matrix": json.dumps(needed)})
    # What this invocation would do: with --platform, that platform's job (shown), not the
    # whole plan.
    return 2 if detailed_exitcode and shown.has_changes else 0
