"""The layers hold: a pure domain at the centre, storage around it, the use cases above
storage, the workers above those, and the entry points (command line, API) on top.

Every import counts, at module level or inside a function, under ``TYPE_CHECKING`` too.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

DOMAIN = ("ledger.domain",)
DOMAIN_MAY_ALSO_IMPORT = ("pydantic",)
STORAGE = ("ledger.store",)
APPLICATION = ("ledger.operations",)
ENTRY_POINTS = ("ledger.cli", "ledger.api")


def _module(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in ("ledger", "workers"):
        for path in (ROOT / folder).rglob("*.py"):
            names: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module)
                    names.update(f"{node.module}.{a.name}" for a in node.names)
                elif isinstance(node, ast.Import):
                    names.update(a.name for a in node.names)
            found[_module(path)] = names
    return found


IMPORTS = _imports()


def _in(name: str, layer: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in layer)


def _ours(name: str) -> bool:
    return name.split(".")[0] in ("ledger", "workers")


def test_the_domain_imports_only_the_standard_library_pydantic_and_itself():
    stdlib = sys.stdlib_module_names
    bad = {
        module: sorted(
            n
            for n in names
            if not _in(n, DOMAIN)
            and n != "ledger"
            and n.split(".")[0] not in stdlib
            and not _in(n, DOMAIN_MAY_ALSO_IMPORT)
        )
        for module, names in IMPORTS.items()
        if _in(module, DOMAIN)
    }
    assert {m: b for m, b in bad.items() if b} == {}


TOP = ("ledger.simulate", "ledger.compare", "ledger.report")


@pytest.mark.parametrize(
    ("layer", "above"),
    [
        (STORAGE, (*APPLICATION, *ENTRY_POINTS, "workers", *TOP, "ledger.views")),
        (APPLICATION, (*ENTRY_POINTS, "workers", *TOP)),
        (("workers",), (*ENTRY_POINTS, *TOP)),
    ],
    ids=["storage", "application", "workers"],
)
def test_a_layer_imports_nothing_above_it(layer, above):
    bad = {
        module: sorted(n for n in names if _in(n, above))
        for module, names in IMPORTS.items()
        if _in(module, layer)
    }
    assert {m: b for m, b in bad.items() if b} == {}


def test_nothing_below_the_entry_points_imports_them():
    bad = {
        module: sorted(n for n in names if _in(n, ENTRY_POINTS))
        for module, names in IMPORTS.items()
        if not _in(module, ENTRY_POINTS)
    }
    assert {m: b for m, b in bad.items() if b} == {}


def test_no_module_imports_itself_back_through_others():
    modules = set(IMPORTS)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {
        m: {r for n in names if _ours(n) and (r := resolve(n)) and r != m}
        for m, names in IMPORTS.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == 1:
                cycles.append([*path[path.index(other) :], other])
            elif other not in state:
                visit(other)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []
