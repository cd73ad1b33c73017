"""Config + real git repository → desired references (docs/config.md#tag-rules).

Each row makes a git state in a temporary repository (commits, branches, lightweight and
annotated tags, detached HEAD with CI variables, pull-request refs, dirty trees), then checks the
exact references, including metadata-action's documented examples and the backport case.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from hubpub.commands._desired import compute_desired
from hubpub.config.load import load_config
from hubpub.desired import DesiredImage, desired_images
from hubpub.errors import ConfigError, TemplateError
from hubpub.filesource import FileSource
from hubpub.gitstate import read_git_state
from hubpub.reference import Repository


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 1_700_000_000
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    @property
    def env(self) -> dict[str, str]:
        return clean_env(self.path) | {
            "GIT_AUTHOR_NAME": "T",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "T",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_AUTHOR_DATE": f"@{self.clock} +0000",
            "GIT_COMMITTER_DATE": f"@{self.clock} +0000",
        }

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.path, env=self.env, capture_output=True, text=True, check=True
        ).stdout.strip()

    def commit(self, message: str = "change") -> str:
        self.clock += 60
        (self.path / "file.txt").write_text(f"{message} {self.clock}\n")
        self.git("add", "file.txt")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


def clean_env(path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(path.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


CONFIG = """\
version = 1

[[image]]
name = "figlet"
context = "figlet"
repositories = ["jpetazzo/figlet", "ghcr.io/jpetazzo/figlet"]
tags = [
  { preset = "sha" },
  { preset = "semver" },
  { preset = "ref" },
  { template = "edge", when = "git.is_default_branch" },
  { on = "branch", match = '^release-(\\d+)\\.(\\d+)$', template = '{\\1}.{\\2}-rc' },
  "{{ 'dirty' if git.dirty }}",
]
"""

# A scenario prepares the repository and returns the CI variables to pass in.
Scenario = Callable[[Repo, Path], dict[str, str]]


def on_main(repo: Repo, tmp: Path) -> dict[str, str]:
    repo.commit()
    return {}


def lightweight_release(repo: Repo, tmp: Path) -> dict[str, str]:
    repo.commit()
    repo.git("tag", "v1.2.3")
    repo.git("checkout", "-q", "--detach", "v1.2.3")
    return {}


def annotated_pre_release(repo: Repo, tmp: Path) -> dict[str, str]:
    repo.commit()
    repo.git("tag", "-a", "v2.0.8-beta.67", "-m", "beta")
    repo.git("checkout", "-q", "--detach", "v2.0.8-beta.67")
    return {}


def slashed_branch(repo: Repo, tmp: Path) -> dict[str, str]:
    repo.commit()
    repo.git("checkout", "-q", "-b", "my/branch")
    return {}


def release_branch(repo: Repo, tmp: Path) -> dict[str, str]:
    repo.commit()
    repo.git("checkout", "-q", "-b", "release-1.4")
    return {}


def github_pull_request(repo: Repo, tmp: Path) -> dict[str, str]:
    head = repo.commit("head")
    merge = repo.commit("merge")
    repo.git("checkout", "-q", "--detach")
    event = tmp / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 2, "head": {"sha": head}}}))
    return {
        "GITHUB_REF": "refs/pull/2/merge",
        "GITHUB_SHA": merge,
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_EVENT_PATH": str(event),
    }


def github_detached_main(repo: Repo, tmp: Path) -> dict[str, str]:
    sha = repo.commit()
    repo.git("checkout", "-q", "--detach")
    return {"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": sha}


def gitlab_merge_request(repo: Repo, tmp: Path) -> dict[str, str]:
    sha = repo.commit()
    repo.git("checkout", "-q", "--detach")
    return {"CI_COMMIT_SHA": sha, "CI_COMMIT_REF_NAME": "feat", "CI_MERGE_REQUEST_IID": "7"}


def backport(repo: Repo, tmp: Path) -> dict[str, str]:
    repo.commit("1.9.0")
    repo.git("tag", "v1.9.0")
    repo.commit("2.0.1")
    repo.git("tag", "v2.0.1")
    repo.git("checkout", "-q", "-b", "1.9.x", "v1.9.0")
    repo.commit("1.9.1")
    repo.git("tag", "-a", "v1.9.1", "-m", "backport")
    repo.git("checkout", "-q", "--detach", "v1.9.1")
    return {}


def newest_release(repo: Repo, tmp: Path) -> dict[str, str]:
    backport(repo, tmp)
    repo.git("checkout", "-q", "--detach", "v2.0.1")
    return {}


def dirty_tree(repo: Repo, tmp: Path) -> dict[str, str]:
    repo.commit()
    repo.git("checkout", "-q", "-b", "wip")
    (repo.path / "file.txt").write_text("uncommitted")
    return {}


ROWS: list[tuple[str, Scenario, list[str]]] = [
    ("main", on_main, ["main", "edge", "sha-{sha}"]),
    (
        "v1.2.3 (lightweight)",
        lightweight_release,
        ["1.2.3", "1.2", "1", "v1.2.3", "sha-{sha}", "latest"],
    ),
    (
        "v2.0.8-beta.67 (annotated)",
        annotated_pre_release,
        ["2.0.8-beta.67", "v2.0.8-beta.67", "sha-{sha}"],
    ),
    ("my/branch", slashed_branch, ["my-branch", "sha-{sha}"]),
    ("release branch rule", release_branch, ["1.4-rc", "release-1.4", "sha-{sha}"]),
    ("pull request (GitHub)", github_pull_request, ["pr-2", "sha-{head}"]),
    ("detached main (GitHub)", github_detached_main, ["main", "edge", "sha-{sha}"]),
    ("merge request (GitLab)", gitlab_merge_request, ["pr-7", "sha-{sha}"]),
    ("backport 1.9.1 after 2.0.1", backport, ["1.9.1", "1.9", "1", "v1.9.1", "sha-{sha}"]),
    ("2.0.1 stays latest", newest_release, ["2.0.1", "2.0", "2", "v2.0.1", "sha-{sha}", "latest"]),
    ("dirty tree", dirty_tree, ["wip", "dirty", "sha-{sha}"]),
]


@pytest.mark.parametrize(("scenario", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_references_table(tmp_path: Path, scenario: Scenario, expected: list[str]) -> None:
    repo = Repo(tmp_path / "repo")
    (repo.path / "hubpub.toml").write_text(CONFIG)
    ci = scenario(repo, tmp_path)
    config = load_config(repo.path / "hubpub.toml")
    git, images = compute_desired(config, clean_env(repo.path) | ci)
    short = git.sha[:7]
    head = repo.git("rev-parse", "HEAD~1")[:7] if "GITHUB_EVENT_PATH" in ci else short
    tags = [t.format(sha=short, head=head) for t in expected]
    refs = [str(ref) for ref in images[0].refs]
    assert refs == [f"docker.io/jpetazzo/figlet:{t}" for t in tags] + [
        f"ghcr.io/jpetazzo/figlet:{t}" for t in tags
    ]
    assert images[0].version == tags[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hubpub.toml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "repo")
    repo.commit()
    return repo


def desired(repo: Repo, text: str, **environ: str) -> list[DesiredImage]:
    config = load_config(write(repo.path, text))
    git = read_git_state(repo.path, clean_env(repo.path))
    return desired_images(config, git, clean_env(repo.path) | environ)


def test_build_spec_and_normalized_repositories(repo: Repo) -> None:
    (repo.path / "figlet").mkdir()
    images = desired(
        repo,
        """\
        version = 1
        env = ["BUILD_NUMBER"]
        [[image]]
        name = "figlet"
        context = "figlet"
        dockerfile = "docker/Dockerfile"
        target = "runtime"
        build_args = { GREETING = "hello {{ git.short_sha }}", N = "{{ env.BUILD_NUMBER }}" }
        labels = { "org.opencontainers.image.revision" = "{{ git.sha }}" }
        repositories = ["ubuntu", "index.docker.io/jpetazzo/figlet", "localhost:5000/x",
                        "docker.io/library/ubuntu"]
        tags = ["t"]
        """,
        BUILD_NUMBER="42",
    )
    image = images[0]
    sha = repo.git("rev-parse", "HEAD")
    assert image.build is not None
    assert image.source is None
    assert image.build.context == (repo.path / "figlet").resolve()
    assert image.build.dockerfile == (repo.path / "figlet" / "docker" / "Dockerfile").resolve()
    assert image.build.target == "runtime"
    assert image.build.build_args == {"GREETING": f"hello {sha[:7]}", "N": "42"}
    assert image.build.labels == {"org.opencontainers.image.revision": sha}
    assert image.repositories == (
        Repository("docker.io", "library/ubuntu"),
        Repository("docker.io", "jpetazzo/figlet"),
        Repository("localhost:5000", "x"),
    )
    assert [str(r) for r in image.refs] == [
        "docker.io/library/ubuntu:t",
        "docker.io/jpetazzo/figlet:t",
        "localhost:5000/x:t",
    ]
    assert all(tag.rule == "tags[0] (template)" for tag in image.tags)


def test_build_options_of_buildkit_and_rendered_cache_sources(repo: Repo) -> None:
    text = """\
        version = 1
        [defaults]
        network = "none"
        [[image]]
        name = "app"
        context = "."
        repositories = ["reg.example/app"]
        builder = "buildkit"
        inline_cache = true
        cache_from = ["reg.example/app:{{ git.branch }}",
                      "{% if git.tag %}reg.example/app:{{ git.tag }}{% endif %}",
                      "reg.example/app:edge", "reg.example/app:{{ git.branch }}"]
        [[image]]
        name = "plain"
        context = "."
        repositories = ["reg.example/plain"]
        """
    app, plain = desired(repo, text)
    assert app.build is not None
    assert plain.build is not None
    # The tag template renders empty on a branch: left out, as is the repeated one.
    assert app.build.cache_from == ("reg.example/app:main", "reg.example/app:edge")
    assert (app.build.builder, app.build.network, app.build.inline_cache) == (
        "buildkit",
        "none",
        True,
    )
    assert (plain.build.builder, plain.build.network, plain.build.inline_cache) == (
        "auto",
        "none",
        False,
    )
    assert plain.build.cache_from == ()
    assert plain.build.platforms == ()  # the engine's platform, as before


def test_platforms_reach_the_build_spec(repo: Repo) -> None:
    text = """\
        version = 1
        [defaults]
        platforms = ["linux/x86_64", "linux/arm64/v8"]
        [[image]]
        name = "app"
        context = "."
        repositories = ["reg.example/app"]
        """
    (app,) = desired(repo, text)
    assert app.build is not None
    assert app.build.platforms == ("linux/amd64", "linux/arm64")


def test_source_promotion_and_only(repo: Repo) -> None:
    text = """\
        version = 1
        [[image]]
        name = "figlet"
        context = "."
        repositories = ["jpetazzo/figlet"]
        [[image]]
        name = "figlet-promoted"
        source = "docker.io/jpetazzo/figlet:sha-{{ git.short_sha }}"
        repositories = ["quay.io/jpetazzo/figlet"]
        tags = [{ preset = "sha" }]
        """
    images = desired(repo, text)
    assert [i.name for i in images] == ["figlet", "figlet-promoted"]
    promoted = images[1]
    sha = repo.git("rev-parse", "HEAD")[:7]
    assert promoted.build is None
    assert str(promoted.source) == f"docker.io/jpetazzo/figlet:sha-{sha}"
    assert [str(r) for r in promoted.refs] == [f"quay.io/jpetazzo/figlet:sha-{sha}"]
    config = load_config(repo.path / "hubpub.toml")
    git = read_git_state(repo.path, clean_env(repo.path))
    only = desired_images(config, git, {}, only=["figlet-promoted"])
    assert [i.name for i in only] == ["figlet-promoted"]
    with pytest.raises(
        ConfigError, match=r"--only 'figlet-promotd'.*did you mean 'figlet-promoted'"
    ):
        desired_images(config, git, {}, only=["figlet-promotd"])


def test_file_sources_are_rendered_relative_to_the_config(repo: Repo) -> None:
    text = """\
        version = 1
        [[image]]
        name = "layout"
        source = "oci:dist/{{ git.short_sha }}:release"
        repositories = ["quay.io/x/layout"]
        [[image]]
        name = "archive"
        source = "docker-archive:result.tar:app:{{ git.short_sha }}"
        repositories = ["quay.io/x/archive"]
        """
    layout, archive = desired(repo, text)
    sha = repo.git("rev-parse", "HEAD")[:7]
    assert layout.source is None
    assert layout.build is None
    assert layout.file == FileSource(
        "oci", repo.path / "dist" / sha, "release", f"oci:dist/{sha}:release"
    )
    assert archive.source is None
    assert archive.file == FileSource(
        "docker-archive",
        repo.path / "result.tar",
        f"app:{sha}",
        f"docker-archive:result.tar:app:{sha}",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a template that passed load's checks but renders an invalid tag on this git state
        (
            'context = "."\nrepositories = ["x/y"]\ntags = [\n  "ok",\n  "{{ git.ref }}",\n]',
            "hubpub.toml:8: image 'p', tags[1]: 'refs/heads/main' is not a valid tag (letters, "
            "digits, '_', '.', '-'; 128 at most; not starting with '.' or '-') (pipe it through "
            "slug: {{ git.ref | slug }}, which gives 'refs-heads-main')",
        ),
        (
            'source = "docker.io/x/y"\nrepositories = ["quay.io/x/y"]',
            "hubpub.toml:4: image 'p', source: 'docker.io/x/y' names no tag or digest (write the "
            "tag to promote, e.g. ':sha-{{ git.short_sha }}')",
        ),
        (
            'source = "docker.io/X/y:{{ git.short_sha }}"\nrepositories = ["quay.io/x/y"]',
            "hubpub.toml:4: image 'p', source: invalid image reference 'docker.io/X/y:SHA': "
            "invalid reference format: repository name (X/y) must be lowercase",
        ),
        (
            'source = "{{ git.tag }}"\nrepositories = ["quay.io/x/y"]',
            "hubpub.toml:4: image 'p', source: the template renders empty",
        ),
        (
            'source = "oci:{{ git.tag }}"\nrepositories = ["quay.io/x/y"]',
            "hubpub.toml:4: image 'p', source: 'oci:' names no folder after 'oci:'",
        ),
        (
            'context = "."\nrepositories = ["x/y"]\n'
            'cache_from = [\n  "x/y:ok",\n  "docker.io/X/y:{{ git.branch }}",\n]',
            "hubpub.toml:8: image 'p', cache_from[1]: invalid image reference "
            "'docker.io/X/y:main': invalid reference format: repository name (X/y) must be "
            "lowercase",
        ),
        # two images publishing one reference: apply would push both, the last one winning
        (
            'context = "."\nrepositories = ["docker.io/x/y"]\n'
            '[[image]]\nname = "q"\ncontext = "."\nrepositories = ["quay.io/x/z", "x/y"]',
            "hubpub.toml:9: image 'q', tags[0] (preset ref): docker.io/x/y:main is also published "
            "by image 'p', tags[0] (preset ref) (a reference belongs to one image: give them "
            "different repositories, or a suffix to one's tags)",
        ),
    ],
)
def test_errors_after_rendering_are_located(repo: Repo, text: str, expected: str) -> None:
    path = write(repo.path, f'version = 1\n[[image]]\nname = "p"\n{text}\n')
    config = load_config(path)
    with pytest.raises(TemplateError) as caught:
        compute_desired(config, clean_env(repo.path))
    short_sha = repo.git("rev-parse", "--short=7", "HEAD")
    message = str(caught.value).replace(short_sha, "SHA")
    assert message == expected.replace("hubpub.toml", str(path))


def test_one_image_may_name_a_repository_twice(repo: Repo) -> None:
    images = desired(
        repo,
        """\
        version = 1
        [[image]]
        name = "p"
        context = "."
        repositories = ["docker.io/x/y", "x/y", "index.docker.io/x/y"]
        """,
    )
    assert [str(ref) for ref in images[0].refs] == ["docker.io/x/y:main"]
