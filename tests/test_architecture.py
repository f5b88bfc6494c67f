"""The structure of the package, checked by reading its source (ast; nothing is imported):

- the layer rule of docs/architecture.md: a module imports its own package and the packages to its right;
- no import cycles, counting imports inside functions and under `TYPE_CHECKING` (a type-only cycle
  still means two modules that cannot be read apart: a Protocol on the lower side breaks it);
- docs/architecture.md lists exactly the modules and Lua scripts that exist;
- no Lua script spells a key name: they come from jobs/keys.py through lua/keys.lua.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bench_jobs"
DOC = ROOT / "docs" / "architecture.md"
# Lowest first: a package may import itself and the packages before it in this list.
LAYERS = ("errors", "bench", "jobs", "logs", "worker", "scheduler", "ops", "web", "cli")

# Known breaks of the layer rule: (importer, imported) -> why it is still there. This list may only shrink.
ALLOWED: dict[tuple[str, str], str] = {}
# Known import cycles (each a sorted tuple of the modules in it) -> why. May only shrink.
ALLOWED_CYCLES: dict[tuple[str, ...], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for child in node.body for n in ast.walk(child))
    return inside


def imports_of(name: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, under TYPE_CHECKING) for each bench_jobs import of module `name`."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    only_typing = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # `from bench_jobs.jobs import scripts` imports the module bench_jobs.jobs.scripts
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "bench_jobs" or target.startswith("bench_jobs."):
                found.append((target, node.lineno, id(node) in only_typing))
    return found


def layer(name: str) -> int | None:
    """The rank of a module's package in LAYERS; None for the package root (above every layer)."""
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in ("__main__",):
        return None
    assert parts[1] in LAYERS, f"{name}: package '{parts[1]}' is not in the layer rule (add it to LAYERS and the doc)"
    return LAYERS.index(parts[1])


def test_every_import_follows_the_layer_rule() -> None:
    broken, allowed_seen = [], set()
    for name in MODULES:
        for target, line, _typing in imports_of(name):
            mine, theirs = layer(name), layer(target)
            if theirs is None and target == "bench_jobs" and mine is not None:
                broken.append(f"{MODULES[name].relative_to(ROOT)}:{line}: {name} imports the package root")
            if mine is None or theirs is None or theirs <= mine:
                continue
            if (name, target) in ALLOWED:
                allowed_seen.add((name, target))
                continue
            broken.append(f"{MODULES[name].relative_to(ROOT)}:{line}: {name} ({LAYERS[mine]}) imports "
                          f"{target} ({LAYERS[theirs]}), a higher layer")
    assert not broken, "layer rule " + " → ".join(reversed(LAYERS)) + " broken:\n" + "\n".join(broken)
    assert allowed_seen == set(ALLOWED), f"fixed, remove from ALLOWED: {sorted(set(ALLOWED) - allowed_seen)}"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _line, _typing_only in imports_of(name):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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
                    if len(component) > 1:
                        found.append(tuple(sorted(component)))
    return found


def test_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    found = cycles(_graph())
    unexpected = [c for c in found if c not in ALLOWED_CYCLES]
    assert not unexpected, "import cycles (module- or function-level imports):\n" + "\n".join(
        " <-> ".join(c) for c in unexpected)
    assert set(found) == set(ALLOWED_CYCLES), f"fixed, remove from ALLOWED_CYCLES: {set(ALLOWED_CYCLES) - set(found)}"


def documented_files() -> set[str]:
    """Paths under bench_jobs/ that docs/architecture.md lists: a `### \\`bench_jobs/pkg/\\`` heading,
    then one ``- `name.py` — ...`` line per file."""
    listed, package = set(), None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `(bench_jobs/[\w/]*)`", line)
        if heading:
            package = heading.group(1).rstrip("/")
            continue
        entry = re.match(r"^- `([\w.]+\.(?:py|lua))` — \S", line)
        if entry and package:
            listed.add(f"{package}/{entry.group(1)}")
    return listed


def test_architecture_doc_lists_exactly_the_modules() -> None:
    on_disk = {str(p.relative_to(ROOT)) for p in [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.lua")]}
    listed = documented_files()
    missing, gone = sorted(on_disk - listed), sorted(listed - on_disk)
    assert not missing and not gone, (
        "docs/architecture.md is out of step with bench_jobs/ — under the package's `### \\`bench_jobs/pkg/\\`` "
        "heading, add a line ``- `name.py` — what it holds`` for each new file and drop the lines of removed "
        f"ones.\nnot listed: {missing}\nlisted but absent: {gone}")


def test_architecture_doc_states_the_layer_rule() -> None:
    assert " → ".join(reversed(LAYERS)) in DOC.read_text(encoding="utf-8")


def test_no_lua_script_spells_a_key_name() -> None:
    """Key names come from jobs/keys.py: KEYS and the prefixes lua/keys.lua unpacks."""
    offenders = []
    for path in sorted((PACKAGE / "jobs" / "lua").glob("*.lua")):
        if path.name == "keys.lua":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("--", 1)[0]
            if re.search(r"['\"](rq|bj):", code) or re.search(r"\b(KEYS|ARGV)\b", code):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
