"""Logging setup, with secrets masked.

Every secret hubpub handles (passwords, identity tokens, bearer tokens) is registered with
:func:`register_secret` the moment it is read; a logging filter replaces any registered value
in every record, so ``--debug`` never prints one (python-semantic-release masks tokens the same
way). ``Authorization`` headers are never logged in the first place.
"""

from __future__ import annotations

import logging
import sys
import threading

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
MASK = "********"


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that it is masked wherever it would be logged."""
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by a mask."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatting happens later; mask the text the formatter will produce.
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(debug: bool) -> None:
    logger = logging.getLogger("hubpub")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(SecretFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False
