"""Taylor (short-lag) kernels, volterra_sym.routes.taylor.coefficients (MATH.md sections 4-6).

Which code each test trusts (besides the model type):
- OU tests: hand-written closed-form kernels of MATH.md section 5 (no library code).
- 1-D nonlinear stationary tests: plain SymPy diff on the model's expressions and a
  plain mpmath.quad of a density written in the test (no code shared with taylor.py
  or stationary.py).
- point-mass tests: a brute-force SymPy Expr implementation of L0 / L1 in the test.
- generator cross-check: volterra_sym.routes.generator (an independent numerical route).
"""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs
from volterra_sym.algebra.expectations import StationaryLawError
from volterra_sym.routes.taylor.coefficients import NotAnalyticError, TaylorKernels, taylor_kernels

R = sp.Rational


# --------------------------------------------------------------------------- brute-force reference


def _L0(model: vs.Diffusion, g: sp.Expr) -> sp.Expr:
    h = model.state
    D = model.diffusion * model.diffusion.T
    out = sum(model.drift[i] * sp.diff(g, h[i]) for i in range(len(h)))
    out += sum(D[i, j] * sp.diff(g, h[i], h[j]) for i in range(len(h)) for j in range(len(h))) / 2
    return out


def _L1(model: vs.Diffusion, k: int, g: sp.Expr) -> sp.Expr:
    return sum(model.coupling[i, k] * sp.diff(g, x) for i, x in enumerate(model.state))


def _brute_observable(model: vs.Diffusion, k: tuple[int, ...], p: tuple[int, ...]) -> sp.Expr:
    g = model.readout[0]
    for j, kj in enumerate(k):
        for _ in range(p[j]):
            g = _L0(model, g)
        g = _L1(model, kj, g)
    for _ in range(p[len(k)] if len(p) > len(k) else 0):
        g = _L0(model, g)
    return g


# --------------------------------------------------------------------------- OU: exact, symbolic

a, c, c0, s = sp.symbols("a c c0 s", positive=True)
tau = sp.symbols("tau1:4")


def _ou_kernels() -> dict[int, sp.Expr]:
    t1, t2, t3 = tau
    return {
        1: 3 * c * (a * s**2 + 2 * c0**2) / (2 * a**2) * sp.exp(-a * t1),
        2: 6 * c**2 * c0 / a * sp.exp(-2 * a * t1 - a * t2),
        3: 6 * c**3 * sp.exp(-3 * a * t1 - 2 * a * t2 - a * t3),
    }


def test_ou_symbolic_taylor_coefficients_match_closed_form_kernels() -> None:
    model = vs.OU(a, c, s, c=c0, readout="h1**3")
    tk = taylor_kernels(model, 4, 4)
    assert tk.stationary and tk.representation == "ring"
    exact = _ou_kernels()
    for n in (1, 2, 3):
        for p in [(0,) * n, (1,) + (0,) * (n - 1), (0,) * (n - 1) + (2,), tuple(range(1, n + 1))[:n]]:
            if sum(p) > 4:
                continue
            ref = exact[n]
            for j, pj in enumerate(p):
                ref = sp.diff(ref, tau[j], pj)
            ref = ref.subs({t: 0 for t in tau})
            assert sp.simplify(tk.coefficient(n, (0,) * n, p) - ref) == 0, (n, p)
    # K^(4) = 0 for a cubic readout
    assert all(tk.coefficient(4, (0,) * 4, p) == 0 for p in [(0, 0, 0, 0), (1, 0, 2, 1)])
    assert tk.mean0_coefficients == [sp.cancel(c0**3 / a**3 + 3 * c0 / a * s**2 / (2 * a))]


def test_ou_kernel_polynomial_is_the_truncated_taylor_series() -> None:
    model = vs.OU(a, c, s, c=c0, readout="h1**3")
    tk = taylor_kernels(model, 2, 3)
    t1, t2 = tk.lag_symbols(2)
    ref = _ou_kernels()[2].subs({tau[0]: t1, tau[1]: t2})
    series = sum(
        sp.diff(ref, t1, i, t2, j).subs({t1: 0, t2: 0}) * t1**i * t2**j / (sp.factorial(i) * sp.factorial(j))
        for i in range(4)
        for j in range(4 - i)
    )
    assert sp.simplify(tk.kernel_polynomial(2, (0, 0)) - series) == 0


def test_ou_point_mass_and_gaussian_starts_expand_in_s() -> None:
    """f = h^2, c0 = 0: K1(tau; s) = 2 c E[h_0] exp(-2 a tau - a s) and E h_t^2 by hand."""
    x0, m0, v0 = sp.symbols("x0 m0 v0", positive=True)
    for init, mean, second in [
        (vs.PointMass([x0]), x0, x0**2),
        (vs.Gaussian([m0], [[v0]]), m0, m0**2 + v0),
    ]:
        model = vs.OU(a, c, s, readout="h1**2", initial=init)
        tk = taylor_kernels(model, 2, 3)
        assert not tk.stationary
        assert [str(x) for x in tk.lag_symbols(1)] == ["tau1", "s_1"]
        for p, q in itertools.product(range(3), range(2)):
            ref = 2 * c * mean * (-2 * a) ** p * (-a) ** q
            assert sp.simplify(tk.coefficient(1, 0, (p, q)) - ref) == 0
        ref0 = [second] + [(-2 * a) ** q * (second - s**2 / (2 * a)) for q in range(1, 4)]
        assert all(sp.simplify(x - y) == 0 for x, y in zip(tk.mean0_coefficients, ref0))
        t = sp.Symbol("t")
        assert sp.simplify(tk.mean0_polynomial - sum(ref0[q] * t**q / sp.factorial(q) for q in range(4))) == 0
        # K^(2) = 2 c^2 exp(-2 a tau1 - a tau2), independent of the start and of s_2
        assert sp.simplify(tk.coefficient(2, (0, 0), (1, 1, 0)) - 2 * c**2 * (-2 * a) * (-a)) == 0
        assert tk.coefficient(2, (0, 0), (1, 0, 1)) == 0


# --------------------------------------------------------------------------- 1-D nonlinear, stationary


def _stationary_reference(model: vs.Diffusion, log_density, g: sp.Expr, dps: int = 40) -> mpmath.mpf:
    """E_inf[g] = int g rho / int rho by plain mpmath.quad on R."""
    h = model.state[0]
    fn = sp.lambdify([h], g, "mpmath")
    with mpmath.workdps(dps):
        pts = [-mpmath.inf, -3, -1, 0, 1, 3, mpmath.inf]
        Z = mpmath.quad(lambda x: mpmath.exp(log_density(x)), pts)
        return mpmath.quad(lambda x: fn(x) * mpmath.exp(log_density(x)), pts) / Z


def _tanh_srnn() -> tuple[vs.Diffusion, object]:
    model = vs.SRNN(1, 2, b=R(1, 2), C=1, sigma=R(7, 10), activation="tanh", readout="h1**2")
    # int 2 phi / D with phi = -h + tanh(2 h + 1/2), D = 49/100:  (-h^2 + log cosh(2 h + 1/2)) / D
    return model, lambda x: (-(x**2) + mpmath.log(mpmath.cosh(2 * x + mpmath.mpf(1) / 2))) * 100 / 49


def _double_well() -> tuple[vs.Diffusion, object]:
    h = sp.Symbol("h")
    model = vs.Diffusion([h], h - h**3, 1, 1 + h**2 / 4, h + h**2 / 3)
    return model, lambda x: x**2 - x**4 / 2  # 2 * int (h - h^3) = h^2 - h^4/2


@pytest.mark.slow  # measured ~5.5s of the default run (issue 18: default run <= 90 s)
@pytest.mark.parametrize("make", [_tanh_srnn, _double_well])
def test_nonlinear_stationary_first_order_coefficients(make) -> None:
    model, log_density = make()
    tk = taylor_kernels(model, 1, 2, dps=30)
    assert tk.representation == "ring"
    with mpmath.workdps(40):
        for p in (0, 1, 2):
            obs = _brute_observable(model, (0,), (p,))
            ref = _stationary_reference(model, log_density, obs)
            got = mpmath.mpf(tk.coefficient(1, 0, p))
            assert abs(got - ref) < 1e-20 * max(1, abs(ref)), (p, got, ref)
            # the symbolic observable is the same function of the state
            diff = sp.lambdify([model.state[0]], tk.observable(1, 0, p) - obs, "mpmath")
            assert abs(diff(mpmath.mpf("0.37"))) < 1e-25
        ref0 = _stationary_reference(model, log_density, model.readout[0])
        assert abs(mpmath.mpf(tk.mean0_coefficients[0]) - ref0) < 1e-20


# --------------------------------------------------------------------------- point-mass starts, brute force


def _check_point_mass(model: vs.Diffusion, indices, digits: float = 1e-25) -> TaylorKernels:
    order = max(len(k) for k, _ in indices)
    degree = max(sum(p) for _, p in indices)
    tk = taylor_kernels(model, order, degree)
    at = dict(zip(model.state, model.initial.x0))
    for k, p in indices:
        ref = _brute_observable(model, k, p).xreplace(at).evalf(40)
        got = tk.coefficient(len(k), k, p).evalf(40)
        assert abs(got - ref) < digits * max(1, abs(ref)), (k, p, got, ref)
    return tk


@pytest.mark.slow
def test_two_d_tanh_srnn_point_mass_matches_brute_force() -> None:
    model = vs.SRNN(
        1,
        [[R(1, 2), -1], [1, R(1, 4)]],
        b=[R(1, 10), -R(1, 5)],
        C=[[1, 0], [R(1, 2), 1]],
        sigma=[[R(1, 2), 0], [R(1, 5), R(3, 10)]],
        activation="tanh",
        readout="h1*h2 + h2",
        initial=vs.PointMass([R(3, 10), -R(1, 5)]),
    )
    tk = taylor_kernels(model, 2, 4)
    assert tk.representation == "ring" and len(tk.generators) == 4
    at = dict(zip(model.state, model.initial.x0))
    for k, p in [((0,), (2, 1)), ((1,), (0, 3)), ((0, 1), (1, 1, 1)), ((1, 0), (2, 0, 1))]:
        ref = _brute_observable(model, k, p).xreplace(at).evalf(40)
        got = tk.coefficient(len(k), k, p).evalf(40)
        assert abs(got - ref) < 1e-25 * max(1, abs(ref)), (k, p)


@pytest.mark.slow
def test_sigmoid_sin_exp_generators_match_brute_force() -> None:
    h = sp.Symbol("h")
    model = vs.Diffusion(
        [h],
        -h + 1 / (1 + sp.exp(-2 * h + R(1, 3))) + sp.sin(h) / 3,
        R(1, 2) + sp.cosh(h) / 10,
        1 + sp.cos(h) / 2,
        sp.exp(h / 2) + sp.tanh(h),
        initial=vs.PointMass([R(1, 4)]),
    )
    tk = _check_point_mass(model, [((0,), (0, 0)), ((0,), (1, 1)), ((0, 0), (1, 0, 1))])
    assert tk.representation == "ring"


@pytest.mark.slow
def test_fraction_field_for_log_atan_roots() -> None:
    h = sp.Symbol("h")
    model = vs.Diffusion(
        [h], -h + sp.atan(h) / 2, sp.sqrt(1 + h**2), 1, sp.log(1 + h**2), initial=vs.PointMass([R(1, 3)])
    )
    tk = _check_point_mass(model, [((0,), (2, 1)), ((0, 0), (1, 1, 0))])
    assert tk.representation == "field"
    # a genuine rational power in the drift and the readout (D = sigma^2 above simplifies to a polynomial)
    root = vs.Diffusion(
        [h], -h + (2 + h**2) ** R(1, 3) / 4, R(1, 2), 1, h * sp.sqrt(3 + h), initial=vs.PointMass([R(1, 3)])
    )
    tk = _check_point_mass(root, [((0,), (2, 1)), ((0, 0), (1, 1, 1))])
    assert tk.representation == "field"


def test_expr_fallback_for_other_analytic_functions() -> None:
    h = sp.Symbol("h")
    model = vs.Diffusion([h], -h + sp.erf(h) / 2, 1, 1, h**2, initial=vs.PointMass([R(1, 3)]))
    tk = _check_point_mass(model, [((0,), (1, 1)), ((0, 0), (1, 0, 1))])
    assert tk.representation == "expr"


# --------------------------------------------------------------------------- cross-check with the generator route


@pytest.mark.slow
def test_taylor_matches_numerical_generator_at_short_lags() -> None:
    from volterra_sym.routes import generator

    model, _ = _tanh_srnn()
    lags = np.array([0.05, 0.1, 0.2])
    gen = generator.derive_generator(model, 1, cells=800).kernel_values(1, 0, lags[:, None])
    gen_coarse = generator.derive_generator(model, 1, cells=400).kernel_values(1, 0, lags[:, None])
    tk1 = taylor_kernels(model, 1, 1, dps=20)
    tk5 = taylor_kernels(model, 1, 5, dps=20)
    tk6 = taylor_kernels(model, 1, 6, dps=20)
    t1 = tk6.lag_symbols(1)[0]

    def poly(tk):
        return np.array([float(tk.kernel_polynomial(1, 0).subs(t1, x)) for x in lags])

    p1, p5, p6 = poly(tk1), poly(tk5), poly(tk6)
    # degree 6 against the generator: within the generator's discretisation error (bounded by |g800 - g400|,
    # ~3x its Richardson estimate at second order) plus the Taylor truncation (bounded by the last shell)
    assert np.all(np.abs(p6 - gen) <= np.abs(gen - gen_coarse) + np.abs(p6 - p5))
    # degree 1: the error is the tau^2 term, so it grows ~4x per doubling of the lag
    err = np.abs(p1 - gen)
    assert 3.0 < err[1] / err[0] < 5.0 and 3.0 < err[2] / err[1] < 5.0


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "field, value, piece",
    [
        ("readout", "Abs(h)", "Abs"),
        ("drift", "-h + Max(h, 0)", "Max"),
        ("drift", "Piecewise((h, h > 0), (-h, True))", "Piecewise"),
    ],
)
def test_non_analytic_pieces_are_named(field: str, value: str, piece: str) -> None:
    h = sp.Symbol("h")
    spec = {"drift": -h, "readout": h}
    spec[field] = sp.sympify(value, locals={"h": h})
    model = vs.Diffusion([h], spec["drift"], 1, 1, spec["readout"], initial=vs.PointMass([0]))
    with pytest.raises(NotAnalyticError, match=piece) as info:
        taylor_kernels(model, 1, 2)
    assert "analytic" in str(info.value) and "simulate" in str(info.value)
    assert isinstance(info.value, vs.VolterraError)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3"])
def test_bad_lag_degree(bad) -> None:
    model = vs.OU(1, 1, 1, readout="h1")
    with pytest.raises(vs.VolterraError, match="lag_degree"):
        taylor_kernels(model, 1, bad)


def test_unknown_stationary_law_in_two_d_is_explained() -> None:
    model = vs.SRNN(1, [[0, 1], [-1, 0]], C=[1, 0], sigma=R(1, 2), activation="tanh", readout="h1")
    with pytest.raises(StationaryLawError, match="not a gradient"):
        taylor_kernels(model, 1, 1)


def test_coefficient_index_errors() -> None:
    tk = taylor_kernels(vs.OU(1, 1, 1, readout="h1**2"), 2, 2)
    with pytest.raises(vs.VolterraError, match="lag_degree"):
        tk.coefficient(1, 0, 3)
    with pytest.raises(vs.VolterraError, match="p: expected 2"):
        tk.coefficient(2, (0, 0), (1,))
    with pytest.raises(vs.VolterraError, match="k: expected"):
        tk.coefficient(1, 1, 0)
