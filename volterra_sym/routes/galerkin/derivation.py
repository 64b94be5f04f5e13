"""The Galerkin route's derivation steps: the basis, the weight, kernel values with their error
estimates and the convergence table (MATH.md section 9).  The shared record and common steps live in
:mod:`volterra_sym.documents`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import sympy as sp

from ...documents.derivation import (
    DerivationSubject,
    Equation,
    Step,
    Table,
    index_label,
)


class GalerkinSubject(DerivationSubject, Protocol):
    """A Galerkin Response: its basis, weight, rates, error estimates and convergence table."""

    degree: int
    N: int
    weight: str
    tol: float

    def index_tuples(self, n: int) -> list[tuple[int, ...]]: ...

    def leading_rates(self, k: int = 4) -> np.ndarray: ...

    def kernel_error(
        self, n: int, k: Sequence[int] | int | None, lags: Any, component: int = 0
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def convergence_table(self, degrees: Sequence[int] | None = None, lags: Sequence[float] = ...) -> Any: ...


def galerkin_steps(resp: GalerkinSubject) -> list[Step]:
    """What the Galerkin route computed: basis, weight, the matrices, rates, error estimates, convergence in p."""
    n_state = resp.model.n
    lhs = r"K^{(n)}_{k_1\dots k_n}(\tau_1,\dots,\tau_n" + ("" if resp.stationary else "; s") + ")"
    rhs = (r"l\, " if resp.stationary else r"l\, e^{s M}") + (
        r"\Gamma_{k_n} e^{\tau_n M} \cdots \Gamma_{k_1} e^{\tau_1 M} c_f"
    )
    rates = np.asarray(resp.leading_rates(4))
    eqs = [
        Equation(sp.Symbol(r"p"), sp.Integer(resp.degree), note="total degree of the basis"),
        Equation(sp.Symbol(r"N"), sp.Integer(resp.N), note=f"basis functions, $\\binom{{{n_state} + p}}{{p}}$"),
        Equation(lhs, rhs, rel=r"\approx"),
    ]
    for j, r in enumerate(rates, start=1):
        z = complex(r)
        eqs.append(
            Equation(
                sp.Symbol(rf"-\lambda_{{{j}}}"),
                sp.Float(z.real, 5) + sp.I * sp.Float(z.imag, 5),
                note="slowest relaxation rate" if j == 1 else "",
            )
        )
    lags = (0.5, 1.0, 2.0)
    values = []
    for n in range(1, resp.order + 1):
        for ks in resp.index_tuples(n):
            width = n if resp.stationary else n + 1
            pts = np.repeat(np.asarray(lags)[:, None], width, axis=1)
            vals, errs = resp.kernel_error(n, ks, pts, 0)
            label = ",".join(str(index_label(k)) for k in ks)
            cells = [
                rf"{float(v):.8f} \pm {_sci(float(e))}" for v, e in zip(np.atleast_1d(vals), np.atleast_1d(errs))
            ]
            values.append([rf"K^{{({n})}}_{{{label}}}"] + cells)
    lag_cols = [rf"\tau = {x:g}" for x in lags]
    tables = [
        Table(
            r"Kernels at equal lags $K^{(n)}_k(\tau, \dots, \tau)$, with their error estimates",
            ["\\text{kernel}"] + lag_cols,
            values,
        ),
        Table(
            "Convergence in the degree $p$ of the first-order kernel",
            ["p"] + [rf"K^{{(1)}}_1({x:g})" for x in lags],
            [
                [str(d)] + [f"{float(v):.10f}" for v in np.atleast_1d(vals)]
                for d, vals in resp.convergence_table(lags=lags)
            ],
        ),
    ]
    return [
        Step(
            "galerkin",
            "Galerkin approximation of the generator (numerical route)",
            r"The generator is approximated on the polynomials of total degree $\le p$, orthonormal for the "
            f"reference weight {_prose_weight(resp.weight)}: "
            r"$G_{ij} = \langle\psi_i, \psi_j\rangle$, $A_{ij} = \langle\psi_i, \mathcal{L}_0\psi_j\rangle$, "
            r"$M = G^{-1}A$, $\Gamma_k = G^{-1}\langle\psi_i, \mathcal{L}_1^k\psi_j\rangle$, "
            r"$c_f = G^{-1}\langle\psi, f\rangle$; "
            + (
                r"the stationary law is the left null vector $l$ of $M$ with $l \cdot c_1 = 1$. "
                if resp.stationary
                else r"the initial law enters through the exact expectations $l$ of the basis functions. "
            )
            + r"The eigenvalues $\lambda_j$ of $M$ closest to 0 (besides the zero mode) give the slowest relaxation "
            "rates. Error estimates compare degrees $p - 2$, $p$ and $p + 2$ on the same weight "
            f"(tolerance {resp.tol:g} relative); for linear SRNNs the route is exact. The kernels are numbers, "
            "not formulas: their values at equal lags are tabulated, then the first-order kernel for several degrees.",
            eqs,
            tables,
        )
    ]


def _sci(x: float) -> str:
    """1.7e-07 as LaTeX: 1.7 \\cdot 10^{-7}."""
    if x == 0 or not np.isfinite(x):
        return "0" if x == 0 else r"\infty"
    mant, exp = f"{x:.1e}".split("e")
    return rf"{mant} \cdot 10^{{{int(exp)}}}"


def _prose_weight(text: str) -> str:
    """A weight description for LaTeX prose (no raw underscores or carets)."""
    return "``" + text.replace("_", " ").replace("^", " ").replace("$", "").replace("\\", " ") + "''"
