"""Hard cases found by review: ill-conditioned spectra, stiff or irregular grids, mixed symbolic/numeric models.

Trusts: tests/oracles.py (scipy expm + Gauss-Hermite pathwise identity), the Gaussian oracle
(volterra_sym.checks.oracle, shares no code with kernels/series), mpmath at 80 digits.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
from oracles import pathwise_kernel

import volterra_sym as vs


@pytest.mark.parametrize("gap", [1e-4, 1e-8, 1e-12])
def test_nearly_defective_A_stays_accurate_in_float(gap):
    """Distinct eigenvalues 1 and 1 + gap: exact coefficients ~ gap^-2 cancel; merged before float evaluation."""
    model = vs.OU(
        [[1, 1], [0, 1 + gap]],
        [[0.3], [1]],
        0.5,
        c=[0.3, 0.1],
        readout="h1**2 + h1*h2",
        initial=vs.PointMass([0.1, 0.2]),
    )
    resp = vs.derive(model)
    t = np.linspace(0, 5, 401)
    u = np.sin(t)
    truth = vs.gaussian_oracle(model, u, t)
    assert np.max(np.abs(resp.predict(u, t) - truth)) < 1e-9 * np.max(np.abs(truth))
    lowered = resp.lower()
    for taus in ([0.5, 0.7, 0.2], [3.0, 0.1, 1.5]):
        ref = pathwise_kernel(model, (0, 0), taus[:2], taus[2])
        assert lowered.kernel(2)(*taus) == pytest.approx(ref, rel=1e-9, abs=1e-13)


def test_clustered_irrational_spectrum_raises_working_precision():
    """Roots 1 +- 1e-12 and 2 of an irreducible cubic: the working precision is raised automatically."""
    z = sp.Symbol("z")
    p = sp.Poly(sp.expand((z - 1) ** 2 * (z - 2) + sp.Rational(1, 10**24)), z)
    a0, a1, a2 = (-c for c in p.all_coeffs()[1:][::-1])
    A = [[0, 1, 0], [0, 0, 1], [a0, a1, a2]]
    model = vs.OU(A, [[0], [0], [1]], 0.5, readout="h1**2 + h2", initial=vs.PointMass([1, 0, 0]))
    resp = vs.derive(model)
    assert resp.dps > 30
    tau, s = sp.Rational(2, 5), sp.Rational(3, 10)
    got = sp.N(resp.kernel(1).subs(dict(zip(resp.lags(1), (tau, s)))), 25)
    # reference: K1(tau; s) = 2 E[h1(t)] (e^{-A tau} C)_1 + (e^{-A tau} C)_2 with t = tau + s, from 80-digit expm
    with mpmath.workdps(80):
        Am = mpmath.matrix([[mpmath.mpf(sp.Rational(x).p) / sp.Rational(x).q for x in row] for row in A])
        v = mpmath.expm(-Am * mpmath.mpf(tau)) * mpmath.matrix([0, 0, 1])
        mean = mpmath.expm(-Am * (mpmath.mpf(tau) + mpmath.mpf(s))) * mpmath.matrix([1, 0, 0])
        ref = 2 * mean[0] * v[0] + v[1]
    assert abs(float(got) - float(ref)) < 1e-15 * abs(float(ref))


def test_numeric_spectrum_with_symbolic_readout_weights():
    A3 = [[2, 1, 0], [0, 3, 1], [1, 0, 4]]  # irreducible characteristic cubic: numeric domain
    w = sp.Symbol("w")
    h1, h2 = sp.symbols("h1 h2")
    model = vs.OU(A3, [[1], [0], [0.5]], 0.5, c=[1, 0, 0], readout=w * h1**2 + h2, params={"w": 2})
    resp = vs.derive(model)
    assert resp.linear.domain == "numeric" and w in resp.kernel(1).free_symbols
    ref = pathwise_kernel(vs.OU(A3, [[1], [0], [0.5]], 0.5, c=[1, 0, 0], readout=2 * h1**2 + h2), (0,), [0.3])
    assert float(resp.kernel(1).subs({w: 2, resp.lags(1)[0]: 0.3})) == pytest.approx(ref, rel=1e-12)
    s = sp.Symbol("s")
    with pytest.raises(vs.ModelError, match="numeric values"):
        vs.derive(vs.OU(A3, [[1], [0], [0.5]], s, readout="h1**2"))


def test_complex_quadratic_spectrum_gives_real_expressions():
    model = vs.OU(
        [[0, 1, 0], [0, 0, 1], [1, -2, 2]],
        [[0], [0], [1]],
        0.4,
        c=[0.1, 0, 0.2],
        readout="h1**2",
        initial=vs.PointMass([1, 0, 0]),
    )
    resp = vs.derive(model)  # eigenvalues 1, 1/2 +- i sqrt(3)/2
    assert not resp.kernel(1).has(sp.I) and not resp.mean0.has(sp.I)
    val = float(resp.kernel(1).subs(dict(zip(resp.lags(1), (0.5, 0.3)))))
    assert val == pytest.approx(pathwise_kernel(model, (0,), [0.5], 0.3), rel=1e-10)


def test_stiff_rates_on_coarse_and_irregular_grids():
    m = vs.OU(100.0, 1.0, 0.5, readout="h1")
    t = np.linspace(0, 1000, 101)  # |mu| h = 1000 per step
    assert np.allclose(vs.derive(m).predict(np.ones(101), t), vs.gaussian_oracle(m, np.ones(101), t), rtol=1e-12)
    m2 = vs.OU(0.5, 1.0, 0.5, readout="h1")
    t2 = np.r_[0, np.geomspace(1e-9, 10, 3000)]  # steps from 1e-9 to 0.03: first order is still exact
    got = vs.derive(m2).predict(np.ones_like(t2), t2)
    assert np.max(np.abs(got - vs.gaussian_oracle(m2, np.ones_like(t2), t2))) < 1e-13
    with pytest.raises(vs.VolterraError, match="floating-point range"):
        vs.derive(m).predict(np.ones(3), [0, 1e300, 1.7e308])


def test_review_small_cases():
    from volterra_sym.numerics.simplex_quadrature import volterra_quadrature

    # stiff kernel: the simplex quadrature never evaluates outside the simplex (no inf * 0)
    m = vs.OU(200.0, 1.0, 0.5, readout="h1**2")
    low = vs.derive(m).lower()
    t = np.linspace(0, 5, 201)
    got = volterra_quadrature({(1, 0): low.kernel(1), (2, (0, 0)): low.kernel(2)}, np.ones_like(t), t, mean0=low.mean0)
    assert np.all(np.isfinite(got))
    # mpmath backend accepts numpy scalars and 0-d arrays
    mp = vs.derive(vs.OU(1.0, 1.0, 0.5, c=0.3, readout="h1**2")).lower("mpmath", dps=40)
    ref = mp.kernel(1)(0.5)
    assert mp.kernel(1)(np.float32(0.5)) == ref and mp.kernel(1)(np.array(0.5)) == ref
    # 2-point grids: exact for the piecewise-linear reading of a callable (no silent chords)
    r = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"))
    u = lambda s: np.array([1 + s])  # noqa: E731
    assert np.allclose(r.predict(u, [0, 1]), vs.gaussian_oracle(r.model, u, np.array([0, 1.0])), rtol=1e-13)
    with pytest.raises(vs.InputError, match="complex"):
        r.predict(np.ones(3) + 0j, [0, 1, 2])
    # no fluctuation-dissipation form when S_inf is singular
    sing = vs.derive(vs.OU([[1, 0], [0, 2]], [[1], [1]], [[1], [0]], c=[0.3, 0.2], readout="h1**2 + h2**2"))
    with pytest.raises(vs.VolterraError, match="singular"):
        sing.fdt_kernel()


def test_vector_readout_components_in_the_feature_path():
    r = vs.derive(vs.OU(1, 1, 1, c=sp.Rational(1, 2), readout=["h1", "h1**2"]))
    # K^(1) of h1 is e^{-tau}; of h1^2 it is 2 E[h1] e^{-tau} = 2 * (1/2) e^{-tau}
    assert r.kernel_taylor(1, 0, (1,), component=0) == -1
    assert r.kernel_taylor(1, 0, (1,), component=1) == -1
    assert r.kernel_taylor(2, (0, 0), (0, 0), component=1) == 2
    assert r.kernel_taylor(2, (0, 0), (0, 0), component=0) == 0
