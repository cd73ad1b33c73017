"""A project to run hubpub in as a user does: a git repository with a hubpub.toml and one build
context, for the end-to-end tests of plan and apply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.fixtures.engine import DockerEngine
from tests.fixtures.registry import Registry

DOCKERFILE = "FROM {base}\nCOPY msg /app/msg\n"
TAGS_TOML = 'tags = [{ preset = "semver" }, { preset = "ref", on = "branch" }, { preset = "sha" }]'


def uid() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Project:
    """A git repository with a hubpub.toml and one build context, and hubpub to run in it."""

    def __init__(self, root: Path, engine: DockerEngine, env: dict[str, str] | None = None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(root.parent / "home"),
            "XDG_CACHE_HOME": str(root.parent / "cache"),
            "DOCKER_HOST": engine.host,
            "LANG": "C.UTF-8",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            **(env or {}),
        }
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def hubpub(self, *args: str) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "hubpub", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, code: int = 0) -> Result:
        result = self.hubpub(*args)
        assert result.code == code, (
            f"hubpub {' '.join(args)} exited {result.code}:\n{result.stdout}\n{result.stderr}"
        )
        return result


def registries_toml(*registries: Registry | SimpleNamespace) -> str:
    lines = []
    for reg in registries:
        lines.append(f'[registries."{reg.host}"]')
        if getattr(reg, "tls", False):
            lines.append(f'ca_file = "{reg.ca_file}"')
        else:
            lines.append("insecure = true")
        if getattr(reg, "username", None):
            key = reg.host.replace(".", "_").replace(":", "_")
            lines.append(f'username_env = "U_{key}"')
            lines.append(f'password_env = "P_{key}"')
        lines.append("")
    return "\n".join(lines)


def registries_env(*registries: Registry | SimpleNamespace) -> dict[str, str]:
    env = {}
    for reg in registries:
        if getattr(reg, "username", None):
            key = reg.host.replace(".", "_").replace(":", "_")
            env[f"U_{key}"] = reg.username
            env[f"P_{key}"] = reg.password
    return env


def build_project(
    tmp_path: Path,
    engine: DockerEngine,
    repositories: list[str],
    registries: list[Any],
    *,
    base: str,
    tags: str = TAGS_TOML,
    msg: str = "hello v1\n",
    extra: str = "",
) -> Project:
    project = Project(tmp_path / "repo", engine, registries_env(*registries))
    repos = ", ".join(f'"{r}"' for r in repositories)
    project.write(
        "hubpub.toml",
        f"version = 1\n\n{registries_toml(*registries)}\n"
        f'[[image]]\nname = "app"\ncontext = "app"\nrepositories = [{repos}]\n{tags}\n{extra}',
    )
    project.write("app/Dockerfile", DOCKERFILE.format(base=base))
    project.write("app/msg", msg)
    project.write("app/.dockerignore", "*.tmp\n")
    project.write("README.md", "# demo\n")
    project.commit("first")
    return project


def proxy_target(proxy: Any) -> SimpleNamespace:
    return SimpleNamespace(host=proxy.host, tls=False, cert_dir=None, username=None, password=None)


def run_image(engine: DockerEngine, ref: str, auth: dict[str, str] | None = None) -> str:
    """docker pull + docker run: what a user of the published image does."""
    repository, _, tag = ref.rpartition(":")
    for image in engine.client.images.list(name=repository):
        for local in image.tags:
            if local == ref:
                engine.client.images.remove(local, noprune=True)
    engine.client.images.pull(repository, tag=tag, auth_config=auth)
    out = engine.client.containers.run(ref, ["cat", "/app/msg"], remove=True, network_mode="none")
    return out.decode() if isinstance(out, bytes) else str(out)


def changes_by_tag(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["ref"].rpartition(":")[2]: c for c in plan["changes"]}


def short_sha(project: Project) -> str:
    return project.git("rev-parse", "HEAD")[:7]


def commit_at(project: Project, message: str, seconds: int) -> str:
    """A commit whose time is ``seconds`` after a fixed start: the history's times are
    distinct and ordered, whatever the speed of the machine."""
    when = f"{1_700_000_000 + seconds} +0000"
    project.env["GIT_COMMITTER_DATE"] = project.env["GIT_AUTHOR_DATE"] = when
    return project.commit(message)
