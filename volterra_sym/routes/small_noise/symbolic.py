"""Symbolic data at the fixed point: the kernels as formulas in the model's parameters (small models).

When a model keeps symbolic parameters (with numeric values for the guard and the error estimate), the
fixed point is solved in closed form (``sympy.solve``; the branch whose value at the parameters is the
numerically found h*), and J, the derivative tensors, the Lyapunov covariance P (``lyapunov_exact``)
and m* = -J^{-1} phi''[P] / 2 are kept exact.  The terms (``terms.py``) then run on SymPy coefficients
with e^{J t} from the exact spectral decomposition of the linearised model (``linear_data``), so the
kernels are exponential polynomials whose coefficients and rates are formulas in the parameters.
Returns None (and the route falls back to numbers) where no closed-form branch matches.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import sympy as sp

from ...algebra.linear_gaussian import lyapunov_exact
from ...model.diffusion import Diffusion
from .local import LocalData

#: the largest state dimension for which symbolic forms are attempted
MAX_SYMBOLIC_STATES = 2


def _tensors(exprs: list[sp.Expr], state: tuple[sp.Symbol, ...], at: dict, top: int) -> list[np.ndarray]:
    """[T_0..T_top], T_k[c, i_1..i_k] = d^k exprs[c] at ``at`` (object arrays of simplified SymPy expressions)."""
    n, rows = len(state), len(exprs)
    out = [np.array([sp.simplify(e.xreplace(at)) for e in exprs], dtype=object)]
    level: dict[tuple[int, ...], list[sp.Expr]] = {(): list(exprs)}
    for k in range(1, top + 1):
        T = np.empty((rows,) + (n,) * k, dtype=object)
        nxt: dict[tuple[int, ...], list[sp.Expr]] = {}
        for idx in itertools.combinations_with_replacement(range(n), k):
            nxt[idx] = [sp.diff(e, state[idx[-1]]) for e in level[idx[:-1]]]
            vals = [sp.simplify(e.xreplace(at)) for e in nxt[idx]]
            for perm in set(itertools.permutations(idx)):
                where: tuple[Any, ...] = (slice(None), *perm)
                T[where] = vals
        level = nxt
        out.append(T)
    return out


def symbolic_local(model: Diffusion, numeric: LocalData, noise_order: int) -> LocalData | None:
    """The exact counterpart of ``numeric`` (module docstring), or None."""
    state = model.state
    if model.n > MAX_SYMBOLIC_STATES or not model.parameters:
        return None
    free = [sp.Dummy(s.name) for s in state]  # no assumptions: a "positive" state symbol must not hide h* = 0
    try:
        sols = sp.solve([e.xreplace(dict(zip(state, free))) for e in model.drift], free, dict=True)
    except (NotImplementedError, ValueError):
        return None
    h = None
    for sol in sols:
        if set(sol) != set(free):
            continue
        cand = [sol[s] for s in free]
        try:
            val = np.array([complex(sp.N(c.xreplace(model.params))) for c in cand])
        except (TypeError, ValueError):
            continue
        if np.all(np.abs(val - numeric.h) <= 1e-8 * (1 + np.abs(numeric.h))):
            h = cand
            break
    if h is None:
        return None
    at = dict(zip(state, h))
    phi = _tensors(list(model.drift), state, at, 4)
    J = sp.Matrix(phi[1].tolist())
    f = [[T[0] for T in _tensors([fc], state, at, 4)] for fc in model.readout]
    D = np.array(model.D.tolist(), dtype=object)
    gam = None
    if numeric.gam is not None:  # a state-dependent coupling: its derivative tensors at h*, exact
        gam = [_tensors(list(model.coupling[:, k]), state, at, 4) for k in range(model.m)]
        g = np.stack([gk[0] for gk in gam], axis=1)
    else:
        g = np.array(model.coupling.tolist(), dtype=object)
    n = model.n
    if noise_order == 0:
        P = np.zeros((n, n), dtype=object) * sp.Integer(0)
        m = np.zeros(n, dtype=object) * sp.Integer(0)
    else:
        Pm = lyapunov_exact(-J, sp.Matrix(D.tolist()))
        P = np.array(Pm.tolist(), dtype=object)
        src = sp.Matrix([sum(phi[2][i, j, k] * Pm[j, k] for j in range(n) for k in range(n)) / 2 for i in range(n)])
        m = np.array([sp.factor(sp.cancel(x)) for x in -J.LUsolve(src)], dtype=object)
    return LocalData(
        h=np.array(h, dtype=object),
        J=np.array(J.tolist(), dtype=object),
        D=D,
        g=g,
        P=P,
        m=m,
        phi=phi,
        f=f,
        eigenvalues=numeric.eigenvalues,
        gam=gam,
    )
