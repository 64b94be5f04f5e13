"""General input coupling (MATH.md section 11): the input inside the drift, expanded into channels u^alpha.

References (sharing no code with the routes):
- the 1-D model dh = (-h + tanh(b + eps u)) dt + s dW, f = h: E h_t = e^{-t} h0 + int_0^t e^{-(t-r)}
  tanh(b + eps u_r) dr exactly, so order n in eps is int e^{-(t-r)} tanh^(n)(b)/n! u_r^n dr (scipy quad) and
  the only kernels are the local K^(1)_{u^n}(tau) = tanh^(n)(b)/n! e^{-tau};
- its n-D analogue dh = (-A h + tanh(b + eps E u)) dt + S dW: the law is Gaussian with mean orders
  m_n' = -A m_n + tanh^(n)(b) (E u)^n / n! and covariance S' = -A S - S A^T + S S^T (scipy solve_ivp), so the
  readout h1 h2 has order n = sum_{i+j=n} m1_i m2_j (+ S12 at order 0): products of channels of mixed degree;
- Monte Carlo of the network itself (slow test) against Galerkin for tanh(W h + E u + b), W != 0.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad, solve_ivp

import volterra_sym as vs
from volterra_sym.errors import ArgumentError, ModelError

B1, S1, H0 = 0.3, 0.5, 0.2


def tanh_taylor(b: float, n: int) -> float:
    """tanh^(n)(b) / n! (sympy differentiation, trusted)."""
    x = sp.Symbol("x")
    return float(sp.diff(sp.tanh(x), x, n).subs(x, b)) / math.factorial(n)


def u1(r: float) -> np.ndarray:
    return np.array([np.sin(2 * r) + 0.5])


@pytest.fixture(scope="module")
def model1():
    return vs.Diffusion(["h"], "-h + tanh(b + u1)", S1, [0], "h", initial=vs.PointMass([H0]), params={"b": B1})


@pytest.fixture(scope="module")
def exact1(model1):
    return vs.derive(model1, 3, method="exact")


def test_local_kernels_are_the_taylor_coefficients_of_tanh(exact1):
    resp = exact1
    assert resp.channels.names == ("u1", "u1^2", "u1^3")
    assert resp.channels.degrees == (1, 2, 3)
    lags = np.array([[0.0, 0.5], [0.7, 0.1], [2.0, 1.0]])  # (tau, s_n)
    for j in range(3):
        got = resp.kernel_values(1, (j,), lags)
        np.testing.assert_allclose(got, tanh_taylor(B1, j + 1) * np.exp(-lags[:, 0]), rtol=1e-12, atol=1e-15)
    for ks in [(0, 0), (1, 0), (0, 2)]:  # f = h is linear: no kernel of two input times
        np.testing.assert_allclose(resp.kernel_values(2, ks, np.array([[0.3, 0.2, 0.1]])), 0.0, atol=1e-14)


def test_orders_in_eps_match_the_exact_mean(exact1):
    """Samples are read as piecewise-linear interpolants: channel u^n as that of the samples of u^n."""
    t = np.linspace(0, 3, 61)
    U = u1(t)[0]
    eps = 0.3
    parts = exact1.predict(U, t, eps, by_order=True)
    assert parts.shape == (4, t.size)
    for T in (0.5, 2.0, 3.0):
        i = int(np.argmin(abs(t - T)))
        ref0 = math.exp(-T) * H0 + tanh_taylor(B1, 0) * (1 - math.exp(-T))
        assert abs(parts[0, i] - ref0) < 1e-12
        for n in range(1, 4):
            integral = quad(
                lambda r, T=T, n=n: math.exp(-(T - r)) * np.interp(r, t, U**n),
                0, T, points=list(t[1:i]), epsabs=1e-14, limit=200,
            )[0]  # fmt: skip
            ref = eps**n * tanh_taylor(B1, n) * integral
            assert abs(parts[n, i] - ref) < 1e-11, (T, n, parts[n, i], ref)
    total = exact1.predict(U, t, eps)
    np.testing.assert_allclose(total, parts.sum(axis=0), rtol=0, atol=1e-14)
    assert np.all(np.abs(parts[1:, -1]) > 1e-4)  # every order is resolved


# --------------------------------------------------------------------------- n-D analogue: Gaussian law

A2 = np.array([[1.0, 0.3], [-0.2, 0.8]])
BIAS2 = np.array([0.2, -0.4])
E2 = np.array([[1.0, 0.5], [-0.3, 1.0]])
SIG2 = np.array([[0.4, 0.0], [0.1, 0.3]])


def u2(r: float) -> np.ndarray:
    return np.array([np.cos(r), 0.5 * np.sin(3 * r) - 0.2])


def gaussian_orders(T: float, eps: float, N: int) -> np.ndarray:
    """Orders 0..N of E[h1 h2] at T from the exact mean-order and covariance ODEs (scipy)."""
    taylors = np.array([[tanh_taylor(b, n) for b in BIAS2] for n in range(N + 1)])  # (N+1, 2)

    def rhs(t, y):
        M = y[: 2 * (N + 1)].reshape(N + 1, 2)
        S = y[2 * (N + 1) :].reshape(2, 2)
        Eu = eps * E2 @ u2(t)
        dM = -M @ A2.T + taylors * Eu[None, :] ** np.arange(N + 1)[:, None]
        dS = -A2 @ S - S @ A2.T + SIG2 @ SIG2.T
        return np.concatenate([dM.ravel(), dS.ravel()])

    sol = solve_ivp(rhs, (0, T), np.zeros(2 * (N + 1) + 4), rtol=1e-12, atol=1e-14, method="DOP853")
    y = sol.y[:, -1]
    M = y[: 2 * (N + 1)].reshape(N + 1, 2)
    S = y[2 * (N + 1) :].reshape(2, 2)
    out = np.array([sum(M[i, 0] * M[n - i, 1] for i in range(n + 1)) for n in range(N + 1)])
    out[0] += S[0, 1]
    return out


@pytest.mark.slow
def test_two_inputs_quadratic_readout_matches_the_gaussian_law():
    model = vs.SRNN(
        A2, np.zeros((2, 2)), BIAS2, E2, SIG2, "tanh", readout="h1*h2", initial=vs.PointMass([0, 0]), input="inside"
    )
    assert model.general_input and model.m == 2
    resp = vs.derive(model, 3, method="exact")
    assert resp.channels.names == ("u1", "u2", "u1^2", "u1*u2", "u2^2", "u1^3", "u1^2*u2", "u1*u2^2", "u2^3")
    t = np.linspace(0, 2.0, 201)
    eps = 0.4
    parts = resp.predict(u2, t, eps, by_order=True)
    for T in (1.0, 2.0):
        i = int(np.argmin(abs(t - T)))
        ref = gaussian_orders(T, eps, 3)
        np.testing.assert_allclose(parts[:, i], ref, rtol=1e-7, atol=1e-9)


# --------------------------------------------------------------------------- construction and bad input


def test_srnn_inside_is_the_activation_of_the_shifted_preactivation():
    W = [[0.5, -0.2], [0.3, 0.1]]
    model = vs.SRNN(1, W, [0.1, 0.2], [[1.0], [0.5]], 0.3, "tanh", readout="h1", input="inside")
    h1, h2, u = sp.symbols("h1 h2 u1")
    want = [-h1 + sp.tanh(0.5 * h1 - 0.2 * h2 + 0.1 + u), -h2 + sp.tanh(0.3 * h1 + 0.1 * h2 + 0.2 + 0.5 * u)]
    for got, ref in zip(model.drift, want):
        assert abs(float((got - ref).subs({h1: 0.7, h2: -0.4, u: 0.9}))) < 1e-14
    assert model.coupling == sp.zeros(2, 1) and model.parameters == () and model.inputs == (u,)
    outside = vs.SRNN(1, W, [0.1, 0.2], [[1.0], [0.5]], 0.3, "tanh", readout="h1")
    assert not outside.general_input and model.general_input


def test_input_affine_model_in_input_symbols_gives_the_same_kernels():
    """phi(h) + eps C u written with u1 in the drift: channel u1 is the coupling, no higher channel."""
    plain = vs.OU(1.0, 2.0, 0.5, readout="h**2", state=["h"])
    inside = vs.Diffusion(["h"], "-h + 2*u1", 0.5, [0], "h**2")
    a, b = vs.derive(plain, 2), vs.derive(inside, 2)
    assert b.channels.names == ("u1",)
    lags = np.array([[0.3, 0.2], [1.0, 0.5]])
    np.testing.assert_allclose(b.kernel_values(2, (0, 0), lags), a.kernel_values(2, (0, 0), lags), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, where, words",
    [
        (dict(drift="-h + tanh(u3)", coupling=[[0, 0]]), "drift", ["u3", "2 input channel"]),
        (dict(drift="-h", diffusion="0.5 + u1"), "diffusion", ["u1", "noise"]),
        (dict(drift="-h", readout="h*u1"), "readout", ["u1"]),
        (dict(drift="-h + u1", params={"u1": 1.0}), "params", ["u1", "reserved"]),
    ],
)
def test_bad_input_symbols_are_refused_naming_them(kwargs, where, words):
    args = dict(state=["h"], drift="-h", diffusion=0.5, coupling=[0], readout="h")
    args.update(kwargs)
    with pytest.raises(ModelError) as err:
        vs.Diffusion(**args)
    msg = str(err.value)
    assert msg.startswith(where) and all(w in msg for w in words), msg


def test_input_power_beyond_max_order_and_non_analytic_drift_are_refused():
    high = vs.Diffusion(["h"], f"-h + u1**{vs.limits.MAX_ORDER + 1}", 0.5, [0], "h")
    with pytest.raises(ModelError, match=r"^drift: the input u1 appears to the power 13, beyond MAX_ORDER"):
        vs.derive(high, 2, method="exact")
    rough = vs.Diffusion(["h"], "-h + sqrt(u1**2 + u1 + 1) - 1 + 1/u1", 0.5, [0], "h")
    with pytest.raises(ModelError, match=r"^drift: component 0 is not analytic in the input at u = 0"):
        vs.derive(rough, 2, method="taylor", lag_degree=2)
    with pytest.raises(ArgumentError, match=r"^order: a model whose drift depends on the input"):
        vs.derive(vs.Diffusion(["h"], "-h + tanh(u1)", 0.5, [0], "h"), None)
    with pytest.raises(ModelError, match=r"^input: expected 'outside'"):
        vs.SRNN(1, 0, 0, 1, 0.5, "tanh", readout="h1", input="within")


def test_features_are_refused_in_one_sentence(exact1):
    with pytest.raises(ArgumentError, match=r"^feature_coefficients: the response features are multilinear"):
        exact1.feature_coefficients(2, 1)


def test_model_file_declares_inputs_by_the_coupling_columns(tmp_path):
    text = """
[model]
kind = "diffusion"
state = ["h"]
drift = "-h + tanh(0.3 + {sym})"
diffusion = 0.5
coupling = [0]
readout = "h"
"""
    ok = vs.loads_model(text.format(sym="u1"))
    assert ok.general_input
    with pytest.raises(vs.errors.VolterraError, match="u2"):
        vs.loads_model(text.format(sym="u2"))


def test_documents_and_listings_name_the_channels(exact1):
    md = exact1.to_markdown()
    assert "Input channels" in md and "u1^2" in md
    assert exact1.to_json()["input_channels"][1] == {"index": 1, "monomial": "u1^2", "eps_power": 2}
    assert "u1^3 (eps^3)" in exact1.summary()


# --------------------------------------------------------------------------- nonlinear: Monte Carlo of the network


@pytest.mark.slow
def test_tanh_network_with_input_inside_galerkin_orders_1_and_2_match_monte_carlo():
    """dh = [-Gamma h + tanh(W h + b + eps C u)] dt + s dW, W != 0, h_0 = 0, f = h1.

    Monte Carlo simulates the true drift (not the channel expansion) at +eps and -eps with the same
    seed: the odd part (R(eps) - R(-eps))/2 = eps E_1 + eps^3 E_3 + O(eps^5) and the even part
    eps^2 E_2 + O(eps^4) (eps = 0.05: the O(eps^4) rest is below one standard error).  Tolerance:
    4.5 SE + the Euler bias (|fine - coarse|, weak order 1) + Galerkin's own error estimate.
    """
    model = vs.SRNN(
        [[1.2, 0], [0, 1.0]], [[0.4, -0.6], [0.5, 0.2]], [0.1, -0.2], [[1.0], [-0.6]], 0.3, "tanh",
        readout="h1", initial=vs.PointMass([0, 0]), input="inside",
    )  # fmt: skip
    t = np.linspace(0, 2.0, 21)
    U = np.array([[np.sin(2 * r) + 0.3] for r in t])
    eps, paths = 0.05, 20000
    with warnings.catch_warnings():  # the estimate of order-3 kernels near zero is large relative to them
        warnings.simplefilter("ignore", vs.ConvergenceWarning)
        resp = vs.derive(model, 3, method="galerkin", degree=6)
    parts, err = resp.predict(U, t, eps, by_order=True, return_error=True)
    runs = {}
    for sub in (10, 20):
        plus, minus = (
            vs.simulate_response(model, U, t, paths, seed=3, eps=s * eps, substeps=sub, return_samples=True).samples
            for s in (1, -1)
        )
        runs[sub] = ((plus - minus) / 2, (plus + minus) / 2)
    for which, pred, perr in ((0, parts[1] + parts[3], err[1] + err[3]), (1, parts[2], err[2])):
        fine, coarse = runs[20][which], runs[10][which]
        se = fine.std(axis=0, ddof=1) / math.sqrt(paths)
        bias = np.abs(fine.mean(axis=0) - coarse.mean(axis=0))
        diff = np.abs(pred - fine.mean(axis=0))
        assert np.all(diff[1:] <= 4.5 * se[1:] + bias[1:] + perr[1:]), (which, diff, se, bias, perr)
        assert np.max(np.abs(pred)) > 20 * np.max(se)  # the comparison has power: the order is well resolved


def test_pathwise_kernel_estimates_refuse_the_input_inside(model1):
    with pytest.raises(ModelError, match=r"^model: the input enters the drift nonlinearly"):
        vs.estimate_kernels(model1, 1, lags={1: np.linspace(0, 1, 11)}, paths=64)


def test_monte_carlo_simulates_the_true_drift(model1):
    """With common random numbers the per-path response of dh = (-h + tanh(b + eps u)) dt + s dW solves
    D' = -D + tanh(b + eps u) - tanh(b) exactly (the noise cancels): Euler's error is O(dt), halving with dt."""
    t = np.linspace(0, 2, 11)
    U = np.sin(3 * t) + 0.4  # read as the piecewise-linear interpolant, by simulate and by the reference
    eps, T = 0.6, 2.0

    def integrand(r: float) -> float:
        return math.exp(-(T - r)) * (math.tanh(B1 + eps * np.interp(r, t, U)) - math.tanh(B1))

    exact = quad(integrand, 0, T, points=list(t[1:-1]), epsabs=1e-13)[0]
    got = [vs.simulate_response(model1, U, t, 64, eps=eps, substeps=s).mean[-1] for s in (20, 40)]
    assert abs(got[1] - exact) <= 1.5 * abs(got[0] - got[1]) + 1e-12 and abs(got[1] - exact) < 2e-3, (got, exact)



@pytest.mark.slow
def test_order_5_regrouping_keeps_its_digits():
    """f = h, constant input: order n is tanh^(n)(b)/n! (eps u)^n (1 - e^{-t}) exactly; the order-5 fit has
    condition number 4.0e3, so about 12 digits survive."""
    model = vs.Diffusion(["h"], "-h + tanh(0.3 + u1)", 0.5, [0], "h", initial=vs.PointMass([0.0]))
    resp = vs.derive(model, 5, method="exact")
    t = np.linspace(0, 1, 11)
    parts = resp.predict(np.full(11, 0.5), t, 0.5, by_order=True)
    for n in range(1, 6):
        ref = tanh_taylor(0.3, n) * 0.25**n * (1 - math.exp(-1.0))
        assert abs(parts[n, -1] - ref) < 4.0e3 * 1e-16 * 10 + 1e-12 * abs(ref), (n, parts[n, -1], ref)


def test_error_estimate_of_the_channel_route_is_the_routes_own(exact1):
    """The regrouped response states the channel route's per-kernel error (small_noise), with channel indices;
    a route without one (exact) refuses in one sentence naming error_estimate."""
    model = vs.Diffusion(["h"], "-h + tanh(0.3 + 0.5*h + u1)", 0.2, [0], "h")
    resp = vs.derive(model, 1, method="small_noise", guard=False)
    inner = resp.channel_response
    assert resp.error_estimate(1, (0,)) == inner.error_estimate(1, (0,)) > 0
    assert resp.error_estimate(0) == inner.error_estimate(0)
    with pytest.raises(vs.VolterraError, match="^error_estimate: method='exact'"):
        exact1.error_estimate(1, (0,))
