"""The Taylor (short-lag) route wrapped as a :class:`~volterra_sym.response.Response`.

The Taylor coefficients a_{k,p} = d^p K^(n)_k(0) from :mod:`volterra_sym.routes.taylor.coefficients`
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
from typing import Any

import numpy as np
import sympy as sp

from ... import limits
from ...algebra.exp_polynomial import ExpPoly
from ...documents.derivation import Derivation
from ...errors import NotNormalisableError, StationaryLawError, TruncationWarning
from ...model.diffusion import Diffusion, Stationary
from ...response import TaylorFunction, lag_symbols
from ...validate import derive_advice, refusal
from ..base import ContractCase, Route
from ..closed_form import ClosedFormResponse, KernelKey
from ..options import DPS, Option
from .coefficients import TaylorKernels, taylor_kernels
from .derivation import taylor_derivation

#: the relative size of the top Taylor shell above which predictions warn
HORIZON_TOLERANCE = 1e-2


def derive_taylor(
    model: Diffusion,
    order: int,
    *,
    lag_degree: int,
    dps: int = limits.DEFAULT_DPS,
    stationary_degree: int | None = None,
) -> TaylorResponse:
    """Truncated Taylor kernels sum_{|p| <= lag_degree} a_{k,p} prod tau^p / p! (module docstring).

    When the stationary law has no closed form or quadrature here (non-gradient models in n >= 2),
    its expectations come from the Galerkin route's stationary law (left null vector of M), with
    the error estimate of degree p against p + 2 in ``expectation_report``.
    """
    stationary = isinstance(model.initial, Stationary)
    taus, s_sym, t_sym = lag_symbols(model, order)
    V = (*taus, s_sym)
    N = order
    forms: dict[KernelKey, ExpPoly] = {}
    mean0: list[ExpPoly] = []
    parts: list[TaylorKernels] = []
    for comp in range(model.p):
        tk = _taylor_kernels(model, order, lag_degree, dps, comp, stationary_degree)
        parts.append(tk)
        for (n, ks, p), coef in tk.coefficients.items():
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
            F.add_term((sp.Integer(0),) * (N + 1), tuple(powers), sp.sympify(coef, strict=True) / denom)
        F0 = ExpPoly((t_sym,))
        for q, coef in enumerate(tk.mean0_coefficients):
            F0.add_term((sp.Integer(0),), (q,), sp.sympify(coef, strict=True) / factorial(q))
        mean0.append(F0 if not stationary else ExpPoly.constant(V, tk.mean0_coefficients[0]))
    forms = {k: F.simplified(False) for k, F in forms.items()}
    return TaylorResponse(
        model=model, order=order, kernel_forms=forms, mean0_forms=mean0, dps=dps, taylor=parts, lag_degree=lag_degree
    )


def _taylor_kernels(
    model: Diffusion, order: int, lag_degree: int, dps: int, comp: int, stationary_degree: int | None
) -> TaylorKernels:
    """Taylor coefficients; the Galerkin stationary law where rho_inf has no closed form here."""
    try:
        return taylor_kernels(model, order, lag_degree, dps=dps, component=comp)
    except NotNormalisableError:
        raise
    except StationaryLawError as exc:
        if not isinstance(model.initial, Stationary):
            raise
        if model.parameters and any(p not in model.params for p in model.parameters):
            raise StationaryLawError(
                f"{exc} (the Galerkin stationary law needs numeric values for every parameter: give params=)"
            ) from None
        from ..stationary_expectation import GalerkinExpectation

        degree = stationary_degree or {2: 12, 3: 8}.get(model.n, 6)
        engine = GalerkinExpectation(model, degree)
        return taylor_kernels(model, order, lag_degree, dps=dps, component=comp, engine=engine)


class TaylorResponse(ClosedFormResponse):
    """Truncated Taylor kernels (zero-rate exponential polynomials).

    Extra attributes: ``lag_degree`` (the truncation degree P), ``taylor`` (one
    :class:`~volterra_sym.routes.taylor.coefficients.TaylorKernels` per readout component).
    """

    _feature_defaults = {"truncation": "total"}

    def __init__(self, *, taylor: list[TaylorKernels], lag_degree: int, **forms: Any) -> None:
        super().__init__(simplify=False, **forms)
        self.taylor = taylor
        self.lag_degree = lag_degree

    def _check_taylor_degree(self, total: int, what: str) -> None:
        if total > self.lag_degree:
            raise refusal(
                what,
                f"total degree {total} exceeds lag_degree={self.lag_degree} of these Taylor kernels (the truncated "
                "kernels would give 0)",
                derive_advice("lag_degree", total),
            )

    def _taylor_function(self, level: int, component: int) -> TaylorFunction:
        super()._taylor_function(level, component)  # order and start checks
        tk = self.taylor[component]

        def taylor(n: int, k: tuple[int, ...], p: tuple[int, ...]) -> Any:
            self._check_taylor_degree(sum(p), "degree")
            return tk.coefficient(n, k, p)

        return taylor

    def _top_shell_degree(self) -> int | None:
        return self.lag_degree

    def _after_prediction(self, tt: np.ndarray, parts: np.ndarray, top: np.ndarray) -> None:
        warn_horizon(self.lag_degree, tt, parts, top)

    def _build_derivation(self) -> Derivation:
        return taylor_derivation(self)


def top_degree_part(F: ExpPoly, degree: int) -> ExpPoly:
    """The terms of total power ``degree`` (the last Taylor shell)."""
    out = ExpPoly(F.vars)
    for mu, p, c in F:
        if sum(p) == degree:
            out.add_term(mu, p, c)
    return out


def reliable_horizon(tt: np.ndarray, parts: np.ndarray, top: np.ndarray, tol: float = HORIZON_TOLERANCE) -> int | None:
    """Index of the first time where the top Taylor shell exceeds ``tol`` of the response seen so far.

    parts : (order+1, len(t), p) contributions; top : (len(t), p) top-shell estimate.  The scale at
    time t is the running maximum of |response| up to t (not over the whole range, which would let
    values after the series has diverged move the horizon later).  None when it never does.
    """
    if parts.shape[0] < 2:
        return None
    size = np.max(np.abs(parts[1:]), axis=(0, 2))  # (len(t),)
    scale = np.maximum.accumulate(size)
    est = np.max(np.abs(top), axis=1)
    bad = (est > tol * scale) & (est > 0)
    return int(np.argmax(bad)) if np.any(bad) else None


def warn_horizon(lag_degree: int, tt: np.ndarray, parts: np.ndarray, top: np.ndarray) -> None:
    """Warn (TruncationWarning) from the first time the top Taylor shell exceeds 1% of the response."""
    j = reliable_horizon(tt, parts, top)
    if j is not None:
        warnings.warn(
            f"Taylor kernels of lag degree {lag_degree} are inaccurate beyond t ~ {tt[j]:.3g}: there the "
            f"degree-{lag_degree} terms reach {HORIZON_TOLERANCE:.0%} of the response so far (the error grows "
            "after that). Use a shorter horizon, a larger lag_degree, or method='galerkin' / 'generator' (1-D).",
            TruncationWarning,
            stacklevel=4,
        )


class TaylorRoute(Route):
    """Short-lag Taylor kernels of any analytic model (MATH.md section 6)."""

    name = "taylor"
    summary = "short-lag Taylor kernels (any analytic drift; needs lag_degree)"
    schema = (
        Option(
            "lag_degree",
            "int",
            "the Taylor degree in the lags",
            limit="MAX_LAG_DEGREE",
            required="the Taylor degree in the lags, e.g. lag_degree=6",
        ),
        DPS,
        Option(
            "stationary_degree",
            "int",
            "Galerkin degree of the stationary law when it has no closed form (non-gradient models in 2 or "
            "more dimensions; default by dimension)",
            minimum=1,
            limit="MAX_GALERKIN_DEGREE",
        ),
    )
    response = TaylorResponse

    def _derive(self, model: Diffusion, order: int | None, **options: Any) -> TaylorResponse:
        assert order is not None  # the base class requires it (default_order is False)
        return derive_taylor(
            model,
            order,
            lag_degree=options["lag_degree"],
            dps=options["dps"],
            stationary_degree=options["stationary_degree"],
        )

    def contract_case(self) -> ContractCase:
        cubic = Diffusion("h1", "-h1 - h1**3", 0.7, 1.0, "h1", name="cubic")
        return ContractCase(cubic, 2, {"lag_degree": 2})
