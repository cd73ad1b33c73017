"""The bad-input catalogue: each input a user (or an attacker) may feed hubpub, and the one
line it must answer with (docs/architecture.md#errors-and-exit-codes): exit 1, one line on
stderr naming what and where (file:line, image, rule, registry), no traceback, no "internal
error". hubpub runs as a subprocess in a real git repository, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, build_project, uid

PLAN = ("plan", "--ref", "refs/heads/main")
TAGS = ("tags", "--ref", "refs/heads/main")


@dataclass(frozen=True)
class Bad:
    """One bad input: what to change in a fresh project, the command, what the line says."""

    name: str
    change: Callable[[Project], None]
    says: tuple[str, ...]
    command: tuple[str, ...] = TAGS
    env: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()  # never in the output (secrets)


def _tag(template: str) -> Callable[[Project], None]:
    """The image's tag rules replaced by one template (a TOML literal string: no escapes)."""

    def change(project: Project) -> None:
        config = (project.root / "hubpub.toml").read_text()
        start = config.index("tags = [")
        end = config.index("\n", start)
        project.write("hubpub.toml", f"{config[:start]}tags = ['{template}']{config[end:]}")

    return change


def _config(old: str, new: str) -> Callable[[Project], None]:
    def change(project: Project) -> None:
        config = (project.root / "hubpub.toml").read_text()
        assert old in config
        project.write("hubpub.toml", config.replace(old, new))

    return change


def _listed_env(project: Project) -> None:
    _tag("{{ env.BIG }}")(project)
    config = (project.root / "hubpub.toml").read_text()
    project.write("hubpub.toml", config.replace("version = 1\n", 'version = 1\nenv = ["BIG"]\n'))


def _non_utf8_name(project: Project) -> None:
    with open(os.path.join(os.fsencode(project.root / "app"), b"bad\xffname"), "wb") as handle:
        handle.write(b"x")


def _outside(project: Project) -> None:
    (project.root.parent / "outside").mkdir()
    (project.root.parent / "outside" / "Dockerfile").write_text("FROM scratch\n")
    _config('context = "app"', 'context = "../outside"')(project)


def _dockerfile(text: str) -> Callable[[Project], None]:
    def change(project: Project) -> None:
        project.write("app/Dockerfile", text)

    return change


_TWO_REFS = json.dumps(
    {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{n * 64}",
                "size": 2,
                "annotations": {"org.opencontainers.image.ref.name": ref},
            }
            for n, ref in (("1", "v1"), ("2", "v2"))
        ],
    }
)


def _file_source(source: str, rel: str, text: str) -> Callable[[Project], None]:
    """The image published from the file source ``source`` instead of built; ``rel`` written."""

    def change(project: Project) -> None:
        _config('context = "app"', f'source = "{source}"')(project)
        project.write(rel, text)

    return change


def _archive_file(config: bytes | None) -> Callable[[Project], None]:
    """The image published from a docker-archive whose manifest.json names c.json as its
    config: with ``config`` as that file, or without the file (None)."""

    def change(project: Project) -> None:
        _config('context = "app"', 'source = "docker-archive:image.tar"')(project)
        files = {"manifest.json": b'[{"Config": "c.json", "RepoTags": null, "Layers": []}]'}
        if config is not None:
            files["c.json"] = config
        with tarfile.open(project.root / "image.tar", "w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    return change


def _builder_host(host: str) -> Callable[[Project], None]:
    """A ``[builders.b]`` for arm64 at ``host``, after the images."""

    def change(project: Project) -> None:
        config = (project.root / "hubpub.toml").read_text()
        builder = f'\n[builders.b]\ndocker_host = "{host}"\nplatforms = ["linux/arm64"]\n'
        project.write("hubpub.toml", config + builder)

    return change


def _ca_file_not_pem(project: Project) -> None:
    project.write("ca.pem", "not a certificate\n")
    _config("insecure = true", 'ca_file = "ca.pem"')(project)


WHERE_TAG = "hubpub.toml:{tags_line}: image 'app', tags[0]: "

CATALOGUE = [
    Bad(
        "nested loops of 99999 x 99999",
        _tag("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}x"),
        (WHERE_TAG, "template over hubpub's limits: the argument 99999 is over 65536"),
    ),
    Bad(
        "nested loops under the argument bound",
        _tag("{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}x"),
        (WHERE_TAG, "template over hubpub's limits: loops of more than 100000 steps in all"),
    ),
    Bad(
        "a loop over a long string in a loop",
        _tag('{% set s = "a" * 60000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}x'),
        (WHERE_TAG, "template over hubpub's limits: rendering took more than 2 s"),
    ),
    Bad(
        "a 10 GB string",
        _tag('{{ ("a" * 99999) * 99999 }}'),
        (WHERE_TAG, "template over hubpub's limits: a value of 99999 characters or items"),
    ),
    Bad(
        "9 ** 99999",
        _tag("{{ 9**99999 }}"),
        (WHERE_TAG, "template over hubpub's limits: 9 ** 99999 is too large"),
    ),
    Bad(
        "a recursive macro",
        _tag("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
        (WHERE_TAG, "the template recurses without end (a macro calling itself?)"),
    ),
    Bad(
        "an unknown filter",
        _tag("{{ git.branch | slugify }}"),
        (WHERE_TAG, "no filter 'slugify' (did you mean 'slug'?)"),
    ),
    Bad(
        "an unknown test",
        _tag("{{ git.branch is strng }}"),
        (WHERE_TAG, "no test 'strng' (did you mean 'string'?)"),
    ),
    Bad(
        "a 100 KB value",
        _listed_env,
        (WHERE_TAG, "the template renders 100000 characters (at most 4096): 'aaaa", "(100000 "),
        env={"BIG": "a" * 100_000},
    ),
    Bad(
        "a port out of range",
        _config('repositories = ["', 'repositories = ["127.0.0.1:99999/x", "'),
        (
            "hubpub.toml:{repositories_line}: image[app].repositories: invalid image reference "
            "'127.0.0.1:99999/x': port 99999 is out of range (1-65535)",
        ),
    ),
    Bad(
        "a file name that is not UTF-8",
        _non_utf8_name,
        ("/repo/app has a file whose name is not UTF-8: bad\\xffname (rename it",),
        command=PLAN,
    ),
    Bad(
        "an empty Dockerfile",
        _dockerfile(""),
        ("error: app/Dockerfile: image[app]: cannot parse it: file with no instructions",),
        command=PLAN,
    ),
    Bad(
        "FROM an unset build arg",
        _dockerfile("FROM ${BASE}\nCOPY msg /app/msg\n"),
        (
            "error: app/Dockerfile:1: image[app]: FROM ${{BASE}}: build arg BASE is not set (set "
            "it in the image's build_args, or give the ARG a default before the first FROM)",
        ),
        command=PLAN,
    ),
    Bad(
        "an uppercase base image",
        _dockerfile("FROM Busybox:1\n"),
        (
            "error: image 'app': ",
            "/repo/app/Dockerfile: FROM Busybox:1: invalid image reference 'Busybox:1': ",
            "must be lowercase",
        ),
        command=PLAN,
    ),
    Bad(
        "a ca_file that is not PEM",
        _ca_file_not_pem,
        ("hubpub.toml:{ca_file_line}: registries[", "].ca_file: ca.pem holds no PEM certificate"),
        command=PLAN,
    ),
    Bad(
        "a file source that does not exist",
        _config('context = "app"', 'source = "oci:dist/image"'),
        (
            "hubpub.toml:{source_line}: image[app].source: oci:dist/image: no such folder (the "
            "path is relative to the config; give a folder an OCI tool wrote",
        ),
        command=PLAN,
    ),
    Bad(
        "a file source that is not an OCI layout",
        _file_source("oci:dist", "dist/README", "not a layout\n"),
        (
            "hubpub.toml:{source_line}: image[app].source: oci:dist: not an OCI image layout "
            "(it has no index.json)",
        ),
        command=PLAN,
    ),
    Bad(
        "an OCI layout whose index.json is not JSON",
        _file_source("oci:dist:v1", "dist/index.json", '{"manifests": [\n'),
        ("hubpub.toml:{source_line}: image[app].source: oci:dist:v1: ", "is not valid JSON"),
        command=PLAN,
    ),
    Bad(
        "an OCI layout with several refs and none named",
        _file_source("oci:dist", "dist/index.json", _TWO_REFS),
        (
            "hubpub.toml:{source_line}: image[app].source: oci:dist: index.json holds 2 "
            "images (refs: 'v1', 'v2'): name the one to publish (add its ref after the folder",
        ),
        command=PLAN,
    ),
    Bad(
        "an OCI layout without the ref named",
        _file_source("oci:dist:v3", "dist/index.json", _TWO_REFS),
        (
            "image[app].source: oci:dist:v3: index.json has no image named 'v3' (its refs: "
            "'v1', 'v2')",
        ),
        command=PLAN,
    ),
    Bad(
        "a docker-archive that is no tar",
        _file_source("docker-archive:image.tar", "image.tar", "not a tar\n"),
        (
            "hubpub.toml:{source_line}: image[app].source: docker-archive:image.tar: not a tar "
            "archive (give the tarball 'docker save' wrote)",
        ),
        command=PLAN,
    ),
    Bad(
        "a docker-archive whose config is not JSON",
        _archive_file(b"not json"),
        (
            "image 'app', source docker-archive:image.tar: the image config c.json of the "
            "archive is not JSON: Expecting value",
        ),
        command=PLAN,
    ),
    Bad(
        "a docker-archive without its config file",
        _archive_file(None),
        ("image 'app', source docker-archive:image.tar: the archive has no file c.json",),
        command=PLAN,
    ),
    Bad(
        "an empty platforms list",
        _config('context = "app"', 'context = "app"\nplatforms = []'),
        ("hubpub.toml:", ": image[app].platforms: expected at least 1 item(s), got none"),
        command=PLAN,
    ),
    Bad(
        "a staging threshold of infinity",
        lambda project: None,
        ("HUBPUB_STAGE_ABOVE_MB='inf' is not a size in MB",),
        command=("apply", "--ref", "refs/heads/main"),
        env={"HUBPUB_STAGE_ABOVE_MB": "inf"},
    ),
    Bad(
        "a builder's ssh password",
        _builder_host("ssh://ci:hunter2@arm-runner"),
        (
            "hubpub.toml:{docker_host_line}: builders[b].docker_host: 'ssh://ci:***@arm-runner' "
            "carries a password",
            "use an ssh key",
        ),
        command=PLAN,
        absent=("hunter2",),
    ),
    Bad(
        "a builder's tcp password",
        _builder_host("tcp://u:hunter2@127.0.0.1:9"),
        (
            "hubpub.toml:{docker_host_line}: builders[b].docker_host: 'tcp://u:***@127.0.0.1:9' "
            "carries a password",
            "TLS client certificate",
        ),
        command=PLAN,
        absent=("hunter2",),
    ),
    Bad(
        "a builder's port that is not a number",
        _builder_host("tcp://127.0.0.1:notaport"),
        (
            "hubpub.toml:{docker_host_line}: builders[b].docker_host: the port of "
            "'tcp://127.0.0.1:notaport' is not a number from 1 to 65535: got 'notaport'",
        ),
        command=("apply", "--ref", "refs/heads/main"),
    ),
    Bad(
        "a context outside the repository",
        _outside,
        ("hubpub.toml:{context_line}: image[app].context: ", "is outside the git work tree"),
        command=PLAN,
    ),
]


@pytest.mark.parametrize("bad", CATALOGUE, ids=[bad.name for bad in CATALOGUE])
def test_bad_input_is_one_located_line(
    bad: Bad,
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    tmp_path: Path,
) -> None:
    repo = f"{registry_plain.host}/t{uid()}/app"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    bad.change(project)
    project.commit("bad input")
    project.env.update(bad.env)
    lines = (project.root / "hubpub.toml").read_text().splitlines()
    where = {
        f"{key}_line": next(n for n, line in enumerate(lines, 1) if line.startswith(key))
        for key in ("tags", "repositories", "context", "ca_file", "source", "docker_host")
        if any(line.startswith(key) for line in lines)
    }
    done = project.hubpub(*bad.command)
    assert done.code == 1, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    line = done.stderr.strip()
    assert line.startswith("hubpub: error: "), line
    for text in bad.says:
        assert text.format(**where) in line, line
    assert "internal error" not in line
    for secret in bad.absent:
        assert secret not in done.stdout + done.stderr
    assert len(line) < 600, line  # values are shortened
