"""Images no engine built (docs/config.md#file-sources): ``source = "oci:DIR[:REF]"`` and
``source = "docker-archive:FILE[:REPO:TAG]"`` published by ``hubpub apply`` into a real registry.

The files come from tools hubpub did not write (skopeo, ``docker save``, the layout helpers of
tests/helpers/registry.py), and what hubpub pushed is read back with skopeo and ``docker
pull`` + ``docker run``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from tests.fixtures import skopeo
from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, build_project, registries_toml, run_image, uid
from tests.helpers.registry import OCI_INDEX, nest_layout, write_layout

TAGS = 'tags = ["v1"]'
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


def _project(tmp_path: Path, engine: DockerEngine, registry: Registry, images: str) -> Project:
    """A repository whose config publishes ``images`` (``[[image]]`` tables); the files the
    sources name are written by the test, untracked (as a build output is)."""
    project = Project(tmp_path / "repo", engine)
    project.write("hubpub.toml", f"version = 1\n\n{registries_toml(registry)}\n{images}")
    project.write(".gitignore", "dist/\n")
    project.commit("first")
    (project.root / "dist").mkdir()
    return project


def _image(name: str, source: str, repository: str, tags: str = TAGS) -> str:
    return (
        f'[[image]]\nname = "{name}"\nsource = "{source}"\n'
        f'repositories = ["{repository}"]\n{tags}\n\n'
    )


def _push_engine_image(engine: DockerEngine, image: str, ref: str) -> None:
    repository, _, tag = ref.rpartition(":")
    engine.client.images.get(image).tag(repository, tag)
    for line in engine.client.images.push(repository, tag=tag, stream=True, decode=True):
        assert "errorDetail" not in line, line


def _build_in_engine(engine: DockerEngine, base: str, tmp_path: Path, name: str, msg: str) -> None:
    context = tmp_path / f"ctx-{uid()}"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY msg /app/msg\n")
    (context / "msg").write_text(msg)
    engine.client.images.build(path=str(context), tag=name, network_mode="none", rm=True)


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / digest.partition(":")[0] / digest.partition(":")[2]).read_bytes()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _decompress_layers(layout: Path) -> None:
    """The layout's only image with its layers gunzipped (``…layer.v1.tar``, as umoci or a
    layout written by hand may hold them): a new manifest, a new index.json entry."""
    [entry] = json.loads((layout / "index.json").read_text())["manifests"]
    manifest = json.loads(_blob(layout, entry["digest"]))
    for layer in manifest["layers"]:
        data = gzip.decompress(_blob(layout, layer["digest"]))
        _put(layout, data)
        layer.update(mediaType=OCI_LAYER_TAR, digest=_sha256(data), size=len(data))
    raw = json.dumps(manifest).encode()
    _put(layout, raw)
    entry.update(digest=_sha256(raw), size=len(raw))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


def _put(layout: Path, data: bytes) -> None:
    (layout / "blobs" / "sha256" / _sha256(data).partition(":")[2]).write_bytes(data)


def _docker(engine: DockerEngine, *args: str) -> str:
    done = subprocess.run(
        ["docker", *args], env=engine.env, capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout


def test_an_oci_layout_skopeo_wrote_is_published_byte_for_byte_and_runs(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    # An image in the registry, copied into a layout by skopeo (gzip layers), and the same
    # image from the engine into another with its layers left uncompressed.
    name = f"hubpub-test/oci{uid()}:v1"
    _build_in_engine(docker_engine, busybox_image, tmp_path, name, "from a layout\n")
    upstream = f"{registry_plain.host}/up{uid()}/app:v1"
    _push_engine_image(docker_engine, name, upstream)
    target = f"{registry_plain.host}/oci{uid()}/app"
    plain = f"{registry_plain.host}/oci{uid()}/plain"
    project = _project(
        tmp_path,
        docker_engine,
        registry_plain,
        _image("app", "oci:dist/layout:release", target) + _image("plain", "oci:dist/raw", plain),
    )
    layout = project.root / "dist" / "layout"
    skopeo.copy(f"docker://{upstream}", f"oci:{layout}:release", "--src-tls-verify=false")
    raw = project.root / "dist" / "raw"
    skopeo.copy(f"docker://{upstream}", f"oci:{raw}", "--src-tls-verify=false")
    _decompress_layers(raw)
    [entry] = json.loads((layout / "index.json").read_text())["manifests"]
    [raw_entry] = json.loads((raw / "index.json").read_text())["manifests"]

    plan = project.ok("plan", "--json").json()
    desired = {c["ref"]: c["desired"] for c in plan["changes"]}
    # The plan shows the digest it publishes: the layout's, before anything is written.
    assert desired == {f"{target}:v1": entry["digest"], f"{plain}:v1": raw_entry["digest"]}
    assert plan["builds"] == []

    out = project.ok("apply").stdout
    assert "from oci:dist/layout:release" in out
    for repo, folder, top in ((target, layout, entry), (plain, raw, raw_entry)):
        pushed = skopeo.raw_manifest(registry_plain, f"{repo.partition('/')[2]}:v1")
        assert pushed == _blob(folder, top["digest"])
        assert _sha256(pushed) == top["digest"]
        assert run_image(docker_engine, f"{repo}:v1") == "from a layout\n"

    # Unchanged files: nothing to do, and nothing written.
    again = project.ok("apply", "--json").json()
    assert again["results"] == []
    assert {c["action"] for c in again["changes"]} == {"noop"}


def test_a_multi_platform_layout_keeps_the_index_and_every_child_digest(
    docker_engine: DockerEngine,
    busybox_image: str,
    busybox_arm64_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    # Each platform's busybox goes through the registry into one layout (skopeo), then a few
    # lines write the index over them with their platforms (umoci and skopeo write none).
    repo = f"{registry_plain.host}/multi{uid()}"
    target = f"{registry_plain.host}/multi{uid()}/app"
    nested = f"{registry_plain.host}/multi{uid()}/nested"
    project = _project(
        tmp_path,
        docker_engine,
        registry_plain,
        _image("app", "oci:dist/multi:both", target) + _image("nested", "oci:dist/nested", nested),
    )
    layout = project.root / "dist" / "multi"
    entries = []
    for image, arch in ((busybox_image, "amd64"), (busybox_arm64_image, "arm64")):
        _push_engine_image(docker_engine, image, f"{repo}/busybox:{arch}")
        skopeo.copy(
            f"docker://{repo}/busybox:{arch}", f"oci:{layout}:{arch}", "--src-tls-verify=false"
        )
        found = json.loads((layout / "index.json").read_text())["manifests"]
        entry = next(e for e in found if e["annotations"][REF] == arch)
        entries.append({**_without(entry, "annotations"), "platform": _platform(arch)})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    (layout / "blobs" / "sha256" / _sha256(index).partition(":")[2]).write_bytes(index)
    top = {"mediaType": OCI_INDEX, "digest": _sha256(index), "size": len(index)}
    index_json = json.loads((layout / "index.json").read_text())
    index_json["manifests"].append({**top, "annotations": {REF: "both"}})
    (layout / "index.json").write_text(json.dumps(index_json))
    # An index of an index (image-spec allows it; skopeo does not write it).
    inner = write_layout(
        project.root / "dist" / "nested", platforms=("linux/amd64", "linux/arm64"), index=True
    )
    outer = nest_layout(inner)

    project.ok("apply")

    path = target.partition("/")[2]
    assert skopeo.raw_manifest(registry_plain, f"{path}:v1") == index
    for entry in entries:
        child = skopeo.raw_manifest(registry_plain, f"{path}@{entry['digest']}")
        assert child == _blob(layout, entry["digest"])
    arm = skopeo.run(
        "inspect",
        "--config",
        "--tls-verify=false",
        "--override-arch=arm64",
        f"docker://{target}:v1",
    ).stdout
    assert json.loads(arm)["architecture"] == "arm64"
    pulled = _docker(docker_engine, "pull", "--platform", "linux/arm64", f"{target}:v1")
    assert "v1" in pulled
    inspected = json.loads(_docker(docker_engine, "image", "inspect", f"{target}:v1"))
    assert inspected[0]["Architecture"] == "arm64"

    npath = nested.partition("/")[2]
    assert skopeo.raw_manifest(registry_plain, f"{npath}:v1") == _blob(outer.path, outer.digest)
    for digest in outer.children:
        assert skopeo.raw_manifest(registry_plain, f"{npath}@{digest}") == _blob(outer.path, digest)

    plan = project.ok("plan", "--json").json()
    assert {c["action"] for c in plan["changes"]} == {"noop"}
    assert "warnings" not in plan  # an index replaced by an index loses no platform


REF = "org.opencontainers.image.ref.name"


def _without(data: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in data.items() if k != key}


def _platform(arch: str) -> dict[str, str]:
    return {"os": "linux", "architecture": arch}


def test_a_docker_archive_is_published_once_and_runs(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    first = f"hubpub-test/archive{uid()}:v1"
    second = f"hubpub-test/archive{uid()}:v2"
    _build_in_engine(docker_engine, busybox_image, tmp_path, first, "from docker save\n")
    _build_in_engine(docker_engine, busybox_image, tmp_path, second, "the other one\n")
    target = f"{registry_plain.host}/arch{uid()}/app"
    other = f"{registry_plain.host}/arch{uid()}/other"
    project = _project(
        tmp_path,
        docker_engine,
        registry_plain,
        _image("app", "docker-archive:dist/app.tar", target)
        + _image("other", f"docker-archive:dist/both.tar:{second}", other),
    )
    _docker(docker_engine, "save", "-o", str(project.root / "dist" / "app.tar"), first)
    _docker(docker_engine, "save", "-o", str(project.root / "dist" / "both.tar"), first, second)

    # Two images in one archive and no tag named: which one is a question, not a guess.
    config = (project.root / "hubpub.toml").read_text()
    project.write("ambiguous.toml", config.replace(f"both.tar:{second}", "both.tar"))
    done = project.hubpub("plan", "-c", "ambiguous.toml")
    assert done.code == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(
        "hubpub: error: ambiguous.toml:14: image[other].source: docker-archive:dist/both.tar: "
        "manifest.json holds 2 images ("
    ), line
    for text in (first, second, "name the one to publish"):
        assert text in line, line

    plan = project.ok("plan", "--json").json()
    desired = {c["ref"]: c["desired"] for c in plan["changes"]}
    assert all(digest and digest.startswith("sha256:") for digest in desired.values()), desired

    out = project.ok("apply").stdout
    assert "2 to create" in out
    for ref, msg in ((f"{target}:v1", "from docker save\n"), (f"{other}:v1", "the other one\n")):
        # The tag points to the manifest the plan announced, which hubpub composed.
        assert skopeo.digest(registry_plain, ref.partition("/")[2]) == desired[ref]
        assert run_image(docker_engine, ref) == msg
    config = skopeo.config(registry_plain, f"{target.partition('/')[2]}:v1")
    saved = docker_engine.client.images.get(first).attrs
    assert config["rootfs"]["diff_ids"] == saved["RootFS"]["Layers"]

    # Second apply: the same digests (the layer cache spares the compression), nothing to
    # change, and no write reaches the registry.
    before = len(registry_plain.log.read_text(errors="replace"))
    again = project.ok("apply")
    assert "0 to create, 0 to update, 2 unchanged" in again.stdout
    paths = (target.partition("/")[2], other.partition("/")[2])
    mine = [
        line
        for line in registry_plain.log.read_text(errors="replace")[before:].splitlines()
        if any(path in line for path in paths)
    ]
    assert mine, "the second apply looked at its tags"
    assert not [line for line in mine if '"PUT ' in line or '"POST ' in line], mine


def test_a_saved_plan_publishes_the_file_it_saw_and_refuses_one_made_again(
    docker_engine: DockerEngine, registry_plain: Registry, tmp_path: Path
) -> None:
    target = f"{registry_plain.host}/saved{uid()}/app"
    project = _project(
        tmp_path, docker_engine, registry_plain, _image("app", "oci:dist/layout", target)
    )
    layout = write_layout(project.root / "dist" / "layout", note="one")
    project.ok("plan", "--out", "plan.json")
    saved = json.loads((project.root / "plan.json").read_text())
    assert saved["observed"]["sources"] == {"app": layout.digest}
    project.ok("apply", "plan.json")
    assert skopeo.digest(registry_plain, f"{target.partition('/')[2]}:v1") == layout.digest

    # The layout is written again between plan and apply: the plan no longer says what the
    # apply would publish.
    shutil.rmtree(layout.path)
    second = write_layout(layout.path, note="two")
    project.ok("plan", "--out", "plan.json")
    shutil.rmtree(layout.path)
    third = write_layout(layout.path, note="three")
    done = project.hubpub("apply", "plan.json")
    assert done.code == 1
    [line] = done.stderr.splitlines()
    assert line == (
        f"hubpub: error: Saved plan is stale: oci:dist/layout of image 'app' is now "
        f"{third.digest}, the plan expected {second.digest} (run 'hubpub plan' again)"
    )
    assert skopeo.digest(registry_plain, f"{target.partition('/')[2]}:v1") == layout.digest


def test_an_image_built_from_a_file_image_waits_for_it_and_rebuilds_when_the_file_changes(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    base = f"{registry_plain.host}/fbase{uid()}/base"
    app = f"{registry_plain.host}/fbase{uid()}/app"
    project = build_project(
        tmp_path,
        docker_engine,
        [app],
        [registry_plain],
        base=f"{base}:v1",
        extra="\n" + _image("base", "oci:dist/base", base),
    )
    project.write(".gitignore", "dist/\n")
    project.commit("ignore dist")
    (project.root / "dist").mkdir()
    upstream = f"{registry_plain.host}/up{uid()}/busybox"
    _push_engine_image(docker_engine, busybox_image, f"{upstream}:1")
    skopeo.copy(
        f"docker://{upstream}:1", f"oci:{project.root / 'dist' / 'base'}", "--src-tls-verify=false"
    )

    # The base is published first, from the file; the app is built on what it wrote.
    out = project.ok("apply").stdout
    assert "image app (after: base)" in out
    assert run_image(docker_engine, f"{app}:main") == "hello v1\n"
    assert project.ok("plan", "--json").json()["builds"] == []

    # Another base in the layout: the app's context is the same, its key is not.
    name = f"hubpub-test/newbase{uid()}:1"
    _build_in_engine(docker_engine, busybox_image, tmp_path, name, "new base\n")
    _push_engine_image(docker_engine, name, f"{upstream}:2")
    shutil.rmtree(project.root / "dist" / "base")
    skopeo.copy(
        f"docker://{upstream}:2", f"oci:{project.root / 'dist' / 'base'}", "--src-tls-verify=false"
    )
    plan = project.ok("plan", "--json").json()
    assert [build["image"] for build in plan["builds"]] == ["app"]
    project.ok("apply")
    assert run_image(docker_engine, f"{app}:main") == "hello v1\n"
    layers = skopeo.inspect(registry_plain, f"{app.partition('/')[2]}:main")["Layers"]
    base_layers = skopeo.inspect(registry_plain, f"{base.partition('/')[2]}:v1")["Layers"]
    assert layers[: len(base_layers)] == base_layers
