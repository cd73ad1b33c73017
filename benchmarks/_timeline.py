"""Run ``hubpub`` with a timeline of its phases on stderr (a tool for the benchmarks' docs).

    python benchmarks/_timeline.py apply --redirect ...     # in a project folder

Wraps the functions that make up a plan and an apply and prints, when the process ends, when
each call started and ended relative to the interpreter's start (threads included), with the
time spent before ``main`` (interpreter start-up and imports) on the first line.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import sys
import threading
import time
from typing import Any, NoReturn

T0 = time.perf_counter()
EVENTS: list[tuple[float, float, str, str]] = []
_LOCK = threading.Lock()

WATCH = [
    ("hubpub.config.load", "load_config"),
    ("hubpub.commands._desired", "compute_desired"),
    ("hubpub.observe", "observe"),
    ("hubpub.observe", "_content_keys"),
    ("hubpub.bases", "resolve_bases"),
    ("hubpub.observe", "_start_label_reads"),
    ("hubpub.othertags", "_other_tags"),
    ("hubpub.contentkey", "content_key"),
    ("hubpub.planner", "make_plan"),
    ("hubpub.engine", "Engine.from_env"),
    ("hubpub.engine", "Engine.ping"),
    ("hubpub.engine", "Engine.build"),
    ("hubpub.engine", "Engine._label"),
    ("hubpub.engine", "Engine.export"),
    ("hubpub.engine", "Engine.push"),
    ("hubpub.publish", "prepare"),
    ("hubpub.archive", "read_archive"),
    ("hubpub.layers", "compress"),
    ("hubpub.staged", "stage"),
    ("hubpub.registry.upload", "Uploads.upload"),
    ("hubpub.registry.upload", "Uploads.exists"),
    ("hubpub.engine", "Engine.tag"),
    ("hubpub.registry.client", "RegistryClient.resolve"),
    ("hubpub.registry.client", "RegistryClient.list_tags"),
    ("hubpub.registry.client", "RegistryClient.get_manifest"),
    ("hubpub.registry.client", "RegistryClient.put_manifest"),
    ("hubpub.registry.copy", "Copies.image"),
    ("hubpub.registry.copy", "Copies.content"),
    ("hubpub.registry.upload", "Uploads.mount"),
    ("hubpub.registry.client", "RegistryClient.get_blob"),
    ("hubpub.registry.probe", "probe"),
    ("hubpub.executor", "Executor.apply"),
]


def _wrap(owner: Any, attr: str, label: str) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            end = time.perf_counter()
            with _LOCK:
                EVENTS.append((start - T0, end - T0, threading.current_thread().name, label))

    setattr(owner, attr, timed)


def _install() -> None:
    for module_name, path in WATCH:
        module = importlib.import_module(module_name)
        owner: Any = module
        *parents, attr = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        _wrap(owner, attr, path)


def _report() -> None:
    end = time.perf_counter() - T0
    out = sys.stderr
    out.write(f"timeline (s from interpreter start; imports done at {IMPORTED:.3f})\n")
    for start, stop, thread, label in sorted(EVENTS):
        out.write(f"  {start:7.3f} {stop:7.3f} {stop - start:6.3f}  {label:<32} {thread}\n")
    out.write(f"  exit at {end:.3f}\n")


if __name__ == "__main__":
    import hubpub.cli  # what a normal start imports

    IMPORTED = time.perf_counter() - T0
    _install()
    # Functions imported by name into other modules: rebind them to the wrapped versions.
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("hubpub"):
            for module_name, path in WATCH:
                if "." in path:
                    continue
                src = sys.modules.get(module_name)
                if (
                    src is not None
                    and mod is not src
                    and getattr(mod, path, None) is getattr(src, path).__wrapped__
                ):
                    setattr(mod, path, getattr(src, path))
    atexit.register(_report)

    # main() with the process's own command line ends with os._exit (no atexit): report first.
    fast_exit = hubpub.cli._exit_now

    def report_then_exit(code: int) -> NoReturn:
        atexit.unregister(_report)
        _report()
        fast_exit(code)

    hubpub.cli._exit_now = report_then_exit
    sys.argv = [sys.argv[0], *sys.argv[1:]]
    hubpub.cli.main()
