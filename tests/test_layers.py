"""The code's layers (issue 19), read from its own imports: no cycle, no module importing from a layer above
its own, every module placed in a layer, and `xlflow --help` without pandas or numpy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src" / "xlflow"

# The folders are the layers, lowest first; a module may import from its own layer (without a cycle) and from
# the layers below. The package's root holds what every layer uses (errors, paths) and the entry points.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "paths")),
    ("domain", ("domain",)),
    ("io", ("io",)),
    ("store", ("store",)),
    ("checks", ("validation",)),
    ("outputs", ("outputs", "templates")),
    ("app", ("app",)),
    ("watch", ("watch",)),
    ("entry", ("cli", "__main__", "")),  # "" is the package's own __init__ (a lazy facade)
]
# Modules over MAX_LINES when the rule came in: each is to be split (issue 19); none may join them.
MAX_LINES = 500
TOO_LONG_STILL: set[str] = set()


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The xlflow modules ``name`` imports when it runs (top-level and inside functions; not those under
    ``if TYPE_CHECKING``)."""
    def resolve(dotted: str) -> str:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    stack = [ast.parse(path.read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if _type_checking(node):
            continue
        if isinstance(node, ast.Import):
            found |= {resolve(a.name.removeprefix("xlflow").lstrip(".")) for a in node.names
                      if a.name.split(".")[0] == "xlflow"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join(["xlflow", *up, *([base] if base else [])])
            if base.split(".")[0] == "xlflow":
                inner = base.removeprefix("xlflow").lstrip(".")
                for alias in node.names:
                    full = f"{inner}.{alias.name}" if inner else alias.name
                    found.add(full if full in known else resolve(inner))
        stack.extend(ast.iter_child_nodes(node))
    found.discard(name)
    return found


def layer_of(name: str) -> int:
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or (prefix and name.startswith(prefix + ".")):
                return i
    raise AssertionError(f"{name or 'xlflow'} is in no layer: add it to LAYERS in tests/test_layers.py")


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    part = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        part.append(w)
                        if w == v:
                            break
                    if len(part) > 1:
                        found.append(sorted(part))
    return found


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{name or 'xlflow'} ({LAYERS[layer_of(name)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})"
              for name, deps in graph().items() for dep in sorted(deps) if layer_of(dep) > layer_of(name)]
    assert upward == []


def test_the_import_reader_sees_imports_inside_functions_and_relative_ones(tmp_path):
    known = {"a": tmp_path / "a.py", "b": tmp_path / "b.py", "c.d": tmp_path / "d.py", "c": tmp_path / "c.py"}
    source = tmp_path / "a.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from xlflow.b import X\n"
                      "def f():\n    from xlflow.c import d\n    import xlflow.b\n")
    assert imports_of("a", source, known) == {"b", "c.d"}


def test_no_module_over_500_lines_but_those_still_to_split():
    lines = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name for name, n in lines.items() if n > MAX_LINES} <= TOO_LONG_STILL, lines
    assert all(lines[name] > MAX_LINES for name in TOO_LONG_STILL), "split: take it off TOO_LONG_STILL"


def test_help_imports_neither_pandas_nor_numpy():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom xlflow.cli import main\n"
            "for args in (['--help'], ['validate', '--help'], ['compare', '--help'], ['ledger', '--help'],"
            " ['watch', '--help']):\n    assert CliRunner().invoke(main, args).exit_code == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'numpy', 'pandera', 'openpyxl'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_registered_kind_has_its_spec_and_its_plug_ins():
    """What a new kind adds (README): its TOML, its checks or its import rows, one Kind in the registry."""
    from xlflow.domain.kinds import REGISTRY, kind_spec, kinds

    assert kinds(template=True) == ("declaration", "adjustment", "identity", "rules")
    assert kinds(checks=True) == ("declaration", "adjustment", "identity") and kinds(flags=True) == ("identity",)
    assert kinds(imported=True) == ("roster", "payments",
                                                                                            "list")
    for name, k in REGISTRY.items():
        assert kind_spec(name).kind == name and k.title == kind_spec(name).title and k.word
        assert callable(k.checker) if k.checks else True
        assert callable(k.row_writer) if k.imported else not k.rows
