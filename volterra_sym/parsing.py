"""Safe parsing of expression strings into SymPy expressions.

Nothing is ever passed to ``eval``/``sympify``: the string is parsed with
:mod:`ast` and only a whitelist of node types is translated into SymPy calls:
numbers, names (state symbols, declared parameters, ``pi``, ``E``), the
arithmetic operators ``+ - * / **`` (``^`` is accepted as a power), unary
signs, and calls of whitelisted functions (:data:`FUNCTIONS`).  Attribute
access, subscripts, lambdas, comprehensions, strings, keyword arguments,
starred arguments and every other construct are rejected with an
:class:`~volterra_sym.errors.ExpressionError` that names the offending token.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import sympy as sp

from .errors import ExpressionError

#: Functions an expression may call, by name.
FUNCTIONS: dict[str, object] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "atan": sp.atan,
    "erf": sp.erf,
    "sigmoid": lambda x: 1 / (1 + sp.exp(-x)),
    "abs": sp.Abs,
    "Abs": sp.Abs,
}

#: Named constants.
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E}

MAX_LENGTH = 10_000
MAX_POWER = 1000


def _fail(text: str, where: str, node: ast.AST | None, why: str) -> ExpressionError:
    col = getattr(node, "col_offset", None)
    token = ""
    if node is not None:
        try:
            token = ast.get_source_segment(text, node) or ""
        except Exception:  # pragma: no cover - defensive
            token = ""
    loc = f" at column {col + 1}" if col is not None else ""
    tok = f" (offending token: {token!r})" if token else ""
    return ExpressionError(f"{where}: {why}{loc}{tok} in {text!r}")


def parse_expr(
    text: str,
    symbols: Mapping[str, sp.Symbol] | None = None,
    *,
    where: str = "expression",
    allow_new_symbols: bool = True,
    real: bool = False,
) -> sp.Expr:
    """Parse ``text`` into a SymPy expression without executing any code.

    Parameters
    ----------
    text:
        The expression, e.g. ``"h1**3 + 2*tanh(w*h2)"``.
    symbols:
        Known names mapped to the SymPy symbols they stand for.
    where:
        A description of where the text came from, used in error messages
        (e.g. ``"readout"`` or ``"model.toml line 7"``).
    allow_new_symbols:
        If true, unknown identifiers become new real symbols; otherwise they
        are an error.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{where}: expected a string expression, received {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{where}: expression is {len(text)} characters long (limit {MAX_LENGTH})")
    if "\x00" in text:
        raise ExpressionError(f"{where}: expression contains a NUL character")
    source = text.replace("^", "**").strip()
    if not source:
        raise ExpressionError(f"{where}: empty expression")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{where}: cannot parse {text!r}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"{where}: cannot parse {text!r}: {exc}") from None
    known = dict(symbols or {})
    try:
        return _Translator(source, where, known, allow_new_symbols, real).visit(tree.body)
    except RecursionError:
        raise ExpressionError(f"{where}: expression nested too deeply") from None


class _Translator:
    def __init__(self, text: str, where: str, known: dict[str, sp.Symbol], allow_new: bool, real: bool):
        self.text, self.where, self.known, self.allow_new, self.real = text, where, known, allow_new, real

    def fail(self, node: ast.AST, why: str) -> ExpressionError:
        return _fail(self.text, self.where, node, why)

    def visit(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(node, f"only numbers are allowed as constants, not {type(value).__name__}")
            if isinstance(value, int):
                return sp.Integer(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise self.fail(node, "non-finite number")
            segment = ast.get_source_segment(self.text, node) or repr(value)
            return sp.Rational(segment) if _is_plain_decimal(segment) else sp.Float(value)
        if isinstance(node, ast.Name):
            name = node.id
            if name in self.known:
                return self.known[name]
            if name in CONSTANTS:
                return CONSTANTS[name]
            if name.startswith("_"):
                raise self.fail(node, f"names starting with an underscore are not allowed ({name!r})")
            if name in FUNCTIONS:
                raise self.fail(node, f"function {name!r} used without arguments")
            if not self.allow_new:
                raise self.fail(node, f"unknown name {name!r}: declare it as a parameter or state symbol")
            sym = sp.Symbol(name, real=True) if self.real else sp.Symbol(name)
            self.known[name] = sym
            return sym
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            op = node.op
            if isinstance(op, ast.Add):
                return left + right
            if isinstance(op, ast.Sub):
                return left - right
            if isinstance(op, ast.Mult):
                return left * right
            if isinstance(op, ast.Div):
                if right == 0:
                    raise self.fail(node, "division by zero")
                return left / right
            if isinstance(op, ast.Pow):
                if right.is_number and abs(complex(right)) > MAX_POWER:
                    raise self.fail(node, f"exponent larger than {MAX_POWER}")
                return left**right
            raise self.fail(node, f"operator {type(op).__name__} is not allowed (use + - * / ** only)")
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.USub):
                return -operand
            if isinstance(node.op, ast.UAdd):
                return operand
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name):
                raise self.fail(func, "only plain calls of whitelisted functions are allowed")
            if func.id not in FUNCTIONS:
                allowed = ", ".join(sorted(FUNCTIONS))
                raise self.fail(func, f"function {func.id!r} is not allowed (allowed: {allowed})")
            if node.keywords:
                raise self.fail(node.keywords[0].value, "keyword arguments are not allowed")
            if len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
                raise self.fail(node, f"{func.id} takes exactly one argument")
            return FUNCTIONS[func.id](self.visit(node.args[0]))  # type: ignore[operator]
        if isinstance(node, ast.Attribute):
            raise self.fail(node, "attribute access is not allowed")
        if isinstance(node, ast.Subscript):
            raise self.fail(node, "subscripts are not allowed")
        if isinstance(node, ast.Lambda):
            raise self.fail(node, "lambda expressions are not allowed")
        raise self.fail(node, f"{type(node).__name__} is not allowed in an expression")


def _is_plain_decimal(segment: str) -> bool:
    """True for literals like ``0.25`` or ``1.5e-3`` that should stay exact rationals."""
    s = segment.lower().replace("_", "")
    if not s or any(ch not in "0123456789.e+-" for ch in s):
        return False
    return len(s.replace(".", "").split("e")[0]) <= 17
