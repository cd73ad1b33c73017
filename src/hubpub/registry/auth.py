"""Registry authentication: the token cache and the auth flow (challenges and scopes are
parsed in ``challenges.py``).

The flow is a generator in httpx's style (docs/architecture.md#house-style):
:meth:`RegistryAuth.flow` yields the requests to send (a token request, then the registry
request, maybe again after a 401) and receives their responses, so this module never does I/O
itself; ``transport`` drives it.
Owns the auth state of a registry and the token cache; the WWW-Authenticate grammar is
challenges.py's and the messages of a refusal are errors.py's.

Protocol (docs/registry.md#token-auth; distribution's docs/spec/auth/token.md):

- A 401 carries ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` or ``Basic``.
- A token comes from ``GET <realm>?service=&scope=&scope=`` with Basic credentials or none;
  an identity token (``identitytoken`` of ``docker login``) is exchanged by
  ``POST <realm>`` with ``grant_type=refresh_token`` (oauth.md), falling back to GET on 404.
- Tokens are cached per (realm, service, scopes) until ``expires_in`` (at least 60 s) passes.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import requests

from hubpub.errors import AuthError, RegistryError, TransportError
from hubpub.logs import register_secret
from hubpub.registry.challenges import (
    Challenge,
    normalize_scopes,
    parse_challenges,
    pick_challenge,
    scopes_want_push,
)
from hubpub.registry.errors import auth_error, denied_error

# token.md "Token Response Fields": expires_in defaults to 60 s, and a token should be
# treated as valid for at least that long.
MIN_TOKEN_SECONDS = 60
# Renew a little early, so that a token does not expire between the check and the request.
_EXPIRY_LEEWAY = 5.0
TOKEN_USERNAME = "<token>"  # noqa: S105 (a marker, not a password): a helper answering this Username holds an identity token
CLIENT_ID = "hubpub"


@dataclass(frozen=True)
class Credentials:
    """A username and password, or an identity token; ``source`` says where they came from
    (for messages: never the values)."""

    username: str | None
    # Out of repr: a Credentials in a log line, a traceback's locals or an assertion message
    # must not show them (no credential in output, logs or exceptions:
    # docs/registry.md#credentials).
    password: str | None = field(repr=False)
    identity_token: str | None = field(default=None, repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        register_secret(self.password)
        register_secret(self.identity_token)
        if self.username and self.password:
            register_secret(self.basic_header())
            register_secret(self.basic_header().removeprefix("Basic "))

    def basic_header(self) -> str:
        pair = f"{self.username or ''}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # time.monotonic()

    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - _EXPIRY_LEEWAY


def parse_token_response(data: object, now: float | None = None) -> Token:
    """``token`` or ``access_token`` (token.md: both may appear and are equal), with
    ``expires_in`` defaulting to and floored at 60 s."""
    if not isinstance(data, dict):
        raise RegistryError("token server answered something other than a JSON object")
    value = data.get("token") or data.get("access_token")
    if not isinstance(value, str) or not value:
        raise RegistryError("token server answered without a token")
    register_secret(value)
    refresh = data.get("refresh_token")
    if isinstance(refresh, str):
        register_secret(refresh)
    try:
        expires_in = int(data.get("expires_in") or MIN_TOKEN_SECONDS)
    except (TypeError, ValueError):
        expires_in = MIN_TOKEN_SECONDS
    expires_in = max(expires_in, MIN_TOKEN_SECONDS)
    start = time.monotonic() if now is None else now
    return Token(value, start + expires_in)


CacheKey = tuple[str, str, tuple[str, ...]]


class TokenCache:
    """Tokens by (realm, service, scopes), shared by every thread. One lock per key makes
    concurrent requests for the same scopes wait for one token request instead of each
    fetching its own (one token fetch per registry and scope set: docs/registry.md#token-auth)."""

    def __init__(self) -> None:
        self._tokens: dict[CacheKey, Token] = {}
        self._locks: dict[CacheKey, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: CacheKey) -> Token | None:
        with self._guard:
            token = self._tokens.get(key)
        return token if token is not None and token.fresh() else None

    def put(self, key: CacheKey, token: Token) -> None:
        with self._guard:
            self._tokens[key] = token

    def lock(self, key: CacheKey) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


Flow = Generator[requests.PreparedRequest, requests.Response, None]


class RegistryAuth:
    """The auth state of one registry: the challenge it last sent and its credentials.

    ``credentials`` is called at most once, when a challenge first needs them, so a
    registry that allows anonymous pulls never runs a credential helper.
    """

    def __init__(
        self,
        registry: str,
        credentials: Callable[[], Credentials | None],
        cache: TokenCache,
        login_hint: str,
        allow_http_realm: Callable[[str], bool],
    ) -> None:
        self.registry = registry
        self.challenge: Challenge | None = None
        self._load_credentials = credentials
        self._credentials: Credentials | None = None
        self._loaded = False
        self._lock = threading.Lock()
        self._cache = cache
        self.login_hint = login_hint
        self._allow_http_realm = allow_http_realm

    def credentials(self) -> Credentials | None:
        with self._lock:
            if not self._loaded:
                self._credentials = self._load_credentials()
                self._loaded = True
            return self._credentials

    def learn(self, response: requests.Response) -> None:
        """Remember the challenge of a ``GET /v2/`` answer (distribution-spec "Determining
        support": a 401 there carries the challenge for the whole registry)."""
        if response.status_code == 401:
            self.challenge = pick_challenge(
                parse_challenges(response.headers.get("WWW-Authenticate", ""))
            )

    def flow(self, request: requests.PreparedRequest, scopes: Iterable[str]) -> Flow:
        wanted = normalize_scopes(scopes)
        used = None
        if self.challenge is not None:
            used = yield from self._authorize(request, self.challenge, wanted, stale=None)
        response = yield request
        if response.status_code != 401:
            return
        challenge = pick_challenge(parse_challenges(response.headers.get("WWW-Authenticate", "")))
        if challenge is None:
            return
        self.challenge = challenge
        # The challenge may name the scope it wants (a 401 with error="insufficient_scope"):
        # ask for it together with ours, in one token.
        wanted = normalize_scopes((*wanted, *challenge.scopes))
        before = request.headers.get("Authorization")
        yield from self._authorize(request, challenge, wanted, stale=used)
        if request.headers.get("Authorization") == before:
            return  # nothing new to offer (no credentials, or the same grant): report the 401
        yield request

    def _authorize(
        self,
        request: requests.PreparedRequest,
        challenge: Challenge,
        scopes: tuple[str, ...],
        stale: str | None,
    ) -> Generator[requests.PreparedRequest, requests.Response, str | None]:
        if challenge.scheme == "basic":
            creds = self.credentials()
            if creds is not None and creds.username is not None:
                request.headers["Authorization"] = creds.basic_header()
                return creds.basic_header()
            return None
        if challenge.scheme != "bearer" or not challenge.realm:
            return None
        key: CacheKey = (challenge.realm, challenge.service or "", scopes)
        token = self._cache.get(key)
        if token is None or token.value == stale:
            with self._cache.lock(key):
                token = self._cache.get(key)
                if token is None or token.value == stale:
                    token = yield from self._fetch_token(challenge, scopes)
                    self._cache.put(key, token)
        request.headers["Authorization"] = f"Bearer {token.value}"
        return token.value

    def _fetch_token(
        self, challenge: Challenge, scopes: tuple[str, ...]
    ) -> Generator[requests.PreparedRequest, requests.Response, Token]:
        realm = challenge.realm
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise AuthError(f"registry {self.registry} sent an unusable token realm {realm!r}")
        creds = self.credentials()
        if parts.scheme == "http" and not self._allow_http_realm(parts.netloc):
            # Never send credentials in clear text to a host that was not marked insecure.
            raise TransportError(
                f"registry {self.registry} asks for tokens over plain HTTP at {realm}",
                hint="mark the registry insecure in hubpub.toml if that is intended",
            )
        service = challenge.service
        response: requests.Response
        if creds is not None and creds.identity_token:
            # oauth.md "Refresh token": POST a form; registries without OAuth answer 404.
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": CLIENT_ID,
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            post = requests.Request("POST", realm, data=form).prepare()
            response = yield post
            if response.status_code in (404, 405):
                # token.md GET, authenticated as "<token>" with the identity token as password:
                # the refresh token must not go into a URL (it would be logged by proxies).
                basic = Credentials(TOKEN_USERNAME, creds.identity_token)
                response = yield self._token_get(realm, service, scopes, basic)
        else:
            response = yield self._token_get(realm, service, scopes, creds)
        if response.status_code == 200:
            try:
                return parse_token_response(response.json())
            except ValueError:
                raise RegistryError(
                    f"token server of {self.registry} answered invalid JSON"
                ) from None
        if response.status_code == 401:
            raise auth_error(self.registry, creds, self.login_hint, refused=True)
        if response.status_code == 403:
            pushing = scopes_want_push(scopes)
            if pushing:
                raise denied_error(self.registry, pushing, self.credentials(), self.login_hint)
            raise auth_error(self.registry, creds, self.login_hint, refused=True)
        raise RegistryError(
            f"token server of {self.registry} answered HTTP {response.status_code}",
            hint=f"realm {realm}",
        )

    @staticmethod
    def _token_get(
        realm: str, service: str | None, scopes: tuple[str, ...], creds: Credentials | None
    ) -> requests.PreparedRequest:
        query: list[tuple[str, str]] = []
        if service:
            query.append(("service", service))
        query.extend(("scope", s) for s in scopes)
        if creds is not None and creds.username is None and creds.password is None:
            creds = None
        sep = "&" if urlsplit(realm).query else "?"
        url = realm + (sep + urlencode(query) if query else "")
        headers = {"Authorization": creds.basic_header()} if creds is not None else {}
        return requests.Request("GET", url, headers=headers).prepare()
