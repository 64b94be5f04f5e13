"""Tests of volterra_sym.checks.verify (reports comparing predictions with MC and the oracle).

Trusted: volterra_sym.checks.simulate and volterra_sym.checks.oracle (tested in test_simulate.py and
test_oracle.py).  The kernels (volterra_sym.routes.exact.derive_exact) are the code being checked by
verify; here we only check that verify reports them correctly, plus fault injection with a
deliberately wrong predictor (a stub whose error is known).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from oracles import euler_means_quadratic

import volterra_sym as vs
from volterra_sym import verify
from volterra_sym.checks.oracle import gaussian_oracle
from volterra_sym.checks.simulate import simulate
from volterra_sym.checks.verify import VerifyReport

OU2 = vs.OU(A=[[1.0, 2.0], [0.0, 1.5]], C=[[1.0], [0.5]], sigma=0.7, c=[0.3, -0.2], readout="h1**2 + h1*h2")
T = np.linspace(0, 2, 41)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
Z = 5.0
U = np.sin(3 * T)


class _Shifted:
    """A predictor equal to the oracle plus a known offset (fault injection)."""

    def __init__(self, model, offset):
        self.model, self.offset, self.order = model, offset, 2

    def predict(self, u, t, eps=1.0):
        return gaussian_oracle(self.model, u, t, eps) + self.offset


def test_linear_exact_report_passes() -> None:
    rep = verify(OU2, U, T, paths=10000, seed=1)
    assert isinstance(rep, VerifyReport)
    assert rep.scheme == "exact" and rep.passed and rep.max_abs_z < 5
    assert np.allclose(rep.oracle[:, 0], gaussian_oracle(OU2, U, T))
    mc = simulate(OU2, U, T, 10000, seed=1, scheme="exact")
    assert np.array_equal(rep.mc_mean[:, 0], mc.mean)  # the report shows the simulation it ran
    assert np.all(rep.bias == 0)
    text = str(rep)
    assert "PASSED" in text and "rule:" in text and "oracle" in text
    assert len(text.splitlines()) <= 20 + 6


def test_wrong_prediction_fails() -> None:
    # an offset of 10 standard errors must be caught
    se = simulate(OU2, U, T, 10000, seed=1, scheme="exact").stderr
    rep = verify(OU2, U, T, paths=10000, seed=1, response=_Shifted(OU2, 10 * se.max()))
    assert not rep.passed
    assert rep.max_abs_z > 5
    assert "FAILED" in str(rep)


def test_euler_bias_from_coupled_runs_matches_the_exact_euler_means() -> None:
    # reference: the Euler scheme's own means at dt and dt/2, exactly (linear recursions; tests/oracles.py)
    rep = verify(OU2, U, T, paths=4000, seed=2, scheme="euler", substeps=1)
    fine = euler_means_quadratic(OU2, U, T, 2)
    coarse = euler_means_quadratic(OU2, U, T, 1)
    assert rep.scheme == "euler" and rep.passed, str(rep)
    assert np.all(np.abs(rep.mc_mean[:, 0] - fine) <= Z * rep.mc_stderr[:, 0] + 1e-12)
    # b = m_dt - m_dt/2 path by path: its SE is far below the SE of the mean (coupled, not independent runs)
    assert np.all(np.abs(rep.bias_estimate[:, 0] - (coarse - fine)) <= Z * rep.bias_stderr[:, 0] + 1e-12)
    assert np.max(rep.bias_stderr[1:] / rep.mc_stderr[1:]) < 0.2
    assert np.all(np.abs(rep.corrected[:, 0] - (2 * fine - coarse)) <= Z * rep.corrected_stderr[:, 0] + 1e-12)
    assert np.allclose(rep.bias, np.abs(rep.bias_estimate) + Z * rep.bias_stderr)  # no independent-run noise
    assert "coupled" in rep.rule and "time-step bias" in str(rep)
    given = verify(OU2, U, T, paths=4000, seed=2, scheme="euler", substeps=2, bias=0.05)
    assert np.all(given.bias == 0.05) and given.bias_estimate is None


def test_a_miss_explained_by_truncation_is_not_verified() -> None:
    # order 1 of a quadratic readout: the order-2 term (exact, from orders 2-3) is the whole miss at eps = 1
    response = vs.derive(OU2, 1)
    rep = verify(OU2, U, T, paths=10000, seed=1, response=response)
    assert rep.truncation is not None and np.max(rep.truncation) > 0.1
    assert not rep.passed and "not verified at this eps" in rep.verdict and "raise the order" in rep.verdict
    assert "PASSED" not in str(rep) and "truncation (orders 2-3)" in str(rep)
    # the same order at a small eps is right to what the check resolves
    small = verify(OU2, U, T, paths=10000, seed=1, response=response, eps=0.02)
    assert small.passed, str(small)
    # complete series: the next order vanishes exactly
    full = verify(OU2, U, T, paths=10000, seed=1)
    assert full.truncation is not None and np.max(full.truncation) < 1e-12 and full.passed


@pytest.mark.filterwarnings("ignore::volterra_sym.errors.ConvergenceWarning")  # low degree on purpose
def test_galerkin_below_the_readout_degree_fails_against_the_oracle() -> None:
    # issue 24: degree 2 for a cubic readout on OU misses the exact oracle by ~2e-2; MC alone saw |z| < 5
    model = vs.OU(1.0, 0.5, 0.7, c=0.3, readout="h1**3")
    t = np.linspace(0, 4, 41)
    u = np.sin(1.5 * t)
    bad = vs.derive(model, 3, method="galerkin", degree=2)
    rep = verify(model, u, t, paths=4000, seed=3, response=bad)
    assert rep.oracle_error > 1e-2 and not rep.passed and "FAILED" in str(rep)
    good = vs.derive(model, 3, method="galerkin", degree=4)
    assert verify(model, u, t, paths=4000, seed=3, response=good).passed


@pytest.mark.slow
def test_truncated_series_of_a_nonlinear_model_is_not_verified_at_large_eps() -> None:
    # issue 19: Galerkin kernels are right (tol met), the order-1 series is not at eps = 1.5: not verified;
    # the same response at eps = 0.2 passes.  Euler with the coupled dt/2 bias, stationary start by burn-in.
    model = vs.SRNN(
        [[1, 0], [0, 1]], [[0.5, -1.2], [1.2, 0.3]], [0.2, -0.1], [1, 0.5], 0.6, activation="tanh", readout="h1"
    )
    t = np.linspace(0, 4, 41)
    u = np.sin(1.5 * t)
    response = vs.derive(model, 1, method="galerkin", degree=10, tol=1e-3)
    big = verify(model, u, t, response=response, paths=4000, seed=2, eps=1.5, burn_in=10.0)
    assert big.max_abs_z > 5 and not big.passed and "not verified at this eps" in big.verdict, str(big)
    small = verify(model, u, t, response=response, paths=4000, seed=2, eps=0.2, burn_in=10.0)
    assert small.passed, str(small)


def test_cli_verify_of_a_galerkin_degree_below_its_target_exits_1(capsys) -> None:
    from volterra_sym.cli import main

    code = main(["verify", str(EXAMPLES / "ou1d_cubic.toml"), "--method", "galerkin", "--degree", "1"])
    out, err = capsys.readouterr()
    assert code == 1 and "not verified" in out and "PASSED" not in out


@pytest.mark.slow
def test_no_false_failures_over_20_seeds() -> None:
    # correct predictions (exact kernels, complete series) on a linear model, exact and Euler schemes
    t = np.linspace(0, 2, 21)
    u = np.sin(3 * t)
    response = vs.derive(OU2)
    fails = [s for s in range(20) if not verify(OU2, u, t, paths=2000, seed=s, response=response).passed]
    fails += [
        s for s in range(20)
        if not verify(OU2, u, t, paths=1000, seed=100 + s, response=response, scheme="euler", substeps=2).passed
    ]  # fmt: skip
    # a nonlinear model (Galerkin kernels meeting their tol, small eps), Euler with the coupled bias and burn-in
    rot = vs.SRNN(
        [[1, 0], [0, 1]], [[0.5, -1.2], [1.2, 0.3]], [0.2, -0.1], [1, 0.5], 0.6, activation="tanh", readout="h1"
    )
    gal = vs.derive(rot, 1, method="galerkin", degree=10, tol=1e-3)
    fails += [
        s for s in range(20)
        if not verify(rot, u, t, paths=1000, seed=200 + s, response=gal, eps=0.2, burn_in=8.0, substeps=2).passed
    ]  # fmt: skip
    assert fails == []


def test_vector_readout_and_nonlinear_model() -> None:
    model = vs.SRNN(Gamma=1.0, W=0.5, C=1.0, sigma=0.3, activation="tanh", readout="h1", initial=vs.PointMass([0.0]))
    t = np.linspace(0, 1, 11)
    rep = verify(model, 0.3 * np.ones(11), t, order=2, paths=2000, derive_options=dict(method="taylor", lag_degree=6))
    assert rep.oracle is None and rep.scheme == "euler"
    assert rep.prediction.shape == (11, 1)
    vec = OU2.replace(readout=["h1", "h2**2"])
    rep2 = verify(vec, U, T, paths=4000, seed=3)
    assert rep2.prediction.shape == (41, 2) and "component 1" in str(rep2)
    assert rep2.passed


def test_plot_without_matplotlib_names_the_extra(monkeypatch) -> None:
    rep = verify(OU2, U, T, paths=1000, response=_Shifted(OU2, 0.0))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install volterra_sym\[plot\]"):
        rep.plot("/tmp/never.png")


def test_plot_writes_a_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")  # installed by .ci/run (the 'plot' extra)
    rep = verify(OU2, U, T, paths=1000, response=_Shifted(OU2, 0.0))
    path = tmp_path / "verify.png"
    rep.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input() -> None:
    with pytest.raises(vs.ArgumentError, match="z:"):
        verify(OU2, U, T, z=0)
    with pytest.raises(vs.ArgumentError, match="bias"):
        verify(OU2, U, T, bias=-1.0)
    with pytest.raises(vs.ModelError, match="model"):
        verify("OU", U, T)
    with pytest.raises(vs.ArgumentError, match="paths"):
        verify(OU2, U, T, paths=0, response=_Shifted(OU2, 0.0))


def test_input_inside_the_drift_is_simulated_as_it_is() -> None:
    """dh = (-h + tanh(b + eps u)) dt + s dW: the coupled Euler runs step the TRUE drift (the input inside tanh),
    so the order-3 series passes; the runs' means are far (> 8 SE) from those of the input-affine model
    -h + tanh(b) + tanh'(b) u (the same first order, different higher orders), so the check can fail."""
    u, t = (lambda r: np.sin(2 * r)), np.linspace(0, 4, 41)
    b, args = 0.4, dict(paths=4000, eps=0.6, seed=3)
    inside = vs.Diffusion(["h"], "-h + tanh(b + u1)", 0.3, [0], "h", initial=vs.PointMass([0.2]), params={"b": b})
    good = vs.verify(inside, u, t, order=3, **args)
    assert good.passed, good
    affine = vs.Diffusion(
        ["h"], "-h + tanh(b)", 0.3, "1 - tanh(b)**2", "h", initial=vs.PointMass([0.2]), params={"b": b}
    )
    other = vs.verify(affine, u, t, order=1, **args)
    assert other.passed, other
    gap = np.abs(good.mc_mean - other.mc_mean) / np.hypot(good.mc_stderr, other.mc_stderr).clip(1e-12)
    assert np.max(gap) > 8


def test_input_inside_a_nonlinear_drift_from_the_stationary_law() -> None:
    """The automatic burn-in of a stationary start reads the unperturbed drift phi(h, 0) of a model whose input
    is inside the drift (was a raw NameError on u1): the Galerkin series of order 2 passes verify."""
    model = vs.Diffusion(["h"], "-h + tanh(0.3 + 0.5*h + u1)", 0.5, [0], "h")
    rep = vs.verify(
        model, lambda r: np.sin(2 * r), np.linspace(0, 3, 31), order=2, paths=4000, eps=0.3,
        derive_options={"method": "galerkin"},
    )  # fmt: skip
    assert rep.passed, rep
