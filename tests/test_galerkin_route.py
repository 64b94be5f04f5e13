"""The Galerkin route through vs.derive: the shared Response contract, checked against routes that share
no code with it.

References: the exact route (closed forms, linear SRNNs), the 1-D grid generator route, the Taylor route's
coefficients at zero lag, the pathwise Monte Carlo estimator (volterra_sym/checks/kernel_estimates.py), and
the Gaussian oracle.  Tolerances: the routes' own error estimates and z * SE.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pytest
from models import TANH1
from oracles import (
    check_stated_error,
    finite_difference_kernel_diagonal,
    finite_difference_kernel_point,
    finite_difference_predict,
    spectral_1d,
    spectral_kernel,
)

import volterra_sym as vs
from volterra_sym.cli import main

OU2 = vs.OU(
    [[1.0, 0.8], [-0.4, 1.5]], [[1.0, 0.0], [0.5, 1.0]], 0.6, c=[0.2, -0.1], readout="h1**2*h2 + 0.3*h2**3 - h1"
)
ROT2 = vs.SRNN(
    [[1, 0], [0, 1]], [[0.5, -1.2], [1.2, 0.3]], [0.2, -0.1], [1, 0.5], 0.6, activation="tanh", readout="h1"
)


@pytest.mark.parametrize(
    "initial",
    [vs.Stationary(), pytest.param(vs.PointMass([0.3, -0.2]), marks=pytest.mark.slow)],  # point: ~10 s exact route
    ids=["stationary", "point"],
)
def test_linear_models_equal_the_exact_route(initial):
    model = OU2.replace(initial=initial)
    exact = vs.derive(model, 3)
    gal = vs.derive(model, 3, method="galerkin", degree=3)
    rng = np.random.default_rng(1)
    for n in (1, 2, 3):
        width = n if gal.stationary else n + 1
        lags = rng.uniform(0, 2, size=(7, width))
        for ks in gal.index_tuples(n):
            ref = exact.lower().kernel(n, ks)(*lags.T)
            got = gal.kernel_values(n, ks, lags)
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * (1 + np.abs(ref).max()))
            np.testing.assert_allclose(gal.kernel(n, ks)(*lags.T), got, rtol=0, atol=0)
    # prediction: the forward hierarchy in the basis against the exact Gaussian law (no kernels involved),
    # within the route's own error estimate (basis p vs p + 2, here 0, plus the time-stepping error)
    t = np.linspace(0, 3, 61)
    U = np.stack([np.sin(2 * t), 0.5 * np.cos(t)], axis=1)
    y, err = gal.predict(U, t, 0.7, return_error=True)
    oracle = vs.gaussian_oracle(model, U, t, 0.7)
    # the time-stepping part of the estimate is Richardson's (asymptotically exact for the O(h^2) scheme), held to
    # the bar of every stated error (measured true / stated: 0.63 stationary, 0.77 point start)
    check_stated_error(y, err, oracle, 1e-12, "prediction")
    assert err.max() < 1e-3


def test_one_d_tanh_agrees_with_the_spectral_oracle_within_its_stated_error():
    # reference: the Chebyshev spectral oracle of the 1-D generator (tests/oracles.py; its own error ~1e-13);
    # measured true / stated 1.02 (the route's tail estimate)
    gal = vs.derive(TANH1, 2, method="galerkin", degree=24)
    lags = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    val, err = gal.kernel_error(1, 0, lags)
    ref, ref_err = spectral_kernel(TANH1, lags[:, None])
    check_stated_error(val, err, ref, ref_err, "K^(1)")
    # K^(1)(0) = E_inf[C . grad f] = C = 0.8 for f = h: exact up to the stationary law's error
    assert abs(gal.kernel_values(1, 0, [0.0])[0] - 0.8) < 1e-9


@pytest.mark.slow  # measured ~2.6s of the default run (issue 18: default run <= 90 s)
def test_taylor_route_uses_the_galerkin_stationary_law_for_non_gradient_models():
    """Before: StationaryLawError (rho_inf unknown for a rotational W). Now the Taylor route takes E_inf from the
    Galerkin stationary law. Independent checks: p = 0 is E_inf[C . grad f] = C_1 = 1 exactly; p = 1 is
    E_inf[g], g = L1 L0 f written out here with SymPy, estimated by Monte Carlo of the stationary law
    (4.5 SE + the Euler bias bound |m_dt - m_dt/2| + 4.5 SE of that difference + the Galerkin estimate)."""
    import sympy as sp

    tay = vs.derive(ROT2, 1, method="taylor", lag_degree=2, stationary_degree=8)
    report = tay.taylor[0].expectation_report
    assert "Galerkin" in report["initial law"] and report["error estimate"] < 1e-3
    assert abs(float(tay.kernel_taylor(1, 0, (0,))) - 1.0) < 1e-12
    h1, h2 = sp.symbols("h1 h2")
    phi1 = -h1 + sp.tanh(0.5 * h1 - 1.2 * h2 + 0.2)  # f = h1: L0 f = phi_1 (no second derivatives)
    g = 1.0 * sp.diff(phi1, h1) + 0.5 * sp.diff(phi1, h2)  # L1 g = C . grad g, C = (1, 0.5)
    probe = ROT2.replace(readout=g)
    t = np.array([0.0, 0.02])
    runs = [vs.simulate(probe, None, t, 20_000, seed=5, substeps=k, burn_in=8.0) for k in (1, 2)]
    m, se = runs[1].mean[0], runs[1].stderr[0]
    bias = abs(runs[0].mean[0] - m) + 4.5 * np.hypot(runs[0].stderr[0], se)
    a1 = float(tay.kernel_taylor(1, 0, (1,)))
    assert abs(a1 - m) <= 4.5 * se + bias + report["error estimate"], (a1, m, se, bias)


@pytest.mark.slow  # ~1.5 s: two finite-difference grids and a Taylor derivation
def test_taylor_route_stationary_law_error_against_finite_differences():
    """The Taylor route's stated error of the Galerkin stationary law (expectation_report) against E_inf[g] from
    fourth-order finite differences of the Fokker-Planck operator (tests/oracles.py), g = L1 L0 f the integrand of
    d/dtau K^(1)(0), on a strongly non-gradient tanh SRNN.  Measured true / stated 1.4-1.6 at stationary degrees
    4-10 (the plain |E_p - E_(p+2)| difference; within the 3x bar), 0.13 on ROT2."""
    import sympy as sp
    from oracles import finite_difference_2d

    model = vs.SRNN(1.0, [[1.5, -1.0], [1.0, 1.2]], [0.2, -0.1], C=[1, 0.5], sigma=0.6, activation="tanh",
                    readout="h1")  # fmt: skip
    h1, h2 = sp.symbols("h1 h2")
    g = sp.lambdify((h1, h2), sp.diff(model.drift[0], h1) + 0.5 * sp.diff(model.drift[0], h2), "numpy")
    values = []
    for h in (0.2, 0.1):
        fd = finite_difference_2d(model, ((-4.5, 4.7), (-4.5, 4.7)), h)
        X, Y = np.meshgrid(fd.gx, fd.gy, indexing="ij")
        values.append(fd.expectation(g(X, Y).ravel()))
    truth, truth_error = (16 * values[1] - values[0]) / 15, abs(values[1] - values[0]) / 15
    tay = vs.derive(model, 1, method="taylor", lag_degree=2, stationary_degree=8)
    stated = tay.taylor[0].expectation_report["error estimate"]
    check_stated_error(float(tay.kernel_taylor(1, 0, (1,))), stated, truth, truth_error, "E_inf[L1 L0 f]")


@pytest.mark.slow  # measured ~1.9s of the default run (issue 18: default run <= 90 s)
@pytest.mark.filterwarnings("ignore::volterra_sym.errors.ConvergenceWarning")  # low degrees on purpose
def test_two_d_taylor_coefficients_converge_to_the_taylor_route_from_a_point_start():
    from volterra_sym.routes.galerkin.estimate import galerkin_error

    model = ROT2.replace(initial=vs.PointMass([0.2, -0.1]))
    tay = vs.derive(model, 1, method="taylor", lag_degree=3)
    errors = []
    for degree in (6, 10, 14):
        est = galerkin_error(model, degree, order=1, levels="tail")  # the route's system and error estimate
        # d^p/dtau^p K^(1)(tau; s = 0) at 0: l0 Gamma M^p c_f (p = 0..2) against the exact Taylor coefficients,
        # within the stated error (measured true / stated <= 1.04; p = 0 is exact, at rounding)
        pairs = [est.taylor_coefficient(1, (0,), (p,)) for p in range(3)]
        truth = [float(tay.taylor[0].coefficient(1, (0,), (p, 0))) for p in range(3)]
        for p in (1, 2):
            check_stated_error(pairs[p][0], pairs[p][1], truth[p], 1e-12, f"degree {degree}, p = {p}")
        assert abs(pairs[0][0] - truth[0]) < 1e-12
        errors.append(max(abs(v - t) for (v, _), t in zip(pairs, truth)))
    # measured: 0.072, 0.013, 0.0026
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.slow
def test_two_d_non_gradient_kernels_agree_with_pathwise_monte_carlo():
    gal = vs.derive(ROT2, 2, method="galerkin", degree=12)
    taus = np.array([0.0, 0.5, 1.0, 2.0])
    pairs = np.array([[0.5, 0.5], [1.0, 0.5], [0.5, 1.0]])
    est = vs.estimate_kernels(ROT2, order=2, lags={1: taus, 2: pairs}, paths=40_000, seed=3, dt=0.01)
    for n, lags in ((1, taus[:, None]), (2, pairs)):
        val, err = gal.kernel_error(n, 0, lags)
        tol = 4.5 * est.stderr(n) + np.abs(est.bias(n)) + 4.5 * est.bias_stderr(n) + err
        assert np.all(np.abs(est.mean(n) - val) <= tol), (n, est.mean(n), val, tol)


@pytest.mark.slow  # ~2.0 s of the default run (issue 18); the members: tests/test_route_contract.py
@pytest.mark.filterwarnings("ignore::volterra_sym.errors.ConvergenceWarning")  # low degrees on purpose
def test_contract_members_documents_and_warning(tmp_path):
    gal = vs.derive(ROT2, 2, method="galerkin", degree=8)
    assert isinstance(gal, vs.Response) and gal.method == "galerkin" and gal.N == 45
    js = gal.to_json()
    assert js["basis_size"] == 45 and len(js["kernels"]) == 1 + 1
    assert "K^(2)_[1,1]" in gal.summary()
    t = np.linspace(0, 2, 41)
    y, e = gal.predict(np.sin(t), t, 0.5, return_error=True)
    assert y.shape == e.shape == t.shape and np.all(e >= 0)
    tex = gal.to_latex()
    assert "Galerkin approximation of the generator" in tex and r"\Gamma_{k_n}" in tex
    if shutil.which("pdflatex"):
        (tmp_path / "g.tex").write_text(tex)
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "g.tex"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]
    with pytest.raises(vs.ArgumentError, match="numerically"):
        gal.write_module(tmp_path / "k.py")
    with pytest.warns(vs.ConvergenceWarning, match="raise the degree"):
        vs.derive(ROT2, 1, method="galerkin", degree=2, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", vs.ConvergenceWarning)
        vs.derive(ROT2, 1, method="galerkin", degree=8, tol=1e-3)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"degree": 0}, "degree"),
        ({"degree": 4, "tol": -1}, "tol"),
        ({"degree": 4, "lag_degree": 2}, "lag_degree"),
        ({"degree": 4, "seed": -1}, "seed"),
        ({"degree": 4, "weight": ("gaussian", [0, 0], np.eye(2) * (1 + 5j))}, "real numbers"),  # imag. not dropped
        ({"degree": 4, "weight": ("gaussian", [0, 0], [[0.27, 0.1], [0.0, 0.25]])}, "symmetric"),
        ({"degree": 4, "weight": ("gaussian", [0], [[1.0]])}, "length 2"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(vs.ArgumentError, match=match):
        vs.derive(ROT2, 1, method="galerkin", **options)


@pytest.mark.parametrize("readout", ["Abs(h1)", "1/h1", "sqrt(h1)", "log(h1)", "tan(h1)"])
def test_non_analytic_or_singular_readouts_are_refused(readout):
    """E_inf[1/h] does not exist when the law has density at 0: numbers would be meaningless."""
    with pytest.raises(vs.NotAnalyticError, match="non-analytic"):
        vs.derive(vs.OU(1.0, 1.0, 0.5, readout=readout), 1, method="galerkin", degree=4)


def test_smooth_readouts_with_positive_denominators_are_accepted():
    for readout in ("1/(1 + h1**2)", "log(1 + h1**2)"):
        assert vs.derive(vs.OU(1.0, 1.0, 0.5, readout=readout), 1, method="galerkin", degree=6).N == 7


def test_unstable_models_are_refused():
    with pytest.raises(vs.VolterraError):
        vs.derive(vs.OU(-1.0, 1.0, 0.5, readout="h1"), 1, method="galerkin", degree=4)


@pytest.mark.filterwarnings("ignore::volterra_sym.errors.ConvergenceWarning")  # low degrees on purpose
def test_cli_and_model_file(tmp_path, capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "srnn2d_tanh_nonequilibrium.toml"
    assert main(["derive", str(example), "--order", "1", "--degree", "6", "--json", str(tmp_path / "k.json")]) == 0
    out = capsys.readouterr().out
    assert "GalerkinResponse(order=1, degree=6, N=28" in out
    spec = vs.load_run(example)
    assert spec.method == "galerkin" and spec.degree == 14


def test_response_features_from_galerkin_taylor_coefficients_match_the_exact_route():
    """feature_coefficients use kernel_taylor (l Gamma M^p c_f): on a linear model they equal the exact route's."""
    model = vs.OU(1.0, 0.5, 0.7, c=0.3, readout="h1**2")
    exact = vs.derive(model, 2)
    gal = vs.derive(model, 2, method="galerkin", degree=2)
    np.testing.assert_allclose(gal.feature_coefficients(3, 2), exact.feature_coefficients(3, 2), rtol=1e-9, atol=1e-12)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::volterra_sym.errors.ConvergenceWarning")  # low degrees on purpose
def test_verify_accepts_a_galerkin_response():
    t = np.linspace(0, 2, 21)
    u = 0.5 * np.sin(2 * t)
    run = dict(order=2, paths=4000, seed=2, burn_in=10.0)
    # at the default tol = 1e-4 degree 8 misses its own target (its ConvergenceWarning): not verified
    report = vs.verify(ROT2, u, t, derive_options={"method": "galerkin", "degree": 8}, **run)
    assert not report.passed and "misses its own accuracy target" in report.verdict, str(report)
    report = vs.verify(ROT2, u, t, derive_options={"method": "galerkin", "degree": 8, "tol": 1e-2}, **run)
    assert report.passed, str(report)


# --------------------------------------------------------------------------- error estimates checked (issue 19)

CUBIC1 = vs.OU(1.0, 0.5, 0.7, c=0.3, readout="h1**3")


BOX_ROT2 = ((-3.4, 3.6), (-3.3, 3.7))  # stationary mass outside < 1e-12 (sd ~0.5 about (0.1, 0.1)); (0.2, -0.1) a node


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::volterra_sym.errors.ConvergenceWarning")  # low degrees on purpose
@pytest.mark.parametrize(
    "name, model, order, degrees, ref",
    [
        ("OU2", OU2, 3, (2,), "exact"),
        ("cubic", CUBIC1, 3, (1, 2), "exact"),
        ("TANH1", TANH1, 2, (4, 8, 12), "spectral"),
        ("ROT2 (gallery)", ROT2, 2, (8,), "finite differences"),
        ("ROT2 point start", ROT2.replace(initial=vs.PointMass([0.2, -0.1])), 2, (10,), "finite differences"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_stated_error_is_not_exceeded_3x(name, model, order, degrees, ref):
    """Every model of the tests and the gallery: the stated error (kernel_error, on the probe lags the tolerance
    judges) against the true error is not exceeded more than 3x, nor exceeds it 100x
    (tests/oracles.py check_stated_error); likewise the prediction's estimate (not exceeded 3x).  Measured true /
    stated of the kernels at the degrees below: OU2 1.0, cubic 1.0 (above rounding), TANH1 0.16-1.03 (spectral
    oracle), ROT2 0.12-0.56 and point start 0.16-0.65 (finite differences); predictions <= 1.0 (the tail
    estimate of galerkin_estimate.py, which replaced the plain p vs p + 2 difference, is not widened further).
    References, sharing no code with the route: the exact route (linear models), the spectral oracle of the 1-D
    generator, fourth-order finite differences of the 2-D Fokker-Planck operator (stationary and point start; the
    predictions exact in time for the piecewise-linear input) (tests/oracles.py).  The route at a much higher
    degree, once the reference of the nonlinear models, shared the time-stepping error of the prediction it
    judged (3.5e-5 for the point start)."""
    reference = vs.derive(model, order) if ref == "exact" else None
    t = np.linspace(0, 4, 41)
    u = 0.5 * np.sin(2 * t) if model.m == 1 else np.c_[0.5 * np.sin(2 * t), 0.3 * np.cos(t)]
    want_error = 1e-12
    if reference is not None:
        want = reference.predict(u, t)
    elif ref == "spectral":  # independent: the spectral oracle's forward hierarchy (order 2)
        want = spectral_1d(model).predict(u, t).sum(axis=0)
    else:  # independent: the finite-difference hierarchy, exact in time for the piecewise-linear input
        x0 = None if isinstance(model.initial, vs.Stationary) else np.array(model.initial.x0.evalf(), float).ravel()
        want, want_error = finite_difference_predict(model, u, t, BOX_ROT2, x0)
        want = want.sum(axis=0)
    for degree in degrees:
        gal = vs.derive(model, order, method="galerkin", degree=degree)
        for n in range(1, order + 1):
            lags = gal.probe_lags(n)
            for ks in gal.index_tuples(n):
                value, stated = gal.kernel_error(n, ks, lags)
                truth_error = 1e-12 * max(1.0, float(np.max(np.abs(value))))  # rounding of exact kernels
                if reference is not None:
                    truth = np.asarray(reference.kernel_values(n, ks, lags), dtype=float)
                elif ref == "spectral":
                    truth, truth_error = spectral_kernel(model, lags)
                elif isinstance(model.initial, vs.Stationary):  # independent: 4th-order finite differences
                    truth, truth_error = finite_difference_kernel_diagonal(model, lags[:, 0], n, BOX_ROT2)
                else:  # the same from the point start (a node of both grids)
                    x0 = np.array(model.initial.x0.evalf(), dtype=float).ravel()
                    truth, truth_error = finite_difference_kernel_point(model, x0, lags, BOX_ROT2)
                check_stated_error(value, stated, truth, truth_error, f"{name}, degree {degree}, K^({n})_{ks}")
        y, stated = gal.predict(u, t, return_error=True)
        check_stated_error(y, stated, want, want_error, f"{name}, degree {degree}, prediction")


@pytest.mark.slow
def test_degree_is_optional_the_lowest_meeting_tol_is_chosen_and_reported():
    with warnings.catch_warnings():
        warnings.simplefilter("error", vs.ConvergenceWarning)
        auto = vs.derive(TANH1, 2, method="galerkin", tol=1e-3)
    assert auto.degrees_tried[-1] == auto.degree and not auto.accuracy_problems()
    with pytest.warns(vs.ConvergenceWarning):
        below = vs.derive(TANH1, 2, method="galerkin", degree=auto.degree - 2, tol=1e-3)
    assert below.accuracy_problems()  # the degree before did not meet tol
    assert f"degree {auto.degree} chosen automatically" in auto.summary()
    explicit = vs.derive(TANH1, 2, method="galerkin", degree=auto.degree, tol=1e-3)
    assert explicit.degrees_tried is None
    lags = np.array([[0.5], [1.0]])
    np.testing.assert_array_equal(auto.kernel_values(1, 0, lags), explicit.kernel_values(1, 0, lags))
