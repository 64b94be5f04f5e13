"""Tests of volterra_sym.routes.generator (numerical kernels of 1-D models by a discretised generator).

Trusted references, none of them sharing code with the module under test (beyond the model type):
- OU closed forms of MATH.md section 5, typed in by hand below (``_ou_kernel``);
- the exact Gaussian law of the perturbed OU: mean and variance ODEs solved with scipy's
  ``solve_ivp`` at tight tolerance, moments of a Gaussian (``_ou_moments``);
- a small vectorised Euler-Maruyama simulator written here (``_em_response``) with common random
  numbers, Richardson-extrapolated in dt, and stationary samples drawn by inverse CDF from the
  stationary density integrated here on a fine grid (``_stationary_sampler``);
- measured convergence orders (the generator against itself at cells = N, 2N, 4N, and against
  the closed forms).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import volterra_sym as vs
from volterra_sym.errors import ModelError, VolterraError
from volterra_sym.routes.generator import GridError, InputError, NotNormalisableError, derive_generator

# --------------------------------------------------------------------------- OU closed forms

A, C0, C, S = 1.3, 0.4, 0.7, 0.9  # dh = (-A h + C0 + eps C u) dt + S dW,  f = h^3


def _ou(initial="stationary", readout="h1**3"):
    return vs.OU(A=A, C=C, sigma=S, c=C0, readout=readout, initial=initial)


def _ou_kernel(n: int, L: np.ndarray) -> np.ndarray:
    """MATH.md section 5, worked 1-D check (stationary start, f = h^3)."""
    if n == 1:
        return 3 * C * (A * S**2 + 2 * C0**2) / (2 * A**2) * np.exp(-A * L[..., 0])
    if n == 2:
        return 6 * C**2 * C0 / A * np.exp(-2 * A * L[..., 0] - A * L[..., 1])
    return 6 * C**3 * np.exp(-3 * A * L[..., 0] - 2 * A * L[..., 1] - A * L[..., 2])


def _ou_moments(u, t: np.ndarray, m0: float, v0: float) -> np.ndarray:
    """E h_t^3 of the perturbed OU, order by order in eps: (4, len(t)), orders 0..3.

    h_t ~ N(M0 + eps M1, V) with M0' = -A M0 + C0, M1' = -A M1 + C u, V' = -2 A V + S^2.
    """

    def rhs(s, y):
        return [-A * y[0] + C0, -A * y[1] + C * u(s), -2 * A * y[2] + S**2]

    M0, M1, V = solve_ivp(rhs, (0, t[-1]), [m0, 0.0, v0], t_eval=t, rtol=1e-12, atol=1e-14).y
    return np.stack([M0**3 + 3 * M0 * V, 3 * M0**2 * M1 + 3 * M1 * V, 3 * M0 * M1**2, M1**3])


def _kernel_errors(cells: int, lags: dict[int, np.ndarray]) -> list[float]:
    r = derive_generator(_ou(), 3, cells=cells)
    return [float(np.max(np.abs(r.kernel_values(n, 0, lags[n]) - _ou_kernel(n, lags[n])))) for n in (1, 2, 3)]


def test_ou_kernels_match_closed_forms_at_second_order():
    rng = np.random.default_rng(1)
    lags = {n: rng.uniform(0.0, 3.0, size=(300, n)) for n in (1, 2, 3)}
    coarse, fine = _kernel_errors(200, lags), _kernel_errors(400, lags)
    for n, (e1, e2) in enumerate(zip(coarse, fine), start=1):
        assert 3.6 < e1 / e2 < 4.4, f"order {n}: error ratio {e1 / e2:.3f} (errors {e1:.3g}, {e2:.3g})"
        scale = np.max(np.abs(_ou_kernel(n, lags[n])))
        assert e2 < 1e-3 * scale


@pytest.mark.slow
def test_measured_convergence_order_is_two():
    """Slope of log(error) against log(cells) for cells = 100, 200, 400, 800 (all kernels, orders 1-3)."""
    rng = np.random.default_rng(2)
    lags = {n: rng.uniform(0.0, 2.0, size=(100, n)) for n in (1, 2, 3)}
    cells = np.array([100, 200, 400, 800])
    errs = np.array([_kernel_errors(int(N), lags) for N in cells])  # (4, 3)
    for n in range(3):
        order = -np.polyfit(np.log(cells), np.log(errs[:, n]), 1)[0]
        assert 1.9 < order < 2.1, f"kernel order {n + 1}: measured convergence order {order:.3f}"


def test_stationary_mean_and_kernel_shapes():
    r = derive_generator(_ou(), 3)
    m_inf, v_inf = C0 / A, S**2 / (2 * A)
    assert r.mean0 == pytest.approx(m_inf**3 + 3 * m_inf * v_inf, abs=1e-10)
    assert r.kernel_values(2, (0, 0), np.zeros((4, 5, 2))).shape == (4, 5)
    assert r.kernel_values(1, None, [0.3]).shape == (1,)  # a 1-D array lists first-order lags
    assert r.kernel_values(1, None, [[0.3]]).shape == (1,) and r.kernel_values(1, None, np.array([0.3])[0]).shape == ()
    assert np.all(r.eigenvalues <= 0)
    assert r.grid.pi.sum() == pytest.approx(1.0)


def test_vector_readout_and_two_channels():
    model = vs.Diffusion(
        ["h"], "-h + 0.2", 0.8, [[1.0, "0.5*h"]], ["h", "h**2"], initial=vs.PointMass([0.3]), name="two"
    )
    r = derive_generator(model, 2, cells=200)
    K = r.kernel_values(2, (1, 0), np.array([[0.1, 0.2, 0.3], [0.0, 0.0, 0.0]]))
    assert K.shape == (2, 2)
    assert r.mean0(np.array([0.0, 1.0])).shape == (2, 2)
    t = np.linspace(0, 1, 11)
    assert r.predict(np.ones((11, 2)), t).shape == (11, 2)
    assert r.predict(lambda s: [1.0, np.sin(s)], t, by_order=True).shape == (3, 11, 2)
    # the readout components are treated alike: component 0 equals the scalar-readout response
    r0 = derive_generator(model.replace(readout="h"), 2, cells=200)
    assert np.allclose(r0.predict(np.ones((11, 2)), t), r.predict(np.ones((11, 2)), t)[:, 0], atol=1e-12)


# --------------------------------------------------------------------------- predict vs the exact OU law


@pytest.mark.parametrize(
    "initial, m0, v0",
    [
        ("stationary", C0 / A, S**2 / (2 * A)),
        pytest.param(vs.Gaussian([-0.5], [[0.2]]), -0.5, 0.2, marks=pytest.mark.slow),
    ],
)
def test_predict_matches_exact_gaussian_law(initial, m0, v0):
    """Order by order, errors fall by ~4 as cells double (time step fine enough not to matter)."""
    t = np.linspace(0.0, 4.0, 3201)

    def u(s):
        return np.sin(2 * s) + 0.3

    exact = _ou_moments(u, t, m0, v0)
    errs = []
    for cells in (200, 400):
        y = derive_generator(_ou(initial), 3, cells=cells).predict(u, t, by_order=True)
        errs.append(np.max(np.abs(y - exact), axis=1))
    for n in range(4):
        if errs[0][n] < 1e-9:  # order 0 from a stationary start: exact up to the 1e-13 domain truncation
            assert errs[1][n] < 1e-9
            continue
        assert 3.0 < errs[0][n] / errs[1][n] < 5.0, f"order {n}: errors {errs[0][n]:.3g} -> {errs[1][n]:.3g}"
    total = derive_generator(_ou(initial), 3, cells=400).predict(u, t, eps=0.5)
    assert np.max(np.abs(total - exact.T @ 0.5 ** np.arange(4))) < 2 * np.max(errs[1])


@pytest.mark.slow
def test_predict_point_mass_start():
    """From a point mass the error is O(h^2), its coefficient depending on where x0 falls between two
    cell centres; x0 = 1.5 is a cell edge of every grid here (domain width 10, cells 200 * 2^j), so the
    coefficient is the same at every resolution and the measured order is clean."""
    t = np.linspace(0.0, 3.0, 1201)
    exact = _ou_moments(lambda s: np.cos(s), t, 1.5, 0.0)
    errs = []
    for cells in (200, 400, 800):
        r = derive_generator(_ou(vs.PointMass([1.5])), 3, cells=cells, domain=(-4.5, 5.5))
        y = r.predict(np.cos(t), t, by_order=True)
        errs.append(np.max(np.abs(y - exact)))
    order = -np.polyfit(np.log([200, 400, 800]), np.log(errs), 1)[0]
    assert 1.9 < order < 2.1, f"measured order {order:.2f} from errors {errs}"


def test_state_dependent_noise_pearson_diffusion():
    """dh = (-h + 0.3 + eps u) dt + sqrt(0.5 + 0.1 h^2) dW, f = h^2, from a point mass.

    Affine drift and quadratic D keep polynomials of degree <= 2 closed, so m = E h and q = E h^2 solve
    m' = -m + 0.3 + eps u, q' = -1.9 q + 0.6 m + 0.5 + 2 eps u m exactly (written here, solved by
    solve_ivp): orders 0, 1, 2 follow and order 3 vanishes.  The stationary law has power tails
    |h|^-22, so this also exercises the automatic domain on a non-Gaussian law."""
    model = vs.Diffusion(["h"], "-h + 0.3", "sqrt(0.5 + 0.1*h**2)", 1, "h**2", initial=vs.PointMass([0.5]))
    t = np.linspace(0.0, 3.0, 1201)

    def u(s):
        return np.sin(2 * s)

    def rhs(s, y):
        m0, m1, q0, q1, q2 = y
        return [
            -m0 + 0.3,
            -m1 + u(s),
            -1.9 * q0 + 0.6 * m0 + 0.5,
            -1.9 * q1 + 0.6 * m1 + 2 * u(s) * m0,
            -1.9 * q2 + 2 * u(s) * m1,
        ]

    sol = solve_ivp(rhs, (0, t[-1]), [0.5, 0, 0.25, 0, 0], t_eval=t, rtol=1e-12, atol=1e-14).y
    exact = np.stack([sol[2], sol[3], sol[4], np.zeros_like(t)])
    errs = []
    for cells in (200, 400):
        y = derive_generator(model, 3, cells=cells).predict(u, t, by_order=True)
        errs.append(np.max(np.abs(y - exact)[:, t >= 0.5], axis=1))  # x0 off the cell centres: see above
    for n in range(4):
        assert 3.0 < errs[0][n] / errs[1][n] < 5.0, f"order {n}: errors {errs[0][n]:.3g} -> {errs[1][n]:.3g}"
        assert errs[1][n] < 1e-3


def test_state_dependent_coupling_order_by_order():
    """gamma(h) = 1 + 0.4 h (L1 g = gamma g', not (gamma g)'), same Pearson diffusion, f = h^2.

    Moments close: m' = -m + 0.3 + eps u (1 + 0.4 m), q' = -1.9 q + 0.6 m + 0.5 + 2 eps u (m + 0.4 q);
    expanding in eps, order n solves m_n' = -m_n + u (delta_n1 + 0.4 m_{n-1}),
    q_n' = -1.9 q_n + 0.6 m_n + 2 u (m_{n-1} + 0.4 q_{n-1}) (solve_ivp): every order is nonzero."""
    model = vs.Diffusion(["h"], "-h + 0.3", "sqrt(0.5 + 0.1*h**2)", "1 + 0.4*h", "h**2", initial=vs.PointMass([0.5]))
    t = np.linspace(0.0, 3.0, 1201)

    def u(s):
        return np.sin(2 * s)

    def rhs(s, y):
        m, q = y[:4], y[4:]
        dm = [-m[0] + 0.3] + [-m[n] + u(s) * ((n == 1) + 0.4 * m[n - 1]) for n in range(1, 4)]
        dq = [-1.9 * q[0] + 0.6 * m[0] + 0.5]
        dq += [-1.9 * q[n] + 0.6 * m[n] + 2 * u(s) * (m[n - 1] + 0.4 * q[n - 1]) for n in range(1, 4)]
        return dm + dq

    sol = solve_ivp(rhs, (0, t[-1]), [0.5, 0, 0, 0, 0.25, 0, 0, 0], t_eval=t, rtol=1e-12, atol=1e-14).y
    exact = sol[4:]
    errs = []
    for cells in (200, 400):
        y = derive_generator(model, 3, cells=cells).predict(u, t, by_order=True)
        errs.append(np.max(np.abs(y - exact)[:, t >= 0.5], axis=1))
    for n in range(4):
        assert 3.0 < errs[0][n] / errs[1][n] < 5.0, f"order {n}: errors {errs[0][n]:.3g} -> {errs[1][n]:.3g}"
        assert errs[1][n] < 1e-3 * max(1.0, np.max(np.abs(exact[n])))


def test_predict_time_step_order_two():
    """ETD2 in time: self-convergence at fixed cells as the step halves (nonlinear source, order 2 input)."""
    r = derive_generator(_ou(vs.PointMass([1.0])), 2, cells=100)
    T = 2.0

    def run(steps: int) -> np.ndarray:
        t = np.linspace(0.0, T, steps + 1)
        return r.predict(lambda s: [np.sin(3 * s)], t, by_order=True)[:, -1]

    ref = run(8192)
    e = [np.abs(run(k) - ref)[1:] for k in (32, 64, 128)]
    for n in range(2):
        assert 3.5 < e[0][n] / e[1][n] < 4.5 and 3.5 < e[1][n] / e[2][n] < 4.5, (n, e)


@pytest.mark.parametrize("initial", ["stationary", vs.PointMass([0.4])])
def test_predict_kernels_duality(initial):
    """predict's forward hierarchy and kernel_values' backward recursion agree at order 1:
    y1(t) = int_0^t K1(t - s; s) u(s) ds, by trapezoid on a fine grid (error O(dt^2))."""
    model = vs.SRNN(Gamma=1, W=1.5, b=0.2, C=1, sigma=0.8, activation="tanh", readout="h1", initial=initial)
    r = derive_generator(model, 1, cells=200)
    t = np.linspace(0.0, 3.0, 3001)
    u = np.cos(2 * t)
    y1 = r.predict(u, t, by_order=True)[1, -1]
    lags = (t[-1] - t)[:, None] if initial == "stationary" else np.stack([t[-1] - t, t], axis=1)
    K = r.kernel_values(1, 0, lags)
    g = K * u
    quad = np.sum((g[1:] + g[:-1]) / 2 * np.diff(t))
    assert abs(y1 - quad) < 1e-5 * np.max(np.abs(g))  # trapezoid error O(dt^2)


# --------------------------------------------------------------------------- Monte Carlo (nonlinear models)


def _stationary_sampler(phi, s: float, lo: float, hi: float):
    """Inverse-CDF sampler of rho_inf ∝ exp(int 2 phi / s^2) on [lo, hi] (fine trapezoid grid)."""
    x = np.linspace(lo, hi, 200001)
    g = 2 * phi(x) / s**2
    psi = np.concatenate([[0.0], np.cumsum((g[1:] + g[:-1]) / 2 * np.diff(x))])
    p = np.exp(psi - psi.max())
    cdf = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(x))])
    cdf /= cdf[-1]
    return lambda rng, n: np.interp(rng.uniform(size=n), cdf, x)


def _em_response(phi, s, c, h0, u, T, dt, eps, seed):
    """Euler-Maruyama with common random numbers, at steps dt and 2 dt on the same Brownian paths.

    Returns (odd, even) per-path arrays of shape (n_checks, P) at times k * 2dt for every k:
    odd = (f(h^+eps) - f(h^-eps)) / 2, even = (f(h^+eps) + f(h^-eps)) / 2 - f(h^0), f(h) = h,
    each Richardson-extrapolated in dt (2 * fine - coarse), which removes the O(dt) weak bias.
    """
    rng = np.random.default_rng(seed)
    P = h0.size
    signs = np.array([eps, -eps, 0.0])[:, None]
    fine = np.repeat(h0[None, :], 3, axis=0)
    coarse = fine.copy()
    steps = int(round(T / dt))
    out = np.empty((steps // 2 + 1, 2, 3, P))
    out[0] = fine, coarse
    dW_prev = None
    for k in range(steps):
        dW = rng.normal(scale=np.sqrt(dt), size=P)
        fine = fine + (phi(fine) + signs * c * u(k * dt)) * dt + s * dW
        if k % 2 == 0:
            dW_prev = dW
        else:
            coarse = coarse + (phi(coarse) + signs * c * u((k - 1) * dt)) * 2 * dt + s * (dW_prev + dW)
            out[(k + 1) // 2] = fine, coarse
    est = 2 * out[:, 0] - out[:, 1]  # (n_checks, 3, P)
    odd = (est[:, 0] - est[:, 1]) / 2
    even = (est[:, 0] + est[:, 1]) / 2 - est[:, 2]
    return odd, even


CASES = {
    # name: (phi, sigma, model builder, initial sampler kind)
    "tanh": (
        lambda h: -h + np.tanh(1.5 * h + 0.2),
        0.8,
        lambda init: vs.SRNN(Gamma=1, W=1.5, b=0.2, C=1, sigma=0.8, activation="tanh", readout="h1", initial=init),
    ),
    "double_well": (
        lambda h: h - h**3,
        0.7,
        lambda init: vs.Diffusion(["h"], "h - h**3", 0.7, 1, "h", initial=init),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name, start", [("tanh", "stationary"), ("double_well", 0.5)])
def test_nonlinear_responses_match_monte_carlo(name, start):
    """First (odd) and second (even) order responses vs common-random-number Euler-Maruyama.

    Predicted: odd = eps y1 + eps^3 y3 + eps^5 y5 + eps^7 y7, even = eps^2 y2 + ... + eps^8 y8: the
    eps^7 and eps^8 terms are ~2e-6 here, so the O(eps^9) remainder is negligible.  Tolerance: 5
    standard errors of the Richardson-extrapolated Monte Carlo estimate, plus the generator's discretisation
    error bounded by |y_400 - y_200| (three times its Richardson estimate).  Euler bias: measured as
    |mean(fine - coarse)| at dt = 0.01 it is ~1e-3 for the odd part and ~1e-4 to 4e-4 for the even part
    (comparable to 1 SE); the extrapolation removes it, leaving an O(dt^2) remainder ~1e-5, well inside
    1 SE (9e-4 to 1.5e-3 with 40000 paths).  The even part is resolved to ~25 SE (a 15 % error in y2
    would fail), the odd part to ~300 SE.  Comparisons start at t = 0.5: in the first few steps from a
    point mass the relative remainder (dt/t)^2 is not small while the SE is ~0.
    """
    phi, s, build = CASES[name]
    eps, T, dt, P = 0.2, 6.0, 0.01, 40000

    def u(time):
        return 0.5 + np.sin(1.5 * time)

    if start == "stationary":
        sampler = _stationary_sampler(phi, s, -8.0, 8.0)
        initial = "stationary"
    else:
        sampler = None
        initial = vs.PointMass([start])
    t = np.arange(0.0, T + dt / 2, dt)
    preds = [derive_generator(build(initial), 8, cells=N).predict(u, t, eps=eps, by_order=True) for N in (200, 400)]
    checks = np.arange(0, t.size, 2)
    checks_from_half = t[checks] >= 0.5
    odd_pred = [p[1::2].sum(0)[checks] for p in preds]
    even_pred = [p[2::2].sum(0)[checks] for p in preds]
    for seed in (11, 12):
        rng = np.random.default_rng(seed)
        h0 = sampler(rng, P) if sampler else np.full(P, float(start))
        odd, even = _em_response(phi, s, 1.0, h0, u, T, dt, eps, seed + 100)
        for est, pred, label in ((odd, odd_pred, "odd"), (even, even_pred, "even")):
            mean, se = est.mean(1), est.std(1, ddof=1) / np.sqrt(P)
            disc = np.abs(pred[1] - pred[0])
            sel = checks_from_half  # t >= 0.5: 50+ Euler steps, so the O(dt^2) remainder is negligible
            # |MC - prediction| <= z * SE + the discretisation-error bound (not z times it)
            z = (np.abs(mean - pred[1]) - disc)[sel] / se[sel]
            assert np.max(z) < 5.0, (
                f"{name} {label} seed {seed}: max z = {np.max(z):.2f} at t = {t[checks][sel][np.argmax(z)]}"
            )
            # the response is resolved: mean well above its standard error somewhere
            assert np.max(np.abs(mean[sel]) / se[sel]) > 20


# --------------------------------------------------------------------------- errors


def test_errors_name_the_argument():
    with pytest.raises(ModelError, match="1-D only.*taylor"):
        derive_generator(vs.OU(A=[[1, 0], [0, 1]], C=[1, 0], sigma=1, readout="h1"), 1)
    with pytest.raises(NotNormalisableError, match="not normalisable"):
        derive_generator(vs.Diffusion(["h"], "h", 1, 1, "h"), 1)
    with pytest.raises(NotNormalisableError):
        derive_generator(vs.Diffusion(["h"], "0", 1, 1, "h"), 1)
    with pytest.raises(GridError, match="cells"):
        derive_generator(_ou(), 1, cells=10)
    with pytest.raises(GridError, match="cells"):
        derive_generator(_ou(), 1, cells=30)  # rho_inf changes too fast per cell
    with pytest.raises(GridError, match="widen"):
        derive_generator(_ou(), 1, domain=(-1.0, 1.0))
    with pytest.raises(GridError, match="domain"):
        derive_generator(_ou(), 1, domain=(1.0, -1.0))
    with pytest.raises(GridError, match="tail"):
        derive_generator(vs.OU(A=1, C=1, sigma=1, readout="h1", initial=vs.PointMass([8.0])), 1)
    with pytest.raises(VolterraError, match="order"):
        derive_generator(_ou(), 0)
    with pytest.raises(ModelError, match="params"):
        derive_generator(vs.OU(A="a", C=1, sigma=1, readout="h1"), 1)
    assert derive_generator(vs.OU(A="a", C=1, sigma=1, readout="h1"), 1, cells=100, values={"a": 2}).order == 1


def test_input_errors():
    r = derive_generator(_ou(), 2, cells=100)
    t = np.linspace(0, 1, 5)
    cases = [
        (np.ones(5), [0, 0.5, 0.4, 0.8, 1.0], "increasing"),
        (np.ones(5), [0.1, 0.2, 0.3, 0.4, 0.5], "start at 0"),
        (np.ones(5), [0, np.nan, 0.4, 0.8, 1.0], "NaN"),
        (np.ones(4), t, r"shape \(5, 1\)"),
        (np.ones((5, 2)), t, "shape"),
        ([1, 1, np.nan, 1, 1], t, "NaN"),
        (lambda s: [1.0, 2.0], t, r"callable must return an array of shape \(1,\)"),
    ]
    for u, tt, msg in cases:
        with pytest.raises(InputError, match=msg):
            r.predict(u, tt)
    with pytest.raises(InputError, match="lags"):
        r.kernel_values(2, 0, np.ones((3, 3)))
    with pytest.raises(InputError, match="lags"):
        r.kernel_values(1, 0, [[-1.0]])
    with pytest.raises(vs.ArgumentError, match="n:"):
        r.kernel_values(3, 0, np.ones((3, 3)))
    with pytest.raises(vs.ArgumentError, match="k:"):
        r.kernel_values(2, (0, 1), np.ones((3, 2)))
    rp = derive_generator(_ou(vs.PointMass([0.0])), 1, cells=100)
    with pytest.raises(InputError, match="s_n"):
        rp.kernel_values(1, 0, np.ones((3, 1)))
