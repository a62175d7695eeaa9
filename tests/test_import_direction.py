"""Imports only point downward: cli → journeys → engine → store/core (docs/architecture.md).

Every module of ``autograder/`` is read with ``ast`` (imports inside functions and under
``TYPE_CHECKING`` count as much as top-level ones: a lazy import is still a dependency),
placed in a layer, and checked:

- no import from a layer to a higher one;
- no cycle between packages (a folder with an ``__init__.py``), whatever their layers,
  nor between modules;
- every module belongs to a layer (a new package must be placed here and in the docs).

The kernel-side files (``engine/kernel/sandbox_files/``) run inside the sandbox and are
never imported by the grader; they are skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "autograder"
TOP = "autograder"

# Lowest first. A module belongs to the unit with the longest matching name; units on one
# line share a layer (and may not import each other: that would be a cycle or a sideways
# dependency, caught below).
LAYERS: list[tuple[str, ...]] = [
    ("autograder.core", "autograder"),        # errors, i18n, paths, config, results...
    ("autograder.moodle", "autograder.datasets"),  # adapters to the outside world
    ("autograder.store",),                    # gradebook, blobs, fingerprint, hand grades
    ("autograder.engine.kernel",),            # a sandboxed kernel and its limits
    ("autograder.engine.bridge",),            # the grader's side of the submission API
    ("autograder.checks",),                   # the assignment authors' API
    ("autograder.engine",),                   # one submission, cells, the batch pool
    ("autograder.intake",),                   # folders and Moodle zips → submissions
    ("autograder.grading",),                  # the grade command's batch, cluster
    ("autograder.service",),                  # the grading service and its client
    ("autograder.authoring",),                # release, validate, calibrate, scaffold
    ("autograder.export",),                   # grades, feedback, reports
    ("autograder.review",),                   # hand grading and its page
    ("autograder.cli", "autograder.__main__"),  # the command line
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
SKIPPED = ("autograder.engine.kernel.sandbox_files",)


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        name, is_package = _module_name(path)
        if not name.startswith(SKIPPED):
            found[name] = (path, is_package)
    return found


def imports_of(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The autograder modules ``name`` imports, anywhere in the file."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == TOP}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != TOP:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    found.discard(name)
    return found


def unit_of(module: str) -> str:
    best = ""
    for unit in RANK:
        if (module == unit or module.startswith(unit + ".")) and len(unit) > len(best):
            best = unit
    return best


def package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, is_package, known)
            for name, (path, is_package) in found.items()}


def test_every_module_has_a_layer() -> None:
    assert all(unit_of(name) for name in graph()), [n for n in graph() if not unit_of(n)]


def test_imports_only_point_downward() -> None:
    upward = []
    for name, targets in graph().items():
        for target in sorted(targets):
            if RANK[unit_of(target)] > RANK[unit_of(name)]:
                upward.append(f"{name} -> {target} ({unit_of(name)} is below "
                              f"{unit_of(target)})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_units_of_one_layer_do_not_import_each_other() -> None:
    sideways = []
    for name, targets in graph().items():
        for target in sorted(targets):
            a, b = unit_of(name), unit_of(target)
            # the top package's face and `python -m autograder` belong to their layer
            faces = {"autograder", "autograder.__main__"}
            if a != b and RANK[a] == RANK[b] and not faces & {a, b}:
                sideways.append(f"{name} -> {target}")
    assert not sideways, "\n".join(sideways)


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of ``edges`` (empty if none)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_no_cycle_between_packages() -> None:
    found = modules()
    edges: dict[str, set[str]] = {}
    for name, targets in graph().items():
        source = package_of(name, found[name][1])
        for target in targets:
            dest = package_of(target, found[target][1]) if target in found else target
            if dest != source and not source.startswith(dest + "."):
                # a package's modules may use its parent package's modules (the parent is
                # the package face, one level up in the same layer or below)
                edges.setdefault(source, set()).add(dest)
    cycle = _cycle(edges)
    assert not cycle, "a cycle between packages: " + " -> ".join(cycle)


def test_no_cycle_between_modules() -> None:
    """Not even inside a package, lazily: a shared piece moves down (``engine/tasks.py``,
    ``intake/items.py``, ``cli/commands/registry.py``, ``core/item_names.py``)."""
    edges = graph()
    known = set(edges)
    cycle = _cycle({name: {t for t in targets if t in known} for name, targets in edges.items()})
    assert not cycle, "a cycle between modules: " + " -> ".join(cycle)


@pytest.mark.parametrize("probe", ["upward", "cycle"])
def test_the_checks_catch_what_they_claim(probe: str) -> None:
    """The direction check sees an import inside a function, and the cycle check a loop."""
    tree = ast.parse("def f():\n    from ..cli import main\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert node.level == 2 and node.module == "cli"
    if probe == "upward":
        assert RANK[unit_of("autograder.cli")] > RANK[unit_of("autograder.engine.pool")]
    else:
        assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
        assert _cycle({"a": {"b"}, "b": {"c"}}) == []
