"""Where each key of a TOML text is, and the ``file:line: `` an error starts with.

``tomllib`` gives no positions for values, so :func:`key_lines` scans the text once and maps
every key path (``("image", 0, "tags", 2)``) to the line it starts on; :func:`line_of` finds a
key's line, or its nearest located parent's. :func:`at` is the one place an error's location is
written, and :class:`Locations` the one place a key's location is found.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

PathKey = tuple[str | int, ...]


def display_name(path: Path) -> str:
    """``path`` as an error shows it: relative to the working directory when it is inside."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def at(display: str, line: int = 0, column: int = 0) -> str:
    """The start of an error line: ``"file:line:column: "``, ``"file:line: "`` or ``"file: "``
    (a 0 is unknown)."""
    if line and column:
        return f"{display}:{line}:{column}: "
    return f"{display}:{line}: " if line else f"{display}: "


@dataclass(frozen=True)
class Locations:
    """Where the keys of one config file are: its name, each key's line (:func:`key_lines`), and
    the keys whose value came from ``[defaults]`` (their errors point there)."""

    display: str
    lines: Mapping[PathKey, int]
    inherited: AbstractSet[PathKey] = frozenset()

    def line(self, key: PathKey) -> int:
        return line_of(key, self.lines, self.inherited)

    def where(self, key: PathKey) -> str:
        """``"file:line: "`` for ``key``; ``"file: "`` when no line is known."""
        return at(self.display, self.line(key))


def line_of(
    key: PathKey, lines: Mapping[PathKey, int], inherited: AbstractSet[PathKey] = frozenset()
) -> int:
    """The line of ``key`` or of its nearest located parent; 0 when nothing is known."""
    for size in range(len(key), 0, -1):
        prefix = key[:size]
        if prefix[:3] in inherited and len(prefix) >= 3:
            # The value came from [defaults]: point there.
            moved = ("defaults", *prefix[2:])
            for inner in range(len(moved), 0, -1):
                if moved[:inner] in lines:
                    return lines[moved[:inner]]
        if prefix in lines:
            return lines[prefix]
    return 0


def key_lines(text: str) -> dict[PathKey, int]:
    """Map every key path of a (syntactically valid) TOML text to its 1-based line.

    Paths look like pydantic's locations: ``("image", 0, "tags", 2, "pattern")``. Tables and
    arrays of tables map to their header line, keys to their ``key =`` line, array items and
    inline-table keys to the line where they start."""
    return _Scanner(text).scan()


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[PathKey, int] = {}
        self.aot: dict[PathKey, int] = {}  # array-of-tables path -> items seen so far

    # low-level helpers
    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def skip_ws(self, newlines: bool) -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.advance()
            elif ch == "#":
                end = self.text.find("\n", self.pos)
                self.advance((end if end >= 0 else len(self.text)) - self.pos)
            else:
                break

    def ensure_progress(self, start: int) -> None:
        # The text passed tomllib, but a construct this small scanner does not know must not
        # make it loop: skip a character and carry on (a line may be off, never a hang).
        if self.pos == start:
            self.advance()

    def record(self, path: PathKey, line: int) -> None:
        self.lines.setdefault(path, line)

    # grammar
    def scan(self) -> dict[PathKey, int]:
        table: PathKey = ()
        while True:
            self.skip_ws(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            if self.peek(2) == "[[":
                line = self.line
                self.advance(2)
                keys = self.keys("]]")
                self.advance(2)
                base = (*self.resolve(keys[:-1]), keys[-1])
                index = self.aot.get(base, 0)
                self.aot[base] = index + 1
                table = (*base, index)
                self.record(base, line)
                self.record(table, line)
            elif self.peek() == "[":
                line = self.line
                self.advance()
                keys = self.keys("]")
                self.advance()
                table = self.resolve(keys)
                self.record(table, line)
            else:
                start = self.pos
                self.key_value(table)
                self.ensure_progress(start)

    def resolve(self, keys: PathKey) -> PathKey:
        """A header's keys, with the current item of each array of tables they go through."""
        out: list[str | int] = []
        for key in keys:
            out.append(key)
            if tuple(out) in self.aot:
                out.append(self.aot[tuple(out)] - 1)
        return tuple(out)

    def keys(self, end: str) -> PathKey:
        parts: list[str | int] = []
        while True:
            self.skip_ws(newlines=False)
            parts.append(self.key())
            self.skip_ws(newlines=False)
            if self.peek() == ".":
                self.advance()
                continue
            if self.peek(len(end)) == end or self.peek() in ("=", ""):
                return tuple(parts)
            # Unexpected: the text passed tomllib, so this is our own limit; stop here.
            return tuple(parts)

    def key(self) -> str:
        ch = self.peek()
        if ch in ('"', "'"):
            return self.string()
        match = _BARE_KEY.match(self.text, self.pos)
        if not match:
            self.advance()
            return ""
        self.advance(match.end() - self.pos)
        return match.group()

    def key_value(self, table: PathKey) -> None:
        line = self.line
        keys = self.keys("=")
        path = (*table, *keys)
        for size in range(len(table) + 1, len(path) + 1):
            self.record(path[:size], line)
        self.skip_ws(newlines=False)
        if self.peek() == "=":
            self.advance()
        self.skip_ws(newlines=False)
        self.value(path)

    def value(self, path: PathKey) -> None:
        ch = self.peek()
        if ch in ('"', "'"):
            self.string()
        elif ch == "[":
            self.array(path)
        elif ch == "{":
            self.inline_table(path)
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}\n#":
                self.advance()

    def array(self, path: PathKey) -> None:
        self.advance()  # [
        index = 0
        while True:
            self.skip_ws(newlines=True)
            ch = self.peek()
            if ch in ("]", ""):
                self.advance()
                return
            if ch == ",":
                self.advance()
                continue
            self.record((*path, index), self.line)
            start = self.pos
            self.value((*path, index))
            self.ensure_progress(start)
            index += 1

    def inline_table(self, path: PathKey) -> None:
        self.advance()  # {
        while True:
            self.skip_ws(newlines=True)
            ch = self.peek()
            if ch in ("}", ""):
                self.advance()
                return
            if ch == ",":
                self.advance()
                continue
            start = self.pos
            self.key_value(path)
            self.ensure_progress(start)

    def string(self) -> str:
        quote = self.peek()
        if self.peek(3) == quote * 3:
            self.advance(3)
            end = self.text.find(quote * 3, self.pos)
            while end >= 0 and self.text[end + 3 : end + 4] == quote:
                end += 1  # up to two quotes may close a multi-line string's content
            if quote == '"':
                while end > 0 and _escaped(self.text, end):
                    end = self.text.find(quote * 3, end + 1)
            end = len(self.text) if end < 0 else end
            content = self.text[self.pos : end]
            self.advance(end + 3 - self.pos)
            return content
        self.advance()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in (quote, "\n"):
            if quote == '"' and self.text[self.pos] == "\\":
                self.advance()
            self.advance()
        content = self.text[start : self.pos]
        self.advance()
        if quote == '"':
            with contextlib.suppress(tomllib.TOMLDecodeError):
                content = tomllib.loads(f'x = "{content}"')["x"]
        return content


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index > 0 and text[index - 1] == "\\":
        backslashes += 1
        index -= 1
    return backslashes % 2 == 1
