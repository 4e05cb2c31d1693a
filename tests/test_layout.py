"""The package's shape: no import cycles between modules of rag/ (and ui/, installed as rag.ui)."""
import ast
from pathlib import Path

from helpers import ROOT

PACKAGES = {"rag": ROOT / "rag", "rag.ui": ROOT / "ui"}


def modules() -> dict[str, Path]:
    out = {}
    for prefix, folder in PACKAGES.items():
        for p in folder.rglob("*.py"):
            parts = p.relative_to(folder).with_suffix("").parts
            name = ".".join((prefix, *parts))
            out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = p
    return out


def imports(name: str, path: Path, known: dict) -> set[str]:
    """Modules of ours that ``name`` imports, anywhere in the file (lazy imports count too)."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in known and m != name}


def test_no_import_cycles():
    known = modules()
    graph = {n: imports(n, p, known) for n, p in known.items()}
    # every edge counts, lazy imports too: a package may load its backends lazily only because
    # they import the role from a sibling base module, never from the package itself
    cycles = []

    def visit(node, path):
        for nxt in graph[node]:
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif len(path) < 12:
                visit(nxt, path + [nxt])
    for start in graph:
        visit(start, [start])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])
