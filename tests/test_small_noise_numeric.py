"""method="small_noise", numeric engine (networks, n > 6; routes/small_noise/numeric.py).

Trusts, per test: the closed-form (exponential-polynomial) small_noise route at n = 3-5 (itself checked
against the Galerkin route in tests/test_small_noise.py), the exact route (linear SRNNs), the pathwise
Monte Carlo of checks/ (vs.estimate_kernels), and the engine at a much finer time step for its own
integration error.  None of them shares the numeric engine's code.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym.errors import ArgumentError, StationaryLawError

LAGS = np.linspace(0.0, 6.0, 37)[:, None]


def tanh_net(n: int, s: float, seed: int, readout: object = "h1", inputs: int = 1, gain: float = 1.2) -> vs.Diffusion:
    """Random non-symmetric tanh SRNN (antisymmetric plus half-weight symmetric part), spectral radius ~ gain."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    W = gain * (0.5 * (A - A.T) + 0.25 * (A + A.T)) / np.sqrt(n)
    C = (rng.standard_normal((n, inputs)) / np.sqrt(n)).round(3)
    return vs.SRNN(
        Gamma=np.eye(n), W=W, b=0.3 * rng.standard_normal(n), C=C, sigma=s, activation="tanh", readout=readout
    )


@pytest.mark.parametrize("n", [3, pytest.param(5, marks=pytest.mark.slow)])
def test_numeric_engine_equals_closed_form_route(n):
    readout = ["h1 + 0.5*h2*h3 - 0.3*h1**2", f"h{n} - h2"]
    model = tanh_net(n, 0.15, n, readout=readout, inputs=2, gain=1.0)
    shrink = 1.0
    for noise_order in (2, 0):  # 2 first: its P gives the curvature ratio of both
        ref = vs.derive(model, 1, method="small_noise", guard=False, noise_order=noise_order)
        num = vs.derive(
            model, 1, method="small_noise", guard=False, noise_order=noise_order, engine="numeric", step_tol=1e-10
        )
        assert type(num).__name__ == "NumericSmallNoiseResponse"
        m_ref = np.array(ref.mean0, dtype=float).ravel()
        assert np.max(np.abs(np.array(num.mean0, dtype=float).ravel() - m_ref)) <= 1e-8
        # the same error estimate, with the curvature ratio from the tensors' first unfoldings (numeric engine)
        # instead of their Frobenius norms (closed-form route); the unfoldings computed here from the route's tensors
        if noise_order == 2:
            loc = ref.local
            kappa, p = np.linalg.norm(np.linalg.inv(loc.J), 2), np.linalg.norm(loc.P, 2)
            u2, u3 = (np.linalg.norm(loc.phi[d].reshape(n, -1), 2) for d in (2, 3))
            rho_u = kappa**2 * u2**2 * p + kappa * u3 * p
            shrink = rho_u / ref.curvature_ratio(0)  # readouts of degree 2 (no 4th derivative): same for c = 0, 1
            assert num.curvature_ratio(0) == pytest.approx(rho_u, rel=1e-9) and shrink <= 1
            num2 = num

        def same_estimate(a: float, b: float, shrink: float = shrink) -> bool:  # b: Frobenius rho, a: rho_u
            return shrink * b * (1 - 1e-6) <= a <= b * (1 + 1e-6)

        if noise_order == 2:
            for c in range(2):
                assert same_estimate(num.error_estimate(0, component=c), ref.error_estimate(0, component=c))
        for k in range(2):
            for c in range(2):
                r = ref.kernel_values(1, k, LAGS, c)
                assert np.max(np.abs(num.kernel_values(1, k, LAGS, c) - r)) <= 1e-8 * (1 + np.max(np.abs(r)))
                # same expansion-error estimate (above); the numeric part is tiny at tol 1e-10
                assert same_estimate(num.error_estimate(1, k, c), ref.error_estimate(1, k, c))
    # the s^2 term is not trivially zero here: the two noise orders differ by far more than the tolerance
    k0 = vs.derive(model, 1, method="small_noise", guard=False, noise_order=0, engine="numeric")
    assert np.max(np.abs(num2.kernel_values(1, 0, LAGS, 0) - k0.kernel_values(1, 0, LAGS, 0))) > 1e-4


def test_numerical_error_estimate_bounds_the_true_integration_error():
    """tol = 1e-3 against the same engine at tol = 1e-12 (error there ~1e-14): the estimate covers the error."""
    model = tanh_net(4, 0.3, 11, readout="h1 + h2*h3")
    coarse = vs.derive(model, 1, method="small_noise", guard=False, engine="numeric", step_tol=1e-3)
    fine = vs.derive(model, 1, method="small_noise", guard=False, engine="numeric", step_tol=1e-12)
    lags = np.linspace(0, 10, 201)[:, None]
    err = np.max(np.abs(coarse.kernel_values(1, 0, lags) - fine.kernel_values(1, 0, lags)))
    est = coarse.numerical_error()
    assert err <= 3 * est and est > 0


@pytest.mark.slow
def test_linear_srnn_n16_equals_exact_route():
    """Linear SRNN, quadratic readout: the expansion terminates at s^2 (triangular W: the exact route's cheap case)."""
    n = 16
    rng = np.random.default_rng(3)
    W = np.round(np.triu(rng.standard_normal((n, n)), 1) * 0.3 / np.sqrt(n), 3)
    model = vs.SRNN(
        Gamma=np.diag(np.linspace(0.5, 2.0, n)),
        W=W,
        b=0.1 * rng.standard_normal(n),
        C=rng.standard_normal((n, 2)) / np.sqrt(n),
        sigma=0.3,
        activation="identity",
        readout="h1 + 0.5*h2*h3 - h4**2",
    )
    ex = vs.derive(model, 1, method="exact")
    sn = vs.derive(model, 1, method="small_noise")
    lags = np.linspace(0, 8, 41)[:, None]
    assert abs(float(sn.mean0) - float(ex.mean0)) <= 1e-10 * (1 + abs(float(ex.mean0)))
    for k in range(2):
        r = ex.kernel_values(1, k, lags)
        assert np.max(np.abs(sn.kernel_values(1, k, lags) - r)) <= 1e-10 * (1 + np.max(np.abs(r)))
        assert sn.error_estimate(1, k) == 0.0


@pytest.mark.slow
def test_n16_tanh_against_monte_carlo():
    """K^(1) against the pathwise Monte Carlo: |z| <= 4.5 with SE, the reported error and the time-step bias
    (burn-in 12 > 8 slowest relaxation times from h = 0, |h*| < 0.6: the start's remnant is far below the SE)."""
    model = tanh_net(16, 0.2, 5)
    sn = vs.derive(model, 1, method="small_noise")
    assert sn.guard.ran and sn.guard.covariance_gap < 0.5
    lags = np.arange(0, 41, 5) * 0.1
    with warnings.catch_warnings():  # the time-step bias is reported and added to the tolerance below
        warnings.simplefilter("ignore", vs.TimeStepBiasWarning)
        est = vs.estimate_kernels(model, 1, lags={1: lags}, paths=300, seed=1, dt=0.01, burn_in=12.0)
    v = sn.kernel_values(1, 0, lags[:, None])
    mu, se, bias = est.mean(1, 0), est.stderr(1, 0), est.bias(1, 0)
    z = np.abs(v - mu) / np.sqrt(se**2 + sn.error_estimate(1, 0) ** 2 + bias**2 + 1e-300)
    assert np.max(z) <= 4.5


def test_guard_fires_on_bistable_network_n16():
    n = 16
    rng = np.random.default_rng(2)
    W = 2.0 * np.eye(n) + 0.05 * rng.standard_normal((n, n)) / np.sqrt(n)
    model = vs.SRNN(Gamma=np.eye(n), W=W, C=np.ones((n, 1)) / n, sigma=0.2, activation="tanh", readout="h1")
    with pytest.raises(StationaryLawError, match="stable fixed points.*Monte Carlo"):
        vs.derive(model, 1, method="small_noise")


@pytest.fixture(scope="module")
def net8():
    return tanh_net(8, 0.1, 8, readout=["h1", "h2*h3"])


def test_contract_and_refusals_at_n8(net8):
    resp = vs.derive(net8, method="small_noise")  # auto: numeric engine for n > 6, order 1
    assert type(resp).__name__ == "NumericSmallNoiseResponse" and resp.order == 1
    vals = resp.kernel_values(1, 0, LAGS)
    assert vals.shape == (37, 2) and np.all(np.isfinite(vals))
    assert np.allclose(resp.kernel(1, 0, 1)(LAGS[:, 0]), vals[:, 1])
    far = resp.kernel_values(1, 0, np.array([[1e6]]), 0)  # no grid to 1e6: the kernel has decayed there
    assert np.all(np.isfinite(far)) and abs(far[0]) < 1e-12
    data = json.loads(json.dumps(resp.to_json()))
    assert data["engine"] == "numeric" and "K1[0][1]" in data["error_estimates"]
    assert "estimated error of K1[0][0]" in resp.summary() and "Lyapunov" in resp.to_markdown()
    with pytest.raises(ArgumentError, match=r"^order: .*Monte Carlo"):
        vs.derive(net8, 2, method="small_noise", guard=False)
    with pytest.raises(ArgumentError, match=r"^predict: .*Monte Carlo"):
        resp.predict(np.zeros((5, 1)), np.linspace(0, 1, 5))
    with pytest.raises(ArgumentError, match=r"^engine: "):
        vs.derive(net8, 1, method="small_noise", engine="fast")
    with pytest.raises(ArgumentError, match=r"^step_tol: "):
        vs.derive(net8, 1, method="small_noise", step_tol=0.5)


def test_refuses_non_polynomial_readout_at_n8():
    model = tanh_net(8, 0.1, 8, readout="tanh(h1)")
    with pytest.raises(ArgumentError, match=r"^readout: .*degree <= 2.*Monte Carlo"):
        vs.derive(model, 1, method="small_noise")


def test_refuses_a_grid_beyond_its_step_limit():
    """A nearly neutral mode (rate 2e-5) without the guard: the size grid to 8 relaxation times is refused."""
    n = 8
    G = np.diag([1.0] * (n - 1) + [2e-5])
    model = vs.SRNN(Gamma=G, W=np.zeros((n, n)), C=np.ones((n, 1)), sigma=0.1, activation="tanh", readout="h1")
    with pytest.raises(ArgumentError, match=r"^lags: .*time steps.*Monte Carlo"):
        vs.derive(model, 1, method="small_noise", guard=False)
