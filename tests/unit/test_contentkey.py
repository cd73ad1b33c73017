"""The content key: what changes it and what does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubpub.contentkey import (
    Dockerfile,
    base_images,
    content_key,
    context_files,
    key_of,
    substitute,
)
from hubpub.errors import ConfigError

BASE = "sha256:" + "e" * 64


def resolve(name: str) -> str:
    return {"busybox:1.36": BASE}.get(name, "sha256:" + "0" * 64)


def make_context(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.sh").write_text("echo hi\n")
    (root / "Dockerfile").write_text("FROM busybox:1.36\nCOPY app /app\n")
    (root / ".dockerignore").write_text("# comment\n*.log\nbuild/\n")
    return root


def key(root: Path, **kwargs: object) -> str:
    args: dict[str, str] = kwargs.get("build_args", {})  # type: ignore[assignment]
    target = kwargs.get("target")
    return content_key(root, root / "Dockerfile", args, target, resolve)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "args", "target", "expected"),
    [
        ("FROM busybox:1.36\n", {}, None, ["busybox:1.36"]),
        ("FROM scratch\nCOPY x /x\n", {}, None, []),
        ("FROM busybox AS build\nFROM build\nFROM Build\n", {}, None, ["busybox"]),
        ("ARG BASE=busybox:1.36\nFROM ${BASE}\n", {}, None, ["busybox:1.36"]),
        ("ARG BASE=busybox:1.36\nFROM $BASE\n", {"BASE": "alpine:3"}, None, ["alpine:3"]),
        ('ARG V="1.36"\nFROM busybox:${V}\n', {}, None, ["busybox:1.36"]),
        ("ARG V\nFROM busybox:${V:-latest}\n", {}, None, ["busybox:latest"]),
        # An ARG without a default is unset, not empty (Docker), unless a build arg sets it.
        ("ARG V\nFROM busybox:${V-latest}\n", {}, None, ["busybox:latest"]),
        ("ARG V\nFROM busybox:${V-latest}\n", {"V": "1.36"}, None, ["busybox:1.36"]),
        ('ARG V=""\nFROM busybox${V+:1.36}\n', {}, None, ["busybox:1.36"]),
        (
            "FROM golang:1 AS build\nFROM busybox\nCOPY --from=build /a /a\n"
            "COPY --from=nginx:1 /etc/x /x\nCOPY --from=0 /b /b\n",
            {},
            None,
            ["golang:1", "busybox", "nginx:1"],
        ),
        ("FROM golang:1 AS build\nFROM busybox AS final\n", {}, "build", ["golang:1"]),
        ("FROM --platform=linux/amd64 busybox:1.36 AS x\n", {}, None, ["busybox:1.36"]),
        ("FROM busybox\nFROM busybox\n", {}, None, ["busybox"]),
    ],
)
def test_base_images(
    text: str, args: dict[str, str], target: str | None, expected: list[str]
) -> None:
    assert base_images(text, args, target) == expected


def test_substitute_forms() -> None:
    env = {"A": "x", "E": ""}
    assert substitute("$A-${A}-${B:-d}-${E:-d}-${E-d}-${A:+y}-${B:+y}", env) == "x-x-d-d--y-"


def test_key_is_stable_and_sensitive(tmp_path: Path) -> None:
    root = make_context(tmp_path / "ctx")
    first = key(root)
    assert first.startswith("sha256:")
    assert len(first) == 71
    assert key(root) == first

    # Ignored files do not count.
    (root / "debug.log").write_text("noise")
    (root / "build").mkdir()
    (root / "build" / "out").write_text("noise")
    assert key(root) == first

    # A file's bytes count.
    (root / "app" / "main.sh").write_text("echo bye\n")
    changed = key(root)
    assert changed != first
    (root / "app" / "main.sh").write_text("echo hi\n")
    assert key(root) == first

    # Its mode counts.
    os.chmod(root / "app" / "main.sh", 0o755)  # noqa: S103
    assert key(root) != first
    os.chmod(root / "app" / "main.sh", 0o644)

    # A new file counts; so does a rename.
    (root / "app" / "extra").write_text("x")
    assert key(root) != first
    (root / "app" / "extra").rename(root / "app" / "extra2")
    with_extra2 = key(root)
    (root / "app" / "extra2").unlink()
    assert with_extra2 != first


def test_build_args_target_and_base_digest_count(tmp_path: Path) -> None:
    root = make_context(tmp_path / "ctx")
    first = key(root)
    assert key(root, build_args={"X": "1"}) != first
    assert key(root, build_args={"X": "1"}) != key(root, build_args={"X": "2"})
    assert key(root, target="final") != first
    other = content_key(root, root / "Dockerfile", {}, None, lambda name: "sha256:" + "9" * 64)
    assert other != first


def test_same_content_elsewhere_same_key(tmp_path: Path) -> None:
    # The key depends on the content only, not on where the checkout lives.
    assert key(make_context(tmp_path / "one")) == key(make_context(tmp_path / "two"))


def test_dockerignore_can_not_hide_the_dockerfile(tmp_path: Path) -> None:
    root = make_context(tmp_path / "ctx")
    (root / ".dockerignore").write_text("Dockerfile\n")
    assert "Dockerfile" in context_files(root, root / "Dockerfile")


def test_dockerfile_outside_the_context(tmp_path: Path) -> None:
    root = make_context(tmp_path / "ctx")
    outside = tmp_path / "Other.Dockerfile"
    outside.write_text("FROM busybox:1.36\n")
    first = content_key(root, outside, {}, None, resolve)
    outside.write_text("FROM busybox:1.36\nENV A=1\n")
    assert content_key(root, outside, {}, None, resolve) != first


def test_symlink_counts_by_target(tmp_path: Path) -> None:
    root = make_context(tmp_path / "ctx")
    (root / "link").symlink_to("app/main.sh")
    first = key(root)
    (root / "link").unlink()
    (root / "link").symlink_to("Dockerfile")
    assert key(root) != first


def test_missing_dockerfile_is_a_config_error(tmp_path: Path) -> None:
    root = make_context(tmp_path / "ctx")
    with pytest.raises(ConfigError, match="cannot read the Dockerfile"):
        content_key(root, root / "nope", {}, None, resolve)


def test_user_labels_count_but_empty_ones_set_nothing(tmp_path: Path) -> None:
    # The user's labels are part of the image's config, so of the key (docs/config.md,
    # `[[image]]`); an empty value sets no label (commands._session.build_labels), so it is no
    # change.
    root = make_context(tmp_path / "ctx")
    dockerfile = root / "Dockerfile"
    first = content_key(root, dockerfile, {}, None, resolve)
    assert content_key(root, dockerfile, {}, None, resolve, labels={}) == first
    labelled = content_key(root, dockerfile, {}, None, resolve, labels={"a": "1"})
    assert labelled != first
    assert content_key(root, dockerfile, {}, None, resolve, labels={"a": "2"}) != labelled
    assert content_key(root, dockerfile, {}, None, resolve, labels={"a": "1", "b": ""}) == labelled


def test_a_parsed_dockerfile_keys_as_the_file_does(tmp_path: Path) -> None:
    # observe reads and parses each Dockerfile once and hands it to content_key: the same key
    # as content_key reading the file itself.
    root = make_context(tmp_path / "ctx")
    dockerfile = root / "Dockerfile"
    args = {"V": "1.36"}
    text = b"ARG V\nFROM busybox:${V}\nFROM golang:1 AS build\nCOPY app /app\n"
    dockerfile.write_bytes(text)
    parsed = Dockerfile.parse(text, args, None)
    assert parsed.bases == ("busybox:1.36", "golang:1")
    read = content_key(root, dockerfile, args, None, resolve)
    assert content_key(root, dockerfile, args, None, resolve, parsed=parsed) == read


def test_hashing_a_context_stops_when_asked(tmp_path: Path) -> None:
    # observe stops the hashing when it fails meanwhile, so the error is not held up by a
    # large context (observe._stop_on_error sets the event before the pool waits).
    import threading

    from hubpub.contentkey import Stopped, context_entries

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "a").write_text("a")
    stop = threading.Event()
    assert [e[0] for e in context_entries(tmp_path, tmp_path / "Dockerfile", stop)] == [
        "Dockerfile",
        "a",
    ]
    stop.set()
    with pytest.raises(Stopped):
        context_entries(tmp_path, tmp_path / "Dockerfile", stop)


@pytest.mark.parametrize(
    ("text", "args", "says"),
    [
        ("FROM ${BASE}\n", {}, "FROM ${BASE} names no image (BASE unset)"),
        ("ARG BASE\nFROM $BASE\n", {}, "FROM $BASE names no image (BASE unset)"),
        ("FROM Busybox:1\n", {}, "FROM Busybox:1: invalid image reference 'Busybox:1'"),
        ("ARG B\nFROM ${B}\n", {"B": "Up/Per"}, "FROM ${B}: invalid image reference 'Up/Per'"),
    ],
)
def test_a_from_that_names_no_valid_image_says_how_it_was_written(
    text: str, args: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        base_images(text, args)
    assert str(caught.value).startswith(says)


def test_platforms_count_in_the_key_only_when_set() -> None:
    material = {
        "files": [("a", 0o100644, "x")],
        "dockerfile": b"FROM scratch\n",
        "build_args": {},
        "target": None,
        "bases": [],
    }
    plain = key_of(**material)  # type: ignore[arg-type]
    assert key_of(**material, platforms=()) == plain  # type: ignore[arg-type]
    both = key_of(**material, platforms=("linux/amd64", "linux/arm64"))  # type: ignore[arg-type]
    one = key_of(**material, platforms=("linux/amd64",))  # type: ignore[arg-type]
    swapped = key_of(**material, platforms=("linux/arm64", "linux/amd64"))  # type: ignore[arg-type]
    assert len({plain, both, one, swapped}) == 4
