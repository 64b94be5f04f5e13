"""No user string is ever executed: every string becomes an expression through the safe parser.

Two guards (issue 24, UNSAFE row):

* a static scan of the package source: ``sympify`` only with ``strict=True`` (which refuses
  strings) outside ``model/parsing.py``; no ``sympy.parsing`` / ``parse_expr`` from SymPy,
  no ``S("...")``, ``eval``, ``exec``, ``compile`` or ``__import__`` anywhere except the one
  listed use (codegen executing the module source it generated itself). A new path from a
  string to ``eval`` fails this test.
* a payload that would set an environment variable if executed, passed to every public entry
  point that takes an expression string: each must refuse it with a project error (or parse
  it as an inert expression) and the variable must stay unset.

Trusts: Python's ``ast`` module only.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym.errors import VolterraError

PACKAGE = Path(vs.__file__).resolve().parent

#: (file relative to the package, builtin) -> why it is safe
ALLOWED_BUILTINS = {
    ("numerics/codegen.py", "exec"): "executes the module source that codegen itself generated from kernels",
    ("numerics/codegen.py", "compile"): "compiles that same generated source",
}
FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "__import__"}
SYMPY_NAMES = {"sp", "sympy"}


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _call_name(node: ast.Call) -> tuple[str | None, str]:
    """(module alias or None, called name) of a call such as sp.sympify(...) or eval(...)."""
    f = node.func
    if isinstance(f, ast.Name):
        return None, f.id
    if isinstance(f, ast.Attribute):
        base = f.value.id if isinstance(f.value, ast.Name) else None
        return base, f.attr
    return None, ""


def _violations(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE).as_posix()
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names]
            module = getattr(node, "module", None) or ""
            if module.startswith("sympy.parsing") or any(n.startswith("sympy.parsing") for n in names):
                out.append(f"{rel}:{node.lineno}: imports sympy.parsing")
            if module.startswith("sympy") and "sympify" in names and rel != "model/parsing.py":
                out.append(f"{rel}:{node.lineno}: imports sympify by name (call sp.sympify(..., strict=True))")
        if not isinstance(node, ast.Call):
            continue
        base, name = _call_name(node)
        if name == "sympify" and rel != "model/parsing.py":
            strict = [k for k in node.keywords if k.arg == "strict"]
            if not (strict and isinstance(strict[0].value, ast.Constant) and strict[0].value.value is True):
                out.append(f"{rel}:{node.lineno}: sympify without strict=True (use model.parsing.as_expression)")
        if name == "S" and base in SYMPY_NAMES and node.args:
            out.append(f"{rel}:{node.lineno}: sp.S(...) sympifies strings; use as_expression")
        if name == "parse_expr" and base in SYMPY_NAMES:
            out.append(f"{rel}:{node.lineno}: SymPy's parse_expr evaluates strings")
        if base is None and name in FORBIDDEN_BUILTINS and (rel, name) not in ALLOWED_BUILTINS:
            out.append(f"{rel}:{node.lineno}: calls {name}()")
    return out


def test_no_path_from_a_string_to_eval() -> None:
    problems = [v for path in _package_files() for v in _violations(path)]
    assert not problems, "\n".join(problems)


def test_the_scan_catches_each_kind_of_path(tmp_path: Path) -> None:
    """The scanner is not vacuous: each forbidden pattern in a planted file is reported."""
    planted = PACKAGE / "_planted_for_test.py"
    source = (
        "import sympy as sp\nfrom sympy.parsing.sympy_parser import parse_expr\n"
        "def f(x):\n    sp.sympify(x)\n    sp.S(x)\n    eval(x)\n    __import__(x)\n    sp.sympify(x, strict=True)\n"
    )
    planted.write_text(source)
    try:
        found = _violations(planted)
    finally:
        planted.unlink()
    kinds = " ".join(found)
    for word in ("sympy.parsing", "without strict", "sp.S(", "eval()", "__import__()"):
        assert word in kinds, (word, found)
    assert len(found) == 5  # the strict call is fine


PAYLOAD = "__import__('os').environ.__setitem__('VOLTERRA_SYM_PWNED', '1')"


def _model(readout: object = "h1") -> vs.Diffusion:
    return vs.SRNN(1, 0.5, C=[1], sigma=0.5, activation="identity", readout=readout)


def _entry_points() -> list[tuple[str, object]]:
    import importlib

    rf = importlib.import_module("volterra_sym.features.response_feature")

    cases: list[tuple[str, object]] = [
        ("parse_expr", lambda: vs.parse_expr(PAYLOAD)),
        ("SRNN readout", lambda: _model(PAYLOAD)),
        ("SRNN W", lambda: vs.SRNN(1, PAYLOAD, C=[1], sigma=0.5, readout="h1")),
        ("OU params value", lambda: vs.OU("a", [1], 0.5, readout="h1", params={"a": PAYLOAD})),
        ("Diffusion drift", lambda: vs.Diffusion(["h1"], [PAYLOAD], [[1]], [[1]], "h1")),
        ("expectation g", lambda: vs.expectation(_model(), PAYLOAD)),
        ("replace readout", lambda: _model().replace(readout=PAYLOAD)),
        ("feature taylor value", lambda: rf.feature_coefficients(lambda p: PAYLOAD, 1, 1)),
        ("predict_features mean0", lambda: rf.predict_features(
            lambda p: 1.0, PAYLOAD, np.zeros((5, 1)), np.linspace(0, 1, 5), 1, 1)),
    ]
    try:
        from volterra_sym.learn import ReadoutRegression
    except ImportError:  # the learn extra is optional locally
        return cases
    t = np.linspace(0, 1, 11)
    X = np.zeros((2, 11))
    y = np.zeros(2)
    cases.append(("ReadoutRegression readouts", lambda: ReadoutRegression(_model(), [PAYLOAD], t=t).fit(X, y)))
    return cases


@pytest.mark.parametrize("name, call", _entry_points(), ids=[c[0] for c in _entry_points()])
def test_payload_is_never_executed(name: str, call: object) -> None:
    os.environ.pop("VOLTERRA_SYM_PWNED", None)
    try:
        call()  # type: ignore[operator]
    except (VolterraError, TypeError, ValueError):
        pass  # refused (a project error; scikit-learn's conventions are ValueError/TypeError)
    assert "VOLTERRA_SYM_PWNED" not in os.environ, f"{name} executed a string"
