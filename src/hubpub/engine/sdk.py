"""The docker SDK, imported once and under a lock: the one place hubpub imports it."""

from __future__ import annotations

import importlib
import threading
from typing import Any

# The docker SDK is imported when an engine is first used, not when hubpub starts: it costs
# a quarter of a second, and a plan or a promotion that builds nothing never needs it.
# One thread at a time: observe hashes contexts (docker.utils.build) while another thread may
# connect to the engine, and two threads importing the package at once can each see the
# other's half-initialised modules (ImportError, KeyError: 'docker').
_SDK_IMPORT = threading.Lock()


def sdk_module(name: str) -> Any:
    """``docker`` or one of its modules, imported under the lock above."""
    with _SDK_IMPORT:
        return importlib.import_module(name)
