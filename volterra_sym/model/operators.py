"""The generators of MATH.md section 2 acting on SymPy expressions.

    L0 g   = sum_i phi_i d_i g + 1/2 sum_ij D_ij d_i d_j g          (backward)
    L1^k g = sum_i gamma_ik d_i g
    L0* p  = - sum_i d_i(phi_i p) + 1/2 sum_ij d_i d_j (D_ij p)       (Fokker-Planck)
    L1^k* p = - sum_i d_i(gamma_ik p)

Applied to an undefined function (``g(h1, .., hn)``) they print the operator
itself; applied to concrete observables they compute.  Input index ``k`` is
0-based (channel ``u[:, k]``); documents print it 1-based.
"""

from __future__ import annotations

import sympy as sp

from .diffusion import Diffusion


def L0(model: Diffusion, g: sp.Expr) -> sp.Expr:
    """Backward generator of the unperturbed dynamics applied to ``g``."""
    x, phi, D = model.state, model.drift, model.D
    out = sum((phi[i] * sp.diff(g, x[i]) for i in range(model.n)), sp.Integer(0))
    for i in range(model.n):
        for j in range(model.n):
            if D[i, j] != 0:
                out += sp.Rational(1, 2) * D[i, j] * sp.diff(g, x[i], x[j])
    return out


def L1(model: Diffusion, k: int, g: sp.Expr) -> sp.Expr:
    """Input operator L1^k g = gamma_k . grad g."""
    x, gam = model.state, model.coupling
    return sum((gam[i, k] * sp.diff(g, x[i]) for i in range(model.n) if gam[i, k] != 0), sp.Integer(0))


def L0_adjoint(model: Diffusion, p: sp.Expr) -> sp.Expr:
    """Fokker-Planck operator L0* applied to a density ``p``."""
    x, phi, D = model.state, model.drift, model.D
    out = -sum((sp.diff(phi[i] * p, x[i]) for i in range(model.n)), sp.Integer(0))
    for i in range(model.n):
        for j in range(model.n):
            if D[i, j] != 0:
                out += sp.Rational(1, 2) * sp.diff(D[i, j] * p, x[i], x[j])
    return out


def L1_adjoint(model: Diffusion, k: int, p: sp.Expr) -> sp.Expr:
    """Adjoint input operator L1^k* p = - div(gamma_k p)."""
    x, gam = model.state, model.coupling
    return -sum((sp.diff(gam[i, k] * p, x[i]) for i in range(model.n) if gam[i, k] != 0), sp.Integer(0))


def generic_function(model: Diffusion, name: str = "g", extra: tuple[sp.Symbol, ...] = ()) -> sp.Expr:
    """An undefined function of (extra..., state), for printing operators."""
    return sp.Function(name)(*extra, *model.state)
