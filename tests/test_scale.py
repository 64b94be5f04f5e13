"""Networks at scale (issue 20, parts 0 and 2): matrix numerics in the Monte Carlo functions, time-shift
windows and the control variate of estimate_kernels, the one burn-in rule.

Trusts: NumPy eigen-decompositions for the exact OU kernel (closed form written here); the generic
symbolic (lambdified, element-wise) path of simulate / estimate_kernels as the reference of the matrix
path; the plain (one window, no control variate) tangent estimator as the reference of the new one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym.errors import ArgumentError


def _generic(model: vs.Diffusion) -> vs.Diffusion:
    """The same model with its network structure hidden: the Monte Carlo code takes the symbolic path."""
    object.__setattr__(model, "_network_structure", None)
    return model


def _net(n: int = 3, seed: int = 3, s: float = 0.2, readout: str = "h1") -> vs.Diffusion:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    W = 1.2 * (0.5 * (A - A.T) + 0.25 * (A + A.T)) / np.sqrt(n)
    b = 0.5 * rng.normal(size=n)
    return vs.SRNN(1.0, W, b, rng.normal(size=(n, 1)) / np.sqrt(n), s, activation="tanh", readout=readout)


@pytest.mark.slow
def test_matrix_simulate_equals_the_symbolic_path() -> None:
    t = np.linspace(0, 1, 11)
    u = np.sin(3 * t)
    fast = vs.simulate_response(_net(), u, t, 200, seed=4, eps=0.3, burn_in=1.0, progress=False)
    slow = vs.simulate_response(_generic(_net()), u, t, 200, seed=4, eps=0.3, burn_in=1.0, progress=False)
    assert np.allclose(fast.mean, slow.mean, rtol=1e-11, atol=1e-13)
    assert np.allclose(fast.stderr, slow.stderr, rtol=1e-9, atol=1e-13)


def test_matrix_tangents_equal_the_symbolic_path() -> None:
    lags = {1: np.array([0.0, 0.1, 0.3]), 2: np.array([[0.1, 0.2], [0.0, 0.1]])}
    kw = dict(paths=128, seed=2, dt=0.05, burn_in=1.0, progress=False)  # bias is compared, not warned about
    warnings.simplefilter("ignore", vs.TimeStepBiasWarning)
    fast = vs.estimate_kernels(_net(readout="h1**2 + h2"), 2, lags, **kw)
    slow = vs.estimate_kernels(_generic(_net(readout="h1**2 + h2")), 2, lags, **kw)
    for n in (1, 2):
        assert np.allclose(fast.mean(n), slow.mean(n), rtol=1e-10, atol=1e-13)
        assert np.allclose(fast.bias(n), slow.bias(n), rtol=1e-8, atol=1e-12)


def _ou_exact_k1(A: np.ndarray, c: np.ndarray, C: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """K1(tau) = E[grad f(h_tau)] . e^{-A tau} C for f = h1^2 + h2 (h_tau stationary, mean A^-1 c)."""
    mu = np.linalg.solve(A, c)
    w, V = np.linalg.eig(-A)
    Vi = np.linalg.inv(V)
    g = np.array([2 * mu[0], 1.0])
    return np.array([np.real(g @ (V * np.exp(w * t)) @ Vi @ C[:, 0]) for t in taus])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_windows_and_control_variate_match_the_exact_ou_kernel(seed: int) -> None:
    A = np.array([[1.0, 0.4], [-0.3, 1.5]])
    c = np.array([0.5, -0.2])
    C = np.array([[1.0], [0.5]])
    model = vs.OU(A, C, 0.6, c=c, readout="h1**2 + h2")
    taus = np.linspace(0, 2, 11)
    exact = _ou_exact_k1(A, c, C, taus)
    warnings.simplefilter("ignore", vs.TimeStepBiasWarning)  # the bias is part of the tolerance below
    est = vs.estimate_kernels(
        model, 1, {1: taus}, paths=256, seed=seed, dt=0.01, windows=6, control_variate=True, progress=False
    )
    z = (est.mean(1) - exact) / np.sqrt(est.stderr(1) ** 2 + est.bias(1) ** 2)
    assert np.max(np.abs(z[1:])) <= 4.5
    # chi-square of the standardised errors over the lags (independent enough at this spacing)
    assert float(np.sum(z[1:] ** 2)) <= 10 + 4.5 * np.sqrt(20)


@pytest.mark.slow
def test_control_variate_and_windows_agree_with_the_plain_estimator() -> None:
    model = _net(n=8, seed=5, s=0.2)
    taus = np.linspace(0, 2, 11)
    kw = dict(paths=256, dt=0.02, bias_check=False, progress=False)
    plain = vs.estimate_kernels(model, 1, {1: taus}, seed=11, **kw)
    new = vs.estimate_kernels(model, 1, {1: taus}, seed=12, windows=6, control_variate=True, **kw)
    z = (new.mean(1) - plain.mean(1)) / np.sqrt(new.stderr(1) ** 2 + plain.stderr(1) ** 2)
    assert np.max(np.abs(z[1:])) <= 4.5
    assert new.summary["control_variate"] and new.summary["windows"] == 6
    assert new.summary["variance_ratio_per_path"] > 3.0  # measured ~30 here; fails if Y were uncorrelated
    assert np.all(new.stderr(1)[1:] < plain.stderr(1)[1:])


def test_control_variate_mean_is_exact_for_a_pure_linear_chain() -> None:
    """OU with a linear readout: X = grad f . e^{-A tau} C is deterministic, Y = 0: the estimate is exact."""
    A = np.array([[1.0, 0.2], [0.0, 2.0]])
    model = vs.OU(A, [[1.0], [0.0]], 0.5, readout="h1")
    taus = np.array([0.0, 0.5, 1.0])
    est = vs.estimate_kernels(
        model, 1, {1: taus}, paths=64, seed=0, dt=0.01, windows=3, control_variate=True, bias_check=False,
        progress=False,
    )  # fmt: skip
    euler = [np.linalg.matrix_power(np.eye(2) - 0.01 * A, int(round(t / 0.01)))[0, 0] for t in taus]
    assert np.allclose(est.mean(1), euler, rtol=1e-12, atol=1e-14)


def test_burn_in_rule_and_bad_values() -> None:
    tanh = vs.SRNN(Gamma=1.0, W=0.5, C=1.0, sigma=0.3, activation="tanh", readout="h1")
    est = vs.estimate_kernels(tanh, 1, {1: [0.0, 0.1]}, paths=64, dt=0.05, bias_check=False, progress=False)
    assert est.burn_in == pytest.approx(40.0) and est.summary["burn_in"] == pytest.approx(40.0)
    for bad in (-1, 1e9, float("inf"), "later"):
        with pytest.raises(ArgumentError, match="^burn_in"):
            vs.estimate_kernels(tanh, 1, {1: [0.0, 0.1]}, paths=64, dt=0.05, burn_in=bad)
    with pytest.raises(ArgumentError, match="^windows"):
        vs.estimate_kernels(tanh.replace(initial=vs.PointMass([0.0])), 1, {1: [[0.1, 0.0]]}, windows=2)
    with pytest.raises(ArgumentError, match="^control_variate"):
        vs.estimate_kernels(vs.Diffusion(["x"], "-x**3", 0.2, 1, "x"), 1, {1: [0.1]}, control_variate=True)
    with pytest.raises(ArgumentError, match="^window_spacing"):
        vs.estimate_kernels(tanh, 1, {1: [0.0, 0.1]}, windows=2, window_spacing=0.033, dt=0.05)


@pytest.mark.slow
def test_windowed_standard_errors_match_batch_spread() -> None:
    """B independent runs with windows and the control variate: sum (m_i - mean)^2 / mean(SE_i^2) ~ chi^2(B-1)
    per lag (Bonferroni): the SE from per-path averages is honest although the windows of a path correlate."""
    from scipy.stats import chi2

    model = _net(n=4, seed=7, s=0.3)
    taus = np.array([0.1, 0.3, 0.6, 1.0])
    B = 16
    runs = [
        vs.estimate_kernels(
            model,
            1,
            {1: taus},
            paths=128,
            seed=50 + i,
            dt=0.02,
            windows=8,
            window_spacing=0.2,
            control_variate=True,
            bias_check=False,
            progress=False,
        )  # fmt: skip
        for i in range(B)
    ]
    M = np.array([r.mean(1) for r in runs])
    S2 = np.array([r.stderr(1) ** 2 for r in runs]).mean(axis=0)
    T = ((M - M.mean(axis=0)) ** 2).sum(axis=0) / S2
    alpha = 1e-4 / taus.size
    lo, hi = chi2.ppf(alpha / 2, B - 1), chi2.ppf(1 - alpha / 2, B - 1)
    assert np.all((T > lo) & (T < hi)), (T, lo, hi)


def test_galerkin_pilot_uses_the_matrices_with_the_same_numbers() -> None:
    """The Galerkin route's pilot simulation (weight='pilot') on the network's matrices gives the moments of the
    symbolic (lambdified) path, same seed, to rounding."""
    from volterra_sym.routes.galerkin.weights import pilot_weight

    fast = pilot_weight(_net(s=0.4), seed=3, paths=200, time=5.0)
    slow = pilot_weight(_generic(_net(s=0.4)), seed=3, paths=200, time=5.0)
    assert np.allclose(fast.mean, slow.mean, rtol=1e-10, atol=1e-12)
    assert np.allclose(fast.cov, slow.cov, rtol=1e-10, atol=1e-12)
