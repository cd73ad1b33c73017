"""Plans and apply results as text, JSON, progress and GitHub Actions summaries.

The text follows Terraform's plan output (docs/architecture.md#output-formats): grouped by
image, one line per desired tag with ``+ create``, ``~ update old → new``, ``= unchanged``,
``! conflict`` or ``- skip (newer published: …)`` (a tag that only moves forward already names
a newer commit: docs/config.md#tags-only-move-forward), a build line with its reason, and a
closing summary line (``Plan: 1 build, 3 to create, 1 to update, 4 unchanged.``). ``--json``
prints ``format_version`` 1 exactly: scripts read it.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from typing import IO, Any

from hubpub.executor import ApplyResult
from hubpub.github import annotate, group, write_outputs, write_summary
from hubpub.planner import Change, Plan, Summary
from hubpub.reference import Reference
from hubpub.taskgraph import Task, TaskResult

KNOWN_AFTER_BUILD = "(known after build)"
_SYMBOL = {"create": "+", "update": "~", "noop": "=", "conflict": "!", "skip": "-"}
_WORD = {
    "create": "create",
    "update": "update",
    "noop": "unchanged",
    "conflict": "conflict",
    "skip": "skip",
}


def short(digest: str | None) -> str:
    if digest is None:
        return KNOWN_AFTER_BUILD
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest


def summary_line(summary: Summary) -> str:
    builds = "build" if summary.builds == 1 else "builds"
    text = (
        f"Plan: {summary.builds} {builds}, {summary.create} to create, "
        f"{summary.update} to update, {summary.unchanged} unchanged"
    )
    if summary.conflicts:
        text += f", {summary.conflicts} conflict" + ("s" if summary.conflicts > 1 else "")
    if summary.skipped:
        text += f", {summary.skipped} skipped"
    return text + "."


def render_plan(
    plan: Plan,
    builders: Mapping[str, str] | None = None,
    engines: Mapping[str, str] | None = None,
) -> str:
    """The plan as text; ``builders`` (image -> which builder builds it) and ``engines``
    (image -> which engines build it, with ``[builders]``) add a line each under each build."""
    # Each warning under the line of its subject: the build's, or the tag's.
    warned: dict[tuple[str, Reference | None], list[str]] = {}
    for warning in plan.warnings:
        warned.setdefault((warning.image, warning.ref), []).append(warning.text)
    lines: list[str] = []
    for image in plan.images:
        notes = [f"promoted from {image.source}"] if image.source is not None else []
        if image.file is not None:
            notes.append(f"from {image.file}")
        if image.after:
            notes.append(f"after: {', '.join(image.after)}")
        header = f"image {image.name}" + (f" ({', '.join(notes)})" if notes else "")
        lines.append(header)
        if image.build is not None:
            lines.append(f"  * build: {image.build.reason}")
            if image.build.platforms:
                lines.append(f"  * platforms: {', '.join(image.build.platforms)}")
            if builders and image.name in builders:
                lines.append(f"  * builder: {builders[image.name]}")
            if engines and image.name in engines:
                lines.append(f"  * engine: {engines[image.name]}")
        lines.extend(f"      warning: {text}" for text in warned.get((image.name, None), ()))
        width = max((len(str(c.ref)) for c in image.changes), default=0)
        for change in image.changes:
            lines.append("  " + _change_line(change, width))
            lines.extend(
                f"      warning: {text}" for text in warned.get((image.name, change.ref), ())
            )
        lines.append("")
    conflicts = plan.conflicts
    if conflicts:
        lines.append(
            f"{len(conflicts)} immutable tag(s) would move: apply refuses this plan unless "
            "--allow-overwrite is given."
        )
    if not plan.has_changes:
        lines.append("No changes. Every tag already points to the right image.")
    lines.append(summary_line(plan.summary))
    return "\n".join(lines)


def _change_line(change: Change, width: int) -> str:
    symbol = _SYMBOL[change.action]
    word = _WORD[change.action].ljust(9)
    ref = str(change.ref).ljust(width)
    if change.action == "noop":
        return f"{symbol} {word} {ref}  {short(change.current)}"
    if change.action == "skip":
        return f"{symbol} {word} {ref}  ({change.reason})"
    via = f"via {change.via}".ljust(8)
    if change.action == "create":
        return f"{symbol} {word} {ref}  {via}  {short(change.desired)}"
    move = f"{short(change.current)} → {short(change.desired)}"
    if change.action == "conflict":
        return f"{symbol} {word} {ref}  immutable ({change.rule}): {move}"
    return f"{symbol} {word} {ref}  {via}  {move}"


def plan_json(plan: Plan) -> dict[str, Any]:
    # "after" only on the entries of an image that depends on another (docs/config.md), so
    # that the others keep exactly the format_version 1 shape (docs/architecture.md).
    after = {image.name: {"after": list(image.after)} for image in plan.images if image.after}
    data: dict[str, Any] = {
        "format_version": 1,
        "builds": [
            {
                "image": b.image,
                "reason": b.reason,
                **({"platforms": list(b.platforms)} if b.platforms else {}),
                **after.get(b.image, {}),
            }
            for b in plan.builds
        ],
        "changes": [
            {
                "image": c.image,
                "ref": str(c.ref),
                "action": c.action,
                "via": c.via,
                "current": c.current,
                "desired": c.desired,
                # Only on a skip: the other changes keep the format_version 1 shape.
                **({"reason": c.reason} if c.action == "skip" else {}),
                **after.get(c.image, {}),
            }
            for c in plan.changes
        ],
    }
    warnings = [
        {"image": w.image, "warning": w.text}
        if w.ref is None
        else {"ref": str(w.ref), "warning": w.text}
        for w in plan.warnings
    ]
    if warnings:
        # Only when there is one, so a plan without keeps exactly format_version 1's keys.
        data["warnings"] = warnings
    return data


# --- apply results ------------------------------------------------------------------------


def render_result(result: ApplyResult) -> str:
    lines = []
    width = max((len(r.task.label) for r in result.results), default=0)
    for item in result.results:
        status = item.status.ljust(11)
        text = f"  {status} {item.task.label.ljust(width)}"
        if item.status == "done":
            if item.digest and item.task.kind != "build":
                text += f"  {item.digest}"
            text += f"  ({item.seconds:.1f}s)"
        elif item.error:
            text += f"  {item.error}"
        lines.append(text.rstrip())
        lines.extend(f"      | {line}" for line in item.output)
    done = len(result.by_status("done"))
    failed = len(result.by_status("failed"))
    skipped = len(result.by_status("not-started"))
    newer = len(result.by_status("skipped"))
    if not result.results:
        lines.append("Apply: nothing to do.")
    else:
        more = f", {newer} skipped (newer published)" if newer else ""
        lines.append(f"Apply: {done} done, {failed} failed, {skipped} not started{more}.")
    return "\n".join(lines)


def render_builds(result: ApplyResult) -> str:
    """``hubpub build``'s report: each image built with its image ID; nothing was pushed."""
    if not result.results:
        return (
            "Build: nothing to build (every image is published with this content; "
            "--rebuild builds anyway)."
        )
    lines = []
    width = max(len(r.task.image) for r in result.results)
    for item in result.results:
        text = f"  {item.status.ljust(11)} {item.task.image.ljust(width)}"
        if item.status == "done":
            text += f"  {item.digest}  ({item.seconds:.1f}s)"
        elif item.error:
            text += f"  {item.error}"
        lines.append(text)
        lines.extend(f"      | {line}" for line in item.output)
    built = len(result.by_status("done"))
    failed = len(result.by_status("failed"))
    lines.append(f"Build: {built} built, {failed} failed; nothing pushed.")
    return "\n".join(lines)


def result_json(result: ApplyResult) -> dict[str, Any]:
    data = plan_json(result.plan)
    data["results"] = [
        {
            "action": r.task.kind,
            "image": r.task.image,
            "ref": str(r.task.ref) if r.task.ref is not None else None,
            "status": r.status,
            "digest": r.digest,
            "error": r.error,
        }
        for r in result.results
    ]
    # Every desired reference with the digest it points to after the run, changed or not:
    # what a later step (sign, deploy) needs, whatever this run had to do.
    data["digests"] = reference_digests(result)
    return data


def reference_digests(result: ApplyResult) -> dict[str, str]:
    """Every desired reference that points to its image after this run (the ones apply wrote
    and the ones that already did), in plan order -> that digest. A tag apply did not reach
    after a partial failure is left out: it does not point to this run's image."""
    written = {str(ref): digest for _image, ref, digest in result.written}
    now: dict[str, str] = {}
    for change in result.plan.changes:
        ref = str(change.ref)
        digest = written.get(ref) or (change.current if change.action == "noop" else None)
        if digest:
            now[ref] = digest
    return now


def final_digests(result: ApplyResult) -> dict[str, dict[str, Any]]:
    """image -> {"digest": what its tags point to now (None if unknown), "refs": [...]}.

    Only references that do point there now: after a partial failure, a tag apply did not
    reach is not reported as published."""
    now = reference_digests(result)
    images: dict[str, dict[str, Any]] = {}
    for image in result.plan.images:
        refs = [str(c.ref) for c in image.changes if str(c.ref) in now]
        images[image.name] = {"digest": now[refs[0]] if refs else None, "refs": refs}
    return images


# --- progress -----------------------------------------------------------------------------

_NOISY = ("Preparing", "Waiting", "Pushing", "Layer already exists", "Pushed", "Mounted from")


class PlainProgress:
    """One log line per step, for CI logs (no terminal control sequences)."""

    # A failed build's last lines of output, again under its FAILED line: in a plain log they
    # may be far above, among other builds' lines.
    repeat_output = True

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def started(self, task: Task) -> None:
        self._print(f"hubpub: {task.label} ...")

    def line(self, task: Task, text: str) -> None:
        if task.kind == "push" and any(word in text for word in _NOISY):
            return
        self._print(f"hubpub: {task.label}: {text}")

    def finished(self, result: TaskResult) -> None:
        label = result.task.label
        if result.status == "done":
            # A build's result is the engine's image ID, not a registry digest: the digest is
            # known only once the image is pushed (its push line says it).
            what = (
                result.digest if result.task.kind != "build" else f"image ID {short(result.digest)}"
            )
            self._print(f"hubpub: {label}: done {what} ({result.seconds:.1f}s)")
        elif result.status == "failed":
            self._print(f"hubpub: {label}: FAILED: {result.error}")
            for line in result.output if self.repeat_output else ():
                self._print(f"hubpub: {label}: | {line}")
        else:
            self._print(f"hubpub: {label}: {result.error}")


class GitHubProgress(PlainProgress):
    """PlainProgress under GitHub Actions: each build's log is one collapsible group, printed
    when the build ends (builds run concurrently: their lines would interleave), with only
    its start and end outside the group."""

    _KEEP = 2000  # lines of one build's log kept for its group; the end matters most
    repeat_output = False  # the group, printed just before, ends with them

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._logs: dict[str, list[str]] = {}

    def line(self, task: Task, text: str) -> None:
        if task.kind != "build":
            super().line(task, text)
            return
        with self._lock:
            log = self._logs.setdefault(task.id, [])
            log.append(text)
            del log[: -self._KEEP]

    def finished(self, result: TaskResult) -> None:
        if result.task.kind == "build":
            with self._lock:
                log = self._logs.pop(result.task.id, [])
            state = {"done": "done", "failed": "FAILED"}.get(result.status, result.status)
            title = f"hubpub: {result.task.label} ({state}, {result.seconds:.1f}s)"
            with self._lock:
                print(group(title, log), file=self.stream, end="", flush=True)
        super().finished(result)


class RichProgress:
    """A live display on a terminal while apply runs: one row per running task, with a
    spinner and its last line; a finished task leaves the display (the result table printed
    after apply lists every task once), and the display leaves the screen when apply ends."""

    def __init__(self) -> None:
        from rich.console import Console  # lazy: rich costs 0.025 s, only on a terminal
        from rich.progress import (  # lazy: rich, as above
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._ids: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def started(self, task: Task) -> None:
        with self._lock:
            self._ids[task.id] = self.progress.add_task(task.label, total=1)

    def line(self, task: Task, text: str) -> None:
        task_id = self._ids.get(task.id)
        if task_id is not None:
            last = text.strip().replace("[", "\\[")[:60]
            self.progress.update(task_id, description=f"{task.label} [dim]{last}[/dim]")

    def finished(self, result: TaskResult) -> None:
        with self._lock:
            task_id = self._ids.pop(result.task.id, None)
        if task_id is not None:
            self.progress.remove_task(task_id)


# --- GitHub Actions -----------------------------------------------------------------------


def write_github(environ: Mapping[str, str], plan: Plan, result: ApplyResult | None = None) -> None:
    """A markdown summary to ``$GITHUB_STEP_SUMMARY``; after apply, the step outputs:
    ``refs`` and ``digests``, every desired reference that points to its image now (changed
    or not), ``changed``, the ones this run wrote, ``images`` per image, ``json`` the result."""
    write_summary(environ, markdown(plan, result))
    annotate(environ, "warning", warning_lines(plan))
    if result is not None:
        now = reference_digests(result)
        outputs = {
            "refs": "\n".join(now),
            "digests": json.dumps(now, sort_keys=True),
            "changed": "\n".join(str(ref) for _image, ref, _digest in result.written),
            "images": json.dumps(final_digests(result), sort_keys=True),
            "json": json.dumps(result_json(result), sort_keys=True),
        }
        write_outputs(environ, outputs)


def warning_lines(plan: Plan) -> list[str]:
    """Each warning of the plan as one line naming its image (and tag)."""
    return [
        f"image {w.image!r}: {w.text}" if w.ref is None else f"image {w.image!r}: {w.ref}: {w.text}"
        for w in plan.warnings
    ]


def _one_line(text: str | None) -> str:
    return " ".join((text or "failed").split())


def markdown(plan: Plan, result: ApplyResult | None = None) -> str:
    title = "hubpub apply" if result is not None else "hubpub plan"
    status: dict[str, str] = {}
    if result is not None:
        for item in result.results:
            if item.task.ref is not None:
                status[str(item.task.ref)] = item.status
    lines = [f"### {title}", ""]
    for build in plan.builds:
        lines.append(f"- build **{build.image}**: {build.reason}")
    if plan.builds:
        lines.append("")
    lines.append("| image | reference | action | digest |" + (" status |" if result else ""))
    lines.append("| --- | --- | --- | --- |" + (" --- |" if result else ""))
    digests: dict[str, str] = {}
    if result is not None:
        digests = {str(ref): digest for _image, ref, digest in result.written}
    for change in plan.changes:
        ref = str(change.ref)
        digest = digests.get(ref) or change.desired or change.current or ""
        action = _WORD[change.action]
        if change.via and change.action != "noop":
            action += f" ({change.via})"
        shown = f"`{short(digest)}`" if digest else ""
        row = f"| {change.image} | `{ref}` | {action} | {shown} |"
        if result is not None:
            row += f" {status.get(ref, 'unchanged' if change.action == 'noop' else '')} |"
        lines.append(row)
    lines.append("")
    failed = result.by_status("failed") if result is not None else []
    if failed:
        # What failed and why, first: the table says only which tags were not reached.
        lines.append("**Failed:**")
        lines.append("")
        lines.extend(f"- {item.task.label}: {_one_line(item.error)}" for item in failed)
        lines.append("")
    for warning in plan.warnings:
        subject = f"build **{warning.image}**" if warning.ref is None else f"`{warning.ref}`"
        lines.append(f"> [!WARNING]\n> {subject}: {warning.text}\n")
    lines.append(summary_line(plan.summary))
    return "\n".join(lines) + "\n\n"
