"""Saved plans: ``hubpub plan --out FILE`` then ``hubpub apply FILE`` (Terraform's model).

A saved plan records what it was made for (the config file's sha256, the commit, the options
that shaped the desired references) and every digest it observed, so that ``apply`` can refuse
a plan made for another config or commit and re-check each tag before changing anything
(:class:`~hubpub.errors.StalePlanError`). It holds references, digests and content keys only:
no credentials, no build args (they may carry secrets; apply renders them again from the
config and checks that the content key still matches).

The plan's warnings are saved as one list (``warnings``: image, ref or null, text, blocks),
the blocking ones included, though apply checks the checkout again. Each change also keeps its
own ``warning``, as files written before that list have it: their list is read from there,
and ``format_version`` stays 1.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from hubpub import __version__
from hubpub.errors import HubpubError, PlanError, StalePlanError
from hubpub.planner import (
    Action,
    Build,
    Change,
    ImagePlan,
    ImageSpec,
    Observed,
    Plan,
    PlanWarning,
    Via,
    make_plan,
)
from hubpub.platforms import normalize
from hubpub.reference import Reference, parse_reference
from hubpub.registry.models import ManifestInfo

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PlanOptions:
    """The options that shaped the desired references; apply re-uses them."""

    ref: str | None = None
    sha: str | None = None
    only: tuple[str, ...] = ()
    redirects: tuple[str, ...] = ()
    rebuild: bool = False
    allow_overwrite: bool = False
    allow_backwards: bool = False
    platform: str | None = None  # plan --platform: apply stages that platform (cimatrix.py)


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    observed: Observed
    config_sha256: str
    commit: str
    options: PlanOptions = field(default_factory=PlanOptions)


def config_hash(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def to_json(saved: SavedPlan) -> dict[str, Any]:
    obs = saved.observed
    return {
        "format_version": FORMAT_VERSION,
        "hubpub_version": __version__,
        "config_sha256": saved.config_sha256,
        "commit": saved.commit,
        "options": {
            "ref": saved.options.ref,
            "sha": saved.options.sha,
            "only": list(saved.options.only),
            "redirects": list(saved.options.redirects),
            "rebuild": saved.options.rebuild,
            "allow_overwrite": saved.options.allow_overwrite,
            "allow_backwards": saved.options.allow_backwards,
            **({"platform": saved.options.platform} if saved.options.platform else {}),
        },
        "observed": {
            "tags": {str(ref): digest for ref, digest in sorted(obs.tags.items())},
            "labels": dict(sorted(obs.labels.items())),
            "content_keys": dict(sorted(obs.content_keys.items())),
            "sources": dict(sorted(obs.sources.items())),
            "others": {
                name: [[str(ref), digest] for ref, digest in pairs]
                for name, pairs in sorted(obs.others.items())
            },
            "indexes": sorted(obs.indexes),
        },
        "images": [_image_json(image) for image in saved.plan.images],
        "warnings": [
            {"image": w.image, "ref": _ref(w.ref), "warning": w.text, "blocks": w.blocks}
            for w in saved.plan.warnings
        ],
    }


def _image_json(image: ImagePlan) -> dict[str, Any]:
    build = image.build
    return {
        "name": image.name,
        "source": _ref(image.source),
        "content_key": image.content_key,
        "build": None
        if build is None
        else {
            "reason": build.reason,
            "content_key": build.content_key,
            "push_ref": str(build.push_ref),
            "uses": [[text, str(ref)] for text, ref in build.uses],
            **({"platforms": list(build.platforms)} if build.platforms else {}),
        },
        "after": list(image.after),
        **({"file": image.file} if image.file is not None else {}),
        "changes": [
            {
                "ref": str(c.ref),
                "action": c.action,
                "via": c.via,
                "current": c.current,
                "desired": c.desired,
                "source": _ref(c.source),
                "immutable": c.immutable,
                "rule": c.rule,
                "warning": c.warning,
                **({"reason": c.reason} if c.reason else {}),
            }
            for c in image.changes
        ],
    }


def _ref(ref: Reference | None) -> str | None:
    return None if ref is None else str(ref)


# The top-level keys hubpub writes in a plan: a saved plan's (to_json) and the ``plan --json``
# report's. A JSON object with format_version and one of them is hubpub's own output, which
# ``plan --out`` may replace; anything else at that path is someone's file.
_PLAN_KEYS = frozenset(
    {"hubpub_version", "config_sha256", "commit", "options", "observed", "images"}
    | {"builds", "changes"}
)


def _is_plan(data: object) -> bool:
    return isinstance(data, dict) and "format_version" in data and not _PLAN_KEYS.isdisjoint(data)


def _not_a_plan_hint(path: Path) -> str:
    return (
        "a PLANFILE is what 'hubpub plan --out FILE' writes; "
        f"if {path.name} is the config, give it with -c: 'hubpub apply -c {path}'"
    )


def save(saved: SavedPlan, path: Path) -> None:
    """Write the plan to ``path`` atomically; :class:`PlanError` if ``path`` holds another file.

    ``apply hubpub.toml`` once answered "make it again with 'hubpub plan --out hubpub.toml'",
    and that replaced the user's config: only a plan may be replaced by a plan."""
    text = json.dumps(to_json(saved), indent=2) + "\n"
    path = path.resolve()
    _check_replaceable(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            # A failed write or rename must not leave a hidden temp file next to the plan.
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise PlanError(f"cannot write the plan file {path}: {exc.strerror}") from None


def _check_replaceable(path: Path) -> None:
    refuse = PlanError(
        f"{path} exists and is not a hubpub plan file: not replacing it with the plan",
        hint="choose another path for --out, or delete that file first",
    )
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PlanError(f"cannot write the plan file {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise PlanError(f"cannot write the plan file {path}: it is a directory")
    if not stat.S_ISREG(mode):
        # A device or FIFO: opening it could block, and the rename would replace it.
        raise refuse
    try:
        with path.open("rb") as handle:
            # A plan starts with "{": anything else (the TOML config, an archive) is refused
            # without reading a file of any size whole.
            head = handle.read(4096)
            if not head.lstrip().startswith(b"{"):
                raise refuse
            data = json.loads(head + handle.read())
    except OSError as exc:
        raise PlanError(f"cannot write the plan file {path}: {exc.strerror}") from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for a binary file
        raise refuse from None
    if not _is_plan(data):
        raise refuse


def load(path: Path) -> SavedPlan:
    """The plan saved at ``path``; :class:`PlanError` naming the file when it cannot be used.

    The hint to make the plan again at the same path is given only for a file that
    :func:`save` would replace (an old or damaged plan); another file, typically the config
    given as PLANFILE, gets what PLANFILE is instead."""
    again = f"make it again with 'hubpub plan --out {path}'"
    not_a_plan = _not_a_plan_hint(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"cannot read the plan file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"{path} is not a hubpub plan file (not JSON: {exc.msg} at line "
            f"{exc.lineno} column {exc.colno})",
            hint=not_a_plan,
        ) from None
    except UnicodeDecodeError:
        raise PlanError(f"{path} is not a hubpub plan file (not text)", hint=not_a_plan) from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise PlanError(f"{path} is not a hubpub plan file (no format_version)", hint=not_a_plan)
    if not _is_plan(data):
        raise PlanError(
            f"{path} is not a hubpub plan file (none of a plan's keys)", hint=not_a_plan
        )
    if data["format_version"] != FORMAT_VERSION:
        raise PlanError(
            f"{path} has plan format {data['format_version']!r}; this hubpub reads "
            f"{FORMAT_VERSION}",
            hint="make the plan again with this version of hubpub",
        )
    try:
        return _from_json(data)
    except KeyError as exc:
        problem = f"missing key {exc}"
    except (TypeError, ValueError, AttributeError, HubpubError) as exc:
        # AttributeError: a list where a table belongs; HubpubError: an invalid reference.
        problem = str(exc)
    raise PlanError(f"{path} is not a valid hubpub plan file: {problem}", hint=again)


class Registry(Protocol):
    """The part of registry.client.RegistryClient that :func:`check_stale` uses."""

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]: ...


def check_stale(
    plan: Plan,
    registry: Registry,
    sources: Mapping[str, str | None],
    known: Mapping[Reference, str | None] | None = None,
) -> None:
    """Re-check each tag (and promotion source) of a saved plan before changing anything.

    ``known``: digests observed a moment ago (apply's own observe), not asked again."""
    expected: dict[Reference, str | None] = {}
    for image in plan.images:
        for change in image.changes:
            expected[change.ref] = change.current
        if image.source is not None:
            expected[image.source] = sources.get(image.name)
    known = known or {}
    asked = registry.resolve([ref for ref in expected if ref not in known])
    now = {ref: info.digest if info is not None else None for ref, info in asked.items()}
    now.update({ref: known[ref] for ref in expected if ref in known})
    for ref, want in expected.items():
        got = now.get(ref)
        if got != want:
            got_text = f"now points to {got}" if got else "no longer exists"
            want_text = want if want else "no such tag"
            raise StalePlanError(
                f"Saved plan is stale: {ref} {got_text}, the plan expected {want_text}",
                hint="run 'hubpub plan' again",
            )


def check_derived(
    saved: SavedPlan, specs: Sequence[ImageSpec], name: str, *, leave_out: Collection[str] = ()
) -> None:
    """Refuse a saved plan the config does not produce: the plan made again from the config's
    images (``specs``, as observe orders them, for the saved options) and the digests the file
    observed must write the same references, with the same actions, from the same sources.
    A file edited by hand (a reference added, ``conflict`` turned into ``update``) is trusted
    in nothing else: :func:`check_stale` then checks each observed digest against the registry.

    The file's skips are taken as they are (a skip writes nothing, and the commits that decided
    it are not in the file), for the tags that may be skipped only; ``leave_out``: images the
    plan does not carry (those outside ``--only`` that a selected one depends on)."""
    skipped = {c.ref: c.reason or "" for c in saved.plan.changes if c.action == "skip"}
    expected = make_plan(
        [spec for spec in specs if spec.name not in leave_out],
        saved.observed,
        rebuild=saved.options.rebuild,
        skipped=skipped,
    )
    want = {change.ref: _essence(change) for change in expected.changes}
    got = {change.ref: _essence(change) for change in saved.plan.changes}
    hint = "the file was edited or made for another config: run 'hubpub plan --out' again"
    for ref, change in got.items():
        if ref not in want:
            raise PlanError(
                f"the plan {name} writes {ref}, which the config does not publish", hint=hint
            )
        if change != want[ref]:
            raise PlanError(
                f"the plan {name} has {_shown(change)} for {ref}, the config gives "
                f"{_shown(want[ref])}",
                hint=hint,
            )
    missing = [ref for ref in want if ref not in got]
    builds = {i.name: _build_essence(i.build) for i in saved.plan.images}
    derived = {i.name: _build_essence(i.build) for i in expected.images}
    if missing:
        raise PlanError(
            f"the plan {name} leaves out {missing[0]}, which the config publishes", hint=hint
        )
    for image, build in builds.items():
        if build != derived.get(image):
            raise PlanError(
                f"the plan {name} builds image {image!r} otherwise than the config", hint=hint
            )


def _essence(change: Change) -> tuple[object, ...]:
    """What a change does (its warning and rule name are only words)."""
    return (
        change.action,
        change.via,
        change.current,
        change.desired,
        change.source,
        change.immutable,
    )


def _shown(essence: tuple[object, ...]) -> str:
    action, via, _current, desired, source, immutable = essence
    text = f"{action}"
    if via is not None:
        text += f" via {via}"
    if source is not None:
        text += f" from {source}"
    elif desired is not None:
        text += f" to {desired}"
    return text + (" (immutable)" if immutable else "")


def _build_essence(build: Build | None) -> tuple[object, ...] | None:
    # The platforms too: a file listing fewer would publish a partial index carrying the
    # whole image's content key, which no later plan would find missing (docs/ci-matrix.md).
    return None if build is None else (build.content_key, build.push_ref, build.platforms)


def _opt_ref(value: Any) -> Reference | None:
    return None if value is None else parse_reference(str(value))


def _from_json(data: Mapping[str, Any]) -> SavedPlan:
    obs = data["observed"]
    observed = Observed(
        tags={parse_reference(k): v for k, v in obs["tags"].items()},
        labels=dict(obs["labels"]),
        content_keys=dict(obs["content_keys"]),
        sources=dict(obs["sources"]),
        others={
            name: tuple((parse_reference(ref), str(digest)) for ref, digest in pairs)
            for name, pairs in obs.get("others", {}).items()
        },
        indexes=frozenset(str(digest) for digest in obs.get("indexes", [])),
    )
    images = []
    for item in data["images"]:
        build = item["build"]
        changes = tuple(
            Change(
                image=item["name"],
                ref=parse_reference(c["ref"]),
                action=cast(
                    Action, _one_of(c["action"], ("create", "update", "noop", "conflict", "skip"))
                ),
                via=cast(Via | None, _one_of(c["via"], ("push", "tag", "copy", None))),
                current=c["current"],
                desired=c["desired"],
                source=_opt_ref(c["source"]),
                immutable=bool(c["immutable"]),
                rule=str(c["rule"]),
                warning=str(c["warning"]) if c.get("warning") else None,
                reason=str(c["reason"]) if c.get("reason") else None,
            )
            for c in item["changes"]
        )
        images.append(
            ImagePlan(
                name=item["name"],
                build=None
                if build is None
                else Build(
                    image=item["name"],
                    reason=build["reason"],
                    content_key=build["content_key"],
                    push_ref=parse_reference(build["push_ref"]),
                    uses=tuple(
                        (str(text), parse_reference(ref)) for text, ref in build.get("uses", [])
                    ),
                    platforms=tuple(str(p) for p in build.get("platforms", [])),
                ),
                changes=changes,
                source=_opt_ref(item["source"]),
                content_key=item["content_key"],
                after=tuple(str(name) for name in item.get("after", [])),
                file=str(item["file"]) if item.get("file") is not None else None,
            )
        )
    opts = data["options"]
    return SavedPlan(
        plan=Plan(tuple(images), _warnings(data, images)),
        observed=observed,
        config_sha256=str(data["config_sha256"]),
        commit=str(data["commit"]),
        options=PlanOptions(
            ref=opts["ref"],
            sha=opts["sha"],
            only=tuple(opts["only"]),
            redirects=tuple(opts["redirects"]),
            rebuild=bool(opts["rebuild"]),
            allow_overwrite=bool(opts.get("allow_overwrite", False)),
            allow_backwards=bool(opts.get("allow_backwards", False)),
            platform=_platform(opts.get("platform")),
        ),
    )


def _warnings(data: Mapping[str, Any], images: Sequence[ImagePlan]) -> tuple[PlanWarning, ...]:
    """The plan's warnings; a file written before they were listed has its changes' only."""
    if "warnings" not in data:
        return tuple(
            PlanWarning(change.image, change.warning, change.ref)
            for image in images
            for change in image.changes
            if change.warning
        )
    return tuple(
        PlanWarning(
            image=str(w["image"]),
            text=str(w["warning"]),
            ref=_opt_ref(w["ref"]),
            blocks=bool(w["blocks"]),
        )
        for w in data["warnings"]
    )


def _platform(value: Any) -> str | None:
    """``options.platform`` (plan --platform), normalized as the option is; ValueError (the
    loader's "not a valid hubpub plan file") for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"options.platform: expected a platform string, got {value!r}")
    try:
        return normalize(value)
    except ValueError as exc:
        raise ValueError(f"options.platform: {exc}") from None


def _one_of(value: Any, allowed: tuple[Any, ...]) -> Any:
    if value not in allowed:
        raise ValueError(f"unexpected value {value!r}")
    return value
