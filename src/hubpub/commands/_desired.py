"""The desired images of a loaded config, as ``tags``, ``validate``, ``plan`` and ``apply``
start with them: the git state of the config's repository (gitstate.py runs git), the images
computed from it (desired.py, pure), and a template error located in the config file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from hubpub.config.load import where_in
from hubpub.config.model import Config
from hubpub.desired import DesiredImage, desired_images
from hubpub.errors import TemplateError
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
