"""Tests of volterra_sym.checks.simulate (Monte Carlo ensembles).

Trusted references: volterra_sym.checks.oracle (itself checked against scipy, RK4 and closed forms in
tests/test_oracle.py), the exact discrete-time moment recursion of Euler-Maruyama for OU
written in this file, and closed forms.  Tolerances are z standard errors (Z below) plus
known biases; seeds are fixed, so every run is reproducible.
"""

from __future__ import annotations

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym.checks.oracle import gaussian_oracle
from volterra_sym.checks.simulate import BLOCK, simulate, simulate_response
from volterra_sym.errors import ArgumentError, InputError, SimulationError, UnstableError, VolterraError

Z = 5.0  # z-score bound: a false failure has probability < 1e-5 per compared value


def zscores(result, reference) -> np.ndarray:
    """|MC - reference| / SE (0 where both the difference and the SE vanish, e.g. a point mass at t = 0)."""
    diff = np.abs(result.mean - reference)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(diff == 0, 0.0, diff / result.stderr)


# --------------------------------------------------------------------------- exact scheme vs oracle


def test_1d_ou_stationary_cubic_exact() -> None:
    model = vs.OU(A=1.2, C=0.8, sigma=0.7, c=0.3, readout="h1**3")
    t = np.linspace(0, 3, 31)
    u = lambda s: [np.sin(2 * s)]  # noqa: E731
    res = simulate(model, u, t, 20000, seed=1, scheme="exact")
    assert res.mean.shape == res.stderr.shape == (31,)
    assert np.max(zscores(res, gaussian_oracle(model, u, t))) < Z


def test_2d_nonnormal_two_inputs_point_mass_large_dt() -> None:
    # dt = 0.5: the exact scheme has no discretisation bias at any step size
    model = vs.OU(
        A=[[1.0, 4.0], [0.0, 1.5]],
        C=[[1.0, -0.5], [0.3, 2.0]],
        sigma=[[0.6, 0.0], [0.2, 0.4]],
        c=[0.2, -0.1],
        readout=["h1**2 + 3*h1*h2", "h2"],
        initial=vs.PointMass([1.0, -0.5]),
    )
    t = np.linspace(0, 4, 9)
    U = np.stack([np.sin(t), np.cos(2 * t)], axis=1)
    res = simulate(model, U, t, 20000, seed=2, scheme="exact", eps=0.6)
    assert res.mean.shape == (9, 2)
    z = zscores(res, gaussian_oracle(model, U, t, eps=0.6))
    assert np.all(z[1:] < Z)
    assert np.all(res.stderr[0] == 0)  # point mass: no spread at t = 0
    assert np.allclose(res.mean[0], [1.0 + 3 * 1.0 * -0.5, -0.5], rtol=1e-14)


def test_gaussian_start_complex_spectrum_nonuniform_grid() -> None:
    model = vs.OU(
        A=[[0.5, 2.0], [-2.0, 0.5]],
        C=[[1.0], [0.0]],
        sigma=0.5,
        readout="h1*h2 - h2**2",
        initial=vs.Gaussian([0.5, -1.0], [[0.3, 0.05], [0.05, 0.2]]),
    )
    t = np.cumsum(np.r_[0.0, np.random.default_rng(0).uniform(0.05, 0.4, 15)])
    res = simulate(model, np.cos(t), t, 20000, seed=3, scheme="exact")
    assert np.max(zscores(res, gaussian_oracle(model, np.cos(t), t))) < Z


# --------------------------------------------------------------------------- Euler


def _euler_moments_1d(a, c0, c, s, eps, U, dt, steps_per, m0, v0):
    """Exact mean/variance of the Euler-Maruyama chain for 1-D OU (input: average of the linear interpolant
    over each sub-step)."""
    m, v = [m0], [v0]
    for k in range(U.size - 1):
        mk, vk = m[-1], v[-1]
        for i in range(steps_per):
            ubar = U[k] + (i + 0.5) / steps_per * (U[k + 1] - U[k])
            mk = mk + (-a * mk + c0 + eps * c * ubar) * dt
            vk = (1 - a * dt) ** 2 * vk + s**2 * dt
        m.append(mk)
        v.append(vk)
    return np.array(m), np.array(v)


def test_euler_matches_exact_euler_recursion() -> None:
    a, c0, c, s, eps = 1.5, 0.2, 1.0, 0.8, 0.7
    model = vs.OU(A=a, C=c, sigma=s, c=c0, readout="h1**2", initial=vs.PointMass([0.4]))
    t = np.linspace(0, 2, 11)
    U = np.sin(3 * t)
    res = simulate(model, U, t, 20000, seed=4, scheme="euler", eps=eps, substeps=2)
    m, v = _euler_moments_1d(a, c0, c, s, eps, U, 0.1, 2, 0.4, 0.0)
    z = zscores(res, m**2 + v)
    assert np.all(z[1:] < Z)


@pytest.mark.slow  # measured ~1.3s of the default run (issue 18: default run <= 90 s)
def test_euler_weak_order_one() -> None:
    # bias of E h_T^2 against the oracle for dt = 0.2, 0.1, 0.05; the SE is far below the bias
    model = vs.OU(A=1.0, C=1.0, sigma=0.3, readout="h1**2", initial=vs.PointMass([1.0]))
    t = np.linspace(0, 1, 6)
    exact = gaussian_oracle(model, None, t)[-1]
    dts, biases = [], []
    for s in (1, 2, 4):
        res = simulate(model, None, t, 200000, seed=5, scheme="euler", substeps=s)
        bias = res.mean[-1] - exact
        assert abs(bias) > 8 * res.stderr[-1]  # the bias is measured, not noise
        dts.append(0.2 / s)
        biases.append(abs(bias))
    slope = np.polyfit(np.log(dts), np.log(biases), 1)[0]
    assert 0.75 < slope < 1.25
    # the exact discrete-time recursion has the same slope (and agrees with the MC values)
    rec = [_euler_moments_1d(1.0, 0.0, 1.0, 0.3, 1.0, np.zeros(6), 0.2 / s, s, 1.0, 0.0) for s in (1, 2, 4)]
    rec_bias = [abs(m[-1] ** 2 + v[-1] - exact) for m, v in rec]
    assert 0.9 < np.polyfit(np.log(dts), np.log(rec_bias), 1)[0] < 1.1


def test_euler_nonlinear_symmetric_burn_in() -> None:
    # double well, symmetric noise: E h_t = 0 exactly for the stationary law and for Euler from 0
    model = vs.Diffusion(["x"], "x - x**3", 0.8, 1.0, "x")
    t = np.linspace(0, 1, 11)
    res = simulate(model, None, t, 4000, seed=6, burn_in=3.0, substeps=10)
    assert np.max(zscores(res, 0.0)) < Z
    assert np.all(res.stderr > 0)


def test_state_dependent_noise_and_coupling_run() -> None:
    # multiplicative noise and coupling; compare E x_t against a 10x finer Euler run (bias O(dt))
    model = vs.Diffusion(["x"], "-x", "0.3*(1 + x**2)**0.5", "1 + 0.2*x", "x", initial=vs.PointMass([0.5]))
    t = np.linspace(0, 1, 6)
    coarse = simulate(model, np.ones(6), t, 20000, seed=7, substeps=20)
    # d E x = (-E x + 1 + 0.2 E x) dt: closed form E x_t = 1.25 + (0.5 - 1.25) e^{-0.8 t};
    # Euler's mean recursion is exactly linear, its bias is (1-0.8 dt)^n vs e^{-0.8 t}: < 1e-3 here
    ref = 1.25 + (0.5 - 1.25) * np.exp(-0.8 * t)
    bias = np.abs(0.75 * ((1 - 0.8 * 0.01) ** (100 * t) - np.exp(-0.8 * t)))
    assert np.all(np.abs(coarse.mean - ref)[1:] <= Z * coarse.stderr[1:] + bias[1:])


# --------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("scheme", ["euler", "exact"])
def test_same_seed_identical_whatever_chunking(scheme: str) -> None:
    model = vs.OU(A=[[1.0, 0.5], [0.0, 2.0]], C=[[1.0], [1.0]], sigma=0.5, readout=["h1**2", "h1*h2"])
    t = np.linspace(0, 1, 21)
    runs = [
        simulate(model, np.sin(t), t, 1000, seed=8, scheme=scheme, return_samples=True),
        simulate(model, np.sin(t), t, 1000, seed=8, scheme=scheme, chunk=BLOCK, return_samples=True),
        simulate(model, np.sin(t), t, 1000, seed=8, scheme=scheme, chunk=300, return_samples=True),
        simulate(model, np.sin(t), t, 1000, seed=8, scheme=scheme, max_memory=400_000, return_samples=True),
    ]
    for r in runs[1:]:
        assert np.array_equal(r.mean, runs[0].mean)
        assert np.array_equal(r.stderr, runs[0].stderr)
        assert np.array_equal(r.samples, runs[0].samples)
    other = simulate(model, np.sin(t), t, 1000, seed=9, scheme=scheme)
    assert not np.array_equal(other.mean, runs[0].mean)


def test_nonlinear_response_identical_whatever_chunking() -> None:
    model = vs.Diffusion(["x"], "-x - x**3", "0.5*(1 + x**2)**0.5", "1 + 0.1*x", "x**2", initial=vs.PointMass([0.5]))
    t = np.linspace(0, 1, 11)
    a = simulate_response(model, np.ones(11), t, 300, seed=10, eps=0.2, substeps=3)
    b = simulate_response(model, np.ones(11), t, 300, seed=10, eps=0.2, substeps=3, chunk=1)
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.stderr, b.stderr)


def test_samples_agree_with_summary() -> None:
    model = vs.OU(A=1.0, C=1.0, sigma=0.5, readout="h1")
    t = np.linspace(0, 1, 5)
    res = simulate(model, None, t, 500, seed=11, return_samples=True)
    assert res.samples.shape == (500, 5)
    assert np.allclose(res.samples.mean(axis=0), res.mean, rtol=1e-12, atol=1e-15)
    assert np.allclose(res.samples.std(axis=0, ddof=1) / np.sqrt(500), res.stderr, rtol=1e-12)
    assert res.paths == 500 and res.seed == 11 and res.scheme == "euler"


# --------------------------------------------------------------------------- common random numbers


def test_crn_response_matches_oracle_and_scales_with_eps() -> None:
    model = vs.OU(A=[[1.0, 0.3], [0.0, 0.7]], C=[[1.0], [0.5]], sigma=0.6, readout="h1**2 + h2")
    t = np.linspace(0, 2, 11)
    U = np.ones(11)
    ses = {}
    for eps in (0.1, 0.01):
        res = simulate_response(model, U, t, 4000, seed=12, eps=eps, scheme="exact")
        truth = gaussian_oracle(model, U, t, eps) - gaussian_oracle(model, U, t, 0.0)
        assert np.all(zscores(res, truth)[1:] < Z)
        ses[eps] = res.stderr[-1]
    # readout quadratic, input response deterministic: the per-path difference is 2 h1 d + (d^2 + d2), with
    # d, d2 deterministic and d proportional to eps; the same seed gives the same h1, so the standard error
    # is exactly proportional to eps (up to rounding)
    assert ses[0.1] / ses[0.01] == pytest.approx(10.0, rel=1e-9)
    indep = simulate(model, U, t, 4000, seed=13, eps=0.1, scheme="exact").stderr[-1]
    assert ses[0.1] < indep / 5  # variance O(eps^2) instead of O(1)


# --------------------------------------------------------------------------- progress


def test_progress_switch(capsys) -> None:
    pytest.importorskip("tqdm")  # the optional extra 'progress'
    model = vs.OU(A=1.0, C=1.0, sigma=0.5, readout="h1")
    t = np.linspace(0, 1, 5)
    simulate(model, None, t, 10, progress=True)  # a tqdm bar on stderr: paths done, rate, time left
    err = capsys.readouterr().err
    assert "volterra_sym.checks.simulate" in err and "/10 paths" in err
    simulate(model, None, t, 10, progress=False)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- bad input


OU1 = vs.OU(A=1.0, C=1.0, sigma=0.5, readout="h1")
T5 = np.linspace(0, 1, 5)


@pytest.mark.parametrize(
    "kwargs, match, error",
    [
        (dict(paths=0), "paths", ArgumentError),
        (dict(paths=2.5), "paths", ArgumentError),
        (dict(paths=True), "paths", ArgumentError),
        (dict(t=np.ones((2, 3))), "t:", InputError),
        (dict(t=[0.0, 0.5, 0.5]), "t:.*increasing", InputError),
        (dict(t=[0.1, 0.5]), "t:.*start at 0", InputError),
        (dict(t=[0.0, np.nan]), "t:.*non-finite", InputError),
        (dict(u=np.array([0.0, 1.0, np.inf, 0.0, 0.0])), "u:", InputError),
        (dict(u=np.ones(4)), "u:.*shape", InputError),
        (dict(u=lambda s: [1.0, 2.0]), "u:", InputError),
        (dict(seed=-1), "seed", ArgumentError),
        (dict(seed="abc"), "seed", ArgumentError),
        (dict(seed=1.5), "seed", ArgumentError),
        (dict(scheme="rk4"), "scheme", ArgumentError),
        (dict(max_memory=100), "max_memory", SimulationError),
        (dict(chunk=0), "chunk", ArgumentError),
        (dict(eps=float("nan")), "eps", InputError),
        (dict(progress="yes"), "progress", ArgumentError),
        (dict(scheme="exact", substeps=2), "substeps", ArgumentError),
        (dict(return_samples=True, max_memory=100_000, paths=10_000), "return_samples", SimulationError),
    ],
)
def test_bad_input(kwargs, match, error) -> None:
    args = dict(model=OU1, u=None, t=T5, paths=10)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        simulate(**args)


def test_model_level_errors() -> None:
    tanh = vs.SRNN(Gamma=1.0, W=0.5, C=1.0, sigma=0.3, activation="tanh", readout="h1")
    with pytest.raises(SimulationError, match="exact.*linear SRNN"):
        simulate(tanh.replace(initial=vs.PointMass([0.0])), None, T5, 10, scheme="exact")
    with pytest.raises(SimulationError, match="burn_in"):  # no rest point: no automatic burn-in
        simulate(vs.Diffusion(["x"], "x**2 + 1", 0.1, 1, "x"), None, T5, 10)
    for bad in (-1, 1e9, float("nan"), "soon"):  # one class for every bad burn-in (issue 23)
        with pytest.raises(ArgumentError, match="^burn_in"):
            simulate(tanh, None, T5, 10, burn_in=bad)
    with pytest.raises(ArgumentError, match="burn_in"):
        simulate(OU1.replace(initial=vs.PointMass([0.0])), None, T5, 10, burn_in=1.0)
    with pytest.raises(UnstableError):
        simulate(vs.OU(A=-1.0, C=1.0, sigma=0.5, readout="h1"), None, T5, 10)
    with pytest.raises(VolterraError, match="model"):
        simulate("not a model", None, T5, 10)


def test_auto_burn_in_is_twenty_relaxation_times() -> None:
    """burn_in="auto" for a stationary tanh start: rest point h* = 0, D phi = -1 + 0.5, T = 20 / 0.5 = 40."""
    tanh = vs.SRNN(Gamma=1.0, W=0.5, C=1.0, sigma=0.3, activation="tanh", readout="h1")
    res = simulate(tanh, None, T5, 64, burn_in_dt=0.05)
    assert res.burn_in == pytest.approx(40.0, rel=1e-9)
    assert simulate(OU1, None, T5, 64).burn_in == 0.0  # exact stationary draw: no burn-in
    assert simulate(tanh, None, T5, 64, burn_in=2.0).burn_in == 2.0


def test_blow_up_is_reported_with_time() -> None:
    model = vs.Diffusion(["x"], "x**3", 0.1, 1.0, "x", initial=vs.PointMass([2.0]))
    t = np.linspace(0, 5, 51)
    with pytest.raises(SimulationError, match=r"non-finite states at t = [0-9.]+.*blows up"):
        simulate(model, None, t, 64)


def test_state_dependent_noise_second_moment_exact_euler_recursion() -> None:
    """E x^2 under multiplicative noise and coupling, against the exact moment recursion of the Euler scheme
    (x' = x + (-x + u (1 + 0.2 x)) dt + 0.3 sqrt(1 + x^2) dW closes on (E x, E x^2)): z * SE, no bias."""
    model = vs.Diffusion(["x"], "-x", "0.3*(1 + x**2)**0.5", "1 + 0.2*x", "x**2", initial=vs.PointMass([0.5]))
    t = np.linspace(0, 1, 6)
    res = simulate(model, np.ones(6), t, 40000, seed=11, substeps=20)
    dt, m1, m2 = 0.01, 0.5, 0.25
    ref = [m2]
    for _ in range(5):
        for _ in range(20):
            a = 1 - 0.8 * dt
            m1, m2 = a * m1 + dt, a * a * m2 + 2 * dt * a * m1 + dt * dt + 0.09 * dt * (1 + m2)
        ref.append(m2)
    assert np.all(np.abs(res.mean - np.array(ref))[1:] <= Z * res.stderr[1:])


def test_euler_two_dimensional_nonsymmetric_noise_exact_recursion() -> None:
    """2-D linear model with a non-symmetric sigma (D = sigma sigma^T, not sigma^T sigma) and two inputs,
    Euler against its exact moment recursion m' = (I - A dt) m + (c + C u) dt, S' = (I - A dt) S (.)^T + D dt."""
    A = np.array([[1.0, 2.0], [0.0, 3.0]])
    sig = np.array([[0.5, 0.0], [0.4, 0.1]])
    C = np.array([[1.0, 0.0], [0.5, 1.0]])
    c = np.array([0.1, -0.2])
    model = vs.OU(A, C, sig, c=c, readout="h1**2 + h1*h2", initial=vs.PointMass([0.3, -0.1]))
    t = np.linspace(0, 1, 6)
    U = np.stack([np.sin(t), np.cos(t)], axis=1)
    res = simulate(model, U, t, 40000, seed=12, scheme="euler", substeps=10)
    dt = 0.02
    m, S = np.array([0.3, -0.1]), np.zeros((2, 2))
    P = np.eye(2) - A * dt
    ref = [m[0] ** 2 + m[0] * m[1]]
    for j in range(5):
        for i in range(10):  # Euler uses the average of the linear interpolant of u over each sub-step
            m = P @ m + (c + C @ (U[j] + (i + 0.5) / 10 * (U[j + 1] - U[j]))) * dt
            S = P @ S @ P.T + sig @ sig.T * dt
        ref.append(m[0] ** 2 + S[0, 0] + m[0] * m[1] + S[0, 1])
    assert np.all(np.abs(res.mean - np.array(ref))[1:] <= Z * res.stderr[1:])
