"""The house rules, read off the source (docs/architecture.md, "Layers").

* no import cycle between the package's modules (lazy imports inside functions count, and so do
  imports under ``if TYPE_CHECKING:``);
* a module imports only modules of its own layer or of lower layers;
* the independent checks (volterra_sym/checks) import nothing from the kernel code;
* no module imports another module's private (underscore) names, nor reads them as attributes
  (``obj._name`` where ``_name`` is defined by another module of the package and not by this one);
* ``method`` names are resolved in one place (routes/__init__.py), never compared as strings.

Trusts: Python's ``ast`` module only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "volterra_sym"

#: layer of each module or subpackage, low to high; a module may import its own layer and below
LAYERS: list[tuple[str, ...]] = [
    ("errors", "_version"),
    ("model",),
    ("validate", "limits"),
    ("algebra",),
    ("numerics", "features"),
    ("documents",),
    ("response",),
    ("routes",),
    ("derive",),
    ("workflows", "modelfile", "gallery", "learn", "importers", "plots", "cli", "__main__", "__init__"),
]
#: what the independent checks may import (besides each other)
CHECKS_MAY_IMPORT = {"errors", "_version", "model", "validate", "limits", "checks"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
#: each module parsed once for every rule below
TREES = {m: ast.parse(path.read_text(encoding="utf-8")) for m, path in MODULES.items()}
#: every node of each module, walked once
NODES = {m: list(ast.walk(tree)) for m, tree in TREES.items()}


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """Dotted names (relative to the package) that ``node`` in ``module`` imports."""
    path = MODULES[module]
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if module == "__init__":
        base = []
    if node.level == 0:
        if not (node.module or "").startswith("volterra_sym"):
            return []
        target = (node.module or "").split(".")[1:]
    else:
        up = node.level - 1
        target = (base[: len(base) - up] if up else base) + (node.module.split(".") if node.module else [])
    found = []
    for alias in node.names:
        candidate = ".".join([*target, alias.name])
        found.append(candidate if candidate in MODULES else ".".join(target) or "__init__")
    return found


def _imports(module: str) -> list[tuple[str, int, list[str]]]:
    out = []
    for node in NODES[module]:
        if isinstance(node, ast.ImportFrom):
            out.append((module, node.lineno, _resolve(module, node)))
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and node.level + bool(
                    (node.module or "").startswith("volterra_sym")
                ):
                    out.append((module, node.lineno, [f"PRIVATE:{alias.name}"]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("volterra_sym."):
                    out.append((module, node.lineno, [".".join(alias.name.split(".")[1:])]))
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def _layer(name: str) -> int:
    for i, names in enumerate(LAYERS):
        if _top(name) in names:
            return i
    raise AssertionError(f"module {name!r} has no layer in tests/test_architecture.py: add it to LAYERS")


EDGES = [(src, line, dst) for m in MODULES for src, line, dsts in _imports(m) for dst in dsts]


def test_every_module_has_a_layer():
    for m in MODULES:
        if m != "checks" and not m.startswith("checks."):
            _layer(m)


def test_no_private_names_cross_modules():
    bad = [f"{src}:{line} imports {dst[8:]}" for src, line, dst in EDGES if dst.startswith("PRIVATE:")]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def _private_definitions(nodes: list[ast.AST]) -> set[str]:
    """Underscore names a module defines: functions, classes, assigned names and attributes."""
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
    return {n for n in out if n.startswith("_") and not n.startswith("__")}


def test_no_private_attributes_read_across_modules():
    own = {m: _private_definitions(nodes) for m, nodes in NODES.items()}
    everywhere = set().union(*own.values())
    bad = []
    for m, nodes in NODES.items():
        for node in nodes:
            if not (isinstance(node, ast.Attribute) and node.attr in everywhere) or node.attr in own[m]:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            bad.append(f"{m}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, "private attributes of other modules read:\n" + "\n".join(bad)


def test_lower_layers_never_import_higher_ones():
    bad = []
    for src, line, dst in EDGES:
        if dst.startswith("PRIVATE:") or _top(src) == "checks":
            continue
        if _top(dst) == "checks":
            if _layer(src) < _layer("workflows"):
                bad.append(f"{src}:{line} -> {dst} (only the top layer uses the checks)")
            continue
        if _layer(dst) > _layer(src):
            bad.append(f"{src}:{line} -> {dst}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_checks_import_nothing_from_the_kernel_code():
    bad = [
        f"{src}:{line} -> {dst}"
        for src, line, dst in EDGES
        if _top(src) == "checks" and not dst.startswith("PRIVATE:") and _top(dst) not in CHECKS_MAY_IMPORT
    ]
    assert not bad, "the independent checks import kernel code:\n" + "\n".join(bad)


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def test_no_import_cycles():
    """Any cycle fails. The only edges left out are a package's ``__init__`` importing its own modules
    (re-exports): the package file runs those imports, it is not imported back by them unless a real cycle
    exists, which then shows as an edge from the module to the package."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for src, _line, dst in EDGES:
        if dst not in MODULES or dst == src:
            continue
        if _is_package(src) and (src == "__init__" or dst.startswith(src + ".")):
            continue
        graph[src].add(dst)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(d) :] + [d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_method_names_are_resolved_only_by_the_route_registry():
    """No comparison of a ``method`` variable or attribute with a string outside routes/__init__.py."""
    bad = []
    for m in MODULES:
        if m == "routes":
            continue
        for node in NODES[m]:
            if isinstance(node, ast.Compare):
                names = [node.left, *node.comparators]
                has_method = any(
                    (isinstance(x, ast.Name) and x.id == "method")
                    or (isinstance(x, ast.Attribute) and x.attr == "method")
                    for x in names
                )
                has_str = any(isinstance(x, ast.Constant) and isinstance(x.value, str) for x in names) or any(
                    isinstance(x, (ast.Tuple, ast.List, ast.Set)) for x in names
                )
                if has_method and has_str:
                    bad.append(f"{m}:{node.lineno}")
    assert not bad, "method strings compared outside the route registry: " + ", ".join(bad)


def test_lazy_exports_are_declared_for_type_checkers():
    """Every name of volterra_sym._LAZY is imported under ``if TYPE_CHECKING:`` in __init__.py from the
    module _LAZY loads it from (so mypy and IDEs resolve ``vs.load_model`` and friends), and nothing else."""
    tree = TREES["__init__"]
    lazy: dict[str, str] = {}
    declared: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
                lazy = ast.literal_eval(node.value)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                for alias in imp.names:
                    module = imp.module or alias.name
                    declared[alias.asname or alias.name] = module
    assert lazy, "volterra_sym/__init__.py has no _LAZY table"
    assert declared == lazy


# --------------------------------------------------------------------------- validation in one place (issue 18, item 4)

#: files that still raise ArgumentError / InputError themselves, with how many raises and why; every other file
#: checks its arguments through volterra_sym/validate.py (check_int, check_positive, check_real_in_range,
#: check_choice, check_flag, ...) and words its refusals with validate.refusal(argument, reason, remedy).
#: The counts are exact: a file that gains a raise fails, and so does one that loses one until its entry is
#: lowered (or removed), so this list stays the true list of what is left.
RAISE_ALLOWLIST: dict[str, tuple[int, str]] = {
    # the schema of the routes' options (the other place the issue names)
    "routes/options.py": (4, "the routes' option schema: its own type/range checks of every declared option"),
    "routes/base.py": (3, "the option schema's checks of a call (unknown option, required option, order=None)"),
    "routes/__init__.py": (1, "the route registry's refusal of an unknown method, with its lookalike note"),
    # the limits, stated once: configure() and requests beyond a limit, naming the limit
    "limits.py": (10, "the limits' own refusals (configure(), and requests beyond a limit, naming the limit)"),
    # scikit-learn's conventions: every bad fit/predict argument is an InputError (a ValueError) whose words
    # check_estimator matches ("Complex data not supported", ...); not converted (a later step could move the
    # series/batch parser into validate.py keeping those words)
    "learn/estimators.py": (3, "scikit-learn conventions for X (check_estimator expectations)"),
    "learn/inputs.py": (14, "scikit-learn conventions: series/batch checks of the learn inputs"),
    "learn/readout.py": (13, "scikit-learn conventions: ridge readout checks"),
}


def _argument_raises(tree: ast.AST) -> int:
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            f = node.exc.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            count += name in ("ArgumentError", "InputError")
    return count


def test_argument_errors_are_raised_through_validate():
    """``raise ArgumentError(...)`` / ``raise InputError(...)`` only in validate.py and the allowlist above."""
    found = {}
    for module, path in MODULES.items():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel != "validate.py":
            count = _argument_raises(TREES[module])
            if count:
                found[rel] = count
    extra = {f: c for f, c in found.items() if f not in RAISE_ALLOWLIST}
    assert not extra, (
        "raise ArgumentError/InputError outside validate.py (use a validate.check_* function, or raise "
        f"validate.refusal(argument, reason, remedy)): {extra}"
    )
    wrong = {f: (found.get(f, 0), n) for f, (n, _) in RAISE_ALLOWLIST.items() if found.get(f, 0) != n}
    assert not wrong, f"RAISE_ALLOWLIST counts (found, listed) out of date: {wrong}"
