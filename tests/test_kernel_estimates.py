"""Tests of vs.estimate_kernels (pathwise / tangent Monte Carlo, MATH.md section 9).

References: the exact kernels of linear SRNNs (``vs.derive(model, n).lower("numpy")``) and, for
1-D nonlinear models, the spectral oracle of the generator (tests/oracles.py; its own error, the
change from 160 to 200 Chebyshev points, ~1e-13).  Tolerances are Z standard errors plus the measured
time-step bias (and its Z standard errors); seeds are fixed.  Entries whose estimator has zero
variance (linear model, quadratic readout at order 2: Hess f and the tangents are deterministic)
are checked by the first-order convergence of the Euler tangents instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp
from models import exact_kernels
from oracles import spectral_kernel

import volterra_sym as vs
from volterra_sym.errors import ArgumentError, InputError, NotAnalyticError, SimulationError, TimeStepBiasWarning

Z = 4.5
ROUND = 1e-11  # relative rounding allowance (a zero-variance entry vs the closed form)


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TimeStepBiasWarning)
        return vs.estimate_kernels(*args, **kwargs)


def _check(est, n, k, ref, extra=0.0):
    mean, se, b, bse = est.mean(n, k), est.stderr(n, k), est.bias(n, k), est.bias_stderr(n, k)
    tol = Z * se + np.abs(b) + Z * bse + extra + ROUND * np.maximum(1.0, np.abs(ref))
    bad = np.abs(mean - ref) > tol
    assert not np.any(bad), (
        f"K^({n})_{k}: at lags {est.lags[n][bad].tolist()} estimate {mean[bad]} vs reference {ref[bad]} "
        f"(SE {se[bad]}, bias {b[bad]})"
    )


# --------------------------------------------------------------------------- linear SRNNs vs exact kernels


OU1 = vs.OU(A=1.2, C=0.8, sigma=0.7, c=0.3, readout="h1**3")
TAUS = np.arange(0.0, 3.01, 0.25)
PAIRS = np.array([[a, b] for a in (0.0, 0.4, 1.2, 2.5) for b in (0.0, 0.3, 1.0, 2.0)])


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2nd seed: slow run
def test_1d_stationary_cubic_orders_1_and_2(seed: int) -> None:
    low = exact_kernels(OU1, 2)
    est = _quiet(OU1, 2, {1: TAUS, 2: PAIRS}, paths=20000, seed=seed)
    assert est.mean(1).shape == TAUS.shape and est.mean(2).shape == (len(PAIRS),)
    _check(est, 1, None, low.kernel(1)(TAUS))
    _check(est, 2, None, low.kernel(2)(PAIRS[:, 0], PAIRS[:, 1]))
    assert np.all(est.stderr(2) > 0)


A2 = [[1.0, 2.0], [0.0, 1.5]]  # non-normal
C2 = [[1.0, -0.5], [0.3, 1.0]]
SIG2 = [[0.6, 0.0], [0.2, 0.4]]


@pytest.mark.parametrize("seed", [3, pytest.param(4, marks=pytest.mark.slow)])  # 2nd seed: slow run
def test_2d_nonnormal_two_inputs_point_start_cubic(seed: int) -> None:
    model = vs.OU(A=A2, C=C2, sigma=SIG2, c=[0.2, -0.1], readout="h1**3 + h1*h2**2 - h2",
                  initial=vs.PointMass([0.8, -0.4]))  # fmt: skip
    low = exact_kernels(model, 2)
    lags1 = np.array([[tau, s] for tau in (0.0, 0.3, 1.0, 2.0) for s in (0.0, 0.5)])
    lags2 = np.array([[0.0, 0.0, 0.0], [0.3, 0.5, 0.0], [1.0, 0.2, 0.5], [0.5, 1.0, 0.5], [1.5, 0.7, 0.0]])
    est = _quiet(model, 2, {1: lags1, 2: lags2}, paths=6000, seed=seed)
    for k in (0, 1):
        _check(est, 1, (k,), low.kernel(1, (k,))(*lags1.T))
    for ks in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        _check(est, 2, ks, low.kernel(2, ks)(*lags2.T))
    with pytest.raises(ArgumentError, match="k: the model has 2 input"):
        est.mean(1)


def test_vector_readout_gaussian_noise_components() -> None:
    model = vs.OU(A=A2, C=[[1.0], [0.5]], sigma=SIG2, c=[0.3, 0.1], readout=["h1**3", "h1*h2**2 + h2"])
    low = exact_kernels(model, 2)
    est = _quiet(model, 2, {1: TAUS[::2], 2: PAIRS[::2]}, paths=6000, seed=8)
    assert est.mean(1).shape == (len(TAUS[::2]), 2) and est.stderr(2).shape == (len(PAIRS[::2]), 2)
    for c in (0, 1):
        for n, lags in ((1, TAUS[::2][:, None]), (2, PAIRS[::2])):
            ref = low.kernel(n, None, component=c)(*lags.T)
            mean, se, b, bse = (getattr(est, f)(n)[:, c] for f in ("mean", "stderr", "bias", "bias_stderr"))
            tol = Z * se + np.abs(b) + Z * bse + ROUND * np.maximum(1.0, np.abs(ref))
            assert np.all(np.abs(mean - ref) <= tol), (c, n, mean, ref, se)


@pytest.mark.parametrize("seed", [5, pytest.param(6, marks=pytest.mark.slow)])  # 2nd seed: slow run
def test_2d_stationary_quadratic(seed: int) -> None:
    model = vs.OU(A=A2, C=[[1.0], [0.5]], sigma=SIG2, c=[0.3, 0.1], readout="h1**2 - 2*h1*h2 + 0.5*h2")
    low = exact_kernels(model, 2)
    est = _quiet(model, 2, {1: TAUS, 2: PAIRS}, paths=10000, seed=seed)
    _check(est, 1, None, low.kernel(1)(TAUS))
    # order 2 with a quadratic readout is deterministic (Hess f and the tangents are constant): the estimate is
    # exactly the Euler chain K2 = (P^k1 g)^T Hess f (P^(k1+k2) g), P = I + dt J (matrix powers here, no code
    # shared with the estimator's stepping), and the bias estimate exactly 2 (K2_dt - K2_dt/2): no factors.
    ref = low.kernel(2)(PAIRS[:, 0], PAIRS[:, 1])
    mean, b = est.mean(2), est.bias(2)
    assert np.all(est.stderr(2) <= ROUND * np.maximum(1.0, np.abs(ref)))
    J = np.array(model.drift.jacobian(model.state).tolist(), dtype=float)
    H = np.array(sp.hessian(model.readout[0], model.state).tolist(), dtype=float)
    g = np.array(model.coupling.tolist(), dtype=float)[:, 0]

    def euler(dt):
        P = np.eye(2) + dt * J
        steps = np.rint(PAIRS / dt).astype(int)
        return np.array(
            [(np.linalg.matrix_power(P, k1) @ g) @ H @ (np.linalg.matrix_power(P, k1 + k2) @ g) for k1, k2 in steps]
        )

    coarse, fine = euler(0.01), euler(0.005)
    scale = ROUND * np.maximum(1.0, np.abs(ref))
    assert np.all(np.abs(mean - coarse) <= scale) and np.all(np.abs(b - 2 * (coarse - fine)) <= scale)
    # and the bias-corrected estimate is closer to the exact kernel than the raw one wherever the chain errs
    assert np.all(np.abs(mean - b - ref) <= np.abs(mean - ref) + scale)


def test_gaussian_start_order_1() -> None:
    model = vs.OU(A=[[1.0, 0.5], [-0.5, 1.0]], C=[[1.0], [0.0]], sigma=0.5, readout="h1*h2 - h2**2",
                  initial=vs.Gaussian([0.5, -1.0], [[0.3, 0.05], [0.05, 0.2]]))  # fmt: skip
    low = exact_kernels(model, 1)
    lags1 = np.array([[tau, s] for tau in (0.0, 0.5, 1.5) for s in (0.0, 0.4)])
    est = _quiet(model, 1, {1: lags1}, paths=10000, seed=7)
    _check(est, 1, None, low.kernel(1)(*lags1.T))


@pytest.mark.slow  # ~1-3 s on an idle 2-core machine
def test_standard_errors_match_batch_spread() -> None:
    """B independent batches: sum (m_i - mean)^2 / mean(SE_i^2) ~ chi^2(B-1) per entry (Bonferroni)."""
    from scipy.stats import chi2

    B, paths = 32, 1000
    lags = {1: TAUS[::3], 2: PAIRS[::3]}
    runs = [_quiet(OU1, 2, lags, paths=paths, seed=100 + i, bias_check=False) for i in range(B)]
    for n in (1, 2):
        M = np.array([r.mean(n) for r in runs])
        S2 = np.array([r.stderr(n) ** 2 for r in runs]).mean(axis=0)
        T = ((M - M.mean(axis=0)) ** 2).sum(axis=0) / S2
        alpha = 1e-4 / (len(lags[1]) + len(lags[2]))
        lo, hi = chi2.ppf(alpha / 2, B - 1), chi2.ppf(1 - alpha / 2, B - 1)
        assert np.all((T > lo) & (T < hi)), (n, T, lo, hi)


# --------------------------------------------------------------------------- nonlinear 1-D vs the generator route


def _generator_reference(model, order, n, lags, **options):
    """The spectral oracle of the 1-D generator (tests/oracles.py, no code shared with volterra_sym) and its own
    error, the change with the resolution (~1e-13; 1e-10 for the power-law tails of the multiplicative model).  It
    replaced the generator route at 800 cells with |g800 - g400| as its error, 3x that route's Richardson
    estimate."""
    del order
    value, error = spectral_kernel(model, lags, **options)
    return value, np.full(value.shape, error)


@pytest.mark.slow  # ~1-3 s on an idle 2-core machine
@pytest.mark.parametrize("seed", [11, 12])
def test_tanh_srnn_order_1_vs_generator(seed: int) -> None:
    model = vs.Diffusion(["h"], ["-h + 1.5*tanh(h) + 0.3"], 0.7, 0.8, "h")
    taus = np.arange(0.0, 5.01, 0.25)
    ref, err = _generator_reference(model, 1, 1, taus[:, None])
    est = _quiet(model, 1, {1: taus}, paths=8000, seed=seed)
    _check(est, 1, None, ref, extra=err)


@pytest.mark.slow  # ~1-3 s on an idle 2-core machine
def test_tanh_state_dependent_coupling_order_2_vs_generator() -> None:
    """D^2 phi and D gamma enter K^(2): a nonlinear drift and coupling and a quadratic readout."""
    model = vs.Diffusion(["h"], ["-h + 1.5*tanh(h) + 0.3"], 0.7, "0.8 + 0.3*tanh(h)", "h + 0.2*h**2")
    pairs = np.array([[a, b] for a in (0.0, 0.5, 1.5) for b in (0.0, 0.3, 1.0, 2.0)])
    taus = np.arange(0.0, 3.01, 0.5)
    ref1, err1 = _generator_reference(model, 2, 1, taus[:, None])
    ref2, err2 = _generator_reference(model, 2, 2, pairs)
    est = _quiet(model, 2, {1: taus, 2: pairs}, paths=8000, seed=13)
    _check(est, 1, None, ref1, extra=err1)
    _check(est, 2, None, ref2, extra=err2)


@pytest.mark.slow  # ~1-3 s on an idle 2-core machine
def test_multiplicative_noise_orders_1_and_2_vs_generator() -> None:
    """Itô tangents with D sigma dW terms (and D^2 sigma at order 2), against the generator route."""
    model = vs.Diffusion(["h"], ["-h + 0.8*tanh(h) + 0.2"], "0.4*sqrt(1 + h**2)", "0.8 + 0.3*tanh(h)", "h + 0.2*h**2")
    pairs = np.array([[a, b] for a in (0.0, 0.5, 1.5) for b in (0.0, 1.0)])
    taus = np.arange(0.0, 3.01, 0.5)
    wide = dict(settings=((400, 35.0), (480, 40.0)), span=400.0)  # rho ~ |h|^-14.5: power-law tails
    ref1, err1 = _generator_reference(model, 2, 1, taus[:, None], **wide)
    ref2, err2 = _generator_reference(model, 2, 2, pairs, **wide)
    est = _quiet(model, 2, {1: taus, 2: pairs}, paths=4000, seed=14, burn_in=20.0)
    _check(est, 1, None, ref1, extra=err1)
    _check(est, 2, None, ref2, extra=err2)


# --------------------------------------------------------------------------- reproducibility and reporting


def test_bit_identical_across_chunks_and_bias_check() -> None:
    model = vs.SRNN(Gamma=1.0, W=[[0.5, -0.3], [0.8, 0.2]], b=[0.1, 0.0], C=[[1.0], [0.5]], sigma=0.5,
                    activation="tanh", readout="h1 + h2**2")  # fmt: skip
    lags = {1: np.array([0.0, 0.3, 1.0]), 2: np.array([[0.2, 0.3], [0.0, 0.5]])}
    a = vs.estimate_kernels(model, 2, lags, paths=200, seed=9, burn_in=1.0)
    b = vs.estimate_kernels(model, 2, lags, paths=200, seed=9, burn_in=1.0, chunk=64)
    c = vs.estimate_kernels(model, 2, lags, paths=200, seed=9, burn_in=1.0, bias_check=False, max_memory=2**20)
    for n in (1, 2):
        for f in ("mean", "stderr", "bias", "bias_stderr"):
            assert np.array_equal(getattr(a, f)(n), getattr(b, f)(n))
        assert np.array_equal(a.mean(n), c.mean(n)) and np.array_equal(a.stderr(n), c.stderr(n))
        with pytest.raises(vs.ArgumentError, match="bias_check=False"):
            c.bias(n)
    assert a.burn_in == pytest.approx(1.0)
    assert "KernelEstimate(order=2" in repr(a)


def test_bias_warning_at_coarse_dt_lists_every_lag_and_the_corrected_estimate_is_right() -> None:
    # K1(tau) = exp(-2 tau) exactly; the Euler chain at dt = 0.1 gives (1 - 0.2)^(tau/dt): biased at tau > 0
    model = vs.OU(A=2.0, C=1.0, sigma=0.3, readout="h1")
    taus = np.array([0.0, 0.5, 1.0, 1.5])
    with pytest.warns(TimeStepBiasWarning) as record:
        est = vs.estimate_kernels(model, 1, {1: taus}, paths=256, seed=0, dt=0.1)
    (w,) = record
    message = str(w.message)
    assert "at lags 0.5, 1, 1.5;" in message and "est.corrected(n, k)" in message and "halve dt" in message
    # linear readout, additive noise: the tangent is deterministic, K1 of the Euler chain is (1 - 2 dt)^(tau/dt)
    exact = np.exp(-2.0 * taus)
    np.testing.assert_allclose(est.mean(1), 0.8 ** (taus / 0.1), rtol=1e-12)
    corr, cse = est.corrected(1), est.corrected_stderr(1)
    np.testing.assert_allclose(corr, 2 * 0.9 ** (taus / 0.05) - 0.8 ** (taus / 0.1), rtol=1e-12)  # Richardson
    # the corrected estimate's bias is O(dt^2), the raw one's O(dt): the observed orders at dt = 0.1 -> 0.05,
    # identified as the nearest integers (measured 2.1, 2.0, 2.3 and 1.07, 1.02, 0.98)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TimeStepBiasWarning)
        half = vs.estimate_kernels(model, 1, {1: taus}, paths=256, seed=0, dt=0.05)
    for coarse, fine, order in ((corr, half.corrected(1), 2), (est.mean(1), half.mean(1), 1)):
        observed = np.log2(np.abs(coarse - exact)[1:] / np.abs(fine - exact)[1:])
        assert np.all(np.round(observed) == order), (order, observed)
    assert np.allclose(corr, est.mean(1) - est.bias(1), rtol=1e-12, atol=1e-14) and np.all(cse < 1e-12)
    assert "corrected" in est.to_json()["kernels"][0]


def test_default_burn_in_rule() -> None:
    # relaxation rate at the fixed point 0 of -h + 0.5 tanh(h): 1 - 0.5 = 0.5 -> 20 / 0.5 = 40
    model = vs.Diffusion(["h"], ["-h + 0.5*tanh(h)"], 0.5, 1.0, "h")
    est = _quiet(model, 1, {1: [0.0, 0.1]}, paths=64, seed=0, dt=0.1)
    assert est.burn_in == pytest.approx(40.0, rel=1e-6)
    # symmetric double well: 0 is unstable, the wells at +-1 relax at rate 2 -> 20 / 2 = 10
    well = vs.Diffusion(["h"], ["h - h**3"], 0.5, 1.0, "h")
    est = _quiet(well, 1, {1: [0.0, 0.1]}, paths=64, seed=0, dt=0.1)
    assert est.burn_in == pytest.approx(10.0, abs=0.1 + 1e-9)  # rounded up to whole steps of dt


# --------------------------------------------------------------------------- bad input


def _m():
    return vs.OU(A=1.0, C=1.0, sigma=0.5, readout="h1")


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(paths=0), ArgumentError, "paths"),
        (dict(paths=2.5), ArgumentError, "paths"),
        (dict(dt=0.0), ArgumentError, "dt"),
        (dict(dt=-0.1), ArgumentError, "dt"),
        (dict(lags={1: [-0.5]}), InputError, "negative"),
        (dict(lags={1: [np.nan]}), InputError, "finite"),
        (dict(lags={1: [0.123]}), InputError, "multiple of dt"),
        (dict(lags={1: [50.0]}, max_steps=1000), InputError, "max_steps"),
        (dict(lags={3: [[0.1, 0.1, 0.1]]}), InputError, "raise order"),
        (dict(lags={1: [[0.1, 0.2]]}), InputError, r"lags\[1\]: expected an array of shape \(\.\.\., 1\)"),
        (dict(lags={1: np.array([0.1 + 1j])}), InputError, "complex"),  # NumPy would drop the imaginary part
        (dict(lags=[0.1]), InputError, "dict"),
        (dict(order=3), ArgumentError, "order 3"),
        (dict(order=2, lags={1: [0.1]}), ArgumentError, "lags has no entry 2"),
        (dict(max_memory=1000), SimulationError, "max_memory"),
        (dict(burn_in=-1.0), ArgumentError, "burn_in"),
        (dict(bias_check=1), ArgumentError, "bias_check"),
        (dict(progress="yes"), ArgumentError, "progress"),
    ],
)
def test_bad_input(kwargs, err, match) -> None:
    args = dict(order=1, lags={1: [0.0, 0.5]}, paths=64, seed=0)
    args.update(kwargs)
    with pytest.raises(err, match=match):
        vs.estimate_kernels(_m(), **args)


def test_bad_models() -> None:
    lags = {1: [0.0, 0.5]}
    with pytest.raises(NotAnalyticError, match="Abs"):
        vs.estimate_kernels(vs.Diffusion(["h"], ["-h + Abs(h)/2"], 0.5, 1.0, "h"), 1, lags, 64)
    with pytest.raises(NotAnalyticError, match="sign"):
        h = sp.Symbol("h")
        vs.estimate_kernels(vs.Diffusion([h], [-h], 0.5, 1.0, sp.sign(h)), 1, lags, 64)
    with pytest.raises(NotAnalyticError, match="Heaviside"):
        vs.estimate_kernels(vs.Diffusion([h], [-h + sp.Heaviside(h)], 0.5, 1.0, h), 1, lags, 64)
    with pytest.raises(NotAnalyticError, match="noise entry"):
        vs.estimate_kernels(vs.Diffusion(["h"], ["-h"], "0.5 + Abs(h)", 1.0, "h"), 1, lags, 64)
    with pytest.raises(ArgumentError, match="Stationary"):
        vs.estimate_kernels(_m().replace(initial=vs.PointMass([0.0])), 1, {1: [[0.1, 0.0]]}, 64, burn_in=1.0)
    with pytest.raises(InputError, match=r"\(tau_1..tau_n, s_n\)"):
        vs.estimate_kernels(_m().replace(initial=vs.PointMass([0.0])), 1, {1: [0.1]}, 64)
    with pytest.raises(SimulationError, match="blows up"):
        vs.estimate_kernels(vs.Diffusion(["h"], ["h**3"], 0.5, 1.0, "h", initial=vs.PointMass([3.0])),
                            1, {1: [[5.0, 0.0]]}, 64)  # fmt: skip


def test_order_defaults_to_the_largest_lag_order() -> None:
    est = _quiet(_m(), lags={1: [0.0, 0.5], 2: [[0.1, 0.2]]}, paths=64, seed=0)
    assert est.order == 2 and est.mean(2).shape == (1,)
    with pytest.raises(ArgumentError, match="order 3"):
        vs.estimate_kernels(_m(), lags={3: [[0.1, 0.1, 0.1]]}, paths=64)


def test_to_json() -> None:
    import json

    est = _quiet(_m(), lags={1: [0.0, 0.5]}, paths=64, seed=0)
    data = json.loads(json.dumps(est.to_json(), allow_nan=True))
    assert data["paths"] == 64 and data["kernels"][0]["order"] == 1
    assert data["kernels"][0]["mean"] == est.mean(1).tolist()
