"""Bounds on what a template may compute (docs/config.md#limits): the sandbox stops what a
template may not touch, these stop what would never end or would fill the memory.

- a rendered value is at most :data:`MAX_VALUE` characters (a tag is at most 128 anyway:
  ``slug.MAX_TAG``), and no value made on the way (a string, a list) more than
  :data:`MAX_ITEMS` characters or items, nor an integer more than :data:`MAX_INT_BITS` bits:
  ``*`` and ``**`` are checked before they compute (Jinja's sandbox intercepts them and then
  does not fold them at compile time), calls and filters before (their integer arguments) and
  after (their result);
- all the ``range()`` of one rendering together give at most :data:`MAX_STEPS` items, and a
  rendering with statements (``{% for %}``, macros) stops after :data:`MAX_SECONDS`, however
  it loops (a loop over a string runs no hook of ours).

Every bound raises :class:`LimitError`, which ``sandbox.render`` reports with the template's
place, like any other template error.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import threading
from collections.abc import Callable, Iterator, Sized
from typing import Any

MAX_VALUE = 4096
MAX_ITEMS = 65536
MAX_INT_BITS = 4096
MAX_STEPS = 100_000
MAX_SECONDS = 2.0
_SHOWN = 60  # characters of a value a message shows


class LimitError(Exception):
    """A template went past one of the bounds of this module."""


class _TimedOut(LimitError):
    """Raised in the rendering thread by the watchdog of :func:`budget` (a LimitError, so
    that it is reported as one wherever it lands)."""


def shorten(text: str, limit: int = _SHOWN) -> str:
    """``text`` cut for a message: a value may be long, the message stays one short line."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def check_value(value: Any) -> Any:
    """``value``, unless it is larger than a template may make."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise LimitError(f"a number of more than {MAX_INT_BITS} bits")
    if isinstance(value, str | bytes | list | tuple | dict | set) and len(value) > MAX_ITEMS:
        raise LimitError(f"a value of {len(value)} characters or items (at most {MAX_ITEMS})")
    return value


def check_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A call's integer arguments: ``'a'.ljust(10**9)`` would allocate before it returns."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ITEMS:
            raise LimitError(f"the argument {shorten(str(value))} is over {MAX_ITEMS}")


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
}


def binop(op: str, left: Any, right: Any) -> Any:
    """``left op right`` for the operators the sandbox intercepts, checked before computing."""
    if (
        op == "**"
        and _is_int(left)
        and _is_int(right)
        and abs(left) > 1
        and (abs(left).bit_length() - 1 or 1) * right > MAX_INT_BITS
    ):
        raise LimitError(f"{shorten(str(left))} ** {shorten(str(right))} is too large")
    if op == "*":
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise LimitError(f"a product of more than {MAX_INT_BITS} bits")
        else:
            sized, times = (left, right) if _is_int(right) else (right, left)
            if _is_int(times) and isinstance(sized, Sized) and len(sized) * times > MAX_ITEMS:
                raise LimitError(
                    f"a value of {len(sized) * times} characters or items (at most {MAX_ITEMS})"
                )
    return check_value(_OPERATORS[op](left, right))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter or global with its arguments and result checked (Jinja's pass-context mark,
    an attribute of the function, is kept by ``functools.wraps``)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_arguments(args[1:], kwargs)  # the first is the value filtered
        return check_value(function(*args, **kwargs))

    return wrapper


# --- one rendering's budget --------------------------------------------------------------------

_state = threading.local()


def bounded_range(*args: int) -> range:
    """Jinja's ``range``, each item counted against the rendering's :data:`MAX_STEPS`."""
    steps = range(*args)
    left = getattr(_state, "steps", MAX_STEPS) - len(steps)
    if left < 0:
        raise LimitError(f"loops of more than {MAX_STEPS} steps in all")
    _state.steps = left
    return steps


@contextlib.contextmanager
def budget(*, timed: bool) -> Iterator[None]:
    """One rendering: a fresh range budget and, when ``timed``, a watchdog that raises
    :class:`LimitError` in this thread after :data:`MAX_SECONDS` (CPython delivers it at the
    next bytecode, so a loop without any hook of ours stops too)."""
    _state.steps = MAX_STEPS
    if not timed:
        yield
        return
    import ctypes  # lazy: 2-3 ms, and only a template with statements needs it

    thread = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread), ctypes.py_object(_TimedOut)
                )

    timer = threading.Timer(MAX_SECONDS, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except _TimedOut:
        raise LimitError(f"rendering took more than {MAX_SECONDS:g} s") from None
    finally:
        with lock:
            state["done"] = True
            timer.cancel()
            if state["fired"]:
                # Not delivered yet (the rendering ended at that very moment): cleared, so that
                # it never surfaces later in unrelated code.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), None)
