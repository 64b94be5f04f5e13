"""The model: an Itô diffusion driven by an input signal (MATH.md section 1).

    dh_t = [ phi(h_t) + eps * gamma(h_t) u_t ] dt + sigma(h_t) dW_t,   h_0 ~ mu_0,
    y_t  = f(h_t)

General input coupling (MATH.md section 11): the drift and the coupling may also use the
input symbols u1..um (:func:`input_symbols`, m = the coupling's columns) anywhere, e.g. inside an
activation; the model then reads dh = [phi(h, eps u) + eps gamma(h, eps u) u] dt + sigma(h) dW
(``Diffusion.general_input`` is True) and :mod:`volterra_sym.model.input_channels` expands it
into input-affine channels.

One type, :class:`Diffusion`, holds every model; :func:`SRNN` and :func:`OU`
are constructors of it.  Shapes: state ``h`` has n components, ``drift`` is
n x 1, ``diffusion`` (sigma) is n x r, ``coupling`` (gamma) is n x m, the
readout is p x 1 (p = 1 for a scalar readout).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import sympy as sp

from ..errors import ModelError, clip, describe
from .parsing import constant_problem, lookalike_note, parse_expr
from .structure import NetworkStructure, network_structure

# --------------------------------------------------------------------------- initial laws


@dataclass(frozen=True)
class Stationary:
    """The stationary law rho_inf of the unperturbed dynamics (the default start)."""

    def __repr__(self) -> str:
        return "Stationary()"


@dataclass(frozen=True)
class PointMass:
    """A deterministic start h_0 = x0 (a vector of length n)."""

    x0: sp.Matrix

    def __init__(self, x0: Any):
        object.__setattr__(self, "x0", _as_column(x0, "PointMass(x0)"))

    def __repr__(self) -> str:
        return f"PointMass({list(self.x0)})"


@dataclass(frozen=True)
class Gaussian:
    """A Gaussian start h_0 ~ N(mean, cov); ``cov`` is n x n, symmetric."""

    mean: sp.Matrix
    cov: sp.Matrix

    def __init__(self, mean: Any, cov: Any):
        m = _as_column(mean, "Gaussian(mean)")
        c = _as_matrix(cov, "Gaussian(cov)")
        if c.shape != (m.rows, m.rows):
            raise ModelError(
                f"Gaussian(cov): expected a {m.rows} x {m.rows} matrix to match the mean, received shape {c.shape}"
            )
        if (c - c.T).applyfunc(sp.simplify) != sp.zeros(*c.shape):
            raise ModelError(f"Gaussian(cov): covariance must be symmetric, received {c.tolist()}")
        if not c.free_symbols:
            import numpy as np

            eig = np.linalg.eigvalsh(np.array(c.evalf(), dtype=float))
            if eig.min() < -1e-12 * max(1.0, abs(eig).max()):
                raise ModelError(
                    f"Gaussian(cov): a covariance must be positive semi-definite, but {c.tolist()} has the "
                    f"eigenvalue {eig.min():.6g}"
                )
        object.__setattr__(self, "mean", m)
        object.__setattr__(self, "cov", c)

    def __repr__(self) -> str:
        return f"Gaussian(mean={list(self.mean)}, cov={self.cov.tolist()})"


InitialLaw = Union[Stationary, PointMass, Gaussian]


def as_initial(initial: Any) -> InitialLaw:
    """Normalise ``initial=`` (``"stationary"``, a law object, or a point as a sequence)."""
    if initial is None or (isinstance(initial, str) and initial.lower() == "stationary"):
        return Stationary()
    if isinstance(initial, (Stationary, PointMass, Gaussian)):
        return initial
    raise ModelError(
        f"initial: expected 'stationary', vs.PointMass(x0) or vs.Gaussian(mean, cov), received {describe(initial)}"
    )


# --------------------------------------------------------------------------- conversion helpers


def _sympify_entry(value: Any, where: str, symbols: Mapping[str, sp.Symbol] | None = None) -> sp.Expr:
    if isinstance(value, str):
        return parse_expr(value, symbols, where=where)
    if isinstance(value, bool):
        raise ModelError(f"{where}: expected a number or expression, received {describe(value)}")
    if isinstance(value, complex) or "complex" in type(value).__name__:  # Python and NumPy complex numbers
        raise ModelError(f"{where}: received the complex number {value}; the model must be real")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelError(f"{where}: received the non-finite number {value}; give finite values")
        # the decimal the user typed (the shortest repr), exact: 0.7 -> 7/10, 1.0 -> 1, as in model files
        return sp.Rational(repr(float(value)))
    if isinstance(value, int):
        return sp.Integer(value)
    try:
        expr = sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError, ValueError):
        # numpy scalars and the like
        try:
            f = float(value)
        except Exception:
            raise ModelError(f"{where}: expected a number or expression, received {describe(value)}") from None
        return _sympify_entry(f, where)
    if not isinstance(expr, sp.Expr):
        raise ModelError(f"{where}: expected a number or expression, received {describe(value)}")
    if expr.has(sp.nan, sp.oo, -sp.oo, sp.zoo):
        raise ModelError(f"{where}: received a non-finite value {describe(expr)}; give finite values")
    problem = constant_problem(expr)
    if problem:
        raise ModelError(f"{where}: {problem}")
    return expr


def _as_matrix(value: Any, where: str, symbols: Mapping[str, sp.Symbol] | None = None) -> sp.Matrix:
    """Convert a scalar (1 x 1), a 1-D sequence (column) or a 2-D array into a Matrix."""
    if isinstance(value, sp.MatrixBase):
        rows = value.tolist()
    elif hasattr(value, "tolist") and not isinstance(value, sp.Basic):  # numpy arrays
        if "complex" in str(getattr(value, "dtype", "")):
            raise ModelError(f"{where}: received a complex array (dtype {value.dtype}); the model must be real")
        rows = value.tolist()
    else:
        rows = value
    if isinstance(rows, (str, sp.Basic, int, float)) or not isinstance(rows, Iterable):
        return sp.Matrix([[_sympify_entry(rows, where, symbols)]])
    rows = list(rows)
    if not rows:
        raise ModelError(f"{where}: received an empty sequence")
    if all(isinstance(r, (str, sp.Expr, int, float)) or not isinstance(r, Iterable) for r in rows):
        return sp.Matrix([[_sympify_entry(r, f"{where}[{i}]", symbols)] for i, r in enumerate(rows)])
    out = []
    width = None
    for i, r in enumerate(rows):
        if isinstance(r, (str, sp.Expr, int, float)) or not isinstance(r, Iterable):
            raise ModelError(f"{where}: mixes scalars and rows (row {i} is {describe(r)})")
        r = list(r)
        if width is None:
            width = len(r)
        if len(r) != width:
            raise ModelError(f"{where}: ragged rows (row 0 has {width} entries, row {i} has {len(r)})")
        out.append([_sympify_entry(x, f"{where}[{i},{j}]", symbols) for j, x in enumerate(r)])
    return sp.Matrix(out)


def _as_column(value: Any, where: str, symbols: Mapping[str, sp.Symbol] | None = None) -> sp.Matrix:
    m = _as_matrix(value, where, symbols)
    if m.cols != 1:
        if m.rows == 1:
            return m.T
        raise ModelError(f"{where}: expected a vector, received a {m.rows} x {m.cols} matrix")
    return m


def default_state(n: int) -> tuple[sp.Symbol, ...]:
    """The default state symbols h1..hn."""
    return tuple(sp.Symbol(f"h{i + 1}") for i in range(n))


#: names of input symbols: u1, u2, ... (1-based, as printed in MATH.md)
_INPUT_NAME = re.compile(r"u([0-9]+)")


def input_symbols(m: int) -> tuple[sp.Symbol, ...]:
    """The input symbols u1..um a drift may use (channel k of ``u[:, k]`` is u{k+1})."""
    return tuple(sp.Symbol(f"u{k + 1}") for k in range(m))


def _input_symbols_in(mat: sp.Matrix) -> set[sp.Symbol]:
    """Free symbols of ``mat`` named like an input (u1, u2, ...)."""
    return {s for s in mat.free_symbols if isinstance(s, sp.Symbol) and _INPUT_NAME.fullmatch(s.name)}


def _check_input_use(
    state: tuple[sp.Symbol, ...], parts: Mapping[str, sp.Matrix], m: int, params: Mapping[Any, Any] | None
) -> None:
    """Input symbols u1..um may appear in the drift and the coupling only, and only up to u_m."""
    if any(s.name.startswith("u") and _INPUT_NAME.fullmatch(s.name) for s in state):
        bad = next(s for s in state if _INPUT_NAME.fullmatch(s.name))
        raise ModelError(f"state: {bad} is reserved for an input channel (u1..um); name the state differently")
    if isinstance(params, Mapping):
        for key in params:
            if _INPUT_NAME.fullmatch(str(key)):
                raise ModelError(
                    f"params: {key} is reserved for an input channel (u1..um), it cannot be a parameter; rename it"
                )
    for where, mat in parts.items():
        used = _input_symbols_in(mat)
        if not used:
            continue
        if where in ("diffusion", "readout"):
            raise ModelError(
                f"{where}: uses the input symbol(s) {_names(sorted(map(str, used)))}; only the drift and the coupling "
                "may depend on the input (the noise and the readout may not)"
            )
        stray = sorted((s for s in used if not 1 <= int(s.name[1:]) <= m), key=lambda s: s.name)
        if stray:
            raise ModelError(
                f"{where}: uses the input symbol {stray[0]}, but the model declares {m} input channel(s) u1..u{m} "
                "(the coupling's columns); give the coupling one column per input (zeros where the input enters "
                "the drift only)"
            )


def _as_state(state: Any) -> tuple[sp.Symbol, ...]:
    if isinstance(state, int) and not isinstance(state, bool):
        if state < 1:
            raise ModelError(f"state: dimension must be >= 1, received {state}")
        return default_state(state)
    if isinstance(state, (str, sp.Symbol)):
        state = [state]
    try:
        items = list(state)
    except TypeError:
        raise ModelError(f"state: expected a sequence of symbols or names, received {describe(state)}") from None
    out = []
    for i, s in enumerate(items):
        if isinstance(s, str):
            if not s.isidentifier():
                raise ModelError(f"state[{i}]: {clip(s)} is not a valid symbol name")
            s = sp.Symbol(s)
        if not isinstance(s, sp.Symbol):
            raise ModelError(f"state[{i}]: expected a sympy Symbol or name, received {describe(s)}")
        out.append(s)
    if not out:
        raise ModelError("state: at least one state variable is needed")
    if len(set(out)) != len(out):
        raise ModelError(f"state: symbols must be distinct, received {out}")
    return tuple(out)


# --------------------------------------------------------------------------- the model type


@dataclass(frozen=True, eq=False)
class Diffusion:
    """A stochastic RNN / diffusion driven by an input (MATH.md section 1).

    Attributes
    ----------
    state : tuple of n sympy Symbols.
    drift : n x 1 Matrix, phi(h).
    diffusion : n x r Matrix, sigma(h).
    coupling : n x m Matrix, gamma(h); column k couples input channel k.
    readout : p x 1 Matrix, f(h); ``vector_readout`` tells whether the user gave a vector.
    initial : the initial law (Stationary, PointMass or Gaussian).
    params : numeric values for symbolic parameters (used when numbers are needed); on
        construction a value of ``None`` declares a symbolic parameter without a value
        (needed only for symbols that appear in the readout alone).
    name : an optional label.
    """

    state: tuple[sp.Symbol, ...]
    drift: sp.Matrix
    diffusion: sp.Matrix
    coupling: sp.Matrix
    readout: sp.Matrix
    initial: InitialLaw = field(default_factory=Stationary)
    params: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    vector_readout: bool = False
    name: str = "model"
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    # ---- construction ---------------------------------------------------------------
    def __init__(
        self,
        state: Any,
        drift: Any,
        diffusion: Any,
        coupling: Any,
        readout: Any,
        initial: Any = "stationary",
        params: Mapping[Any, Any] | None = None,
        *,
        name: str = "model",
        meta: Mapping[str, Any] | None = None,
        structure: NetworkStructure | None = None,
        symbolic: tuple[str, tuple] | None = None,
    ):
        st = _as_state(state)
        n = len(st)
        names: dict[str, sp.Symbol] = {s.name: s for s in st}
        if structure is not None:  # numbers only: drift, diffusion and coupling are built when first read
            if structure.n != n:
                raise ModelError(f"state: expected {structure.n} symbols for the network, received {n}")
            object.__setattr__(self, "_structure", structure)
            object.__setattr__(self, "_symbolic", symbolic)
            self._finish(st, names, readout, initial, params, name, meta)
            return
        drift_m = _as_column(drift, "drift", names)
        if drift_m.rows != n:
            raise ModelError(f"drift: expected {n} components (one per state variable), received {drift_m.rows}")
        _register(names, drift_m)
        _check_flat_noise(diffusion, "diffusion", n)
        sig = _as_matrix(diffusion, "diffusion", names)
        if sig.shape == (1, 1) and n > 1:
            sig = sig[0, 0] * sp.eye(n)
        if sig.rows != n:
            raise ModelError(
                f"diffusion: expected an {n} x r matrix (rows = state dimension {n}), received shape {sig.shape}"
            )
        _register(names, sig)
        gam = _as_matrix(coupling, "coupling", names)
        if gam.rows != n:
            if gam.rows == 1 and gam.cols == n and n > 1:
                raise ModelError(
                    f"coupling: expected an {n} x m matrix, received shape 1 x {n}; "
                    "give a column (or an n x m nested list)"
                )
            raise ModelError(f"coupling: expected an {n} x m matrix, received shape {gam.shape}")
        _register(names, gam)
        _check_input_use(st, {"drift": drift_m, "diffusion": sig, "coupling": gam}, gam.cols, params)
        for s in input_symbols(gam.cols):
            names.pop(s.name, None)
        object.__setattr__(self, "drift", drift_m)
        object.__setattr__(self, "diffusion", sig)
        object.__setattr__(self, "coupling", gam)
        self._finish(st, names, readout, initial, params, name, meta)

    def _finish(
        self,
        st: tuple[sp.Symbol, ...],
        names: dict[str, sp.Symbol],
        readout: Any,
        initial: Any,
        params: Mapping[Any, Any] | None,
        name: str,
        meta: Mapping[str, Any] | None,
    ) -> None:
        """Readout, initial law, parameters: the part of the construction shared with the structured form."""
        n = len(st)
        declared = _declared_symbols(params, names)
        par = _as_params(params, names)
        for s in (*par, *declared):
            names.setdefault(s.name, s)
        vector = isinstance(readout, (list, tuple)) or (
            hasattr(readout, "shape") and tuple(readout.shape) not in ((), (1, 1))
        )
        if readout is None:
            raise ModelError("readout: a readout f(h) is required, e.g. readout='h1' or readout=h1**2")
        f = _as_column(readout, "readout", {**names})
        _check_input_use(st, {"readout": f}, self.m, None)
        known = set(names.values())
        for i, fi in enumerate(f):
            stray = fi.free_symbols - known
            if stray:
                stray_names = sorted(map(str, stray))
                note = "".join(lookalike_note(x, names_of(known)) for x in stray_names)
                raise ModelError(
                    f"readout: symbol(s) {_names(stray_names)} in component {i} ({clip(fi)}) are neither state "
                    f"variables {_names(map(str, st))} nor parameters of the model; use the state symbols or declare "
                    f"them via params={note}"
                )
        init = as_initial(initial)
        if isinstance(init, (PointMass, Gaussian)):
            dim = init.x0.rows if isinstance(init, PointMass) else init.mean.rows
            if dim != n:
                raise ModelError(f"initial: the initial law has dimension {dim}, the state has dimension {n}")
        object.__setattr__(self, "state", st)
        object.__setattr__(self, "readout", f)
        object.__setattr__(self, "initial", init)
        object.__setattr__(self, "params", par)
        object.__setattr__(self, "vector_readout", bool(vector) and f.rows >= 1)
        object.__setattr__(self, "name", str(name))
        object.__setattr__(self, "meta", dict(meta or {}))
        unused = sorted(str(sym) for sym in par if sym not in set(self.parameters))
        if unused:
            own = [str(x) for x in self.parameters]
            note = "".join(lookalike_note(x, own) for x in unused)
            raise ModelError(
                f"params: {_names(unused)} are not symbols of the model (its parameters: "
                f"{_names(own)}); check the spelling{note}"
            )

    # ---- the lazily built symbolic form of a structured model ------------------------
    def __getattr__(self, name: str) -> Any:
        """drift, diffusion and coupling of a model built from a NetworkStructure, made on first use."""
        structure = self.__dict__.get("_structure")
        if structure is None or name not in ("drift", "diffusion", "coupling"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        source = self.__dict__.get("_symbolic")
        if source is not None:  # the constructor's own symbolic code, on the arguments it was given
            drift, sigma, C = _SYMBOLIC[source[0]](*source[1], state=self.state)
        else:
            drift, sigma, C = (
                structure.symbolic_drift(self.state),
                _numeric_matrix(structure.sigma),
                _numeric_matrix(structure.C),
            )
        n = len(self.state)
        if sigma.shape == (1, 1) and n > 1:
            sigma = sigma[0, 0] * sp.eye(n)
        for key, value in (("drift", drift), ("diffusion", sigma), ("coupling", C)):
            object.__setattr__(self, key, value)
        return self.__dict__[name]

    @property
    def structure(self) -> NetworkStructure | None:
        """The matrices of a network model (vs.SRNN, vs.OU, or a detected form), or None (model/structure.py)."""
        return network_structure(self)

    @property
    def symbolic_built(self) -> bool:
        """False while a network model's drift has not been built as sympy expressions (it is built on first use)."""
        return "drift" in self.__dict__

    # ---- shapes ---------------------------------------------------------------------
    @property
    def n(self) -> int:
        """State dimension."""
        return len(self.state)

    @property
    def m(self) -> int:
        """Number of input channels."""
        given = self.__dict__.get("_structure")
        return given.m if given is not None and "coupling" not in self.__dict__ else self.coupling.cols

    @property
    def r(self) -> int:
        """Number of Brownian motions."""
        given = self.__dict__.get("_structure")
        return given.r if given is not None and "diffusion" not in self.__dict__ else self.diffusion.cols

    @property
    def p(self) -> int:
        """Number of readout components."""
        return self.readout.rows

    @property
    def D(self) -> sp.Matrix:
        """Diffusion matrix D = sigma sigma^T (n x n)."""
        return self.diffusion * self.diffusion.T

    @property
    def f(self) -> sp.Expr:
        """The scalar readout (first component for vector readouts)."""
        return self.readout[0]

    @property
    def parameters(self) -> tuple[sp.Symbol, ...]:
        """Free symbols that are not state variables, sorted by name."""
        syms: set[sp.Symbol] = set()
        lazy = self.__dict__.get("_structure") is not None  # numbers only
        for mat in (self.readout,) if lazy else (self.drift, self.diffusion, self.coupling, self.readout):
            syms |= mat.free_symbols
        init = self.initial
        if isinstance(init, PointMass):
            syms |= init.x0.free_symbols
        elif isinstance(init, Gaussian):
            syms |= init.mean.free_symbols | init.cov.free_symbols
        syms -= set(self.state)
        syms -= set(self.inputs)
        return tuple(sorted(syms, key=lambda s: s.name))

    @property
    def inputs(self) -> tuple[sp.Symbol, ...]:
        """The input symbols u1..um the drift and the coupling may use (MATH.md section 11)."""
        return input_symbols(self.m)

    @property
    def general_input(self) -> bool:
        """True when the drift or the coupling depends on the input (u inside phi, e.g. an activation)."""
        given = self.__dict__.get("_structure")
        if given is not None:  # a network given by its matrices: no symbolic form is built to answer
            return bool(given.input == "inside")
        return bool(_input_symbols_in(self.drift) or _input_symbols_in(self.coupling))

    # ---- derived models -------------------------------------------------------------
    def replace(self, **changes: Any) -> Diffusion:
        """A copy with some fields changed (e.g. ``initial=vs.PointMass([0])``)."""
        given = self.__dict__.get("_structure")
        if given is not None and not {"drift", "diffusion", "coupling", "state"} & set(changes):
            kw0: dict[str, Any] = dict(
                state=self.state, drift=None, diffusion=None, coupling=None,
                readout=self.readout if self.vector_readout else self.readout[0], initial=self.initial,
                params=self.params, name=self.name, meta=self.meta, structure=given,
                symbolic=self.__dict__.get("_symbolic"),
            )  # fmt: skip
            kw0.update(changes)
            return Diffusion(**kw0)
        kw = dict(
            state=self.state,
            drift=self.drift,
            diffusion=self.diffusion,
            coupling=self.coupling,
            readout=self.readout if self.vector_readout else self.readout[0],
            initial=self.initial,
            params=self.params,
            name=self.name,
            meta=self.meta,
        )
        kw.update(changes)
        return Diffusion(**kw)

    def with_values(self, values: Mapping[Any, Any] | None = None) -> Diffusion:
        """Substitute numeric values for parameters (``params`` plus ``values``).

        Every parameter must receive a value; the result has only numbers besides the state.
        """
        vals = dict(self.params)
        vals.update(_as_params(values, {s.name: s for s in self.parameters}))
        missing = [s for s in self.parameters if s not in vals]
        if missing:
            raise ModelError(
                f"params: no numeric value for parameter(s) {[str(s) for s in missing]}; "
                "pass them as params={'name': value} to the model or to this call"
            )
        sub = {k: v for k, v in vals.items()}

        def s(mat: sp.Matrix) -> sp.Matrix:
            return mat.xreplace(sub)

        init = self.initial
        if isinstance(init, PointMass):
            init = PointMass(s(init.x0))
        elif isinstance(init, Gaussian):
            init = Gaussian(s(init.mean), s(init.cov))
        given = self.__dict__.get("_structure")
        if given is not None:
            f = s(self.readout) if self.vector_readout else s(self.readout)[0]
            return Diffusion(
                self.state, None, None, None, f, init, {}, name=self.name, meta=self.meta, structure=given,
                symbolic=self.__dict__.get("_symbolic"),
            )  # fmt: skip
        return Diffusion(
            self.state,
            s(self.drift),
            s(self.diffusion),
            s(self.coupling),
            s(self.readout) if self.vector_readout else s(self.readout)[0],
            init,
            {},
            name=self.name,
            meta=self.meta,
        )

    def is_numeric(self) -> bool:
        """True when no symbolic parameters remain."""
        return not self.parameters

    def __repr__(self) -> str:
        f = list(self.readout) if self.vector_readout else self.readout[0]
        given = self.__dict__.get("_structure")
        if given is not None and "drift" not in self.__dict__:
            return (
                f"Diffusion(name={self.name!r}, n={self.n}, network=(activation={given.activation!r}, "
                f"m={given.m}, r={given.r}, digest={given.digest()}), readout={f}, initial={self.initial!r})"
            )
        return (
            f"Diffusion(name={self.name!r}, state={list(self.state)}, drift={list(self.drift)}, "
            f"diffusion={self.diffusion.tolist()}, coupling={self.coupling.tolist()}, readout={f}, "
            f"initial={self.initial!r})"
        )


def _numeric_matrix(arr: Any) -> sp.Matrix:
    """A sympy Matrix of the float array ``arr`` (integers kept exact)."""
    return sp.Matrix(arr.tolist()).applyfunc(lambda x: sp.Integer(int(x)) if float(x).is_integer() else sp.Float(x))


def names_of(symbols: Any) -> list[str]:
    """The names of symbols (for messages)."""
    return [str(s) for s in symbols]


def _names(names: Iterable[str], limit: int = 10) -> str:
    """A short printable list of names (each clipped, at most ``limit`` of them)."""
    items = list(names)
    text = ", ".join(clip(x, 30) for x in items[:limit])
    return f"[{text}{', ...' if len(items) > limit else ''}]"


def _register(names: dict[str, sp.Symbol], mat: sp.Matrix) -> None:
    for s in mat.free_symbols:
        if isinstance(s, sp.Symbol):
            names.setdefault(s.name, s)


def _declared_symbols(params: Mapping[Any, Any] | None, names: Mapping[str, sp.Symbol]) -> list[sp.Symbol]:
    """Parameters declared without a value (``params={'k': None}``): symbolic, allowed in the readout."""
    if not isinstance(params, Mapping):
        return []
    out = []
    for key, value in params.items():
        if value is None:
            if isinstance(key, str):
                out.append(names.get(key, sp.Symbol(key)))
            elif isinstance(key, sp.Symbol):
                out.append(key)
            else:
                raise ModelError(f"params: keys must be names or sympy Symbols, received {describe(key)}")
    return out


def _as_params(params: Mapping[Any, Any] | None, names: Mapping[str, sp.Symbol]) -> dict[sp.Symbol, sp.Expr]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ModelError(f"params: expected a mapping name -> number, received {describe(params)}")
    out: dict[sp.Symbol, sp.Expr] = {}
    for key, value in params.items():
        if value is None:  # declared symbolic parameter without a value
            continue
        if isinstance(key, str):
            sym = names.get(key, sp.Symbol(key))
        elif isinstance(key, sp.Symbol):
            sym = key
        else:
            raise ModelError(f"params: keys must be names or sympy Symbols, received {describe(key)}")
        v = _sympify_entry(value, f"params[{sym}]")
        if v.free_symbols:
            raise ModelError(f"params[{sym}]: expected a number, received {v}")
        out[sym] = v
    return out


# --------------------------------------------------------------------------- named constructors

Activation = Union[str, Callable[[sp.Expr], sp.Expr]]


def _activation(activation: Activation) -> Callable[[sp.Expr], sp.Expr]:
    if callable(activation):
        return activation
    if isinstance(activation, str):
        key = activation.lower()
        table: dict[str, Callable[[sp.Expr], sp.Expr]] = {
            "identity": lambda x: x,
            "linear": lambda x: x,
            "tanh": sp.tanh,
            "sigmoid": lambda x: 1 / (1 + sp.exp(-x)),
        }
        if key in table:
            return table[key]
    raise ModelError(
        f"activation: expected 'identity', 'tanh', 'sigmoid' or a sympy-callable, received {describe(activation)}"
    )


def _square(value: Any, where: str, n: int | None) -> sp.Matrix:
    m = _as_matrix(value, where)
    if m.shape == (1, 1) and n is not None and n > 1:
        return m[0, 0] * sp.eye(n)
    if m.rows != m.cols:
        raise ModelError(f"{where}: expected a square n x n matrix, received shape {m.shape}")
    if n is not None and m.rows != n:
        raise ModelError(f"{where}: expected shape {n} x {n} (state dimension {n}), received {m.shape}")
    return m


def _check_flat_noise(value: Any, where: str, n: int) -> None:
    """Refuse a flat sequence of n > 1 noise amplitudes: it would mean one Brownian motion driving every unit
    (an n x 1 matrix), which is rarely what a list of per-unit amplitudes intends."""
    if n <= 1 or isinstance(value, (str, sp.Basic, int, float)) or not isinstance(value, Iterable):
        return
    shape = getattr(value, "shape", None)
    flat = len(shape) == 1 if shape is not None else all(
        isinstance(x, (str, sp.Basic, int, float)) or not isinstance(x, Iterable) for x in value
    )
    if flat:
        items = list(value)
        raise ModelError(
            f"{where}: received a flat sequence of {len(items)} amplitudes for {n} state variables; that would be one "
            f"Brownian motion driving all of them (an {n} x 1 matrix). Give the {n} x r matrix: independent noises "
            f"are the diagonal np.diag({items}), one common noise is [[a], [b], ...] ({n} rows of one entry)"
        )


def _dimension(**candidates: Any) -> int:
    """The state dimension n: the row count most of the non-scalar arguments agree on (ties: the first), so
    the shape error then names the argument that disagrees (a 2 x 2 W among 3-D Gamma, b, C blames W)."""
    votes: dict[int, int] = {}
    for name, c in candidates.items():
        if c is None:
            continue
        m = _as_matrix(c, name)
        if m.shape != (1, 1):
            votes[m.rows] = votes.get(m.rows, 0) + 1
    if not votes:
        return 1
    best = max(votes.values())
    return next(k for k, v in votes.items() if v == best)  # dicts keep the order: ties go to the first


def _coupling_and_state(C: Any, state: Sequence[Any] | None, n: int) -> tuple[sp.Matrix, tuple[sp.Symbol, ...]]:
    """The n x m coupling matrix and the state symbols of a named constructor, shape-checked."""
    Cm = _as_matrix(C, "C")
    if Cm.rows != n:
        raise ModelError(f"C: expected {n} rows (state dimension), received shape {Cm.shape}")
    st = default_state(n) if state is None else _as_state(state)
    if len(st) != n:
        raise ModelError(f"state: expected {n} symbols, received {len(st)}")
    return Cm, st


def SRNN(
    Gamma: Any,
    W: Any,
    b: Any = None,
    C: Any = None,
    sigma: Any = None,
    activation: Activation = "identity",
    readout: Any = None,
    initial: Any = "stationary",
    params: Mapping[Any, Any] | None = None,
    *,
    state: Sequence[Any] | None = None,
    name: str = "SRNN",
    input: str = "outside",
) -> Diffusion:
    """Stochastic RNN: dh = [-Gamma h + a(W h + b) + eps C u] dt + sigma dW.

    Gamma and W are n x n (a scalar Gamma means Gamma * I), b has length n
    (default 0), C is n x m (a 1-D sequence is one input channel), sigma is
    n x r (a scalar means sigma * I).  ``activation`` is ``"identity"``,
    ``"tanh"``, ``"sigmoid"`` or any callable mapping a sympy expression to one.
    ``input="inside"`` puts the input inside the activation, as in a standard RNN cell:
    dh = [-Gamma h + a(W h + b + eps C u)] dt + sigma dW (drift in the input symbols u1..um,
    coupling zero; MATH.md section 11).  Numeric arrays with a named activation and the input
    outside keep the matrices (:class:`~volterra_sym.model.structure.NetworkStructure`) and build
    the symbolic form only when a formula is asked for.
    """
    if input not in ("outside", "inside"):
        raise ModelError(
            f"input: expected 'outside' (eps C u added to the drift) or 'inside' (a(W h + b + eps C u)), "
            f"received {describe(input)}"
        )
    if C is None:
        raise ModelError("C: the input coupling matrix C (n x m) is required")
    if sigma is None:
        raise ModelError("sigma: the noise matrix sigma (n x r, or a scalar) is required")
    fast = _network_arrays(Gamma, W, b, C, sigma, activation, state) if input == "outside" else None
    if fast is not None:  # numbers only: no symbolic work until a formula is asked for
        _check_flat_noise(sigma, "sigma", fast.n)
        st = default_state(fast.n) if state is None else _as_state(state)
        if len(st) != fast.n:
            raise ModelError(f"state: expected {fast.n} symbols, received {len(st)}")
        meta_fast = {"kind": "SRNN", "activation": activation}
        return Diffusion(
            st, None, None, None, readout, initial, params, name=name, meta=meta_fast, structure=fast,
            symbolic=("SRNN", _frozen(Gamma, W, b, C, sigma, activation)),
        )  # fmt: skip
    drift, sig, Cm, st, meta = _srnn_matrices(Gamma, W, b, C, sigma, activation, state=state, input=input)
    coupling = sp.zeros(Cm.rows, Cm.cols) if input == "inside" else Cm
    return Diffusion(st, drift, sig, coupling, readout, initial, params, name=name, meta=meta)


def _srnn_matrices(
    Gamma: Any,
    W: Any,
    b: Any,
    C: Any,
    sigma: Any,
    activation: Activation,
    *,
    state: Sequence[Any] | None,
    input: str = "outside",
) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix, tuple[sp.Symbol, ...], dict[str, Any]]:
    """The symbolic drift, sigma, C, state and meta of :func:`SRNN` (``input="inside"``: C u inside a)."""
    n = _dimension(W=W, b=b, Gamma=Gamma, C=C)
    G = _square(Gamma, "Gamma", n)
    Wm = _square(W, "W", n)
    bm = sp.zeros(n, 1) if b is None else _as_column(b, "b")
    if bm.rows != n:
        raise ModelError(f"b: expected {n} components (state dimension), received {bm.rows}")
    Cm, st = _coupling_and_state(C, state, n)
    _check_flat_noise(sigma, "sigma", n)
    sig = _as_matrix(sigma, "sigma", {s.name: s for s in st})  # errors name the argument the user gave
    a = _activation(activation)
    h = sp.Matrix(st)
    pre = Wm * h + bm
    if input == "inside":
        pre = pre + Cm * sp.Matrix(input_symbols(Cm.cols))
    drift = -G * h + sp.Matrix([a(x) for x in pre])
    meta = {
        "kind": "SRNN",
        "Gamma": G,
        "W": Wm,
        "b": bm,
        "activation": activation if isinstance(activation, str) else getattr(activation, "__name__", "custom"),
        "input": input,
        "C": Cm,
    }
    return drift, sig, Cm, st, meta


def OU(
    A: Any,
    C: Any,
    sigma: Any,
    c: Any = None,
    readout: Any = None,
    initial: Any = "stationary",
    params: Mapping[Any, Any] | None = None,
    *,
    state: Sequence[Any] | None = None,
    name: str = "OU",
) -> Diffusion:
    """Ornstein-Uhlenbeck model: dh = [-A h + c + eps C u] dt + sigma dW.

    A is n x n, c has length n (default 0), C is n x m, sigma is n x r (scalar: sigma * I).
    """
    fast = _network_arrays(A, None, c, C, sigma, "identity", state)
    if fast is not None:  # numbers only: no symbolic work until a formula is asked for
        _check_flat_noise(sigma, "sigma", fast.n)
        st = default_state(fast.n) if state is None else _as_state(state)
        if len(st) != fast.n:
            raise ModelError(f"state: expected {fast.n} symbols, received {len(st)}")
        return Diffusion(
            st, None, None, None, readout, initial, params, name=name, meta={"kind": "OU"}, structure=fast,
            symbolic=("OU", _frozen(A, C, sigma, c)),
        )  # fmt: skip
    drift, sig, Cm, st, meta = _ou_matrices(A, C, sigma, c, state=state)
    return Diffusion(st, drift, sig, Cm, readout, initial, params, name=name, meta=meta)


def _ou_matrices(
    A: Any, C: Any, sigma: Any, c: Any, *, state: Sequence[Any] | None
) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix, tuple[sp.Symbol, ...], dict[str, Any]]:
    """The symbolic drift, sigma, C, state and meta of :func:`OU`."""
    n = _dimension(A=A, c=c, C=C)
    Am = _square(A, "A", n)
    cm = sp.zeros(n, 1) if c is None else _as_column(c, "c")
    if cm.rows != n:
        raise ModelError(f"c: expected {n} components (state dimension), received {cm.rows}")
    Cm, st = _coupling_and_state(C, state, n)
    _check_flat_noise(sigma, "sigma", n)
    sig = _as_matrix(sigma, "sigma", {s.name: s for s in st})  # errors name the argument the user gave
    h = sp.Matrix(st)
    drift = -Am * h + cm
    return drift, sig, Cm, st, {"kind": "OU", "A": Am, "c": cm}


def _frozen(*args: Any) -> tuple:
    """The constructor's arguments for the lazy symbolic build, arrays copied (later edits do not leak in)."""
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else copy.deepcopy(a) for a in args)


def _plain_array(value: Any) -> np.ndarray | None:
    """``value`` as a finite float array when it is plainly numeric (numbers, nested lists of numbers,
    real numpy arrays), else None (strings, sympy expressions, bad values: the symbolic path decides)."""
    if isinstance(value, (str, bool, sp.Basic)):
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            return None
        arr = value.astype(float)
    elif isinstance(value, (int, float, np.integer, np.floating)):
        arr = np.array(float(value))
    elif isinstance(value, (list, tuple)):
        flat = _flatten(value)
        if flat is None:
            return None
        try:
            arr = np.array(value, dtype=float)
        except (TypeError, ValueError):
            return None
    else:
        return None
    return arr if arr.ndim <= 2 and arr.size and np.all(np.isfinite(arr)) else None


def _flatten(value: Any) -> list[Any] | None:
    out: list[Any] = []
    for x in value:
        if isinstance(x, (list, tuple)):
            inner = _flatten(x)
            if inner is None:
                return None
            out += inner
        elif isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
            out.append(x)
        else:
            return None
    return out


def _network_arrays(
    Gamma: Any, W: Any, b: Any, C: Any, sigma: Any, activation: Any, state: Any
) -> NetworkStructure | None:
    """The NetworkStructure of numeric constructor arguments with consistent shapes, else None."""
    key = activation.lower() if isinstance(activation, str) else None
    kind = {"identity": "identity", "linear": "identity", "tanh": "tanh", "sigmoid": "sigmoid"}.get(key or "")
    if kind is None:
        return None
    G, Wa, Ca, S = _plain_array(Gamma), None if W is None else _plain_array(W), _plain_array(C), _plain_array(sigma)
    ba = None if b is None else _plain_array(b)
    if G is None or Ca is None or S is None or (W is not None and Wa is None) or (b is not None and ba is None):
        return None
    if Ca.ndim == 1 or (Ca.ndim == 0):
        Ca = Ca.reshape(-1, 1)
    n = Ca.shape[0]
    if W is None:
        Wa = np.zeros((n, n))
    assert Wa is not None
    if G.ndim == 0:
        G = G * np.eye(n)
    if Wa.ndim == 0 and n == 1:
        Wa = Wa.reshape(1, 1)
    ba = np.zeros(n) if ba is None else (ba.reshape(-1) if ba.ndim == 1 or ba.shape in ((n, 1), (1, n)) else ba)
    if S.ndim == 0:
        S = S * np.eye(n)
    elif S.ndim == 1:
        S = S.reshape(-1, 1)
    if G.shape != (n, n) or Wa.shape != (n, n) or ba.shape != (n,) or S.shape[0] != n:
        return None
    if state is not None and (isinstance(state, int) and state != n):
        return None
    return NetworkStructure(G, Wa, ba, Ca, S, kind)


_SYMBOLIC: dict[str, Callable[..., tuple[sp.Matrix, sp.Matrix, sp.Matrix]]] = {
    "SRNN": lambda *args, state: _srnn_matrices(*args, state=state)[:3],
    "OU": lambda *args, state: _ou_matrices(*args, state=state)[:3],
}


# --------------------------------------------------------------------------- comparing models


def same_model(a: Diffusion, b: Diffusion) -> str | None:
    """How ``b`` differs from ``a`` as a model (dimensions, drift, noise, coupling, readout, initial
    law, compared after substituting each model's parameter values), or ``None`` when it does not."""
    if (a.n, a.m, a.p) != (b.n, b.m, b.p):
        return f"dimensions (n, m, p) = {(a.n, a.m, a.p)} vs {(b.n, b.m, b.p)}"
    rename = dict(zip(b.state, a.state))

    def values(model: Diffusion) -> dict[sp.Symbol, sp.Expr]:
        return dict(model.params)

    va, vb = values(a), values(b)
    pairs = [
        ("drift", a.drift, b.drift),
        ("diffusion", a.diffusion * a.diffusion.T, b.diffusion * b.diffusion.T),
        ("coupling", a.coupling, b.coupling),
        ("readout", a.readout, b.readout),
    ]
    ia, ib = a.initial, b.initial
    if type(ia) is not type(ib):
        return f"initial law {ia!r} vs {ib!r}"
    if isinstance(ia, PointMass) and isinstance(ib, PointMass):
        pairs.append(("initial", ia.x0, ib.x0))
    elif isinstance(ia, Gaussian) and isinstance(ib, Gaussian):
        pairs += [("initial mean", ia.mean, ib.mean), ("initial cov", ia.cov, ib.cov)]
    for what, ma, mb in pairs:
        if ma.shape != mb.shape:
            return f"{what} of shape {ma.shape} vs {mb.shape}"
        for x, y in zip(ma, mb):
            x, y = x.xreplace(va), y.xreplace(vb).xreplace(rename)
            if x != y and not _numerically_equal(x, y, a.state):
                sx, sy = str(x), str(y)
                sx = sx if len(sx) <= 40 else sx[:37] + "..."
                sy = sy if len(sy) <= 40 else sy[:37] + "..."
                return f"{what}: {sx} vs {sy}"
    return None


def _numerically_equal(x: sp.Expr, y: sp.Expr, state: Sequence[sp.Symbol]) -> bool:
    """x == y at three fixed points of the state (relative 1e-9), or symbolically when parameters remain."""
    d = x - y
    if d.free_symbols - set(state):
        return sp.simplify(d) == 0
    for point in ((0.3, -0.7, 1.1), (-1.3, 0.45, 0.2), (0.9, 1.7, -0.6)):
        sub = {s: sp.Float(point[i % 3] + 0.01 * i) for i, s in enumerate(state)}
        try:
            dv = complex(d.xreplace(sub).evalf(30))
            scale = 1.0 + abs(complex(x.xreplace(sub).evalf(30)))
        except (TypeError, ValueError, OverflowError):
            return False
        if not abs(dv) <= 1e-9 * scale:
            return False
    return True
