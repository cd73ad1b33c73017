"""URLs the registry client reads and writes: pure functions, no I/O (tested in
tests/unit/test_registry.py).

Owns the ``Link`` header of a tag list, the host of a ``netloc``, which hosts count as
loopback, whether a redirect keeps ``Authorization``, and a URL fit for a log line.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urljoin, urlsplit

from hubpub.logs import mask

_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def parse_link_next(header: str | None, base_url: str) -> str | None:
    """The absolute URL of ``rel="next"`` in a ``Link`` header (RFC 8288), resolved against
    the URL that answered: distribution sends a path, others an absolute URL, Quay an opaque
    ``next_page`` token; all are followed as given (distribution-spec "Listing Tags")."""
    if not header:
        return None
    for match in _LINK_RE.finditer(header):
        target, params = match.group(1), match.group(2)
        rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', params)
        if any("next" in rel.split() for rel in rels):
            return str(urljoin(base_url, target))
    return None


def host_of(netloc: str) -> str:
    """The host of ``host[:port]`` or ``[v6]:port``."""
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def is_loopback(netloc: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: where plain HTTP is allowed without ``insecure``."""
    host = host_of(netloc).lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_keeps_auth(from_url: str, to_url: str) -> bool:
    """Authorization goes along only to the same scheme, host and port."""
    a, b = urlsplit(from_url), urlsplit(to_url)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def loggable_url(url: str, registry_host: str) -> str:
    """``url`` for a log line: a query on another host (a presigned storage URL, whose
    signature is a credential) is left out; the registry's own queries are kept."""
    parts = urlsplit(url)
    if parts.query and parts.netloc.lower() != registry_host.lower():
        url = parts._replace(query="...").geturl()
    return mask(url)
