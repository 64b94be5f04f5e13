"""Safe parsing of expression strings into SymPy expressions.

Nothing is ever passed to ``eval``/``sympify``: the string is parsed with
:mod:`ast` and only a whitelist of node types is translated into SymPy calls:
numbers, names (state symbols, declared parameters, ``pi``, ``E``), the
arithmetic operators ``+ - * / **`` (``^`` is accepted as a power), unary
signs, and calls of whitelisted functions (:data:`FUNCTIONS`).  Attribute
access, subscripts, lambdas, comprehensions, strings, keyword arguments,
starred arguments and every other construct are rejected with an
:class:`~volterra_sym.errors.ExpressionError` that names the offending token.

Resource limits keep hostile input from hanging the process: the text is at
most :data:`MAX_LENGTH` characters, exponents are at most :data:`MAX_POWER` in
size, exact numbers at most :data:`MAX_BITS` bits, and nesting deeper than the
interpreter's recursion limit is an error, not a crash.  Every error message
is a single line.
"""

from __future__ import annotations

import ast
import builtins
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping

import sympy as sp

from ..errors import ExpressionError, clip

#: Functions an expression may call, by name.
FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
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

#: Names that may not become symbols: Python builtins (``eval``, ``open``, ...)
#: and SymPy spellings of special values that would silently mean something else.
RESERVED: frozenset[str] = frozenset(n for n in dir(builtins) if n not in FUNCTIONS) | {
    "I",
    "oo",
    "zoo",
    "nan",
    "inf",
    "infinity",
    "lambda",
}

MAX_LENGTH = 10_000
#: the longest number literal (digits), below Python's own int conversion limit
MAX_DIGITS = 4000
#: the deepest nesting of parentheses / runs of consecutive signs an expression may have
MAX_DEPTH = 100
#: exponents beyond this are refused; the same value is volterra_sym.limits.MAX_DEGREE (the highest
#: polynomial degree a derivation accepts), changed together by vs.limits.configure(max_degree=...)
MAX_POWER = 100
MAX_BITS = 20_000
MAX_DECIMAL_EXPONENT = 400

_HINT = "expressions may use numbers, names, + - * / ** and calls such as exp(x)"

#: Readable names of rejected syntax, by ast node type.
_DESCRIPTIONS: dict[str, str] = {
    "IfExp": "conditional expressions (x if c else y) are",
    "BoolOp": "boolean operators (and/or) are",
    "Compare": "comparisons are",
    "ListComp": "comprehensions are",
    "SetComp": "comprehensions are",
    "DictComp": "comprehensions are",
    "GeneratorExp": "generator expressions are",
    "List": "lists are",
    "Tuple": "tuples are",
    "Set": "sets are",
    "Dict": "dicts are",
    "NamedExpr": "assignment expressions (:=) are",
    "JoinedStr": "f-strings are",
    "FormattedValue": "f-strings are",
    "Await": "await is",
    "Yield": "yield is",
    "YieldFrom": "yield is",
    "Starred": "starred expressions are",
    "Slice": "slices are",
}


def _short(text: str, limit: int = 60) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters (always one line)."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def _fail(text: str, where: str, node: ast.AST | None, why: str, hint: str = "") -> ExpressionError:
    col = getattr(node, "col_offset", None)
    token = ""
    if node is not None:
        try:
            token = ast.get_source_segment(text, node) or ""
        except Exception:  # pragma: no cover - defensive
            token = ""
    loc = f" at column {col + 1}" if col is not None else ""
    tok = f" (offending token: {_short(token, 40)})" if token else ""
    tail = f"; {hint}" if hint else ""
    return ExpressionError(f"{where}: {why}{loc}{tok} in {_short(text)}{tail}")


#: letters of other scripts that look like Latin ones (Cyrillic, Greek), mapped to the Latin letter
_HOMOGLYPHS = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u04bb\u0501"
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0406"
    "\u03bf\u03bd\u03b9\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7",
    "aeopcyxijshd" "ABEKMHOPCTXI" "ovi" "ABEZHIKMNOPTYX",
)


def _skeleton(name: str) -> str:
    return unicodedata.normalize("NFKC", name).translate(_HOMOGLYPHS).casefold()


def _code_points(name: str) -> str:
    return " ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, '?')}" for ch in name if ord(ch) > 127) or "ASCII only"


def _char(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, '?')})"


def lookalike_note(name: str, known: Iterable[str]) -> str:
    """For an unknown ``name`` that looks like a known one but differs in its characters (Latin 'a'
    vs Cyrillic 'а', full-width letters, ...): a sentence naming both and their code points; else ''."""
    notes = []
    for other in known:
        if other != name and _skeleton(other) == _skeleton(name):
            diff = [f"{_char(a)} vs {_char(b)}" for a, b in zip(name, other) if a != b]
            same_length = len(name) == len(other)
            detail = "; ".join(diff[:3]) if same_length else f"{_code_points(name)} vs {_code_points(other)}"
            notes.append(f"{clip(name, 30)} looks like the known name {clip(other, 30)} but differs: {detail}")
    return ("; note: " + "; ".join(notes[:2]) + "; retype the name") if notes else ""


def check_name(name: str) -> str | None:
    """Why ``name`` cannot be a symbol name, or ``None`` if it can.

    A symbol name is a Python identifier that does not start with an
    underscore and is neither a function, a constant nor a reserved word.
    """
    if not isinstance(name, str) or not name.isidentifier():
        return f"{clip(name)} is not a valid name (use letters, digits and underscores, starting with a letter)"
    if name.startswith("_"):
        return f"names starting with an underscore are not allowed ({clip(name)})"
    if name in FUNCTIONS:
        return f"{name!r} is the name of a function"
    if name in CONSTANTS:
        return f"{name!r} is a built-in constant"
    if name in RESERVED:
        return f"{name!r} is a reserved name; choose another name"
    return None


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
        The expression, e.g. ``"h1**3 + 2*tanh(w*h2)"``.  Decimal literals
        such as ``0.25`` become exact rationals.
    symbols:
        Known names mapped to the SymPy symbols they stand for.
    where:
        A description of where the text came from, used in error messages
        (e.g. ``"readout"`` or ``"model.toml:7: [model] readout"``).
    allow_new_symbols:
        If true, unknown identifiers become new symbols; otherwise they
        are an error.
    real:
        If true, new symbols are created with ``real=True``.

    Raises
    ------
    ExpressionError
        On any malformed or disallowed input; the message is one line and
        names the offending token.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{where}: expected a string expression, received {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"{where}: expression {_short(text, 20)} is {len(text)} characters long (limit {MAX_LENGTH})"
        )
    if "\x00" in text:
        raise ExpressionError(
            f"{where}: expression contains a NUL character ('\\x00') at position {text.index(chr(0)) + 1}"
        )
    source = text.replace("^", "**").strip()
    if not source:
        raise ExpressionError(f"{where}: empty expression; give e.g. 'h1' or '2*a'")
    digits = max((len(d) for d in re.findall(r"\d+", source)), default=0)
    if digits > MAX_DIGITS:
        raise ExpressionError(
            f"{where}: expression {_short(text, 20)} has a number literal of {digits} digits (the limit is "
            f"{MAX_DIGITS} digits); write large numbers with an exponent, e.g. 1.5e300"
        )
    depth = _nesting(source)
    if depth > MAX_DEPTH:
        raise ExpressionError(
            f"{where}: expression {_short(text, 20)} is nested {depth} levels deep (parentheses or consecutive "
            f"signs; the limit is {MAX_DEPTH}); simplify it or split it into named parameters"
        )
    too_deep = (
        f"{where}: expression {_short(text, 20)} is too deeply nested or too long a chain of operations to parse "
        f"({len(text)} characters; nesting is limited to {MAX_DEPTH} levels, length to {MAX_LENGTH} characters, "
        "and long chains like a+b+c+... to a few hundred terms); split it into named parameters"
    )
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{where}: cannot parse {_short(text)}: {_syntax_detail(source, exc)}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(too_deep) from None
    except ValueError as exc:  # e.g. integer literals too long to convert
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ExpressionError(f"{where}: cannot parse {_short(text)}: {detail[:120]}") from None
    known = dict(symbols or {})
    try:
        result = _Translator(source, where, known, allow_new_symbols, real).visit(tree.body)
    except (RecursionError, MemoryError):
        raise ExpressionError(too_deep) from None
    if not isinstance(result, sp.Expr):  # pragma: no cover - every branch returns an Expr
        raise ExpressionError(f"{where}: {_short(text)} is not an arithmetic expression")
    problem = constant_problem(result)
    if problem:
        raise ExpressionError(f"{where}: {_short(text)}: {problem}")
    return result


#: the largest magnitude of a float64 (constants beyond it would overflow every numeric route)
FLOAT_MAX = 1.7976931348623157e308


def constant_problem(expr: sp.Expr) -> str | None:
    """Why a constant inside ``expr`` is not a usable real number (complex, or too large for
    float64), or ``None``.  Deterministic: constants are evaluated in the canonical argument order."""
    if expr.has(sp.I):
        return "contains the imaginary unit I (a complex number); only real values are allowed"
    stack = [expr]
    while stack:
        node = stack.pop()
        if node.is_Rational or node.is_Symbol or node in (sp.pi, sp.E):
            continue
        if node.is_number:
            text = str(node)
            text = text if len(text) <= 40 else text[:37] + "..."
            try:
                value = node.evalf(20)
                re_part, im_part = value.as_real_imag()
                re_f, im_f = float(re_part), float(im_part)
            except (OverflowError, ValueError, TypeError, ArithmeticError):
                return f"the constant {text} is too large to evaluate (beyond the float64 range, |x| <= 1.8e308)"
            if im_f != 0:
                return (
                    f"the constant {text} is the complex number {complex(re_f, im_f)}; only real values are allowed "
                    "(for a real root of a negative number write e.g. -(8**(1/3)))"
                )
            if not abs(re_f) <= FLOAT_MAX:
                return f"the constant {text} is beyond the float64 range (|x| <= 1.8e308)"
            continue
        stack.extend(reversed([a for a in node.args if isinstance(a, sp.Expr)]))
    return None


def _nesting(source: str) -> int:
    """The deepest nesting of brackets, or the longest run of consecutive unary signs, in ``source``."""
    depth = deepest = run = 0
    for ch in source:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
        if ch in "+-~":
            run += 1
            deepest = max(deepest, run)
        elif not ch.isspace():
            run = 0
    return deepest


def _syntax_detail(source: str, exc: SyntaxError) -> str:
    msg = (exc.msg or "invalid syntax").splitlines()[0]
    offset = exc.offset
    if exc.lineno not in (None, 1) or offset is None:
        return msg
    rest = source[offset - 1 :] if 0 < offset <= len(source) else ""
    match = re.match(r"\w+|\S", rest)
    if match:
        return f"{msg} at column {offset} (offending token: {_short(match.group(0), 40)})"
    tail = re.search(r"(\w+|\S)\s*$", source)
    last = f" after {_short(tail.group(1), 40)}" if tail else ""
    return f"{msg}: unexpected end of expression{last}"


def _bits(expr: sp.Expr) -> int:
    """A size estimate (in bits) of the exact numbers inside ``expr``."""
    total = 0
    for atom in expr.atoms(sp.Rational):
        total += max(int(atom.p).bit_length(), int(atom.q).bit_length())
    return total


class _Translator:
    def __init__(self, text: str, where: str, known: dict[str, sp.Symbol], allow_new: bool, real: bool):
        self.text, self.where, self.known, self.allow_new, self.real = text, where, known, allow_new, real

    def fail(self, node: ast.AST, why: str, hint: str = "") -> ExpressionError:
        return _fail(self.text, self.where, node, why, hint)

    def checked(self, node: ast.AST, value: sp.Expr) -> sp.Expr:
        """Reject undefined values and runaway exact numbers produced by ``node``."""
        if value.has(sp.zoo, sp.oo, sp.nan):
            raise self.fail(node, "the expression is undefined or infinite here (division by zero?)")
        if value.is_number and _bits(value) > MAX_BITS:
            raise self.fail(node, f"number too large (more than {MAX_BITS} bits)")
        for factor in (value, *value.args) if isinstance(value, (sp.Mul, sp.Pow)) else ():
            if isinstance(factor, sp.Pow) and factor.exp.is_Integer and abs(int(factor.exp)) > MAX_POWER:
                raise self.fail(
                    node,
                    f"the power {_short(str(factor), 40)} has an exponent larger than {MAX_POWER} in absolute value",
                )
        return value

    def visit(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.checked(node, self.binop(node))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.visit(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand)
            op = {"Not": "not", "Invert": "~"}.get(type(node.op).__name__, type(node.op).__name__)
            raise self.fail(node, f"operator {op!r} is not allowed", _HINT)
        if isinstance(node, ast.Call):
            return self.checked(node, self.call(node))
        if isinstance(node, ast.Attribute):
            raise self.fail(node, "attribute access is not allowed", _HINT)
        if isinstance(node, ast.Subscript):
            raise self.fail(node, "subscripts are not allowed", _HINT)
        if isinstance(node, ast.Lambda):
            raise self.fail(node, "lambda expressions are not allowed", _HINT)
        kind = _DESCRIPTIONS.get(type(node).__name__, f"{type(node).__name__} is")
        raise self.fail(node, f"{kind} not allowed", _HINT)

    def constant(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = {str: "string", bytes: "bytes", complex: "complex number", bool: "boolean"}.get(
                type(value), type(value).__name__
            )
            raise self.fail(node, f"only real numbers are allowed as constants, not a {kind}")
        if isinstance(value, int):
            if value.bit_length() > MAX_BITS:
                raise self.fail(node, f"number too large (more than {MAX_BITS} bits)")
            return sp.Integer(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(node, "non-finite number (too large for a float)")
        segment = ast.get_source_segment(self.text, node) or repr(value)
        if _is_plain_decimal(segment):
            if abs(_decimal_exponent(segment)) > MAX_DECIMAL_EXPONENT:
                raise self.fail(node, f"decimal exponent beyond +-{MAX_DECIMAL_EXPONENT}")
            return sp.Rational(segment.replace("_", ""))
        return sp.Float(value)

    def name(self, node: ast.Name) -> sp.Expr:
        name = node.id
        if name in self.known:
            return self.known[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise self.fail(node, f"function {name!r} used without arguments; write e.g. {name}(x)")
        problem = check_name(name)
        if problem:
            raise self.fail(node, problem)
        if not self.allow_new:
            names = sorted(self.known)
            known = ", ".join(k if len(k) <= 30 else k[:27] + "..." for k in names[:20])
            if len(names) > 20:
                known += f", ... ({len(names)} names)"
            raise self.fail(
                node,
                f"unknown name {clip(name)}: declare it as a parameter or state symbol (known names: "
                f"{known or 'none'}){lookalike_note(name, names)}",
            )
        sym = sp.Symbol(name, real=True) if self.real else sp.Symbol(name)
        self.known[name] = sym
        return sym

    def binop(self, node: ast.BinOp) -> sp.Expr:
        op = node.op
        if not isinstance(op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            symbol = {
                "FloorDiv": "//",
                "Mod": "%",
                "MatMult": "@",
                "LShift": "<<",
                "RShift": ">>",
                "BitOr": "|",
                "BitAnd": "&",
            }.get(type(op).__name__, type(op).__name__)
            raise self.fail(node, f"operator {symbol!r} is not allowed (use + - * / ** only)")
        left, right = self.visit(node.left), self.visit(node.right)
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
        return self.power(node, left, right)

    def power(self, node: ast.BinOp, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if exponent.is_number:
            try:
                size = abs(complex(exponent.evalf(15)))
            except (TypeError, ValueError, OverflowError):
                size = float("inf")
            if not size <= MAX_POWER:
                raise self.fail(
                    node,
                    f"exponent larger than {MAX_POWER} in absolute value (the limit MAX_DEGREE; "
                    "vs.limits.configure(max_degree=...) raises it)",
                )
            if base.is_number and _bits(base) * size > MAX_BITS:
                raise self.fail(node, f"number too large (more than {MAX_BITS} bits)")
        elif base.is_number and _bits(base) > 64:
            raise self.fail(node, "a large number raised to a symbolic power is not allowed")
        if base == 0 and exponent.is_number and exponent.is_negative:
            raise self.fail(node, "zero raised to a negative power (division by zero)")
        return base**exponent

    def call(self, node: ast.Call) -> sp.Expr:
        func = node.func
        if not isinstance(func, ast.Name):
            raise self.fail(func, "only plain calls of whitelisted functions are allowed")
        if func.id not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise self.fail(func, f"function {func.id!r} is not allowed (allowed: {allowed})")
        if node.keywords:
            raise self.fail(node.keywords[0], "keyword arguments are not allowed")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, "starred arguments are not allowed")
        if len(node.args) != 1:
            raise self.fail(node, f"{func.id} takes exactly one argument, received {len(node.args)}")
        return FUNCTIONS[func.id](self.visit(node.args[0]))


def _is_plain_decimal(segment: str) -> bool:
    """True for literals like ``0.25`` or ``1.5e-3`` that should stay exact rationals."""
    s = segment.lower().replace("_", "")
    if not s or any(ch not in "0123456789.e+-" for ch in s):
        return False
    return len(s.replace(".", "").split("e")[0]) <= 17


def _decimal_exponent(segment: str) -> int:
    """The power-of-ten exponent written in a decimal literal (``1.5e-3`` -> -3)."""
    s = segment.lower().replace("_", "")
    if "e" not in s:
        return 0
    try:
        return int(s.split("e", 1)[1])
    except ValueError:  # pragma: no cover - ast accepted the literal
        return 0
