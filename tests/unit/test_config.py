"""Loading hubpub.toml (docs/config.md): the model, [defaults], and errors a user can act on.

Errors are one line: ``file:line:column`` for TOML syntax, ``file:line: path: message`` for
validation, with the nearest known key for a typo.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubpub.config import (
    Config,
    RefPreset,
    SemverPreset,
    TemplateRule,
)
from hubpub.config.builders import Builder, builder_for, routing_note
from hubpub.config.lines import key_lines
from hubpub.config.load import load_config, merge_defaults
from hubpub.errors import ConfigError, HubpubError, TemplateError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD = """\
version = 1
env = ["BUILD_NUMBER"]

[registries."localhost:5000"]
insecure = true
ca_file = "certs/ca.pem"
username_env = "REG_USER"
password_env = "REG_PASSWORD"

[defaults]
latest = false
labels = { team = "tools" }

[[image]]
name = "figlet"
context = "figlet"
build_args = { GREETING = "hello {{ git.short_sha }}" }
repositories = ["docker.io/jpetazzo/figlet", "ghcr.io/jpetazzo/figlet"]
latest = "auto"
tags = [
  "sha-{{ git.short_sha }}",
  { preset = "semver" },
  { preset = "ref" },
  { template = "edge", when = "git.is_default_branch" },
  { on = "branch", match = '^release-(\\d+)\\.(\\d+)$', template = '{\\1}.{\\2}-rc' },
]

[[image]]
name = "figlet-promoted"
source = "docker.io/jpetazzo/figlet:sha-{{ git.short_sha }}"
repositories = ["quay.io/jpetazzo/figlet"]
tags = [{ preset = "semver" }]
"""


def write(tmp_path: Path, text: str, name: str = "hubpub.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str, kind: type[HubpubError] = ConfigError) -> str:
    path = write(tmp_path, text)
    with pytest.raises(kind) as caught:
        load_config(path)
    # Every error at once, one line each in file order: the first line is the first error.
    first, *_others = str(caught.value).split("\n")
    return first


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Messages name the file relative to the current folder.
    monkeypatch.chdir(tmp_path)


def test_good_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert isinstance(config, Config)
    assert config.path == tmp_path / "hubpub.toml"
    assert config.root == tmp_path
    assert config.env == ("BUILD_NUMBER",)
    registry = config.registries["localhost:5000"]
    assert registry.insecure is True
    assert registry.ca_file == tmp_path / "certs" / "ca.pem"
    assert (registry.username_env, registry.password_env) == ("REG_USER", "REG_PASSWORD")
    figlet, promoted = config.images
    assert figlet.latest == "auto"  # the image's own value wins
    assert promoted.latest is False  # inherited from [defaults]
    assert figlet.labels == {"team": "tools"}
    assert figlet.dockerfile == "Dockerfile"
    assert promoted.context is None
    assert promoted.source is not None
    rules = figlet.rules
    assert isinstance(rules[0], TemplateRule)
    assert rules[0].template == "sha-{{ git.short_sha }}"
    assert isinstance(rules[1], SemverPreset)
    assert isinstance(rules[2], RefPreset)
    assert rules[4].match == r"^release-(\d+)\.(\d+)$"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="frozen"):
        figlet.name = "x"  # type: ignore[misc]


def test_defaults_build_keys_do_not_reach_a_promotion(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            version = 1
            [defaults]
            context = "."
            tags = [{ preset = "sha" }]
            [[image]]
            name = "built"
            repositories = ["x/a"]
            [[image]]
            name = "promoted"
            source = "x/a:1"
            repositories = ["x/b"]
            """,
        )
    )
    built, promoted = config.images
    assert built.context == "."
    assert isinstance(built.rules[0], type(promoted.rules[0]))
    assert promoted.context is None
    merged, inherited = merge_defaults({"defaults": {"latest": True}, "image": [{"name": "a"}]})
    assert merged["image"] == [{"name": "a", "latest": True}]
    assert inherited == {("image", 0, "latest")}


def test_platforms_are_normalized_and_an_images_own_win(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            version = 1
            [defaults]
            platforms = ["linux/x86_64", "linux/aarch64"]
            [[image]]
            name = "both"
            context = "."
            repositories = ["x/a"]
            [[image]]
            name = "own"
            context = "."
            repositories = ["x/b"]
            platforms = ["linux/arm64/v8"]
            [[image]]
            name = "promoted"
            source = "x/a:1"
            repositories = ["x/c"]
            """,
        )
    )
    both, own, promoted = config.images
    assert both.platforms == ("linux/amd64", "linux/arm64")
    assert own.platforms == ("linux/arm64",)
    assert promoted.platforms is None  # a source copies all its platforms


def test_platforms_with_a_source_is_an_error(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        version = 1
        [[image]]
        name = "promoted"
        source = "x/a:1"
        platforms = ["linux/arm64"]
        repositories = ["x/c"]
        """,
    )
    assert message == (
        "hubpub.toml:2: image[promoted]: 'platforms' is for a build: a 'source' is copied "
        "with all its platforms"
    )


def test_an_empty_platforms_list_is_refused_from_defaults_too(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        version = 1
        [defaults]
        platforms = []
        [[image]]
        name = "app"
        context = "."
        repositories = ["x/a"]
        """,
    )
    assert message == "hubpub.toml:3: defaults.platforms: expected at least 1 item(s), got none"


def test_default_tags_are_metadata_actions_ref(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path, 'version = 1\n[[image]]\nname = "a"\ncontext = "."\nrepositories = ["x/a"]\n'
        )
    )
    assert config.images[0].rules == (RefPreset(preset="ref"),)


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        version = 1
        [[image]]
        name = "figlet"
        context = "figlet
        """,
    )
    assert message.startswith("hubpub.toml:4:18: ")
    assert message.endswith("(TOML syntax)")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # unknown keys, with the nearest known key
        (
            'tags = [\n  "a",\n  "b",\n  { preset = "semver", patern = "x" },\n]',
            "hubpub.toml:8: image[figlet].tags[2].patern: unknown key 'patern', "
            "did you mean 'pattern'?",
        ),
        (
            "contxt = 'x'",
            "hubpub.toml:5: image[figlet].contxt: unknown key 'contxt', did you mean 'context'?",
        ),
        (
            "tags = [{ template = 'x', whenn = 'true' }]",
            "hubpub.toml:5: image[figlet].tags[0].whenn: unknown key 'whenn', did you mean 'when'?",
        ),
        ("zzz = 1", "hubpub.toml:5: image[figlet].zzz: unknown key 'zzz' (expected one of: "),
        (
            "tags = [{ preset = 'semvr' }]",
            "hubpub.toml:5: image[figlet].tags[0]: unknown preset 'semvr', did you mean 'semver'?",
        ),
        ("tags = [42]", "hubpub.toml:5: image[figlet].tags[0]: expected a template string"),
        (
            "tags = [{ template = 'x', on = 'brunch' }]",
            "hubpub.toml:5: image[figlet].tags[0].on: expected 'branch', 'tag', 'pr' or 'any', "
            'got "brunch"',
        ),
        # a union's error names the key, not pydantic's members ("pattern.str")
        (
            "tags = [{ preset = 'semver', pattern = ['{{major}}', true] }]",
            "hubpub.toml:5: image[figlet].tags[0].pattern: expected a string or an array of "
            "strings, got true",
        ),
        (
            "tags = [{ preset = 'semver', pattern = 3 }]",
            "hubpub.toml:5: image[figlet].tags[0].pattern: expected a string or an array of "
            "strings, got 3",
        ),
        (
            "tags = [{ preset = 'sha', format = 'medium' }]",
            "image[figlet].tags[0].format: expected 'short' or 'long', got \"medium\"",
        ),
        (
            "tags = [{ template = 'x', match = '(' }]",
            "hubpub.toml:5: image[figlet].tags[0].match: invalid regular expression '('",
        ),
        (
            "tags = [{ template = 'x', match = '^v(\\d+' }]",
            "hubpub.toml:5: image[figlet].tags[0].match: invalid regular expression '^v(\\d+': "
            "missing ), unterminated subpattern at position 2",
        ),
        (
            "latest = 'sometimes'",
            'hubpub.toml:5: image[figlet].latest: expected "auto", true or false, got "sometimes"',
        ),
        ("latest = 1", 'image[figlet].latest: expected "auto", true or false, got 1'),
        (
            "tags = [{ template = 'x', immutable = 'yes' }]",
            'image[figlet].tags[0].immutable: expected true or false, got "yes"',
        ),
        (
            "build_args = { N = 3 }",
            "hubpub.toml:5: image[figlet].build_args.N: expected a string, got 3",
        ),
        # references follow distribution
        (
            "repositories = ['jpetazzo/Figlet']",
            "image[figlet].repositories: invalid image reference 'jpetazzo/Figlet': "
            "invalid reference "
            "format: repository name (jpetazzo/Figlet) must be lowercase",
        ),
        (
            "repositories = ['jpetazzo/figlet:1.0']",
            "hubpub.toml:5: image[figlet].repositories: repository 'jpetazzo/figlet:1.0' must not "
            "carry a tag or digest (write 'docker.io/jpetazzo/figlet'",
        ),
        ("repositories = []", "image[figlet].repositories: expected at least 1 item(s), got"),
        (
            "source = 'x/y:1'",
            "hubpub.toml:2: image[figlet]: set exactly one of 'context' (build the image) and "
            "'source'",
        ),
        (
            "dockerfile = '/abs/Dockerfile'",
            "image[figlet].dockerfile: expected a relative path, got '/abs/Dockerfile'",
        ),
        # platforms: os/arch[/variant], no duplicates once normalized
        (
            "platforms = ['linux']",
            "hubpub.toml:5: image[figlet].platforms: expected a platform 'os/arch' or "
            "'os/arch/variant' (e.g. 'linux/arm64'), got 'linux'",
        ),
        (
            "platforms = ['linux/amd64', 'linux/x86_64']",
            "hubpub.toml:5: image[figlet].platforms: 'linux/x86_64' is listed twice (as "
            "'linux/amd64' too)",
        ),
        (
            "platforms = ['linux/arm64/v8', 'linux/aarch64']",
            "image[figlet].platforms: 'linux/aarch64' is listed twice",
        ),
        ("platforms = 'linux/arm64'", "image[figlet].platforms: "),
        # not [] (the engine's platform, silently, as unset: name it, or remove the key)
        ("platforms = []", "hubpub.toml:5: image[figlet].platforms: expected at least 1 item(s)"),
    ],
)
def test_validation_errors(tmp_path: Path, body: str, expected: str) -> None:
    text = (
        'version = 1\n[[image]]\nname = "figlet"\ncontext = "figlet"\n'
        + body
        + ("\nrepositories = ['jpetazzo/figlet']\n" if "repositories" not in body else "\n")
    )
    message = error_of(tmp_path, text)
    assert expected in message
    if expected.startswith("hubpub.toml:"):
        assert message.startswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[image]]\nname = "a"\ncontext = "."\nrepositories = ["x/a"]\n',
            "hubpub.toml: version: missing required key 'version'",
        ),
        ("version = 2\n", "hubpub.toml:1: version: expected 1, got 2"),
        ("version = 1\n", "hubpub.toml: image: missing required key 'image'"),
        (
            'version = 1\nenv = ["BAD-NAME"]\n[[image]]\nname = "a"\ncontext = "."\n'
            'repositories = ["x/a"]\n',
            "hubpub.toml:2: env: expected environment variable names, got 'BAD-NAME'",
        ),
        (
            'version = 1\n[registries."localhost:5000"]\ninsecure = "yes"\n',
            'hubpub.toml:3: registries[localhost:5000].insecure: expected true or false, got "yes"',
        ),
        (
            'version = 1\n[registries."localhost:5000"]\ninsecur = true\n',
            "hubpub.toml:3: registries[localhost:5000].insecur: unknown key 'insecur', "
            "did you mean "
            "'insecure'?",
        ),
        # a secret pasted where its variable's name belongs is not echoed to a CI log
        (
            'version = 1\n[registries."ghcr.io"]\nusername_env = "U"\n'
            'password_env = "ghp_x+Y/z="\n',
            "hubpub.toml:4: registries[ghcr.io].password_env: expected the name of an environment "
            "variable (letters, digits, '_'), not its value",
        ),
        # one of the pair alone was silently ignored (credentials.py reads both or neither)
        (
            'version = 1\n[registries."ghcr.io"]\npassword_env = "GHCR_TOKEN"\n',
            "hubpub.toml:2: registries[ghcr.io]: username_env and password_env go together: set "
            "both, or neither to use the Docker config",
        ),
        (
            'version = 1\n[defaults]\nlatest = "sometimes"\n[[image]]\nname = "a"\ncontext = "."\n'
            'repositories = ["x/a"]\n',
            'hubpub.toml:3: defaults.latest: expected "auto", true or false, got "sometimes"',
        ),
        (
            'version = 1\n[defaults]\nname = "a"\n',
            "hubpub.toml:3: defaults.name: unknown key 'name'",
        ),
        (
            'version = 1\n[[image]]\nname = "a b"\ncontext = "."\nrepositories = ["x/a"]\n',
            "hubpub.toml:3: image[a b].name: expected a name of letters, digits",
        ),
        (
            'version = 1\n[[image]]\nname = "a"\ncontext = "."\nrepositories = ["x/a"]\n'
            '[[image]]\nname = "a"\nsource = "x/a:1"\nrepositories = ["x/b"]\n',
            "hubpub.toml:7: image[1].name: duplicate image name 'a' (image[0] has it too) "
            "(names are unique: rename one)",
        ),
        # a misspelt required key: the typo is the news, not the key it leaves missing
        (
            'version = 1\n[[image]]\nname = "a"\ncontext = "."\nrepositorys = ["x/a"]\n',
            "hubpub.toml:5: image[a].repositorys: unknown key 'repositorys', "
            "did you mean 'repositories'?",
        ),
        (
            'verison = 1\n[[image]]\nname = "a"\ncontext = "."\nrepositories = ["x/a"]\n',
            "hubpub.toml:1: verison: unknown key 'verison', did you mean 'version'?",
        ),
        (
            "version = 1\nimages = []\n",
            "hubpub.toml:2: images: unknown key 'images', did you mean 'image'?",
        ),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text).startswith(expected)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ('["{{ git.nope }}"]', "hubpub.toml:6: image 'figlet', tags[0]: 'git.nope' is undef"),
        (
            '[\n  "ok",\n  "{{ env.HOME }}",\n]',
            "hubpub.toml:8: image 'figlet', tags[1]: environment variable 'HOME' is not listed",
        ),
        (
            '[{ template = "x", when = "git.brnch" }]',
            "hubpub.toml:6: image 'figlet', tags[0].when: 'git.brnch' is undefined",
        ),
        ('["{{ git.sha "]', "hubpub.toml:6: image 'figlet', tags[0]: template syntax error"),
        # an unknown name says what to write instead: the nearest name, else every known one
        (
            '["{{ git.shortsha }}"]',
            "hubpub.toml:6: image 'figlet', tags[0]: 'git.shortsha' is undefined "
            "(did you mean 'git.short_sha'?)",
        ),
        (
            '["{{ versoin }}"]',
            "hubpub.toml:6: image 'figlet', tags[0]: 'versoin' is undefined "
            "(did you mean 'version'?)",
        ),
        (
            '["{{ version.mjor }}"]',
            "hubpub.toml:6: image 'figlet', tags[0]: 'version.mjor' is undefined "
            "(did you mean 'version.major'?)",
        ),
        (
            '["{{ zzz }}"]',
            "hubpub.toml:6: image 'figlet', tags[0]: 'zzz' is undefined "
            "(write one of: env, git, match, version)",
        ),
        (
            '[{ preset = "semver", pattern = "{{ mjor }}" }]',
            "hubpub.toml:6: image 'figlet', tags[0].pattern: 'mjor' is undefined",
        ),
    ],
)
def test_template_errors_at_load(tmp_path: Path, tags: str, expected: str) -> None:
    text = (
        'version = 1\n[[image]]\nname = "figlet"\ncontext = "."\nrepositories = ["x/a"]\n'
        f"tags = {tags}\n"
    )
    assert error_of(tmp_path, text, TemplateError).startswith(expected)


def test_template_error_in_build_args_points_at_defaults(tmp_path: Path) -> None:
    text = """\
    version = 1
    [defaults]
    build_args = { X = "{{ git.nope }}" }
    [[image]]
    name = "figlet"
    context = "."
    repositories = ["x/a"]
    """
    message = error_of(tmp_path, text, TemplateError)
    assert message.startswith(
        "hubpub.toml:3: image 'figlet', build_args.X: 'git.nope' is undefined "
        "(write one of: git.branch, git.commit_time, "
    )


def test_a_file_not_in_utf8(tmp_path: Path) -> None:
    (tmp_path / "hubpub.toml").write_bytes(b"version = 1\nenv = ['caf\xe9']\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "hubpub.toml")
    assert str(caught.value) == ("hubpub.toml:2: not UTF-8 text (TOML files are UTF-8: save it so)")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert str(caught.value) == (
        "nope.toml: no such file (create one, or pass -c FILE; 'hubpub schema' prints its format)"
    )


def test_key_lines() -> None:
    text = textwrap.dedent(
        '''\
        version = 1  # comment with [brackets]
        [registries."localhost:5000"]
        insecure = true
        [[image]]
        name = "a"
        labels.title = "x"
        tags = [
          "a # not a comment ]",
          { preset = "semver",
            pattern = """
        {{ version }} ]
        """ },
          'lit\\eral',
        ]
        [image.build_args]
        X = "1"
        [[image]]
        name = "b"
        '''
    )
    lines = key_lines(text)
    assert lines[("version",)] == 1
    assert lines[("registries", "localhost:5000")] == 2
    assert lines[("registries", "localhost:5000", "insecure")] == 3
    assert lines[("image", 0)] == 4
    assert lines[("image", 0, "name")] == 5
    assert lines[("image", 0, "labels", "title")] == 6
    assert lines[("image", 0, "tags")] == 7
    assert lines[("image", 0, "tags", 0)] == 8
    assert lines[("image", 0, "tags", 1)] == 9
    assert lines[("image", 0, "tags", 1, "pattern")] == 10
    assert lines[("image", 0, "tags", 2)] == 13
    assert lines[("image", 0, "build_args", "X")] == 16
    assert lines[("image", 1, "name")] == 18


def test_example_loads() -> None:
    config = load_config(EXAMPLES / "hubpub.toml")
    assert [image.name for image in config.images] == ["figlet"]
    assert config.images[0].repositories == ("docker.io/jpetazzo/figlet",)


def test_key_lines_survives_any_text() -> None:
    # Not valid TOML: the scanner must still end (it only runs after tomllib, but a hang in an
    # error path would be the worst kind of bug).
    for text in ("a = [}", "x = {]", "[[", "= = =", 'k = """', "[a.b\nc = 1", "a = [1,, 2"):
        key_lines(text)


@settings(max_examples=300, deadline=1000)
@given(st.text(alphabet="[]{}=\"'#,.\n \tab1", max_size=80))
def test_key_lines_always_ends(text: str) -> None:
    key_lines(text)


def test_every_error_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version = 1
        [[image]]
        name = "a"
        contxt = "."
        repositories = ["x/a"]
        [[image]]
        name = "b"
        context = "."
        repositories = ["x/b"]
        tags = [{ preset = "semver", patern = "{{version}}" }]
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).split("\n") == [
        "hubpub.toml:4: image[a].contxt: unknown key 'contxt', did you mean 'context'?",
        "hubpub.toml:10: image[b].tags[0].patern: unknown key 'patern', did you mean 'pattern'?",
    ]


def test_a_bad_default_is_reported_once_not_once_per_image(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version = 1
        [defaults]
        insecure_registry = "x"
        [[image]]
        name = "a"
        context = "."
        repositories = ["x/a"]
        [[image]]
        name = "b"
        context = "."
        repositories = ["x/b"]
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).split("\n")
    assert len(lines) == 1, lines
    assert lines[0].startswith("hubpub.toml:3: ")


def test_every_semantic_error_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version = 1
        [[image]]
        name = "a"
        context = "."
        repositories = ["x/a"]
        tags = ["{{ git.nope }}"]
        [[image]]
        name = "a"
        source = "x/a:1"
        repositories = ["x/b"]
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).split("\n")
    assert len(lines) == 2, lines
    assert lines[0].startswith("hubpub.toml:6: image 'a', tags[0]: 'git.nope' is undefined")
    assert lines[1].startswith("hubpub.toml:8: image[1].name: duplicate image name 'a'")


# --- [builders] (config/builders.py) -------------------------------------------------------------

IMAGE = '[[image]]\nname = "a"\ncontext = "."\nrepositories = ["x/a"]\n'


def test_builders_load_normalized_in_file_order(tmp_path: Path) -> None:
    text = (
        "version = 1\n"
        '[builders.arm]\ndocker_host = "ssh://ci@arm-runner"\nplatforms = ["linux/aarch64"]\n'
        '[builders.amd]\ndocker_host = "tcp://10.0.0.2:2376"\n'
        'platforms = ["Linux/X86_64", "linux/arm64/v8", "linux/arm"]\nmax_builds = 4\n'
        'tls = { ca = "certs/ca.pem", cert = "certs/cert.pem", key = "certs/key.pem" }\n'
        '[builders.local]\ndocker_host = "unix:///run/other.sock"\nplatforms = ["linux/386"]\n'
        + IMAGE
    )
    config = load_config(write(tmp_path, text))
    assert list(config.builders) == ["arm", "amd", "local"]
    arm, amd, local = config.builders.values()
    assert (arm.platforms, arm.max_builds, arm.tls) == (("linux/arm64",), 2, None)
    assert amd.platforms == ("linux/amd64", "linux/arm64", "linux/arm/v7")
    assert amd.max_builds == 4
    assert amd.tls is not None
    # Relative to the config file's folder, absolute once loaded (as a registry's ca_file).
    assert (amd.tls.ca, amd.tls.cert, amd.tls.key) == tuple(
        (tmp_path / "certs" / name).resolve() for name in ("ca.pem", "cert.pem", "key.pem")
    )
    assert local.docker_host == "unix:///run/other.sock"
    # Without the table: no builders, the default engine builds everything.
    assert load_config(write(tmp_path, "version = 1\n" + IMAGE)).builders == {}


def _builder(body: str, name: str = "arm") -> str:
    return f"version = 1\n[builders.{name}]\n{body}" + IMAGE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _builder('docker_host = "ssh://h"\nplatforms = ["amd64"]\n'),
            "hubpub.toml:4: builders[arm].platforms: expected a platform 'os/arch' or "
            "'os/arch/variant' (e.g. 'linux/arm64'), got 'amd64'",
        ),
        (
            _builder('docker_host = "ssh://h"\nplatforms = ["linux/aarch64", "linux/arm64"]\n'),
            "hubpub.toml:4: builders[arm].platforms: 'linux/arm64' is listed twice "
            "(as 'linux/aarch64' too)",
        ),
        (
            _builder('docker_host = "ssh://h"\nplatforms = []\n'),
            "hubpub.toml:4: builders[arm].platforms: expected at least 1 item(s), got none",
        ),
        (
            _builder('docker_host = "ssh://h"\n'),
            "hubpub.toml:2: builders[arm].platforms: missing required key 'platforms'",
        ),
        (
            _builder('platforms = ["linux/arm64"]\n'),
            "hubpub.toml:2: builders[arm].docker_host: missing required key 'docker_host'",
        ),
        (
            _builder('docker_host = "https://h:2376"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: expected unix:///path/to/docker.sock, "
            "tcp://host:port or ssh://user@host, got 'https://h:2376'",
        ),
        (
            _builder('docker_host = "tcp://"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: expected unix:///path/to/docker.sock",
        ),
        (
            _builder('docker_host = "ssh://ci:hunter2@arm"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: 'ssh://ci:***@arm' carries a password: "
            "hubpub prints a builder's address in plans, logs and errors, and the docker SDK "
            "refuses one anyway; use an ssh key (ssh-agent or ~/.ssh/config) and "
            "ssh://user@host",
        ),
        (
            _builder('docker_host = "tcp://u:hunter2@h:2376"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: 'tcp://u:***@h:2376' carries a password: "
            "hubpub prints a builder's address in plans, logs and errors, and the docker SDK "
            "refuses one anyway; use tls = { ca, cert, key } with a TLS client certificate",
        ),
        (
            _builder('docker_host = "hxxp://u:hunter2@h:2376"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: expected unix:///path/to/docker.sock, "
            "tcp://host:port or ssh://user@host, got 'hxxp://u:***@h:2376'",
        ),
        (
            _builder('docker_host = "tcp://host:notaport"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: the port of 'tcp://host:notaport' is not "
            "a number from 1 to 65535: got 'notaport'",
        ),
        (
            _builder('docker_host = "ssh://ci@h:99999"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: the port of 'ssh://ci@h:99999' is not "
            "a number from 1 to 65535: got '99999'",
        ),
        (
            _builder('docker_host = "tcp://h:0"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: the port of 'tcp://h:0' is not a number "
            "from 1 to 65535",
        ),
        (
            _builder('docker_host = "tcp://h"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: 'tcp://h' names no port: give it, "
            "e.g. tcp://h:2376",
        ),
        (
            _builder('docker_host = "ssh://ci@:22"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: 'ssh://ci@:22' names no host",
        ),
        (
            _builder('docker_host = "ssh://ci@h/path"\nplatforms = ["linux/arm64"]\n'),
            "hubpub.toml:3: builders[arm].docker_host: 'ssh://ci@h/path': an ssh:// address "
            "takes no path",
        ),
        (
            _builder('docker_host = "ssh://h"\nplatforms = ["linux/arm64"]\nmax_builds = 0\n'),
            "hubpub.toml:5: builders[arm].max_builds: expected 1 or more, got 0",
        ),
        (
            _builder('docker_host = "ssh://h"\nplatforms = ["linux/arm64"]\nmax_builds = "2"\n'),
            'hubpub.toml:5: builders[arm].max_builds: expected an integer, got "2"',
        ),
        (
            _builder('docker_host = "ssh://h"\nplatfroms = ["linux/arm64"]\n'),
            "hubpub.toml:4: builders[arm].platfroms: unknown key 'platfroms', "
            "did you mean 'platforms'?",
        ),
        (
            _builder('docker_host = "ssh://h"\nplatforms = ["linux/arm64"]\ntls = { ca = "c" }\n'),
            "hubpub.toml:5: builders[arm].tls: tls applies to a tcp:// docker_host only, "
            "not 'ssh://h'",
        ),
        (
            _builder(
                'docker_host = "tcp://h:2376"\nplatforms = ["linux/arm64"]\ntls = { cert = "c" }\n'
            ),
            "hubpub.toml:5: builders[arm].tls: cert and key go together: set both, or neither",
        ),
        (
            _builder(
                'docker_host = "tcp://h:2376"\nplatforms = ["linux/arm64"]\ntls = { kye = "k" }\n'
            ),
            "hubpub.toml:5: builders[arm].tls.kye: unknown key 'kye', did you mean 'key'?",
        ),
        (
            _builder(
                'docker_host = "unix:///s"\nplatforms = ["linux/arm64"]\n', name='"arm runner"'
            ),
            "hubpub.toml:2: builders: expected a name of letters, digits, '.', '_' and '-', "
            "got 'arm runner'",
        ),
    ],
)
def test_builder_errors_name_the_line_and_the_builder(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert error_of(tmp_path, text).startswith(expected)


ARM = Builder(docker_host="ssh://ci@arm", platforms=("linux/arm64",))
BOTH = Builder(docker_host="tcp://big:2376", platforms=("linux/amd64", "linux/arm64"))
BUILDERS = {"arm": ARM, "both": BOTH}


@pytest.mark.parametrize(
    ("builders", "platform", "expected"),
    [
        # no platform asked (the engine's own): the default engine
        (BUILDERS, None, None),
        ({}, "linux/arm64", None),
        # the first builder in file order that lists it wins
        (BUILDERS, "linux/arm64", "arm"),
        ({"both": BOTH, "arm": ARM}, "linux/arm64", "both"),
        (BUILDERS, "linux/amd64", "both"),
        # asked as the user may write it
        (BUILDERS, "linux/aarch64", "arm"),
        # nobody lists it: the default engine (its BuildKit may emulate it)
        (BUILDERS, "linux/s390x", None),
    ],
)
def test_a_platform_goes_to_the_first_builder_listing_it(
    builders: dict[str, Builder], platform: str | None, expected: str | None
) -> None:
    assert builder_for(builders, platform) == expected


@pytest.mark.parametrize(
    ("platforms", "expected"),
    [
        ((None,), "the default engine (DOCKER_HOST)"),
        (("linux/arm64",), "builder 'arm' (ssh://ci@arm)"),
        (("linux/s390x", "linux/ppc64le"), "the default engine (DOCKER_HOST)"),
        (
            ("linux/amd64", "linux/arm64", "linux/s390x"),
            "linux/amd64 on builder 'both' (tcp://big:2376), linux/arm64 on builder 'arm' "
            "(ssh://ci@arm), linux/s390x on the default engine (DOCKER_HOST)",
        ),
    ],
)
def test_the_plan_note_says_which_engine_builds_each_platform(
    platforms: tuple[str | None, ...], expected: str
) -> None:
    assert routing_note(BUILDERS, platforms) == expected


@pytest.mark.parametrize(
    "host",
    ["ssh://ci:hunter2@arm", "tcp://u:hunter2@h:2376", "tcp://:hunter2@h:x", "hxxp://u:hunter2@h"],
)
def test_a_builder_password_is_refused_and_never_printed(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, _builder(f'docker_host = "{host}"\nplatforms = ["linux/arm64"]\n'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "builders[arm].docker_host" in str(caught.value)
    assert "hunter2" not in f"{caught.value} {caught.value.hint} {caught.value!r}"
