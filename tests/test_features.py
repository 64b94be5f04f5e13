"""Tests of volterra_sym.features (response feature, coefficients, response kernel).

Which code each test trusts:
- test_level_one_* and test_feature_is_signature_of_interpolant: Gauss-Legendre
  quadrature of X^{(q,k)}(r) = int_0^r psi_q u~^k written here, plus
  volterra_sym.features.signature (itself checked against iisignature and brute force).
- test_running_*: the non-running code path of the same module (a different
  algorithm: direct increments vs the one-step shift recursion).
- test_coefficients_*: SymPy expansion of sum_p a_p prod psi_{p_j}(r_j - r_{j-1})
  written here (independent of the transfer formula in features.py).
- test_predict_*: direct quadrature of the Volterra integrals over the simplex
  (collapsed Gauss rules on grid cells, written here) with kernels and Taylor
  coefficients taken by hand from MATH.md section 5; nothing from the derivation code.
- test_gram_*: numpy linear algebra only.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs
from volterra_sym.errors import VolterraError
from volterra_sym.features import (
    feature_coefficients,
    feature_words,
    predict_features,
    response_feature,
    response_kernel,
)
from volterra_sym.features.signature import FeatureError, sig_size, signature

# --------------------------------------------------------------------------- references


def gauss(nodes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    y, w = np.polynomial.legendre.leggauss(nodes)
    return (y + 1) / 2, w / 2


def x_by_quadrature(u: np.ndarray, grid: np.ndarray, degree: int) -> np.ndarray:
    """X^{(q,k)} at the reversed-time grid points r = t - t_i, i = L-1..0, shape (L, (P+1) m).

    Composite Gauss-Legendre (exact for a polynomial times a linear piece).
    """
    t_end = grid[-1]
    y, w = gauss()
    steps = []
    for i in range(grid.size - 1):
        s = grid[i] + (grid[i + 1] - grid[i]) * y
        us = u[i] + (u[i + 1] - u[i]) * y[:, None]  # (nodes, m)
        psi = np.array([(t_end - s) ** q / math.factorial(q) for q in range(degree + 1)])  # (P+1, nodes)
        steps.append((grid[i + 1] - grid[i]) * np.einsum("n,qn,nk->qk", w, psi, us).ravel())
    inc = np.array(steps[::-1])  # reversed time: latest step first
    return np.vstack([np.zeros(inc.shape[1]), np.cumsum(inc, axis=0)])


def simplex_rule(g: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Collapsed Gauss rule on {1 > x_1 > ... > x_g > 0}: points (Q, g), weights (Q,)."""
    y, w = gauss(nodes)
    ys = np.array(list(itertools.product(y, repeat=g)))
    ws = np.prod(np.array(list(itertools.product(w, repeat=g))), axis=1)
    jac = np.prod([ys[:, j] ** (g - 1 - j) for j in range(g)], axis=0)
    return np.cumprod(ys, axis=1), ws * jac


def volterra_quadrature(kernel, u: np.ndarray, grid: np.ndarray, n: int, nodes: int = 6) -> float:
    """int_{0<s_n<...<s_1<t} K(tau) u(s_1)...u(s_n) ds for a scalar piecewise-linear u.

    tau_1 = t - s_1, tau_j = s_{j-1} - s_j.  The simplex is cut into grid cells
    (segment indices i_1 >= ... >= i_n); points sharing a segment form a small
    simplex inside it, handled by a collapsed Gauss rule; the integrand is smooth
    in every cell.
    """
    t = grid[-1]
    h = np.diff(grid)
    total = 0.0
    for pattern in itertools.product([False, True], repeat=n - 1):  # True: same segment as the previous point
        groups = [1]
        for same in pattern:
            if same:
                groups[-1] += 1
            else:
                groups.append(1)
        xs, ws = simplex_rule(groups[0], nodes)
        for g in groups[1:]:
            x2, w2 = simplex_rule(g, nodes)
            xs = np.concatenate([np.repeat(xs, len(w2), 0), np.tile(x2, (len(ws), 1))], axis=1)
            ws = np.repeat(ws, len(w2)) * np.tile(w2, len(ws))
        for cell in itertools.combinations(range(h.size - 1, -1, -1), len(groups)):
            idx = np.repeat(np.array(cell), groups)
            s = grid[idx] + h[idx] * xs
            tau = np.concatenate([t - s[:, :1], s[:, :-1] - s[:, 1:]], axis=1)
            values = kernel(tau) * np.prod(np.interp(s, grid, u), axis=1)
            total += float(np.sum(values * ws)) * float(np.prod(h[np.array(cell)] ** np.array(groups)))
    return total


# The 1-D example of MATH.md section 5: dh = (-a h + c0) dt + eps c u dt + s dW, f = h^3, stationary start.
A_, C_, C0_, S_ = sp.Rational(1), sp.Rational(1, 2), sp.Rational(3, 10), sp.Rational(7, 10)
AMP = {1: 3 * C_ * (A_ * S_**2 + 2 * C0_**2) / (2 * A_**2), 2: 6 * C_**2 * C0_ / A_, 3: 6 * C_**3}
MEAN0 = (C0_ / A_) ** 3 + 3 * (C0_ / A_) * S_**2 / (2 * A_)  # E h^3 under N(c0/a, s^2/(2a))


def rate(n: int, j: int) -> sp.Rational:
    """K^(n) = AMP[n] exp(-sum_j rate(n, j) tau_j), rate = (n a, (n-1) a, ..., a)."""
    return (n - j) * A_


def cubic_taylor(n: int, k: tuple[int, ...], p: tuple[int, ...]) -> sp.Expr:
    """d^p K^(n)(0) of the exponential kernels above: AMP * prod (-rate)^p_j (hand-made)."""
    assert k == (0,) * n
    return AMP[n] * sp.Mul(*[(-rate(n, j)) ** pj for j, pj in enumerate(p)])


def cubic_kernel(n: int):
    lam = np.array([float(rate(n, j)) for j in range(n)])
    return lambda tau: float(AMP[n]) * np.exp(-tau @ lam)


GRID = np.linspace(0.0, 2.0, 21)  # two relaxation times (a = 1)
U = np.sin(3 * GRID) + 0.5


@pytest.fixture(scope="module")
def cubic_reference() -> dict[int, float]:
    return {n: volterra_quadrature(cubic_kernel(n), U, GRID, n) for n in (1, 2, 3)}


# --------------------------------------------------------------------------- the feature


def test_level_one_is_exact_and_channel_order():
    grid = np.array([0.0, 0.3, 0.5, 1.1, 1.6])
    u = np.stack([np.cos(grid), grid**2 - 1], axis=1)
    feats, words = response_feature(u, grid, 3, 2, labels=True)
    x_end = x_by_quadrature(u, grid, 3)[-1]
    np.testing.assert_allclose(feats[:8], x_end, rtol=1e-13, atol=1e-15)
    assert words[:8] == [((q, k),) for q in range(4) for k in range(2)]
    assert words[5] == ((2, 1),)  # channel q*m + k
    assert len(words) == feats.size == sig_size(8, 2)


def test_feature_is_signature_of_interpolant():
    rng = np.random.default_rng(1)
    grid = np.concatenate([[0.0], np.cumsum(rng.uniform(0.05, 0.2, 12))])
    u = rng.standard_normal((grid.size, 2))
    x = x_by_quadrature(u, grid, 2)
    np.testing.assert_allclose(response_feature(u, grid, 2, 3), signature(x, 3), rtol=1e-11, atol=1e-13)


def test_callable_batch_and_level0():
    grid = np.linspace(0, 1, 9)
    single = response_feature(lambda s: np.sin(s), grid, 2, 2)
    np.testing.assert_allclose(single, response_feature(np.sin(grid), grid, 2, 2), rtol=1e-15)
    batch = np.stack([np.sin(grid), np.cos(grid), grid])[:, :, None]
    out = response_feature(batch.reshape(3, 1, 9, 1), grid, 2, 2, include_level0=True)
    assert out.shape == (3, 1, 1 + sig_size(3, 2))
    np.testing.assert_array_equal(out[..., 0], 1.0)
    np.testing.assert_allclose(out[0, 0, 1:], single, rtol=1e-15)


def test_running_matches_recomputed():
    rng = np.random.default_rng(2)
    grid = np.concatenate([[0.0], np.cumsum(rng.uniform(0.05, 0.3, 15))])
    u = rng.standard_normal((grid.size, 2))
    run = response_feature(u, grid, 2, 3, running=True, include_level0=True)
    assert run.shape == (grid.size, 1 + sig_size(6, 3))
    np.testing.assert_array_equal(run[0, 1:], 0.0)
    for j in range(1, grid.size):
        direct = response_feature(u[: j + 1], grid[: j + 1], 2, 3, include_level0=True)
        np.testing.assert_allclose(run[j], direct, rtol=1e-11, atol=1e-12)


def test_running_with_refine_and_batch():
    grid = np.linspace(0, 1.5, 7)
    u = np.stack([np.sin(2 * grid), np.cos(grid)])[:, :, None]  # (2, L, 1)
    run = response_feature(u, grid, 3, 2, running=True, refine=3)
    for j in (2, 6):
        direct = response_feature(u[:, : j + 1], grid[: j + 1], 3, 2, refine=3)
        np.testing.assert_allclose(run[:, j], direct, rtol=1e-11, atol=1e-12)


def test_refine_is_interpolated_grid():
    grid = np.array([0.0, 0.4, 1.0])
    u = np.array([1.0, -0.5, 2.0])
    fine = np.linspace(0, 0.4, 5)[:-1].tolist() + np.linspace(0.4, 1.0, 5).tolist()
    want = response_feature(np.interp(fine, grid, u), np.array(fine), 2, 3)
    np.testing.assert_allclose(response_feature(u, grid, 2, 3, refine=4), want, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- coefficients


def expanded_coefficients(a: dict, degree: int, n: int) -> dict[tuple[int, ...], sp.Rational]:
    """Coefficient of prod_j psi_{q_j}(r_j) in sum_p a_p prod_j psi_{p_j}(r_j - r_{j-1}), by SymPy expansion."""
    r = sp.symbols(f"r1:{n + 1}")
    prev = (0, *r[:-1])
    k_poly = sp.Add(
        *[c * sp.Mul(*[(r[j] - prev[j]) ** p[j] / sp.factorial(p[j]) for j in range(n)]) for p, c in a.items()]
    )
    poly = sp.Poly(sp.expand(k_poly), *r)
    out = {}
    for qs in itertools.product(range(degree + 1), repeat=n):
        out[qs] = poly.coeff_monomial(sp.Mul(*[x**q for x, q in zip(r, qs)])) * sp.Mul(*map(sp.factorial, qs))
    return out


@pytest.mark.parametrize("n", [1, 2, pytest.param(3, marks=pytest.mark.slow)])  # n = 3: 1 s, slow run
def test_coefficients_match_sympy_expansion(n):
    degree = 3 if n < 3 else 2
    rng = np.random.default_rng(n)
    ks_all = list(itertools.product(range(2), repeat=n))
    # random rational Taylor coefficients for every p that can reach a word in the box
    a = {
        ks: {
            p: sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 7)))
            for p in itertools.product(range(2 * degree + 1), repeat=n)
            if sum(p) <= n * degree
        }
        for ks in ks_all
    }

    def taylor(nn, k, p):
        assert all(type(x) is int for x in (*k, *p))
        return a[tuple(k)][tuple(p)] if nn == n else 0

    coef, words = feature_coefficients(taylor, degree, n, inputs=2, labels=True)
    index = {w: i for i, w in enumerate(words)}
    for ks in ks_all:
        want = expanded_coefficients(a[ks], degree, n)
        for qs, value in want.items():
            got = coef[index[tuple(zip(qs, ks))]]
            assert got == pytest.approx(float(value), rel=1e-15, abs=1e-300)
    lower = [w for w in words if len(w) < n]
    assert all(coef[index[w]] == 0.0 for w in lower)


def test_coefficients_truncations_and_precisions_agree():
    box = feature_coefficients(cubic_taylor, 4, 3)
    total = feature_coefficients(cubic_taylor, 4, 3, truncation="total")
    mp = feature_coefficients(cubic_taylor, 4, 3, exact=False, dps=40)
    np.testing.assert_allclose(mp, box, rtol=1e-15, atol=0)
    words = feature_words(1, 4, 3)
    shared = np.array([sum(q for q, _ in w) <= 4 for w in words])
    np.testing.assert_array_equal(total[shared], box[shared])
    assert np.all(total[~shared] == 0.0)


def test_first_order_coefficients_closed_form():
    # K1 = exp(-2 tau): coefficient of psi_q(r) is (-2)^q
    coef = feature_coefficients(lambda n, k, p: sp.Integer(-2) ** p[0], 6, 1)
    np.testing.assert_array_equal(coef, [(-2.0) ** q for q in range(7)])


# --------------------------------------------------------------------------- prediction


@pytest.mark.filterwarnings("ignore::volterra_sym.errors.ConvergenceWarning")  # low P on purpose
def test_predict_converges_to_volterra_quadrature(cubic_reference):
    """E h_t^3 from the features converges to the quadrature of the Volterra series as the degree grows."""
    want = float(MEAN0) + sum(cubic_reference.values())
    errors = {P: abs(predict_features(cubic_taylor, MEAN0, U, GRID, P, 3) - want) for P in (2, 6, 10, 14)}
    values = list(errors.values())
    assert all(b < a / 10 for a, b in zip(values, values[1:])), errors
    assert errors[14] <= 1e-8, errors


def test_truncation_in_p_is_estimated_and_judged(cubic_reference):
    """The last shell (prediction(P) - prediction(P - 1)) bounds the true error against the quadrature of the
    series (independent route) from above, within 10x; below P where it is > 1% of the response: a warning."""
    want = float(MEAN0) + sum(cubic_reference.values())
    for P in (8, 10, 12, 14):
        value, err = predict_features(cubic_taylor, MEAN0, U, GRID, P, 3, return_error=True)
        true = abs(value - want)
        assert true <= err <= 10 * true, (P, true, err)
    with pytest.warns(vs.ConvergenceWarning, match=r"P = 4.*not converged in P.*Raise degree"):
        predict_features(cubic_taylor, MEAN0, U, GRID, 4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_features(cubic_taylor, MEAN0, U, GRID, 14, 3)  # converged: silent


def test_galerkin_features_refuse_a_degree_that_cannot_converge(tanh1):
    # issue 19: Galerkin kernels' Taylor coefficients grow like |lambda_max|^P: the series in P diverged silently
    resp = vs.derive(tanh1, 1, method="galerkin", degree=12)
    t = np.linspace(0, 4, 41)
    u = 0.3 * np.sin(1.5 * t)
    with pytest.raises(vs.FeatureError, match=r"^degree: .*P = 4.*needs P of about \d+.*lambda_max.*Response.predict"):
        resp.predict_features(u, t, 4, 1)
    # justified: the same expansion, computed anyway, is far from the forward hierarchy (an independent route)
    with pytest.warns(vs.ConvergenceWarning, match="not converged in P"):
        forced = predict_features(lambda n, k, p: resp.kernel_taylor(n, k, p), resp.mean0, u, t, 4, 1)
    series = resp.predict(u, t)[-1]
    assert abs(forced - series) > 0.1 * abs(series - resp.mean0)


def test_each_order_matches_simplex_quadrature(cubic_reference):
    for n in (1, 2, 3):

        def only_n(nn, k, p, n=n):
            return cubic_taylor(nn, k, p) if nn == n else 0

        got = predict_features(only_n, 0, U, GRID, 16, n)
        assert got == pytest.approx(cubic_reference[n], rel=0, abs=1e-9)


def test_predict_running_and_eps(cubic_reference):
    eps = 0.5
    run = predict_features(cubic_taylor, MEAN0, U, GRID, 12, 3, running=True, eps=eps)
    assert run.shape == GRID.shape and run[0] == pytest.approx(float(MEAN0), abs=1e-15)
    want = float(MEAN0) + sum(eps**n * v for n, v in cubic_reference.items())
    assert run[-1] == pytest.approx(want, abs=1e-7)
    j = 8  # an earlier end time, orders 1 and 2 only
    sub = float(MEAN0) + sum(volterra_quadrature(cubic_kernel(n), U[: j + 1], GRID[: j + 1], n) for n in (1, 2))
    only12 = predict_features(cubic_taylor, MEAN0, U[: j + 1], GRID[: j + 1], 12, 2)
    assert only12 == pytest.approx(sub, abs=1e-9)
    run12 = predict_features(cubic_taylor, MEAN0, U, GRID, 12, 2, running=True)
    assert run12[j] == pytest.approx(only12, abs=1e-12)


def test_interpolation_error_is_second_order():
    """A kernel whose coefficients do not factorise: the feature error falls as h^2 under refinement."""

    def taylor(n, k, p):  # K2 = exp(-tau1 - 2 tau2)
        return sp.Integer(-1) ** p[0] * sp.Integer(-2) ** p[1] if n == 2 else 0

    want = volterra_quadrature(lambda tau: np.exp(-tau[:, 0] - 2 * tau[:, 1]), U, GRID, 2)
    errors = [abs(predict_features(taylor, 0, U, GRID, 24, 2, refine=r) - want) for r in (1, 2, 4)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(orders - 2) < 0.3), (errors, orders)


def test_with_derived_response():
    """resp.kernel_taylor of the derivation code plugs in and matches the hand-made coefficients."""
    import volterra_sym as vs

    model = vs.OU(A=[[A_]], C=[[C_]], sigma=S_, c=[C0_], readout="h1**3")
    resp = vs.derive(model, order=3)
    assert sp.nsimplify(resp.mean0) == MEAN0
    np.testing.assert_array_equal(
        feature_coefficients(resp.kernel_taylor, 4, 3), feature_coefficients(cubic_taylor, 4, 3)
    )


# --------------------------------------------------------------------------- response kernel


def test_gram_symmetric_psd_and_level0():
    rng = np.random.default_rng(4)
    grid = np.linspace(0, 2, 15)
    batch = np.cumsum(rng.standard_normal((6, 15, 2)) * 0.3, axis=1)
    gram = response_kernel(batch, t=grid, degree=2, level=3)
    assert gram.shape == (6, 6)
    np.testing.assert_allclose(gram, gram.T, rtol=1e-14)
    eig = np.linalg.eigvalsh(gram)
    assert eig.min() >= -1e-10 * eig.max()
    feats = response_feature(batch, grid, 2, 3)
    np.testing.assert_allclose(gram, feats @ feats.T, rtol=1e-14)
    cross = response_kernel(batch[:2], batch[2:], t=grid, degree=2, level=3, include_level0=True)
    np.testing.assert_allclose(cross, gram[:2, 2:] + 1.0, rtol=0, atol=1e-13 * np.abs(gram).max())
    scalar = response_kernel(batch[:, :, 0], t=grid, degree=2, level=2)
    assert scalar.shape == (6, 6)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "fragment", "cls"),
    [
        (lambda: response_feature(U, GRID, 0, 2), "degree", vs.ArgumentError),
        (lambda: response_feature(U, GRID, 2, 0), "level", vs.ArgumentError),
        (
            lambda: response_feature(np.where(GRID > 1, np.nan, U), GRID, 2, 2),
            "u: the input contains NaN",
            vs.InputError,
        ),
        (lambda: response_feature(U, GRID + 0.1, 2, 2), "t: the grid must start at 0", vs.InputError),
        (lambda: response_feature(U, -GRID, 2, 2), "strictly increasing", vs.InputError),
        (lambda: response_feature(U, np.r_[0.0, 0.5, 0.5, GRID[3:]], 2, 2), "strictly increasing", vs.InputError),
        (lambda: response_feature(U[:-1], GRID, 2, 2), "L = len(t) = 21", vs.InputError),
        (lambda: response_feature(U, GRID, 200, 4), "float64 values", FeatureError),
        (lambda: feature_coefficients(lambda n, k, p: sp.Symbol("a"), 2, 1), "free symbols ['a']", FeatureError),
        (lambda: feature_coefficients(cubic_taylor, 2, 1, truncation="diagonal"), "truncation", vs.ArgumentError),
        (lambda: response_kernel(np.zeros(5), t=GRID, degree=1, level=1), "U: expected a batch", FeatureError),
    ],
)
def test_bad_input(call, fragment, cls):
    with pytest.raises(cls, match=re.escape(fragment)) as info:
        call()
    assert type(info.value) is cls and isinstance(info.value, VolterraError)
