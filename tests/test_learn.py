"""volterra_sym.learn: scikit-learn estimators, readout training without simulation, bad input.

- ResponseFeatures reproduces response_feature (same numbers, float64) for arrays, lists and
  (t_i, u_i) pairs; degree 0 is the plain signature of int u.
- ResponseKernel equals the inner products of the features (1e-10) and is PSD; it works as a
  precomputed kernel in SVC / KernelRidge, in Pipeline, GridSearchCV and clone; both estimators
  pass scikit-learn's check_estimator.
- ReadoutRegression (Volterra series, no Monte Carlo) equals the readout trained on simulated
  means within Monte Carlo error (jackknife z), and its kernel-machine form <beta, Phi> agrees.
- Bad input raises FeatureError / InputError / ReadoutError naming the argument and the remedy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

try:
    import sklearn  # noqa: F401
except ImportError:
    if os.environ.get("CI"):  # .ci/run installs the learn extra: its absence there is a failure
        raise
    pytest.skip("scikit-learn not installed (pip install 'volterra_sym[learn]')", allow_module_level=True)

import volterra_sym as vs  # noqa: E402
from volterra_sym.features import response_feature  # noqa: E402
from volterra_sym.features.signature import signature
from volterra_sym.learn import (  # noqa: E402
    EXPECTED_FAILED_CHECKS,
    ReadoutError,
    ReadoutRegression,
    ResponseFeatures,
    ResponseKernel,
    compare_with_simulation,
)

ROOT = Path(__file__).resolve().parents[1]
R = sp.Rational
T = np.linspace(0, 2, 31)


def _inputs(count: int, t: np.ndarray = T, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.5, 4, (count, channels, 3))
    phase = rng.uniform(0, 2 * np.pi, (count, channels, 3))
    amp = rng.normal(0, 0.5, (count, channels, 3))
    waves = np.sin(freq[..., None] * t + phase[..., None])  # (count, channels, 3, L)
    return np.einsum("bcj,bcjt->btc", amp, waves)


def _network(readout: str = "h1") -> vs.Diffusion:
    return vs.SRNN(
        Gamma=1, W=[[0, R(-1, 2)], [R(1, 2), 0]], b=[R(1, 5), 0], C=[[1], [R(1, 2)]], sigma=R(1, 2), readout=readout
    )


DICTIONARY = ["h1", "h2", "h1**2", "h1*h2"]


# --------------------------------------------------------------------------- the transformer


@pytest.mark.parametrize("channels", [1, 2])
def test_transformer_equals_response_feature(channels):
    U = _inputs(6, channels=channels)
    est = ResponseFeatures(degree=3, level=2, time_scale=1.0, t=T)
    F = est.fit_transform(U)
    ref = response_feature(U, T, 3, 2)
    assert F.dtype == np.float64 and F.shape == ref.shape == (6, est.n_features_out_)
    np.testing.assert_array_equal(F, ref)
    assert len(est.get_feature_names_out()) == F.shape[1]
    # float32 input, a list of series, pairs with shifted / rescaled grids: the same numbers
    np.testing.assert_allclose(est.transform(U.astype(np.float32)), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(est.transform(list(U)), ref)
    pairs = [(3 * T + 7.0, u) for u in U]
    F_pairs = ResponseFeatures(degree=3, level=2, time_scale=1 / 3).fit_transform(pairs)
    np.testing.assert_allclose(F_pairs, ref, rtol=1e-12, atol=1e-12)


def test_one_channel_2d_input_and_auto_time_scale():
    U = _inputs(4)[:, :, 0]  # (n, L): one channel
    est = ResponseFeatures(degree=2, level=3).fit(U)
    assert est.time_scale_ == pytest.approx(1 / (len(T) - 1))  # index grid 0..L-1 mapped to [0, 1]
    np.testing.assert_allclose(est.transform(U), response_feature(U[:, :, None], np.linspace(0, 1, len(T)), 2, 3))


def test_degree_zero_is_the_signature_of_the_integral():
    U = _inputs(3, channels=2)
    F = ResponseFeatures(degree=0, level=3, time_scale=1.0, t=T).fit_transform(U)
    steps = 0.5 * np.diff(T)[None, :, None] * (U[:, 1:] + U[:, :-1])
    path = np.concatenate([np.zeros((3, 1, 2)), np.cumsum(steps[:, ::-1], axis=1)], axis=1)  # reversed time
    np.testing.assert_allclose(F, signature(path, 3), atol=1e-14)
    # ... and the q = 0 coordinates of the degree-1 feature
    full = ResponseFeatures(degree=1, level=3, time_scale=1.0, t=T).fit(U)
    keep = [i for i, name in enumerate(full.get_feature_names_out()) if "q1" not in name]
    np.testing.assert_allclose(F, full.transform(U)[:, keep], atol=1e-14)
    fine = ResponseFeatures(degree=0, level=3, time_scale=1.0, t=T, refine=3).fit_transform(U)
    full3 = ResponseFeatures(degree=1, level=3, time_scale=1.0, t=T, refine=3).fit_transform(U)
    np.testing.assert_allclose(fine, full3[:, keep], atol=1e-14)


def test_ragged_pairs_and_scalings():
    rng = np.random.default_rng(1)
    pairs = []
    for length in (20, 31, 45, 31):
        grid = np.sort(rng.uniform(0, 3, length))
        pairs.append((grid, np.sin(grid)[:, None] + 0.1 * rng.normal(size=(length, 1))))
    est = ResponseFeatures(degree=2, level=2, input_scaling="standard", feature_scaling="standard")
    F = est.fit_transform(pairs)
    assert F.shape == (4, est.n_features_out_)
    np.testing.assert_allclose(F.mean(axis=0), 0, atol=1e-10)
    for i, (grid, u) in enumerate(pairs):  # each row is response_feature on its own (shifted, scaled) grid
        raw = response_feature((u - est.input_mean_) / est.input_scale_, (grid - grid[0]) * est.time_scale_, 2, 2)
        np.testing.assert_allclose(F[i] * est.feature_scale_ + est.feature_mean_, raw, rtol=1e-10, atol=1e-12)
    lev = ResponseFeatures(degree=2, level=2, feature_scaling="level").fit(pairs)
    G = lev.transform(pairs)
    d = 3
    for block in (G[:, :d], G[:, d : d + d**2]):
        assert np.sqrt(np.mean(np.sum(block**2, axis=1))) == pytest.approx(1.0)


# --------------------------------------------------------------------------- the kernel


def test_kernel_is_the_feature_inner_product_and_psd():
    U, V = _inputs(15, seed=2), _inputs(5, seed=3)
    kern = ResponseKernel(degree=3, level=2, t=T, time_scale=1.0, include_level0=False, feature_scaling="none")
    kern.fit(U)
    F_u = response_feature(U, T, 3, 2)
    F_v = response_feature(V, T, 3, 2)
    K = kern.transform(U)
    assert K.shape == (15, 15) and K.dtype == np.float64
    np.testing.assert_allclose(K, F_u @ F_u.T, rtol=0, atol=1e-10 * max(1.0, np.abs(K).max()))
    np.testing.assert_allclose(kern.transform(V), F_v @ F_u.T, rtol=0, atol=1e-10 * max(1.0, np.abs(K).max()))
    np.testing.assert_allclose(kern.gram(V), F_v @ F_v.T, rtol=1e-12, atol=1e-14)
    eig = np.linalg.eigvalsh(K)
    assert eig.min() >= -1e-10 * eig.max()
    cos = ResponseKernel(degree=3, level=2, t=T, normalize=True).fit(U)
    Kc = cos.transform(U)
    np.testing.assert_allclose(np.diag(Kc), 1.0)
    assert np.linalg.eigvalsh(Kc).min() >= -1e-10
    assert list(cos.get_feature_names_out()[:2]) == ["responsekernel0", "responsekernel1"]


def test_precomputed_kernel_in_svc_kernel_ridge_pipeline_and_grid_search():
    from sklearn.base import clone
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    U = _inputs(40, seed=4)
    labels = (U[:, :, 0].mean(axis=1) > 0).astype(int)  # the sign of int u: a level-1 coordinate
    target = U[:, -5:, 0].mean(axis=1)
    svc = make_pipeline(ResponseKernel(degree=2, level=2, t=T, normalize=True), SVC(kernel="precomputed"))
    svc.fit(U[:30], labels[:30])
    assert svc.predict(U[30:]).shape == (10,)
    assert svc.score(U[:30], labels[:30]) > 0.8
    krr = make_pipeline(ResponseKernel(degree=2, level=2, t=T), KernelRidge(kernel="precomputed", alpha=1e-3))
    krr.fit(U[:30], target[:30])
    assert krr.score(U[30:], target[30:]) > 0.5
    grid = GridSearchCV(svc, {"responsekernel__degree": [1, 2], "svc__C": [0.1, 10.0]}, cv=3)
    grid.fit(U[:30], labels[:30])
    assert set(grid.best_params_) == {"responsekernel__degree", "svc__C"}
    callable_kernel = SVC(kernel=ResponseKernel(degree=2, level=2, t=T, normalize=True).fit(U[:30]))
    assert callable_kernel.fit(U[:30, :, 0], labels[:30]).predict(U[30:, :, 0]).shape == (10,)  # 2-D: one channel
    lin = make_pipeline(ResponseFeatures(degree=2, level=2, feature_scaling="standard"), RidgeClassifierCV())
    assert clone(lin).fit(list(U[:30]), labels[:30]).predict(list(U[30:])).shape == (10,)
    params = clone(svc).get_params()
    assert params["responsekernel__normalize"] is True and np.array_equal(params["responsekernel__t"], T)


def test_ragged_pairs_through_grid_search():
    """Lists of (t_i, u_i) of different lengths go through GridSearchCV's splits and a precomputed-kernel SVC."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    rng = np.random.default_rng(6)
    pairs, labels = [], []
    for i in range(24):
        grid = np.cumsum(rng.uniform(0.05, 0.15, 15 + i % 7))
        sign = 1 if i % 2 else -1
        pairs.append((grid, sign * np.sin(3 * grid) + 0.2 * rng.normal(size=grid.size)))
        labels.append(i % 2)
    pipe = make_pipeline(ResponseKernel(degree=2, level=2), SVC(kernel="precomputed"))
    search = GridSearchCV(pipe, {"svc__C": [1.0, 10.0], "responsekernel__level": [1, 2]}, cv=3).fit(pairs, labels)
    assert search.best_score_ > 0.8
    assert search.predict(pairs[:5]).shape == (5,)
    assert not hasattr(search.best_estimator_[0], "n_features_in_")  # no fixed length for pairs


@pytest.mark.parametrize("make", [lambda: ResponseFeatures(degree=2, level=2), lambda: ResponseKernel(degree=1)])
def test_check_estimator(make):
    from sklearn.utils.estimator_checks import check_estimator

    assert EXPECTED_FAILED_CHECKS == {}  # every check passes; document any new exception there
    results = check_estimator(make(), on_fail=None, on_skip=None, expected_failed_checks=EXPECTED_FAILED_CHECKS)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed, failed


# --------------------------------------------------------------------------- readout training


@pytest.fixture(scope="module")
def readout_fit():
    U = _inputs(12, t=np.linspace(0, 2, 41), seed=5)
    y = np.sin(2 * U[:, -1, 0]) + 0.3 * U[:, :, 0].mean(axis=1)
    est = ReadoutRegression(_network(), DICTIONARY, order=2, alpha=1e-3, t=np.linspace(0, 2, 41)).fit(U, y)
    return est, U, y


def test_readout_ridge_on_series_predictions(readout_fit):
    est, U, y = readout_fit
    G = np.array([[r.predict(u, np.linspace(0, 2, 41))[-1] for r in est.responses_] for u in U])
    np.testing.assert_allclose(est.expected_outputs(U), G, rtol=1e-12)
    Gc, yc = G - G.mean(axis=0), y - y.mean()
    w = np.linalg.solve(Gc.T @ Gc + 1e-3 * np.eye(4), Gc.T @ yc)
    np.testing.assert_allclose(est.coef_, w, rtol=1e-9)
    np.testing.assert_allclose(est.predict(U), G @ w + y.mean() - G.mean(axis=0) @ w, rtol=1e-9)


@pytest.mark.slow  # measured ~2.5s of the default run (issue 18: default run <= 90 s)
def test_readout_kernel_machine_view(readout_fit):
    est, U, _ = readout_fit
    intercept, beta = est.kernel_machine(degree=12)
    coefs = np.array([r.feature_coefficients(12, 2) for r in est.responses_]).T
    np.testing.assert_allclose(beta, coefs @ est.coef_, rtol=1e-12)
    # E y = intercept + <beta, Phi_T(u)>: the fitted readout is one linear functional of the feature.  Its error
    # is the truncation in the degree P, stated by the last shell |Phi_P - Phi_(P-1)| (what predict_features
    # judges); the series (exact kernels) is the reference; held to the bar of every stated error
    # (tests/oracles.py): measured true / stated 0.07 (readout) and 0.16 (design matrix)
    from oracles import check_stated_error

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vs.ConvergenceWarning)  # the degree-11 shell is the estimate, not a result
        p12, p11 = (est.predict_features(U, degree=P) for P in (12, 11))
    check_stated_error(p12, np.abs(p12 - p11), est.predict(U), 0.0, "predict_features")
    G12, G11 = (
        ReadoutRegression(_network(), DICTIONARY, order=2, alpha=1e-3, t=np.linspace(0, 2, 41), feature_degree=P)
        .fit(U, est.predict(U))
        .expected_outputs(U)
        for P in (12, 11)
    )
    check_stated_error(G12, np.abs(G12 - G11), est.expected_outputs(U), 0.0, "expected_outputs")


def _tolerance(count: int, batches: int) -> float:
    """Two-sided Student-t quantile (batches - 1 dof: the SE is estimated from the batches), Bonferroni
    over ``count`` compared numbers, family-wise false-alarm rate 1e-3."""
    from scipy import stats

    return float(stats.t.ppf(1 - 0.5e-3 / count, batches - 1))


def test_readout_without_simulation_equals_simulated_readout(readout_fit):
    """Readout trained on Monte Carlo means (exact Gaussian transitions) vs the series fit, within z*SE.

    40 batches of 100 paths; z from a Student t with 39 dof and a Bonferroni correction (4.0 for
    the 4 weights, 4.4 for the 12 outputs, 4.8 for the 48 design entries).  Over 30 other seeds
    no comparison exceeded its tolerance.
    """
    est, U, y = readout_fit
    batches = 40
    gap = compare_with_simulation(est, U, y, paths=100, batches=batches, seed=11)
    assert np.all(np.abs(gap.z) <= _tolerance(4, batches)), gap.summary()
    assert abs(gap.intercept_simulated - gap.intercept_series) <= _tolerance(1, batches) * gap.intercept_stderr
    assert np.all(np.abs(gap.output_z) <= _tolerance(12, batches)), gap.summary()
    assert np.all(np.abs(gap.design_gap) <= _tolerance(48, batches) * gap.design_stderr)


@pytest.mark.slow
def test_simulated_readout_converges_with_paths(readout_fit):
    """The gap's standard error falls like 1/sqrt(paths) and the gap stays within it."""
    est, U, y = readout_fit
    from scipy import stats

    small = compare_with_simulation(est, U, y, paths=250, batches=20, seed=3)
    large = compare_with_simulation(est, U, y, paths=4000, batches=20, seed=4)
    ratio = np.median(small.output_stderr / large.output_stderr)
    # each SE comes from 20 batches: (SE_small / SE_large)^2 / 16 ~ F(19, 19) (16 = 4000 / 250).  The median of
    # the outputs' ratios falls below a quantile q only if half of them do, with probability <= 2 q (Markov), so
    # the 0.5e-3 / 1 - 0.5e-3 quantiles give a family-wise false-alarm rate <= 2e-3
    low, high = (4 * np.sqrt(stats.f.ppf(q, 19, 19)) for q in (0.5e-3, 1 - 0.5e-3))
    assert low < ratio < high, (low, ratio, high)
    assert np.all(np.abs(large.output_z) <= _tolerance(12, 20)), large.summary()
    # the larger run's coefficient gaps stay within its own (4x smaller) standard errors
    assert np.all(np.abs(large.z) <= _tolerance(4, 20)), large.summary()


def test_readout_with_responses_and_clone(readout_fit):
    from sklearn.base import clone

    est, U, y = readout_fit
    again = ReadoutRegression(readouts=est.responses_, order=2, alpha=1e-3, t=np.linspace(0, 2, 41)).fit(U, y)
    np.testing.assert_allclose(again.coef_, est.coef_)
    assert clone(est).get_params()["readouts"] == DICTIONARY


# --------------------------------------------------------------------------- bad input


def test_bad_series_input():
    a, b = np.zeros(20), np.zeros(25)
    with pytest.raises(vs.InputError, match=r"X: .*different lengths \[20, 25\].*pair \(t_i, u_i\)"):
        ResponseFeatures().fit([a, b])
    bad = _inputs(3)
    bad[1, 7, 0] = np.nan
    with pytest.raises(vs.InputError, match=r"X: series 1 contains NaN.*impute"):
        ResponseFeatures().fit(bad)
    with pytest.raises(vs.InputError, match=r"X\[1\]\[0\]: the grid must be strictly increasing"):
        ResponseFeatures().fit([(T, bad[0]), (T[::-1], bad[2])])
    with pytest.raises(vs.InputError, match=r"t: the grid has 5 times but the series have 31"):
        ResponseFeatures(t=np.arange(5.0)).fit(_inputs(2))
    fitted = ResponseFeatures(t=T).fit(_inputs(2, channels=2))
    with pytest.raises(vs.InputError, match=r"X: the series have 1 channel\(s\).*fitted on 2"):
        fitted.transform(_inputs(2))
    with pytest.raises(vs.InputError, match=r"X has 10 features.*pairs \(t_i, u_i\)"):
        fitted.transform(np.zeros((2, 10, 2)))
    with pytest.raises(vs.InputError, match=r"reshape\(1, -1\)"):
        ResponseFeatures().fit(np.zeros(10))


def test_too_large_feature_refused_before_allocating():
    tracemalloc.start()
    with pytest.raises(vs.FeatureError, match=r"degree=30, level=6: .*coordinates.*GB.*Lower the level or the degree"):
        ResponseFeatures(degree=30, level=6).fit(_inputs(2, channels=3))
    with pytest.raises(vs.FeatureError, match=r"level: expected an integer >= 1"):
        ResponseFeatures(level=0).fit(_inputs(2))
    with pytest.raises(vs.FeatureError, match=r"time_scale: expected a positive number or 'auto'"):
        ResponseFeatures(time_scale=-1.0).fit(_inputs(2))
    with pytest.raises(vs.FeatureError, match=r"feature_scaling: expected one of"):
        ResponseFeatures(feature_scaling="minmax").fit(_inputs(2))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20  # refused before allocating (the degree-30, level-6 feature would need GBs)


@pytest.mark.filterwarnings("ignore::volterra_sym.TruncationWarning")
def test_bad_readout_dictionary(readout_fit):
    est, U, y = readout_fit
    t = np.linspace(0, 2, 41)
    low = vs.derive(_network("h1**2"), order=1)
    with pytest.raises(ReadoutError, match=r"readouts\[1\]: its kernels are derived to order 1, but order=2"):
        ReadoutRegression(readouts=[est.responses_[0], low], order=2, t=t).fit(U, y)
    with pytest.raises(ReadoutError, match=r"readouts\[1\] = tanh\(h1\): its kernels to order 2 are not available"):
        ReadoutRegression(_network(), ["h1", "tanh(h1)"], order=2, t=t).fit(U, y)
    with pytest.raises(ReadoutError, match=r"readouts: the dictionary is empty"):
        ReadoutRegression(_network(), [], t=t).fit(U, y)
    with pytest.raises(ReadoutError, match=r"model: readouts\[0\] is an expression"):
        ReadoutRegression(None, ["h1"], t=t).fit(U, y)
    taylor = ReadoutRegression(
        _network(), ["h1**2"], order=2, t=t, derive_options={"method": "taylor", "lag_degree": 3}
    ).fit(U, y)
    with pytest.raises(ReadoutError, match=r"readouts\[0\]: .*degree=4.*lag_degree=3"):
        taylor.kernel_machine(degree=4)
    with pytest.raises(ReadoutError, match=r"readouts\[0\]: .*level 3 need kernels up to order 3"):
        est.kernel_machine(degree=2, level=3)
    assert isinstance(ReadoutError("x"), vs.VolterraError)


def test_learn_is_lazy_and_missing_sklearn_is_a_clear_error():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lazy = "import sys, volterra_sym; assert 'sklearn' not in sys.modules and 'volterra_sym.learn' not in sys.modules"
    subprocess.run([sys.executable, "-c", lazy], check=True, env=env)
    missing = (
        "import sys; sys.modules['sklearn'] = None\n"
        "try:\n    import volterra_sym.learn\n"
        "except ImportError as e:\n"
        "    import volterra_sym as vs; assert isinstance(e, vs.VolterraError); print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", missing], check=True, env=env, capture_output=True, text=True)
    assert "pip install 'volterra_sym[learn]'" in out.stdout


# --------------------------------------------------------------------------- the benchmark


@pytest.mark.slow
def test_benchmark_smallest_runs_end_to_end(tmp_path):
    """benchmarks/bench_learn.py --smallest: UnitTest (bundled with aeon), every method (~7 s with imports)."""
    try:
        import aeon  # noqa: F401
        import reservoirpy  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("aeon / reservoirpy are missing on CI: .ci/run should pip install -e '.[bench]'")
        pytest.skip("aeon / reservoirpy not installed (pip install 'volterra_sym[bench]')")
    out = tmp_path / "table.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_learn.py"), "--smallest", "--out", str(out)],
        check=True,
        env=env,
        timeout=120,
    )
    table = out.read_text()
    assert "UnitTest" in table and "response kernel" in table.lower()


@pytest.mark.parametrize(
    "change, cls, word",
    [
        ({"alpha": np.nan}, ReadoutError, "alpha"),  # a NaN penalty used to fit all-NaN coefficients
        ({"model": "net"}, vs.ModelError, "model"),
        ({"derive_options": 3}, ReadoutError, "derive_options"),
    ],
)
def test_readout_settings_are_checked(change, cls, word):
    t = np.linspace(0, 1, 11)
    U = np.random.default_rng(0).normal(size=(6, 11))
    kw = {"model": vs.OU(1.0, 1.0, 0.5, readout="h1"), "readouts": ["h1", "h1**2"], "t": t, **change}
    with pytest.raises(cls, match=word):
        ReadoutRegression(**kw).fit(U, np.ones(6))
