"""Assembly of the Galerkin matrices B[g]_ij = <psi_i, g psi_j> for the model's coefficient functions.

Each coefficient g (a drift component phi_i, a diffusion entry D_ij, a coupling entry gamma_ik) is split into
sympy terms, and each term is integrated where it is cheapest and exact enough (Hermite bases in n >= 2):

* constants:  B[c] = c G;
* affine terms: B[x_i] = m_i G + sum_a L_ia J_a, with J_a = <psi, z_a psi> the exact (truncated) Jacobi matrix
  of the Hermite basis (J_a = D_a + D_a^T);
* ridge terms g(w . x + b) (e.g. tanh(W_i h + b_i) of an SRNN): rotate z so that the ridge direction
  L^T w is the first axis (y = R z); the Hermite space is rotation invariant, psi(z) = T psi(R z), so
  B = T B_y T^T where B_y is a 1-D integral m1[i, j] = int h_i h_j g N(0, 1) times Kronecker deltas in the
  other indices: one exact N x N change of basis per direction plus a 1-D quadrature converged to rounding,
  instead of an n-D tensor rule for a non-polynomial integrand;
* everything else, and G, c_f: the basis's own tensor rule.

Then the generator matrices M, Gamma_k, c_f, the initial functionals and the guards (spectrum, positivity).

In 1-D (or for the 1-D density basis) every term uses the basis's rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ...errors import ModelError, StationaryLawError, UnstableError
from ...model import Diffusion, Gaussian, PointMass, Stationary
from .analytic import is_constant, lambdify_matrix, polynomial_degree
from .basis import Basis, HermiteBasis, hermite_rule
from .weights import Weight

_CHUNK_BYTES = 64 * 2**20


@dataclass
class Split:
    """g = const + lin . x + sum_ridges + other."""

    const: float = 0.0
    lin: np.ndarray | None = None
    ridges: dict[tuple[float, ...], sp.Expr] = field(default_factory=dict)
    other: sp.Expr = sp.Integer(0)


@dataclass
class Plan:
    """What to integrate where: ``targets`` (name, Split), ``points`` of the basis's rule, ridge directions."""

    targets: list[tuple[str, Split]]
    points: int
    directions: dict[tuple[float, ...], np.ndarray]


def _ridge_direction(term: sp.Expr, state: tuple[sp.Symbol, ...]) -> np.ndarray | None:
    """w if ``term`` depends on x only through w . x (checked numerically on its gradient), else None."""
    w = None
    for sub in sp.preorder_traversal(term):
        if isinstance(sub, (sp.Function, sp.Pow)) and sub.has(*state):
            if isinstance(sub, sp.Pow) and sub.exp.is_Integer and sub.exp >= 0:
                continue
            for arg in sub.args:
                if arg.has(*state) and polynomial_degree(sp.Matrix([arg]), state) == 1:
                    w = np.array([float(sp.diff(arg, x)) for x in state])
                    break
            if w is not None:
                break
    if w is None or not np.any(w):
        return None
    try:
        grad = lambdify_matrix(sp.Matrix([sp.diff(term, x) for x in state]), state, "drift")
    except Exception:
        return None
    pts = np.random.default_rng(0).normal(size=(5, len(state)))
    g = grad(pts)[:, :, 0]
    u = w / np.linalg.norm(w)
    perp = g - np.outer(g @ u, u)
    if not np.all(np.isfinite(g)) or np.abs(perp).max() > 1e-10 * max(1.0, np.abs(g).max()):
        return None
    return w


def _split(expr: sp.Expr, state: tuple[sp.Symbol, ...], structured: bool, dirs: dict) -> Split:
    s = Split(lin=np.zeros(len(state)))
    for term in sp.Add.make_args(expr):
        if not term.has(*state):
            s.const += float(term)
            continue
        if structured:
            if polynomial_degree(sp.Matrix([term]), state) == 1:
                s.lin += np.array([float(sp.diff(term, x)) for x in state])
                s.const += float(term.subs(dict.fromkeys(state, 0)))
                continue
            w = _ridge_direction(term, state)
            if w is not None:
                u = w / np.linalg.norm(w)
                u = u * np.sign(u[np.nonzero(np.abs(u) > 1e-12)[0][0]])
                key = tuple(np.round(u, 12))
                dirs.setdefault(key, u)
                s.ridges[key] = s.ridges.get(key, sp.Integer(0)) + term
                continue
        s.other = s.other + term
    return s


def nonpolynomial_points(n: int, degree: int) -> int:
    """Gauss-Hermite nodes per axis for non-polynomial integrands: p + 16 (kernel quadrature error ~1e-9 at
    p = 10..14 in 2-D, measured against p + 60), p + 8 in 3 or more dimensions to bound the tensor size."""
    return degree + (16 if n <= 2 else 8)


def plan(model: Diffusion, degree: int, targets: list[tuple[str, sp.Expr]], structured: bool) -> Plan:
    """Split every target; choose the basis rule's nodes per axis (exact for polynomial leftovers)."""
    dirs: dict[tuple[float, ...], np.ndarray] = {}
    splits = [(name, _split(e, model.state, structured, dirs)) for name, e in targets]
    rest = [s.other for _, s in splits] + list(model.readout)
    deg = polynomial_degree(sp.Matrix(rest), model.state)
    points = nonpolynomial_points(model.n, degree) if deg is None else degree + 1 + (deg + 2) // 2
    return Plan(splits, points, dirs)


def _rotation(basis: HermiteBasis, u_x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """R (orthogonal, first row the unit ridge direction in z), T[alpha, gamma] = <psi_alpha(z), psi_gamma(R z)>.

    The degree-<= p Hermite space is invariant under rotations of N(0, I), so psi(z) = T psi(R z) exactly;
    T is computed with the tensor Gauss-Hermite rule of p + 1 nodes per axis (exact for degree <= 2 p + 1).
    Also returns |L^T u_x| (the ridge's scale in z).
    """
    n = basis.n
    v = basis.L.T @ u_x
    scale = float(np.linalg.norm(v))
    Q, _ = np.linalg.qr(np.column_stack([v / scale, np.eye(n)]))
    R = Q[:, :n].T
    if R[0] @ v < 0:
        R = -R
    q = basis.degree + 1
    z1, w1 = np.polynomial.hermite_e.hermegauss(q)
    w1 = w1 / w1.sum()
    T = np.zeros((basis.N, basis.N))
    chunk = max(1, _CHUNK_BYTES // (8 * basis.N * 4))
    for a in range(0, q**n, chunk):  # tensor rule in chunks: memory O(chunk N)
        idx = np.stack(np.unravel_index(np.arange(a, min(a + chunk, q**n)), (q,) * n), axis=1)
        zq, wq = z1[idx], np.prod(w1[idx], axis=1)
        T += (basis.values(zq) * wq[:, None]).T @ basis.values(zq @ R.T)
    return R, T, scale


def _ridge_1d(basis: HermiteBasis, R: np.ndarray, fn, name: str) -> np.ndarray:
    """m1[i, j] = int h_i(t) h_j(t) g(t) N(0, 1)(t) dt, g(t) the ridge term at z = t R[0], by a composite
    Gauss-Legendre rule on |t| <= sqrt(4 p + 2) + 12 (analytic integrand: converged to rounding)."""
    p = basis.degree
    edge = np.sqrt(4 * p + 2) + 12
    x, w = np.polynomial.legendre.leggauss(12)
    edges = np.linspace(-edge, edge, 81)
    half = 0.5 * np.diff(edges)
    t = (edges[:-1, None] + half[:, None] * (x[None, :] + 1)).reshape(-1)
    wt = (half[:, None] * w[None, :]).reshape(-1) * np.exp(-0.5 * t**2) / np.sqrt(2 * np.pi)
    g = _finite(fn(basis.to_x(t[:, None] * R[0][None, :]))[:, 0, 0], name)
    H = basis.univariate(t)
    return (H * (wt * g)[:, None]).T @ H


def _ridge_matrix(basis: HermiteBasis, T: np.ndarray, m1: np.ndarray) -> np.ndarray:
    """B = T B_y T^T with B_y[gamma, delta] = m1[gamma_1, delta_1] when the other indices agree, else 0."""
    al = basis.alphas
    N = al.shape[0]
    By = np.zeros((N, N))
    tails: dict[tuple[int, ...], list[int]] = {}
    for i, a in enumerate(al):
        tails.setdefault(tuple(a[1:]), []).append(i)
    for idx in tails.values():
        ix = np.array(idx)
        By[np.ix_(ix, ix)] = m1[np.ix_(al[ix, 0], al[ix, 0])]
    return T @ By @ T.T


def assemble(model: Diffusion, basis: Basis, pl: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """G (N, N), B (len(targets), N, N), c (p_out, N) = <psi, f>, and the number of quadrature nodes used."""
    st, N = model.state, basis.N
    T = len(pl.targets)
    G = np.zeros((N, N))
    B = np.zeros((T, N, N))
    cf = np.zeros((model.p, N))
    chunk = max(1, _CHUNK_BYTES // (8 * N * 4))
    general = [(i, s.other) for i, (_, s) in enumerate(pl.targets) if s.other != 0]
    fns = [(i, lambdify_matrix(sp.Matrix([e]), st, pl.targets[i][0])) for i, e in general]
    f_f = lambdify_matrix(model.readout, st, "readout")
    used = 0
    for Z, wq in basis.quadrature(chunk):
        X = basis.to_x(Z)
        Psi = basis.values(Z)
        Pw = Psi * wq[:, None]
        G += Pw.T @ Psi
        cf += (Pw.T @ f_f(X)[:, :, 0]).T
        for i, fn in fns:
            B[i] += (Pw * _finite(fn(X)[:, 0, 0], pl.targets[i][0])[:, None]).T @ Psi
        used += wq.size
    for key, u in pl.directions.items():
        R, Tm, _ = _rotation(basis, u)  # type: ignore[arg-type]
        for i, (name, sp_) in enumerate(pl.targets):
            if key in sp_.ridges:
                fn = lambdify_matrix(sp.Matrix([sp_.ridges[key]]), st, name)
                B[i] += _ridge_matrix(basis, Tm, _ridge_1d(basis, R, fn, name))  # type: ignore[arg-type]
        used += (basis.degree + 1) ** basis.n + 960
    Xs = [basis.mean[i] * G + sum(basis.L[i, a] * (basis.deriv[a] + basis.deriv[a].T) for a in range(basis.n))
          for i in range(basis.n)] if isinstance(basis, HermiteBasis) else []  # fmt: skip
    for i, (_, s) in enumerate(pl.targets):
        B[i] += s.const * G
        if s.lin is not None and np.any(s.lin):
            B[i] += sum(s.lin[j] * Xs[j] for j in range(basis.n) if s.lin[j])
    return G, B, cf, used


def _finite(v: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(v)):
        raise ModelError(
            f"{name}: non-finite values at quadrature nodes; the Galerkin route needs coefficients finite on the "
            "whole state space"
        )
    return v


def generator_matrices(num: Diffusion, basis: Basis, pl: Plan, pairs: list[tuple[int, int]]) -> tuple[Any, ...]:
    """G, M = G^-1 A, Gamma (m, N, N), c_f (p_out, N), max |G - I|, nodes used.

    A = sum_i B[phi_i] d_i + 1/2 sum_ij B[D_ij] d_i d_j with d_i = sum_a (L^-1)_ai D_a the x-derivatives on
    coefficients; Gamma_k = G^-1 sum_i B[gamma_ik] d_i (constant coupling: sum_a gamma^z_ak D_a, exact).
    """
    G, B, cf, n_nodes = assemble(num, basis, pl)
    N, n, m, st = basis.N, num.n, num.m, num.state
    D_const, g_const = is_constant(num.D, st), is_constant(num.coupling, st)
    gram_error = float(np.abs(G - np.eye(N)).max())
    eye = gram_error <= 1e-12  # orthonormal to rounding: G^-1 = I

    def ginv(X: np.ndarray) -> np.ndarray:
        return X if eye else np.linalg.solve(G, X)

    Li, Dm = basis.Linv, basis.deriv
    dx = [sum(Li[a, i] * Dm[a] for a in range(n)) for i in range(n)]  # d/dx_i on coefficients
    A = sum(B[i] @ dx[i] for i in range(n))
    if D_const:
        Dz = Li @ lambdify_matrix(num.D, st, "diffusion")(basis.mean[None, :])[0] @ Li.T
        A = A + G @ (0.5 * sum(Dz[a, b] * (Dm[a] @ Dm[b]) for a in range(n) for b in range(n)))
    else:
        for q, (i, j) in enumerate(pairs):
            A = A + (0.5 if i == j else 1.0) * B[n + q] @ (dx[i] @ dx[j])
    M = ginv(A)
    Gam = np.zeros((m, N, N))
    if g_const:
        gz = Li @ lambdify_matrix(num.coupling, st, "coupling")(basis.mean[None, :])[0]
        for k in range(m):
            Gam[k] = sum(gz[a, k] * Dm[a] for a in range(n))
    else:
        off = n + (0 if D_const else len(pairs))
        for k in range(m):
            Gam[k] = ginv(sum(B[off + i * m + k] @ dx[i] for i in range(n)))
    c_f = ginv(cf.T).T
    return G, M, Gam, c_f, gram_error, n_nodes


def initial_functionals(
    num: Diffusion, M: np.ndarray, G: np.ndarray, basis: Basis, w: Weight, degree: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(l, None) for the stationary start, (None, l0) for point-mass (psi(x0)) / Gaussian (E psi(X)) starts."""
    n = num.n
    init = num.initial
    l = l0 = None
    if isinstance(init, Stationary):
        l = stationary_functional(M, G, basis, w, degree)
    elif isinstance(init, PointMass):
        x0 = np.array(init.x0.evalf(), dtype=float).reshape(1, -1)
        l0 = basis.values(basis.to_z(x0))[0]
    elif isinstance(init, Gaussian):
        mean = np.array(init.mean.evalf(), dtype=float).reshape(-1)
        cov = np.array(init.cov.evalf(), dtype=float)
        vals_, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
        root = vecs * np.sqrt(np.clip(vals_, 0, None))
        zq, wq = hermite_rule(n, degree // 2 + 1)
        l0 = wq @ basis.values(basis.to_z(mean + zq @ root.T))
    return l, l0


def spectrum_guard(ev: np.ndarray, tol: float, degree: int, w: Weight) -> None:
    """UnstableError if an eigenvalue other than the zero mode has Re > tol * max(1, |lambda|_max)."""
    zero = int(np.argmin(np.abs(ev)))
    others = np.delete(ev, zero)
    thr = tol * max(1.0, float(np.abs(ev).max()))
    bad = others[others.real > thr]
    if bad.size:
        worst = bad[np.argsort(-bad.real)][:4]
        raise UnstableError(
            f"galerkin: the generator on the degree-{degree} basis has {bad.size} eigenvalue(s) with positive real "
            f"part besides the zero mode (largest {np.round(worst, 6).tolist()}), so its kernels would grow with the "
            f"lag. Weight: {w.describe()}. Either the weight does not match the law (use weight='pilot' or a "
            "Gaussian of the stationary law's mean and covariance; in 1-D weight='stationary-1d'), the degree is too "
            "low or too high for it (try degree +- 2), or the dynamics is unstable (no stationary law: use "
            "method='exact'/'taylor' or Monte Carlo)"
        )


def stationary_functional(M: np.ndarray, G: np.ndarray, basis: Basis, w: Weight, degree: int) -> np.ndarray:
    """l with l M = 0 and l . c_1 = 1 (c_1 = coefficients of the constant function), checked for positivity."""
    N = M.shape[0]
    c1 = np.linalg.solve(G, G[:, 0])  # psi_0 = 1
    K = np.zeros((N + 1, N + 1))
    K[:N, :N] = M.T
    K[:N, N] = c1
    K[N, :N] = c1
    rhs = np.zeros(N + 1)
    rhs[N] = 1.0
    try:
        sol = np.linalg.solve(K, rhs)
    except np.linalg.LinAlgError:
        sol = np.full(N + 1, np.nan)
    l = sol[:N]
    res = np.abs(l @ M).max() if np.all(np.isfinite(l)) else np.inf
    if not res <= 1e-8 * max(1.0, np.abs(M).max()) * max(1.0, np.abs(l).max()):
        raise StationaryLawError(
            f"galerkin: the degree-{degree} generator has no unique stationary functional (residual {res:.3g}); "
            "the zero eigenvalue is not simple. Change the weight or the degree, or use a point-mass start"
        )
    # positivity: the implied moment matrix E_l[psi_i psi_j] over degree <= p/2 must be positive semi-definite
    half = np.nonzero(basis.alphas.sum(axis=1) <= degree // 2)[0]
    rho = np.linalg.solve(G.T, l)
    H = np.zeros((half.size, half.size))
    chunk = max(1, _CHUNK_BYTES // (8 * N * 4))
    for Z, wq in basis.quadrature(chunk):
        Psi = basis.values(Z)
        H += (Psi[:, half] * (wq * (Psi @ rho))[:, None]).T @ Psi[:, half]
    eh = np.linalg.eigvalsh(0.5 * (H + H.T))
    if eh.min() < -1e-9 * max(1.0, eh.max()):
        raise StationaryLawError(
            f"galerkin: the stationary law implied by the degree-{degree} generator is not positive: E[g^2] = "
            f"{eh.min():.3g} < 0 for a polynomial g of degree <= {degree // 2}. Weight: {w.describe()}. "
            "Use a weight closer to the stationary law (weight='pilot', or 'stationary-1d' in 1-D) or another degree"
        )
    return l
