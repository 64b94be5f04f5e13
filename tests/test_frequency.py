"""Transfer functions H_n(omega) (resp.transfer, docs/frequency.md) against references that share no code with
them.

References: (a) the linear-SRNN formula H_1 = E_inf[grad f] . (i omega I + A)^{-1} C and the cube form
H_2 = 1/2 G(omega_1)^T E_inf[Hess f] G(omega_2), written here with NumPy from the model's matrices; (b) numerical
Fourier integration of the time-domain kernels (scipy quad with cos/sin weights, Gauss-Legendre in 2-D);
(c) the closed forms of MATH.md section 5 (1-D cubic readout); (d) harmonic balance: the periodic part of the
project's predict for u = cos(omega t) (the prediction engines never transform a kernel); (e) Monte Carlo
(slow).  Tolerances: rounding (1e-12 relative), quadrature (1e-7), the routes' error estimates, z * SE.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs

GAMMA = 1.0
W = np.array([[0.5, -1.2], [1.2, 0.3]])
B = np.array([0.2, -0.1])
C = np.array([1.0, 0.5])
LIN2 = vs.SRNN(GAMMA, W.tolist(), B.tolist(), C=C.tolist(), sigma=0.6, readout="h1**2 + h2")
TANH1 = vs.SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")
OMEGA = np.array([-2.5, -0.7, 0.0, 0.4, 1.3, 3.0])


@pytest.fixture(scope="module")
def exact2():
    return vs.derive(LIN2, order=2)


def _linear_reference():
    A = GAMMA * np.eye(2) - W
    m = np.linalg.solve(A, B)
    grad = np.array([2 * m[0], 1.0])  # E_inf grad(h1^2 + h2)
    hess = np.diag([2.0, 0.0])

    def G(w):
        return np.linalg.solve(1j * w * np.eye(2) + A, C)

    return grad, hess, G


def test_linear_srnn_h1_is_the_weighted_resolvent(exact2):
    grad, _, G = _linear_reference()
    H1 = exact2.transfer(1)
    ref = np.array([grad @ G(w) for w in OMEGA])
    assert np.allclose(H1(OMEGA), ref, rtol=1e-12, atol=1e-14)
    assert np.all(H1.error(OMEGA) < 1e-14)
    assert np.allclose(H1(-OMEGA), np.conj(H1(OMEGA)))  # a real kernel: H(-w) = conj H(w)


def test_linear_srnn_h2_is_the_cube_form(exact2):
    _, hess, G = _linear_reference()
    w1, w2 = np.meshgrid(OMEGA, OMEGA[::-1] * 0.8)
    ref = np.vectorize(lambda a, b: 0.5 * G(a) @ hess @ G(b))(w1, w2)
    H2 = exact2.transfer(2)
    assert np.allclose(H2(w1, w2), ref, rtol=1e-12, atol=1e-14)
    assert np.allclose(H2(w1, w2), H2(w2, w1))  # symmetric


def test_h1_equals_fourier_quadrature_of_the_kernel(exact2):
    quad = pytest.importorskip("scipy.integrate").quad
    K = exact2.lower("numpy").kernel(1, (0,))
    H1 = exact2.transfer(1)
    for w in (0.0, 0.9, 2.2):
        re = (
            quad(lambda x: float(K(x)), 0, np.inf, weight="cos", wvar=w, epsabs=1e-12)[0]
            if w
            else quad(lambda x: float(K(x)), 0, np.inf, epsabs=1e-12)[0]
        )
        im = -quad(lambda x: float(K(x)), 0, np.inf, weight="sin", wvar=w, epsabs=1e-12)[0] if w else 0.0
        assert abs(H1(w) - (re + 1j * im)) < 1e-8


def _gauss_legendre_h2(resp, w1, w2, L=140.0, panels=24, q=24):
    """Symmetrised Fourier integral of the triangular kernel: 1/2 sum over the two orderings of
    int_{[0,L]^2} K(tau1, tau2) e^{-s1 tau1 - s2 tau2}, s1 = i (w1 + w2), s2 = i w_last, tensor Gauss-Legendre
    (q nodes on each of ``panels`` panels per axis; the triangular kernel is smooth, no diagonal kink)."""
    x, wt = np.polynomial.legendre.leggauss(q)
    edges = np.linspace(0, L, panels + 1)
    nodes = np.concatenate([(b - a) / 2 * x + (a + b) / 2 for a, b in zip(edges[:-1], edges[1:])])
    weights = np.concatenate([(b - a) / 2 * wt for a, b in zip(edges[:-1], edges[1:])])
    T1, T2 = np.meshgrid(nodes, nodes, indexing="ij")
    K = resp.kernel_values(2, (0, 0), np.stack([T1, T2], axis=-1))
    total = 0.0
    for last in (w2, w1):
        E1 = weights * np.exp(-1j * (w1 + w2) * nodes)
        E2 = weights * np.exp(-1j * last * nodes)
        total += E1 @ K @ E2
    return total / 2


@pytest.mark.filterwarnings("ignore::volterra_sym.ConvergenceWarning")
@pytest.mark.parametrize("route", ["exact", "galerkin"])
def test_h2_equals_fourier_quadrature_of_the_kernel(route):
    model = LIN2 if route == "exact" else TANH1
    opts = {} if route == "exact" else {"method": "galerkin", "degree": 12}
    resp = vs.derive(model, order=2, **opts)
    H2 = resp.transfer(2)
    for w1, w2 in ((0.0, 0.0), (0.8, -0.3), (1.5, 1.1)):
        ref = _gauss_legendre_h2(resp, w1, w2)
        assert abs(H2(w1, w2) - ref) < 1e-9 * max(1.0, abs(ref)) + H2.error(w1, w2)


@pytest.mark.filterwarnings("ignore::volterra_sym.ConvergenceWarning")
def test_galerkin_tanh_h1_equals_fourier_quadrature():
    quad = pytest.importorskip("scipy.integrate").quad
    resp = vs.derive(TANH1, order=1, method="galerkin", degree=12)
    K = resp.lower().kernel(1, (0,))
    H1 = resp.transfer(1)
    for w in (0.0, 1.7):
        f = lambda x: float(np.asarray(K(x)).reshape(-1)[0])  # noqa: E731
        re = quad(f, 0, np.inf, weight="cos", wvar=w, epsabs=1e-11)[0] if w else quad(f, 0, np.inf, epsabs=1e-11)[0]
        im = -quad(f, 0, np.inf, weight="sin", wvar=w, epsabs=1e-11)[0] if w else 0.0
        assert abs(H1(w) - (re + 1j * im)) < 1e-7


def test_galerkin_equals_exact_on_a_linear_model(exact2):
    gal = vs.derive(LIN2, order=2, method="galerkin", degree=4)
    for n, args in ((1, (OMEGA,)), (2, (OMEGA, OMEGA[::-1]))):
        He, Hg = exact2.transfer(n), gal.transfer(n)
        assert np.allclose(Hg(*args), He(*args), rtol=1e-10, atol=1e-12)
        assert np.all(Hg.error(*args) < 1e-10)


def test_generator_route_agrees_with_exact_within_its_grid_error():
    model = vs.OU(1.3, 0.8, 0.7, c=0.3, readout="h1**3")
    ex, gen = vs.derive(model, order=2), vs.derive(model, order=2, method="generator")
    for n, args in ((1, (OMEGA,)), (2, (OMEGA, -OMEGA))):
        ref = ex.transfer(n)(*args)
        assert np.max(np.abs(gen.transfer(n)(*args) - ref)) < 1e-3 * np.max(np.abs(ref))


def test_closed_forms_match_math_md_section_5():
    a, c, s, c0 = sp.symbols("a c s c0", positive=True)
    resp = vs.derive(vs.OU(a, c, s, c=c0, readout="h1**3"), order=3)
    H1 = resp.transfer(1).expression("s")
    (sv,) = H1.free_symbols - {a, c, s, c0}
    assert sv.name == "s_"  # the model's own s is not captured
    assert sp.simplify(H1 - 3 * c * (a * s**2 + 2 * c0**2) / (2 * a**2) / (sv + a)) == 0
    H2 = resp.transfer(2).expression("s")
    s1, s2 = sorted(H2.free_symbols - {a, c, s, c0}, key=str)
    assert sp.simplify(H2 - 3 * c**2 * c0 / (a * (a + s1) * (a + s2))) == 0
    H3 = resp.transfer(3).expression("omega")
    w = sorted(H3.free_symbols - {a, c, s, c0}, key=str)
    assert sp.simplify(H3 - c**3 / sp.Mul(*[(a + sp.I * x) for x in w])) == 0


def test_expression_equals_the_numbers(exact2):
    expr = exact2.transfer(2).expression("omega")
    w1, w2 = sorted(expr.free_symbols, key=str)
    f = sp.lambdify((w1, w2), expr, "numpy")
    assert np.allclose(f(0.7, -1.9), exact2.transfer(2)(0.7, -1.9), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::volterra_sym.ConvergenceWarning")
@pytest.mark.parametrize("route", ["exact", "galerkin"])
def test_harmonic_balance_against_predict(route):
    """u = cos(omega t): after transients order 1 of predict is Re(H1 e^{i w t}); order 2 is
    1/2 Re(H2(w, w) e^{2 i w t}) + 1/2 H2(w, -w)."""
    model = LIN2 if route == "exact" else TANH1
    opts = {} if route == "exact" else {"method": "galerkin", "degree": 12}
    resp = vs.derive(model, order=2, **opts)
    w = 1.3
    t = np.linspace(0.0, 40.0, 8001)
    parts = resp.predict(lambda x: np.cos(w * x), t, by_order=True)
    late = t > 30.0
    H1, H2 = resp.transfer(1), resp.transfer(2)
    y1 = (H1(w) * np.exp(1j * w * t)).real
    y2 = 0.5 * (H2(w, w) * np.exp(2j * w * t)).real + 0.5 * H2(w, -w).real
    tol = 1e-6 if route == "exact" else 2e-4  # Galerkin: ETD2 time stepping of its forward hierarchy
    assert np.max(np.abs(parts[1][late] - y1[late])) < tol
    assert np.max(np.abs(parts[2][late] - y2[late])) < tol
    assert abs(H2(w, -w).imag) < 1e-12


# ---------------------------------------------------------------------------- bad input


def test_bad_frequencies_are_refused_naming_the_argument(exact2):
    H1, H2 = exact2.transfer(1), exact2.transfer(2)
    with pytest.raises(vs.InputError, match=r"^omega: received non-finite"):
        H1(np.array([0.0, np.nan]))
    with pytest.raises(vs.InputError, match=r"^omega: received an empty array"):
        H1([])
    with pytest.raises(vs.InputError, match=r"^omega2: received an empty"):
        H2(1.0, [])
    with pytest.raises(vs.ArgumentError, match=r"^omega: H_2 takes 2 frequencies"):
        H2(1.0)
    with pytest.raises(vs.InputError, match=r"^omega: expected numbers"):
        H1("1.0")
    with vs.limits.overridden(max_frequency_points=10):
        with pytest.raises(vs.InputError, match=r"^omega: 11 frequency points exceed .*MAX_FREQUENCY_POINTS"):
            H1(np.linspace(0, 1, 11))


def test_complex_frequencies_are_the_analytic_continuation(exact2):
    grad, _, G = _linear_reference()
    A = GAMMA * np.eye(2) - W
    s = 0.3 + 0.4j
    ref = grad @ np.linalg.solve(s * np.eye(2) + A, C)
    assert np.isclose(exact2.transfer(1).laplace(s), ref, rtol=1e-12)
    with pytest.raises(vs.InputError, match=r"^omega: .*pole"):  # H1 = 1 / (s + 2)
        vs.derive(vs.OU(2, 1, 0.5, readout="h1"), order=1).transfer(1).laplace(-2.0)


def test_transforms_that_do_not_exist_are_refused():
    point = vs.derive(vs.OU(2, 1, 0.5, readout="h1", initial=vs.PointMass(0.1)), order=1)
    with pytest.raises(vs.ArgumentError, match=r"^n: the order-1 kernels .* depend on the time since the start"):
        point.transfer(1)
    taylor = vs.derive(TANH1, order=1, method="taylor", lag_degree=3)
    with pytest.raises(vs.ArgumentError, match=r"^n: K\^\(1\).* does not decay .*Taylor"):
        taylor.transfer(1)
    with pytest.raises(vs.ArgumentError, match=r"^n: expected a kernel order"):
        vs.derive(LIN2, order=1).transfer(2)
    gen = vs.derive(TANH1, order=1, method="generator")
    with pytest.raises(vs.ArgumentError, match=r"^expression: method='generator' computes H_1 numerically"):
        gen.transfer(1).expression()
