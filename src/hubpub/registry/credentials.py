"""Credentials, found exactly where the docker CLI finds them.

Order (docker/cli ``cli/config/configfile``): ``credHelpers[<server>]``, else ``credsStore``,
each run as ``docker-credential-<name> get`` with the server on stdin; when the helper knows no
entry, the ``auths`` entry of the file (``auth`` = base64 "user:password", or
``identitytoken``). The file is ``$DOCKER_CONFIG/config.json`` when ``DOCKER_CONFIG`` is set,
else ``~/.docker/config.json``. Docker Hub's key is ``https://index.docker.io/v1/`` for every
Hub host name (reference.credential_host normalizes them first).

This is a small port rather than ``docker.auth``: the SDK finds helpers on the process ``PATH``
whatever environment it is given, only warns when one is missing, and falls back to
``~/.docker/config.json`` when ``DOCKER_CONFIG`` has no config.json, which the CLI does not
(docs/registry.md#docker-sdk-quirks). Credentials given through the environment variables
named in hubpub.toml (``username_env``/``password_env``) come first: :func:`find_credentials`
is that rule, for the registry client and for the engine's pulls of base images alike.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hubpub.errors import AuthError
from hubpub.logs import mask, register_secret
from hubpub.reference import DOCKER_HUB, credential_host
from hubpub.registry.auth import TOKEN_USERNAME, Credentials
from hubpub.registry.models import RegistryOptions

log = logging.getLogger("hubpub.registry.credentials")

HUB_SERVER = "https://index.docker.io/v1/"  # what `docker login` stores for Docker Hub
HELPER_PREFIX = "docker-credential-"
_HELPER_TIMEOUT = 60.0


def docker_config_file(environ: Mapping[str, str], folder: Path | None = None) -> Path | None:
    """The config file the docker CLI reads, or None when there is no way to know $HOME."""
    if folder is not None:
        return folder / "config.json"
    if environ.get("DOCKER_CONFIG"):
        # No fallback to ~/.docker when this folder has no config.json (docker/cli config.Dir).
        return Path(environ["DOCKER_CONFIG"]) / "config.json"
    home = environ.get("HOME")
    if not home:
        return None
    return Path(home) / ".docker" / "config.json"


def server_key(registry: str) -> str:
    """The name the Docker config and helpers use for ``registry``."""
    host = credential_host(registry)
    return HUB_SERVER if host == DOCKER_HUB else host


def _hostname(key: str) -> str:
    """docker/cli ``ConvertToHostname``: legacy keys may be URLs with a path."""
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    host = key.split("/", 1)[0]
    return credential_host("docker.io" if host == "index.docker.io" else host)


def from_environment(
    registry: str, options: RegistryOptions, environ: Mapping[str, str]
) -> Credentials | None:
    if not (options.username_env and options.password_env):
        return None
    username = environ.get(options.username_env)
    password = environ.get(options.password_env)
    if bool(username) != bool(password):
        # One of the pair alone is a mistake (a secret not passed to this CI step): saying so
        # beats "no credentials were found" and beats falling back to the Docker config.
        have, lack = (
            (options.username_env, options.password_env)
            if username
            else (options.password_env, options.username_env)
        )
        raise AuthError(
            f"registry {registry}: ${have} is set but ${lack} is not",
            hint="set both, or neither to use the Docker config",
        )
    if not username or not password:
        return None
    return Credentials(
        username, password, source=f"${options.username_env}/${options.password_env}"
    )


def find_credentials(
    registry: str,
    options: RegistryOptions,
    environ: Mapping[str, str],
    docker_config: Callable[[], DockerConfig] | None = None,
) -> Credentials | None:
    """The credentials for ``registry``: the environment variables named in hubpub.toml
    (``username_env``/``password_env``) first, then the Docker config. ``docker_config``
    gives the config to read (called only when the environment has none, so that a caller
    may read the file once); by default the one ``environ`` points at is read."""
    found = from_environment(registry, options, environ)
    if found is not None:
        return found
    if docker_config is None:
        return DockerConfig(docker_config_file(environ), environ).lookup(registry)
    return docker_config().lookup(registry)


class DockerConfig:
    """One Docker config file, read once."""

    def __init__(self, path: Path | None, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        self.data: dict[str, Any] = {}
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise AuthError(
                    f"cannot read the Docker config {path}: {exc}",
                    hint="fix or remove the file, or point DOCKER_CONFIG at another folder",
                ) from None
            if isinstance(loaded, dict):
                self.data = loaded

    def lookup(self, registry: str) -> Credentials | None:
        host = credential_host(registry)
        key = server_key(registry)
        helpers = self.data.get("credHelpers") or {}
        helper = helpers.get(key) or helpers.get(host) or self.data.get("credsStore")
        if isinstance(helper, str) and helper:
            where = "credHelpers" if key in helpers or host in helpers else "credsStore"
            found = self._from_helper(helper, host, key, where)
            if found is not None:
                return found
        return self._from_auths(host, key)

    def _from_auths(self, host: str, key: str) -> Credentials | None:
        auths = self.data.get("auths") or {}
        entry = auths.get(key) or auths.get(host)
        if entry is None:
            entry = next((v for k, v in auths.items() if _hostname(k) == host), None)
        if not isinstance(entry, dict):
            return None
        source = f"{self.path} (auths)"
        token = entry.get("identitytoken")
        if isinstance(token, str) and token:
            register_secret(token)
            return Credentials(None, None, identity_token=token, source=source)
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            register_secret(encoded)
            try:
                username, _, password = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthError(
                    f"the auths entry for {host} in {self.path} is not valid base64",
                    hint=f"run `docker login {host}` again",
                ) from None
            register_secret(password)
            return Credentials(username, password, source=source)
        plain_user, plain_password = entry.get("username"), entry.get("password")
        if isinstance(plain_user, str) and isinstance(plain_password, str) and plain_password:
            return Credentials(plain_user, plain_password, source=source)
        return None

    def _from_helper(self, helper: str, host: str, key: str, where: str) -> Credentials | None:
        program = HELPER_PREFIX + helper
        exe = shutil.which(program, path=self.environ.get("PATH"))
        if exe is None:
            # The docker CLI fails here too; silently going anonymous would turn a missing
            # helper into confusing 401s later.
            raise AuthError(
                f"credential helper {program} ({where} in {self.path}) is not installed or "
                "not on PATH",
                hint=f"install {program}, or remove it from {self.path}",
            )
        try:
            proc = subprocess.run(
                [exe, "get"],
                input=key.encode(),
                capture_output=True,
                env=dict(self.environ),
                timeout=_HELPER_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AuthError(
                f"credential helper {program} failed to run: {exc}",
                hint=f"check {program} get",
            ) from None
        output = proc.stdout.decode(errors="replace").strip()
        if proc.returncode != 0:
            # docker-credential-helpers' "credentials not found in native keychain": not an
            # error, fall back to the auths entry like the CLI does.
            if "credentials not found" in (output + proc.stderr.decode(errors="replace")).lower():
                return None
            detail = mask(output or proc.stderr.decode(errors="replace").strip())[:200]
            raise AuthError(
                f"credential helper {program} failed for {key}: {detail}",
                hint=f"run `docker login {host}` to store credentials again",
            )
        try:
            answer = json.loads(output)
        except json.JSONDecodeError:
            raise AuthError(f"credential helper {program} answered invalid JSON") from None
        username = str(answer.get("Username") or "") if isinstance(answer, dict) else ""
        secret = str(answer.get("Secret") or "") if isinstance(answer, dict) else ""
        register_secret(secret)
        if not username and not secret:
            return None
        source = f"{program} ({where})"
        if username == TOKEN_USERNAME:
            return Credentials(None, None, identity_token=secret, source=source)
        return Credentials(username, secret, source=source)


def login_hint(registry: str, options: RegistryOptions) -> str:
    host = credential_host(registry)
    if options.username_env and options.password_env:
        return (
            f"run `docker login {host}` or set ${options.username_env} and ${options.password_env}"
        )
    return f"run `docker login {host}` or set username_env/password_env for it in hubpub.toml"
