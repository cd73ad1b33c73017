"""First contact with a registry: which scheme answers, and the challenge for every later token.

Owns the probe, ``GET /v2/`` (distribution-spec "Determining support"): HTTPS first, with
verification; plain HTTP only where it is allowed (loopback hosts, registries marked
``insecure``) and only when the HTTPS handshake failed for a reason other than an untrusted
certificate (Docker's order). Part of the transport layer: :meth:`Transport.ready` runs it
once per registry, and it sends through the transport's public methods only, which decide
the request slots and the 429 gate.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests

from hubpub.errors import TransportError
from hubpub.registry.errors import is_certificate_error, transport_error
from hubpub.registry.retry import RETRY_STATUSES

if TYPE_CHECKING:
    from hubpub.registry.transport import Endpoint, Transport

log = logging.getLogger("hubpub.registry")


def probe(transport: Transport, ep: Endpoint) -> None:
    """``GET /v2/``: which scheme answers, and the challenge (distribution-spec
    "Determining support"). HTTPS first; HTTP only where allowed and only when the TLS
    handshake failed for a reason other than an untrusted certificate.

    Where plain HTTP is allowed (loopback, or ``insecure``), the plain ``GET /v2/`` is sent
    at the same time as the HTTPS attempt rather than after it fails: it carries no
    credentials, and HTTPS still wins whenever it answers. One round trip instead of two
    on every first contact with a local registry (docs/benchmarks.md)."""
    scheme = "https"
    response: requests.Response | None = None
    if ep.plain_http_allowed:
        plain = requests.Request("GET", f"http://{ep.host}/v2/").prepare()
        early = transport.send_beside(ep, plain)
        first = requests.Request("GET", f"https://{ep.host}/v2/").prepare()
        try:
            response = transport.send_once(ep, first)
        except requests.exceptions.SSLError as exc:
            if is_certificate_error(exc):
                raise transport_error(ep.registry, ep.host, first, exc, attempts=1) from None
            scheme = "http"
        except requests.RequestException:
            scheme = "http"
        if response is None:
            response = early.result()  # None when it failed: sent again below
            if response is not None and response.status_code in RETRY_STATUSES:
                response = None  # a 429 or 5xx: sent again below, with the retries
        # else HTTPS answered: the plain answer is left to its thread (read, not used).
    if response is None:
        prepared = requests.Request("GET", f"{scheme}://{ep.host}/v2/").prepare()
        response = transport.send(ep, prepared)
    if response.status_code not in (200, 401):
        if response.status_code == 400 and scheme == "http":
            raise TransportError(
                f"registry {ep.registry} answered 400 to plain HTTP",
                hint="it probably speaks HTTPS with a certificate hubpub cannot verify",
            )
        raise transport.status_error(ep, response, (), "GET /v2/")
    ep.auth.learn(response)
    ep.base_url = f"{scheme}://{ep.host}"
    log.debug("registry %s: %s, auth %s", ep.registry, ep.base_url, ep.auth.challenge)


class Attempt:
    """One request run on a thread of its own (not a pool's: the caller may be a pool worker
    holding up the others), for the HTTP half of the probe. ``result`` is its response, or
    None when it failed in any way: the caller then sends it the usual way, with retries,
    which reports the error."""

    def __init__(self, send: Callable[[], requests.Response]) -> None:
        self._response: requests.Response | None = None
        self._thread = threading.Thread(target=self._run, args=(send,), daemon=True)
        self._thread.start()

    def _run(self, send: Callable[[], requests.Response]) -> None:
        with contextlib.suppress(Exception):
            self._response = send()

    def result(self) -> requests.Response | None:
        self._thread.join()
        return self._response
