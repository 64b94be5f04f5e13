"""Independent numerical references used by the tests (share no code with volterra_sym's kernels).

Trusted: numpy, scipy.linalg (expm, solve_continuous_lyapunov), Gauss-Hermite
quadrature, sympy differentiation/lambdify of the readout.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import scipy.linalg as sla
import sympy as sp


def linear_parts(model):
    """A, c, C, D of a linear model as float arrays, read off the model's expressions directly."""
    x = model.state
    A = -np.array(model.drift.jacobian(x).evalf(), dtype=float)
    c = np.array(model.drift.subs({s: 0 for s in x}).evalf(), dtype=float).ravel()
    C = np.array(model.coupling.evalf(), dtype=float)
    sig = np.array(model.diffusion.evalf(), dtype=float)
    return A, c, C, sig @ sig.T


def stationary_law(A, c, D):
    m = np.linalg.solve(A, c)
    S = sla.solve_continuous_lyapunov(A, D)
    return m, S


def transient_law(A, c, D, m0, S0, t):
    """Mean and covariance of h^0_t by an augmented (Van Loan) matrix exponential."""
    n = len(c)
    E = sla.expm(-A * t)
    aug = np.zeros((n + 1, n + 1))
    aug[:n, :n] = -A
    aug[:n, n] = c
    mt = sla.expm(aug * t)[:n, n]
    M = np.zeros((2 * n, 2 * n))
    M[:n, :n] = -A
    M[:n, n:] = D
    M[n:, n:] = A.T
    F = sla.expm(M * t)
    St = F[:n, n:] @ E.T
    return E @ m0 + mt, E @ S0 @ E.T + St


def gauss_expect(fun, mean, cov, deg):
    """E fun(X), X ~ N(mean, cov), exact for polynomials of degree <= 2q-1 (tensor Gauss-Hermite)."""
    n = len(mean)
    q = deg // 2 + 2
    z, w = np.polynomial.hermite_e.hermegauss(q)
    w = w / w.sum()
    L = np.linalg.cholesky(cov + 1e-300 * np.eye(n)) if np.any(cov) else np.zeros((n, n))
    total = 0.0
    for idx in itertools.product(range(q), repeat=n):
        zz = z[list(idx)]
        total += np.prod(w[list(idx)]) * fun(mean + L @ zz)
    return total


def pathwise_kernel(model, ks, taus, s=0.0, component=0):
    """K^(n)_{ks}(taus; s) = E[D^n f(h^0_t)][v_1..v_n], v_j = e^{-A T_j} C_{k_j}, t = T_n + s.

    (h^eps_t = h^0_t + eps int e^{-A(t-s)} C u_s ds for linear SRNNs.)
    """
    from volterra_sym.model import Gaussian, PointMass

    A, c, C, D = linear_parts(model)
    x = model.state
    f = model.readout[component]
    n = len(ks)
    T = np.cumsum(taus)
    vs = [sla.expm(-A * T[j]) @ C[:, ks[j]] for j in range(n)]
    # D^n f contracted with v's, as a function of x
    deriv = f
    dsyms = sp.symbols(f"v0:{len(x)}")
    for j in range(n):
        deriv = sum(sp.diff(deriv, x[i]) * vs[j][i] for i in range(len(x)))
    fun = sp.lambdify([x], deriv, "numpy")
    deg = sp.Poly(f, *x).total_degree()
    init = model.initial
    if isinstance(init, PointMass) or isinstance(init, Gaussian):
        m0 = np.array((init.x0 if isinstance(init, PointMass) else init.mean).evalf(), dtype=float).ravel()
        S0 = np.zeros((len(x), len(x))) if isinstance(init, PointMass) else np.array(init.cov.evalf(), dtype=float)
        mean, cov = transient_law(A, c, D, m0, S0, T[-1] + s)
    else:
        mean, cov = stationary_law(A, c, D)
    del dsyms
    return gauss_expect(lambda z: float(fun(z)), mean, cov, deg)


def perturbed_mean_ode(model, ufun, t, eps, m0):
    """m' = -A m + c + eps C u(t), m(0) = m0, integrated with scipy's DOP853 at tight tolerance."""
    from scipy.integrate import solve_ivp

    A, c, C, _ = linear_parts(model)
    sol = solve_ivp(
        lambda s, m: -A @ m + c + eps * C @ np.atleast_1d(ufun(s)),
        (0, t[-1]),
        np.asarray(m0, dtype=float),
        t_eval=t,
        method="DOP853",
        rtol=1e-13,
        atol=1e-14,
    )
    return sol.y.T


def gaussian_law_truth(model, ufun, t, eps):
    """Means (L, n) and covariances (L, n, n) of the perturbed linear SRNN (MATH.md section 5)."""
    from volterra_sym.model import Gaussian, PointMass

    A, c, C, D = linear_parts(model)
    n = len(c)
    init = model.initial
    if isinstance(init, (PointMass, Gaussian)):
        m0 = np.array((init.x0 if isinstance(init, PointMass) else init.mean).evalf(), dtype=float).ravel()
        S0 = np.zeros((n, n)) if isinstance(init, PointMass) else np.array(init.cov.evalf(), dtype=float)
        covs = np.array([transient_law(A, c, D, m0, S0, tj)[1] for tj in t])
    else:
        m0, S = stationary_law(A, c, D)
        covs = np.broadcast_to(S, (len(t), n, n))
    means = perturbed_mean_ode(model, ufun, t, eps, m0)
    return means, covs


def expected_readout_truth(model, ufun, t, eps, component=0):
    """E f(h_t) from the exact Gaussian law (no kernels involved)."""
    f = sp.lambdify([model.state], model.readout[component], "numpy")
    deg = sp.Poly(model.readout[component], *model.state).total_degree()
    means, covs = gaussian_law_truth(model, ufun, t, eps)
    return np.array([gauss_expect(lambda z: float(f(z)), means[j], covs[j], deg) for j in range(len(t))])


def euler_means_quadratic(model, U, t, steps, eps=1.0):
    """E f at the grid times of the Euler-Maruyama scheme with ``steps`` equal steps per grid interval, exactly,
    for a linear model started in its stationary law and a quadratic readout (the scheme's mean and covariance
    obey linear recursions; E f from them by Gauss-Hermite quadrature).  The input of each step is the average
    of the piecewise-linear interpolant of U over the step (the simulation's convention)."""
    A, c, C, D = linear_parts(model)
    n = len(c)
    m, S = stationary_law(A, c, D)
    U = np.asarray(U, dtype=float).reshape(len(t), -1)
    x = sp.symbols(f"q0:{n}")
    f = sp.lambdify(x, model.readout[0].subs(dict(zip(model.state, x))), "numpy")
    out = [gauss_expect(lambda h: f(*h), m, S, 3)]
    for k in range(len(t) - 1):
        dt = (t[k + 1] - t[k]) / steps
        M = np.eye(n) - A * dt
        for j in range(steps):
            ubar = U[k] + (j + 0.5) / steps * (U[k + 1] - U[k])
            m = M @ m + (c + eps * C @ ubar) * dt
            S = M @ S @ M.T + D * dt
        out.append(gauss_expect(lambda h: f(*h), m, S, 3))
    return np.array(out)


# --------------------------------------------------------------------------- 1-D generator: Chebyshev spectral


def _cheb(N):
    """Chebyshev points x_j = cos(pi j / N) on [-1, 1] and the differentiation matrix (Trefethen, Spectral Methods
    in MATLAB, cheb.m)."""
    x = np.cos(np.pi * np.arange(N + 1) / N)
    c = np.hstack([2.0, np.ones(N - 1), 2.0]) * (-1.0) ** np.arange(N + 1)
    X = np.tile(x, (N + 1, 1)).T
    dX = X - X.T
    Dm = np.outer(c, 1.0 / c) / (dX + np.eye(N + 1))
    Dm -= np.diag(Dm.sum(axis=1))
    return x, Dm


def _clenshaw_curtis(N):
    """Clenshaw-Curtis weights on the points cos(pi j / N) of [-1, 1] (exact for polynomials of degree <= N)."""
    theta = np.pi * np.arange(N + 1) / N
    w = np.zeros(N + 1)
    v = np.ones(N - 1)
    if N % 2 == 0:
        w[0] = w[N] = 1.0 / (N**2 - 1)
        for k in range(1, N // 2):
            v -= 2 * np.cos(2 * k * theta[1:-1]) / (4 * k**2 - 1)
        v -= np.cos(N * theta[1:-1]) / (N**2 - 1)
    else:
        w[0] = w[N] = 1.0 / N**2
        for k in range(1, (N - 1) // 2 + 1):
            v -= 2 * np.cos(2 * k * theta[1:-1]) / (4 * k**2 - 1)
    w[1:-1] = 2 * v / N
    return w


class SpectralGenerator1D:
    """Response kernels of a 1-D diffusion dh = [phi(h) + eps gamma(h) u] dt + sigma(h) dW, y = f(h), by Chebyshev
    collocation of the generator in its symmetric (Schroedinger) form.  Shares no code with volterra_sym: the model
    is given as sympy expressions of one symbol and only numpy is used for the numbers.

    With rho the stationary density (log rho = int 2 phi / D - log D, D = sigma^2) and s = sqrt(rho), the map
    g -> psi = s g turns the backward generator into H = -s L0 s^{-1} = -(1/2) d/dx D d/dx + V, self-adjoint on
    L2(dx) with V = phi q - (D/2)(q^2 - q'), q = s'/s = phi / D - D' / (2 D), and L1 g = gamma g' into
    B psi = gamma (psi' - q psi).  Eigenfunctions of H decay like s, so H is discretised on the interval where
    log rho lies within ``drop`` of its maximum with psi = 0 at both ends (the truncation error is of the order
    of the stationary mass outside, ~exp(-drop)); Chebyshev collocation with ``N`` + 1 points converges
    spectrally for analytic coefficients.  Then (MATH.md section 4) G_0 = f, G_j = L1 P_{tau_j} G_{j-1},
    K^(n) = E_mu0[P_{s_n} G_n] with P_tau = s^{-1} exp(-tau H) s.

    ``accuracy(N2)`` is the largest change of the stated quantity when the collocation is refined (the oracle's
    own error estimate; spectral convergence makes it pessimistic by orders of magnitude once resolved).
    """

    def __init__(self, state, drift, sigma, coupling, readout, N=160, drop=60.0, span=30.0):
        x = state
        phi, D = sp.sympify(drift), sp.sympify(sigma) ** 2
        q = phi / D - sp.diff(D, x) / (2 * D)
        V = phi * q - D / 2 * (q**2 - sp.diff(q, x))
        self._fns = {
            name: sp.lambdify(x, expr, "numpy")
            for name, expr in (
                ("phi", phi), ("D", D), ("dD", sp.diff(D, x)), ("q", q), ("V", V),
                ("gamma", sp.sympify(coupling)), ("f", sp.sympify(readout)), ("r1", 2 * phi / D),
            )
        }  # fmt: skip
        self.N, self.drop = N, drop
        # domain: log rho on a fine uniform grid of [-span, span] (trapezoid), cut where it is drop below its peak
        z = np.linspace(-span, span, 200001)
        with np.errstate(all="ignore"):
            r = np.concatenate([[0.0], np.cumsum(0.5 * np.diff(z) * (self._f("r1", z[1:]) + self._f("r1", z[:-1])))])
            r -= np.log(self._f("D", z))
        r[~np.isfinite(r)] = -np.inf
        keep = np.nonzero(r >= r.max() - drop)[0]
        if keep[0] == 0 or keep[-1] == z.size - 1:
            raise ValueError("the stationary density does not decay within [-span, span]: raise span")
        self.a, self.b = float(z[keep[0]]), float(z[keep[-1]])
        t, Dm = _cheb(N)
        half = 0.5 * (self.b - self.a)
        self.x = self.a + half * (t[::-1] + 1.0)  # increasing
        self.D1 = Dm[::-1, ::-1] / half  # d/dx on the increasing points (a permutation of the same matrix)
        self.w = _clenshaw_curtis(N)[::-1] * half
        X = self.x
        Dx, dDx = self._f("D", X), self._f("dD", X)
        D2 = self.D1 @ self.D1
        Hfull = -0.5 * (Dx[:, None] * D2 + dDx[:, None] * self.D1) + np.diag(self._f("V", X))
        H = Hfull[1:-1, 1:-1]  # psi = 0 at both ends
        lam, vec = np.linalg.eig(H)
        order = np.argsort(lam.real)
        self.lam, self.vec = lam[order].real, vec[:, order].real
        self.ivec = np.linalg.inv(self.vec)
        # s = sqrt(rho) on the points: log rho from the Chebyshev interpolant of 2 phi / D, integrated exactly
        cheb = np.polynomial.Chebyshev.fit(X, self._f("r1", X), N, domain=[self.a, self.b])
        logrho = cheb.integ()(X) - np.log(Dx)
        self.s = np.exp(0.5 * (logrho - logrho.max()))
        self.B = self._f("gamma", X)[:, None] * (self.D1 - np.diag(self._f("q", X)))

    def _f(self, name, x):
        return np.broadcast_to(np.asarray(self._fns[name](x), dtype=float), np.shape(x)).copy()

    def _propagate(self, psi, tau):
        """exp(-tau H) psi for psi (.., N + 1) on all points (zero at the ends), tau (..,)."""
        c = np.einsum("ij,...j->...i", self.ivec, psi[..., 1:-1]) * np.exp(-np.multiply.outer(tau, self.lam))
        out = np.zeros(psi.shape)
        out[..., 1:-1] = np.einsum("ij,...j->...i", self.vec, c)
        return out

    def _expect(self, psi, initial):
        """E_mu0[g] for psi = s g: stationary (initial None) or a Gaussian (mean, var) or point mass (x0, 0)."""
        if initial is None:
            return psi @ (self.w * self.s) / (self.w @ self.s**2)
        mean, var = initial
        if var == 0:
            g = psi / self.s
            return np.array([np.interp(mean, self.x, gi) for gi in g.reshape(-1, g.shape[-1])]).reshape(g.shape[:-1])
        dens = np.exp(-((self.x - mean) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)
        with np.errstate(all="ignore"):
            weight = np.where(dens > 0, self.w * dens / self.s, 0.0)
        return psi @ weight

    def kernel(self, lags, initial=None):
        """K^(n)(tau_1..tau_n[; s_n]) at lags (L, n) (stationary) or (L, n + 1) with a start ``initial`` = (mean,
        var) of a Gaussian (var = 0: point mass; interpolated linearly, so only for checks near the grid)."""
        lags = np.atleast_2d(np.asarray(lags, dtype=float))
        n = lags.shape[1] - (initial is not None)
        psi = np.broadcast_to(self.s * self._f("f", self.x), (lags.shape[0], self.x.size))
        for j in range(n):
            psi = self._propagate(psi, lags[:, j]) @ self.B.T
            psi[:, 0] = psi[:, -1] = 0.0
        if initial is not None:
            psi = self._propagate(psi, lags[:, n])
        return self._expect(psi, initial)

    def predict(self, u, t, eps=1.0, initial=None, q=10):
        """E f(h_t) to order 2 in eps, by order ((3, len(t))), for the input u sampled at the times t (0 = t_0 <
        t_1 < ..., piecewise linear in between).  In the eigenbasis of H (b = V^-1 s f, C = V^-1 B V, W_0(s) =
        l0 V e^{-Lambda s}, l0 the start's functional), MATH.md section 3 in backward form:
        W_n(t) = int_0^t u(s) W_(n-1)(s) C e^{-Lambda (t - s)} ds, y_n(t) = W_n(t) b, each interval's integral by
        ``q``-point Gauss-Legendre (W_1 inside an interval from its own Gauss rule on [t_(i-1), s])."""
        t = np.asarray(t, dtype=float)
        u = np.asarray(u, dtype=float)
        lam, V, iV = self.lam, self.vec, self.ivec
        C = iV @ self.B[1:-1, 1:-1] @ V
        b = iV @ (self.s * self._f("f", self.x))[1:-1]
        if initial is None:
            ell = (self.w * self.s) / (self.w @ self.s**2)
        else:
            mean, var = initial
            dens = np.exp(-((self.x - mean) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)
            with np.errstate(all="ignore"):
                ell = np.where(dens > 0, self.w * dens / self.s, 0.0)
        r0 = ell[1:-1] @ V
        z, wz = np.polynomial.legendre.leggauss(q)

        def ui(s):
            return np.interp(s, t, u)

        def w0(s):  # (k, M) at the times s (k,)
            return r0 * np.exp(-np.multiply.outer(s, lam))

        def integral(source, a, b_):  # int_a^b source(s) e^{-lam (b - s)} ds, source (k,) -> (k, M)
            s_nodes = a + (b_ - a) * (z + 1) / 2
            vals = source(s_nodes) * np.exp(-np.multiply.outer(b_ - s_nodes, lam))
            return (b_ - a) / 2 * (wz @ vals)

        def w1_inside(W1a, a, s):  # W_1 at s in [a, b]: propagate W1(a) and integrate the source on [a, s]
            return W1a * np.exp(-(s - a) * lam) + integral(lambda r: ui(r)[:, None] * (w0(r) @ C), a, s)

        out = np.zeros((3, t.size))
        W1, W2 = np.zeros(lam.size), np.zeros(lam.size)
        out[0] = w0(t) @ b
        for i in range(1, t.size):
            a, e = t[i - 1], t[i]
            W1_new = W1 * np.exp(-(e - a) * lam) + integral(lambda r: ui(r)[:, None] * (w0(r) @ C), a, e)
            W2 = W2 * np.exp(-(e - a) * lam) + integral(
                lambda r, W1=W1, a=a: ui(r)[:, None] * (np.array([w1_inside(W1, a, rj) for rj in r]) @ C), a, e
            )
            W1 = W1_new
            out[1, i], out[2, i] = W1 @ b, W2 @ b
        return out * (eps ** np.arange(3))[:, None]

    def mean0(self, t, initial=None):
        """E_mu0 f(h^0_t) at the times t."""
        t = np.asarray(t, dtype=float)
        psi = np.broadcast_to(self.s * self._f("f", self.x), (t.size, self.x.size))
        return self._expect(self._propagate(psi, t), initial)


def spectral_1d(model, N=160, **options):
    """:class:`SpectralGenerator1D` of a 1-D volterra_sym model (first input, first readout), read off its
    expressions only."""
    (x,) = model.state
    return SpectralGenerator1D(x, model.drift[0], model.diffusion[0, 0], model.coupling[0, 0], model.readout[0], N=N,
                               **options)  # fmt: skip


def spectral_kernel(model, lags, initial=None, settings=((160, 60.0), (220, 80.0)), span=30.0):
    """K^(n) of a 1-D model at ``lags`` by the spectral oracle at the first (N, drop) of ``settings`` and its own
    error estimate, the largest change to the second (more points on a wider domain: resolution and truncation;
    for the models of the tests ~1e-13; models with power-law tails need a narrower drop, a wider span and more
    points, e.g. ((400, 35), (480, 40)), 400).  Gaussian starts wider than the stationary law are weighted by
    density / sqrt(rho_inf), which amplifies rounding in the tails: the change between the settings shows it."""
    values = [spectral_1d(model, N, drop=drop, span=span).kernel(lags, initial) for N, drop in settings]
    return values[0], float(np.max(np.abs(values[0] - values[1])))


HONESTY = 3.0  # the project's bar: a stated error may be exceeded by the true error at most 3x
LOOSENESS = 100.0  # ... and may not exceed it more than 100x (an estimate that large says nothing)


def check_stated_error(value, stated, truth, truth_error=0.0, what=""):
    """Assert that a route's stated error is honest against an independent reference: over the compared points,
    max |value - truth| <= HONESTY * (max stated + truth_error) (the reference's own error is charged at the same
    bar) and max stated <= LOOSENESS * (max |value - truth| + truth_error) + 1e-15 (not absurdly loose; truths
    below the reference's accuracy do not count against the estimate).  Returns true / stated."""
    true = float(np.max(np.abs(np.asarray(value) - np.asarray(truth))))
    stated = float(np.max(stated))
    assert true <= HONESTY * (stated + truth_error), f"{what}: true error {true:.3g} > 3 x stated {stated:.3g}"
    floor = 1e-15 * max(1.0, float(np.max(np.abs(truth))))  # rounding
    assert stated <= LOOSENESS * (true + truth_error) + floor, f"{what}: stated {stated:.3g} > 100 x true {true:.3g}"
    if os.environ.get("VS_PRINT_RATIOS"):  # measurement aid: print the figures the comments quote
        print(f"\n{what}: true {true:.3g} stated {stated:.3g} true/stated {true / stated if stated else np.inf:.3g}")
    return true / stated if stated else np.inf


# --------------------------------------------------------------------------- 2-D generator: finite differences


class FiniteDifference2D:
    """Stationary response kernels of a 2-D diffusion (one input, one readout) from the Fokker-Planck operator
    L0* nu = -div(phi nu) + 1/2 sum_ij d_i d_j (D_ij nu), L1* nu = -div(gamma nu) (MATH.md section 2), by
    fourth-order central differences on a uniform grid of spacing ``h`` over ``box`` = ((x_lo, x_hi), (y_lo,
    y_hi)) with nu = 0 outside (the densities decay like rho_inf, so the truncation error is of the order of
    the stationary mass outside the box).  Shares no code with volterra_sym: sympy for the coefficients,
    scipy.sparse for the numbers.  No detailed balance is assumed (non-gradient drifts are fine).

    rho_inf: the null vector of the discrete L0* (inverse iteration), normalised by the Riemann sum (spectrally
    accurate for smooth decaying functions on a uniform grid).  Kernels, by duality with MATH.md section 4,
    K^(n)(tau_1..tau_n) = sum h^2 f nu,  nu = P*_{tau_1} L1* P*_{tau_2} L1* ... P*_{tau_n} L1* rho_inf, with
    P*_tau = exp(tau L0*) applied by scipy.sparse.linalg.expm_multiply.  Error O(h^4): compare two spacings.
    """

    def __init__(self, state, drift, sigma, coupling, readout, box, h):
        import scipy.sparse as sps

        x, y = state
        sig = sp.Matrix(sigma)
        D = sig * sig.T
        (x0, x1), (y0, y1) = box
        self.gx = np.arange(x0, x1 + h / 2, h)
        self.gy = np.arange(y0, y1 + h / 2, h)
        self.h = h
        X, Y = np.meshgrid(self.gx, self.gy, indexing="ij")

        def grid(expr):
            fn = sp.lambdify((x, y), sp.sympify(expr), "numpy")
            return np.broadcast_to(np.asarray(fn(X, Y), dtype=float), X.shape).ravel()

        def d1(n):
            e = np.ones(n)
            return sps.diags([e[2:], -8 * e[1:], 8 * e[1:], -e[2:]], [-2, -1, 1, 2]) / (12 * h)

        def d2(n):
            e = np.ones(n)
            return sps.diags([-e[2:], 16 * e[1:], -30 * e, 16 * e[1:], -e[2:]], [-2, -1, 0, 1, 2]) / (12 * h**2)

        nx, ny = self.gx.size, self.gy.size
        Ix, Iy = sps.identity(nx), sps.identity(ny)
        Dx, Dy = sps.kron(d1(nx), Iy), sps.kron(Ix, d1(ny))
        Dxx, Dyy = sps.kron(d2(nx), Iy), sps.kron(Ix, d2(ny))
        diag = sps.diags
        self.L = (
            -Dx @ diag(grid(drift[0])) - Dy @ diag(grid(drift[1]))
            + 0.5 * (Dxx @ diag(grid(D[0, 0])) + 2 * (Dx @ Dy) @ diag(grid(D[0, 1])) + Dyy @ diag(grid(D[1, 1])))
        ).tocsc()  # fmt: skip
        self.B = (-Dx @ diag(grid(coupling[0])) - Dy @ diag(grid(coupling[1]))).tocsc()
        self.f = grid(readout)
        # rho_inf: inverse iteration on the (slightly leaky, so invertible) discrete L0*
        import scipy.sparse.linalg as spla

        lu = spla.splu(self.L)
        rho = np.exp(-0.5 * (X.ravel() ** 2 + Y.ravel() ** 2))
        for _ in range(3):
            rho = lu.solve(rho)
            rho /= rho.sum() * h**2
        self.rho = rho

    def expectation(self, g_values):
        """E_inf[g] for g given on the grid."""
        return float(np.sum(g_values * self.rho) * self.h**2)

    def kernel_point(self, x0, lags):
        """K^(n)(tau_1..tau_n; s_n) from the point start x0 (a grid node) at lags (L, n + 1): the same chain from
        the discrete delta, nu = P*_{s_n} delta_x0 first (the pairing with f is then the transposed, backward
        scheme applied to f at x0: fourth order as well)."""
        from scipy.sparse.linalg import expm_multiply

        i = int(np.argmin(np.abs(self.gx - x0[0])))
        j = int(np.argmin(np.abs(self.gy - x0[1])))
        if abs(self.gx[i] - x0[0]) > 1e-9 or abs(self.gy[j] - x0[1]) > 1e-9:
            raise ValueError("x0 must be a grid node")
        delta = np.zeros(self.f.size)
        delta[i * self.gy.size + j] = 1.0 / self.h**2
        lags = np.atleast_2d(np.asarray(lags, dtype=float))
        n = lags.shape[1] - 1
        out = np.empty(lags.shape[0])
        for k, row in enumerate(lags):
            nu = expm_multiply(row[n] * self.L, delta) if row[n] > 0 else delta
            for j in range(n - 1, -1, -1):
                nu = self.B @ nu
                nu = expm_multiply(row[j] * self.L, nu) if row[j] > 0 else nu
            out[k] = np.sum(self.f * nu) * self.h**2
        return out

    def predict(self, u, t, x0=None):
        """E f(h_t) by order 0..2 ((3, len(t))) for the input u sampled at t (piecewise linear in between), from
        the stationary law (x0 None) or the point start x0 (a grid node).  The hierarchy nu_0' = L0* nu_0,
        nu_n' = L0* nu_n + u(t) L1* nu_(n-1) (MATH.md section 3) is exact on each interval, where
        u = a + b sigma: with q_k = sigma^k nu_0 and w = sigma nu_1 the system
        q0' = L q0, q1' = q0 + L q1, q2' = 2 q1 + L q2, nu1' = L nu1 + B (a q0 + b q1),
        w' = nu1 + L w + B (a q1 + b q2), nu2' = L nu2 + B (a nu1 + b w) has constant coefficients: one
        expm_multiply of the 6-block matrix per interval."""
        import scipy.sparse as sps
        from scipy.sparse.linalg import expm_multiply

        t = np.asarray(t, dtype=float)
        u = np.asarray(u, dtype=float).reshape(t.size)
        size = self.f.size
        if x0 is None:
            nu0 = self.rho.copy()
        else:
            i = int(np.argmin(np.abs(self.gx - x0[0])))
            j = int(np.argmin(np.abs(self.gy - x0[1])))
            if abs(self.gx[i] - x0[0]) > 1e-9 or abs(self.gy[j] - x0[1]) > 1e-9:
                raise ValueError("x0 must be a grid node")
            nu0 = np.zeros(size)
            nu0[i * self.gy.size + j] = 1.0 / self.h**2
        L, B, Id = self.L, self.B, sps.identity(size, format="csc")
        state = np.concatenate([nu0, np.zeros(5 * size)])  # blocks: q0, q1, q2, nu1, w, nu2
        out = np.zeros((3, t.size))
        out[0, 0] = np.sum(self.f * nu0) * self.h**2
        for k in range(1, t.size):
            dt = t[k] - t[k - 1]
            a, b = u[k - 1], (u[k] - u[k - 1]) / dt
            Z = None
            M = sps.bmat(
                [
                    [L, Z, Z, Z, Z, Z],
                    [Id, L, Z, Z, Z, Z],
                    [Z, 2 * Id, L, Z, Z, Z],
                    [a * B, b * B, Z, L, Z, Z],
                    [Z, a * B, b * B, Id, L, Z],
                    [Z, Z, Z, a * B, b * B, L],
                ],
                format="csc",
            )
            start = np.concatenate([state[:size], np.zeros(2 * size), state[3 * size : 4 * size], np.zeros(size),
                                    state[5 * size :]])  # fmt: skip
            state = expm_multiply(dt * M, start)
            out[:, k] = [np.sum(self.f * state[blk * size : (blk + 1) * size]) * self.h**2 for blk in (0, 3, 5)]
        return out

    def kernel_diagonal(self, taus, n):
        """K^(n)(tau, ..., tau) for the equally spaced taus (tau_0 = 0 or any start, uniform step)."""
        from scipy.sparse.linalg import expm_multiply

        taus = np.asarray(taus, dtype=float)
        out = np.empty(taus.size)
        for i, tau in enumerate(taus):
            nu = self.rho
            for _ in range(n):
                nu = expm_multiply(tau * self.L, self.B @ nu) if tau > 0 else self.B @ nu
            out[i] = np.sum(self.f * nu) * self.h**2
        return out


def _uniform_propagate(L, v, taus):
    """exp(tau L) v for the equally spaced taus (one expm_multiply sweep), (len(taus), size)."""
    from scipy.sparse.linalg import expm_multiply

    taus = np.asarray(taus, dtype=float)
    if taus.size == 1:
        return expm_multiply(taus[0] * L, v)[None]
    return expm_multiply(L, v, start=taus[0], stop=taus[-1], num=taus.size, endpoint=True)


def finite_difference_kernel_grid(model, taus1, taus2, box, spacings=(0.2, 0.1)):
    """K^(1)(taus1) (taus2 None) or K^(2)(tau_1, tau_2) on the grid taus1 x taus2 (equally spaced each;
    shape (len(taus1), len(taus2))) of a 2-D stationary model, Richardson value and error as
    :func:`finite_difference_kernel_diagonal`."""
    values = []
    for h in spacings:
        fd = finite_difference_2d(model, box, h)
        if taus2 is None:
            nu = _uniform_propagate(fd.L, fd.B @ fd.rho, taus1)
            values.append(nu @ fd.f * h**2)
        else:
            inner = _uniform_propagate(fd.L, fd.B @ fd.rho, taus2)  # P*_{tau_2} L1* rho
            values.append(np.stack([_uniform_propagate(fd.L, fd.B @ v, taus1) @ fd.f * h**2 for v in inner], axis=1))
    coarse, fine = values
    return (16 * fine - coarse) / 15, float(np.max(np.abs(fine - coarse))) / 15


def finite_difference_kernel_diagonal(model, taus, n, box, spacings=(0.2, 0.1)):
    """K^(n)(tau, .., tau) of a 2-D stationary model (first input and readout) at equally spaced ``taus``: the
    Richardson value (16 K_(h/2) - K_h) / 15 of :class:`FiniteDifference2D` and, as its error, the estimated error
    of K_(h/2), |K_(h/2) - K_h| / 15 (conservative: the extrapolated value is of higher order)."""
    coarse, fine = (finite_difference_2d(model, box, h).kernel_diagonal(taus, n) for h in spacings)
    return (16 * fine - coarse) / 15, float(np.max(np.abs(fine - coarse))) / 15


def finite_difference_kernel_point(model, x0, lags, box, spacings=(0.2, 0.1)):
    """K^(n)(tau_1..tau_n; s_n) of a 2-D model from the point start x0 (a node of both grids) at lags (L, n + 1):
    Richardson value and error as :func:`finite_difference_kernel_diagonal`."""
    coarse, fine = (finite_difference_2d(model, box, h).kernel_point(x0, lags) for h in spacings)
    return (16 * fine - coarse) / 15, float(np.max(np.abs(fine - coarse))) / 15


def finite_difference_predict(model, u, t, box, x0=None, spacings=(0.2, 0.1)):
    """E f(h_t) by order 0..2 of a 2-D model (:meth:`FiniteDifference2D.predict`): Richardson value and error as
    :func:`finite_difference_kernel_diagonal`."""
    coarse, fine = (finite_difference_2d(model, box, h).predict(u, t, x0) for h in spacings)
    return (16 * fine - coarse) / 15, float(np.max(np.abs(fine - coarse))) / 15


_FD_CACHE: dict = {}


def finite_difference_2d(model, box, h):
    """:class:`FiniteDifference2D` of a model, built once per (model, box, h) in a test session."""
    key = (sp.srepr((tuple(model.drift), model.diffusion, model.coupling, tuple(model.readout))), box, h)
    if key not in _FD_CACHE:
        _FD_CACHE[key] = FiniteDifference2D(
            model.state, list(model.drift), model.diffusion.tolist(), list(model.coupling[:, 0]), model.readout[0],
            box, h,
        )  # fmt: skip
    return _FD_CACHE[key]
