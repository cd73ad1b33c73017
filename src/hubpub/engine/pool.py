"""The engines that build: the default engine (``DOCKER_HOST``) and the ``[builders]`` of the
config (docs/config.md#builder-engines), each opened on first use, once, and closed together.

:meth:`Builders.engine_for` routes a platform to its engine (``config.builders.builder_for``:
the first builder listing it, else the default engine). Each builder's engine runs at most its
``max_builds`` builds at once (``Engine.limit_builds``: the engine holds the bound, so that no
caller can build around it); the default engine is bounded only by the executor's workers, as
it always was, unless ``default_max_builds`` says otherwise.

:func:`connect` opens an engine at a ``docker_host`` as the docker CLI would (TLS, ssh).

An engine that cannot be reached is one error naming the builder, its ``docker_host`` and
what to check; it is remembered, so that every build routed there fails at once with it
instead of waiting for the same connection timeout again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests

from hubpub.config.builders import Builder, builder_for, shown_host
from hubpub.engine.client import Engine
from hubpub.engine.sdk import sdk_module
from hubpub.errors import EngineError

# What the first line of an unreachable builder's error starts with ("file:line: " of its
# docker_host in the config, or ""), given the builder's name.
Where = Callable[[str], str]


class Builders:
    """The engines of one apply. Thread-safe: the executor's workers share it."""

    def __init__(
        self,
        builders: Mapping[str, Builder],
        environ: Mapping[str, str],
        *,
        where: Where = lambda name: "",
        default_max_builds: int | None = None,
    ) -> None:
        self.builders = dict(builders)
        self.environ = environ
        self._where = where
        self._lock = threading.Lock()
        self._opening: dict[str | None, threading.Lock] = {}
        self._engines: dict[str | None, Engine] = {}
        self._failed: dict[str | None, EngineError] = {}
        self._limits: dict[str | None, int | None] = {None: default_max_builds}
        self._limits.update({name: b.max_builds for name, b in self.builders.items()})

    # --- routing -------------------------------------------------------------------------------

    def name_for(self, platform: str | None) -> str | None:
        """The builder that builds ``platform``; None for the default engine."""
        return builder_for(self.builders, platform)

    def engine_for(self, platform: str | None) -> Engine:
        """The engine that builds ``platform``, opened and pinged on first use."""
        return self.engine_named(self.name_for(platform))

    def default(self) -> Engine:
        """The default engine (``DOCKER_HOST``, its TLS variables, or the default socket)."""
        return self.engine_named(None)

    def engine_named(self, name: str | None) -> Engine:
        with self._lock:
            engine = self._engines.get(name)
            if engine is not None:
                return engine
            opening = self._opening.setdefault(name, threading.Lock())
        # One opening per engine at a time, outside the pool's lock: a slow builder (ssh) must
        # not hold up the others.
        with opening:
            with self._lock:
                if name in self._engines:
                    return self._engines[name]
                if name in self._failed:
                    raise self._failed[name]
            try:
                engine = self._open(name)
            except EngineError as exc:
                if name is not None:  # the default engine is asked again, as it always was
                    with self._lock:
                        self._failed[name] = exc
                raise
            limit = self._limits.get(name)
            if limit is not None:
                engine.limit_builds(limit)
            with self._lock:
                self._engines[name] = engine
            return engine

    def _open(self, name: str | None) -> Engine:
        if name is None:
            engine = Engine.from_env(self.environ)
            _ping_or_close(engine)  # its own error: "start dockerd, or set DOCKER_HOST"
            return engine
        builder = self.builders[name]
        tls = builder.tls
        for label, path in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)) if tls else ():
            if path is not None and not path.is_file():
                raise EngineError(
                    f"{self._where(name)}builder {name!r}: its tls {label} file {path} does not "
                    "exist",
                    hint=f"fix the path in [builders.{name}]: it is relative to the config file",
                )
        if builder.docker_host.startswith("ssh://") and not _has_ssh_transport():
            raise EngineError(
                f"{self._where(name)}builder {name!r} at {builder.docker_host}: ssh:// needs "
                "the docker SDK's ssh transport (paramiko), which is not installed",
                hint="pip install 'hubpub[ssh]', or use a tcp:// docker_host",
            )
        try:
            engine = connect(
                builder.docker_host,
                tls=tls is not None,
                ca=str(tls.ca) if tls is not None and tls.ca is not None else None,
                cert=(str(tls.cert), str(tls.key))
                if tls is not None and tls.cert is not None and tls.key is not None
                else None,
            )
        except (sdk_module("docker.errors").DockerException, requests.RequestException) as exc:
            raise self._unreachable(name, exc) from None
        try:
            _ping_or_close(engine)
        except EngineError as exc:
            raise self._unreachable(name, exc) from None
        return engine

    def _unreachable(self, name: str, exc: BaseException) -> EngineError:
        builder = self.builders[name]
        host = shown_host(builder.docker_host)
        if host.startswith("ssh://"):
            check = "that `ssh` reaches the host without a prompt and that docker runs there"
        elif builder.tls is not None:
            check = "that dockerd listens there with TLS and that tls names its CA and your cert"
        elif host.startswith("tcp://"):
            check = "that dockerd listens there, and give tls = { ca, cert, key } for a TLS port"
        else:
            check = "that dockerd runs there and that this user may open the socket"
        return EngineError(
            f"{self._where(name)}cannot reach builder {name!r} at {host}: {_cause(exc)}",
            hint=f"check {check}; or remove [builders.{name}] to build on the default engine",
        )

    # --- the end -------------------------------------------------------------------------------

    def opened(self) -> list[Engine]:
        with self._lock:
            return list(self._engines.values())

    def cancel_builds(self) -> None:
        """Ctrl-C: stop the running builds of every engine opened."""
        for engine in self.opened():
            engine.cancel_builds()

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()

    def __enter__(self) -> Builders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    host: str,
    *,
    ca: str | None = None,
    cert: tuple[str, str] | None = None,
    tls: bool = False,
) -> Engine:
    """The engine at ``host`` (``unix://``, ``tcp://``, ``ssh://``), as the docker CLI reaches
    a ``DOCKER_HOST``: with ``tls``, verified against ``ca`` (else the system's CAs) and
    presenting ``cert`` (certificate, key); ``ssh://`` through the ``ssh`` program, as the CLI
    does. Raises the SDK's ``DockerException`` when unreachable (the caller says what to do)."""
    options: dict[str, Any] = {"timeout": 600}
    if tls:
        options["tls"] = _pinned_tls(ca, cert)
    if host.startswith("ssh://"):
        options["use_ssh_client"] = True
    return Engine(sdk_module("docker").DockerClient(base_url=host, **options))


def _pinned_tls(ca: str | None, cert: tuple[str, str] | None) -> Any:
    """The SDK's TLSConfig, with ``ca`` winning over ``REQUESTS_CA_BUNDLE``.

    requests lets that variable (set on many CI machines, to the system's bundle) replace the
    CA a session was given, so the engine's own CA would be ignored and its certificate
    refused ("unable to get local issuer certificate"). The SDK applies the config to its
    session before its first request (the API version), so the pin holds from the start."""
    base = sdk_module("docker.tls").TLSConfig

    class PinnedTLS(base):  # type: ignore[misc, valid-type]
        def configure_client(self, client: Any) -> None:
            super().configure_client(client)
            if not ca:
                return
            merge = client.merge_environment_settings

            def pinned(*args: Any, **kwargs: Any) -> Any:
                settings = merge(*args, **kwargs)
                settings["verify"] = ca
                return settings

            client.merge_environment_settings = pinned

    return PinnedTLS(client_cert=cert, ca_cert=ca, verify=True)


def _has_ssh_transport() -> bool:
    try:
        sdk_module("paramiko")
    except ImportError:
        return False
    return True


def _ping_or_close(engine: Engine) -> None:
    try:
        engine.ping()
    except BaseException:
        engine.close()
        raise


def _cause(exc: BaseException) -> str:
    """Why, in a few words: the operating system's reason when there is one ("Connection
    refused", "No such file or directory"), found in the SDK's and urllib3's wrapping
    ("Error while fetching server API version: ('Connection aborted.', …)"), else its first
    line."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.strerror:
            return item.strerror
        todo.extend((item.__cause__, item.__context__, getattr(item, "reason", None), *item.args))
    text = str(exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    return _SSL_SOURCE.sub("", text)[:200]


# Where in OpenSSL's C source a TLS error was raised: nothing a user can act on.
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")
