"""HTTP to registries: one endpoint per registry, its sessions, slots, 429 gate and redirects.

Owns the rules every request to a registry follows, decided here and nowhere else:

- **Slots:** one ``requests.Session`` per API host, its pool as large as the client's
  thread pool so that keep-alive connections are reused rather than discarded; at most
  ``per_registry`` requests in flight to one host (a semaphore), so a fan-out is gentle. The
  only request that holds no slot is the probe's plain ``GET /v2/`` (:meth:`send_beside`).
- **The 429 gate:** a 429 waits ``Retry-After`` (seconds or an HTTP date, RFC 9110 section
  10.2.3) and makes every other request to that registry wait too; Docker Hub's pull-limit
  429 is not retried: its window is hours, not seconds. When and how often a request goes
  again is retry.py's (stamina, with a backoff hook).
- **Redirects** are followed here, never by requests, so that ``Authorization`` provably stays
  behind when a redirect leaves the host (blob downloads redirect to object storage).
- **Auth:** it drives auth.py's flow for each request; first contact is probe.py's, run once
  per endpoint by :meth:`Transport.ready`. Messages are errors.py's, never auth's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from hubpub import __version__
from hubpub.errors import RegistryError, TransportError
from hubpub.registry.auth import Credentials, RegistryAuth, TokenCache
from hubpub.registry.bodies import preload
from hubpub.registry.errors import (
    hub_pull_limit,
    parse_retry_after,
    status_error,
    transport_error,
)
from hubpub.registry.models import RegistryOptions
from hubpub.registry.probe import Attempt, probe
from hubpub.registry.retry import (
    BODY_ERRORS,
    RETRY_STATUSES,
    RetryableStatus,
    RetryPolicy,
    backoff,
    retrying,
)
from hubpub.registry.sessions import client_cert, new_session, trust_for
from hubpub.registry.urls import is_loopback, loggable_url, redirect_keeps_auth

log = logging.getLogger("hubpub.registry")
T = TypeVar("T")
_MAX_REDIRECTS = 10

ResponseHook = Callable[[requests.Response], None]


# --- endpoints ------------------------------------------------------------------------------------


class Endpoint:
    """One registry API host: session, scheme, trust, auth state, concurrency and 429 gate."""

    def __init__(
        self,
        registry: str,
        host: str,
        options: RegistryOptions,
        auth: RegistryAuth,
        environ: Mapping[str, str],
        pool_size: int,
        per_registry: int,
    ) -> None:
        self.registry = registry
        self.host = host
        self.options = options
        self.auth = auth
        self.base_url: str | None = None
        # The first contact's failure, once its retries are spent: the next request to this
        # registry in the same run fails with it at once instead of retrying all over again.
        self.unreachable: TransportError | None = None
        self.slots = threading.BoundedSemaphore(per_registry)
        self.ready = threading.Lock()
        self._gate = threading.Lock()
        self._not_before = 0.0
        self.session = new_session(pool_size)
        self.session.verify = trust_for(host, options, environ)
        cert = client_cert(host, environ)
        if cert is not None:
            self.session.cert = cert

    @property
    def plain_http_allowed(self) -> bool:
        return self.options.insecure or is_loopback(self.host)

    def hold_off(self, seconds: float) -> None:
        """Make every request to this registry wait (a 429 speaks for the whole host)."""
        with self._gate:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def wait_turn(self) -> None:
        with self._gate:
            delay = self._not_before - time.monotonic()
        if delay > 0:
            time.sleep(delay)


# Registries log it, and Docker Hub asks clients to say who they are. Set on each request in
# _exchange: hubpub sends prepared requests, which a session's default headers never reach.
USER_AGENT = f"hubpub/{__version__}"


class Transport:
    """Sends requests for the client; maps failures to hubpub's errors."""

    def __init__(
        self,
        policy: RetryPolicy,
        hooks: list[ResponseHook],
        environ: Mapping[str, str],
        options: Mapping[str, RegistryOptions],
        pool_size: int,
        per_registry: int,
    ) -> None:
        self.policy = policy
        self.hooks = hooks
        self.environ = environ
        self.options = options
        self._pool_size = pool_size
        self._per_registry = per_registry
        self._tokens = TokenCache()
        self._endpoints: list[Endpoint] = []
        self._other: dict[str, requests.Session] = {}
        self._other_lock = threading.Lock()

    def close(self) -> None:
        with self._other_lock:
            for ep in self._endpoints:
                ep.session.close()
            for session in self._other.values():
                session.close()

    # -- endpoints -------------------------------------------------------------------------

    def new_endpoint(
        self,
        registry: str,
        host: str,
        options: RegistryOptions,
        credentials: Callable[[], Credentials | None],
        login_hint: str,
    ) -> Endpoint:
        """A registry's endpoint with its auth state; the caller keeps one per API host."""

        def allow_http_realm(netloc: str, options: RegistryOptions = options) -> bool:
            return options.insecure or is_loopback(netloc)

        auth = RegistryAuth(registry, credentials, self._tokens, login_hint, allow_http_realm)
        ep = Endpoint(
            registry,
            host,
            options,
            auth,
            self.environ,
            pool_size=self._pool_size,
            per_registry=self._per_registry,
        )
        with self._other_lock:
            self._endpoints.append(ep)
        return ep

    def ready(self, ep: Endpoint) -> Endpoint:
        """``ep`` after its first contact (the probe: scheme and challenge), made once; a
        first contact that failed fails every later request at once."""
        if ep.base_url is None:
            with ep.ready:
                if ep.base_url is None:
                    if ep.unreachable is not None:
                        raise ep.unreachable
                    try:
                        probe(self, ep)
                    except TransportError as exc:
                        ep.unreachable = exc
                        raise
        return ep

    def request(
        self,
        ep: Endpoint,
        method: str,
        path_or_url: str,
        scopes: tuple[str, ...],
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        stream: bool = False,
        retry: bool = True,
    ) -> requests.Response:
        """A request to the registry of ``ep`` (a path on it, or a URL it handed out), with
        its auth flow and retries."""
        self.ready(ep)
        url = path_or_url if "://" in path_or_url else f"{ep.base_url}{path_or_url}"
        # (requests sends Content-Length: 0 itself for a PUT, POST or PATCH without a body.)
        prepared = requests.Request(method, url, headers=dict(headers or {}), data=data).prepare()
        return self.drive(ep, prepared, scopes, stream=stream, retry=retry)

    # -- sending ---------------------------------------------------------------------------

    def session_for(self, url: str, ep: Endpoint) -> requests.Session:
        """The endpoint's session for its own host; another pooled session for a token realm
        or a storage redirect, trusting that host's own CA settings or, for a realm on a host
        with none, the registry's (a token issuer usually shares the registry's CA)."""
        netloc = urlsplit(url).netloc.lower()
        if netloc == ep.host.lower():
            return ep.session
        with self._other_lock:
            key = f"{ep.host}->{netloc}"
            session = self._other.get(key)
            if session is None:
                session = new_session(self._pool_size)
                own = self.options.get(netloc)
                trust = trust_for(netloc, own or RegistryOptions(), self.environ)
                if own is None and trust is True:
                    trust = ep.session.verify if isinstance(ep.session.verify, str) else True
                session.verify = trust
                self._other[key] = session
            return session

    def _exchange(
        self,
        ep: Endpoint,
        prepared: requests.PreparedRequest,
        stream: bool,
        *,
        limited: bool = True,
    ) -> requests.Response:
        """One request and its redirects, inside the registry's concurrency limit (unless not
        ``limited``: the probe's plain attempt, whose answer may never be waited for, must not
        hold a slot the real requests need)."""
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        prepared.headers.setdefault("User-Agent", USER_AGENT)
        for _ in range(_MAX_REDIRECTS + 1):
            url = prepared.url or ""
            started = time.monotonic()
            own_host = urlsplit(url).netloc.lower() == ep.host.lower()
            if own_host and limited:
                with ep.slots:
                    # The 429 gate is checked holding a slot, so that no request that was
                    # queued for one when the 429 came slips through without waiting.
                    ep.wait_turn()
                    response = ep.session.send(
                        prepared, stream=True, timeout=timeout, allow_redirects=False
                    )
            elif own_host:
                response = ep.session.send(
                    prepared, stream=True, timeout=timeout, allow_redirects=False
                )
            else:
                response = self.session_for(url, ep).send(
                    prepared, stream=True, timeout=timeout, allow_redirects=False
                )
            if not stream or response.status_code >= 300:
                # Read here, bounded (bodies.py), rather than whole by requests.
                preload(
                    response,
                    f"registry {ep.registry}: {prepared.method} {urlsplit(url).path}",
                )
            log.debug(
                "%s %s -> %s (%.0f ms)",
                prepared.method,
                loggable_url(url, ep.host),
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            for hook in self.hooks:
                hook(response)
            location = response.headers.get("Location")
            if not (response.is_redirect and location and prepared.method in ("GET", "HEAD")):
                return response
            target = urljoin(url, location)
            follow = prepared.copy()
            follow.prepare_url(target, None)
            if not redirect_keeps_auth(url, target):
                # Never forward credentials to another host (a presigned storage URL carries
                # its own authorization, and must not learn the registry token).
                follow.headers.pop("Authorization", None)
            response.close()
            prepared = follow
        raise TransportError(
            f"registry {ep.registry}: too many redirects for {loggable_url(url, ep.host)}"
        )

    def send_once(self, ep: Endpoint, prepared: requests.PreparedRequest) -> requests.Response:
        """One attempt, holding a request slot, without retries (the probe's HTTPS attempt,
        whose failure decides the scheme); a failure raises requests' exception."""
        return self._exchange(ep, prepared, stream=False)

    def send_beside(self, ep: Endpoint, prepared: requests.PreparedRequest) -> Attempt:
        """One attempt on a thread of its own that holds no request slot: the probe's plain
        ``GET /v2/``, sent at the same time as the HTTPS one, whose answer may never be
        waited for and so must not hold a slot the real requests need."""
        return Attempt(lambda: self._exchange(ep, prepared, stream=False, limited=False))

    def send(
        self,
        ep: Endpoint,
        prepared: requests.PreparedRequest,
        *,
        stream: bool = False,
        retry: bool = True,
    ) -> requests.Response:
        """``_exchange`` with retries; returns the final response (maybe an error status)."""
        if not retry:
            try:
                response = self._exchange(ep, prepared, stream)
            except requests.RequestException as exc:
                raise transport_error(ep.registry, ep.host, prepared, exc, attempts=1) from None
            if response.status_code == 429 and hub_pull_limit(response) is None:
                # The caller restarts (an upload session) rather than resends, but the registry
                # asked every request to wait: the next one honours it.
                wait = parse_retry_after(response.headers.get("Retry-After"))
                ep.hold_off(min(self.policy.max_retry_after, wait or self.policy.wait_initial))
            return response
        started = time.monotonic()
        attempts = 0
        try:
            for attempt in retrying(self.policy, self._backoff):
                with attempt:
                    attempts = attempt.num
                    response = self._exchange(ep, prepared, stream)
                    if response.status_code in RETRY_STATUSES:
                        self._maybe_retry(ep, prepared, response, started)
                    return response
        except RetryableStatus as exc:
            return exc.response  # out of attempts or time: the caller reports the status
        except requests.RequestException as exc:
            raise transport_error(ep.registry, ep.host, prepared, exc, attempts=attempts) from None
        raise AssertionError("unreachable: stamina returns or raises")

    def retry_body(self, ep: Endpoint, method: str, path: str, fetch: Callable[[], T]) -> T:
        """Run ``fetch`` (a request and the reading of its body) again when the body breaks
        off: a reset mid-body happens after ``send`` returned, outside its retries."""
        attempts = 0
        try:
            for attempt in retrying(self.policy, BODY_ERRORS):
                with attempt:
                    attempts = attempt.num
                    return fetch()
        except BODY_ERRORS as exc:
            prepared = requests.Request(method, f"{ep.base_url}{path}").prepare()
            raise transport_error(ep.registry, ep.host, prepared, exc, attempts=attempts) from None
        raise AssertionError("unreachable: stamina returns or raises")

    def _maybe_retry(
        self,
        ep: Endpoint,
        prepared: requests.PreparedRequest,
        response: requests.Response,
        started: float,
    ) -> None:
        wait: float | None = None
        if response.status_code == 429:
            if hub_pull_limit(response) is not None:
                return  # Docker Hub's quota resets in hours: report it, don't hammer it
            wait = parse_retry_after(response.headers.get("Retry-After"))
            budget = self.policy.timeout - (time.monotonic() - started)
            if wait is not None and (wait > self.policy.max_retry_after or wait > budget):
                return  # the caller reports the 429 with the wait it asked for
            ep.hold_off(wait if wait is not None else self.policy.wait_initial)
        log.info(
            "%s %s answered %s; retrying%s",
            prepared.method,
            loggable_url(prepared.url or "", ep.host),
            response.status_code,
            f" after {wait:.1f} s (Retry-After)" if wait is not None else "",
        )
        _ = response.content  # keep the (small) error body readable after close
        response.close()
        raise RetryableStatus(response, wait)

    # Which failures are worth another attempt is retry.py's; the transport passes it to
    # stamina as the backoff hook.
    _backoff = staticmethod(backoff)

    def drive(
        self,
        ep: Endpoint,
        prepared: requests.PreparedRequest,
        scopes: tuple[str, ...],
        *,
        stream: bool = False,
        retry: bool = True,
    ) -> requests.Response:
        """Run the auth flow for ``prepared``: token requests and the request itself.

        A URL the registry handed out (an upload ``Location``, a ``Link``) may name another
        origin; the registry's credentials never go there, as with a redirect (docker, too,
        authorizes only the hosts that challenged it)."""
        if not redirect_keeps_auth(ep.base_url or "", prepared.url or ""):
            return self.send(ep, prepared, stream=stream, retry=retry)
        flow = ep.auth.flow(prepared, scopes)
        try:
            outgoing = next(flow)
            sent_body = False
            while True:
                is_main = outgoing is prepared
                if is_main and sent_body and _is_stream(prepared.body):
                    raise BodyConsumed()
                # Token requests always retry; the request itself as the caller asked.
                response = self.send(
                    ep, outgoing, stream=stream and is_main, retry=retry or not is_main
                )
                sent_body = sent_body or is_main
                try:
                    outgoing = flow.send(response)
                except StopIteration:
                    return response
                response.close()
        finally:
            flow.close()

    def status_error(
        self,
        ep: Endpoint,
        response: requests.Response,
        scopes: tuple[str, ...],
        what: str,
    ) -> RegistryError:
        """The error for a final non-success response to ``what`` (e.g. "manifest x:y")."""
        return status_error(
            ep.registry,
            response,
            scopes,
            what,
            challenged=ep.auth.challenge is not None,
            credentials=ep.auth.credentials,
            login_hint=ep.auth.login_hint,
            attempts=self.policy.attempts,
        )

    def exists(
        self, ep: Endpoint, response: requests.Response, scopes: tuple[str, ...], what: str
    ) -> bool:
        """The answer to a HEAD: 200 yes, 404 no, anything else an error."""
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise self.status_error(ep, response, scopes, what)


class BodyConsumed(Exception):
    """A streamed body cannot be sent twice (the auth flow asked to resend it)."""


def _is_stream(body: Any) -> bool:
    return body is not None and not isinstance(body, bytes | str)
