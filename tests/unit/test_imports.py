"""hubpub's modules import one another without a cycle, even counting the imports inside
functions: a cycle hidden behind a function-level import is still a cycle, and a lazy import is
there only to save start-up time (its comment says how much)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "hubpub").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The hubpub modules that importing ``name`` may run, anywhere in its file.

    Importing ``a.b.c`` runs ``a`` and ``a.b`` too, but a module's own packages are already
    running when it is imported: only what it names from them counts."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            if all(sub in known for sub in submodules) and name.startswith(base + "."):
                targets = submodules  # siblings, not names of the package's __init__
            else:
                targets = [base, *submodules]
        else:
            continue
        for target in targets:
            bits = target.split(".")
            for size in range(1, len(bits) + 1):
                module = ".".join(bits[:size])
                enclosing = size < len(bits) and name.startswith(module + ".")
                if module in known and module != name and not enclosing:
                    out.add(module)
    return out


def test_hubpub_modules_import_one_another_without_a_cycle() -> None:
    found = modules()
    graph = {name: imported(name, path, set(found)) for name, path in found.items()}
    graphlib.TopologicalSorter(graph).prepare()  # CycleError names the modules of a cycle


def test_the_cycle_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text("def f():\n    from hubpub.b import x\n")
    assert imported("hubpub.a", path, {"hubpub.a", "hubpub.b"}) == {"hubpub.b"}
