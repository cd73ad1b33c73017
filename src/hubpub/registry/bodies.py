"""How much of a registry's answer hubpub reads into memory (docs/registry.md#size-limits).

Every answer the caller does not stream is read here, in pieces, up to a limit: a registry
(or anything answering on its address) that sends a 1 GB "manifest" costs at most the limit.

- a successful body (manifests, tag lists, tokens): :data:`BODY_LIMIT`, 4 MiB, distribution's
  own limit for a manifest; more is refused with a located error;
- an error body: :data:`ERROR_BODY_LIMIT`; it only ever becomes one line of a message, so the
  rest is dropped unread.

Streamed bodies (blobs) are read by their callers, which know their size.
"""

from __future__ import annotations

import requests

from hubpub.errors import RegistryError

BODY_LIMIT = 4 * 1024 * 1024
ERROR_BODY_LIMIT = 8 * 1024
_PIECE = 64 * 1024


def preload(response: requests.Response, what: str) -> None:
    """Read ``response``'s body, bounded, so that ``response.content`` is what was read;
    ``what`` names the request in the error ("registry H: GET /v2/x/manifests/1")."""
    error = response.status_code >= 300
    limit = ERROR_BODY_LIMIT if error else BODY_LIMIT
    length = response.headers.get("Content-Length", "")
    if not error and length.isdigit() and int(length) > limit and response.request.method != "HEAD":
        response.close()
        raise _too_large(what, f"{int(length)} bytes")
    pieces: list[bytes] = []
    size = 0
    for piece in response.iter_content(_PIECE):
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            # The rest is never read: the connection is closed, not returned to the pool.
            response.close()
            if not error:
                raise _too_large(what, f"more than {limit} bytes")
            break
    # requests' own attribute for a body already read (Response.content returns it).
    response._content = b"".join(pieces)[:limit]


def _too_large(what: str, size: str) -> RegistryError:
    return RegistryError(
        f"{what}: the answer is {size}, over the 4 MiB a manifest may have "
        "(distribution's limit); refused",
        hint="check that the address is a container registry",
    )
