"""The exact, Taylor and generator routes through vs.derive, checked against each other (the Galerkin
route against them: tests/test_galerkin_route.py; every route's contract: tests/test_route_contract.py).

exact (routes/exact/, the intertwined recursion) vs taylor (routes/taylor/, ring-based generator powers)
vs generator (routes/generator/, discretised L0): three implementations that share no kernel code.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs
from volterra_sym.routes.taylor import TruncationWarning

a, c, c0, s = sp.symbols("a c c0 s")


def test_taylor_route_equals_series_of_exact_kernels_symbolically():
    model = vs.OU(a, c, s, c=c0, readout="h1**3")
    exact = vs.derive(model)
    P = 4
    tay = vs.derive(model, order=3, method="taylor", lag_degree=P)
    for n in (1, 2, 3):
        lags = exact.lags(n)
        K = exact.kernel(n)
        # multivariate Taylor polynomial of the exact kernel up to total degree P
        x = sp.Symbol("x")
        scaled = K.subs({v: x * v for v in lags}, simultaneous=True)
        series = sp.series(scaled, x, 0, P + 1).removeO().subs(x, 1)
        tk = tay.kernel(n).subs(dict(zip(tay.lags(n), lags)))
        assert sp.simplify(sp.expand(series - tk)) == 0


def test_taylor_and_exact_give_the_same_feature_coefficients():
    model = vs.OU(1, sp.Rational(1, 2), sp.Rational(7, 10), c=sp.Rational(3, 10), readout="h1**2")
    exact = vs.derive(model)
    tay = vs.derive(model, order=2, method="taylor", lag_degree=6)
    ce = exact.feature_coefficients(3, 2, truncation="total")
    ct = tay.feature_coefficients(3, 2)
    assert np.allclose(ce, ct, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_tanh_taylor_truncation_order_against_generator_and_horizon_warning():
    """First-order response: Taylor kernels of lag degree P err by O(T^(P+2)) over a horizon T (the kernel
    error is O(tau^(P+1)), integrated once).  Reference: the numerical-generator route (its own error,
    ~1e-7 here, is far below the measured differences)."""
    model = vs.SRNN(1, 1.5, 0.2, 1, 0.8, activation="tanh", readout="h1", initial=vs.PointMass([0.1]))
    gen = vs.derive(model, order=2, method="generator", cells=800)
    u = np.array([1.0])
    for P in (1, 2):
        tay = vs.derive(model, order=2, method="taylor", lag_degree=P)
        errs = []
        for T in (0.05, 0.1):
            t = np.linspace(0, T, 41)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TruncationWarning)
                pt = tay.predict(lambda _t: u, t, eps=0.3, by_order=True)
            errs.append(np.max(np.abs(pt[1] - gen.predict(lambda _t: u, t, eps=0.3, by_order=True)[1])))
        slope = np.log2(errs[1] / errs[0])
        assert P + 2 - 0.4 < slope < P + 2 + 0.4
    tay = vs.derive(model, order=2, method="taylor", lag_degree=4)
    with pytest.warns(TruncationWarning, match="lag degree 4"):
        tay.predict(lambda _t: u, np.linspace(0, 6, 121), eps=0.3)


def test_generator_route_matches_exact_on_ou():
    model = vs.OU(1.0, 0.5, 0.7, c=0.3, readout="h1**3")
    t = np.linspace(0, 3, 301)
    u = np.sin(2 * t)
    ex = vs.derive(model).predict(u, t, eps=0.5, by_order=True)
    errs = []
    for cells in (200, 400):
        g = vs.derive(model, order=3, method="generator", cells=cells).predict(u, t, eps=0.5, by_order=True)
        errs.append(np.max(np.abs(g - ex)))
    assert 3.0 < errs[0] / errs[1] < 5.0  # second order in the cell size
    assert errs[1] < 1e-3 * np.max(np.abs(ex))


def test_route_errors():
    model = vs.SRNN(1, 1.5, 0.2, 1, 0.8, activation="tanh", readout="h1", initial=vs.PointMass([0.1]))
    with pytest.raises(vs.VolterraError, match="lag_degree"):
        vs.derive(model, order=2, method="taylor")
    with pytest.raises(vs.VolterraError, match="lag_degree"):
        vs.derive(model, order=2, method="taylor", lag_degree=-1)
    with pytest.raises(vs.VolterraError, match="order"):
        vs.derive(model, method="generator")
    with pytest.raises(vs.VolterraError, match="Abs|analytic"):
        vs.derive(vs.OU(1, 1, 1, readout="Abs(h1)"), order=1, method="taylor", lag_degree=2)


def test_generator_route_documents_its_computation_and_refuses_modules(tmp_path):
    model = vs.SRNN(1, 1.5, 0.2, 1, 0.8, activation="tanh", readout="h1", initial=vs.PointMass([0.1]))
    gen = vs.derive(model, order=2, method="generator", cells=200)
    assert "K^(2)_[1,1]" in gen.summary()
    js = gen.to_json()
    assert js["method"] == "generator" and len(js["kernels"]) == 2
    tex = gen.to_latex()
    assert "Discretised generator" in tex and "N_{\\mathrm{cells}}" in tex
    assert "Discretised generator" in gen.to_markdown()
    with pytest.raises(vs.ArgumentError, match="numerically"):
        gen.write_module(tmp_path / "k.py")
