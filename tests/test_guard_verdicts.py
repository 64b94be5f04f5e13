"""Guards on verdicts: a verdict means what it says.

verify cannot pass where its standard error is undefined, on a response of another model, or
against its own exact oracle; warnings come no later than the truth.  Regrouped from issue 14's
hardening tests; the rows of issues 23 and 24 follow.  Trusts: the Gaussian oracle, the
generator route and the spectral oracle of tests/oracles.py (no code shared with the Taylor or
Galerkin kernels).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from models import OU1

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
    model = OU1
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


# --------------------------------------------------------------------------- issues 23 and 24: one row per cause

CUBIC_OU = vs.OU(1.0, 1.0, 0.5, readout="h1**3")


def test_verify_uses_its_exact_oracle_with_the_routes_stated_error():
    """Issue 24: a Galerkin response at degree 2 for a cubic readout on an OU model (|prediction - oracle| = 2e-2)
    PASSED at max |z| 3.8.  The oracle (Gaussian moments, no code shared with any route) now decides too."""
    t = np.linspace(0, 2, 11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vs.ConvergenceWarning)
        wrong = vs.derive(CUBIC_OU, 3, method="galerkin", degree=2)
    report = vs.verify(CUBIC_OU, np.sin, t, response=wrong, paths=200, seed=0)
    assert not report.passed and report.oracle_error > 1e-3
    assert "FAILED" in str(report) and "max |prediction - oracle|" in str(report)
    right = vs.verify(CUBIC_OU, np.sin, t, response=vs.derive(CUBIC_OU, 3), paths=200, seed=0)
    assert right.passed and right.oracle_error < 1e-10


@pytest.mark.slow  # a CLI run with Monte Carlo
def test_cli_verify_of_a_wrong_galerkin_degree_fails(cli):
    """Issue 24: `verify --method galerkin --degree 1` exited 0."""
    code, out, _ = cli(
        "verify",
        str(ROOT / "examples/ou1d_cubic.toml"),
        "--method",
        "galerkin",
        "--degree",
        "1",
        "--paths",
        "400",
        "--points",
        "21",
    )
    assert code == 1 and "FAILED" in out


def test_no_convergence_warning_for_kernels_that_are_exactly_zero():
    """Issue 24: K^(2) and K^(4) of a cubic readout of a linear model vanish; their rounding noise relative to
    themselves raised a ConvergenceWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", vs.ConvergenceWarning)
        resp = vs.derive(CUBIC_OU, 4, method="galerkin", degree=6)
    big, _ = resp.accuracy()[4]
    assert big < 1e-12  # the kernel is zero up to rounding (exact route: identically 0)
    assert resp.accuracy()[3][1] <= resp.tol * resp.accuracy()[3][0]  # and the real kernel still meets tol


def test_return_error_has_the_shape_of_the_value_for_every_route():
    """Issue 23: with by_order and return_error the closed-form routes summed the error over orders while Galerkin
    gave it per order.  One convention: the error has the value's shape."""
    t = np.linspace(0, 1, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        responses = [
            vs.derive(CUBIC_OU, 3),
            vs.derive(CUBIC_OU, 3, method="taylor", lag_degree=2),
            vs.derive(CUBIC_OU, 3, method="galerkin", degree=4),
        ]
        for resp in responses:
            for by_order in (False, True):
                value, error = resp.predict(np.sin(t), t, by_order=by_order, return_error=True)
                assert np.shape(error) == np.shape(value), (resp.method, by_order)
                assert np.all(np.asarray(error) >= 0)
        # Taylor: the per-order top shells add up to the total estimate (one estimate, two shapes)
        value, per_order = responses[1].predict(np.sin(t), t, by_order=True, return_error=True)
        _, total = responses[1].predict(np.sin(t), t, return_error=True)
        assert np.all(total <= per_order.sum(axis=0) + 1e-15) and per_order[0].max() == 0.0


@pytest.mark.slow  # scikit-learn's whole check suite (~4 s)
def test_readout_regression_passes_check_estimator_with_stated_exceptions():
    """Issue 23: ReadoutRegression was not run through check_estimator."""
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    from volterra_sym.learn import READOUT_EXPECTED_FAILED_CHECKS, ReadoutRegression

    assert all(len(reason) > 40 for reason in READOUT_EXPECTED_FAILED_CHECKS.values())
    est = ReadoutRegression(OU1, ["h1", "h1**2"], order=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(
            est, on_fail=None, on_skip=None, expected_failed_checks=READOUT_EXPECTED_FAILED_CHECKS
        )
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed, failed
    assert {r["check_name"] for r in results if r["status"] == "xfail"} <= set(READOUT_EXPECTED_FAILED_CHECKS)


@pytest.mark.parametrize("weight", ["density", "gaussian"])
def test_galerkin_stated_error_is_honest_against_a_reference_sharing_no_code(weight):
    """Issue 23: some Galerkin references were the route at a higher degree and some tolerances hand-chosen
    factors.  Row: at low degrees (where the estimate matters) and with a Gaussian weight that converges slowly,
    the stated error of vs.derive is held to the project's bar (true <= 3 x stated <= 300 x true) against the
    spectral oracle of the 1-D generator (tests/oracles.py).  Measured true / stated 0.16-1.01."""
    from oracles import check_stated_error, spectral_kernel

    from volterra_sym.routes.galerkin.weights import choose_weight

    model = vs.SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")
    options = {}
    if weight == "gaussian":
        w = choose_weight(model)
        options["weight"] = ("gaussian", w.mean, w.cov)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vs.ConvergenceWarning)  # low degrees on purpose
        for degree in (6,):  # 10 and beyond: tests/test_galerkin_system.py, test_galerkin_route.py
            gal = vs.derive(model, 2, method="galerkin", degree=degree, **options)
            for n in (1, 2):
                lags = gal.probe_lags(n)
                value, stated = gal.kernel_error(n, 0, lags)
                check_stated_error(value, stated, *spectral_kernel(model, lags), f"degree {degree}, K^({n})")


def test_a_miss_with_no_truncation_estimate_says_so():
    """A route whose top order is the highest it builds (small_noise: 2) gives verify no truncation estimate;
    a miss there is "not verified" (not wrong), with the remedy that tells truncation from wrong kernels."""
    from volterra_sym.checks.verify import TRUNCATION, WRONG, VerifyReport

    t = np.linspace(0.0, 1.0, 3)
    ones = np.ones((3, 1))
    report = VerifyReport(
        t, ones * 1.1, None, ones, ones * 0.001, ones * 0.0, 5.0, "euler", 2000, 0, "m", 2, "rule", eps=0.5
    )
    assert not report.passed
    assert "could not be estimated" in report.verdict and "eps^(order+1)" in report.verdict
    assert report.verdict.startswith("FAILED: not verified") and np.all(report.status == TRUNCATION)
    estimated = VerifyReport(
        t, ones * 1.1, None, ones, ones * 0.001, ones * 0.0, 5.0, "euler", 2000, 0, "m", 2, "rule", eps=0.5,
        truncation=np.zeros((3, 1)),
    )  # fmt: skip
    assert not estimated.passed and "could not be estimated" not in estimated.verdict
    assert np.all(estimated.status == WRONG) and "not verified" not in estimated.verdict
