"""``[builders.NAME]``: other Docker engines that build some platforms natively
(docs/config.md#builder-engines).

This module describes and checks the values (platform names are normalized as an image's are:
``platforms.py``) and holds the routing rule (:func:`builder_for`), pure; opening the engines is
``engine.pool``'s job.

Routing: a platform goes to the first builder in the file that lists it; a platform no builder
lists, and a build that names no platform, go to the default engine (``DOCKER_HOST``). One
deterministic answer, so that the plan says which engine builds what and apply does exactly
that (a second builder listing the same platform is a spare to move it to by editing the file,
not a load balancer: ``max_builds`` bounds one engine's load).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hubpub.platforms import normalize, normalize_all

# Names a user sees in the plan's notes and in errors.
BUILDER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
DOCKER_HOST_SCHEMES = ("unix", "tcp", "ssh")
DEFAULT_MAX_BUILDS = 2


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _resolve(value: Path | None, info: ValidationInfo) -> Path | None:
    # Relative to the config file's folder, as `ca_file` of a registry (docs/config.md).
    root = (info.context or {}).get("root")
    if value is not None and root is not None and not value.is_absolute():
        value = (Path(root) / value).resolve()
    return value


class BuilderTLS(_Model):
    """TLS to a ``tcp://`` engine: docker's ``--tlsverify --tlscacert --tlscert --tlskey``."""

    ca: Path | None = Field(
        default=None,
        description="CA certificate (PEM) the engine's certificate must chain to, relative to "
        "the config file (default: the system's CAs).",
    )
    cert: Path | None = Field(
        default=None, description="Client certificate (PEM), relative to the config file."
    )
    key: Path | None = Field(
        default=None, description="The client certificate's key (PEM), relative to the config file."
    )

    @field_validator("ca", "cert", "key", mode="before")
    @classmethod
    def _path_string(cls, value: Any) -> Any:
        if not isinstance(value, str | Path):
            raise ValueError(f"expected a file path, got {value!r}")
        return value

    _resolve_paths = field_validator("ca", "cert", "key")(_resolve)

    @model_validator(mode="after")
    def _cert_and_key(self) -> BuilderTLS:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together: set both, or neither")
        return self


class Builder(_Model):
    """One ``[builders.NAME]``: a Docker engine and the platforms it builds."""

    docker_host: str = Field(
        description="The engine's address, as DOCKER_HOST takes it: unix:///path, "
        "tcp://host:port (with tls) or ssh://user@host.",
    )
    tls: BuilderTLS | None = Field(
        default=None, description="TLS for a tcp:// engine: ca, cert, key (paths)."
    )
    platforms: tuple[str, ...] = Field(
        min_length=1,
        description="The platforms this engine builds (os/arch[/variant], e.g. 'linux/arm64'); "
        "the first builder listing a platform builds it.",
    )
    max_builds: StrictInt = Field(
        default=DEFAULT_MAX_BUILDS,
        ge=1,
        description="How many builds this engine runs at once.",
    )

    @field_validator("docker_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in DOCKER_HOST_SCHEMES or not rest.strip("/"):
            raise ValueError(
                "expected unix:///path/to/docker.sock, tcp://host:port or ssh://user@host, "
                f"got {shown_host(value)!r}"
            )
        if scheme in ("tcp", "ssh"):
            _check_network_host(scheme, value)
        return value

    @field_validator("platforms")
    @classmethod
    def _normalize(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # As an image's platforms are (platforms.py): docker's names, each at most once.
        return normalize_all(value)

    @field_validator("tls")
    @classmethod
    def _tls_with_tcp(cls, value: BuilderTLS | None, info: ValidationInfo) -> BuilderTLS | None:
        host = info.data.get("docker_host")  # absent when it failed its own check
        if value is not None and isinstance(host, str) and not host.startswith("tcp://"):
            raise ValueError(
                f"tls applies to a tcp:// docker_host only, not {host!r} "
                "(ssh and unix sockets are secured otherwise)"
            )
        return value


def shown_host(host: str) -> str:
    """``host`` as it may be printed: without the password of its user part, if any (a
    ``docker_host`` with one is refused, but the refusal must not print it either)."""
    scheme, sep, rest = host.partition("://")
    netloc, slash, path = rest.partition("/")
    user, at, address = netloc.rpartition("@")
    if not at or ":" not in user:
        return host
    return f"{scheme}{sep}{user.partition(':')[0]}:***@{address}{slash}{path}"


def _check_network_host(scheme: str, value: str) -> None:
    # The docker SDK parses the address only when apply opens the engine, and its errors
    # (a port that is not a number, a password it refuses) would come late and print the
    # address whole: check here, as validate does, and never echo a password.
    parts = urlsplit(value)
    if parts.password is not None:
        raise ValueError(
            f"{shown_host(value)!r} carries a password: hubpub prints a builder's address "
            "in plans, logs and errors, and the docker SDK refuses one anyway; "
            + (
                "use an ssh key (ssh-agent or ~/.ssh/config) and ssh://user@host"
                if scheme == "ssh"
                else "use tls = { ca, cert, key } with a TLS client certificate"
            )
        )
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        raise ValueError(
            f"the port of {shown_host(value)!r} is not a number from 1 to 65535: got {port_text!r}"
        ) from None
    if not parts.hostname:
        raise ValueError(f"{shown_host(value)!r} names no host")
    if scheme == "tcp" and port is None:
        raise ValueError(
            f"{shown_host(value)!r} names no port: give it, e.g. tcp://{parts.hostname}:2376"
        )
    if port == 0:
        raise ValueError(f"the port of {shown_host(value)!r} is not a number from 1 to 65535")
    if scheme == "ssh" and parts.path.strip("/"):
        raise ValueError(f"{shown_host(value)!r}: an ssh:// address takes no path")


def builder_for(builders: Mapping[str, Builder], platform: str | None) -> str | None:
    """The name of the builder that builds ``platform``: the first in file order that lists it
    (a dict keeps TOML's order), or None for the default engine (no builder lists it, or no
    platform asked: the default engine's own)."""
    if platform is None:
        return None
    wanted = normalize(platform)
    for name, builder in builders.items():
        if wanted in builder.platforms:
            return name
    return None


def routing_note(builders: Mapping[str, Builder], platforms: Sequence[str | None]) -> str:
    """Where a build's platforms are built, for the plan's note under the build
    (``engine: builder 'arm' (ssh://ci@arm-runner)``); ``None`` is the engine's own platform."""

    def engine(platform: str | None) -> str:
        name = builder_for(builders, platform)
        if name is None:
            return "the default engine (DOCKER_HOST)"
        return f"builder {name!r} ({shown_host(builders[name].docker_host)})"

    targets = {engine(platform) for platform in platforms}
    if len(targets) == 1 or not platforms:
        return engine(platforms[0] if platforms else None)
    return ", ".join(f"{platform} on {engine(platform)}" for platform in platforms)
