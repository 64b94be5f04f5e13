"""vs.from_noisy_rnn: a NoisyRNN (Lim, Erichson et al. 2021) as an SDE with the input inside tanh.

References: the stored outputs of a torch NoisyRNN (tests/data/noisy_rnn.npz, written by
tests/data/make_noisy_rnn.py from examples/noisy_rnn_net.py, the network's equations in torch); the
imported model is stepped here by its own lambdified drift (Euler at the network's step), sharing no
code with the importer.  With torch installed (CI: the ``torch`` extra) the same checks run against a
live module, and the noisy one-step law is compared with 1e5 sampled torch steps.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs
from volterra_sym.errors import ArgumentError, ModelError

DATA = Path(__file__).with_name("data") / "noisy_rnn.npz"
HYPER = dict(eps=0.1, beta=0.75, gamma_A=0.05, gamma_W=0.02, alpha=1.0, add_noise=0.05)


def stored():
    z = np.load(DATA)
    sd = {k[3:]: z[k] for k in z.files if k.startswith("sd:")}
    return sd, z["x"], z["out_base"], z["out_noisy"]


def euler_outputs(model: vs.Diffusion, x: np.ndarray, dt: float) -> np.ndarray:
    """Readout after each Euler step h <- h + dt * drift(h, x_k) from h = 0 (noise off)."""
    drift = sp.lambdify((*model.state, *model.inputs), list(model.drift), "numpy")
    readout = sp.lambdify(model.state, list(model.readout), "numpy")
    h = np.zeros(model.n)
    out = []
    for xk in x:
        h = h + dt * np.array(drift(*h, *xk), dtype=float)
        out.append(np.array(readout(*h), dtype=float))
    return np.array(out)


@pytest.mark.parametrize("solver", ["base", "noisy"])
def test_euler_step_reproduces_the_network_over_a_sequence(solver):
    sd, x, out_base, out_noisy = stored()
    model = vs.from_noisy_rnn(sd, solver=solver, **HYPER)
    assert model.n == 5 and model.m == 3 and model.p == 2 and model.general_input
    assert isinstance(model.initial, vs.PointMass) and list(model.initial.x0) == [0] * 5
    got = euler_outputs(model, x, HYPER["eps"])
    ref = out_base if solver == "base" else out_noisy
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    assert np.max(np.abs(ref[1:] - ref[:-1])) > 1e-2  # the sequence moves the state: the check has power


def test_noise_mapping_and_parameters():
    sd, *_ = stored()
    noisy = vs.from_noisy_rnn(sd, solver="noisy", **HYPER)
    s = HYPER["add_noise"] / math.sqrt(HYPER["eps"])  # per step add_noise z = sigma sqrt(dt) z
    np.testing.assert_allclose(np.array(noisy.diffusion, dtype=float), s * np.eye(5), rtol=1e-15)
    base = vs.from_noisy_rnn(sd, solver="base", **HYPER)
    assert base.diffusion == sp.zeros(5, 5)  # the base solver injects no noise (as the public forward pass)
    B = sd["B"]
    A = 0.75 * (B - B.T) + 0.25 * (B + B.T) - 0.05 * np.eye(5)
    np.testing.assert_allclose(base.meta["A"], A, rtol=1e-15)
    # the linear part of the drift is alpha A^T h (row-vector convention h A)
    drift = sp.lambdify((*base.state, *base.inputs), list(base.drift), "numpy")
    step = 1e-6  # central differences at h = 0, u = 0: error O(step^2)
    J = np.array([(np.array(drift(*(step * e), 0, 0, 0)) - np.array(drift(*(-step * e), 0, 0, 0))) / (2 * step)
                  for e in np.eye(5)]).T  # fmt: skip
    W = 0.75 * (sd["C"] - sd["C"].T) + 0.25 * (sd["C"] + sd["C"].T) - 0.02 * np.eye(5)
    tanh_prime = 1 - np.tanh(sd["E.bias"]) ** 2
    np.testing.assert_allclose(J, A.T + tanh_prime[:, None] * W.T, rtol=0, atol=1e-8)


def test_checkpoint_name_is_parsed():
    name = ("runs/NoisyRNN_mnist_T_49_units_64_beta_0.75_gamma_A_0.001_gamma_W_0.001_eps_0.1_solver_noisy_gclip_0"
            "_optimizer_Adam_addnoise_0.02_multnoise_0.0_seed_1.pkl")  # fmt: skip
    hp = vs.noisy_rnn_hyperparameters(name)
    assert hp == dict(beta=0.75, gamma_A=0.001, gamma_W=0.001, eps=0.1, solver="noisy", add_noise=0.02,
                      mult_noise=0.0)  # fmt: skip
    with pytest.raises(ArgumentError, match=r"^path: the checkpoint name 'model.pkl' has no 'beta' field"):
        vs.noisy_rnn_hyperparameters("model.pkl")


@pytest.mark.parametrize(
    "change, kwargs, error, start",
    [
        (lambda sd: sd.pop("E.bias"), {}, ModelError, "E.bias: missing from the state dict"),
        (lambda sd: sd.update(C=np.zeros((4, 4))), {}, ModelError, "C: expected shape (5, 5)"),
        (lambda sd: sd.update({"D.bias": np.zeros(3)}), {}, ModelError, "D.bias: expected shape (2,)"),
        (lambda sd: sd.update({"W_hh": np.zeros(3)}), {}, ModelError, "net: the key(s) ['W_hh'] are not parameters"),
        (lambda sd: sd.update(d=-sd["d"]), {"solver": "noisy"}, ModelError, "d: the per-unit step"),
        (lambda sd: sd.update(B=np.full((5, 5), np.nan)), {}, ModelError, "B: has non-finite entries"),
        (lambda sd: None, {"solver": "rk4"}, ArgumentError, "solver: expected 'base' or 'noisy'"),
        (lambda sd: None, {"eps": 0.0}, ArgumentError, "eps: the network's time step must be > 0"),
        (lambda sd: None, {"add_noise": -1.0}, ArgumentError, "add_noise: expected a noise level >= 0"),
        (lambda sd: None, {"solver": "noisy", "mult_noise": 0.1}, ModelError, "mult_noise: 0.1 multiplies the drift"),
    ],
)
def test_bad_networks_are_refused_naming_the_key(change, kwargs, error, start):
    sd, *_ = stored()
    sd = dict(sd)
    change(sd)
    with pytest.raises(error) as err:
        vs.from_noisy_rnn(sd, **kwargs)
    assert str(err.value).startswith(start), str(err.value)
    with pytest.raises(ArgumentError, match=r"^net: expected a NoisyRNN module"):
        vs.from_noisy_rnn([1, 2, 3])


def test_sequence_input_holds_each_step():
    from volterra_sym.importers.noisy_rnn import sequence_input

    x = np.array([[1.0], [-2.0], [0.5]])
    t, U = sequence_input(x, 0.1, substeps=2)
    np.testing.assert_allclose(t, [0, 0.025, 0.075, 0.125, 0.175, 0.225, 0.275, 0.3])
    np.testing.assert_allclose(U[:, 0], [1, 1, 1, -2, -2, 0.5, 0.5, 0.5])


# --------------------------------------------------------------------------- with torch (CI: the torch extra)


def live_net(solver: str, add_noise: float = 0.0):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from noisy_rnn_net import NoisyRNN

    torch.manual_seed(3)
    net = NoisyRNN(2, 3, n_units=4, eps=0.2, beta=0.7, gamma_A=0.1, gamma_W=0.05, alpha=0.9, solver=solver,
                   add_noise=add_noise).double()  # fmt: skip
    with torch.no_grad():
        net.d.copy_(torch.tensor([0.15, 0.2, 0.25, 0.3], dtype=torch.float64))
    return torch, net


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["base", "noisy"])
def test_torch_module_round_trip(solver):
    torch, net = live_net(solver)
    model = vs.from_noisy_rnn(net)  # hyper-parameters read from the module
    assert model.meta["hyperparameters"]["alpha"] == 0.9 and model.meta["dt"] == 0.2
    x = torch.randn(1, 15, 2, dtype=torch.float64)
    with torch.no_grad():
        ref = np.array([net(x[:, :k]).numpy()[0] for k in range(1, 16)])
    np.testing.assert_allclose(euler_outputs(model, x.numpy()[0], 0.2), ref, rtol=0, atol=1e-6)
    with pytest.raises(ArgumentError, match=r"^beta: the module has beta = 0.7, received beta = 0.5"):
        vs.from_noisy_rnn(net, beta=0.5)
    sd_model = vs.from_noisy_rnn(net.state_dict(), eps=0.2, beta=0.7, gamma_A=0.1, gamma_W=0.05, alpha=0.9,
                                 solver=solver)  # fmt: skip
    assert vs.model.diffusion.same_model(model, sd_model) is None


@pytest.mark.slow
def test_torch_noisy_step_law_matches_the_sde():
    """One noisy step from h = 0: mean dt * drift(0, x) and covariance sigma^2 dt I (1e5 sampled torch steps)."""
    torch, net = live_net("noisy", add_noise=0.07)
    net.D.weight.data = torch.eye(4, dtype=torch.float64)[:3]  # read three hidden units directly
    net.D.bias.data.zero_()
    model = vs.from_noisy_rnn(net)
    x0 = np.array([0.4, -1.1])
    N = 100_000
    torch.manual_seed(11)
    with torch.no_grad():
        samples = net(torch.tensor(np.tile(x0, (N, 1, 1)), dtype=torch.float64), mode="train").numpy()
    drift = sp.lambdify((*model.state, *model.inputs), list(model.drift), "numpy")
    dt = 0.2
    mean = dt * np.array(drift(*np.zeros(4), *x0), dtype=float)[:3]
    S = np.array(model.diffusion, dtype=float)
    cov = (S @ S.T * dt)[:3, :3]
    z_mean = (samples.mean(0) - mean) / np.sqrt(np.diag(cov) / N)
    emp = np.cov(samples.T)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / N)  # Gaussian sample covariance
    z_cov = (emp - cov) / se_cov
    assert np.max(np.abs(z_mean)) < 4.5 and np.max(np.abs(z_cov)) < 4.5, (z_mean, z_cov)
    assert np.max(np.abs(mean)) > 50 * np.sqrt(np.max(np.diag(cov)) / N)  # the mean is resolved
