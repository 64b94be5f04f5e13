"""Tests of volterra_sym.checks.oracle (exact Gaussian law of linear SRNNs).

Trusted references (none of them is code under test):
- scipy.linalg.expm / solve_continuous_lyapunov and scipy.integrate.quad_vec (tests only);
- closed-form Gaussian moments written out by hand below (1-D OU);
- a fine fixed-step RK4 integration, written in this file, of the moment ODEs
  m' = -A m + c + eps C u(t),  Cov' = -A Cov - Cov A^T + D;
- numpy's Gauss-Hermite nodes (tensor quadrature) for the moment recursion.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate as si
import scipy.linalg as sl

import volterra_sym as vs
from volterra_sym.checks.oracle import (
    expm,
    gaussian_law,
    gaussian_moments,
    gaussian_oracle,
    linear_arrays,
    lyapunov,
    stationary_law,
    transition,
)
from volterra_sym.errors import InputError, NotLinearError, UnstableError

# --------------------------------------------------------------------------- linear algebra


@pytest.mark.parametrize(
    "M",
    [
        np.array([[0.3]]),
        np.array([[-2.0, 1.0], [0.0, -2.0]]),  # defective (Jordan block)
        np.array([[0.0, 3.0], [-3.0, 0.0]]),  # purely imaginary spectrum
        np.array([[-1.0, 5.0, 0.0], [-5.0, -1.0, 1.0], [0.0, 0.0, -30.0]]),  # complex, large norm
        np.random.default_rng(0).normal(size=(6, 6)) * 2,
    ],
)
def test_expm_matches_scipy(M: np.ndarray) -> None:
    ref = sl.expm(M)
    assert np.max(np.abs(expm(M) - ref)) <= 1e-13 * max(1.0, np.max(np.abs(ref)))


def test_expm_closed_forms() -> None:
    a, t = -0.7, 2.3
    jordan = expm(np.array([[a, 1.0], [0.0, a]]) * t)
    assert np.allclose(jordan, math.exp(a * t) * np.array([[1.0, t], [0.0, 1.0]]), rtol=1e-14, atol=0)
    w = 1.9
    rot = expm(np.array([[0.0, w], [-w, 0.0]]) * t)
    c, s = math.cos(w * t), math.sin(w * t)
    assert np.allclose(rot, [[c, s], [-s, c]], rtol=0, atol=1e-14)


A2 = np.array([[1.0, 4.0], [0.0, 1.5]])  # stable, strongly non-normal
D2 = np.array([[0.5, 0.1], [0.1, 0.3]])


@pytest.mark.parametrize("dt", [1e-3, 0.4, 6.0])
def test_transition_matches_quadrature(dt: float) -> None:
    tr = transition(A2, D2, dt)

    def quad(fn):
        return si.quad_vec(fn, 0.0, dt, epsabs=1e-15, epsrel=1e-13)[0]

    refs = {
        "Phi": sl.expm(-A2 * dt),
        "G0": quad(lambda s: sl.expm(-A2 * (dt - s))),
        "G1": quad(lambda s: sl.expm(-A2 * (dt - s)) * s),
        "Q": quad(lambda s: sl.expm(-A2 * s) @ D2 @ sl.expm(-A2.T * s)),
    }
    for name, ref in refs.items():
        got = getattr(tr, name)
        assert np.max(np.abs(got - ref)) <= 1e-12 * np.max(np.abs(ref)), name


def test_lyapunov_matches_scipy_and_transition() -> None:
    S = lyapunov(A2, D2)
    assert np.allclose(S, sl.solve_continuous_lyapunov(A2, D2), rtol=1e-13, atol=0)
    tr = transition(A2, D2, 0.7)  # stationarity: Phi S Phi^T + Q = S
    assert np.allclose(tr.Phi @ S @ tr.Phi.T + tr.Q, S, rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------- closed forms in 1-D


def test_1d_stationary_moments_by_hand() -> None:
    a, c0, s = 1.3, 0.4, 0.9
    model = vs.OU(A=a, C=1.0, sigma=s, c=c0, readout=["h1", "h1**2", "h1**3", "h1**4 - 2*h1"])
    t = np.linspace(0, 3, 7)
    got = gaussian_oracle(model, None, t, eps=0.0)
    m, v = c0 / a, s**2 / (2 * a)
    expected = [m, m**2 + v, m**3 + 3 * m * v, m**4 + 6 * m**2 * v + 3 * v**2 - 2 * m]
    assert got.shape == (7, 4)
    assert np.allclose(got, np.array(expected)[None, :], rtol=1e-13, atol=0)


def test_1d_step_input_cubic_by_hand() -> None:
    # stationary start, constant input U0 from t = 0: m_t = m_inf + eps c U0 (1 - e^{-a t}) / a, var = v
    a, c0, c, s, U0, eps = 0.8, -0.3, 1.7, 0.6, 0.5, 0.9
    model = vs.OU(A=a, C=c, sigma=s, c=c0, readout="h1**3")
    t = np.linspace(0, 4, 41)
    got = gaussian_oracle(model, np.full(t.size, U0), t, eps=eps)
    m = c0 / a + eps * c * U0 * (1 - np.exp(-a * t)) / a
    v = s**2 / (2 * a)
    assert got.shape == (41,)
    assert np.allclose(got, m**3 + 3 * m * v, rtol=1e-12, atol=1e-15)


def test_point_mass_variance_by_hand() -> None:
    a, s, x0 = 2.0, 0.7, 1.5
    model = vs.OU(A=a, C=1.0, sigma=s, readout="h1**2", initial=vs.PointMass([x0]))
    t = np.linspace(0, 2, 21)
    got = gaussian_oracle(model, None, t)
    m = x0 * np.exp(-a * t)
    v = s**2 * (1 - np.exp(-2 * a * t)) / (2 * a)
    assert np.allclose(got, m**2 + v, rtol=1e-13, atol=1e-16)


# --------------------------------------------------------------------------- against RK4


def _rk4_moments(A, c, C, D, eps, t, U, m0, S0, sub=1000):
    """Fixed-step RK4 of the moment ODEs, with u linear between grid samples (test-local)."""
    n = A.shape[0]

    def rhs(tau, y, k):
        w = (tau - t[k]) / (t[k + 1] - t[k])
        u = (1 - w) * U[k] + w * U[k + 1]
        m, S = y[:n], y[n:].reshape(n, n)
        dm = -A @ m + c + eps * C @ u
        dS = -A @ S - S @ A.T + D
        return np.concatenate([dm, dS.ravel()])

    y = np.concatenate([m0, S0.ravel()])
    means, covs = [m0.copy()], [S0.copy()]
    for k in range(t.size - 1):
        h = (t[k + 1] - t[k]) / sub
        tau = t[k]
        for _ in range(sub):
            k1 = rhs(tau, y, k)
            k2 = rhs(tau + h / 2, y + h / 2 * k1, k)
            k3 = rhs(tau + h / 2, y + h / 2 * k2, k)
            k4 = rhs(tau + h, y + h * k3, k)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            tau += h
        means.append(y[:n].copy())
        covs.append(y[n:].reshape(n, n).copy())
    return np.array(means), np.array(covs)


@pytest.mark.parametrize(
    "A",
    [
        [[1.0, 4.0], [0.0, 1.5]],  # non-normal
        [[0.5, 2.0], [-2.0, 0.5]],  # complex spectrum
        [[1.0, 1.0], [0.0, 1.0]],  # defective
    ],
)
def test_law_matches_rk4_two_inputs_gaussian_start(A) -> None:
    C = [[1.0, -0.5], [0.3, 2.0]]
    sigma = [[0.6, 0.0], [0.2, 0.4]]
    c = [0.2, -0.1]
    init = vs.Gaussian([0.5, -1.0], [[0.3, 0.05], [0.05, 0.2]])
    model = vs.OU(A=A, C=C, sigma=sigma, c=c, readout="h1**2 + 3*h1*h2 - h2", initial=init)
    t = np.array([0.0, 0.1, 0.35, 0.5, 0.9, 1.3, 2.0])  # non-uniform
    U = np.stack([np.sin(2 * t), np.cos(3 * t) + 0.5], axis=1)
    eps = 0.7
    means, covs = gaussian_law(model, U, t, eps)
    An, Cn, sn = np.array(A), np.array(C), np.array(sigma)
    ref_m, ref_S = _rk4_moments(
        An, np.array(c), Cn, sn @ sn.T, eps, t, U, np.array([0.5, -1.0]), np.array([[0.3, 0.05], [0.05, 0.2]])
    )
    assert np.allclose(means, ref_m, rtol=1e-11, atol=1e-12)
    assert np.allclose(covs, ref_S, rtol=1e-11, atol=1e-12)
    m1, m2 = ref_m[:, 0], ref_m[:, 1]
    expected = (m1**2 + ref_S[:, 0, 0]) + 3 * (m1 * m2 + ref_S[:, 0, 1]) - m2
    assert np.allclose(gaussian_oracle(model, U, t, eps), expected, rtol=1e-11, atol=1e-12)


def test_callable_input_is_sampled_on_grid() -> None:
    model = vs.OU(A=[[1.0, 0.5], [0.0, 2.0]], C=[[1.0], [1.0]], sigma=0.5, readout="h1*h2")
    t = np.linspace(0, 2, 11)
    f = gaussian_oracle(model, lambda s: [math.sin(s)], t)
    g = gaussian_oracle(model, np.sin(t), t)
    assert np.array_equal(f, g)


# --------------------------------------------------------------------------- moment recursion


def test_moment_recursion_matches_gauss_hermite() -> None:
    rng = np.random.default_rng(3)
    mu = np.array([[0.3, -1.2, 0.5]])
    B = rng.normal(size=(3, 3))
    S = (B @ B.T + 0.1 * np.eye(3))[None]
    exps = [(3, 0, 0), (1, 2, 0), (1, 1, 1), (0, 0, 4), (2, 1, 2), (0, 0, 0)]
    got = gaussian_moments(mu, S, exps)
    x, w = np.polynomial.hermite_e.hermegauss(6)  # exact for degree <= 11 per variable
    w = w / w.sum()
    Z = np.stack(np.meshgrid(x, x, x, indexing="ij"), axis=-1).reshape(-1, 3)
    W = np.prod(np.stack(np.meshgrid(w, w, w, indexing="ij"), axis=-1).reshape(-1, 3), axis=1)
    H = mu[0] + Z @ np.linalg.cholesky(S[0]).T
    for alpha in exps:
        ref = np.sum(W * np.prod(H ** np.array(alpha), axis=1))
        assert got[alpha][0] == pytest.approx(ref, rel=1e-12, abs=1e-13)


def test_stationary_law_and_parts() -> None:
    model = vs.OU(A=[[2.0, 1.0], [0.0, 1.0]], C=[[1.0], [0.0]], sigma=0.5, c=[1.0, 2.0], readout="h1")
    parts = linear_arrays(model)
    m, S = stationary_law(parts)
    assert np.allclose(np.array([[2.0, 1.0], [0.0, 1.0]]) @ m, [1.0, 2.0], rtol=1e-15)
    assert np.allclose(S, sl.solve_continuous_lyapunov(parts.A, parts.D), rtol=1e-13)


def test_symbolic_parameters_are_substituted() -> None:
    model = vs.OU(A="a", C=1.0, sigma="s", readout="h1**2", params={"a": 2.0, "s": 1.0})
    got = gaussian_oracle(model, None, np.linspace(0, 1, 3), eps=0.0)
    assert np.allclose(got, 0.25, rtol=1e-14)


# --------------------------------------------------------------------------- errors


def test_errors() -> None:
    t = np.linspace(0, 1, 5)
    tanh = vs.SRNN(Gamma=1.0, W=0.5, C=1.0, sigma=0.3, activation="tanh", readout="h1")
    with pytest.raises(NotLinearError, match="linear SRNN"):
        gaussian_oracle(tanh, None, t)
    ou = vs.OU(A=1.0, C=1.0, sigma=0.3, readout="exp(h1)")
    with pytest.raises(NotLinearError, match="polynomial readout"):
        gaussian_oracle(ou, None, t)
    unstable = vs.OU(A=-0.5, C=1.0, sigma=0.3, readout="h1")
    with pytest.raises(UnstableError, match="eigenvalue"):
        gaussian_oracle(unstable, None, t)
    # an unstable A is fine from a point mass
    ok = gaussian_oracle(unstable.replace(initial=vs.PointMass([1.0])), None, t, eps=0.0)
    assert np.allclose(ok, np.exp(0.5 * t), rtol=1e-13)
    good = vs.OU(A=1.0, C=1.0, sigma=0.3, readout="h1")
    with pytest.raises(InputError, match="t:"):
        gaussian_oracle(good, None, [0.0, 0.5, 0.4])
    with pytest.raises(InputError, match="u:"):
        gaussian_oracle(good, np.ones((5, 2)), t)
    with pytest.raises(InputError, match="u:"):
        gaussian_oracle(good, np.array([0, 1, np.nan, 0, 0.0]), t)
    with pytest.raises(InputError, match="eps"):
        gaussian_oracle(good, None, t, eps="big")
