"""The Docker engine: the only package that talks to it, and the only one that imports the
docker SDK (``sdk_module``).

- ``client.py``: :class:`Engine` (build, tag, export, pull of bases, the push to a staging
  reference), the classic builder;
- ``streams.py``: the engine's JSON-lines streams and its errors, read;
- ``buildkit.py``: builds through the engine's BuildKit (``POST /build?version=2``);
- ``trace.py``: BuildKit's progress stream, decoded into lines;
- ``context.py``: the build context as the tar a BuildKit build reads;
- ``sdk.py``: the SDK's import, once and under a lock.
"""

from hubpub.engine.buildkit import BuildRequest, LineCallback
from hubpub.engine.client import DEFAULT_DOCKER_HOST, Engine, PushAuth
from hubpub.engine.sdk import sdk_module

__all__ = [
    "DEFAULT_DOCKER_HOST",
    "BuildRequest",
    "Engine",
    "LineCallback",
    "PushAuth",
    "sdk_module",
]
