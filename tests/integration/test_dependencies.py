"""Images that depend on images of the same config (docs/config.md, "Images that depend on
images"), end to end: a base image and an app built FROM it, a promotion of an image the same
config builds. Real engine and registry; what was published is read back with skopeo and run.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry
from tests.helpers.project import Project, registries_toml, uid

TAGS = 'tags = [{ preset = "ref", on = "branch" }, { preset = "sha" }]'


def monorepo(
    tmp_path: Path, engine: DockerEngine, registry: Registry, base: str
) -> tuple[Project, str]:
    """app (listed first) builds FROM base:main, which the same config builds from ``base``.
    The FROM is written with build args: they are substituted before the dependency is found."""
    project = Project(tmp_path / "repo", engine)
    path = f"t{uid()}"
    prefix = f"{registry.host}/{path}"
    project.write(
        "hubpub.toml",
        f"version = 1\n\n{registries_toml(registry)}\n"
        f'[[image]]\nname = "app"\ncontext = "app"\nrepositories = ["{prefix}/app"]\n{TAGS}\n'
        f'build_args = {{ PREFIX = "{prefix}" }}\n\n'
        f'[[image]]\nname = "base"\ncontext = "base"\nrepositories = ["{prefix}/base"]\n{TAGS}\n',
    )
    project.write("base/Dockerfile", f"FROM {base}\nCOPY msg /base/msg\n")
    project.write("base/msg", "base v1\n")
    project.write(
        "app/Dockerfile",
        "ARG PREFIX\nARG BASE=base\nFROM ${PREFIX}/${BASE}:main\nCOPY msg /app/msg\n",
    )
    project.write("app/msg", "app v1\n")
    project.commit("first")
    return project, path


def cat(engine: DockerEngine, ref: str, path: str) -> str:
    engine.client.images.pull(ref)
    out = engine.client.containers.run(ref, ["cat", path], remove=True, network_mode="none")
    return out.decode() if isinstance(out, bytes) else str(out)


def test_an_app_built_from_a_base_of_the_config_is_built_after_it_against_its_new_image(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    project, path = monorepo(tmp_path, docker_engine, registry_plain, registry_base)
    prefix = f"{registry_plain.host}/{path}"
    main = ["--ref", "refs/heads/main"]

    # base:main does not exist yet: the plan does not look it up, it builds base first.
    plan = project.ok("plan", *main, "--json").json()
    assert [b["image"] for b in plan["builds"]] == ["base", "app"]
    assert plan["builds"][1]["after"] == ["base"]
    assert "after" not in plan["builds"][0]
    assert {c["after"][0] for c in plan["changes"] if c["image"] == "app"} == {"base"}
    text = project.ok("plan", *main).stdout
    assert "image app (after: base)" in text
    assert text.index("image base") < text.index("image app")

    project.ok("apply", *main)
    app = f"{prefix}/app:main"
    assert cat(docker_engine, app, "/base/msg") == "base v1\n"
    assert cat(docker_engine, app, "/app/msg") == "app v1\n"
    again = project.ok("plan", *main, "--json", "--detailed-exitcode").json()
    assert again["builds"] == []

    # A change of the base alone: its key is part of the app's, so both build, in order, and
    # the app is built on the base just pushed.
    project.write("base/msg", "base v2\n")
    project.commit("base v2")
    plan = project.ok("plan", *main, "--json").json()
    assert [b["image"] for b in plan["builds"]] == ["base", "app"]

    # --only app while its base changes: refused, naming the base.
    refused = project.hubpub("plan", *main, "--only", "app")
    assert refused.code == 1
    assert "image 'app' depends on image 'base', which changes in this plan" in refused.stderr
    assert "--only base --only app" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    project.ok("apply", *main)
    assert cat(docker_engine, app, "/base/msg") == "base v2\n"
    app_layers = skopeo.inspect(registry_plain, f"{path}/app:main")["Layers"]
    base_layers = skopeo.inspect(registry_plain, f"{path}/base:main")["Layers"]
    assert app_layers[: len(base_layers)] == base_layers  # built on the base just pushed

    # --only app when the base does not change: fine, and the base is not in the plan.
    project.write("app/msg", "app v3\n")
    project.commit("app v3")
    only = project.ok("plan", *main, "--only", "app", "--json").json()
    assert [b["image"] for b in only["builds"]] == ["app"]
    assert {c["image"] for c in only["changes"]} == {"app"}


def test_images_that_depend_on_each_other_are_a_config_error_naming_the_cycle(
    docker_engine: DockerEngine, registry_plain: Registry, tmp_path: Path
) -> None:
    project = Project(tmp_path / "repo", docker_engine)
    prefix = f"{registry_plain.host}/t{uid()}"
    images = "".join(
        f'\n[[image]]\nname = "{name}"\ncontext = "{name}"\n'
        f'repositories = ["{prefix}/{name}"]\n{TAGS}\n'
        for name in ("a", "b")
    )
    project.write("hubpub.toml", f"version = 1\n\n{registries_toml(registry_plain)}\n{images}")
    project.write("a/Dockerfile", f"FROM {prefix}/b:main\n")
    project.write("b/Dockerfile", f"FROM {prefix}/a:main\n")
    project.commit("cycle")
    result = project.hubpub("plan", "--ref", "refs/heads/main")
    assert result.code == 1
    assert "images depend on each other in a cycle: a → b → a" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_promotion_of_an_image_rebuilt_in_the_same_apply_copies_the_new_image(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    project = Project(tmp_path / "repo", docker_engine)
    path = f"t{uid()}"
    prefix = f"{registry_plain.host}/{path}"
    project.write(
        "hubpub.toml",
        f"version = 1\n\n{registries_toml(registry_plain)}\n"
        f'[[image]]\nname = "release"\nrepositories = ["{prefix}/release"]\n'
        f'source = "{prefix}/app:sha-{{{{ git.short_sha }}}}"\ntags = [{{ preset = "semver" }}]\n'
        f"latest = false\n\n"
        f'[[image]]\nname = "app"\ncontext = "app"\nrepositories = ["{prefix}/app"]\n{TAGS}\n',
    )
    project.write("app/Dockerfile", f"FROM {registry_base}\nCOPY msg /app/msg\n")
    project.write("app/msg", "v1\n")
    project.commit("first")

    # A branch: the release image has no tag rule here; its source (app:sha-<new commit>,
    # which does not exist yet) is not looked up.
    branch = project.ok("plan", "--ref", "refs/heads/main", "--json").json()
    assert {c["image"] for c in branch["changes"]} == {"app"}
    project.ok("apply", "--ref", "refs/heads/main")

    # A new commit, released at once: the same apply rebuilds app and promotes the new image.
    project.write("app/msg", "v2\n")
    sha = project.commit("v2")[:7]
    project.git("tag", "v1.0.0")
    release = ["--ref", "refs/tags/v1.0.0"]
    plan = project.ok("plan", *release, "--json").json()
    assert [b["image"] for b in plan["builds"]] == ["app"]
    promoted = [c for c in plan["changes"] if c["image"] == "release"]
    assert {c["after"][0] for c in promoted} == {"app"}
    assert all(c["desired"] is None for c in promoted)  # known after app's build
    project.ok("apply", *release)
    new = skopeo.digest(registry_plain, f"{path}/app:sha-{sha}")
    for tag in ("1.0.0", "1.0", "1"):
        assert skopeo.digest(registry_plain, f"{path}/release:{tag}") == new
    labels = skopeo.config(registry_plain, f"{path}/release:1.0.0")["config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == project.git("rev-parse", "HEAD")
    again = project.ok("plan", *release, "--json", "--detailed-exitcode").json()
    assert {c["action"] for c in again["changes"]} == {"noop"}


def test_hubpub_build_builds_an_app_on_its_base_built_just_before_and_pushes_nothing(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    """``hubpub build`` publishes nothing: the app's FROM names base:main, which the same run
    built and did not push, so the app is built on that new image as the engine holds it."""
    project, path = monorepo(tmp_path, docker_engine, registry_plain, registry_base)
    built = project.ok("build", "--ref", "refs/heads/main")
    assert built.stdout.rstrip().endswith("Build: 2 built, 0 failed; nothing pushed.")
    ids = {
        line.split()[1]: line.split()[2]
        for line in built.stdout.splitlines()
        if line.startswith("  done")
    }
    assert set(ids) == {"base", "app"}
    out = docker_engine.client.containers.run(
        ids["app"], ["cat", "/base/msg", "/app/msg"], remove=True, network_mode="none"
    )
    assert out.decode() == "base v1\napp v1\n"
    base_layers = docker_engine.client.images.get(ids["base"]).attrs["RootFS"]["Layers"]
    app_layers = docker_engine.client.images.get(ids["app"]).attrs["RootFS"]["Layers"]
    assert app_layers[: len(base_layers)] == base_layers
    for name in ("base", "app"):
        where = f"docker://{registry_plain.host}/{path}/{name}:main"
        assert skopeo.run("inspect", *skopeo.flags(registry_plain), where, check=False).returncode
