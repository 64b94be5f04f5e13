"""The worked example examples/noisy_rnn/ (docs/noisy_rnn_example.md).

Default run (no torch): the example's NumPy network, its reference for the mean output, against
(1) the importer's SDE stepped by its own lambdified drift at the network's step (noise off; a trained
n = 4 state dict stored in tests/data), and (2) its Taylor coefficients in eps (Cauchy integral over
common noise paths) against the exact mean of a network that is linear in h (W = 0), whose
coefficients are tanh^(n)(E_b)/n! (x_k E)^n propagated by the linear map (sympy's derivatives of tanh).
Slow run (CI: torch and aeon): a few seconds of training and the whole analysis at a tiny size, the NumPy
network against the torch forward pass (noise off) and its noisy mean output against the torch network's in
training mode (4000 samples), and the kernels' order-1 terms against the network and its SDE.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "noisy_rnn"
STATE = Path(__file__).with_name("data") / "noisy_rnn_example_n4.npz"
sys.path.insert(0, str(EXAMPLE))
from network import Network, taylor_mc  # noqa: E402

HYPER = dict(beta=0.8, gamma_A=0.5, gamma_W=0.1, alpha=1.0)


def stored_state() -> dict[str, np.ndarray]:
    z = np.load(STATE)
    return {k[3:]: z[k] for k in z.files if k.startswith("sd:")}


def test_numpy_network_is_the_imported_sde_euler_step():
    sd = stored_state()
    model = vs.from_noisy_rnn(sd, eps=0.1, solver="noisy", add_noise=0.0, **HYPER)
    net = Network.from_state_dict(sd, add_noise=0.0, **HYPER)
    drift = sp.lambdify((*model.state, *model.inputs), list(model.drift), "numpy")
    readout = sp.lambdify(model.state, list(model.readout), "numpy")
    x = np.sin(np.linspace(0, 4, 12)) * 1.5
    h = np.zeros(model.n)
    for xk in x:
        h = h + 0.1 * np.array(drift(*h, xk), dtype=float)
    ref = np.array(readout(*h), dtype=float)
    got = net.run(x, np.array([1.0]), np.zeros((len(x), 1, 1, model.n)), np.zeros((1, model.n)))[0, 0]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert np.max(np.abs(ref - np.array(readout(*np.zeros(model.n))))) > 1e-2  # the input moves the readout


def test_taylor_coefficients_of_a_network_linear_in_h():
    rng = np.random.default_rng(1)
    n, T = 3, 6
    A = -np.eye(n) + 0.3 * rng.standard_normal((n, n))
    E, Eb = np.array([0.8, -0.5, 0.3]), np.array([0.2, -0.4, 0.1])
    Dw, Db, d = rng.standard_normal((2, n)), np.array([0.1, -0.2]), np.array([0.1, 0.12, 0.08])
    net = Network(A, np.zeros((n, n)), E, Eb, Dw, Db, d, 1.0, 0.05)
    x = rng.standard_normal((1, T))
    top = 6
    res = taylor_mc(net, x, warmup=3, paths=400, seed=2, top=top, radius=0.5, nodes=16)
    # exact: m_{k+1} = m_k (I + A diag(d)) + d * tanh(eps x_k E + E_b), the noise has mean zero; order n of
    # m_T is sum_k d * tanh^(n)(E_b)/n! (x_k E)^n (I + A diag(d))^(T - 1 - k), and the warm-up's mean
    # (x = 0) enters order 0 only
    b = sp.Symbol("b")
    M = np.eye(n) + A * d[None, :]
    ref = np.zeros((top + 1, 2))
    for order in range(top + 1):
        deriv = sp.lambdify(b, sp.diff(sp.tanh(b), b, order) / sp.factorial(order), "numpy")
        g = np.array([float(deriv(v)) for v in Eb])
        m = np.zeros(n)
        if order == 0:
            for _ in range(3):
                m = m @ M + d * g
        for k in range(T):
            m = m @ M + d * g * (x[0, k] * E) ** order
        ref[order] = m @ Dw.T + (Db if order == 0 else 0)
    z = (res.coef[:, 0] - ref) / np.maximum(res.coef_se[:, 0], 1e-300)
    assert abs(z[0]).max() < 4.5  # order 0 carries the noise: a z-test
    # orders >= 1 do not depend on the noise path (linear in h): exact up to the Cauchy aliasing c_{n+16} r^16
    np.testing.assert_allclose(res.coef[1:, 0], ref[1:], rtol=0, atol=1e-9)
    assert np.abs(ref[1:]).min() > 1e-6  # every order is present
    # the mean at eps = 1 (its noise: a z-test) and the series' remainder after order 6, both exact here
    m = np.zeros(n)
    for xk in np.concatenate([np.zeros(3), x[0]]):
        m = m @ M + d * np.tanh(xk * E + Eb)
    exact = m @ Dw.T + Db
    assert np.all(np.abs(res.value[1, 0] - exact) < 4.5 * res.value_se[1, 0])
    remainder = exact - ref.sum(axis=0)
    np.testing.assert_allclose(res.partial_error[1, -1, 0], remainder, rtol=0, atol=1e-9)
    assert np.abs(remainder).min() > 1e-6


def test_sde_limit_by_richardson_matches_the_exact_continuous_mean():
    # the network linear in h (W = 0) in continuous time: dm/dt = M m + diag(d/eps) tanh(eps x_k E + E_b) on
    # each input step, M = diag(d/eps) A^T (row convention h A = A^T h): exact by the matrix exponential
    rng = np.random.default_rng(4)
    n, T, step = 3, 5, 0.1
    A = -np.eye(n) + 0.3 * rng.standard_normal((n, n))
    E, Eb = np.array([0.8, -0.5, 0.3]), np.array([0.2, -0.4, 0.1])
    Dw, Db, d = rng.standard_normal((2, n)), np.zeros(2), np.array([0.1, 0.12, 0.08])
    net = Network(A, np.zeros((n, n)), E, Eb, Dw, Db, d, 1.0, 0.0)
    x = rng.standard_normal((1, T))
    M = (d / step)[:, None] * A.T
    lam, V = np.linalg.eig(M)
    Vi = np.linalg.inv(V)
    P = (V * np.exp(lam * step)) @ Vi  # e^{M step}
    Q = (V * ((np.exp(lam * step) - 1) / lam)) @ Vi  # int_0^step e^{M r} dr
    b = sp.Symbol("b")
    top = 3
    ref = np.zeros((top + 1, 2))
    for order in range(1, top + 1):
        deriv = sp.lambdify(b, sp.diff(sp.tanh(b), b, order) / sp.factorial(order), "numpy")
        g = np.array([float(deriv(v)) for v in Eb])
        m = np.zeros(n, dtype=complex)
        for k in range(T):
            m = P @ m + Q @ ((d / step) * g * (x[0, k] * E) ** order)
        ref[order] = (Dw @ m).real
    kw = dict(warmup=0, paths=2, seed=0, top=top, radius=0.5, nodes=24)
    scale = np.abs(ref[1:]).max()
    err = {q: (np.abs(taylor_mc(net, x, substeps=q, **kw).coef[1:, 0] - ref[1:]) / scale).max() for q in (1, 2, 4)}
    # the network (one Euler step per input step) is off by O(step); Richardson (q, 2q) by O((step/q)^2)
    assert err[1] > 1e-2 and err[2] < 5e-3 and err[4] < err[2] / 2, err


@pytest.mark.slow
def test_the_example_runs_and_its_network_is_the_torch_network():
    torch = pytest.importorskip("torch")
    pytest.importorskip("aeon")
    import train_and_analyse as ex

    X, y, Xt, yt = ex.load_data()
    cfg = dict(
        n_units=4, epochs=10, e_penalty=0.1, test_series=2, paths=200, mc_paths=32, mc_order=1, sde_substeps=2, seed=0
    )
    tr = ex.train(X, y, Xt[:50], yt[:50], cfg)
    sd = tr["state_dict"]
    assert 0 <= tr["acc_test"] <= 1
    # the example's NumPy network is the torch network (test mode: noise off)
    sys.path.insert(0, str(EXAMPLE.parent))
    from noisy_rnn_net import NoisyRNN

    tnet = NoisyRNN(1, 2, n_units=4, **ex.HYPER).double()
    tnet.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    xs = np.concatenate([np.zeros((3, ex.WARMUP)), Xt[:3]], axis=1)
    with torch.no_grad():
        ref = tnet(torch.tensor(xs[:, :, None])).numpy()
    net = Network.from_state_dict(sd, add_noise=0.0, **HYPER)
    got = np.array([net.run(s, np.array([1.0]), np.zeros((len(s), 1, 1, 4)), np.zeros((1, 4)))[0, 0] for s in xs])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)
    res = ex.analyse(sd, Xt[:2], cfg, figdir=None, log=lambda *a: None)
    # the NumPy network's mean output with its noise (eps = 1) against the torch network in training mode
    # (noise on) over 4000 samples: independent samples, so a z-test
    torch.manual_seed(5)
    xs2 = torch.tensor(np.concatenate([np.zeros((2, ex.WARMUP)), Xt[:2]], axis=1)[:, :, None])
    with torch.no_grad():
        samples = tnet(xs2.repeat_interleave(4000, 0), mode="train").numpy().reshape(2, 4000, 2)
    t_mean, t_se = samples.mean(1), samples.std(1, ddof=1) / np.sqrt(4000)
    z = (res["taylor"].value[1] - t_mean) / np.hypot(res["taylor"].value_se[1], t_se)
    assert np.abs(z).max() < 4.5, z
    # and the spread over noise paths: relative SE of a sample std 1/sqrt(2 (paths - 1)) = 5% at 200 paths
    np_std = res["taylor"].value_se[1] * np.sqrt(cfg["paths"])
    assert np.all(np.abs(np_std / samples.std(1, ddof=1) - 1) < 4.5 / np.sqrt(2 * (cfg["paths"] - 1)))
    assert samples.std(1).min() > 1e-3  # the noise is on
    # order 1: the network's Euler-chain kernels against the network, the SDE kernels against the SDE
    # (Richardson), within 4.5 SE; known biases: the point start's transient (measured) and, for the SDE
    # kernels, the midpoint rule's O(dt^2) (2% of the term)
    taylor, sde, transient = res["taylor"], res["sde"], res["transient"]["at_data_start"]
    chain = res["chain"]
    assert np.all(np.abs(chain["E1"] - taylor.coef[1]) <= 4.5 * np.hypot(chain["se"], taylor.coef_se[1]) + transient)
    bias = transient + 0.02 * np.abs(sde.coef[1]).max()
    assert np.all(np.abs(res["pred"][1] - sde.coef[1]) <= 4.5 * np.hypot(res["pred_se"][1], sde.coef_se[1]) + bias)
