"""The import graph of squeeze/, methods/ and judges/ (issue 12, items 1 and 6), read with `ast`.

Three rules, checked on every import statement, including the ones inside functions (a lazy
import hides a cycle from Python but not from a reader):
- no import cycles between modules;
- the stage packages of squeeze/ form layers (LAYERS, lowest first): a package imports only
  packages below it, so the folder list reads as the pipeline and each stage can be tested
  without the ones above it;
- methods/ and judges/ are leaves: they never import squeeze.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("squeeze", "methods", "judges")

# Lowest first. A package may import any package listed before it (and methods/judges), never
# one after it.
LAYERS = (
    "defaults",  # package data: the YAMLs the stages read through squeeze/core/resources.py
    "core",  # types, config, errors, run folders, data loaders, package resources
    "lm",  # loading, saving, GGUF, tiny models, prompting, batching, scoring, generation
    "world",  # the fictitious world
    "metrics",  # conventional metrics (TOFU, MUSE, MCQ, aggregates)
    "original",  # training the original and retain models
    "bins",  # beam-search likelihood bins
    "track",  # the log-prob dynamics tracker (a pure bin scorer, a trainer hook, statistics, plots)
    "unlearn",  # the unlearning trainer (its stage adds the tracker as a hook)
    "attacks",  # attacks that try to bring a forgotten fact back (issue 11); diagnose runs them
    "diagnose",  # judging, verdicts, reports; its attack step runs the attacks (and is `squeeze attack`)
    "calibrate",  # judge and threshold calibration against the world's oracle
    "validate",  # the verdict rule against gold models (squeeze validate)
    "leaderboard",  # tables and figures across runs
    "demo",  # the whole pipeline on the world
    "cli",  # one module per subcommand
)

# Edges and cycles that break a rule today, each with the issue that should remove it; the test
# fails when one is gone, so the lists cannot go stale. Empty since issue 12 moved the attack step
# into diagnose/ (the attacks are a library below it) and diagnose's inputs into diagnose/inputs.py.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()
KNOWN_CYCLES: list[list[str]] = []


def module_files() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    modules = {}
    for top in TOPS:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _owner(name: str, modules) -> str | None:
    """The module of ours that `import name` loads last (a package for a name inside it)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of squeeze/methods/judges it imports anywhere in its file."""
    modules = module_files()
    graph = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(_owner(alias.name, modules) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: strip level - 1 trailing parts of the package
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module
                for alias in node.names:  # `from pkg import module` imports that module
                    full = f"{source}.{alias.name}"
                    targets.add(full if full in modules else _owner(source, modules))
        targets.discard(None)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def stage_of(module: str) -> str | None:
    """`lm` for squeeze.lm.models; None for the squeeze package itself and for methods/judges."""
    parts = module.split(".")
    return parts[1] if parts[0] == "squeeze" and len(parts) > 1 else None


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_graph_sees_real_imports(graph):
    """The parser finds known edges, so the rules below cannot pass on an empty graph."""
    assert "squeeze.lm.gguf" in graph["squeeze.lm.sources"]
    assert "methods" in graph["squeeze.unlearn.trainer"]
    assert "judges.base" in graph["squeeze.core.types"]
    assert len(graph) > 80


def test_cycle_finder_on_a_hand_graph():
    hand = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": set()}
    assert cycles(hand) == [["a", "b", "c"], ["d", "e"]]


def test_no_import_cycles(graph):
    found = cycles(graph)
    assert [c for c in found if c not in KNOWN_CYCLES] == []
    assert [c for c in KNOWN_CYCLES if c not in found] == [], "fixed, remove from KNOWN_CYCLES"


def test_every_stage_package_has_a_layer(graph):
    stages = {stage_of(m) for m in graph} - {None}
    undeclared = sorted(stages - set(LAYERS))
    assert not undeclared, f"declare squeeze.{undeclared[0]} in LAYERS of {Path(__file__).name}"
    loose = sorted(m for m in graph if m.count(".") == 1 and m.startswith("squeeze.") and m.split(".")[1] not in LAYERS)
    assert not loose, f"modules directly under squeeze/ belong in a stage package: {loose}"


def test_no_stage_imports_a_stage_above_it(graph):
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = set()
    for module, targets in graph.items():
        for target in targets:
            here, there = stage_of(module), stage_of(target)
            if here and there and here != there and rank[there] > rank[here]:
                upward.add((module, target))
    assert upward - KNOWN_EXCEPTIONS == set(), "imports that go up the layers of LAYERS"
    assert KNOWN_EXCEPTIONS <= upward, f"fixed, remove from KNOWN_EXCEPTIONS: {sorted(KNOWN_EXCEPTIONS - upward)}"


@pytest.mark.parametrize("leaf", ["methods", "judges"])
def test_leaf_packages_never_import_squeeze(graph, leaf):
    offending = sorted(
        (module, target)
        for module, targets in graph.items()
        if module.split(".")[0] == leaf
        for target in targets
        if target.split(".")[0] == "squeeze"
    )
    assert offending == []


def imported_names(path: Path) -> set[str]:
    """Top-level names of every module that `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_test_module_imports_another():
    """Shared code lives in tests/helpers/ and shared fixtures in tests/conftest.py."""
    tests = ROOT / "tests"
    files = sorted(tests.glob("*.py")) + sorted((tests / "helpers").glob("*.py"))
    offending = {
        str(path.relative_to(tests)): sorted(
            n for n in imported_names(path) if n.startswith("test_") or n == "conftest"
        )
        for path in files
    }
    assert {k: v for k, v in offending.items() if v} == {}
    assert "helpers" in imported_names(tests / "conftest.py")  # the check reads real imports
