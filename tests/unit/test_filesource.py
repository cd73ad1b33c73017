"""filesource.py on tables: which file a source names, and which image of a layout's
index.json or an archive's manifest.json it means. No I/O."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubpub.errors import ConfigError
from hubpub.filesource import FileSource, parse_file_source, select_archive, select_oci

ROOT = Path("/work/project")
REF = "org.opencontainers.image.ref.name"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci:dist/image", FileSource("oci", ROOT / "dist/image", None, "oci:dist/image")),
        ("oci:dist/image:v1", FileSource("oci", ROOT / "dist/image", "v1", "oci:dist/image:v1")),
        ("oci:out:a:b", FileSource("oci", ROOT / "out", "a:b", "oci:out:a:b")),
        ("oci:/abs/layout", FileSource("oci", Path("/abs/layout"), None, "oci:/abs/layout")),
        ("oci:dist:", FileSource("oci", ROOT / "dist", None, "oci:dist:")),
        (
            "docker-archive:result.tar",
            FileSource("docker-archive", ROOT / "result.tar", None, "docker-archive:result.tar"),
        ),
        (
            "docker-archive:out/x.tar:app:1.0",
            FileSource(
                "docker-archive", ROOT / "out/x.tar", "app:1.0", "docker-archive:out/x.tar:app:1.0"
            ),
        ),
        ("docker.io/library/busybox:1", None),
        ("localhost:5000/oci:1", None),
        ("ghcr.io/o/docker-archive:1", None),
    ],
)
def test_parse_file_source(text: str, expected: FileSource | None) -> None:
    assert parse_file_source(text, ROOT) == expected


@pytest.mark.parametrize("text", ["oci:", "oci::ref", "docker-archive:", "docker-archive::a:b"])
def test_a_file_source_without_a_path_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="names no"):
        parse_file_source(text, ROOT)


def _entry(n: int, ref: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": f"sha256:{str(n) * 64}",
        "size": 100 + n,
        **extra,
    }
    if ref is not None:
        entry["annotations"] = {REF: ref}
    return entry


def _index(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"schemaVersion": 2, "manifests": list(entries)}).encode()


@pytest.mark.parametrize(
    ("index", "ref", "chosen"),
    [
        (_index(_entry(1)), None, 1),
        (_index(_entry(1, "latest")), None, 1),
        (_index(_entry(1, "v1"), _entry(2, "v2")), "v2", 2),
        (_index(_entry(1, "v1"), _entry(2)), "v1", 1),
        (_index(_entry(1, "a:b"), _entry(2, "b")), "a:b", 1),
    ],
)
def test_select_oci_chooses_the_named_or_only_image(
    index: bytes, ref: str | None, chosen: int
) -> None:
    assert select_oci(index, ref)["digest"] == f"sha256:{str(chosen) * 64}"


@pytest.mark.parametrize(
    ("index", "ref", "message"),
    [
        (
            _index(_entry(1, "v1"), _entry(2, "v2")),
            None,
            "index.json holds 2 images (refs: 'v1', 'v2'): name the one to publish",
        ),
        (
            _index(_entry(1, "v1"), _entry(2), _entry(3)),
            None,
            "index.json holds 3 images (refs: 'v1', 2 without a ref)",
        ),
        (_index(_entry(1, "v1")), "v2", "index.json has no image named 'v2' (its refs: 'v1')"),
        (_index(), None, "index.json lists no image"),
        (b'{"manifests": [', None, "index.json is not valid JSON (line 1)"),
        (b'{"manifests": {}}', None, "index.json is not an OCI image index"),
        (b'{"manifests": [{"size": 1}]}', None, "index.json is not an OCI image index"),
        (b"[]", None, "index.json is not an OCI image index"),
    ],
)
def test_select_oci_refuses_what_names_no_single_image(
    index: bytes, ref: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        select_oci(index, ref)
    assert message in str(caught.value)
    assert caught.value.hint


def _archive(*tags: list[str]) -> bytes:
    return json.dumps(
        [
            {"Config": f"{n}.json", "RepoTags": names, "Layers": [f"{n}/layer.tar"]}
            for n, names in enumerate(tags)
        ]
    ).encode()


@pytest.mark.parametrize(
    ("manifest", "ref", "chosen"),
    [
        (_archive(["app:1"]), None, 0),
        (_archive([]), None, 0),
        (_archive(["app:1"], ["other:2"]), "other:2", 1),
        (_archive(["app:1"], ["other:latest"]), "other", 1),
        (_archive(["reg:5000/app:1"], ["reg:5000/app:2"]), "reg:5000/app:2", 1),
    ],
)
def test_select_archive_chooses_the_tagged_or_only_image(
    manifest: bytes, ref: str | None, chosen: int
) -> None:
    assert select_archive(manifest, ref)["Config"] == f"{chosen}.json"
    assert select_archive(json.loads(manifest), ref)["Config"] == f"{chosen}.json"


@pytest.mark.parametrize(
    ("manifest", "ref", "message"),
    [
        (
            _archive(["app:1"], ["other:2", "other:latest"]),
            None,
            "manifest.json holds 2 images (app:1; other:2, other:latest): name the one",
        ),
        (_archive(["app:1"], []), "app:2", "has no image tagged 'app:2' (its images: app:1; "),
        (_archive([]), "app", "manifest.json has no image tagged 'app' (its images: (untagged))"),
        (b"[]", None, "manifest.json lists no image"),
        (b"{}", None, "manifest.json is not a docker-archive manifest"),
        (b"[{}]", None, "manifest.json is not a docker-archive manifest"),
        (b"\xff", None, "manifest.json is not valid JSON"),
    ],
)
def test_select_archive_refuses_what_names_no_single_image(
    manifest: bytes, ref: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        select_archive(manifest, ref)
    assert message in str(caught.value)
