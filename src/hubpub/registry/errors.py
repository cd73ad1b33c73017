"""What a registry's failure means, and the one line that says so (the errors of
:mod:`hubpub.errors` that the registry client raises).

Owns every message about a registry failure: a connection that failed (:func:`transport_error`),
a final non-success status (:func:`status_error`), credentials refused and push denied
(:func:`auth_error`, :func:`denied_error`), and the readings of a response or an exception they
rest on (distribution-spec error codes, ``Retry-After``, Docker Hub's pull limit, an untrusted
certificate, an unknown host). Pure: no I/O. ``transport`` and ``auth`` call it; it calls
neither, so what it needs to know about the credentials is passed in.
"""

from __future__ import annotations

import email.utils
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from hubpub.errors import (
    AuthError,
    DeniedError,
    NotFoundError,
    RateLimitError,
    RegistryError,
    TransportError,
)
from hubpub.logs import mask
from hubpub.registry.challenges import parse_challenges, scopes_want_push

if TYPE_CHECKING:
    from hubpub.registry.auth import Credentials


# --- readings (tested in tests/unit/test_registry.py) ---------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_codes(response: requests.Response) -> list[tuple[str, str]]:
    """(code, message) pairs of a distribution-spec error body ("Error Codes")."""
    try:
        data = response.json()
    except ValueError:
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [
        (str(e.get("code", "")), str(e.get("message", ""))) for e in errors if isinstance(e, dict)
    ]


def unknown_host(exc: BaseException) -> bool:
    """DNS answered that the host does not exist (EAI_NONAME): retrying only makes the user
    wait (an offline machine waited 9 s for a base image lookup). EAI_AGAIN, a temporary
    failure of the resolver, stays retryable."""
    return any(
        isinstance(item, socket.gaierror) and item.errno == socket.EAI_NONAME
        for item in cause_chain(exc)
    )


def cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        chain.append(item)
        todo.extend([item.__cause__, item.__context__])
        todo.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
        reason = getattr(item, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return chain


def is_certificate_error(exc: BaseException) -> bool:
    chain = cause_chain(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return True
    text = " ".join(str(e) for e in chain)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def hub_pull_limit(response: requests.Response) -> str | None:
    """Docker Hub's pull-limit 429 carries ``ratelimit-remaining: 0;w=21600``: describe it."""
    remaining = response.headers.get("RateLimit-Remaining")
    if remaining is None:
        return None
    left, _, window = remaining.partition(";w=")
    if left.strip() != "0":
        return None
    limit = response.headers.get("RateLimit-Limit", "?").partition(";")[0]
    hours = f" per {int(window) / 3600:g} h" if window.isdigit() else ""
    return f"0 of {limit} pulls left{hours}"


# --- messages -------------------------------------------------------------------------------------


def transport_error(
    registry: str,
    host: str,
    prepared: requests.PreparedRequest,
    exc: requests.RequestException,
    attempts: int,
) -> TransportError:
    url = urlsplit(prepared.url or "")
    where = f"{url.scheme}://{url.netloc}"
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, requests.exceptions.SSLError):
        reason = "certificate not trusted" if is_certificate_error(exc) else "TLS handshake"
        return TransportError(
            f"TLS verification failed for registry {registry} at {where} ({reason})",
            hint=f'set ca_file in [registries."{registry}"] of hubpub.toml or install '
            f"its CA as /etc/docker/certs.d/{host}/ca.crt",
        )
    text = " ".join(str(e) for e in cause_chain(exc))
    if isinstance(exc, requests.Timeout):
        return TransportError(
            f"registry {registry} did not answer {prepared.method} {url.path} in time{tries}",
            hint="the registry or the network is slow or down; try again later",
        )
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return TransportError(
            f"cannot connect to registry {registry} at {where}: connection refused{tries}",
            hint="is the registry running, and are its host and port right?",
        )
    if (
        "Name or service not known" in text
        or "nodename nor servname" in text
        or ("Failed to resolve" in text)
    ):
        return TransportError(
            f"cannot resolve the host of registry {registry} ({url.netloc})",
            hint="check the registry name and your DNS",
        )
    return TransportError(
        f"connection to registry {registry} failed during {prepared.method} {url.path}"
        f"{tries}: {type(exc).__name__}",
        hint="the connection was reset or broken; try again later",
    )


def status_error(
    registry: str,
    response: requests.Response,
    scopes: tuple[str, ...],
    what: str,
    *,
    challenged: bool,
    credentials: Callable[[], Credentials | None],
    login_hint: str,
    attempts: int,
) -> RegistryError:
    """The error for a final non-success response to ``what`` (e.g. "manifest x:y").
    ``challenged``: the registry sent a challenge on first contact; ``credentials`` is called
    only for a refusal that names them (a credential helper may have to run)."""
    status = response.status_code
    codes = error_codes(response)
    code_names = {c for c, _ in codes}
    pushing = scopes_want_push(scopes)
    if status == 401:
        challenge = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        insufficient = any(c.error == "insufficient_scope" for c in challenge)
        creds = credentials() if challenged else None
        if pushing and creds is not None and (insufficient or "DENIED" in code_names):
            return denied_error(registry, pushing, creds, login_hint)
        return auth_error(registry, creds, login_hint, refused=creds is not None)
    if status == 403 or "DENIED" in code_names:
        if pushing:
            return denied_error(registry, pushing, credentials(), login_hint)
        return DeniedError(
            f"registry {registry} denied access to {what}",
            hint=login_hint,
        )
    if status == 404:
        if "NAME_UNKNOWN" in code_names:
            return NotFoundError(
                f"repository of {what} does not exist on registry {registry}",
                hint="check the name; a push creates the repository",
            )
        return NotFoundError(f"{what} not found on registry {registry}")
    if status == 429:
        limit = hub_pull_limit(response)
        if limit is not None:
            return RateLimitError(
                f"Docker Hub pull rate limit reached ({limit})",
                hint="log in (`docker login`) for a higher limit, or wait for the window to pass",
            )
        wait = parse_retry_after(response.headers.get("Retry-After"))
        after = f"; it asks to retry after {wait:.0f} s" if wait is not None else ""
        return RateLimitError(
            f"registry {registry} kept answering 429 Too Many Requests to {what}{after}",
            hint="lower the concurrency or try again later",
        )
    if status >= 500:
        return TransportError(
            f"registry {registry} answered HTTP {status} to {what} after {attempts} attempts",
            hint="the registry is failing; try again later",
        )
    detail = "; ".join(f"{c}: {m}" for c, m in codes)[:300]
    return RegistryError(
        f"registry {registry} answered HTTP {status} to {what}"
        + (f" ({mask(detail)})" if detail else "")
    )


def auth_error(
    registry: str, creds: Credentials | None, login_hint: str, *, refused: bool
) -> AuthError:
    if creds is None:
        return AuthError(
            f"registry {registry} requires authentication and no credentials were found for it",
            hint=login_hint,
        )
    what = "refused the credentials" if refused else "did not accept the credentials"
    source = creds.source or "the Docker config"
    # Credentials that came from the environment are what to check, not what to set.
    hint = f"check {source}" if source.startswith("$") else login_hint
    return AuthError(f"registry {registry} {what} from {source}", hint=hint)


def denied_error(
    registry: str, repositories: Iterable[str], creds: Credentials | None, login_hint: str
) -> DeniedError:
    names = ", ".join(f"{registry}/{r}" for r in sorted(set(repositories)))
    who = f" for the credentials from {creds.source}" if creds and creds.source else ""
    return DeniedError(
        f"no push access to {names}{who}",
        hint="grant these credentials push rights on that repository, or log in as a "
        f"user that has them ({login_hint})",
    )
