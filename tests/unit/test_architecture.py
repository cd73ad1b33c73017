"""Guard rails on the shape of src/hubpub, read from its source with ``ast`` (nothing imported):
no import cycle between its modules, and no module past 500 lines.

A failure here is not flaky: the code grew a knot. The message says where, and how to undo it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping, Set
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "hubpub"
MAX_LINES = 500

# An import deferred for start-up time (not to dodge a cycle) says so on its own line, with the
# reason, e.g. ``from hubpub.engine import sdk_module  # lazy: the docker SDK costs 150 ms``.
LAZY = re.compile(r"#\s*lazy:\s*\S")

Graph = Mapping[str, Set[str]]


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under root, by dotted name (a package by its own name)."""
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The imports under ``if TYPE_CHECKING:``: for the type checker, never run."""
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(ast.walk(child))
    return skipped


def imports_of(name: str, path: Path, modules: Set[str]) -> set[str]:
    """The package's modules that running ``name`` imports: at the top or inside a function,
    absolute or relative, ``from package import submodule`` included, and the packages whose
    ``__init__`` an import runs on the way (but not name itself, nor its own packages: they run
    first anyway).
    Skipped: imports marked lazy (LAZY) and those under ``if TYPE_CHECKING:``."""
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    skipped = _type_checking_only(tree)
    named: set[str] = set()  # what the import statements name
    for node in ast.walk(tree):
        if node in skipped or not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if any(LAZY.search(line) for line in lines[node.lineno - 1 : node.end_lineno]):
            continue
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = name.split(".")
            anchor = anchor[: len(anchor) - node.level + (path.name == "__init__.py")]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            named.add(submodule if submodule in modules else base)
    found = {module for module in named if module in modules}
    for module in named:
        parts = module.split(".")
        for end in range(1, len(parts)):
            package = ".".join(parts[:end])
            if package in modules and not name.startswith(package + "."):
                found.add(package)
    return found - {name}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = module_names(root, package)
    return {name: imports_of(name, path, modules.keys()) for name, path in modules.items()}


def _components(graph: Graph) -> Iterator[list[str]]:
    """Strongly connected components (Tarjan), iteratively: a cycle lives inside one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    yield sorted(component)


def _shortest_cycle(graph: Graph, start: str, members: Set[str]) -> list[str] | None:
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph.get(node, ())):
            if child == start:
                return [*paths[node], start]
            if child in members and child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return None


def find_cycles(graph: Graph) -> list[list[str]]:
    """The shortest cycle through each module that is on one, each cycle once, written from its
    first module by name and back to it (``["a", "b", "a"]``); an empty list when there is none."""
    cycles = set()
    for component in _components(graph):
        for start in component:
            cycle = _shortest_cycle(graph, start, set(component))
            if cycle is not None:
                first = cycle.index(min(cycle[:-1]))
                cycles.add((*cycle[first:-1], *cycle[:first], cycle[first]))
    return sorted(list(cycle) for cycle in cycles)


# --- the guard rails ----------------------------------------------------------------------------


def test_the_modules_of_hubpub_import_each_other_without_a_cycle() -> None:
    cycles = find_cycles(import_graph(SRC, PACKAGE))
    assert not cycles, (
        "import cycles in src/hubpub:\n"
        + "\n".join("  " + " -> ".join(cycle) for cycle in cycles)
        + "\n(a package stands for its __init__, which importing any of its modules runs)"
        "\nBreak each one: move what both modules need into a lower module that imports "
        "neither, or pass it in as an argument. An import moved into a function still counts; "
        "only one deferred for start-up time may say so on its line, '# lazy: <measured cost>'."
    )


def test_no_module_of_hubpub_grows_past_500_lines() -> None:
    long = {
        path.relative_to(SRC.parent): count
        for path in sorted((SRC / PACKAGE).rglob("*.py"))
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, (
        f"modules over {MAX_LINES} lines:\n"
        + "\n".join(f"  {path}: {count} lines" for path, count in long.items())
        + "\nSplit each into modules of one responsibility each (a guard rail, not a target: "
        "a module does not have to get near it)."
    )


# --- the cycle finder and the import reader, on their own ---------------------------------------


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b", "a"]]),
        ({"a": {"a"}}, [["a", "a"]]),
        ({"d": {"a"}, "a": {"b"}, "b": {"c"}, "c": {"a", "x"}}, [["a", "b", "c", "a"]]),
        ({"a": {"b", "c"}, "b": {"a"}, "c": {"b"}}, [["a", "b", "a"], ["a", "c", "b", "a"]]),
        (
            {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}, "e": {"a"}},
            [["a", "b", "a"], ["c", "d", "c"]],
        ),
    ],
)
def test_the_cycle_finder_gives_each_cycle_once_from_its_first_module(
    graph: Graph, cycles: list[list[str]]
) -> None:
    assert find_cycles(graph) == cycles


def test_imports_count_at_any_depth_but_lazy_and_type_checking_ones_do_not(
    tmp_path: Path,
) -> None:
    files = {
        "pkg/__init__.py": "from pkg.sub import thing\n",
        "pkg/a.py": "import os\nfrom pkg import b\n",
        "pkg/b.py": "def f():\n    from pkg.c import x\n",
        "pkg/c.py": "from . import d\nfrom .sub.deep import y\n",
        "pkg/d.py": "def f():\n    from pkg import a  # lazy: 80 ms of import\n",
        "pkg/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
        "pkg/sub/__init__.py": "from .deep import y\n",
        "pkg/sub/deep.py": "from pkg.sub import sibling\nfrom pkg.sub.sibling import z\n",
        "pkg/sub/sibling.py": "z = 1\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert import_graph(tmp_path, "pkg") == {
        "pkg": {"pkg.sub"},
        "pkg.a": {"pkg.b"},  # from a package, a submodule
        "pkg.b": {"pkg.c"},  # inside a function
        "pkg.c": {"pkg.d", "pkg.sub", "pkg.sub.deep"},  # relative; pkg.sub's __init__ runs
        "pkg.d": set(),  # lazy, with its reason
        "pkg.e": set(),  # for the type checker only
        "pkg.sub": {"pkg.sub.deep"},
        "pkg.sub.deep": {"pkg.sub.sibling"},  # its own package runs first anyway
        "pkg.sub.sibling": set(),
    }
    assert find_cycles(import_graph(tmp_path, "pkg")) == []
    (tmp_path / "pkg/d.py").write_text("def f():\n    from pkg import a  # lazy:\n")
    assert find_cycles(import_graph(tmp_path, "pkg")) == [
        ["pkg.a", "pkg.b", "pkg.c", "pkg.d", "pkg.a"]
    ]


# A reference to an issue or a pull request, which a reader of the repository cannot follow
# (docs/architecture.md: comments cite docs/ pages and public specs only).
ISSUE = re.compile(
    r"\bthe issue\b|\bissue's|\bissues'|\bissue #?\d|\bPR #?\d|/(?:issues|pull)/\d+(?!/merge)",
    re.IGNORECASE,
)
ROOT = SRC.parent


def test_no_comment_or_page_cites_an_issue() -> None:
    paths = [
        *sorted((SRC / PACKAGE).rglob("*.py")),
        *sorted((ROOT / "benchmarks").rglob("*.py")),
        *sorted((ROOT / "docs").rglob("*.md")),
        ROOT / "README.md",
    ]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ISSUE.search(line)
    ]
    assert not found, "cite a docs/ page or a public spec instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("line", "cites"),
    [
        ("zlib-ng, the other candidate the issue named", True),
        ("keep exactly the issue's format", True),
        ("the issues' setting", True),
        ("see issue #12", True),
        ("https://github.com/o/r/pull/7", True),
        ("Never an issue number, never a document outside the repository.", False),
        ("refs/pull/7/merge", False),
        ("token requests counted at the issuer", False),
    ],
)
def test_the_issue_finder_tells_citations_from_other_words(line: str, cites: bool) -> None:
    assert bool(ISSUE.search(line)) is cites
