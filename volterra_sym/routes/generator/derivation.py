"""The generator route's derivation step: the finite-volume grid, its spectrum and kernel values at
equal lags (docs/generator.md).  The shared record and common steps live in :mod:`volterra_sym.documents`.
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
    index_label,
)


class GridFacts(Protocol):
    """The discretisation grid of the generator route."""

    @property
    def edges(self) -> np.ndarray: ...

    @property
    def cells(self) -> int: ...


class GeneratorSubject(DerivationSubject, Protocol):
    """A discretised-generator Response: its grid, spectrum and kernel values."""

    @property
    def grid(self) -> GridFacts: ...

    @property
    def eigenvalues(self) -> np.ndarray: ...

    def index_tuples(self, n: int) -> list[tuple[int, ...]]: ...

    def kernel_values(
        self, n: int, k: Sequence[int] | int | None, lags: Any, component: int | None = None
    ) -> np.ndarray: ...


def generator_steps(resp: GeneratorSubject) -> list[Step]:
    """What the 1-D discretised-generator route computed: the grid, its spectrum, kernel values."""
    g = resp.grid
    lam = resp.eigenvalues
    slow = [-float(x) for x in lam[::-1][1:4]]
    eqs = [
        Equation(sp.Symbol(r"N_{\mathrm{cells}}"), sp.Integer(g.cells)),
        Equation(
            sp.Symbol(r"[x_{\mathrm{lo}}, x_{\mathrm{hi}}]"),
            sp.Interval(*(sp.Float(float(v), 6) for v in (g.edges[0], g.edges[-1]))),
        ),
        Equation(
            sp.Symbol(r"\text{slowest rates } -\lambda_{2,3,4}"),
            sp.Matrix([[sp.Float(v, 6) for v in slow]]),
        ),
    ]
    lags = (0.0, 0.5, 1.0, 2.0)
    for n in range(1, resp.order + 1):
        for ks in resp.index_tuples(n):
            width = n if resp.stationary else n + 1
            pts = np.repeat(np.asarray(lags)[:, None], width, axis=1)
            vals = np.atleast_1d(resp.kernel_values(n, ks, pts, 0))
            label = ",".join(str(index_label(k)) for k in ks)
            eqs.append(
                Equation(
                    sp.Symbol(f"K^{{({n})}}_{{{label}}}(\\tau,\\dots,\\tau)\\big|_{{\\tau = 0, 0.5, 1, 2}}"),
                    sp.Matrix([[sp.Float(float(v), 8) for v in vals]]),
                    rel=r"\approx",
                )
            )
    return [
        Step(
            "discretisation",
            "Discretised generator (numerical route)",
            r"The generator $\mathcal{L}_0$ of the 1-D model is discretised by finite volumes on a grid that "
            r"covers the stationary bulk; its symmetrised form is diagonalised once, "
            r"$P_\tau = e^{\tau \mathcal{L}_{0,h}}$, and the kernels are "
            r"$K^{(n)} = \mu_0 \cdot \mathcal{L}_1^{k_n} P_{\tau_n} \cdots \mathcal{L}_1^{k_1} P_{\tau_1} f$ "
            "evaluated in that eigenbasis (docs/generator.md). The kernels are numbers, not formulas: "
            "values at equal lags are listed.",
            eqs,
        )
    ]
