"""When a registry request is tried again, and how long hubpub waits in between.

Owns the bounds (:class:`RetryPolicy`), the statuses worth another attempt, the stamina loop
bounded in attempts and total time, and which failures retry: 5xx, resets and timeouts back
off exponentially with jitter; a 429 waits its ``Retry-After``; a TLS failure or a host DNS
says does not exist fail at once. What a 429 does to the other requests to the registry (the
gate) is the transport's; this module only decides whether and when one request goes again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import requests
import stamina

from hubpub.logs import mask
from hubpub.registry.errors import unknown_host

log = logging.getLogger("hubpub.registry")
# hubpub logs its own retry lines (transport.py); without a handler of its own, stamina's
# "stamina.retry_scheduled" warnings would reach stderr through logging's last resort.
logging.getLogger("stamina").addHandler(logging.NullHandler())

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A body that breaks off after the answer began (retried by Transport.retry_body).
BODY_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.ConnectionError)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retries and waits; the defaults suit CI against Docker Hub."""

    attempts: int = 5
    timeout: float = 120.0  # total seconds for one request, waits included
    wait_initial: float = 0.5
    wait_max: float = 10.0
    wait_jitter: float = 0.5
    max_retry_after: float = 60.0  # a longer Retry-After fails at once, with the wait named
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    upload_attempts: int = 3  # whole upload sessions, each restarted from its first byte


class RetryableStatus(Exception):
    """Raised inside the retry loop for a response worth another attempt."""

    def __init__(self, response: requests.Response, wait: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.wait = wait


def retrying(
    policy: RetryPolicy, on: tuple[type[Exception], ...] | Callable[[Exception], bool | float]
) -> Iterable[stamina.Attempt]:
    """Attempts bounded in number and in total time, with capped exponential backoff and
    jitter (the policy's bounds; docs/registry.md#retries-and-429)."""
    return stamina.retry_context(
        on=on,
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    )


def backoff(exc: Exception) -> bool | float:
    if isinstance(exc, RetryableStatus):
        return exc.wait if exc.wait is not None else True
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a TLS failure does not heal by retrying (SSLError is a ConnectionError)
    if unknown_host(exc):
        return False  # neither does a name DNS says does not exist (a temporary failure does)
    if isinstance(
        exc,
        requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError,
    ):
        log.info("retrying after %s", mask(type(exc).__name__))
        return True
    return False
