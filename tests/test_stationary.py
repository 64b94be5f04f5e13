"""Expectations over the initial law, volterra_sym.algebra.expectations (MATH.md sections 1, 5, 6).

Which code each test trusts (besides the model type):
- Gaussian / OU tests: Gaussian moments written by hand, and the defining
  equations A m = c, A S + S A^T = D checked on the returned moments.
- double well: a gamma-function series for int x^2k exp(-a x^4 + b x^2), written here.
- 2-D radial double well: rotation invariance reduces E h1^2 to 1-D mpmath.quad integrals.
- Gaussian start with tanh: plain mpmath.quad against the Gaussian density.
No test uses code of stationary.py to produce its reference.
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp

import volterra_sym as vs
from volterra_sym.algebra.expectations import ExpectationError, InitialExpectation, StationaryLawError, expectation

R = sp.Rational
h = sp.Symbol("h")
h1, h2 = sp.symbols("h1 h2")


def test_ou_stationary_moments_symbolic() -> None:
    a, c0, s = sp.symbols("a c0 s", positive=True)
    model = vs.OU(a, 1, s, c=c0, readout=h, state=[h])
    m, v = c0 / a, s**2 / (2 * a)
    refs = {h: m, h**2: m**2 + v, h**3: m**3 + 3 * m * v, h**4: m**4 + 6 * m**2 * v + 3 * v**2}
    for g, ref in refs.items():
        assert sp.simplify(expectation(model, g) - ref) == 0


def test_two_d_ou_stationary_moments_satisfy_lyapunov() -> None:
    A = sp.Matrix([[2, 1], [0, 3]])
    c = sp.Matrix([1, 2])
    sig = sp.Matrix([[1, 0], [1, 1]])
    model = vs.OU(A, [[1], [0]], sig, c=c, readout="h1", state=[h1, h2])
    eng = InitialExpectation(model)
    m = sp.Matrix([eng(h1), eng(h2)])
    assert A * m == c
    S = sp.Matrix(2, 2, lambda i, j: eng([h1, h2][i] * [h1, h2][j]) - m[i] * m[j])
    assert all(isinstance(x, sp.Rational) for x in S)
    assert sp.simplify(A * S + S * A.T - sig * sig.T) == sp.zeros(2, 2)
    m1, m2 = m
    ref = (
        m1**2 * m2**2 + m1**2 * S[1, 1] + m2**2 * S[0, 0] + 4 * m1 * m2 * S[0, 1] + S[0, 0] * S[1, 1] + 2 * S[0, 1] ** 2
    )
    assert eng(h1**2 * h2**2) == ref


def _quartic_moment(k: int, alpha, beta) -> mpmath.mpf:
    """int_R x^{2k} exp(-alpha x^4 + beta x^2) dx = sum_j beta^j / j! Gamma((2k+2j+1)/4) / (2 alpha^((2k+2j+1)/4))."""
    return mpmath.nsum(
        lambda j: (
            beta**j
            / mpmath.factorial(j)
            * mpmath.gamma((2 * k + 2 * j + 1) / 4)
            / (2 * alpha ** ((2 * k + 2 * j + 1) / 4))
        ),
        [0, mpmath.inf],
    )


def test_double_well_second_moment_against_gamma_series() -> None:
    # phi = -U', U = h^4/4 - h^2/2, sigma = 1:  rho ~ exp(-2U) = exp(-h^4/2 + h^2)
    model = vs.Diffusion([h], h - h**3, 1, 1, h)
    got = expectation(model, h**2, dps=30)
    assert isinstance(got, sp.Float)
    with mpmath.workdps(40):
        ref = _quartic_moment(1, mpmath.mpf(1) / 2, 1) / _quartic_moment(0, mpmath.mpf(1) / 2, 1)
        assert abs(mpmath.mpf(got) - ref) < 1e-20
        # odd moments vanish by symmetry; E h^4 from the same series
        assert abs(mpmath.mpf(expectation(model, h**3))) < 1e-25
        ref4 = _quartic_moment(2, mpmath.mpf(1) / 2, 1) / _quartic_moment(0, mpmath.mpf(1) / 2, 1)
        assert abs(mpmath.mpf(expectation(model, h**4)) - ref4) < 1e-20


@pytest.mark.slow  # measured ~1.3s of the default run (issue 18: default run <= 90 s)
def test_state_dependent_noise_one_d() -> None:
    # dh = -(h + h^3) dt + sqrt(1 + h^2) dW:  rho ~ D^-1 exp(int 2 phi / D) = exp(-h^2) / (1 + h^2)
    model = vs.Diffusion([h], -h - h**3, sp.sqrt(1 + h**2), 1, h)
    got = expectation(model, h**2 + sp.cos(h), dps=30)
    with mpmath.workdps(40):
        rho = lambda x: mpmath.exp(-(x**2)) / (1 + x**2)  # noqa: E731
        Z = mpmath.quad(rho, [-mpmath.inf, 0, mpmath.inf])
        ref = mpmath.quad(lambda x: (x**2 + mpmath.cos(x)) * rho(x), [-mpmath.inf, 0, mpmath.inf]) / Z
        assert abs(mpmath.mpf(got) - ref) < 1e-20


def test_heavy_tail_is_explained() -> None:
    # dh = -h dt + sqrt(1 + h^2) dW: rho ~ (1 + h^2)^-2 is normalisable but decays only like h^-4
    model = vs.Diffusion([h], -h, sp.sqrt(1 + h**2), 1, h)
    with pytest.raises(StationaryLawError, match="heavy"):
        expectation(model, h**2)


@pytest.mark.slow
def test_radial_double_well_two_d() -> None:
    r2 = h1**2 + h2**2
    U = r2**2 / 4 - r2 / 2
    model = vs.Diffusion([h1, h2], [-sp.diff(U, h1), -sp.diff(U, h2)], 1, [[1], [0]], h1)
    eng = InitialExpectation(model, dps=20)
    with mpmath.workdps(30):
        w = lambda r: mpmath.exp(-2 * (r**4 / 4 - r**2 / 2))  # noqa: E731
        Z = mpmath.quad(lambda r: r * w(r), [0, 1, mpmath.inf])
        er2 = mpmath.quad(lambda r: r**3 * w(r), [0, 1, mpmath.inf]) / Z
        er4 = mpmath.quad(lambda r: r**5 * w(r), [0, 1, mpmath.inf]) / Z
        assert abs(mpmath.mpf(eng(h1**2)) - er2 / 2) < 1e-15
        # E[h1^2 h2^2] = E[r^4 cos^2 sin^2] = E[r^4] / 8
        assert abs(mpmath.mpf(eng(h1**2 * h2**2)) - er4 / 8) < 1e-15
    assert "gradient" in eng.report["initial law"] and eng.report["nodes"]


def test_gaussian_start_exact_and_quadrature() -> None:
    m0, v0 = sp.symbols("m0 v0", positive=True)
    model = vs.OU(1, 1, 1, readout=h, state=[h], initial=vs.Gaussian([m0], [[v0]]))
    assert sp.expand(expectation(model, h**4) - (m0**4 + 6 * m0**2 * v0 + 3 * v0**2)) == 0
    num = vs.OU(1, 1, 1, readout=h, state=[h], initial=vs.Gaussian([R(3, 10)], [[R(1, 2)]]))
    got = expectation(num, sp.tanh(2 * h) + h**2, dps=30)
    with mpmath.workdps(40):
        dens = lambda x: mpmath.exp(-((x - mpmath.mpf(3) / 10) ** 2)) / mpmath.sqrt(mpmath.pi)  # noqa: E731
        ref = mpmath.quad(lambda x: (mpmath.tanh(2 * x) + x**2) * dens(x), [-mpmath.inf, 0, mpmath.inf])
        assert abs(mpmath.mpf(got) - ref) < 1e-20


def test_point_mass_is_exact_substitution() -> None:
    x0 = sp.Symbol("x0")
    model = vs.OU(1, 1, 1, readout=h, state=[h], initial=vs.PointMass([x0]))
    assert expectation(model, h**2 + sp.tanh(h)) == x0**2 + sp.tanh(x0)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("drift", [h**3 - h, sp.tanh(h)])
def test_non_normalisable_one_d(drift) -> None:
    model = vs.Diffusion([h], drift, 1, 1, h)
    with pytest.raises(StationaryLawError, match="not normalisable"):
        expectation(model, h)


@pytest.mark.parametrize("drift", [h, sp.Integer(0)])
def test_unstable_linear_drift(drift) -> None:
    model = vs.Diffusion([h], drift, 1, 1, h)
    with pytest.raises(vs.UnstableError, match="eigenvalues"):
        expectation(model, h)


def test_non_gradient_two_d_is_explained() -> None:
    model = vs.Diffusion([h1, h2], [-h1 - h2 - h1**3, h1 - h2], 1, [[1], [0]], h1)
    with pytest.raises(StationaryLawError, match="not a gradient") as info:
        expectation(model, h1)
    assert "PointMass" in str(info.value)


def test_state_dependent_noise_two_d_is_explained() -> None:
    model = vs.Diffusion([h1, h2], [-h1 - h1**3, -h2], [[1 + h1**2 / 4, 0], [0, 1]], [[1], [0]], h1)
    with pytest.raises(StationaryLawError, match="D = s\\^2 I"):
        expectation(model, h1)


def test_symbolic_parameters_need_values_for_quadrature() -> None:
    k = sp.Symbol("k", positive=True)
    model = vs.Diffusion([h], -k * h**3, 1, 1, h)
    with pytest.raises(ExpectationError, match="k"):
        expectation(model, h**2)
    ref = mpmath.gamma(0.75) / mpmath.gamma(0.25) * mpmath.sqrt(2)  # rho ~ exp(-h^4 / 2)
    assert abs(float(expectation(model.replace(params={"k": 1}), h**2)) - float(ref)) < 1e-12
