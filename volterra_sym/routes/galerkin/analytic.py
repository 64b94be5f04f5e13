"""The model's coefficients as NumPy functions for the Galerkin route, and what the route refuses.

:func:`check_analytic` refuses models the polynomial basis cannot represent (Abs, Piecewise, ...) and
coefficients singular at real states (1/h, tan, log, ...); :func:`lambdify_matrix` turns a SymPy matrix of
the state into a vectorised function (Q, n) -> (Q, rows, cols); :func:`polynomial_degree` and
:func:`is_constant` let the assembly use exact quadrature; :func:`require_scipy` names the optional extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from ...errors import MissingDependencyError, ModelError, NotAnalyticError
from ...model import Diffusion

_NOT_ANALYTIC = (
    sp.Abs,
    sp.Heaviside,
    sp.sign,
    sp.Piecewise,
    sp.Max,
    sp.Min,
    sp.floor,
    sp.ceiling,
    sp.frac,
    sp.DiracDelta,
    sp.re,
    sp.im,
    sp.arg,
)


def check_analytic(model: Diffusion) -> None:
    """Raise NotAnalyticError naming the first non-analytic sub-expression of drift/noise/coupling/readout."""
    for name, mat in (
        ("drift", model.drift),
        ("diffusion", model.diffusion),
        ("coupling", model.coupling),
        ("readout", model.readout),
    ):
        for i, expr in enumerate(mat):
            bad = [a for a in sp.preorder_traversal(expr) if isinstance(a, _NOT_ANALYTIC)]
            bad = bad or _singular_parts(expr, model.state)
            if bad:
                raise NotAnalyticError(
                    f"{name}[{i}] = {expr}: contains the non-analytic expression {bad[0]} (not smooth, or singular "
                    "where the state can be); the Galerkin route needs coefficients analytic on the whole state "
                    "space (polynomial bases converge only for smooth functions); use a smooth surrogate "
                    "(e.g. tanh(k*x) for sign(x)) or Monte Carlo (vs.simulate_response)"
                )


#: functions with poles or branch points on the real line
_SINGULAR_FUNCTIONS = (sp.tan, sp.cot, sp.sec, sp.csc, sp.coth, sp.csch, sp.atanh, sp.acoth, sp.asin, sp.acos)


def _singular_parts(expr: sp.Expr, state: tuple[sp.Symbol, ...]) -> list[sp.Expr]:
    """Sub-expressions that can be singular for real states: poles/branch points of tan, log, ...; negative or
    fractional powers and logarithms of a state-dependent base not provably positive for every real state."""
    real = {x: sp.Dummy(x.name, real=True) for x in state}
    out: list[sp.Expr] = []
    for a in sp.preorder_traversal(expr):
        if not isinstance(a, sp.Expr) or not a.has(*state):
            continue
        if isinstance(a, _SINGULAR_FUNCTIONS):
            out.append(a)
        elif isinstance(a, sp.log) and a.args[0].xreplace(real).is_positive is not True:
            out.append(a)
        elif isinstance(a, sp.Pow) and a.base.has(*state):
            e = a.exp
            if (e.is_integer and e.is_nonnegative) or a.base.xreplace(real).is_positive is True:
                continue
            out.append(a)
    return out


def lambdify_matrix(mat: sp.Matrix, state: tuple[sp.Symbol, ...], where: str) -> Callable[[np.ndarray], np.ndarray]:
    """Vectorised numeric version of a sympy matrix: X (Q, n) -> values (Q, rows, cols)."""
    stray = mat.free_symbols - set(state)
    if stray:
        raise ModelError(f"{where}: symbol(s) {sorted(map(str, stray))} have no numeric value; pass params=")
    rows, cols = mat.shape
    fns = [[sp.lambdify(state, mat[i, j], modules="numpy") for j in range(cols)] for i in range(rows)]

    def entry(i: int, j: int, args: list[np.ndarray]) -> Any:
        try:
            return fns[i][j](*args)
        except (NameError, TypeError, AttributeError):  # functions numpy lacks (erf, ...): mpmath, pointwise
            slow = sp.lambdify(state, mat[i, j], modules="mpmath")
            return np.array([float(slow(*p)) for p in zip(*args)])

    def fn(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        out = np.empty((X.shape[0], rows, cols))
        args = [X[:, a] for a in range(X.shape[1])]
        with np.errstate(all="ignore"):
            for i in range(rows):
                for j in range(cols):
                    out[:, i, j] = entry(i, j, args)
        return out

    return fn


def is_constant(mat: sp.Matrix, state: tuple[sp.Symbol, ...]) -> bool:
    """True when no entry depends on the state."""
    return not (mat.free_symbols & set(state))


def polynomial_degree(mat: sp.Matrix, state: tuple[sp.Symbol, ...]) -> int | None:
    """Largest total degree of the entries in the state, or None if some entry is not a polynomial."""
    deg = 0
    for e in mat:
        e = sp.expand(e)
        if not e.free_symbols & set(state):
            continue
        if not e.is_polynomial(*state):
            return None
        deg = max(deg, sp.Poly(e, *state).total_degree())
    return deg


def require_scipy() -> Any:
    """The scipy package, or a VolterraError saying how to install the optional extra."""
    try:
        import scipy.linalg  # noqa: F401
        import scipy.sparse.linalg  # noqa: F401
    except ImportError:
        raise MissingDependencyError("method='galerkin' needs scipy: pip install 'volterra_sym[galerkin]'") from None
    import scipy

    return scipy
