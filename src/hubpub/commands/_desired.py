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
from hubpub.desired import DesiredImage, desired_images
from hubpub.errors import ConfigError, TemplateError
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


def check_files(config: Config, images: list[DesiredImage]) -> None:
    """Build contexts, Dockerfiles and CA files exist (a typo there would only show at build
    or push time)."""
    for host, registry in config.registries.items():
        if registry.ca_file is not None and not registry.ca_file.is_file():
            where = where_in(config.path, ("registries", host, "ca_file"))
            shown = _shown(registry.ca_file, config.root)
            raise ConfigError(f"{where}registries[{host}].ca_file: no file {shown}")
    for image in images:
        if image.build is None:
            continue
        index = [i.name for i in config.images].index(image.name)
        if not image.build.context.is_dir():
            where = where_in(config.path, ("image", index, "context"))
            raise ConfigError(
                f"{where}image[{image.name}].context: no folder "
                f"{_shown(image.build.context, config.root)}",
                hint="context is relative to the config file's folder",
            )
        if not image.build.dockerfile.is_file():
            where = where_in(config.path, ("image", index, "dockerfile"))
            raise ConfigError(
                f"{where}image[{image.name}].dockerfile: no file "
                f"{_shown(image.build.dockerfile, config.root)}",
                hint="dockerfile is relative to the context, as on Docker Hub",
            )


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
