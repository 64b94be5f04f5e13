"""The numeric small-noise engine for networks of 16-256 units (SRNN structure, float64, O(n^3) per step).

For phi(h) = -Gamma h + a(W h + b), constant C and sigma, and a readout of degree <= 3
(f(h* + x) = f0 + f1.x + 1/2 x^T F2 x + 1/6 f'''[x, x, x] around h*; f''' constant, kept sparse as the
readout's cubic monomials: :class:`CubicReadout`), with z* = W h* + b and a_k = a^(k)(z*) (element-wise):

    J = -Gamma + diag(a_1) W = V diag(lambda) V^{-1},   J P + P J^T + D = 0 (solved in J's eigenbasis),
    phi''[x, y] = a_2 * (W x) * (W y),   phi'''[x, y, w] = a_3 * (W x)(W y)(W w),
    m* = -J^{-1} phi''[P] / 2,   phi''[P] = a_2 * diag(W P W^T),
    K^(0) = f0 + f1.m* + 1/2 tr(F2 P).

K^(1)_k(tau) is the readout DY[X(tau)] of the linearised (a, dP, dm) system of ``terms.py`` started at
G_k(X*) = (C_k, 0, 0) (input outside; for the state-dependent channel couplings of ``SRNN(..., input="inside")``,
MATH.md section 11, G_k(X*) = (g0, diag(g1) W P + (.)^T, g1 * (W m*) + 1/2 g2 * diag(W P W^T)) with
gamma_k(h*) = g0, D gamma_k = diag(g1) W, gamma_k''[x, y] = g2 * (W x) * (W y): :class:`ChannelCoupling`):

    a(t)  = e^{J t} C_k                                   (closed form in the eigenbasis; g0 for a channel)

    dP'   = J dP + dP J^T + B(t),  B = diag(a_2 * W a) W P + (.)^T
    dm'   = J dm + diag(l) W a + 1/2 a_2 * q(t),   q = diag(W dP W^T),   l = a_2 * (W m*) + 1/2 a_3 * diag(W P W^T)
    K^(1) = (f1 + F2 m* + 1/2 f'''[.][P]).a + f1.dm + 1/2 tr(F2 dP)       (noise_order 0: f1.a)

(the moment system's readout Y = f(h) + f'(h).m + 1/2 f''(h)[P], differentiated at X*; f'''[.][P]_a =
sum_bc f'''_abc P_bc, O(monomials)).  The a-part is exact.  The (dP, dm) part is integrated on a uniform grid
t_j = j dt: dP_{j+1} = E dP_j E^T + dt sum_g w_g E_g B(t_j + u_g) E_g^T (E = e^{J dt}, E_g = e^{J (dt - u_g)},
three-point Gauss-Legendre nodes u_g: order 6), six n x n products per step and no n^4 array; dm in J's eigenbasis,
y_p' = lambda_p y_p + sigma_p(t), by exponential integration of a degree-5 local interpolant of sigma at the
grid nodes (weights int_0^1 e^{z (1 - x)} l_i(x) dx, z = lambda dt, by 16-point Gauss-Legendre).  Values at
other lags: degree-5 local interpolation on the grid.  Error estimate: the same computation at step 2 dt,
|fine - coarse| at the lags (the fine result's error is about 1/32 of it for these orders).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ...errors import ModelError
from ...model.structure import NetworkStructure
from ...validate import refusal
from .local import ALTERNATIVES

#: eigenbasis refused above this condition number of V (a nearly defective J)
MAX_CONDITION = 1e6
#: lags beyond this many slowest relaxation times carry no s^2 part (it is below e^{-60} of its size there)
MAX_RELAXATION_TIMES = 60.0
#: most time steps of one grid (memory (steps, n) and time (steps) x n^3; a nearly neutral mode needs many)
MAX_GRID_STEPS = 100_000
#: interpolation stencil (points) of the dm source and of the lag interpolation
STENCIL = 6
GL3_X = np.array([0.5 - np.sqrt(15) / 10, 0.5, 0.5 + np.sqrt(15) / 10])
GL3_W = np.array([5.0, 8.0, 5.0]) / 18.0
_GL16_X, _GL16_W = np.polynomial.legendre.leggauss(16)
_GL16_X, _GL16_W = 0.5 * (_GL16_X + 1.0), 0.5 * _GL16_W


@dataclass(frozen=True)
class CubicReadout:
    """Taylor data at h* of a readout of degree <= 3: f(h* + x) = f0 + f1.x + 1/2 x^T F2 x + 1/6 f'''[x, x, x].

    f0 float, f1 (n,), F2 (n, n).  The third derivative (constant) is kept sparse, as the readout's cubic
    monomials sum_t c3_t h_i h_j h_k ((i, j, k) = idx3[t]; c3 (T,), idx3 (T, 3)), so f'''[x, y, w] = sum_t c3_t
    sum over the 6 orderings (i', j', k') of (i, j, k) of x_i' y_j' w_k'.  Contractions with a symmetric
    matrix M need only its entries at the index pairs ``pairs`` (Q, 2) (``select``); ``slots`` (T, 3) are the
    positions in ``pairs`` of (j, k), (i, k), (i, j).  Every contraction costs O(T) (``third_matrix``: O(n^2 + T)).
    """

    f0: float
    f1: np.ndarray
    F2: np.ndarray
    c3: np.ndarray = field(default_factory=lambda: np.zeros(0))
    idx3: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=int))
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=int))
    slots: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=int))

    @property
    def cubic(self) -> bool:
        """The readout has a cubic part (f''' != 0)."""
        return bool(np.any(self.c3))

    def select(self, M: np.ndarray) -> np.ndarray:
        """The entries of M (..., n, n) at ``pairs``: (..., Q)."""
        return M[..., self.pairs[:, 0], self.pairs[:, 1]]

    def third_vector(self, M: np.ndarray) -> np.ndarray:
        """f'''[.][M]: g_a = sum_bc f'''_abc M_bc for a symmetric M (n, n) -> (n,):
        sum_t 2 c3_t (e_i M_jk + e_j M_ik + e_k M_ij)."""
        g = np.zeros(self.f1.size)
        sel = self.select(M)
        for s in range(3):
            np.add.at(g, self.idx3[:, s], 2.0 * self.c3 * sel[self.slots[:, s]])
        return g

    def third_matrix(self, x: np.ndarray) -> np.ndarray:
        """f'''[x] = sum_c f'''_abc x_c (n, n) for x (n,)."""
        n = self.f1.size
        M = np.zeros((n, n))
        i, j, k = self.idx3.T
        for p, q, r in ((i, j, k), (i, k, j), (j, k, i)):
            np.add.at(M, (p, q), self.c3 * x[r])
            np.add.at(M, (q, p), self.c3 * x[r])
        return M

    def third_on(self, a: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """f'''[a][M] for vectors a (..., n) and symmetric M given by its entries ``sel`` = select(M) (..., Q)
        -> (...,): sum_t 2 c3_t (a_i M_jk + a_j M_ik + a_k M_ij)."""
        out = np.zeros(a.shape[:-1])
        for s in range(3):
            out += (a[..., self.idx3[:, s]] * sel[..., self.slots[:, s]]) @ (2.0 * self.c3)
        return out


@dataclass(frozen=True)
class ReadoutPolynomial:
    """One readout component as a polynomial of degree <= 3 in the state, parsed once: f(h) = c0 + g.h +
    1/2 h^T F h + sum_t c3_t h_i h_j h_k (g (n,), F (n, n) symmetric, c3 (T,), idx3 (T, 3))."""

    c0: float
    g: np.ndarray
    F: np.ndarray
    c3: np.ndarray
    idx3: np.ndarray

    def at(self, h: np.ndarray) -> CubicReadout:
        """The Taylor data at h: f1 = g + F h + 1/2 f'''[h] h, F2 = F + f'''[h] (exact: degree <= 3)."""
        T = self.c3.size
        i, j, k = self.idx3.T
        pairs, slots = np.zeros((0, 2), dtype=int), np.zeros((0, 3), dtype=int)
        if T:
            keys = np.sort(np.concatenate([np.stack([j, k], 1), np.stack([i, k], 1), np.stack([i, j], 1)]), axis=1)
            pairs, inv = np.unique(keys, axis=0, return_inverse=True)
            slots = inv.reshape(3, T).T
        base = CubicReadout(0.0, np.zeros(h.size), self.F, self.c3, self.idx3, pairs, slots)
        M = base.third_matrix(h)
        cube = float(self.c3 @ (h[i] * h[j] * h[k])) if T else 0.0
        f0 = float(self.c0 + self.g @ h + 0.5 * h @ self.F @ h + cube)
        return CubicReadout(f0, self.g + self.F @ h + 0.5 * M @ h, self.F + M, self.c3, self.idx3, pairs, slots)


def readout_polynomials(model: Any) -> list[ReadoutPolynomial] | str:
    """The readout components as polynomials of degree <= 3 in the state; otherwise a description of the first
    component that is not one (for the refusal)."""
    st = list(model.state)
    n = len(st)
    out = []
    where = {s: i for i, s in enumerate(st)}
    for c, f in enumerate(model.readout.xreplace(model.params)):
        used = [s for s in st if s in f.free_symbols]  # a Poly in all n states costs O(n) per term: only these
        if f.free_symbols - set(used):
            return f"component {c} ({f}) has symbols other than the state"
        try:
            poly = sp.Poly(f, *used) if used else None
        except sp.PolynomialError:
            return f"component {c} ({f}) is not a polynomial"
        if poly is not None and poly.total_degree() > 3:
            return f"component {c} ({f}) has degree {poly.total_degree()}"
        c0, g, F, c3, idx3 = 0.0, np.zeros(n), np.zeros((n, n)), [], []
        for mon, coef in poly.terms() if poly is not None else [((), f)]:
            val = float(coef)
            idx = [where[used[i]] for i, e in enumerate(mon) for _ in range(e)]
            if not idx:
                c0 += val
            elif len(idx) == 1:
                g[idx[0]] += val
            elif len(idx) == 2:
                i, j = idx
                F[i, j] += val if i != j else 2 * val
                if i != j:
                    F[j, i] += val
            else:
                c3.append(val)
                idx3.append(idx)
        out.append(ReadoutPolynomial(c0, g, F, np.array(c3, dtype=float), np.array(idx3, dtype=int).reshape(-1, 3)))
    return out


@dataclass
class NetworkPoint:
    """The network at its fixed point h* (module docstring).  Shapes: h, z, a1..a4, m, l, qP (n,);
    J, V, Vi, D, P, WP (n, n); lam (n,) complex."""

    h: np.ndarray
    z: np.ndarray
    a1: np.ndarray
    a2: np.ndarray
    a3: np.ndarray
    a4: np.ndarray
    J: np.ndarray
    lam: np.ndarray
    V: np.ndarray
    Vi: np.ndarray
    condition: float
    D: np.ndarray
    P: np.ndarray
    lyapunov_residual: float
    WP: np.ndarray
    qP: np.ndarray
    m: np.ndarray
    l: np.ndarray
    noise: bool

    @property
    def eigenvalues(self) -> np.ndarray:
        return self.lam


def network_point(S: NetworkStructure, h: np.ndarray, noise: bool) -> NetworkPoint:
    """Everything of the module docstring at h (``noise=False``: P = m* = 0)."""
    n = h.size
    z = S.W @ h + S.b
    a1, a2, a3, a4 = S.a(z, 1), S.a(z, 2), S.a(z, 3), S.a(z, 4)
    J = -S.Gamma + a1[:, None] * S.W
    lam, V = np.linalg.eig(J)
    if not np.all(np.isfinite(lam)) or np.max(lam.real) >= 0:
        raise ModelError(
            f"model: the Jacobian at the fixed point has an eigenvalue with Re >= 0 ({lam[np.argmax(lam.real)]:.4g}); "
            f"the small-noise expansion needs a stable fixed point; {ALTERNATIVES}"
        )
    cond = float(np.linalg.cond(V))
    if not np.isfinite(cond) or cond > MAX_CONDITION:
        raise ModelError(
            f"model: the Jacobian at h* is (nearly) defective (eigenvector condition number {cond:.3g} > "
            f"{MAX_CONDITION:g}), which the numeric engine of method='small_noise' (n > 6) does not handle; "
            f"{ALTERNATIVES}"
        )
    Vi = np.linalg.inv(V)
    D = S.sigma @ S.sigma.T
    if noise:
        X = -(Vi @ D @ Vi.T) / (lam[:, None] + lam[None, :])
        P = (V @ X @ V.T).real
        P = 0.5 * (P + P.T)
    else:
        P = np.zeros((n, n))
    res = float(np.linalg.norm(J @ P + P @ J.T + D)) / max(float(np.linalg.norm(D)), 1e-300) if noise else 0.0
    WP = S.W @ P
    qP = np.einsum("ij,ij->i", WP, S.W)
    m = -np.linalg.solve(J, 0.5 * a2 * qP) if noise else np.zeros(n)
    l = a2 * (S.W @ m) + 0.5 * a3 * qP
    return NetworkPoint(h, z, a1, a2, a3, a4, J, lam, V, Vi, cond, D, P, res, WP, qP, m, l, noise)


def readout_gradient(r: CubicReadout, pt: NetworkPoint, noise: bool) -> np.ndarray:
    """The coefficient of the a-block in DY: f1 + F2 m* + 1/2 f'''[.][P] (noise) or f1 (noise_order 0)."""
    if not noise:
        return r.f1
    return r.f1 + r.F2 @ pt.m + (0.5 * r.third_vector(pt.P) if r.cubic else 0.0)


def readout_hessian(r: CubicReadout, pt: NetworkPoint, noise: bool) -> np.ndarray:
    """The (a, a) block of D^2Y: F2 + f'''[m*] (noise) or F2 (noise_order 0)."""
    return r.F2 + r.third_matrix(pt.m) if noise and r.cubic else r.F2


def lagrange(x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Lagrange basis l_i(x) on ``nodes``: (len(x), len(nodes))."""
    out = np.ones((x.size, nodes.size))
    for i, xi in enumerate(nodes):
        for j, xj in enumerate(nodes):
            if i != j:
                out[:, i] *= (x - xj) / (xi - xj)
    return out


def etd_weights(z: np.ndarray) -> np.ndarray:
    """w[d, p, i] = int_0^1 e^{z_p (1 - x)} l_i(x) dx for the stencil nodes arange(STENCIL) - d (d = 0..STENCIL-2)."""
    E = np.exp(np.outer(z, 1.0 - _GL16_X))  # (n, 16)
    out = []
    for d in range(STENCIL - 1):
        L = lagrange(_GL16_X, np.arange(STENCIL, dtype=float) - d)  # (16, S)
        out.append((E * _GL16_W) @ L)
    return np.array(out)


def stencil(x: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    """First node j0 (L,) and weights (L, STENCIL) of the degree-5 local interpolation at x = t / dt on the
    nodes 0..N: f(t) ~ sum_i w[:, i] f_{j0 + i}."""
    j0 = np.clip(np.floor(x).astype(int) - (STENCIL // 2 - 1), 0, N - STENCIL + 1)
    w = np.ones((x.size, STENCIL))
    for i in range(STENCIL):
        for j in range(STENCIL):
            if i != j:
                w[:, i] *= (x - j0 - j) / (i - j)
    return j0, w


def interpolate(G: np.ndarray, dt: float, lags: np.ndarray) -> np.ndarray:
    """Degree-5 local interpolation of grid values G (..., N + 1) at t_j = j dt to ``lags`` (L,) -> (..., L)."""
    j0, w = stencil(lags / dt, G.shape[-1] - 1)
    out = np.zeros(G.shape[:-1] + (lags.size,))
    for i in range(STENCIL):
        out += G[..., j0 + i] * w[:, i]
    return out


def interpolate_rows(G: np.ndarray, dt: float, t: np.ndarray) -> np.ndarray:
    """The same with time first: G (N + 1, ...) at times t (L,) -> (L, ...)."""
    j0, w = stencil(t / dt, G.shape[0] - 1)
    out = np.zeros((t.size,) + G.shape[1:], dtype=G.dtype)
    for i in range(STENCIL):
        out += G[j0 + i] * w[:, i].reshape((-1,) + (1,) * (G.ndim - 1))
    return out


def etd_solve(
    sigma: np.ndarray, lam: np.ndarray, dt: float, wts: np.ndarray | None = None, y0: np.ndarray | None = None
) -> np.ndarray:
    """y' = lambda y + sigma(t), y(0) = y0 (default 0), in J's eigenbasis: sigma (N + 1, n) complex at the grid nodes ->
    y (N + 1, n), by exact exponential integration of the degree-5 local interpolant of sigma (module
    docstring; ``wts``: etd_weights(lam dt) when the caller has them)."""
    N = sigma.shape[0] - 1
    wts = etd_weights(lam * dt) if wts is None else wts  # (S - 1, n, S)

    decay = np.exp(lam * dt)
    j = np.arange(N)
    start = np.clip(j - (STENCIL // 2 - 1), 0, N - STENCIL + 1)
    inc = np.zeros((N, lam.size), dtype=complex)
    for d in range(STENCIL - 1):
        sel = (j - start) == d
        if np.any(sel):
            stack = np.stack([sigma[start[sel] + i] for i in range(STENCIL)], axis=-1)  # (L, n, S)
            inc[sel] = dt * np.einsum("ps,lps->lp", wts[d], stack)
    y = np.zeros((N + 1, lam.size), dtype=complex)
    if y0 is not None:
        y[0] = y0
    for i in range(N):
        y[i + 1] = decay * y[i] + inc[i]
    return y


@dataclass
class Trajectory:
    """X_k(t_j) = Phi(t_j) G_k(X*) on the grid t_j = j dt (j = 0..N), as the second-order sources use it:
    ``c`` = V^{-1} gamma_k(h*) (a(t) = V e^{lambda t} c, closed form); ``m`` = dm, ``Wm`` = W dm, ``q`` =
    diag(W dP W^T) (N + 1, n); ``WdP`` = W dP(t_j) (N + 1, n, n) and ``WPE[g]`` = W dP(t_j) E_g^T
    (3, N + 1, n, n), E_g = e^{J dt (1 - u_g)} (empty when not recorded or at noise_order 0); ``Psel[c]`` =
    CubicReadout.select(dP(t_j)) (N + 1, Q_c) per readout component with a cubic part (None otherwise; an empty
    list: dP = 0)."""

    dt: float
    c: np.ndarray
    m: np.ndarray
    Wm: np.ndarray
    q: np.ndarray
    WdP: np.ndarray
    WPE: np.ndarray
    Psel: list[np.ndarray | None] = field(default_factory=list)


@dataclass(frozen=True)
class ChannelCoupling:
    """The input coupling of one channel at h*: gamma(h*) = g0, D gamma = diag(g1) W, gamma''[x, y] =
    g2 * (W x) * (W y), gamma'''[x, y, w] = g3 * (W x) * (W y) * (W w) (all (n,)).  Input outside: g0 = C_k,
    the rest 0; input inside, channel alpha of degree d = |alpha| (MATH.md section 11): gamma_alpha(h) =
    a^(d)(W h + b) * c_alpha, c_alpha = prod_k C_k^alpha_k / alpha!, so g_j = a^(d + j)(z*) * c_alpha."""

    g0: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    g3: np.ndarray

    @property
    def constant(self) -> bool:
        return not (np.any(self.g1) or np.any(self.g2) or np.any(self.g3))

    def start(self, pt: NetworkPoint, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (P, m) blocks of G(X*): (dP0, dm0) = (Dgamma P + P Dgamma^T, Dgamma m* + 1/2 gamma''[P])."""
        T = self.g1[:, None] * pt.WP
        return T + T.T, self.g1 * (W @ pt.m) + 0.5 * self.g2 * pt.qP


def activation_derivative(S: NetworkStructure, z: np.ndarray, d: int) -> np.ndarray:
    """a^(d)(z) element-wise for any d >= 0 (beyond the structure's 4 by symbolic differentiation, once)."""
    if d <= 4:
        return S.a(z, d)
    if S.activation == "identity":
        return np.zeros_like(z)
    x = sp.Symbol("x")
    expr = sp.tanh(x) if S.activation == "tanh" else 1 / (1 + sp.exp(-x))
    return np.asarray(sp.lambdify(x, sp.diff(expr, x, d), "numpy")(z), dtype=float) * np.ones_like(z)


def channel_couplings(
    S: NetworkStructure, pt: NetworkPoint, alphas: list[tuple[int, ...]] | None
) -> list[ChannelCoupling]:
    """The couplings of the model's inputs (``alphas`` None: input outside, gamma = C) or channels."""
    n = pt.h.size
    zero = np.zeros(n)
    if alphas is None:
        return [ChannelCoupling(S.C[:, k].copy(), zero, zero, zero) for k in range(S.C.shape[1])]
    out = []
    for alpha in alphas:
        d = sum(alpha)
        c = np.ones(n)
        for k, e in enumerate(alpha):
            c = c * S.C[:, k] ** e / math.factorial(e)
        g = [activation_derivative(S, pt.z, d + j) * c for j in range(4)]
        out.append(ChannelCoupling(*g))
    return out


@dataclass
class FirstOrderGrid:
    """s^2 part of K^(1)_k on a uniform grid: values G (components, N + 1) at t_j = j dt; ``trajectory``
    when recorded."""

    dt: float
    G: np.ndarray
    trajectory: Trajectory | None = None


def expJ(pt: NetworkPoint, x: float) -> np.ndarray:
    """e^{J x} (real)."""
    return ((pt.V * np.exp(pt.lam * x)) @ pt.Vi).real


def correction_grid(
    S: NetworkStructure,
    pt: NetworkPoint,
    coupling: ChannelCoupling,
    readouts: list[CubicReadout],
    dt: float,
    N: int,
    record: bool = False,
) -> FirstOrderGrid:
    """f1.dm(t_j) + 1/2 tr(F2 dP(t_j)) for j = 0..N (module docstring; a cubic readout adds nothing here: its
    f'''[.][P] term enters the closed-form a-part), one input (``coupling``; started at
    G(X*) = (g0, dP0, dm0)) (``record``: also the :class:`Trajectory`)."""
    W, lam, V, Vi = S.W, pt.lam, pt.V, pt.Vi
    n = lam.size
    c = Vi @ coupling.g0
    t = dt * np.arange(N + 1)
    A = ((np.exp(np.outer(t, lam)) * c) @ V.T).real  # a(t_j), (N + 1, n)
    E = expJ(pt, dt)
    Eg = [expJ(pt, dt * (1.0 - x)) for x in GL3_X]
    WFg = [W @ expJ(pt, dt * x) for x in GL3_X]
    M = np.vstack([pt.WP @ e.T for e in Eg])  # (3n, n)
    Dg = [dt * w * pt.a2 * (A[:-1] @ wf.T) for w, wf in zip(GL3_W, WFg)]  # (N, n) each
    dP, dm0 = coupling.start(pt, W)
    q = np.zeros((N + 1, n))
    tr2 = np.zeros((len(readouts), N + 1))
    F2 = [r.F2 for r in readouts]
    quadratic = [bool(np.any(F)) for F in F2]
    Psel = [np.zeros((N + 1, r.pairs.shape[0])) if record and r.cubic else None for r in readouts]
    WPE = np.zeros((3, N + 1, n, n)) if record else np.zeros((3, 0, n, n))
    WdPs = np.zeros((N + 1, n, n)) if record else np.zeros((0, n, n))
    WdP = W @ dP
    q[0] = np.einsum("ij,ij->i", WdP, W)
    for c_, F in enumerate(F2):
        tr2[c_, 0] = np.sum(F * dP)
    if record:
        WdPs[0] = WdP
        for g in range(3):
            WPE[g, 0] = WdP @ Eg[g].T
        for r, sel in zip(readouts, Psel):
            if sel is not None:
                sel[0] = r.select(dP)
    for j in range(N):
        src = np.hstack([Eg[g] * Dg[g][j][None, :] for g in range(3)]) @ M
        dP = E @ dP @ E.T + src + src.T
        WdP = W @ dP
        q[j + 1] = np.einsum("ij,ij->i", WdP, W)
        if record:
            WdPs[j + 1] = WdP
            for g in range(3):
                WPE[g, j + 1] = WdP @ Eg[g].T
            for r, sel in zip(readouts, Psel):
                if sel is not None:
                    sel[j + 1] = r.select(dP)
        for c_, F in enumerate(F2):
            if quadratic[c_]:
                tr2[c_, j + 1] = np.sum(F * dP)
    sigma = (pt.l * (A @ W.T) + 0.5 * pt.a2 * q) @ Vi.T  # (N + 1, n) complex
    y = etd_solve(sigma, lam, dt, y0=Vi @ dm0)
    G = np.stack([(y @ (V.T @ r.f1)).real + 0.5 * tr2[c_] for c_, r in enumerate(readouts)])
    traj = None
    if record:
        m = (y @ V.T).real
        traj = Trajectory(dt, c, m, m @ W.T, q, WdPs, WPE, Psel)
    return FirstOrderGrid(dt, G, traj)


@dataclass
class NumericExpansion:
    """K^(0) and K^(1) of an SRNN network by the numeric engine (module docstring), both noise orders.

    ``tol``: relative accuracy target of the time integration (sets dt = c / max |lambda|).
    """

    S: NetworkStructure
    pt: NetworkPoint
    readouts: list[CubicReadout]
    couplings: list[ChannelCoupling]
    tol: float = 1e-6
    _grids: dict[int, tuple[float, FirstOrderGrid, FirstOrderGrid]] = field(default_factory=dict)

    @property
    def time_step(self) -> float:
        """dt = c / max|lambda|, c = min(0.3, (200 tol)^(1/6) / 2): the degree-5 interpolation error of rates
        up to 2 max|lambda| is about (2 max|lambda| dt)^6 / 200 per unit of the source."""
        kappa = float(np.max(np.abs(self.pt.lam)))
        return float(min(0.3, max(0.01, (200.0 * self.tol) ** (1 / 6) / 2)) / kappa)

    def mean(self, c: int, noise: bool) -> float:
        """K^(0) = f0 + f1.m* + 1/2 tr(F2 P) (noise_order 0: f0)."""
        r = self.readouts[c]
        if not noise:
            return r.f0
        return float(r.f0 + r.f1 @ self.pt.m + 0.5 * np.sum(r.F2 * self.pt.P))

    def leading(self, k: int, c: int, lags: np.ndarray, noise: bool) -> np.ndarray:
        """The closed-form part: (f1 + F2 m*).e^{J tau} gamma_k(h*) (noise) or f1.e^{J tau} gamma_k(h*)."""
        r, pt = self.readouts[c], self.pt
        fa = readout_gradient(r, pt, noise)
        coef = (pt.V.T @ fa) * (pt.Vi @ self.couplings[k].g0)
        return (np.exp(np.outer(lags, pt.lam)) @ coef).real

    def _grid(self, k: int, horizon: float) -> tuple[float, FirstOrderGrid, FirstOrderGrid]:
        cached = self._grids.get(k)
        if cached is not None and cached[0] >= horizon:
            return cached
        dt = self.time_step
        N = max(4 * STENCIL, int(np.ceil(horizon / dt)))
        if N > MAX_GRID_STEPS:
            lam = self.pt.lam
            raise refusal(
                "lags",
                f"the numeric engine of method='small_noise' would need {N} time steps to reach lag "
                f"{horizon:.4g} (slowest rate {-np.max(lam.real):.3g} against max |lambda| {np.max(np.abs(lam)):.3g}, "
                f"limit {MAX_GRID_STEPS}): ask for shorter lags or a larger tol; {ALTERNATIVES}",
            )
        N += N % 2
        dt = horizon / N if horizon > 0 else dt
        g = self.couplings[k]
        fine = correction_grid(self.S, self.pt, g, self.readouts, dt, N)
        coarse = correction_grid(self.S, self.pt, g, self.readouts, 2 * dt, N // 2)
        self._grids[k] = (horizon, fine, coarse)
        return self._grids[k]

    def first_order(self, k: int, c: int, lags: np.ndarray, noise: bool) -> tuple[np.ndarray, float]:
        """K^(1)_k at lags (L,) for readout component c, and the estimated max |error| of the numerical
        integration (0 for noise_order 0, which is closed form)."""
        lead = self.leading(k, c, lags, noise)
        if not noise or not (np.any(self.pt.a2) or np.any(self.pt.a3) or not self.couplings[k].constant):
            return lead, 0.0

        # beyond MAX_RELAXATION_TIMES slowest relaxation times the s^2 part is below e^{-60} of its size: 0
        cut = MAX_RELAXATION_TIMES / float(-np.max(self.pt.lam.real))
        inside = lags <= cut
        horizon = float(np.max(lags[inside])) if np.any(inside) else 0.0
        cached = self._grids.get(k)
        _, fine, coarse = self._grid(k, max(horizon, cached[0] if cached else 0.0, 1e-9))
        gf, gc = np.zeros(lags.size), np.zeros(lags.size)
        gf[inside] = interpolate(fine.G[c], fine.dt, lags[inside])
        gc[inside] = interpolate(coarse.G[c], coarse.dt, lags[inside])
        return lead + gf, float(np.max(np.abs(gf - gc))) if lags.size else 0.0


def channel_alphas(names: Any, m: int) -> list[tuple[int, ...]] | None:
    """Multi-indices from channel names ``u1``, ``u1^2``, ``u1*u2`` (model/input_channels.py); None when a name
    does not parse."""
    out = []
    for name in names:
        alpha = [0] * m
        for part in str(name).split("*"):
            base, _, power = part.partition("^")
            if not base.startswith("u") or not base[1:].isdigit() or not 1 <= int(base[1:]) <= m:
                return None
            alpha[int(base[1:]) - 1] += int(power) if power.isdigit() else 1
        out.append(tuple(alpha))
    return out


#: a NoisyRNN's per-unit step d within this relative distance of eps counts as eps (float32 rounding)
SCALE_TOL = 1e-6


def channel_network(model: Any) -> tuple[NetworkStructure, list[tuple[int, ...]]] | None:
    """The network behind the channel model of ``SRNN(..., input="inside")`` or of ``vs.from_noisy_rnn`` (with
    a per-unit step d equal to eps) (MATH.md section 11): its matrices (from the model's meta, with numeric
    values) and the channels' multi-indices, checked against the channel model's coupling at a random state
    (the formula of :class:`ChannelCoupling`); None otherwise."""
    meta = model.meta
    if meta.get("input") != "inside" or "input_channels" not in meta:
        return None
    gap = 0.0
    try:
        if meta.get("kind") == "SRNN" and meta.get("activation") in ("identity", "tanh", "sigmoid"):
            Gamma, W, b, C = (
                np.array(sp.Matrix(meta[key]).xreplace(model.params).evalf(), dtype=float)
                for key in ("Gamma", "W", "b", "C")
            )
            activation = str(meta["activation"])
        elif meta.get("kind") == "NoisyRNN":  # vs.from_noisy_rnn: alpha A^T h + tanh(W^T h + E u + E_b)
            hyper = meta["hyperparameters"]
            scale = np.asarray(meta["d"], dtype=float) / float(hyper["eps"]) if hyper["solver"] == "noisy" else 1.0
            # a per-unit step d != eps scales each unit's drift, which is not -Gamma h + a(W h + b + C u); a step
            # equal to eps up to float32 rounding (d stored by torch) is read as eps: the drift then differs by
            # that relative amount (<= SCALE_TOL), far below the expansion's and the integration's errors
            gap = float(np.max(np.abs(scale - 1.0)))
            if gap > SCALE_TOL:
                return None
            Gamma = -float(hyper["alpha"]) * np.asarray(meta["A"], dtype=float).T
            W, b = np.asarray(meta["W"], dtype=float).T, np.asarray(meta["E_b"], dtype=float)
            C, activation = np.asarray(meta["E"], dtype=float), "tanh"
        else:
            return None
        sigma = np.array(model.diffusion.xreplace(model.params).evalf(), dtype=float)
    except (TypeError, ValueError, KeyError):
        return None
    S = NetworkStructure(Gamma, W, b.reshape(-1), C.reshape(Gamma.shape[0], -1), sigma, activation, input="inside")
    alphas = channel_alphas(meta["input_channels"], C.shape[1])
    if alphas is None or len(alphas) != model.m:
        return None
    h = np.random.default_rng(0).standard_normal(S.n) * 0.3
    at = dict(zip(model.state, (sp.Float(float(x), 17) for x in h)))
    z = W @ h + S.b
    for j, alpha in enumerate(alphas):
        c = np.prod([C[:, k] ** e / math.factorial(e) for k, e in enumerate(alpha)], axis=0)
        want = activation_derivative(S, z, sum(alpha)) * c
        got = np.array([float(e.xreplace(model.params).xreplace(at)) for e in model.coupling[:, j]])
        if not np.allclose(got, want, rtol=1e-10 + 2 * gap, atol=1e-12):
            return None
    return S, alphas


def check_network(S: NetworkStructure | None, readouts: list[ReadoutPolynomial] | str, n: int) -> None:
    """Refuse what the numeric engine does not cover (one sentence each, naming the alternative); ``readouts``
    from :func:`readout_polynomials`."""
    if S is None:
        raise ModelError(
            f"model: the numeric engine of method='small_noise' (n = {n}; used for n > 6 or engine='numeric') needs an "
            "SRNN network with numeric arrays (phi(h) = -Gamma h + a(W h + b), constant C and sigma), found none; "
            + ALTERNATIVES
        )
    if isinstance(readouts, str):
        raise refusal(
            "readout",
            f"{readouts}, but the numeric engine of method='small_noise' (n > 6) takes readouts that are "
            f"polynomials of degree <= 3 in the state; {ALTERNATIVES}",
        )
