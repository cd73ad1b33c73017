"""The desired images of a loaded config, as ``tags``, ``validate``, ``plan`` and ``apply``
start with them: the git state of the config's repository (gitstate.py runs git), the images
computed from it (desired.py, pure), and a template error located in the config file; then
:func:`check_files`, that the files those images name exist.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from hubpub.config.load import where_in
from hubpub.config.model import Config
from hubpub.contentkey import dockerfile_problems
from hubpub.desired import BuildSpec, DesiredImage, desired_images
from hubpub.errors import ConfigError, TemplateError
from hubpub.fileimages import check_file_source
from hubpub.gitstate import GitState, read_git_state
from hubpub.templating import LocatedTemplateError

log = logging.getLogger("hubpub.desired")


def compute_desired(
    config: Config,
    environ: Mapping[str, str],
    *,
    ref: str | None = None,
    sha: str | None = None,
    only: Sequence[str] = (),
) -> tuple[GitState, list[DesiredImage]]:
    """Read the git state for ``config`` and compute the desired images: what ``tags``,
    ``plan`` and ``apply`` all start with."""
    git = read_git_state(config.root, environ, ref, sha, default_branch=config.default_branch)
    log.debug(
        "git state: ref=%s sha=%s branch=%s tag=%s pr=%s default=%s dirty=%s",
        git.ref,
        git.sha,
        git.branch,
        git.tag,
        git.pr_number,
        git.default_branch,
        git.dirty,
    )
    try:
        return git, desired_images(config, git, environ, only)
    except LocatedTemplateError as exc:
        raise TemplateError(f"{where_in(config.path, exc.path)}{exc}") from None


def check_files(config: Config, images: list[DesiredImage], git: GitState) -> None:
    """Build contexts, Dockerfiles and CA files exist, each Dockerfile would be accepted (it
    parses, its target is one of its stages, its FROM lines have their build args), and
    contexts and Dockerfiles are in the git work tree unless the image allows otherwise (files
    from outside it are no commit's: ``context = "../outside"``): a mistake there would
    otherwise only show at build or push time. Every problem at once."""
    problems: list[str] = []
    for host, registry in config.registries.items():
        if registry.ca_file is not None and not registry.ca_file.is_file():
            where = where_in(config.path, ("registries", host, "ca_file"))
            shown = _shown(registry.ca_file, config.root)
            problems.append(f"{where}registries[{host}].ca_file: no file {shown}")
        elif registry.ca_file is not None and b"-----BEGIN CERTIFICATE-----" not in _head(
            registry.ca_file
        ):
            # Else TLS fails later with the registry blamed (and a loopback host falls back to
            # plain HTTP without a word).
            where = where_in(config.path, ("registries", host, "ca_file"))
            shown = _shown(registry.ca_file, config.root)
            error = ConfigError(
                f"{where}registries[{host}].ca_file: {shown} holds no PEM certificate",
                hint="give the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)",
            )
            problems.append(str(error))
    for image in images:
        if image.file is not None:
            problems.extend(_file_problems(config, image))
        if image.build is None:
            continue
        index = [i.name for i in config.images].index(image.name)
        build = image.build
        if not build.context.is_dir():
            where = where_in(config.path, ("image", index, "context"))
            problems.append(
                str(
                    ConfigError(
                        f"{where}image[{image.name}].context: no folder "
                        f"{_shown(build.context, config.root)}",
                        hint="context is relative to the config file's folder",
                    )
                )
            )
        elif not build.dockerfile.is_file():
            where = where_in(config.path, ("image", index, "dockerfile"))
            problems.append(
                str(
                    ConfigError(
                        f"{where}image[{image.name}].dockerfile: no file "
                        f"{_shown(build.dockerfile, config.root)}",
                        hint="dockerfile is relative to the context, as on Docker Hub",
                    )
                )
            )
        else:
            problems.extend(_dockerfile_problems(config, index, image.name, build))
        if git.top is not None and not config.images[index].context_outside_repository:
            problems.extend(_outside_problems(config, image, index, git.top))
    if problems:
        raise ConfigError.all(problems)


def _dockerfile_problems(config: Config, index: int, name: str, build: BuildSpec) -> list[str]:
    shown = _shown(build.dockerfile, config.root)
    try:
        text = build.dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return [f"{shown}: image[{name}]: cannot read the Dockerfile: {exc.strerror or exc}"]
    out = []
    for line, problem in dockerfile_problems(text, build.build_args, build.target):
        if line is not None:
            out.append(f"{shown}:{line}: image[{name}]: {problem}")
        elif problem.startswith("target "):
            where = where_in(config.path, ("image", index, "target"))
            out.append(f"{where}image[{name}].target: {shown}: {problem}")
        else:
            out.append(f"{shown}: image[{name}]: {problem}")
    from hubpub.engine.buildkit import (
        session_mounts,
    )  # lazy: the engine package, 8-12 ms, builds only

    for line, kind in session_mounts(text):
        # Build secrets and SSH forwarding come from the client over a BuildKit session,
        # which hubpub's builds do not open (docs/config.md#builders).
        what = "build secrets" if kind == "secret" else "SSH forwarding"
        problem = str(
            ConfigError(
                f"{shown}:{line}: image[{name}]: RUN --mount=type={kind} needs a BuildKit "
                f"session ({what}), which hubpub's builds do not open",
                hint="remove the mount, or build this image with 'docker buildx build'",
            )
        )
        out.append(problem)
    return out


def _file_problems(config: Config, image: DesiredImage) -> list[str]:
    """A file source that is missing, no layout or archive, or ambiguous (fileimages.py).
    Not checked against git: a build output is usually untracked (docs/config.md#file-sources)."""
    assert image.file is not None
    try:
        check_file_source(image.file)
    except ConfigError as exc:
        index = [i.name for i in config.images].index(image.name)
        where = where_in(config.path, ("image", index, "source"))
        return [f"{where}image[{image.name}].source: {image.file}: {exc}"]
    return []


def _outside_problems(config: Config, image: DesiredImage, index: int, top: Path) -> list[str]:
    assert image.build is not None
    top = top.resolve()
    out = []
    for key, path in (("context", image.build.context), ("dockerfile", image.build.dockerfile)):
        if not path.resolve().is_relative_to(top):
            where = where_in(config.path, ("image", index, key))
            error = ConfigError(
                f"{where}image[{image.name}].{key}: {_shown(path, config.root)} is outside the "
                f"git work tree {top}: its files are no commit's",
                hint="move it into the repository, or set context_outside_repository = true "
                "to publish it anyway",
            )
            out.append(str(error))
            break  # a Dockerfile in a context outside is outside too: said once
    return out


def _head(path: Path) -> bytes:
    """The first 1 MiB of ``path`` (a CA bundle is far smaller)."""
    try:
        with path.open("rb") as handle:
            return handle.read(1 << 20)
    except OSError:
        return b""


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
