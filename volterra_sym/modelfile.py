"""Model files: a TOML description of a model (and optionally a verification run).

    [model]
    kind = "OU"                 # "OU" | "SRNN" | "diffusion"
    A = "a"                     # matrices: numbers, expression strings, nested arrays
    C = "c"
    sigma = "s"
    readout = "h1**3"

    [parameters]
    a = 1.0                     # a symbol with a numeric value
    s = "symbol"                # a symbol without a value

The full format is documented in ``docs/model_files.md``.  Every expression
string goes through :func:`volterra_sym.model.parsing.parse_expr` with
``allow_new_symbols=False``: nothing in a file can run Python, and a name that
is neither a state variable nor a declared parameter is an error.  Every error
is a :class:`~volterra_sym.errors.ModelError` (or its sibling
:class:`~volterra_sym.errors.ExpressionError`) whose one-line message starts
with ``FILE:LINE:`` and names the table, the key and the offending token.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from . import limits
from .errors import ExpressionError, ModelError, VolterraError, clip
from .model import diffusion as vs
from .model.parsing import check_name, lookalike_note, parse_expr
from .routes import ROUTES

__all__ = ["RunSpec", "load_model", "load_run", "loads_model", "loads_run"]

#: The symbol standing for time in ``[input]`` expressions.
TIME = sp.Symbol("t", real=True)


_TABLES: dict[str, tuple[str, ...]] = {
    "model": (),  # keys depend on the kind, see _MODEL_KEYS
    "parameters": (),  # any declared name
    "initial": ("kind", "x0", "mean", "cov"),
    "input": ("expr",),
    "grid": ("t_end", "points"),
    "derive": ("order", "method"),  # plus every route option a file may set (_file_options)
}
_COMMON_KEYS = ("kind", "name", "state", "readout")
_MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "ou": _COMMON_KEYS + ("A", "c", "C", "sigma"),
    "srnn": _COMMON_KEYS + ("Gamma", "W", "b", "C", "sigma", "activation", "input"),
    "diffusion": _COMMON_KEYS + ("drift", "diffusion", "coupling"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "ou": ("A", "C", "sigma", "readout"),
    "srnn": ("Gamma", "W", "C", "sigma", "readout"),
    "diffusion": ("state", "drift", "diffusion", "coupling", "readout"),
}
_ACTIVATIONS = ("identity", "tanh", "sigmoid")


def _input_names(m: int) -> dict[str, sp.Symbol]:
    """u1..um by name (to read the coupling's width before knowing m)."""
    return {s.name: s for s in vs.input_symbols(m)}


# --------------------------------------------------------------------------- result type


@dataclass(frozen=True)
class RunSpec:
    """A model file's model plus its optional verification and derivation settings.

    Attributes
    ----------
    model : the :class:`~volterra_sym.model.Diffusion`.
    inputs : one SymPy expression in ``t`` (:data:`TIME`) per input channel, or ``None``.
    t_end, points : the time grid ``linspace(0, t_end, points)``, or ``None``.
    order, method, lag_degree, degree : settings from ``[derive]`` (``None`` when absent; ``lag_degree``
        is read by the Taylor route, ``degree`` by the Galerkin route).
    options : every route option ``[derive]`` sets (``lag_degree``, ``degree``, ``dps``, ``tol``, ...), checked
        by the routes' schemas (:class:`~volterra_sym.routes.options.Option`); each route reads those it takes.
    source : the file name (or ``"<string>"``).
    """

    model: vs.Diffusion
    inputs: tuple[sp.Expr, ...] | None = None
    t_end: float | None = None
    points: int | None = None
    order: int | None = None
    method: str | None = None
    lag_degree: int | None = None
    source: str = "<string>"
    degree: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_verification(self) -> bool:
        """True when the file gives both an ``[input]`` and a ``[grid]``."""
        return self.inputs is not None and self.t_end is not None

    def override(
        self, inputs: list[str] | None = None, t_end: float | None = None, points: int | None = None
    ) -> RunSpec:
        """A copy with the input expressions (strings in ``t``) and/or the grid replaced."""
        changes: dict[str, Any] = {}
        if inputs:
            if len(inputs) != self.model.m:
                raise ModelError(
                    f"--input: the model has {self.model.m} input channel(s), received {len(inputs)} expression(s)"
                )
            known = {s.name: s for s in self.model.params} | {"t": TIME}
            exprs = [parse_expr(e, known, where="--input", allow_new_symbols=False) for e in inputs]
            changes["inputs"] = tuple(e.xreplace(self.model.params) for e in exprs)
        if t_end is not None or points is not None:
            changes["t_end"] = float(t_end if t_end is not None else self.t_end if self.t_end is not None else 10.0)
            changes["points"] = int(points if points is not None else self.points if self.points is not None else 201)
        return replace(self, **changes)

    def time_grid(self) -> np.ndarray:
        """The grid ``linspace(0, t_end, points)`` of ``[grid]``."""
        if self.t_end is None or self.points is None:
            raise ModelError(f"{self.source}: no [grid] table; add one with t_end = 10.0 and points = 201")
        limits.check_grid_points(self.points, "points")  # before allocating the grid
        return np.linspace(0.0, self.t_end, self.points)

    def input_values(self, t: np.ndarray | None = None) -> np.ndarray:
        """The input sampled on ``t`` (default: :meth:`time_grid`), shape ``(len(t), m)``."""
        if self.inputs is None:
            raise ModelError(f'{self.source}: no [input] table; add one with expr = "sin(t)"')
        grid = self.time_grid() if t is None else np.asarray(t, dtype=float)
        columns = []
        for expr in self.inputs:
            fn = sp.lambdify(TIME, expr, modules="numpy")
            columns.append(np.broadcast_to(np.asarray(fn(grid), dtype=float), grid.shape))
        return np.stack(columns, axis=-1)


# --------------------------------------------------------------------------- entry points


def load_model(path: str | Path) -> vs.Diffusion:
    """Read a model file (TOML) and return the model it describes."""
    return load_run(path).model


def loads_model(text: str, source: str = "<string>") -> vs.Diffusion:
    """Parse the text of a model file; ``source`` names it in error messages."""
    return loads_run(text, source).model


def load_run(path: str | Path) -> RunSpec:
    """Read a model file; return the model with its ``[input]``, ``[grid]`` and ``[derive]`` settings."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limits.MAX_MODEL_FILE_BYTES:
            raise ModelError(
                f"{p}: model file is {size} bytes (limit MAX_MODEL_FILE_BYTES = {limits.MAX_MODEL_FILE_BYTES}); is "
                "this the right file?"
            )
        data = p.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{p}: no such model file; check the path") from None
    except IsADirectoryError:
        raise ModelError(f"{p}: is a directory, not a model file") from None
    except OSError as exc:
        raise ModelError(f"{p}: cannot read the model file ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{p}: not a UTF-8 text file (bad byte at offset {exc.start}); save it as UTF-8") from None
    return loads_run(text, str(p))


def loads_run(text: str, source: str = "<string>") -> RunSpec:
    """Like :func:`load_run` for the text of a model file."""
    if not isinstance(text, str):
        raise ModelError(f"{source}: expected the text of a model file, received {type(text).__name__}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc).splitlines()[0]
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = m.group(1) if m else "?"
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", f" at column {m.group(2)}" if m else "", msg)
        msg += _non_ascii_hint(text, int(line) if line != "?" else None)
        raise ModelError(f"{source}:{line}: invalid TOML: {msg}; see docs/model_files.md for the format") from None
    except (RecursionError, MemoryError):  # absurdly deep arrays or inline tables
        raise ModelError(
            f"{source}: arrays or inline tables are nested too deeply to read (a matrix is an array of rows: "
            "two levels); simplify the file"
        ) from None
    except ValueError as exc:  # e.g. integers too long to convert
        detail = " ".join(str(exc).split()[:8]) or type(exc).__name__
        raise ModelError(f"{source}: cannot read a value of this TOML ({detail}); simplify the file") from None
    try:
        return _Loader(text, source, doc).run()
    except RecursionError:
        raise ModelError(f"{source}: arrays nested too deeply; a matrix is an array of rows") from None


def _non_ascii_hint(text: str, line: int | None) -> str:
    """Why a line with non-ASCII characters may not parse (a Cyrillic 'а' looks like a Latin 'a')."""
    if line is None:
        return ""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    odd = [ch for ch in lines[line - 1].split("=", 1)[0] if ord(ch) > 127 and not ch.isspace()]
    if not odd:
        return ""
    names = ", ".join(f"{ch!r} U+{ord(ch):04X} {unicodedata.name(ch, '?')}" for ch in dict.fromkeys(odd))
    return (
        f" (the line has non-ASCII character(s) {names}: TOML bare keys are ASCII letters, digits, _ and -; "
        "a lookalike letter from another script, e.g. Cyrillic, is not the Latin one)"
    )


# --------------------------------------------------------------------------- line lookup


class _Lines:
    """Finds the line of a key or a value in the TOML text (a good-enough search)."""

    _HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.tables: list[tuple[int, str]] = []  # (line index, table name)
        for i, line in enumerate(self.lines):
            m = self._HEADER.match(line)
            if m:
                self.tables.append((i, m.group(1).strip().strip("\"'")))

    def _span(self, table: str) -> tuple[int, int] | None:
        """(header line index, end index) of ``[table]``; the top level has header index -1."""
        if table == "":
            return -1, self.tables[0][0] if self.tables else len(self.lines)
        for j, (start, name) in enumerate(self.tables):
            if name == table:
                end = self.tables[j + 1][0] if j + 1 < len(self.tables) else len(self.lines)
                return start, end
        return None

    def table(self, table: str) -> int | None:
        span = self._span(table)
        return span[0] + 1 if span and span[0] >= 0 else None

    def key(self, table: str, key: str) -> int | None:
        """1-based line of ``key = ...`` inside ``[table]`` (or the table header)."""
        span = self._span(table)
        if span is None:
            return None
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(span[0] + 1, span[1]):
            if pattern.match(self.lines[i]):
                return i + 1
        return span[0] + 1 if span[0] >= 0 else None

    def value(self, table: str, key: str, token: str) -> int | None:
        """1-based line where ``token`` appears in the value of ``key`` (or the key's line)."""
        start = self.key(table, key)
        span = self._span(table)
        if start is None or span is None:
            return start
        quoted = (f'"{token}"', f"'{token}'")
        for i in range(start - 1, span[1]):
            if token and any(q in self.lines[i] for q in quoted):
                return i + 1
            if i > start - 1 and re.match(r"^\s*[\"']?[A-Za-z_][\w\-]*[\"']?\s*=", self.lines[i]):
                break
        return start


# --------------------------------------------------------------------------- the loader


class _Loader:
    def __init__(self, text: str, source: str, doc: dict[str, Any]):
        self.source, self.doc, self.lines = source, doc, _Lines(text)
        self.params: dict[str, sp.Symbol] = {}
        self.values: dict[sp.Symbol, sp.Expr] = {}
        self.state: tuple[sp.Symbol, ...] = ()

    # ---- error helpers --------------------------------------------------------------
    def where(self, table: str, key: str | None = None, index: str = "", token: str = "") -> str:
        if key is None:
            line = self.lines.table(table)
            label = f"[{table}]"
        else:
            line = self.lines.value(table, key, token) if token else self.lines.key(table, key)
            label = f"[{table}] {key}{index}"
        return f"{self.source}:{line if line is not None else '?'}: {label}"

    def error(self, table: str, key: str | None, message: str, index: str = "", token: str = "") -> ModelError:
        return ModelError(f"{self.where(table, key, index, token)}: {message}")

    # ---- top level ------------------------------------------------------------------
    def run(self) -> RunSpec:
        for name, value in self.doc.items():
            if name not in _TABLES:
                line = self.lines.table(name) or self.lines.key("", name) or "?"
                raise ModelError(
                    f"{self.source}:{line}: unknown table or key {clip(name)}; "
                    f"allowed tables: {', '.join('[' + t + ']' for t in _TABLES)}{lookalike_note(name, _TABLES)}"
                )
            if not isinstance(value, dict):
                raise ModelError(
                    f"{self.source}:{self.lines.key('', name) or '?'}: {name!r} must be a table; "
                    f"write it as a [{name}] section"
                )
        for name, keys in _TABLES.items():
            if name == "derive":
                keys = keys + tuple(_file_options())
            if keys and name in self.doc:
                self.check_keys(name, self.doc[name], keys)
        if "model" not in self.doc:
            raise ModelError(f"{self.source}:1: no [model] table; a model file needs one (see docs/model_files.md)")
        self.declare_parameters(self.doc.get("parameters", {}))
        model = self.build_model(self.doc["model"])
        inputs = self.read_inputs(model) if "input" in self.doc else None
        t_end, points = self.read_grid() if "grid" in self.doc else (None, None)
        order, method, options = self.read_derive() if "derive" in self.doc else (None, None, {})
        lag, degree = options.get("lag_degree"), options.get("degree")
        return RunSpec(model, inputs, t_end, points, order, method, lag, self.source, degree, options)

    def check_keys(self, table: str, content: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for key in content:
            if key not in allowed:
                raise self.error(
                    table,
                    key,
                    f"unknown key {clip(key)}; allowed keys in [{table}]: {', '.join(allowed)}"
                    + lookalike_note(key, allowed),
                )

    # ---- [parameters] ---------------------------------------------------------------
    def declare_parameters(self, table: Mapping[str, Any]) -> None:
        for name, spec in table.items():
            problem = check_name(name)
            if problem is None and name == "t":
                problem = "'t' is reserved for time in [input] expressions"
            if problem:
                raise self.error("parameters", name, f"cannot declare this parameter: {problem}")
            positive = False
            value: Any = spec
            if isinstance(spec, dict):
                for k in spec:
                    if k not in ("value", "positive"):
                        raise self.error(
                            "parameters", name, f"unknown field {k!r}; use {{ value = 1.0, positive = true }}"
                        )
                positive = spec.get("positive", False)
                if not isinstance(positive, bool):
                    raise self.error("parameters", name, f"positive must be true or false, received {positive!r}")
                value = spec.get("value", "symbol")
            sym = sp.Symbol(name, positive=True) if positive else sp.Symbol(name)
            if isinstance(value, str) and value.strip() in ("symbol", "positive"):
                if value.strip() == "positive":
                    sym = sp.Symbol(name, positive=True)
                self.params[name] = sym
                continue
            number = self.number(value, "parameters", name)
            if positive and not number > 0:
                raise self.error("parameters", name, f"declared positive but its value is {number}")
            self.params[name] = sym
            self.values[sym] = number

    def number(self, value: Any, table: str, key: str, index: str = "") -> sp.Expr:
        """A numeric value (number or constant expression string), exact where possible."""
        expr = self.entry(value, table, key, index, symbols={})
        if expr.free_symbols:
            raise self.error(table, key, f"expected a number, received {expr}", index)
        return expr

    # ---- entries and matrices -------------------------------------------------------
    def entry(
        self, value: Any, table: str, key: str, index: str = "", symbols: Mapping[str, sp.Symbol] | None = None
    ) -> sp.Expr:
        """One matrix entry: an int, a float (kept as an exact decimal) or an expression string."""
        if isinstance(value, bool):
            raise self.error(table, key, f"expected a number or an expression string, received {value!r}", index)
        if isinstance(value, int):
            return sp.Integer(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.error(table, key, f"received the non-finite number {value}; give a finite value", index)
            return self.parse(repr(value), {}, table, key, index)
        if isinstance(value, str):
            if "\n" in value:
                where = self.where(table, key, index, token=value.splitlines()[0])
                raise ExpressionError(f"{where}: expression strings must be on one line, received {value[:40]!r}")
            return self.parse(value, self.params if symbols is None else symbols, table, key, index)
        kind = type(value).__name__
        raise self.error(table, key, f"expected a number or an expression string, received a {kind}", index)

    def parse(self, text: str, symbols: Mapping[str, sp.Symbol], table: str, key: str, index: str) -> sp.Expr:
        """Parse an expression string; the location is looked up only when there is an error."""
        try:
            return parse_expr(text, symbols, where="@", allow_new_symbols=False)
        except ExpressionError as exc:
            where = self.where(table, key, index, token=text if len(text) < 200 else "")
            raise ExpressionError(where + str(exc)[1:]) from None

    def matrix(self, value: Any, table: str, key: str, symbols: Mapping[str, sp.Symbol] | None = None) -> sp.Matrix:
        """A scalar (1 x 1), a flat array (a column) or a nested array (rows) of entries."""
        if isinstance(value, dict):
            raise self.error(table, key, "expected a number, an expression string or an array, received a table")
        if not isinstance(value, list):
            return sp.Matrix([[self.entry(value, table, key, "", symbols)]])
        if not value:
            raise self.error(table, key, "received an empty array")
        if all(not isinstance(row, list) for row in value):
            return sp.Matrix([[self.entry(x, table, key, f"[{i}]", symbols)] for i, x in enumerate(value)])
        if not all(isinstance(row, list) for row in value):
            raise self.error(table, key, "mixes numbers and rows; write either a flat array or an array of rows")
        width = len(value[0])
        rows = []
        for i, row in enumerate(value):
            if len(row) != width or not row:
                raise self.error(
                    table, key, f"ragged rows: row 0 has {width} entries, row {i} has {len(row)}; rows must match"
                )
            if any(isinstance(x, list) for x in row):
                raise self.error(table, key, f"row {i} is nested too deeply; a matrix is an array of rows")
            rows.append([self.entry(x, table, key, f"[{i}][{j}]", symbols) for j, x in enumerate(row)])
        return sp.Matrix(rows)

    # ---- [model] --------------------------------------------------------------------
    def build_model(self, table: Mapping[str, Any]) -> vs.Diffusion:
        kind_raw = table.get("kind")
        if not isinstance(kind_raw, str) or kind_raw.lower() not in _MODEL_KEYS:
            raise self.error(
                "model",
                "kind" if "kind" in table else None,
                f"kind must be 'OU', 'SRNN' or 'diffusion', received {kind_raw!r}",
            )
        kind = kind_raw.lower()
        self.check_keys("model", table, _MODEL_KEYS[kind])
        for key in _REQUIRED[kind]:
            if key not in table:
                raise self.error("model", None, f"kind = {kind_raw!r} needs the key {key!r}; see docs/model_files.md")
        name = table.get("name", Path(self.source).stem if not self.source.startswith("<") else "model")
        if not isinstance(name, str):
            raise self.error("model", "name", f"expected a string, received {name!r}")
        state = self.read_state(table) if "state" in table else None
        try:
            if kind == "diffusion":
                model = self.build_diffusion(table, name)
            else:
                model = self.build_linear_family(kind, table, name, state)
        except VolterraError as exc:
            if str(exc).startswith(self.source + ":"):
                raise
            raise self.located(exc) from None
        model.meta["source"] = self.source
        return model

    def located(self, exc: VolterraError) -> VolterraError:
        """Add ``FILE:LINE: [model] key`` to an error raised by a model constructor."""
        msg = str(exc)
        key = re.split(r"[\[(:]", msg, maxsplit=1)[0].strip()
        table = "model"
        if key == "initial" or key.startswith(("Gaussian", "PointMass")):
            table = "initial"
        elif key == "params":
            table = "parameters"
        line = self.lines.key(table, key) if key in self.doc.get(table, {}) else self.lines.table(table)
        return type(exc)(f"{self.source}:{line if line is not None else '?'}: [{table}] {msg}")

    def read_state(self, table: Mapping[str, Any]) -> tuple[sp.Symbol, ...]:
        raw = table["state"]
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise self.error("model", "state", f'expected an array of names like ["h1", "h2"], received {raw!r}')
        out: list[sp.Symbol] = []
        for i, name in enumerate(raw):
            problem = check_name(name) if isinstance(name, str) else f"{name!r} is not a string"
            if problem is None and name == "t":
                problem = "'t' is reserved for time in [input] expressions"
            if problem is None and name in self.params:
                problem = f"{name!r} is also declared in [parameters]"
            if problem is None and name in [s.name for s in out]:
                problem = f"{name!r} appears twice"
            if problem:
                raise self.error("model", "state", f"bad state name: {problem}", f"[{i}]", token=str(name))
            out.append(sp.Symbol(name))
        self.state = tuple(out)
        return self.state

    def with_state(self) -> dict[str, sp.Symbol]:
        return {**self.params, **{s.name: s for s in self.state}}

    def readout(self, table: Mapping[str, Any]) -> sp.Expr | list[sp.Expr]:
        raw = table["readout"]
        symbols = self.with_state()
        if isinstance(raw, list):
            if not raw or any(isinstance(x, list) for x in raw):
                raise self.error("model", "readout", 'expected an expression or a flat array like ["h1", "h2**2"]')
            return [self.entry(x, "model", "readout", f"[{i}]", symbols) for i, x in enumerate(raw)]
        return self.entry(raw, "model", "readout", "", symbols)

    def build_linear_family(
        self, kind: str, table: Mapping[str, Any], name: str, state: tuple[sp.Symbol, ...] | None
    ) -> vs.Diffusion:
        skip = (*_COMMON_KEYS, "activation", "input")
        keys = [k for k in _MODEL_KEYS[kind] if k in table and k not in skip]
        mats = {k: self.matrix(table[k], "model", k) for k in keys}
        if state is None:
            n = next((m.rows for m in mats.values() if m.shape != (1, 1)), 1)
            self.state = vs.default_state(n)
        raw_sigma = table.get("sigma")
        n_state = len(self.state) if self.state is not None else 1
        if isinstance(raw_sigma, list) and n_state > 1 and not any(isinstance(x, list) for x in raw_sigma):
            raise self.error(
                "model",
                "sigma",
                f"a flat array of {len(raw_sigma)} amplitudes for {n_state} state variables would be one Brownian "
                f"motion driving all of them ({n_state} x 1); give the {n_state} x r matrix: independent noises as a "
                f"diagonal [[a, 0, ...], [0, b, ...], ...], one common noise as [[a], [b], ...]",
            )
        initial = self.read_initial()
        readout = self.readout(table)
        declared = {sym: None for sym in self.params.values() if sym not in self.values}
        common: dict[str, Any] = dict(
            readout=readout, initial=initial, params={**declared, **self.values}, state=self.state, name=name
        )
        if kind == "ou":
            return vs.OU(mats["A"], mats["C"], mats["sigma"], mats.get("c"), **common)
        activation = table.get("activation", "identity")
        if not isinstance(activation, str) or activation.lower() not in _ACTIVATIONS:
            raise self.error(
                "model", "activation", f"expected one of {', '.join(_ACTIVATIONS)}, received {activation!r}"
            )
        where = table.get("input", "outside")
        if where not in ("outside", "inside"):
            raise self.error("model", "input", f"expected 'outside' or 'inside', received {where!r}")
        return vs.SRNN(
            mats["Gamma"], mats["W"], mats.get("b"), mats["C"], mats["sigma"], activation.lower(), input=where, **common
        )

    def build_diffusion(self, table: Mapping[str, Any], name: str) -> vs.Diffusion:
        symbols = self.with_state()
        # the coupling's columns declare the inputs u1..um, which the drift and the coupling may use
        # (MATH.md section 11); an undeclared u_k is an unknown name, refused where it is written
        width = self.matrix(table["coupling"], "model", "coupling", {**symbols, **_input_names(32)}).cols
        with_inputs = {**symbols, **{s.name: s for s in vs.input_symbols(width)}}
        coupling = self.matrix(table["coupling"], "model", "coupling", with_inputs)
        drift = self.matrix(table["drift"], "model", "drift", with_inputs)
        diffusion = self.matrix(table["diffusion"], "model", "diffusion", symbols)
        initial = self.read_initial()
        return vs.Diffusion(
            self.state, drift, diffusion, coupling, self.readout(table), initial, self.values, name=name
        )

    # ---- [initial] ------------------------------------------------------------------
    def read_initial(self) -> vs.InitialLaw:
        table = self.doc.get("initial")
        if table is None:
            return vs.Stationary()
        kind = table.get("kind", "stationary")
        if not isinstance(kind, str) or kind.lower() not in ("stationary", "point", "gaussian"):
            raise self.error("initial", "kind", f"expected 'stationary', 'point' or 'gaussian', received {kind!r}")
        kind = kind.lower()
        needed = {"stationary": (), "point": ("x0",), "gaussian": ("mean", "cov")}[kind]
        for key in ("x0", "mean", "cov"):
            if key in table and key not in needed:
                raise self.error("initial", key, f"is not used with kind = {kind!r}; remove it or change the kind")
        for key in needed:
            if key not in table:
                raise self.error("initial", None, f"kind = {kind!r} needs the key {key!r}")
        n = len(self.state)
        try:
            if kind == "point":
                x0 = self.vector(table["x0"], "initial", "x0", n)
                return vs.PointMass(x0)
            if kind == "gaussian":
                mean = self.vector(table["mean"], "initial", "mean", n)
                cov = self.matrix(table["cov"], "initial", "cov")
                if cov.shape == (1, 1) and n > 1:
                    raise self.error("initial", "cov", f"expected a {n} x {n} matrix, received a scalar")
                return vs.Gaussian(mean, cov)
        except ModelError as exc:
            if str(exc).startswith(self.source + ":"):
                raise
            raise self.error("initial", needed[-1], str(exc).split(": ", 1)[-1]) from None
        return vs.Stationary()

    def vector(self, value: Any, table: str, key: str, n: int) -> sp.Matrix:
        vec = self.matrix(value, table, key)
        if vec.cols != 1 and vec.rows == 1:
            vec = vec.T
        if vec.shape != (n, 1):
            raise self.error(table, key, f"expected {n} entries (the state dimension), received shape {vec.shape}")
        return vec

    # ---- [input], [grid], [derive] --------------------------------------------------
    def read_inputs(self, model: vs.Diffusion) -> tuple[sp.Expr, ...]:
        table = self.doc["input"]
        if "expr" not in table:
            raise self.error("input", None, "needs the key 'expr', e.g. expr = \"sin(2*t)\"")
        raw = table["expr"]
        items = raw if isinstance(raw, list) else [raw]
        if len(items) != model.m:
            raise self.error(
                "input", "expr", f"the model has {model.m} input channel(s) but {len(items)} expression(s) are given"
            )
        symbols = {**{k: v for k, v in self.params.items() if v in self.values}, "t": TIME}
        exprs = []
        for i, item in enumerate(items):
            index = f"[{i}]" if isinstance(raw, list) else ""
            expr = self.entry(item, "input", "expr", index, symbols).xreplace(self.values)
            exprs.append(expr)
        return tuple(exprs)

    def read_grid(self) -> tuple[float, int]:
        table = self.doc["grid"]
        for key in ("t_end", "points"):
            if key not in table:
                raise self.error("grid", None, f"needs the key {key!r} (e.g. t_end = 10.0, points = 201)")
        t_end = table["t_end"]
        if isinstance(t_end, bool) or not isinstance(t_end, (int, float)) or not (0 < t_end < math.inf):
            raise self.error("grid", "t_end", f"expected a positive number, received {t_end!r}")
        points = table["points"]
        if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= limits.MAX_GRID_POINTS:
            raise self.error(
                "grid",
                "points",
                f"expected an integer between 2 and {limits.MAX_GRID_POINTS} (the limit MAX_GRID_POINTS, see "
                f"docs/api.md#limits), received {points!r}",
            )
        return float(t_end), points

    def read_derive(self) -> tuple[int | None, str | None, dict[str, Any]]:
        table = self.doc["derive"]
        order = table.get("order")
        top = limits.MAX_ORDER
        if order is not None and (isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= top):
            raise self.error("derive", "order", f"expected an integer between 1 and {top}, received {order!r}")
        method = table.get("method")
        if method is not None and (not isinstance(method, str) or method not in ROUTES):
            raise self.error("derive", "method", f"expected one of {', '.join(ROUTES)}, received {method!r}")
        options: dict[str, Any] = {}
        schema = _file_options()
        for key, value in table.items():
            if key in ("order", "method"):
                continue
            try:  # the routes' own rule and message for the option (ranges from vs.limits)
                options[key] = schema[key].validate(value)
            except VolterraError as exc:
                raise self.error("derive", key, str(exc).removeprefix(f"{key}: ")) from None
        return order, method, options


def _file_options() -> dict[str, Any]:
    """The route options a model file's ``[derive]`` may set, name -> Option (from every route's schema)."""
    return {o.name: o for route in ROUTES.values() for o in route.schema if o.in_files}
