"""Exact kernels of linear SRNNs.

Trusts: tests/oracles.py (scipy expm/Lyapunov + Gauss-Hermite quadrature of the
pathwise identity K^(n) = E[D^n f(h^0_t)][v_1..v_n]) and the hand-written
MATH.md section 5 example.  Shares no code with volterra_sym.routes.exact.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import pathwise_kernel

import volterra_sym as vs

a, c, c0, s = sp.symbols("a c c0 s")


def test_math_md_worked_example_exactly():
    resp = vs.derive(vs.OU(a, c, s, c=c0, readout="h1**3"), order=4)
    t1, t2, t3 = resp.lags(3)
    expected = {
        1: 3 * c * (a * s**2 + 2 * c0**2) / (2 * a**2) * sp.exp(-a * t1),
        2: 6 * c**2 * c0 / a * sp.exp(-2 * a * t1 - a * t2),
        3: 6 * c**3 * sp.exp(-3 * a * t1 - 2 * a * t2 - a * t3),
    }
    for n, e in expected.items():
        assert sp.simplify(resp.kernel(n) - e) == 0
    assert resp.kernel(4) == 0
    assert resp.vanishes(4) and 4 in resp.zero_orders
    # stationary mean E h^3 = m^3 + 3 m v with m = c0/a, v = s^2/(2a)
    m, v = c0 / a, s**2 / (2 * a)
    assert sp.simplify(resp.mean0 - (m**3 + 3 * m * v)) == 0


def test_fdt_form_agrees_with_recursion_symbolically():
    resp = vs.derive(vs.OU(a, c, s, c=c0, readout="h1**3 + 2*h1**2"))
    assert sp.simplify(resp.fdt_kernel() - resp.kernel(1)) == 0


def test_two_dimensional_symbolic():
    b, d = sp.symbols("b d")
    model = vs.OU([[a, b], [0, d]], [1, 0], s, readout="h1**2 + h2")
    resp = vs.derive(model)
    vals = {a: sp.Rational(3, 2), b: sp.Rational(1, 2), d: 1, s: sp.Rational(7, 10)}
    num = vs.OU([[1.5, 0.5], [0, 1]], [1, 0], 0.7, readout="h1**2 + h2")
    for n in (1, 2):
        taus = np.array([0.3, 0.8][:n])
        got = float(resp.kernel(n).xreplace(vals).subs(dict(zip(resp.lags(n), taus))).evalf())
        ref = pathwise_kernel(num, (0,) * n, taus)
        assert got == pytest.approx(ref, rel=1e-10, abs=1e-13)


CASES = {
    "2d-nonnormal-two-inputs": lambda: vs.OU(
        [[1, 2], [0, 3]], [[1, 0], [0.5, 1]], [[0.5, 0], [0.2, 0.3]], c=[0.1, -0.2], readout="h1**2*h2 + h2**3 - h1"
    ),
    "2d-complex": lambda: vs.OU([[1, 2], [-2, 1]], [1, 0], 0.5, c=[0.3, 0], readout="h1**3 + h1*h2"),
    "2d-jordan": lambda: vs.OU([[1, 1], [0, 1]], [1, 1], 0.5, readout="h1**2 + h2**3"),
    "2d-jordan-point-mass": lambda: vs.OU(
        [[1, 1], [0, 1]], [1, 1], 0.5, readout="h1**2 + h2**3", initial=vs.PointMass([0.5, -1])
    ),
    "3d-irrational-spectrum": lambda: vs.OU(
        [[2, 1, 0], [0, 3, 1], [1, 0, 4]], [[1], [0], [0.5]], 0.5, c=[1, 0, 0], readout="h1**3 + h2*h3"
    ),
    "3d-gaussian-start": lambda: vs.OU(
        [[2, 1, 0], [0, 3, 1], [1, 0, 4]],
        [[1], [0], [0.5]],
        0.5,
        c=[1, 0, 0],
        readout="h1**3 + h2*h3",
        initial=vs.Gaussian([1, 0, 0], [[1, 0, 0], [0, 2, 0], [0, 0, 1]]),
    ),
    "srnn-identity": lambda: vs.SRNN(
        [[1, 0], [0, 1]], [[0.2, -0.5], [0.4, 0.1]], [0.1, 0], [[1], [0.3]], 0.4, readout="h1*h2 + h1**2"
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernels_match_pathwise_identity(name):
    model = CASES[name]()
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    resp = vs.derive(model)
    for n in range(1, resp.order + 1):
        for _ in range(2):
            ks = tuple(int(x) for x in rng.integers(0, model.m, n))
            taus = rng.uniform(0.05, 1.5, n)
            s_n = float(rng.uniform(0, 1))
            K = resp.kernel(n, ks, component=0)
            args = list(taus) + ([] if resp.stationary else [s_n])
            got = complex(sp.sympify(K).subs(dict(zip(resp.lags(n), args))).evalf()) if K != 0 else 0
            assert abs(got.imag) < 1e-12 * (1 + abs(got))
            ref = pathwise_kernel(model, ks, taus, s_n)
            assert got.real == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_six_dimensional_numeric_with_complex_spectrum():
    rng = np.random.default_rng(6)
    A = np.eye(6) * 2 + np.triu(rng.normal(size=(6, 6)) * 0.5, 1)
    A[5, 4] = -1.0  # a complex pair
    model = vs.OU(A, rng.normal(size=(6, 2)), 0.3, readout="h1**2 + h3*h6 + h2")
    resp = vs.derive(model, order=2)
    assert resp.linear.domain == "numeric"
    for ks in [(0,), (1,), (0, 1), (1, 1)]:
        taus = rng.uniform(0.1, 1.0, len(ks))
        K = resp.kernel(len(ks), ks)
        got = float(sp.re(K.subs(dict(zip(resp.lags(len(ks)), taus))).evalf()))
        assert got == pytest.approx(pathwise_kernel(model, ks, taus), rel=1e-9, abs=1e-12)


def test_vector_readout_returns_matrix():
    resp = vs.derive(vs.OU(1, 1, 1, readout=["h1", "h1**2"]))
    K1 = resp.kernel(1)
    assert isinstance(K1, sp.MatrixBase) and K1.shape == (2, 1)
    assert resp.kernel(2, component=0) == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    degree=st.integers(1, 3),
    start=st.sampled_from(["stationary", "point"]),
)
@pytest.mark.slow  # measured ~3.5s of the default run (issue 18: default run <= 90 s)
def test_property_random_stable_models(seed, degree, start):
    rng = np.random.default_rng(seed)
    n = 2
    M = rng.normal(size=(n, n))
    A = M @ M.T + 0.5 * np.eye(n) + 0.3 * rng.normal(size=(n, n))
    if np.min(np.linalg.eigvals(A).real) <= 0.1:
        A = A + (0.2 - np.min(np.linalg.eigvals(A).real)) * np.eye(n)
    A = np.round(A, 3)
    C = np.round(rng.normal(size=(n, 1)), 3)
    sig = np.round(rng.normal(size=(n, n)), 3)
    coeffs = np.round(rng.normal(size=3), 2)
    readout = f"{coeffs[0]}*h1**{degree} + {coeffs[1]}*h2 + {coeffs[2]}*h1*h2"
    init = "stationary" if start == "stationary" else vs.PointMass(list(np.round(rng.normal(size=n), 2)))
    model = vs.OU(A, C, sig, c=list(np.round(rng.normal(size=n), 2)), readout=readout, initial=init)
    resp = vs.derive(model)
    n_order = resp.order
    taus = rng.uniform(0.05, 1.0, n_order)
    K = resp.kernel(n_order)
    args = list(taus) + ([] if resp.stationary else [0.4])
    got = complex(sp.sympify(K).subs(dict(zip(resp.lags(n_order), args))).evalf()).real if K != 0 else 0.0
    ref = pathwise_kernel(model, (0,) * n_order, taus, 0.4)
    assert got == pytest.approx(ref, rel=1e-8, abs=1e-10)
