"""The stationary expectation E_inf[g] of models whose stationary law has no closed form.

Shared by two routes, below both: the Taylor route asks it for the moments E_inf[prod h^e] of
non-gradient models in 2 or more dimensions; it is computed by the Galerkin route's numerical core
(the left null vector l of the generator matrix M on a polynomial basis, error estimate from the
degrees p and p + 2, :mod:`volterra_sym.routes.galerkin.estimate`).  Neither route object is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp

from ..model.diffusion import Diffusion
from .galerkin.estimate import galerkin_error


class GalerkinExpectation:
    """Stationary expectations E_inf[g] ~ l . c_g from the Galerkin route, for the Taylor route.

    Implements what :class:`~volterra_sym.routes.taylor.coefficients.TaylorKernels` asks of an
    expectation engine: ``of_terms(terms, gens)`` (E of sum_e c_e prod_j gens_j^{e_j}) and ``report``
    (method, degree, basis size, weight and the largest error estimate |E_p - E_(p+2)| seen).
    """

    def __init__(self, model: Diffusion, degree: int) -> None:
        self.estimate = galerkin_error(model.with_values() if model.parameters else model, degree, order=1)
        self.degree = degree
        self.max_error = 0.0
        self._cache: dict[tuple[Any, ...], Any] = {}

    def of_terms(self, terms: Any, gens: Sequence[Any]) -> Any:
        """E_inf[sum_e c_e prod_j gens_j^{e_j}] = sum_e c_e E_inf[prod_j gens_j^{e_j}] (monomial moments cached)."""
        gens = tuple(sp.sympify(g, strict=True) for g in gens)
        total = sp.Integer(0)
        for ex, c in terms.items():
            total += sp.sympify(c, strict=True) * self._moment(gens, tuple(int(e) for e in ex))
        return total

    def _moment(self, gens: tuple[Any, ...], ex: tuple[int, ...]) -> Any:
        key = (gens, ex)
        if key not in self._cache:
            mono = sp.Mul(*[g**e for g, e in zip(gens, ex) if e])
            if not mono.free_symbols & set(self.estimate.coarse.model.state):
                self._cache[key] = mono
            else:
                value, err = self.estimate.expectation(mono)
                self.max_error = max(self.max_error, float(err))
                self._cache[key] = sp.Float(value, 15)
        return self._cache[key]

    @property
    def report(self) -> dict[str, Any]:
        system = self.estimate.coarse
        return {
            "initial law": "stationary, Galerkin left null vector of M (no closed form for this model)",
            "degree": self.degree,
            "basis size": system.M.shape[0],
            "weight": system.weight.describe(),
            "error estimate": self.max_error,
        }
