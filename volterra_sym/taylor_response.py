"""The Taylor (short-lag) route wrapped as a :class:`~volterra_sym.response.Response`.

The Taylor coefficients a_{k,p} = d^p K^(n)_k(0) from :mod:`volterra_sym.taylor`
give truncated kernels sum_{|p| <= P} a_{k,p} prod_j tau_j^{p_j}/p_j!, which are
exponential polynomials with zero rates, so prediction, lowering and export
work unchanged.  Valid for short lags: the truncation error of a kernel is
O(|tau|^{P+1}), so a first-order prediction over a horizon T errs by O(T^{P+2})
(measured in tests/test_routes.py).  For non-polynomial drift (tanh) the series
in the lags is in general only asymptotic (the time series of P_s g need not
converge), so raising the degree helps only at short horizons;
``predict(..., return_error=True)`` returns the contribution of the top-degree
shell as an error estimate and a :class:`TruncationWarning` flags where it
exceeds 1% of the response.
"""

from __future__ import annotations

import warnings
from math import factorial

import numpy as np
import sympy as sp

from .errors import TruncationWarning, VolterraError
from .expopoly import ExpPoly
from .kernels import lag_symbols
from .model import Diffusion, Stationary


def derive_taylor(model: Diffusion, order: int, *, lag_degree: int | None = None, dps: int = 30, **options):
    from .response import Response
    from .taylor import taylor_kernels

    if options:
        raise VolterraError(f"unexpected options for method='taylor': {sorted(options)}")
    if lag_degree is None:
        raise VolterraError("lag_degree: method='taylor' needs the Taylor degree in the lags, e.g. lag_degree=6")
    stationary = isinstance(model.initial, Stationary)
    taus, s_sym, t_sym = lag_symbols(model, order)
    V = (*taus, s_sym)
    N = order
    forms: dict = {}
    mean0 = []
    parts = []
    for comp in range(model.p):
        tk = taylor_kernels(model, order, lag_degree, dps=dps, component=comp)
        parts.append(tk)
        for (n, ks, p), coef in tk._coef.items():
            key = (comp, n, ks)
            F = forms.setdefault(key, ExpPoly(V))
            powers = [0] * (N + 1)
            for j in range(n):
                powers[j] = p[j]
            if not stationary:
                powers[N] = p[n]
            denom = 1
            for e in p:
                denom *= factorial(e)
            F._add_term((sp.Integer(0),) * (N + 1), tuple(powers), sp.sympify(coef) / denom)
        F0 = ExpPoly((t_sym,))
        for q, coef in enumerate(tk.mean0_coefficients):
            F0._add_term((sp.Integer(0),), (q,), sp.sympify(coef) / factorial(q))
        mean0.append(F0 if not stationary else ExpPoly.constant(V, tk.mean0_coefficients[0]))
    forms = {k: F.simplified(False) for k, F in forms.items()}
    return Response(
        model=model,
        order=order,
        method="taylor",
        taus=taus,
        s_sym=s_sym,
        t_sym=t_sym,
        kernel_forms=forms,
        mean0_forms=mean0,
        readout_degree=None,
        dps=dps,
        simplify=False,
        taylor=parts,
        lag_degree=lag_degree,
    )


def top_degree_part(F: ExpPoly, degree: int) -> ExpPoly:
    """The terms of total power ``degree`` (the last Taylor shell)."""
    out = ExpPoly(F.vars)
    for mu, p, c in F:
        if sum(p) == degree:
            out._add_term(mu, p, c)
    return out


def check_horizon(resp, parts: np.ndarray, top: np.ndarray, tol: float = 1e-2) -> None:
    """Warn when the top-degree Taylor shell exceeds ``tol`` of the response (the series is then unreliable)."""
    scale = np.max(np.abs(parts[1:])) if parts.shape[0] > 1 else 0.0
    est = np.abs(top)
    if scale > 0 and np.max(est) > tol * scale:
        j = int(np.argmax(est > tol * scale))
        warnings.warn(
            f"Taylor kernels of lag degree {resp.lag_degree} are inaccurate beyond t ~ {resp._last_t[j]:.3g}: the "
            f"degree-{resp.lag_degree} terms reach {np.max(est):.3g} against a response of {scale:.3g}. Use a "
            "shorter horizon, a larger lag_degree, or method='generator' (1-D).",
            TruncationWarning,
            stacklevel=3,
        )
