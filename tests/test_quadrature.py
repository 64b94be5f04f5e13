"""Simplex quadrature of arbitrary kernels: against the exact route, measured order 2, and its guards.

Trusts: the Gaussian oracle (volterra_sym.checks.oracle) for the reference response; the kernels enter only
as lowered NumPy callables, so the cascade code of series.py is not involved.
"""

from __future__ import annotations

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym.numerics.simplex_quadrature import QuadratureCostWarning, volterra_quadrature


def _setup(start="stationary"):
    init = "stationary" if start == "stationary" else vs.PointMass([0.4])
    model = vs.OU(1.0, 0.8, 0.5, c=0.2, readout="h1**2", initial=init)
    resp = vs.derive(model)
    low = resp.lower()
    kernels = {(1, (0,)): low.kernel(1), (2, (0, 0)): low.kernel(2)}
    return model, resp, low, kernels


@pytest.mark.parametrize("start", ["stationary", "point"])
def test_second_order_convergence_to_the_oracle(start):
    model, resp, low, kernels = _setup(start)
    errs = []
    sizes = [21, 41, 81]
    for L in sizes:
        t = np.linspace(0, 2, L)
        u = np.sin(3 * t) + 0.5
        got = volterra_quadrature(kernels, u, t, mean0=low.mean0, stationary=resp.stationary)
        errs.append(np.max(np.abs(got - vs.gaussian_oracle(model, u, t))))
    slope = np.polyfit(np.log(sizes), np.log(errs), 1)[0]
    assert -2.3 < slope < -1.7


def test_by_order_and_errors(monkeypatch):
    model, resp, low, kernels = _setup()
    t = np.linspace(0, 1, 31)
    parts = volterra_quadrature(kernels, np.ones(31), t, mean0=low.mean0, by_order=True)
    assert parts.shape == (3, 31)
    with pytest.raises(vs.VolterraError, match="n <= 2"):
        volterra_quadrature({(3, (0, 0, 0)): lambda a, b, c: a}, np.ones(31), t)
    with pytest.raises(vs.VolterraError, match="kernel evaluations"):
        volterra_quadrature(kernels, np.ones(30000), np.linspace(0, 1, 30000))
    too_little = vs.limits.overridden(max_quadrature_memory=10_000)
    with too_little, pytest.raises(vs.InputError, match="MAX_QUADRATURE_MEMORY"):
        volterra_quadrature(kernels, np.ones(31), t)
    monkeypatch.setattr("volterra_sym.limits.WARN_QUADRATURE_EVALS", 100.0)
    with pytest.warns(QuadratureCostWarning):
        volterra_quadrature({(1, (0,)): kernels[(1, (0,))]}, np.ones(31), t)
    with pytest.raises(vs.VolterraError, match="input indices"):
        volterra_quadrature({(1, (1,)): kernels[(1, (0,))]}, np.ones(31), t)
