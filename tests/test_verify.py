"""Tests of volterra_sym.checks.verify (reports comparing predictions with MC and the oracle).

Trusted: volterra_sym.checks.simulate and volterra_sym.checks.oracle (tested in test_simulate.py and
test_oracle.py).  The kernels (volterra_sym.routes.exact.derive_exact) are the code being checked by
verify; here we only check that verify reports them correctly, plus fault injection with a
deliberately wrong predictor (a stub whose error is known).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym import verify
from volterra_sym.checks.oracle import gaussian_oracle
from volterra_sym.checks.simulate import simulate
from volterra_sym.checks.verify import VerifyReport

OU2 = vs.OU(A=[[1.0, 2.0], [0.0, 1.5]], C=[[1.0], [0.5]], sigma=0.7, c=[0.3, -0.2], readout="h1**2 + h1*h2")
T = np.linspace(0, 2, 41)
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


def test_euler_report_with_bias_bound() -> None:
    rep = verify(OU2, U, T, paths=4000, seed=2, scheme="euler", substeps=2)
    assert rep.scheme == "euler" and rep.passed
    assert np.all(rep.bias >= 5 * rep.mc_stderr)  # the bound includes z * SE of the coarse-fine difference
    assert "Euler" in rep.rule
    given = verify(OU2, U, T, paths=4000, seed=2, scheme="euler", substeps=2, bias=0.05)
    assert np.all(given.bias == 0.05)


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
