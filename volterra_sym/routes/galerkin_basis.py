"""Reference weights, quadratures and orthonormal polynomial bases of the Galerkin route (MATH.md s. 9).

A basis is a set of polynomials psi_1..psi_N of total degree <= p in whitened coordinates
z = L^-1 (x - mean) (L L^T = cov of the weight), orthonormal for a *discrete* reference measure
(nodes z_q, weights w_q, sum w_q = 1): every Galerkin inner product <a, b> = sum_q w_q a(z_q) b(z_q)
is then an exact finite sum, and the derivative operators d/dz_a are exact N x N matrices on the
coefficients (polynomials are closed under differentiation).

Two bases:

* :class:`HermiteBasis` -- weight N(mean, cov): products of normalised probabilists' Hermite
  polynomials h_k(z) = He_k(z)/sqrt(k!), tensor Gauss-Hermite nodes pruned where
  w_q * max_alpha psi_alpha(z_q)^2 < 1e-18 (their contribution to any Gram entry is below that).
* :class:`DensityBasis1D` -- 1-D weight given by nodes and probabilities (the stationary density
  on a composite Gauss-Legendre rule): orthonormal polynomials by Arnoldi (Vandermonde with
  Arnoldi, full re-orthogonalisation), replayed at any other point by the same recurrence.

Weights are chosen from the model by :func:`choose_weight`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ..errors import (
    ArgumentError,
    GridError,
    MissingDependencyError,
    ModelError,
    NotAnalyticError,
    NotNormalisableError,
    UnstableError,
    describe,
)
from ..model import Diffusion, Gaussian, PointMass

# --------------------------------------------------------------------------- numeric model functions

_NOT_ANALYTIC = (
    sp.Abs,
    sp.Heaviside,
    sp.sign,
    sp.Piecewise,
    sp.Max,
    sp.Min,
    sp.floor,
    sp.ceiling,
    sp.frac,
    sp.DiracDelta,
    sp.re,
    sp.im,
    sp.arg,
)


def check_analytic(model: Diffusion) -> None:
    """Raise NotAnalyticError naming the first non-analytic sub-expression of drift/noise/coupling/readout."""
    for name, mat in (
        ("drift", model.drift),
        ("diffusion", model.diffusion),
        ("coupling", model.coupling),
        ("readout", model.readout),
    ):
        for i, expr in enumerate(mat):
            bad = [a for a in sp.preorder_traversal(expr) if isinstance(a, _NOT_ANALYTIC)]
            bad = bad or _singular_parts(expr, model.state)
            if bad:
                raise NotAnalyticError(
                    f"{name}[{i}] = {expr}: contains the non-analytic expression {bad[0]} (not smooth, or singular "
                    "where the state can be); the Galerkin route needs coefficients analytic on the whole state "
                    "space (polynomial bases converge only for smooth functions); use a smooth surrogate "
                    "(e.g. tanh(k*x) for sign(x)) or Monte Carlo (vs.simulate_response)"
                )


#: functions with poles or branch points on the real line
_SINGULAR_FUNCTIONS = (sp.tan, sp.cot, sp.sec, sp.csc, sp.coth, sp.csch, sp.atanh, sp.acoth, sp.asin, sp.acos)


def _singular_parts(expr: sp.Expr, state: tuple[sp.Symbol, ...]) -> list[sp.Expr]:
    """Sub-expressions that can be singular for real states: poles/branch points of tan, log, ...; negative or
    fractional powers and logarithms of a state-dependent base not provably positive for every real state."""
    real = {x: sp.Dummy(x.name, real=True) for x in state}
    out: list[sp.Expr] = []
    for a in sp.preorder_traversal(expr):
        if not isinstance(a, sp.Expr) or not a.has(*state):
            continue
        if isinstance(a, _SINGULAR_FUNCTIONS):
            out.append(a)
        elif isinstance(a, sp.log) and a.args[0].xreplace(real).is_positive is not True:
            out.append(a)
        elif isinstance(a, sp.Pow) and a.base.has(*state):
            e = a.exp
            if (e.is_integer and e.is_nonnegative) or a.base.xreplace(real).is_positive is True:
                continue
            out.append(a)
    return out


def lambdify_matrix(mat: sp.Matrix, state: tuple[sp.Symbol, ...], where: str) -> Callable[[np.ndarray], np.ndarray]:
    """Vectorised numeric version of a sympy matrix: X (Q, n) -> values (Q, rows, cols)."""
    stray = mat.free_symbols - set(state)
    if stray:
        raise ModelError(f"{where}: symbol(s) {sorted(map(str, stray))} have no numeric value; pass params=")
    rows, cols = mat.shape
    fns = [[sp.lambdify(state, mat[i, j], modules="numpy") for j in range(cols)] for i in range(rows)]

    def entry(i: int, j: int, args: list[np.ndarray]) -> Any:
        try:
            return fns[i][j](*args)
        except (NameError, TypeError, AttributeError):  # functions numpy lacks (erf, ...): mpmath, pointwise
            slow = sp.lambdify(state, mat[i, j], modules="mpmath")
            return np.array([float(slow(*p)) for p in zip(*args)])

    def fn(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        out = np.empty((X.shape[0], rows, cols))
        args = [X[:, a] for a in range(X.shape[1])]
        with np.errstate(all="ignore"):
            for i in range(rows):
                for j in range(cols):
                    out[:, i, j] = entry(i, j, args)
        return out

    return fn


def is_constant(mat: sp.Matrix, state: tuple[sp.Symbol, ...]) -> bool:
    """True when no entry depends on the state."""
    return not (mat.free_symbols & set(state))


def polynomial_degree(mat: sp.Matrix, state: tuple[sp.Symbol, ...]) -> int | None:
    """Largest total degree of the entries in the state, or None if some entry is not a polynomial."""
    deg = 0
    for e in mat:
        e = sp.expand(e)
        if not e.free_symbols & set(state):
            continue
        if not e.is_polynomial(*state):
            return None
        deg = max(deg, sp.Poly(e, *state).total_degree())
    return deg


def require_scipy() -> Any:
    """The scipy package, or a VolterraError saying how to install the optional extra."""
    try:
        import scipy.linalg  # noqa: F401
        import scipy.sparse.linalg  # noqa: F401
    except ImportError:
        raise MissingDependencyError("method='galerkin' needs scipy: pip install 'volterra_sym[galerkin]'") from None
    import scipy

    return scipy


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True, eq=False)
class Weight:
    """A reference weight w of the Galerkin inner product.

    kind : ``"gaussian"`` (N(mean, cov)) or ``"density-1d"`` (discrete 1-D measure ``nodes``, ``probs``).
    mean : (n,), cov : (n, n) -- for ``density-1d`` the moments of the measure (used for whitening).
    source : how it was chosen (``"user"``, ``"linearisation"``, ``"pilot"``, ``"stationary-1d"``).
    """

    kind: str
    mean: np.ndarray
    cov: np.ndarray
    source: str
    nodes: np.ndarray | None = None
    probs: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for reports: kind, source, mean and standard deviations."""
        sd = np.sqrt(np.diag(self.cov))
        what = "Gaussian" if self.kind == "gaussian" else "stationary density (1-D)"
        return f"{what} from {self.source}: mean {np.round(self.mean, 4).tolist()}, sd {np.round(sd, 4).tolist()}"


def gaussian_weight(mean: Any, cov: Any, n: int, source: str = "user") -> Weight:
    """A Gaussian weight N(mean, cov), checked: shapes (n,), (n, n); cov symmetric positive definite."""
    m = np.asarray(mean, dtype=float).reshape(-1)
    S = np.asarray(cov, dtype=float)
    if S.ndim == 0 or S.size == 1:
        S = np.eye(n) * float(S.reshape(-1)[0]) if n > 1 else S.reshape(1, 1)
    if m.shape != (n,) or S.shape != (n, n):
        raise ArgumentError(
            f"weight: a Gaussian weight needs mean of shape ({n},) and cov ({n}, {n}), received {m.shape}, {S.shape}"
        )
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(S))):
        raise ArgumentError(f"weight: mean and cov must be finite, received mean {m.tolist()}, cov {S.tolist()}")
    S = 0.5 * (S + S.T)
    ev = np.linalg.eigvalsh(S)
    if ev.min() <= 1e-12 * max(1.0, ev.max()):
        raise ArgumentError(
            f"weight: the Gaussian weight covariance must be positive definite, received eigenvalues {ev.tolist()}; "
            "give a covariance of full rank (e.g. the stationary covariance of a pilot simulation)"
        )
    return Weight("gaussian", m, S, source)


def choose_weight(model: Diffusion, weight: Any = None, *, seed: int = 0) -> Weight:
    """Resolve ``weight=`` into a :class:`Weight` (``model`` numeric).

    weight :
        None -- default: ``"stationary-1d"`` in 1-D; ``"linearisation"`` for an affine drift with constant
        noise (exact stationary Gaussian); ``"pilot"`` otherwise.
        ``"stationary-1d"`` -- the 1-D stationary density rho ∝ D^-1 exp(int 2 phi / D) itself.
        ``"linearisation"`` -- N(x*, S) with x* a stable fixed point (Newton from 0) and S solving the
        Lyapunov equation J S + S J^T + D(x*) = 0, J = D phi(x*).
        ``"pilot"`` -- mean and covariance of a short seeded Euler simulation of the unperturbed dynamics.
        ``("gaussian", mean, cov)`` -- given explicitly.  A :class:`Weight` is returned unchanged.
    """
    n = model.n
    if isinstance(weight, Weight):
        if weight.mean.shape != (n,):
            raise ArgumentError(f"weight: a Weight of dimension {weight.mean.shape[0]} for a model of dimension {n}")
        return weight
    if weight is None:
        if n == 1:
            weight = "stationary-1d"
        elif polynomial_degree(model.drift, model.state) in (0, 1) and is_constant(model.D, model.state):
            weight = "linearisation"
        else:
            weight = "pilot"
    if isinstance(weight, tuple) and len(weight) == 3 and weight[0] == "gaussian":
        return gaussian_weight(weight[1], weight[2], n)
    if weight == "stationary-1d":
        if n != 1:
            raise ArgumentError(f"weight: 'stationary-1d' needs a 1-D model, this one has dimension {n}; use 'pilot'")
        return stationary_weight_1d(model)
    if weight == "linearisation":
        return linearisation_weight(model)
    if weight == "pilot":
        return pilot_weight(model, seed=seed)
    raise ArgumentError(
        f"weight: expected None, 'stationary-1d', 'linearisation', 'pilot', ('gaussian', mean, cov) or a Weight, "
        f"received {describe(weight)}"
    )


def _jacobian(model: Diffusion) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    phi = lambdify_matrix(model.drift, model.state, "drift")
    jac = lambdify_matrix(model.drift.jacobian(sp.Matrix(model.state)), model.state, "drift")
    return (lambda x: phi(x[None, :])[0, :, 0]), (lambda x: jac(x[None, :])[0])


def linearisation_weight(model: Diffusion) -> Weight:
    """N(x*, S): x* a fixed point of phi found by Newton from 0, S the Lyapunov covariance at x*."""
    phi, jac = _jacobian(model)
    x = np.zeros(model.n)
    for _ in range(100):
        J = jac(x)
        try:
            dx = np.linalg.solve(J, -phi(x))
        except np.linalg.LinAlgError:
            break
        x = x + dx
        if np.linalg.norm(dx) < 1e-13 * (1 + np.linalg.norm(x)):
            break
    J = jac(x)
    if not np.all(np.isfinite(x)) or np.linalg.norm(phi(x)) > 1e-8 * (1 + np.linalg.norm(x)):
        raise UnstableError(
            "weight='linearisation': Newton's method found no fixed point of the drift from h = 0; "
            "use weight='pilot' or weight=('gaussian', mean, cov)"
        )
    ev = np.linalg.eigvals(J)
    if ev.real.max() >= 0:
        raise UnstableError(
            f"weight='linearisation': the drift's Jacobian at the fixed point {x.tolist()} has eigenvalues "
            f"{np.round(ev, 6).tolist()} (not all Re < 0), so the linearisation has no stationary Gaussian; "
            "use weight='pilot' or weight=('gaussian', mean, cov) (no stationary law if the dynamics is unstable)"
        )
    D = lambdify_matrix(model.D, model.state, "diffusion")(x[None, :])[0]
    n = model.n
    # J S + S J^T = -D as a Kronecker system (n is small)
    K = np.kron(np.eye(n), J) + np.kron(J, np.eye(n))
    S = np.linalg.solve(K, -D.reshape(-1, order="F")).reshape(n, n, order="F")
    return gaussian_weight(x, 0.5 * (S + S.T), n, source="linearisation")


def pilot_weight(model: Diffusion, *, seed: int = 0, paths: int = 2000, time: float = 30.0) -> Weight:
    """Gaussian weight from the moments of a short seeded Euler-Maruyama run of the unperturbed dynamics.

    ``paths`` paths start at the initial law's mean (0 for a stationary start), run for ``time`` with a
    step from the drift's Jacobian there, and are pooled over 20 snapshots of the last third.
    """
    # Duplicated on purpose (not volterra_sym.checks.simulate): the route stays independent of the checks.
    n = model.n
    phi = lambdify_matrix(model.drift, model.state, "drift")
    sig = lambdify_matrix(model.diffusion, model.state, "diffusion")
    sig_const = is_constant(model.diffusion, model.state)
    init = model.initial
    x0 = np.zeros(n)
    if isinstance(init, PointMass):
        x0 = np.array(init.x0.evalf(), dtype=float).reshape(-1)
    elif isinstance(init, Gaussian):
        x0 = np.array(init.mean.evalf(), dtype=float).reshape(-1)
    _, jac = _jacobian(model)
    rad = float(np.abs(np.linalg.eigvals(jac(x0))).max())
    dt = min(0.01, 0.05 / max(rad, 1e-12))
    steps = int(math.ceil(time / dt))
    rng = np.random.default_rng(seed)
    X = np.tile(x0, (paths, 1))
    snaps = []
    snap_every = max(1, steps // 60)
    s0 = sig(X[:1])[0]  # used when the noise is constant
    with np.errstate(all="ignore"):
        for i in range(steps):
            dW = rng.standard_normal((paths, model.r)) * math.sqrt(dt)
            noise = dW @ s0.T if sig_const else np.einsum("qij,qj->qi", sig(X), dW)
            X = X + phi(X)[:, :, 0] * dt + noise
            if i >= steps - 20 * snap_every and (steps - 1 - i) % snap_every == 0:
                snaps.append(X.copy())
    Y = np.concatenate(snaps)
    # a stationary law keeps its spread over the last third; a diverging one grows (2000 paths: sd to ~3%)
    with np.errstate(all="ignore"):
        first, last = np.std(snaps[0], axis=0), np.std(snaps[-1], axis=0)
        growing = bool(np.any(last > 2.0 * first + 1e-12)) and float(np.max(np.abs(snaps[-1]))) > 1e3
    if not np.all(np.isfinite(Y)) or np.abs(Y).max() > 1e8 or growing:
        with np.errstate(all="ignore"):
            where = f" (at t = {time:g} its mean is {np.round(snaps[-1].mean(axis=0), 3).tolist()}, still growing)"
        raise UnstableError(
            "model: the unperturbed dynamics diverges: the pilot simulation that chooses the Galerkin weight ran "
            f"away{where if np.all(np.isfinite(snaps[-1])) else ''}, so there is no stationary law (an unstable "
            "drift?). Check the parameters (e.g. the sign of Gamma); for an unstable model from a point start use "
            "method='exact'/'taylor'"
        )
    return gaussian_weight(Y.mean(axis=0), np.cov(Y.T).reshape(n, n), n, source=f"pilot (seed {seed})")


def stationary_weight_1d(
    model: Diffusion, *, drop: float | None = None, panels: int = 48, per_panel: int = 20
) -> Weight:
    """The 1-D stationary density rho ∝ D^-1 exp(int 2 phi / D) on a composite Gauss-Legendre rule.

    The domain is where log rho is within ``drop`` (default 200) of its maximum; 2 phi / D is
    integrated through a Chebyshev interpolant of degree 400 (1600 if needed; its coefficient tail is checked).
    """
    (h,) = model.state
    phi = lambdify_matrix(model.drift, model.state, "drift")
    Dm = lambdify_matrix(model.D, model.state, "diffusion")

    def g(x: np.ndarray) -> np.ndarray:
        return 2 * phi(x[:, None])[:, 0, 0] / Dm(x[:, None])[:, 0, 0]

    drop = 200.0 if drop is None else drop
    lo, hi = -1.0, 1.0
    for _ in range(40):
        x = np.linspace(lo, hi, 8001)
        Dx = Dm(x[:, None])[:, 0, 0]
        if np.any(~np.isfinite(Dx)) or np.any(Dx <= 0):
            raise ModelError(f"diffusion: D = sigma^2 must be > 0 on the state space, found {Dx.min():.3g}")
        gx = g(x)
        lr = np.concatenate([[0.0], np.cumsum(0.5 * (gx[1:] + gx[:-1]) * np.diff(x))]) - np.log(Dx)
        top = lr.max()
        ok_lo, ok_hi = lr[0] < top - drop, lr[-1] < top - drop
        if ok_lo and ok_hi:
            break
        width = hi - lo
        lo, hi = (lo if ok_lo else lo - width), (hi if ok_hi else hi + width)
        if width > 1e7:
            break
    if not (lr[0] < top - drop and lr[-1] < top - drop):
        raise NotNormalisableError(
            f"weight='stationary-1d': the stationary density D^-1 exp(int 2 phi/D) of drift {model.drift[0]} does "
            "not fall by e^-200 within |h| < 1e7: either there is no normalisable stationary law, or its tails are "
            "heavy (power laws), so high polynomial moments do not exist; the polynomial Galerkin basis needs a "
            "stable drift with light tails (use Monte Carlo otherwise)"
        )
    keep = np.nonzero(lr >= top - drop)[0]
    lo, hi = x[max(keep[0] - 1, 0)], x[min(keep[-1] + 1, x.size - 1)]
    for deg in (400, 1600):
        cheb = np.polynomial.chebyshev.Chebyshev.interpolate(g, deg, domain=[lo, hi])
        tail = np.abs(cheb.coef[-20:]).max() / max(np.abs(cheb.coef).max(), 1e-300)
        if tail < 1e-13:
            break
    else:
        raise GridError(
            f"weight='stationary-1d': 2 phi / D is not resolved by a Chebyshev interpolant of degree 1600 on "
            f"[{lo:.4g}, {hi:.4g}] (relative tail {tail:.1e}); use weight='pilot' or a Gaussian weight"
        )
    prim = cheb.integ()
    t, w = np.polynomial.legendre.leggauss(per_panel)
    edges = np.linspace(lo, hi, panels + 1)
    half = 0.5 * np.diff(edges)
    nodes = (edges[:-1, None] + half[:, None] * (t[None, :] + 1)).reshape(-1)
    wq = (half[:, None] * w[None, :]).reshape(-1)
    logr = prim(nodes) - np.log(Dm(nodes[:, None])[:, 0, 0])
    probs = wq * np.exp(logr - logr.max())
    probs /= probs.sum()
    mean = float(probs @ nodes)
    var = float(probs @ (nodes - mean) ** 2)
    return Weight(
        "density-1d",
        np.array([mean]),
        np.array([[var]]),
        "stationary-1d",
        nodes=nodes,
        probs=probs,
        info={"domain": (float(lo), float(hi)), "nodes": nodes.size},
    )


# --------------------------------------------------------------------------- bases


def multi_indices(n: int, degree: int) -> np.ndarray:
    """All alpha in N^n with |alpha| <= degree, graded (constant first): shape (N, n)."""
    out = []
    for d in range(degree + 1):
        for c in itertools.combinations_with_replacement(range(n), d):
            a = [0] * n
            for i in c:
                a[i] += 1
            out.append(a)
    return np.array(out, dtype=int).reshape(-1, n)


def basis_size(n: int, degree: int) -> int:
    """N = C(n + p, n)."""
    return math.comb(n + degree, n)


class Basis:
    """Orthonormal polynomial basis in whitened coordinates z = L^-1 (x - mean).

    alphas : (N, n) multi-indices (graded; psi_0 = 1).  deriv : list of n arrays (N, N),
    coefficients of d/dz_a g are ``deriv[a] @ c``.  ``values(z)`` -> (Q, N).
    ``quadrature(chunk)`` yields (z (q, n), w (q,)) blocks of the reference measure.
    """

    n: int
    degree: int
    alphas: np.ndarray
    deriv: list[np.ndarray]
    mean: np.ndarray
    L: np.ndarray
    Linv: np.ndarray
    n_nodes: int

    @property
    def N(self) -> int:
        return self.alphas.shape[0]

    def to_z(self, X: np.ndarray) -> np.ndarray:
        """Whitened coordinates of points X (Q, n)."""
        return (np.asarray(X, dtype=float) - self.mean) @ self.Linv.T

    def to_x(self, Z: np.ndarray) -> np.ndarray:
        return self.mean + Z @ self.L.T

    def values(self, Z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def quadrature(self, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError


def _whitening(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    L = np.linalg.cholesky(cov)
    return L, np.linalg.inv(L)


class HermiteBasis(Basis):
    """psi_alpha(z) = prod_i h_{alpha_i}(z_i), h_k = He_k / sqrt(k!), orthonormal for N(mean, cov).

    Quadrature: tensor Gauss-Hermite with ``points`` nodes per axis (exact for polynomial integrands of
    degree <= 2 points - 1 in each variable), pruned as described in the module docstring.
    """

    def __init__(self, weight: Weight, degree: int, points: int):
        self.n = weight.mean.size
        self.degree = degree
        self.alphas = multi_indices(self.n, degree)
        self.mean = weight.mean
        self.L, self.Linv = _whitening(weight.cov)
        index = {tuple(a): i for i, a in enumerate(self.alphas)}
        N = self.alphas.shape[0]
        self.deriv = []
        for a in range(self.n):
            Da = np.zeros((N, N))
            for j, al in enumerate(self.alphas):
                if al[a] > 0:
                    lower = al.copy()
                    lower[a] -= 1
                    Da[index[tuple(lower)], j] = math.sqrt(al[a])
            self.deriv.append(Da)
        z, w = np.polynomial.hermite_e.hermegauss(points)
        w = w / w.sum()
        bound = (self.univariate(z) ** 2).max(axis=1)  # max_k h_k(z)^2 per node
        logs = np.log(w) + np.log(bound)
        grids = np.meshgrid(*([np.arange(points)] * self.n), indexing="ij")
        idx = np.stack([g.reshape(-1) for g in grids], axis=1)
        keep = logs[idx].sum(axis=1) >= math.log(1e-18)
        self._idx = idx[keep]
        self._z1, self._w1 = z, w
        self.n_nodes = int(self._idx.shape[0])
        self.points = points

    def univariate(self, z: np.ndarray) -> np.ndarray:
        """h_k(z) for k = 0..degree: shape z.shape + (degree + 1,)."""
        z = np.asarray(z, dtype=float)
        H = np.empty(z.shape + (self.degree + 1,))
        H[..., 0] = 1.0
        if self.degree >= 1:
            H[..., 1] = z
        for k in range(1, self.degree):
            H[..., k + 1] = (z * H[..., k] - math.sqrt(k) * H[..., k - 1]) / math.sqrt(k + 1)
        return H

    def values(self, Z: np.ndarray) -> np.ndarray:
        Z = np.asarray(Z, dtype=float).reshape(-1, self.n)
        out = np.ones((Z.shape[0], self.N))
        for a in range(self.n):
            out *= self.univariate(Z[:, a])[:, self.alphas[:, a]]
        return out

    def quadrature(self, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for s in range(0, self.n_nodes, chunk):
            idx = self._idx[s : s + chunk]
            yield self._z1[idx], np.prod(self._w1[idx], axis=1)


class DensityBasis1D(Basis):
    """Orthonormal polynomials for a discrete 1-D measure (Vandermonde with Arnoldi).

    p_0 = 1, p_{k+1} = (z p_k - sum_{j<=k} H_jk p_j) / H_{k+1,k}; the same recurrence evaluates the
    basis (and its derivative) at any point.
    """

    def __init__(self, weight: Weight, degree: int):
        if weight.nodes is None or weight.probs is None:
            raise ArgumentError("weight: a 'density-1d' weight needs nodes and probabilities")
        self.n = 1
        self.degree = degree
        self.alphas = np.arange(degree + 1).reshape(-1, 1)
        self.mean = weight.mean
        self.L, self.Linv = _whitening(weight.cov)
        z = (weight.nodes - self.mean[0]) * self.Linv[0, 0]
        q = weight.probs
        if np.count_nonzero(q > 1e-300) <= degree + 1:
            raise ArgumentError(f"degree: {degree} needs more quadrature nodes than the weight has ({q.size})")
        N = degree + 1
        V = np.zeros((z.size, N))
        H = np.zeros((N, N))
        V[:, 0] = 1.0
        for k in range(degree):
            v = z * V[:, k]
            for _ in range(2):
                c = V[:, : k + 1].T @ (q * v)
                v = v - V[:, : k + 1] @ c
                H[: k + 1, k] += c
            H[k + 1, k] = math.sqrt(float(q @ v**2))
            V[:, k + 1] = v / H[k + 1, k]
        self._H = H
        self._z, self._q = z, q
        self.n_nodes = z.size
        Psi, dPsi = self._eval(z)
        self.deriv = [Psi.T @ (q[:, None] * dPsi)]

    def _eval(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.asarray(z, dtype=float).reshape(-1)
        N, H = self.degree + 1, self._H
        P = np.zeros((z.size, N))
        dP = np.zeros((z.size, N))
        P[:, 0] = 1.0
        for k in range(N - 1):
            P[:, k + 1] = (z * P[:, k] - P[:, : k + 1] @ H[: k + 1, k]) / H[k + 1, k]
            dP[:, k + 1] = (P[:, k] + z * dP[:, k] - dP[:, : k + 1] @ H[: k + 1, k]) / H[k + 1, k]
        return P, dP

    def values(self, Z: np.ndarray) -> np.ndarray:
        return self._eval(np.asarray(Z, dtype=float).reshape(-1))[0]

    def quadrature(self, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for s in range(0, self.n_nodes, chunk):
            yield self._z[s : s + chunk, None], self._q[s : s + chunk]


def make_basis(weight: Weight, degree: int, points: int) -> Basis:
    """The orthonormal basis of total degree <= ``degree`` for ``weight`` (``points`` Gauss-Hermite nodes per axis)."""
    if weight.kind == "density-1d":
        return DensityBasis1D(weight, degree)
    return HermiteBasis(weight, degree, points)


def hermite_rule(n: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss-Hermite rule for N(0, I_n): nodes (points^n, n), weights summing to 1."""
    z, w = np.polynomial.hermite_e.hermegauss(points)
    w = w / w.sum()
    grids = np.meshgrid(*([np.arange(points)] * n), indexing="ij")
    idx = np.stack([g.reshape(-1) for g in grids], axis=1)
    return z[idx], np.prod(w[idx], axis=1)
