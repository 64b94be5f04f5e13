"""The Taylor route's derivation step: the observables L1^k L0^p f and the truncated kernels
(MATH.md section 6).  The shared record and common steps live in :mod:`volterra_sym.documents`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import sympy as sp

from ...documents.derivation import (
    ClosedFormSubject,
    Derivation,
    Equation,
    Step,
    index_label,
    route_derivation,
)


class TaylorObservables(Protocol):
    """The observables L1^{k_n} L0^{p_n} ... L1^{k_1} L0^{p_1} f of the Taylor route (one readout component)."""

    def observable(self, n: int, k: Any, p: Any) -> Any: ...


class TaylorSubject(ClosedFormSubject, Protocol):
    """A Taylor (short-lag) Response: its truncation degree and observables."""

    lag_degree: int

    @property
    def taylor(self) -> Sequence[TaylorObservables]: ...


def taylor_derivation(resp: TaylorSubject) -> Derivation:
    """The derivation record of a Taylor (short-lag) Response."""
    return route_derivation(resp, [_taylor_step(resp)])


def _taylor_step(resp: TaylorSubject) -> Step:
    tk = resp.taylor[0]
    extra = () if resp.stationary else (0,)
    obs = []
    # the lowest observables before the expectation: L1^k f (p = 0) and L1^k L0 f (p = 1), first order
    for k in range(resp.model.m):
        for p in (0, 1):
            if p <= resp.lag_degree:
                label = f"\\mathcal{{L}}_1^{{{index_label(k)}}}" + ("\\mathcal{L}_0" if p else "") + " f"
                obs.append(Equation(sp.Symbol(label), tk.observable(1, (k,), (p, *extra))))
    eqs = []
    for n, ks, expr in resp.kernels(component=0):
        label = ",".join(str(index_label(k)) for k in ks)
        args = ", ".join(sp.latex(s) for s in resp.lags(n))
        eqs.append(Equation(sp.Symbol(f"K^{{({n})}}_{{{label}}}({args})"), expr, rel=r"\approx"))
    start = "" if resp.stationary else r" (and in $s_n$, the time from the start to the oldest input)"
    return Step(
        "taylor",
        "Short-lag Taylor kernels",
        r"For analytic coefficients $P_\tau = \sum_q \frac{\tau^q}{q!}\mathcal{L}_0^q$, so "
        r"$\partial^{p_1}_{\tau_1}\cdots\partial^{p_n}_{\tau_n} K^{(n)}_k(0) = "
        r"\mathbb{E}_{\mu_0}[\mathcal{L}_1^{k_n}\mathcal{L}_0^{p_n}\cdots\mathcal{L}_1^{k_1}\mathcal{L}_0^{p_1} f]$. "
        f"The lowest observables before the expectation are listed first; the kernels are truncated at total "
        f"degree {resp.lag_degree} in the lags{start}, and are accurate only for short lags.",
        obs + eqs,
    )
