"""predict() against the exact Gaussian law of the perturbed process.

Trusts: tests/oracles.py (scipy DOP853 for the mean ODE, scipy expm/Lyapunov
for covariances, Gauss-Hermite moments).  No kernel code is involved there.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracles import expected_readout_truth

import volterra_sym as vs


def smooth_input(m):
    return lambda s: np.array([np.sin(2 * s) + 0.3, np.cos(1.3 * s)][:m])


MODELS = {
    "1d-cubic": lambda: vs.OU(1.0, 0.5, 0.7, c=0.3, readout="h1**3"),
    "2d-nonnormal-two-inputs": lambda: vs.OU(
        [[1, 2], [0, 3]], [[1, 0], [0.5, 1]], [[0.5, 0], [0.2, 0.3]], c=[0.1, -0.2], readout="h1**2*h2 + h2**3 - h1"
    ),
    "2d-complex": lambda: vs.OU([[1, 2], [-2, 1]], [1, 0], 0.5, c=[0.3, 0], readout="h1**3 + h1*h2"),
    "2d-complex-point-mass": lambda: vs.OU(
        [[1, 2], [-2, 1]], [1, 0], 0.5, c=[0.3, 0], readout="h1**3 + h1*h2", initial=vs.PointMass([0.5, -0.2])
    ),
    "2d-jordan-point-mass": lambda: vs.OU(
        [[1, 1], [0, 1]], [1, 1], 0.5, readout="h1**2 + h2**3", initial=vs.PointMass([0.5, -1])
    ),
}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "2d-complex-point-mass" else n for n in sorted(MODELS)]
)
def test_predict_matches_gaussian_law(name):
    model = MODELS[name]()
    t = np.linspace(0, 4, 801)
    u = smooth_input(model.m)
    resp = vs.derive(model)
    pred = resp.predict(u, t, eps=0.7)
    truth = expected_readout_truth(model, u, t, 0.7)
    assert np.max(np.abs(pred - truth)) <= 1e-8 * np.max(np.abs(truth))


def test_orders_separately_by_polynomial_fit_in_eps():
    """The order-n contribution equals the eps^n coefficient of the exact E f(h_t)."""
    model = MODELS["1d-cubic"]()
    t = np.linspace(0, 3, 601)
    u = smooth_input(1)
    resp = vs.derive(model)
    parts = resp.predict(u, t, eps=1.0, by_order=True)
    assert parts.shape == (4, t.size)
    epss = np.array([-1.0, -0.5, 0.5, 1.0])
    vals = np.array([expected_readout_truth(model, u, t, e) for e in epss])
    base = expected_readout_truth(model, u, t, 0.0)
    # exact cubic in eps through 5 points: solve the Vandermonde system per time
    V = np.vander(np.concatenate([[0.0], epss]), 4, increasing=True)
    coef = np.linalg.lstsq(V, np.vstack([base, vals]), rcond=None)[0]
    for n in range(4):
        assert np.max(np.abs(parts[n] - coef[n])) <= 1e-8 * (1 + np.max(np.abs(coef[n])))


def test_vector_readout_shape():
    model = vs.OU([[1, 0.5], [0, 2]], [1, 1], 0.5, readout=["h1", "h1*h2"])
    t = np.linspace(0, 1, 101)
    resp = vs.derive(model)
    assert resp.predict(np.ones(101), t).shape == (101, 2)
    assert resp.predict(np.ones(101), t, by_order=True).shape == (3, 101, 2)


def measured_order(interp, u, model, sizes):
    resp = vs.derive(model)
    errs = []
    for L in sizes:
        t = np.linspace(0, 2, L)
        pred = resp.predict(u, t, eps=1.0, interp=interp)
        truth = expected_readout_truth(model, u, t, 1.0)
        errs.append(np.max(np.abs(pred - truth)))
    h = 2 / (np.array(sizes) - 1)
    return np.polyfit(np.log(h), np.log(errs), 1)[0]


def test_cubic_quadrature_is_fourth_order():
    model = vs.OU(1.0, 1.0, 0.5, c=0.2, readout="h1**2")
    slope = measured_order("cubic", lambda s: np.array([np.sin(5 * s)]), model, [21, 41, 81])
    assert 3.6 < slope < 4.6


def test_linear_quadrature_is_second_order_and_exact_for_first_order_piecewise_linear():
    model = vs.OU(1.0, 1.0, 0.5, c=0.2, readout="h1**2")
    slope = measured_order("linear", lambda s: np.array([np.sin(5 * s)]), model, [41, 81, 161])
    assert 1.8 < slope < 2.3
    # order 1 with a piecewise-linear input is exact: compare with the ODE driven by the interpolant
    lin = vs.OU(1.0, 1.0, 0.5, c=0.2, readout="h1")
    t = np.linspace(0, 2, 11)
    samples = np.sin(5 * t)
    pred = vs.derive(lin).predict(samples, t, interp="linear")
    truth = expected_readout_truth(lin, lambda s: np.interp(s, t, samples), t, 1.0)
    assert np.max(np.abs(pred - truth)) < 1e-11


def test_stiff_and_long_horizon_no_overflow():
    model = vs.OU([[200.0, 0], [0, 0.5]], [[1], [1]], 1.0, readout="h1 + h2**2")
    t = np.linspace(0, 200, 4001)
    pred = vs.derive(model).predict(lambda s: np.array([np.sin(s)]), t)
    assert np.all(np.isfinite(pred))


@pytest.mark.parametrize(
    "t, u, eps, match",
    [
        (np.zeros((3, 2)), np.ones(3), 1.0, "1-D"),
        (np.array([0.0, 2.0, 1.0]), np.ones(3), 1.0, "increasing"),
        (np.array([0.5, 1.0, 2.0]), np.ones(3), 1.0, "start at 0"),
        (np.array([0.0, np.nan, 2.0]), np.ones(3), 1.0, "non-finite"),
        (np.linspace(0, 1, 3), np.ones(4), 1.0, "samples"),
        (np.linspace(0, 1, 3), np.ones((3, 2)), 1.0, "channel"),
        (np.linspace(0, 1, 3), np.array([1.0, np.inf, 0]), 1.0, "non-finite"),
        (np.linspace(0, 1, 3), lambda s: np.ones(2), 1.0, "shape"),
        (np.linspace(0, 1, 3), np.ones(3), float("nan"), "eps"),
    ],
)
def test_bad_input_errors(t, u, eps, match):
    resp = vs.derive(vs.OU(1, 1, 1, readout="h1"))
    with pytest.raises(vs.VolterraError, match=match):
        resp.predict(u, t, eps=eps)


def test_symbolic_parameters_need_values():
    import sympy as sp

    a = sp.Symbol("a")
    resp = vs.derive(vs.OU(a, 1, 1, readout="h1**2"))
    with pytest.raises(vs.VolterraError, match="params"):
        resp.predict(np.ones(3), np.linspace(0, 1, 3))
    resp2 = vs.derive(vs.OU(a, 1, 1, readout="h1**2", params={"a": 2}))
    num = vs.derive(vs.OU(2, 1, 1, readout="h1**2"))
    t = np.linspace(0, 1, 11)
    assert np.allclose(resp2.predict(np.ones(11), t), num.predict(np.ones(11), t), rtol=1e-13)


def test_piecewise_linear_samples_fourth_order_and_first_order_exact():
    """Sampled inputs are piecewise linear: compare with the Gaussian oracle (volterra_sym.checks.oracle shares no code
    with kernels/series and integrates piecewise-linear inputs exactly).  The filter cascades (engine='cascade')
    are exact at first order and O(h^4) beyond; the cube form (the default for linear SRNNs) is exact at every
    order."""
    model = MODELS["2d-nonnormal-two-inputs"]()
    resp = vs.derive(model)
    t0 = np.linspace(0, 4, 9)
    U0 = np.random.default_rng(0).normal(size=(9, 2))
    errs = []
    for refine in (4, 8, 16):
        t = np.linspace(0, 4, 8 * refine + 1)
        U = np.stack([np.interp(t, t0, U0[:, k]) for k in range(2)], axis=1)
        oracle = vs.gaussian_oracle(model, U, t, eps=0.8)
        errs.append(np.max(np.abs(resp.predict(U, t, eps=0.8, engine="cascade") - oracle)))
        assert np.max(np.abs(resp.predict(U, t, eps=0.8) - oracle)) <= 1e-12 * np.max(np.abs(oracle))
    slope = np.polyfit(np.log([4, 8, 16]), np.log(errs), 1)[0]
    assert -4.4 < slope < -3.6  # error ~ h^4
    lin = vs.OU([[1.0, 0.5], [0, 2.0]], [1, 1], 0.5, c=[0.2, 0], readout="h1 - 2*h2")
    t = np.linspace(0, 2, 11)
    s = np.sin(5 * t)
    got = vs.derive(lin).predict(s, t)
    assert np.max(np.abs(got - vs.gaussian_oracle(lin, s, t))) < 1e-13
