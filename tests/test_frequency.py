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
from models import TANH1

import volterra_sym as vs

GAMMA = 1.0
W = np.array([[0.5, -1.2], [1.2, 0.3]])
B = np.array([0.2, -0.1])
C = np.array([1.0, 0.5])
LIN2 = vs.SRNN(GAMMA, W.tolist(), B.tolist(), C=C.tolist(), sigma=0.6, readout="h1**2 + h2")
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


@pytest.mark.slow
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
@pytest.mark.parametrize("route", ["exact", pytest.param("galerkin", marks=pytest.mark.slow)])
def test_h2_equals_fourier_quadrature_of_the_kernel(route):
    model = LIN2 if route == "exact" else TANH1
    opts = {} if route == "exact" else {"method": "galerkin", "degree": 12}
    resp = vs.derive(model, order=2, **opts)
    H2 = resp.transfer(2)
    for w1, w2 in ((0.0, 0.0), (0.8, -0.3), (1.5, 1.1)):
        ref = _gauss_legendre_h2(resp, w1, w2)
        assert abs(H2(w1, w2) - ref) < 1e-9 * max(1.0, abs(ref)) + H2.error(w1, w2)


@pytest.mark.filterwarnings("ignore::volterra_sym.ConvergenceWarning")
@pytest.mark.slow
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
    gal = vs.derive(LIN2, order=2, method="galerkin", degree=2)  # exact: polynomials of degree <= 2 are invariant
    for n, args in ((1, (OMEGA,)), (2, (OMEGA, OMEGA[::-1]))):
        He, Hg = exact2.transfer(n), gal.transfer(n)
        assert np.allclose(Hg(*args), He(*args), rtol=1e-10, atol=1e-12)
        assert np.all(Hg.error(*args) < 1e-10)


def test_generator_route_agrees_with_exact_within_its_grid_error():
    """The grid route's error estimate |H_N - H_N/2| / 3 (Richardson, second-order scheme) against the true error;
    the factor 1.1 allows the O(h^4) remainder of the Richardson estimate."""
    model = vs.OU(1.3, 0.8, 0.7, c=0.3, readout="h1**3")
    ex, gen = vs.derive(model, order=2), vs.derive(model, order=2, method="generator")
    for n, args in ((1, (OMEGA,)), (2, (OMEGA, -OMEGA))):
        H = gen.transfer(n)
        true = np.abs(H(*args) - ex.transfer(n)(*args))
        assert np.all(true <= 1.1 * H.error(*args)) and np.max(true) > 1e-6


@pytest.mark.slow
def test_closed_forms_match_math_md_section_5():
    a, c, s, c0 = sp.symbols("a c s c0", positive=True)
    resp = vs.derive(vs.OU(a, c, s, c=c0, readout="h1**3"), order=3)
    H1 = resp.transfer(1).expression("s")
    (sv,) = H1.free_symbols - {a, c, s, c0}
    assert sv.name == "s_L"  # the model's own s is not captured
    assert sp.simplify(H1 - 3 * c * (a * s**2 + 2 * c0**2) / (2 * a**2) / (sv + a)) == 0
    H2 = resp.transfer(2).expression("s")
    s1, s2 = sorted(H2.free_symbols - {a, c, s, c0}, key=str)
    assert sp.simplify(H2 - 3 * c**2 * c0 / (a * (a + s1) * (a + s2))) == 0
    H3 = resp.transfer(3).expression("omega")
    w = sorted(H3.free_symbols - {a, c, s, c0}, key=str)
    assert sp.simplify(H3 - c**3 / sp.Mul(*[(a + sp.I * x) for x in w])) == 0
    assert r"H_{2; 1,1}(s_{1}, s_{2}) &= \frac{3 c^{2} c_{0}}{a \left(a + s_{1}\right) \left(a + s_{2}\right)}" in (
        resp.to_markdown()
    )  # the derivation document ends with the transfer functions


@pytest.mark.slow
def test_expression_equals_the_numbers(exact2):
    expr = exact2.transfer(2).expression("omega")
    w1, w2 = sorted(expr.free_symbols, key=str)
    f = sp.lambdify((w1, w2), expr, "numpy")
    assert np.allclose(f(0.7, -1.9), exact2.transfer(2)(0.7, -1.9), rtol=1e-12)
    parts = exact2.transfer(2).expression("omega", combine=False)  # partial fractions, one per term and ordering
    assert len(sp.Add.make_args(parts)) > 1
    assert np.allclose(sp.lambdify((w1, w2), parts, "numpy")(0.7, -1.9), f(0.7, -1.9), rtol=1e-12)
    with pytest.raises(vs.ArgumentError, match=r"^combine: expected True, False or None"):
        exact2.transfer(1).expression("s", combine="yes")


@pytest.mark.filterwarnings("ignore::volterra_sym.ConvergenceWarning")
@pytest.mark.parametrize("route", ["exact", "galerkin"])
def test_harmonic_balance_against_predict(route):
    """u = cos(omega t): after transients order 1 of predict is Re(H1 e^{i w t}); order 2 is
    1/2 Re(H2(w, w) e^{2 i w t}) + 1/2 H2(w, -w)."""
    model = LIN2 if route == "exact" else TANH1
    opts = {} if route == "exact" else {"method": "galerkin", "degree": 8}
    resp = vs.derive(model, order=2, **opts)
    w = 1.3
    t = np.linspace(0.0, 40.0, 8001)
    H1, H2 = resp.transfer(1), resp.transfer(2)
    if route == "exact":  # transients ~ e^{-0.6 * 30} and the engine's O(h^4) for callables: far below 1e-6
        parts = resp.predict(lambda x: np.cos(w * x), t, by_order=True)
        tol1 = tol2 = 1e-6
    else:  # the route's own error estimates of its prediction and of H_n (degrees p - 2, p, p + 2, time stepping)
        parts, err = resp.predict(lambda x: np.cos(w * x), t, by_order=True, return_error=True)
        tol1 = err[1][t > 30.0].max() + H1.error(w)
        tol2 = err[2][t > 30.0].max() + H2.error(w, w) + H2.error(w, -w)
    late = t > 30.0
    y1 = (H1(w) * np.exp(1j * w * t)).real
    y2 = 0.5 * (H2(w, w) * np.exp(2j * w * t)).real + 0.5 * H2(w, -w).real
    assert np.max(np.abs(parts[1][late] - y1[late])) < tol1
    assert np.max(np.abs(parts[2][late] - y2[late])) < tol2
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
    with pytest.raises(vs.ArgumentError, match=r"^n: expected a kernel order"):
        point.transfer(2)


@pytest.mark.slow
def test_taylor_kernels_have_no_transform_and_numerical_routes_no_formula():
    taylor = vs.derive(TANH1, order=1, method="taylor", lag_degree=3)
    with pytest.raises(vs.ArgumentError, match=r"^n: K\^\(1\).* does not decay .*Taylor"):
        taylor.transfer(1)
    gen = vs.derive(TANH1, order=1, method="generator")
    with pytest.raises(vs.ArgumentError, match=r"^expression: method='generator' computes H_1 numerically"):
        gen.transfer(1).expression()


# ---------------------------------------------------------------------------- summary numbers


def test_summary_numbers_of_a_linear_srnn():
    """References: eigenvalues of A, the Lyapunov solutions S_inf (A S + S A^T = D) and X (A^T X + X A = S^-1)
    with int_0^oo J = C^T X C, and |H_1| on a dense grid (NumPy, from the matrices)."""
    linalg = pytest.importorskip("scipy.linalg")
    model = LIN2.replace(readout=["h1", "h2"])
    resp = vs.derive(model, order=1)
    A = GAMMA * np.eye(2) - W
    lam = np.linalg.eigvals(A)
    rates = vs.relaxation_rates(resp)
    assert rates.size == 1 and np.isclose(rates[0], lam[np.argmax(lam.imag)], rtol=1e-12)
    S = linalg.solve_continuous_lyapunov(A, 0.36 * np.eye(2))
    X = linalg.solve_continuous_lyapunov(A.T, np.linalg.inv(S))
    cap, err = vs.memory_capacity(resp)
    assert abs(cap - C @ X @ C) < 1e-9 and err < 1e-9
    taus = np.array([0.0, 0.7, 2.0])
    J = vs.memory_function(resp, taus)
    ref = [C @ linalg.expm(-A.T * t) @ np.linalg.inv(S) @ linalg.expm(-A * t) @ C for t in taus]
    assert np.allclose(J, ref, rtol=1e-10)
    res = vs.resonance(resp, component=0)
    w = np.linspace(0, 10, 200001)
    mag = np.abs([np.linalg.solve(1j * x * np.eye(2) + A, C)[0] for x in w[::50]])
    wr = w[::50][np.argmax(mag)]
    assert abs(res["frequency"] - wr) < 3e-3 and np.isclose(res["peak"], mag.max(), rtol=1e-5)
    half = w[::50][mag >= mag.max() / np.sqrt(2)]
    assert abs(res["low"] - half.min()) < 3e-3 and abs(res["high"] - half.max()) < 3e-3


def test_summary_numbers_refuse_bad_input():
    resp = vs.derive(LIN2.replace(readout=["h1", "h2"]), order=1)
    with pytest.raises(vs.InputError, match=r"^covariance: the readout covariance must be .* positive definite"):
        vs.memory_function(resp, [0.0, 1.0], covariance=[[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(vs.ArgumentError, match=r"^omega_max: expected a positive finite"):
        vs.resonance(resp, component=0, omega_max=float("nan"))
    with pytest.raises(vs.ArgumentError, match=r"^count: expected a positive integer"):
        vs.relaxation_rates(resp, 0)


# ---------------------------------------------------------------------------- Monte Carlo transfer functions


@pytest.mark.slow
def test_monte_carlo_transfer_function_agrees_with_the_exact_one(exact2):
    taus = np.arange(0.0, 16.0001, 0.05)
    est = vs.estimate_kernels(LIN2, order=1, lags={1: taus}, paths=2000, seed=3, dt=0.05)
    Hm = vs.estimated_transfer(est)
    w = np.linspace(0.0, 4.0, 9)
    dev = np.abs(Hm(w) - exact2.transfer(1)(w))
    assert np.all(dev <= 4.5 * Hm.error(w) + Hm.bias(w))
    # resonance and half-power band (computed from the exact H1) seen in the Monte Carlo H1
    band = vs.resonance(exact2)
    edges = np.array([band["frequency"], band["low"], band["high"]])
    expected = band["peak"] * np.array([1.0, 2**-0.5, 2**-0.5])
    assert np.all(np.abs(np.abs(Hm(edges)) - expected) <= 4.5 * Hm.error(edges) + Hm.bias(edges))
    with pytest.raises(vs.InputError, match=r"^omega: received complex frequencies"):
        Hm(1.0 + 0.5j)
    with pytest.raises(vs.ArgumentError, match=r"^n: expected an estimated order \(1 or 2\) of this estimate, \[1\]"):
        vs.estimated_transfer(est, 2)


# ---------------------------------------------------------------------------- plots and the command line


@pytest.mark.slow
def test_plots_return_figures_and_refuse_what_the_backend_lacks(tmp_path, exact2):
    pytest.importorskip("matplotlib")
    from volterra_sym import plots

    gal = vs.derive(LIN2, order=2, method="galerkin", degree=2)
    fig = plots.plot_kernel1({"exact": exact2, "galerkin": gal}, lags=np.linspace(0, 5, 30))
    assert len(fig.axes[0].lines) >= 2
    assert plots.save_figure(plots.plot_bode(exact2, omegas=np.geomspace(0.1, 10, 20)), tmp_path / "b.svg")
    assert (tmp_path / "b.svg").read_text().lstrip().startswith("<?xml")
    fig2 = plots.plot_transfer2(exact2, omegas=np.linspace(-2, 2, 9))
    assert fig2.axes and plots.plot_kernel2(exact2, lags=np.linspace(0, 3, 9)).axes
    with pytest.raises(vs.ArgumentError, match=r"^cmap: 'no-such-map' .*is not a matplotlib colormap"):
        plots.plot_kernel2(exact2, cmap="no-such-map")
    with pytest.raises(vs.OutputError, match=r"^path: .* has the suffix '.xyz', which the matplotlib backend cannot"):
        plots.save_figure(fig2, tmp_path / "f.xyz")
    with pytest.raises(vs.InputError, match=r"^omegas: expected a 1-D array of at least 2 positive"):
        plots.plot_bode(exact2, omegas=[0.0, 1.0])
    with pytest.raises(vs.ArgumentError, match=r"^responses: expected a Response"):
        plots.plot_kernel1("exact")


@pytest.mark.slow
def test_cli_plot_writes_the_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from volterra_sym.cli import main

    out = tmp_path / "bode.png"
    assert main(["plot", "examples/ou1d_cubic.toml", "--what", "bode", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", "examples/ou1d_cubic.toml", "--what", "k1", "--out", str(tmp_path / "k.xyz")]) == 2
    assert "--out:" in capsys.readouterr().err


@pytest.mark.slow
def test_harmonic_balance_against_monte_carlo(exact2):
    """u = cos(omega t), eps = 0.5: the Monte Carlo response E f(h^eps_t) - E f(h^0_t) (common noise) after the
    transients equals eps Re(H1 e^{i w t}) + eps^2 [1/2 Re(H2(w, w) e^{2 i w t}) + 1/2 H2(w, -w)] (the series of a
    linear SRNN with a quadratic readout ends at order 2), within 4.5 SE + the Euler bias (dt against dt/2)."""
    w, eps = 1.3, 0.5
    t = np.linspace(0.0, 24.0, 1201)
    runs = [vs.simulate_response(LIN2, lambda x: np.cos(w * x), t, 4000, seed=5, eps=eps, substeps=s) for s in (2, 4)]
    H1, H2 = exact2.transfer(1), exact2.transfer(2)
    first = eps * (H1(w) * np.exp(1j * w * t)).real
    second = eps**2 * (0.5 * (H2(w, w) * np.exp(2j * w * t)).real + 0.5 * H2(w, -w).real)
    late = t >= 18.0
    bias = np.abs(runs[0].mean - runs[1].mean)[late]
    mean, se = runs[1].mean[late], runs[1].stderr[late]
    assert np.all(np.abs(mean - (first + second)[late]) <= 4.5 * se + bias)
    assert np.any(np.abs(mean - first[late]) > 4.5 * se + bias)  # the second-order terms are seen


def test_two_inputs_symmetrise_over_index_frequency_pairs():
    """H_{2,(k1,k2)}(w1, w2) = 1/2 G_k1(w1)^T Hess f G_k2(w2) (cube form, NumPy), so H_{(0,1)}(w1, w2) =
    H_{(1,0)}(w2, w1) and not H_{(0,1)}(w2, w1)."""
    Cm = np.array([[1.0, 0.0], [0.5, 1.0]])
    model = vs.SRNN(GAMMA, W.tolist(), B.tolist(), C=Cm.tolist(), sigma=0.6, readout="h1*h2 + h1**2")
    resp = vs.derive(model, order=2)
    A = GAMMA * np.eye(2) - W
    hess = np.array([[2.0, 1.0], [1.0, 0.0]])

    def G(w, k):
        return np.linalg.solve(1j * w * np.eye(2) + A, Cm[:, k])

    w1, w2 = 0.7, -1.6
    H01 = resp.transfer(2, (0, 1))
    assert np.isclose(H01(w1, w2), 0.5 * G(w1, 0) @ hess @ G(w2, 1), rtol=1e-12)
    assert np.isclose(H01(w1, w2), resp.transfer(2, (1, 0))(w2, w1), rtol=1e-12)
    assert not np.isclose(H01(w1, w2), H01(w2, w1), rtol=1e-3)


@pytest.mark.slow
def test_memory_function_is_the_fisher_information_of_a_simulated_pulse():
    """J(tau) = D^T C^-1 D / a^2 with D the simulated mean shift of y = h at tau after a pulse of area a (common
    noise) and C the simulated stationary covariance of y; 8 independent batches give the standard error, a run
    at dt/2 the Euler bias."""
    model = LIN2.replace(readout=["h1", "h2"])
    resp = vs.derive(model, order=1)
    h, t0, width = 0.02, 1.0, 0.1
    t = np.arange(0.0, 8.0 + h / 2, h)
    u = np.where((t >= t0 - 1e-9) & (t <= t0 + width + 1e-9), 1.0 / width, 0.0)
    area = np.sum((u[1:] + u[:-1]) / 2 * h)  # the simulation reads the samples as a piecewise-linear input
    idx = np.searchsorted(t, t0 + width / 2 + np.array([0.5, 1.0, 2.0, 3.0]) - 1e-9)

    def batches(substeps):
        out = []
        for b in range(8):
            d = vs.simulate_response(model, u, t, 1500, seed=100 + b, substeps=substeps)
            s = vs.simulate(model, None, t, 1500, seed=200 + b, substeps=substeps, return_samples=True)
            D = d.mean[idx] / area
            out.append(np.einsum("li,ij,lj->l", D, np.linalg.inv(np.cov(s.samples[:, -1, :].T)), D))
        return np.array(out)

    coarse, fine = batches(1), batches(2)
    se = fine.std(axis=0, ddof=1) / np.sqrt(len(fine))
    bias = np.abs(coarse.mean(axis=0) - fine.mean(axis=0))
    J = vs.memory_function(resp, t[idx] - t0 - width / 2)  # lags from the pulse centre (midpoint error ~ 1e-4)
    assert np.all(np.abs(fine.mean(axis=0) - J) <= 4.5 * se + bias)


def test_gallery_figures_only_where_a_transform_exists():
    from volterra_sym.gallery import figure_kinds

    assert figure_kinds(vs.derive(vs.OU(2, 1, 0.5, readout="h1**2"), order=2)) == ["k1", "bode", "k2", "h2"]
    assert figure_kinds(vs.derive(vs.OU(2, 1, 0.5, readout="h1"), order=2)) == ["k1", "bode"]  # K2 = 0
    assert figure_kinds(vs.derive(vs.OU(2, 1, 0.5, readout="h1", initial=vs.PointMass(0.1)), order=1)) == []


@pytest.mark.slow
def test_gallery_writes_its_figures(tmp_path):
    pytest.importorskip("matplotlib")
    import shutil

    from volterra_sym.gallery import write_figures

    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy("examples/ou1d_cubic.toml", examples)
    paths = write_figures(tmp_path / "out", examples=examples)
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == [f"ou1d_cubic_{k}.png" for k in ("bode", "h2", "k1", "k2")]


@pytest.mark.slow
def test_monte_carlo_order_two_transfer_function(exact2):
    """A linear SRNN with a quadratic readout has a deterministic K^(2) (SE 0): the bias bound (lag window,
    trapezoid rule by Richardson, time-step bias) must cover the whole difference from the exact H_2."""
    g = np.arange(0.0, 12.0001, 0.2)
    T1, T2 = np.meshgrid(g, g, indexing="ij")
    est = vs.estimate_kernels(
        LIN2, order=2, lags={2: np.stack([T1.ravel(), T2.ravel()], 1)}, paths=200, seed=1, dt=0.05
    )
    H = vs.estimated_transfer(est, 2)
    w1, w2 = np.array([0.0, 0.5, 1.0, 2.0]), np.array([0.3, 0.05, -0.2, -0.7])
    dev = np.abs(H(w1, w2) - exact2.transfer(2)(w1, w2))
    assert np.all(dev <= 4.5 * H.error(w1, w2) + H.bias(w1, w2))
    assert np.max(H.bias(w1, w2)) < 0.1  # the bound is informative, not vacuous
    with pytest.raises(vs.ArgumentError, match=r"^estimate: the order-2 lags must form a tensor grid"):
        vs.estimated_transfer(
            vs.estimate_kernels(LIN2, order=2, lags={2: [[0.0, 0.0], [0.1, 0.2], [0.2, 0.1]]}, paths=100, dt=0.05), 2
        )
