"""Guards on verdicts: a verdict means what it says.

verify cannot pass where its standard error is undefined, on a response of another model, or
against its own exact oracle; warnings come no later than the truth.  Regrouped from issue 14's
hardening tests; the rows of issues 23 and 24 follow.  Trusts: the Gaussian oracle and the
generator route (no code shared with the Taylor or Galerkin kernels).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym import limits

ROOT = Path(__file__).resolve().parents[1]

OU = vs.OU(1.0, 1.0, 0.5, readout="h1**2")

T = np.linspace(0, 1, 11)

U = np.sin(T)


def _wrong_response():
    return vs.derive(vs.OU(2.0, 1.0, 0.5, readout="h1**2"))


def limits_tolerance() -> float:
    from volterra_sym.routes.taylor import HORIZON_TOLERANCE

    return HORIZON_TOLERANCE


def test_verify_with_one_path_cannot_pass(fast):
    resp = vs.derive(OU)
    for paths in (1, 2, limits.MIN_VERIFY_PATHS - 1):
        message = fast(lambda n=paths: vs.verify(OU, U, T, paths=n, response=resp), vs.ArgumentError)
        assert message.startswith("paths") and str(limits.MIN_VERIFY_PATHS) in message


def test_verify_refuses_a_response_of_another_model(fast):
    message = fast(lambda: vs.verify(OU, U, T, paths=200, response=_wrong_response()), vs.ModelError)
    assert message.startswith("response") and "drift" in message


def test_verify_compares_models_after_substituting_parameter_values():
    sym = vs.OU("a", 1.0, 0.5, readout="h1**2", params={"a": 1.0})
    other = vs.OU("a", 1.0, 0.5, readout="h1**2", params={"a": 2.0})
    with pytest.raises(vs.ModelError, match="response"):
        vs.verify(sym, U, T, paths=200, response=vs.derive(other))
    # the same model with its values substituted is the same model
    report = vs.verify(sym, U, T, paths=200, seed=1, response=vs.derive(sym.with_values()))
    assert report.paths == 200
    # a different initial law is a different model
    with pytest.raises(vs.ModelError, match="initial"):
        vs.verify(OU, U, T, paths=200, response=vs.derive(OU.replace(initial=vs.PointMass([0.0]))))


def test_verify_minimum_paths_is_shared_with_thecli(tmp_path, cli):
    code, _, err = cli("verify", str(ROOT / "examples/ou1d_cubic.toml"), "--paths", "1")
    assert code == 2 and "--paths" in err and str(limits.MIN_VERIFY_PATHS) in err


# --------------------------------------------------------------------------- wrong verdicts: Taylor horizon


def test_taylor_horizon_warning_is_not_later_than_the_true_horizon():
    """Issue example: double well, f = h, lag_degree 10, t in [0, 6]; the warning said 3.95, the true 1%
    horizon was 0.51.  The truth here: the generator route (no code shared with the Taylor kernels)."""
    model = vs.Diffusion(["h"], "h - h**3", 0.8, 1, "h")
    t = np.linspace(0, 6, 601)
    u = np.ones_like(t)
    taylor = vs.derive(model, 1, method="taylor", lag_degree=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = taylor.predict(u, t, eps=0.1, by_order=True)
    messages = [str(w.message) for w in caught if issubclass(w.category, vs.TruncationWarning)]
    assert len(messages) == 1
    warned = float(re.search(r"beyond t ~ ([0-9.e+-]+)", messages[0]).group(1))
    truth = vs.derive(model, 1, method="generator").predict(u, t, eps=0.1, by_order=True)
    response_taylor, response_truth = parts[1:].sum(axis=0), truth[1:].sum(axis=0)
    scale = np.maximum.accumulate(np.abs(response_truth))
    bad = np.abs(response_taylor - response_truth) > limits_tolerance() * scale
    true_horizon = t[np.argmax(bad)]
    assert bad.any() and warned <= true_horizon, (warned, true_horizon)


def test_verify_cannot_pass_where_the_standard_error_is_undefined():
    """The root of the verdict: a report whose Monte Carlo standard error is not finite (one path,
    overflowing statistics) does not pass there, whoever built it."""
    model = vs.OU(1.0, 1.0, 0.5, readout="h1")
    report = vs.verify(model, U, T, paths=200, seed=3)
    assert report.passed
    broken = dataclasses.replace(report, mc_stderr=np.full_like(report.mc_stderr, np.inf))
    assert not broken.passed and "inconclusive" in str(broken)
    with pytest.raises(vs.SimulationError, match="overflows"):
        vs.verify(model, np.ones(11), T, paths=200, eps=1e300)
    with pytest.raises(vs.SimulationError, match="overflows"):
        vs.simulate(model, np.ones(11), T, 200, eps=1e300)


def test_verify_refuses_impossible_requests_before_deriving(fast):
    # the derive options are bad too: the refusal about paths comes first, so nothing was derived
    for paths in (1, 10**12):
        message = fast(lambda n=paths: vs.verify(OU, U, T, paths=n, derive_options={"method": "exakt"}))
        assert message.startswith("paths")
