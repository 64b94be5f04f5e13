"""Independent numerical references used by the tests (share no code with volterra_sym's kernels).

Trusted: numpy, scipy.linalg (expm, solve_continuous_lyapunov), Gauss-Hermite
quadrature, sympy differentiation/lambdify of the readout.
"""

from __future__ import annotations

import itertools

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
