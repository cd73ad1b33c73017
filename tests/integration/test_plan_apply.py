"""`hubpub plan` and `hubpub apply` end to end (docs/architecture.md#data-flow).

Real engine, real registries, a real git repository; hubpub runs as a subprocess exactly as a
user runs it, and what it wrote is read back with tools it did not write: skopeo, and
``docker pull`` + ``docker run``. Request counts come from the fault proxy placed in front of
a registry.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from hubpub.commands._session import session
from hubpub.contentkey import LABEL
from hubpub.engine import PushAuth
from tests.fixtures.engine import DockerEngine
from tests.fixtures.plugin import ProxyFactory, RegistryFactory
from tests.fixtures.registry import Registry
from tests.helpers.project import (
    Project,
    build_project,
    changes_by_tag,
    proxy_target,
    registries_env,
    registries_toml,
    run_image,
    short_sha,
    uid,
)
from tests.helpers.registry import push_layout, write_layout

# --- first publish, no change, new version without a build ---------------------------------


def test_first_publish_replan_and_version_tag_without_build(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    skopeo: ModuleType,
) -> None:
    proxy = fault_proxy(registry_plain)
    target = proxy_target(proxy)
    path = f"t{uid()}/app"
    repo = f"{proxy.host}/{path}"
    tmp = Path(registry_plain.storage).parent / f"proj-{uid()}"
    note = 'costs $5 and "quotes" \\ stay'
    project = build_project(
        tmp,
        docker_engine,
        [repo],
        [target],
        base=busybox_image,
        extra='labels = { "org.example.note" = "costs $5 and \\"quotes\\" \\\\ stay" }\n',
    )
    # FROM hubpub-test/busybox: its docker.io lookup is redirected to the local registry,
    # where it is not: the key falls back to the engine's image ID.
    redirect = f"--redirect=docker.io={registry_plain.host}"
    main = ["--ref", "refs/heads/main", redirect]
    sha1 = short_sha(project)

    # 1. First plan: one build, both tags created, digests known after build.
    plan = project.ok("plan", *main, "--json", "--detailed-exitcode", code=2).json()
    assert plan["format_version"] == 1
    assert plan["builds"] == [{"image": "app", "reason": "no target exists yet"}]
    changes = changes_by_tag(plan)
    assert set(changes) == {"main", f"sha-{sha1}"}
    assert changes["main"]["action"] == "create"
    # The build is published to the tag that names the commit; main, which only moves
    # forward, is a manifest PUT checked just before (docs/config.md, "Tags only move forward").
    assert changes["main"]["via"] == "tag"
    assert changes[f"sha-{sha1}"]["via"] == "push"
    assert all(c["desired"] is None and c["current"] is None for c in plan["changes"])

    # 2. Apply: build once, push once, tag the rest registry-side.
    applied = project.ok("apply", *main)
    assert "Plan: 1 build, 2 to create, 0 to update, 0 unchanged." in applied.stdout
    assert "Apply: 3 done, 0 failed, 0 not started." in applied.stdout
    digest = skopeo.digest(target, f"{path}:main")
    assert skopeo.digest(target, f"{path}:sha-{sha1}") == digest
    labels = skopeo.config(target, f"{path}:main")["config"]["Labels"]
    assert labels[LABEL].startswith("sha256:")
    assert labels["org.opencontainers.image.revision"] == project.git("rev-parse", "HEAD")
    assert labels["org.opencontainers.image.title"] == "app"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["org.example.note"] == note  # the user's labels, quoted for the Dockerfile
    assert run_image(docker_engine, f"{repo}:main") == "hello v1\n"
    pushes = proxy.requests_matching("PUT", r"/manifests/")
    # hubpub's upload: the manifest by digest first, then the tag naming the commit, then main.
    assert [p.path.rsplit("/", 1)[1] for p in pushes] == [digest, f"sha-{sha1}", "main"]

    # 3. Plan again: nothing to do, no build, and only HEADs (the labels are cached on disk).
    proxy.clear()
    again = project.ok("plan", *main, "--json", "--detailed-exitcode").json()
    assert again["builds"] == []
    assert {c["action"] for c in again["changes"]} == {"noop"}
    assert all(c["current"] == digest == c["desired"] for c in again["changes"])
    assert proxy.requests_matching("GET", r"/manifests/|/blobs/") == []
    assert len(proxy.requests_matching("HEAD", rf"/v2/{path}/manifests/")) == 2
    text = project.ok("plan", *main)
    assert "No changes." in text.stdout
    assert "Plan: 0 builds, 0 to create, 0 to update, 2 unchanged." in text.stdout

    # 4. A new commit outside the build context, tagged v1.2.3: no build, every new tag is a
    #    manifest PUT of the existing image, and not one blob is uploaded.
    project.write("README.md", "# demo, better documented\n")
    project.commit("docs")
    project.git("tag", "v1.2.3")
    sha2 = short_sha(project)
    release = ["--ref", "refs/tags/v1.2.3", redirect]
    plan = project.ok("plan", *release, "--json").json()
    assert plan["builds"] == []
    changes = changes_by_tag(plan)
    assert {"1.2.3", "1.2", "1", f"sha-{sha2}"} <= set(changes)
    for change in plan["changes"]:
        assert change["action"] == "create"
        assert change["via"] == "tag"
        assert change["desired"] == digest
    proxy.clear()
    applied = project.ok("apply", *release)
    assert f"Plan: 0 builds, {len(plan['changes'])} to create, 0 to update, 0 unchanged." in (
        applied.stdout
    )
    assert "build app" not in applied.stdout + applied.stderr
    uploads = proxy.requests_matching(None, r"/blobs/")
    assert uploads == [], [(r.method, r.path) for r in uploads]
    assert len(proxy.requests_matching("PUT", r"/manifests/")) == len(plan["changes"])
    for tag in changes:
        assert skopeo.digest(target, f"{path}:{tag}") == digest
    assert run_image(docker_engine, f"{repo}:1.2.3") == "hello v1\n"


# --- a context change ------------------------------------------------------------------------


def test_context_change_builds_once_and_moves_floating_tags(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    main = ["--ref", "refs/heads/main"]
    sha1 = short_sha(project)
    project.ok("apply", *main)
    first = skopeo.digest(registry_plain, f"{path}:main")

    # Ignored files and files outside the context change nothing.
    project.write("app/notes.tmp", "ignored by .dockerignore\n")
    project.write("README.md", "# changed\n")
    project.commit("noise")
    sha_noise = short_sha(project)
    plan = project.ok("plan", *main, "--json").json()
    assert plan["builds"] == []
    assert changes_by_tag(plan)[f"sha-{sha_noise}"]["desired"] == first

    project.write("app/msg", "hello v2\n")
    project.commit("new message")
    sha2 = short_sha(project)
    plan = project.ok("plan", *main, "--json", "--detailed-exitcode", code=2).json()
    assert len(plan["builds"]) == 1
    assert plan["builds"][0]["reason"].startswith("content changed")
    changes = changes_by_tag(plan)
    assert changes["main"]["action"] == "update"
    assert changes["main"]["current"] == first
    assert changes["main"]["desired"] is None
    assert changes[f"sha-{sha2}"]["action"] == "create"

    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    project.env["GITHUB_STEP_SUMMARY"] = str(summary)
    project.env["GITHUB_OUTPUT"] = str(outputs)
    applied = project.ok("apply", *main)
    assert "Plan: 1 build, 1 to create, 1 to update, 0 unchanged." in applied.stdout
    second = skopeo.digest(registry_plain, f"{path}:main")
    # GitHub Actions: a markdown summary, and the references and digests as step outputs.
    assert f"| app | `{repo}:main` | update (tag) | `{second[:19]}` | done |" in (
        summary.read_text()
    )
    written = outputs.read_text()
    assert f'"{repo}:main": "{second}"' in written
    assert f'"{repo}:sha-{sha2}": "{second}"' in written
    assert second != first
    assert skopeo.digest(registry_plain, f"{path}:sha-{sha2}") == second
    assert skopeo.digest(registry_plain, f"{path}:sha-{sha1}") == first  # the old sha tag stays
    assert run_image(docker_engine, f"{repo}:main") == "hello v2\n"
    assert run_image(docker_engine, f"{repo}:sha-{sha1}") == "hello v1\n"

    again = project.ok("plan", *main, "--json", "--detailed-exitcode").json()
    assert again["builds"] == []
    assert {c["action"] for c in again["changes"]} == {"noop"}
    forced = project.ok("plan", *main, "--rebuild", "--json").json()
    assert forced["builds"] == [{"image": "app", "reason": "--rebuild given"}]


# --- immutable tags -------------------------------------------------------------------------


def test_immutable_version_tag_conflict_is_refused_before_any_change(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    project.git("tag", "v1.0.0")
    release = ["--ref", "refs/tags/v1.0.0"]
    project.ok("apply", *release)
    first = skopeo.digest(registry_plain, f"{path}:1.0.0")
    tags_before = skopeo.list_tags(registry_plain, path)

    # The tag is re-pointed at a new commit whose context changed: 1.0.0 would have to move.
    project.write("app/msg", "rebuilt\n")
    project.commit("oops")
    project.git("tag", "-f", "v1.0.0")
    plan = project.ok("plan", *release, "--json", "--detailed-exitcode", code=2).json()
    changes = changes_by_tag(plan)
    assert changes["1.0.0"]["action"] == "conflict"
    assert changes["1.0.0"]["current"] == first
    text = project.ok("plan", *release, code=0).stdout
    assert f"! conflict  {repo}:1.0.0" in text
    assert "1 conflict." in text

    refused = project.hubpub("apply", *release)
    assert refused.code == 1
    assert f"immutable tag {repo}:1.0.0 already points to {first}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert skopeo.list_tags(registry_plain, path) == tags_before  # nothing changed
    assert skopeo.digest(registry_plain, f"{path}:1.0") == first

    project.ok("apply", *release, "--allow-overwrite")
    moved = skopeo.digest(registry_plain, f"{path}:1.0.0")
    assert moved != first
    assert run_image(docker_engine, f"{repo}:1.0.0") == "rebuilt\n"


# --- saved plans ----------------------------------------------------------------------------


def test_saved_plan_applies_exactly_and_refuses_stale_or_foreign(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    main = ["--ref", "refs/heads/main"]
    planfile = tmp_path / "plan.json"

    # The happy path: plan --out, then apply exactly that.
    out = project.ok("plan", *main, "--out", str(planfile))
    assert "Saved the plan" in out.stdout
    saved = json.loads(planfile.read_text())
    assert saved["format_version"] == 1
    assert saved["commit"] == project.git("rev-parse", "HEAD")
    assert saved["config_sha256"].startswith("sha256:")
    assert "password" not in planfile.read_text().lower()
    project.ok("apply", str(planfile))
    first = skopeo.digest(registry_plain, f"{path}:main")
    assert project.ok("plan", *main, "--json").json()["builds"] == []

    # Stale: someone moves the tag between plan and apply.
    project.write("app/msg", "second\n")
    project.commit("second")
    project.ok("plan", *main, "--out", str(planfile))
    other = f"{registry_plain.host}/{path}"
    docker_engine.client.images.get(busybox_image).tag(other, "main")
    for line in docker_engine.client.images.push(other, tag="main", stream=True, decode=True):
        assert "errorDetail" not in line, line
    moved = skopeo.digest(registry_plain, f"{path}:main")
    assert moved != first
    stale = project.hubpub("apply", str(planfile))
    assert stale.code == 1
    assert (
        f"Saved plan is stale: {repo}:main now points to {moved}, the plan expected {first}"
        in stale.stderr
    )
    assert skopeo.digest(registry_plain, f"{path}:main") == moved  # apply changed nothing

    # Foreign: made for another commit, or another config.
    project.ok("plan", *main, "--out", str(planfile))
    project.commit("another commit")
    foreign = project.hubpub("apply", str(planfile))
    assert foreign.code == 1
    assert "was made for commit" in foreign.stderr
    project.ok("plan", *main, "--out", str(planfile))
    config = project.root / "hubpub.toml"
    config.write_text(config.read_text() + "\n# edited\n")
    edited = project.hubpub("apply", str(planfile))
    assert edited.code == 1
    assert "was made for another version of" in edited.stderr
    assert skopeo.digest(registry_plain, f"{path}:main") == moved


# --- promotion across registries ------------------------------------------------------------


def test_promotion_from_one_registry_to_others(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_tls: Registry,
    registry_token: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    # A release candidate already in the plain registry.
    src_path = f"rc{uid()}/app"
    source = f"{registry_plain.host}/{src_path}:rc1"
    src_project = build_project(
        tmp_path / "src",
        docker_engine,
        [f"{registry_plain.host}/{src_path}"],
        [registry_plain],
        base=registry_base,
        tags='tags = ["rc1"]',
        msg="release me\n",
    )
    src_project.ok("apply", "--ref", "refs/heads/main")
    digest = skopeo.digest(registry_plain, f"{src_path}:rc1")

    name = f"p{uid()}"
    tls_repo = f"{registry_tls.host}/{name}/app"
    token_repo = f"{registry_token.host}/alice/{name}"
    project = Project(tmp_path / "rel", docker_engine, registries_env(registry_tls, registry_token))
    project.write(
        "hubpub.toml",
        "version = 1\n\n"
        + registries_toml(registry_plain, registry_tls, registry_token)
        + f'\n[[image]]\nname = "release"\nsource = "{source}"\n'
        f'repositories = ["{tls_repo}", "{token_repo}"]\ntags = ["stable", "v1"]\n',
    )
    project.commit("release")
    args = ["--ref", "refs/heads/main"]
    plan = project.ok("plan", *args, "--json", "--detailed-exitcode", code=2).json()
    assert plan["builds"] == []
    vias = {c["ref"]: c["via"] for c in plan["changes"]}
    assert vias == {
        f"{tls_repo}:stable": "copy",
        f"{tls_repo}:v1": "tag",
        f"{token_repo}:stable": "copy",
        f"{token_repo}:v1": "tag",
    }
    assert all(c["desired"] == digest for c in plan["changes"])  # exact before apply

    project.ok("apply", *args)
    for reg, ref in ((registry_tls, f"{name}/app"), (registry_token, f"alice/{name}")):
        for tag in ("stable", "v1"):
            assert skopeo.digest(reg, f"{ref}:{tag}") == digest
    pulled = run_image(docker_engine, f"{token_repo}:stable", registry_token.auth_config)
    assert pulled == "release me\n"
    again = project.ok("plan", *args, "--json", "--detailed-exitcode").json()
    assert {c["action"] for c in again["changes"]} == {"noop"}


# --- partial failure and convergence --------------------------------------------------------


def test_denied_repository_does_not_stop_the_others_and_apply_converges(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    make_registry: RegistryFactory,
    fault_proxy: ProxyFactory,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    token = make_registry("token")
    # Docker Hub's shape of a refused push: 403 DENIED (distribution itself answers 401).
    proxy = fault_proxy(token, docker_hub_denials=True)
    hub = SimpleNamespace(
        host=proxy.host,
        tls=False,
        cert_dir=None,
        username=token.username,
        password=token.password,
    )
    name = f"d{uid()}"
    plain_repo = f"{registry_plain.host}/{name}/app"
    alice_repo = f"{proxy.host}/alice/{name}"
    bob_repo = f"{proxy.host}/bob/{name}"
    project = build_project(
        tmp_path,
        docker_engine,
        [plain_repo, alice_repo, bob_repo],
        [registry_plain, hub],
        base=registry_base,
    )
    main = ["--ref", "refs/heads/main"]
    sha = short_sha(project)

    failed = project.hubpub("apply", *main)
    assert failed.code == 1, failed.stdout + failed.stderr
    assert "apply failed: 1 of 7 actions failed" in failed.stderr
    report = failed.stdout
    assert f"failed      copy {bob_repo}:main" in report
    assert f"not-started tag {bob_repo}:sha-{sha}" in report
    assert "Apply: 5 done, 1 failed, 1 not started." in report
    for reg, path in ((registry_plain, f"{name}/app"), (hub, f"alice/{name}")):
        assert skopeo.list_tags(reg, path) == sorted(["main", f"sha-{sha}"])
    digest = skopeo.digest(registry_plain, f"{name}/app:main")
    assert skopeo.digest(hub, f"alice/{name}:main") == digest

    # Access granted: a second apply does only what is missing, without a build.
    assert token.issuer is not None
    token.issuer.add_user("alice", "alice-pw", grants=[("*", "pull,push")])
    second = project.ok("apply", *main)
    assert "Plan: 0 builds, 2 to create, 0 to update, 4 unchanged." in second.stdout
    assert "Apply: 2 done, 0 failed, 0 not started." in second.stdout
    for tag in ("main", f"sha-{sha}"):
        assert skopeo.digest(hub, f"bob/{name}:{tag}") == digest
    final = project.ok("plan", *main, "--json", "--detailed-exitcode").json()
    assert {c["action"] for c in final["changes"]} == {"noop"}


# --- the base image the key names is the one the build uses ----------------------------------


def test_a_stale_local_base_is_replaced_by_the_registrys_before_the_build(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    tmp_path: Path,
) -> None:
    client = docker_engine.client
    base = f"{registry_plain.host}/base{uid()}/bb"

    def base_image(text: str, folder: Path) -> str:
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(
            f"FROM {busybox_image}\nRUN mkdir -p /base && echo {text} > /base/v\n"
        )
        image, _ = client.images.build(path=str(folder), rm=True)
        return str(image.id)

    # The registry holds v1 of the base; this engine's copy of the same name is another image
    # (a persistent CI runner's, from before the base was updated).
    client.images.get(base_image("registry", tmp_path / "v1")).tag(base, "1")
    for line in client.images.push(base, tag="1", stream=True, decode=True):
        assert "errorDetail" not in line, line
    client.images.get(base_image("local", tmp_path / "v2")).tag(base, "1")

    repo = f"{registry_plain.host}/t{uid()}/app"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=f"{base}:1")
    project.ok("apply", "--ref", "refs/heads/main")

    ref = f"{repo}:main"
    client.images.pull(repo, tag="main")
    out = client.containers.run(ref, ["cat", "/base/v"], remove=True, network_mode="none")
    assert out.decode() == "registry\n"  # the base the content key named, not the local one


def test_saved_plan_checks_each_tag_once_and_keys_only_what_it_builds(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    fault_proxy: ProxyFactory,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    # Applying a saved plan re-checks every tag it touches (one HEAD each) and the content key
    # of every image it builds; an image it only tags costs no base lookup and no context hash.
    proxy = fault_proxy(registry_plain)
    target = proxy_target(proxy)
    base_path = f"base{uid()}/busybox"
    base = f"{proxy.host}/{base_path}"
    docker_engine.client.images.get(busybox_image).tag(base, "1")
    for line in docker_engine.client.images.push(base, tag="1", stream=True, decode=True):
        assert "errorDetail" not in line, line
    path = f"t{uid()}/app"
    repo = f"{proxy.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [target], base=f"{base}:1")
    main = ["--ref", "refs/heads/main"]
    planfile = tmp_path / "plan.json"
    project.ok("apply", *main)
    first = skopeo.digest(target, f"{path}:main")

    def hubpub_requests(method: str | None, where: str) -> list[str]:
        # The engine's pushes go through the proxy too: count hubpub's requests only.
        return [
            r.path
            for r in proxy.requests_matching(method, where)
            if not r.headers.get("user-agent", "").startswith("docker/")
        ]

    # 1. A commit outside the context: the saved plan builds nothing and tags one new sha.
    project.write("README.md", "# docs\n")
    project.commit("docs")
    sha = short_sha(project)
    project.ok("plan", *main, "--out", str(planfile))
    proxy.clear()
    applied = project.ok("apply", str(planfile))
    assert "Plan: 0 builds, 1 to create, 0 to update, 1 unchanged." in applied.stdout
    assert hubpub_requests(None, base_path) == []  # no base lookup, so no content key either
    heads = hubpub_requests("HEAD", f"/v2/{path}/manifests/")
    assert sorted(heads) == [f"/v2/{path}/manifests/main", f"/v2/{path}/manifests/sha-{sha}"]
    assert len(hubpub_requests(None, "")) == 5  # /v2/, 2 HEADs, the GET and PUT of the tag
    assert skopeo.digest(target, f"{path}:sha-{sha}") == first

    # 2. A context change: the saved plan builds, so apply keys it again (its base: one HEAD)
    #    and still HEADs each tag once.
    project.write("app/msg", "hello v2\n")
    project.commit("new message")
    sha = short_sha(project)
    project.ok("plan", *main, "--out", str(planfile))
    proxy.clear()
    applied = project.ok("apply", str(planfile))
    assert "Plan: 1 build, 1 to create, 1 to update, 0 unchanged." in applied.stdout
    assert hubpub_requests(None, base_path) == [f"/v2/{base_path}/manifests/1"]
    heads = hubpub_requests("HEAD", f"/v2/{path}/manifests/")
    # Each tag once for the staleness check; main, which only moves forward, also just before
    # and once after its PUT (the compare-and-swap: docs/config.md, "Tags only move forward").
    assert sorted(heads) == [
        *[f"/v2/{path}/manifests/main"] * 3,
        f"/v2/{path}/manifests/sha-{sha}",
    ]
    assert run_image(docker_engine, f"{repo}:main") == "hello v2\n"

    # 3. The same check still refuses a context changed since the plan.
    project.write("app/msg", "hello v3\n")
    project.commit("v3")
    project.ok("plan", *main, "--out", str(planfile))
    project.write("app/msg", "edited after the plan\n")
    stale = project.hubpub("apply", str(planfile))
    assert stale.code == 1
    assert "Saved plan is stale: the build context of 'app' changed" in stale.stderr


# --- credentials for the engine's pushes -----------------------------------------------------


def test_push_credentials_are_looked_up_once_per_registry(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    # The executor asks from its worker threads for every push; a credential helper (a
    # subprocess, maybe a keychain prompt) runs once per registry for the whole apply.
    project = build_project(tmp_path, docker_engine, ["127.0.0.1:5999/o/app"], [], base="x")
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-counting"
    helper.write_text(
        '#!/bin/sh\nread host\necho "$host" >> ' + str(calls) + "\nsleep 0.2\n"
        'printf \'{"Username": "u-%s", "Secret": "helper-secret-pw"}\' "$host"\n'
    )
    helper.chmod(0o755)
    (tmp_path / "dockercfg").mkdir()
    (tmp_path / "dockercfg" / "config.json").write_text('{"credsStore": "counting"}')
    environ = {
        **project.env,
        "PATH": f"{bin_dir}:{project.env['PATH']}",
        "DOCKER_CONFIG": str(tmp_path / "dockercfg"),
    }
    registries = ["127.0.0.1:5999", "127.0.0.1:5998"] * 8
    with session(
        project.root / "hubpub.toml",
        ref="refs/heads/main",
        sha=None,
        only=(),
        redirects=(),
        environ=environ,
    ) as current:
        with ThreadPoolExecutor(16) as pool:
            auths = list(pool.map(current.push_auth, registries))
        (tmp_path / "dockercfg" / "config.json").write_text("{not json")  # never read again
        assert current.push_auth("127.0.0.1:5999") is auths[0]
        assert "helper-secret-pw" not in repr(current)
    assert auths[0] == PushAuth("u-127.0.0.1:5999", "helper-secret-pw")
    assert auths[1] == PushAuth("u-127.0.0.1:5998", "helper-secret-pw")
    assert sorted(calls.read_text().split()) == ["127.0.0.1:5998", "127.0.0.1:5999"]


def test_a_multi_platform_tag_is_warned_about_before_a_build_replaces_it(
    docker_engine: DockerEngine,
    busybox_image: str,
    registry_plain: Registry,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    """A tag that buildx published for two platforms, taken over by hubpub (which builds for
    the engine's platform): the plan says that the tag will serve one platform only."""
    path = f"t{uid()}/app"
    layout = write_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"), index=True)
    push_layout(layout, registry_plain, f"{path}:main")
    project = build_project(
        tmp_path / "proj",
        docker_engine,
        [f"{registry_plain.host}/{path}"],
        [registry_plain],
        base=busybox_image,
        tags='tags = [{ preset = "ref", on = "branch" }]',
    )
    main = ["--ref", "refs/heads/main", f"--redirect=docker.io={registry_plain.host}"]
    text = project.ok("plan", *main).stdout.splitlines()
    at = next(i for i, line in enumerate(text) if line.strip().startswith("~ update"))
    assert text[at + 1].strip() == (
        "warning: it points to a multi-platform index now; after this change it serves one "
        "platform only"
    )
    plan = project.ok("plan", *main, "--json").json()
    assert [w["ref"] for w in plan["warnings"]] == [f"{registry_plain.host}/{path}:main"]

    project.ok("apply", *main)
    raw = skopeo.raw(registry_plain, f"{path}:main")
    assert "manifests" not in raw
    assert raw["config"]["digest"].startswith("sha256:")
    # Now the tag holds hubpub's own single image: no warning any more.
    assert "warnings" not in project.ok("plan", *main, "--json").json()


def test_a_stale_saved_plan_is_reported_without_waiting_for_slow_tag_checks(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    fault_proxy: ProxyFactory,
    tmp_path: Path,
) -> None:
    """apply PLANFILE checks the tags (HEADs) while it re-keys the contexts: a changed context
    is reported as soon as it is known, not after HEADs that a slow registry holds up (a
    liveness check with a wide margin, not a speed measurement)."""
    proxy = fault_proxy(registry_plain)
    path = f"t{uid()}/app"
    project = build_project(
        tmp_path, docker_engine, [f"{proxy.host}/{path}"], [proxy_target(proxy)], base=registry_base
    )
    planfile = tmp_path / "plan.json"
    project.ok("plan", "--ref", "refs/heads/main", "--out", str(planfile))
    project.write("app/msg", "edited after the plan\n")
    proxy.delay(20, method="HEAD", path="/manifests/", times=None)
    started = time.monotonic()
    stale = project.hubpub("apply", str(planfile))
    elapsed = time.monotonic() - started
    assert stale.code == 1
    assert "Saved plan is stale: the build context of 'app' changed" in stale.stderr
    assert proxy.requests_matching("HEAD", "/manifests/") != []  # the checks had started
    assert elapsed < 10, f"the error waited {elapsed:.1f} s for the held-up tag checks"


# --- the config given as PLANFILE; a base image with no engine to ask -----------------------


def test_the_config_given_as_planfile_is_not_replaced_by_following_the_advice(
    docker_engine: DockerEngine, registry_plain: Registry, registry_base: str, tmp_path: Path
) -> None:
    """'hubpub apply hubpub.toml' once advised 'hubpub plan --out hubpub.toml', which
    replaced the config with a plan: the error now says what PLANFILE is, and a plan never
    replaces a file that is not one."""
    path = f"t{uid()}/app"
    project = build_project(
        tmp_path,
        docker_engine,
        [f"{registry_plain.host}/{path}"],
        [registry_plain],
        base=registry_base,
    )
    config = (project.root / "hubpub.toml").read_text()
    mistaken = project.hubpub("apply", "hubpub.toml")
    assert mistaken.code == 1
    assert "hubpub.toml is not a hubpub plan file (not JSON" in mistaken.stderr
    assert "'hubpub plan --out FILE' writes" in mistaken.stderr
    assert "'hubpub apply -c hubpub.toml'" in mistaken.stderr
    assert "--out hubpub.toml" not in mistaken.stderr

    refused = project.hubpub("plan", "--ref", "refs/heads/main", "--out", "hubpub.toml")
    assert refused.code == 1
    assert "exists and is not a hubpub plan file: not replacing it" in refused.stderr
    assert "Saved the plan" not in refused.stdout
    assert (project.root / "hubpub.toml").read_text() == config
    assert sorted(p.name for p in project.root.iterdir()) == [
        ".git",
        "README.md",
        "app",
        "hubpub.toml",
    ]

    # A plan file is still replaced by the next plan.
    project.ok("plan", "--ref", "refs/heads/main", "--out", "plan.json")
    again = project.ok("plan", "--ref", "refs/heads/main", "--out", "plan.json")
    assert "Saved the plan to plan.json" in again.stdout


@pytest.mark.parametrize("engine", ["dead", "without the image"])
def test_a_base_in_no_registry_names_why_the_engine_did_not_help(
    docker_engine: DockerEngine, registry_plain: Registry, tmp_path: Path, engine: str
) -> None:
    """A base image in no registry is looked for in the engine: when the engine cannot be
    reached the error says so (it used to say only "nor in the local engine", --debug too)."""
    base = f"local{uid()}/busybox:latest"
    path = f"t{uid()}/app"
    project = build_project(
        tmp_path, docker_engine, [f"{registry_plain.host}/{path}"], [registry_plain], base=base
    )
    dead = f"unix://{tmp_path}/no-engine.sock"
    if engine == "dead":
        project.env["DOCKER_HOST"] = dead
    redirect = f"--redirect=docker.io={registry_plain.host}"
    result = project.hubpub("--debug", "plan", "--ref", "refs/heads/main", redirect)
    assert result.code == 1, result.stderr
    lookup = f"{registry_plain.host}/{base}"
    if engine == "dead":
        assert (
            f"error: base image {base}: not found at {lookup}, and the local engine could not "
            f"be asked: cannot reach the Docker engine at {dead} (start dockerd, or set "
            "DOCKER_HOST to the engine's address; or push it to a registry, or pin it by digest)"
        ) in result.stderr
        assert "nor in the local engine" not in result.stderr
    else:
        assert (
            f"error: base image {base}: not found at {lookup} nor in the local engine "
            "(push or pull it first, or pin it by digest)"
        ) in result.stderr
        assert "could not be asked" not in result.stderr


# --- what is built is what is published ----------------------------------------------------
# A build from uncommitted files, or from another commit than ``--sha``/``--ref`` names, is
# shown by ``plan`` and refused by ``apply`` unless ``--allow-dirty`` (a user's report: a dirty
# tree was published as ``sha-<commit>`` without a word).


def test_uncommitted_changes_in_a_context_are_shown_and_refused_unless_allowed(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    skopeo: ModuleType,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    main = ["--ref", "refs/heads/main"]
    sha = project.git("rev-parse", "HEAD")

    # A change outside every build context does not matter.
    project.write("README.md", "# edited, not committed\n")
    assert "warning" not in project.ok("plan", *main).stdout

    project.write("app/msg", "not committed\n")
    plan = project.ok("plan", *main)
    assert (
        f"      warning: its build context has uncommitted changes (app/msg): the image would "
        f"not be commit {sha[:12]}" in plan.stdout.splitlines()
    )
    refused = project.hubpub("apply", *main)
    assert refused.code == 1
    assert refused.stderr.strip() == (
        f"hubpub: error: image 'app': its build context has uncommitted changes (app/msg): the "
        f"image would not be commit {sha[:12]}; nothing was changed (commit the changes, or "
        "pass --allow-dirty to publish the files as they are)"
    )
    assert (
        skopeo.run(
            "list-tags", *skopeo.flags(registry_plain), f"docker://{repo}", check=False
        ).returncode
        != 0
    )

    project.ok("apply", *main, "--allow-dirty")
    assert run_image(docker_engine, f"{repo}:main") == "not committed\n"


def test_a_sha_other_than_the_checkout_is_refused_for_a_build(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    tmp_path: Path,
) -> None:
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    first = project.git("rev-parse", "HEAD")
    project.write("app/msg", "second\n")
    second = project.commit("second")
    refused = project.hubpub("apply", "--ref", "refs/heads/main", "--sha", first)
    assert refused.code == 1
    assert (
        f"it builds the checked-out files (commit {second[:12]}) but publishes them as commit "
        f"{first[:12]}: check out {first[:12]} first; nothing was changed" in refused.stderr
    )


def test_a_version_tag_publishes_its_own_commit_not_the_checkout(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    tmp_path: Path,
) -> None:
    """`--ref refs/tags/v1.0.0` run on a later checkout: the version is the tag's commit, so
    the sha tag names it, and a build (of other files) is refused (a user's report: main was
    published as 1.0.0)."""
    path = f"t{uid()}/app"
    repo = f"{registry_plain.host}/{path}"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    tagged = project.git("rev-parse", "HEAD")
    project.git("tag", "v1.0.0")
    project.write("app/msg", "after the release\n")
    later = project.commit("later")
    release = ["--ref", "refs/tags/v1.0.0"]
    refs = project.ok("tags", *release, "--json").json()["images"][0]["refs"]
    assert f"{repo}:sha-{tagged[:7]}" in refs
    refused = project.hubpub("apply", *release)
    assert refused.code == 1
    assert (
        f"it builds the checked-out files (commit {later[:12]}) but publishes them as commit "
        f"{tagged[:12]}" in refused.stderr
    )
    project.git("checkout", "-q", "v1.0.0")
    project.ok("apply", *release)


def test_a_saved_plan_given_another_config_names_that_cause(
    docker_engine: DockerEngine,
    registry_plain: Registry,
    registry_base: str,
    tmp_path: Path,
) -> None:
    repo = f"{registry_plain.host}/t{uid()}/app"
    project = build_project(tmp_path, docker_engine, [repo], [registry_plain], base=registry_base)
    planfile = tmp_path / "p5.plan"
    project.ok("plan", "--ref", "refs/heads/main", "--only", "app", "--out", str(planfile))
    other = (project.root / "hubpub.toml").read_text().replace('name = "app"', 'name = "web"')
    project.write("other.toml", other)

    refused = project.hubpub("apply", str(planfile), "-c", "other.toml")

    assert refused.code == 1
    assert refused.stderr == (
        f"hubpub: error: the plan {planfile} was made for another version of other.toml, or "
        "for another config (pass -c with the config it was made for, or run 'hubpub plan "
        "--out' again)\n"
    )
