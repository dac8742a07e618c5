"""The house: imports go downward only, no import circle, every module imports on its own.

The layer table below is the one in docs/architecture.md. Every import is counted:
at module level, inside functions (lazy imports) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "jupyter_agentmem"

# Lowest first. A module may import its own component and any component of a lower
# layer; never a component of its own layer or of a higher one.
LAYERS: list[tuple[str, ...]] = [
    ("types", "runtime"),             # vocabulary; the process-wide objects
    ("changes", "store", "model"),    # change bus | persistence | chat models
    ("memory", "render", "storage", "ranked"),  # memory | showing a reply | names | search()
    ("agent",),                       # one run
    ("notebook", "__main__"),         # magics and panel | the command line
    ("__init__",),                    # the public API (lazy)
]
LAYER_OF = {component: i for i, layer in enumerate(LAYERS) for component in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(module: str, path: Path) -> set[str]:
    """Every jupyter_agentmem module ``module`` imports, anywhere in its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from .x import y`` may import the submodule ``x.y``; ``from .. import
            # changes`` imports the submodule, not what the package's __init__ offers.
            subs = [f"{target}.{alias.name}" for alias in node.names]
            names = subs if all(n in MODULES for n in subs) else [target, *subs]
        else:
            continue
        found |= {n for n in names if n in MODULES}
    return found - {module}


GRAPH = {m: imports_of(m, p) for m, p in MODULES.items()}


def test_every_component_has_a_layer():
    assert {component(m) for m in MODULES} <= set(LAYER_OF), (
        "a new top-level module or package needs a row in LAYERS (and docs/architecture.md)")


def test_imports_go_downward_only():
    upward = []
    for module, targets in GRAPH.items():
        mine = component(module)
        for target in targets:
            theirs = component(target)
            if theirs != mine and LAYER_OF[theirs] >= LAYER_OF[mine]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_circle_even_through_type_hints():
    # Tarjan's strongly connected components: any component of 2+ modules is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            # A package imports its submodules; a submodule reaching back to its own
            # package's __init__ would be a circle, so both directions count.
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                members.append(top)
                if top == node:
                    break
            if len(members) > 1:
                circles.append(sorted(members))

    sys.setrecursionlimit(10_000)
    for module in GRAPH:
        if module not in index:
            visit(module)
    assert circles == []


def _import_alone(module: str) -> tuple[str, int, str]:
    out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                         text=True, timeout=120, cwd=PACKAGE.parent)
    return module, out.returncode, out.stderr[-2000:]


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    importable = [m for m in MODULES if not m.endswith("__main__")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        failed = [r for r in pool.map(_import_alone, importable) if r[1] != 0]
    assert failed == []


@pytest.mark.parametrize("module", ["jupyter_agentmem.agent", "jupyter_agentmem.memory",
                                    "jupyter_agentmem.store", "jupyter_agentmem.model"])
def test_below_the_notebook_nothing_imports_ipython_widgets(module):
    """The agent and its parts run in scripts: no IPython magics, no widgets, no panel."""
    code = (f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith("
            "('IPython.core.magic', 'ipywidgets', 'ipydatagrid', 'jupyter_agentmem.notebook'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]"
