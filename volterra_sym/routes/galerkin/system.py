"""Numerical core of the Galerkin (Koopman-generator) route (MATH.md section 9, issue 11).

On an orthonormal polynomial basis psi_1..psi_N (total degree <= p, weight w; see basis.py, weights.py) with
<a, b> = int a b w evaluated by an exact quadrature (assembly.py):

    G_ij = <psi_i, psi_j>,   A_ij = <psi_i, L0 psi_j>,   M = G^-1 A           (L0 g ~ M c_g)
    Gamma_k = G^-1 <psi_i, L1^k psi_j>,   c_f = G^-1 <psi, f>

Constant coefficients give B[c] = c G exactly, so the route is exact for linear SRNNs with polynomial
readouts of degree <= p.  Initial functional: stationary start -> l with l M = 0, l . c_1 = 1; point mass ->
l0 = psi(x0); Gaussian -> l0 = E[psi(X)] (Gauss-Hermite, exact).  Kernels (triangular convention, tau_1 the
most recent lag; s only for non-stationary starts):

    K^(n)_{k_1..k_n}(tau_1..tau_n; s) = l e^{s M} Gamma_{k_n} e^{tau_n M} ... Gamma_{k_1} e^{tau_1 M} c_f.

API (N basis functions, m inputs, p_out readout components; input indices 0-based):

    S = build_galerkin(model, degree, *, weight=None, order=3, points=None, max_memory=2**31, seed=0,
                       spectrum_tol=1e-7, check_spectrum=True)                   -> GalerkinSystem
    S.M (N, N), S.Gammas (m, N, N), S.c_f (p_out, N), S.l (N,) | None, S.l0 (N,) | None, S.functional
    S.kernel_values(n, ks, lags (..., n), component=0, s=None) -> (...)
    S.mean0(t (...), component=0) -> (...)
    S.taylor_coefficient(n, ks, p (n ints), component=0, s=0.0) -> float
    S.predict(U (L, m), t (L,), eps=1.0, by_order=False, order=None) -> (L,) | (L, p_out) | (order+1, L[, p_out])
    S.predict_step_error(U, t, eps=1.0, by_order=False, order=None) -> like predict: 4/3 |P(h) - P(h/2)|
    S.info(rates=4) -> dict (basis, degree, N, weight, nodes, rates) for documents / JSON
    S.rates(k=6) -> (k,) complex: -lambda for the eigenvalues of M nearest 0, zero mode excluded
    S.expectation(g, s=0.0) -> float: E_inf[g] = l . c_g (stationary) or l0 e^{sM} c_g; S.project(g) -> c_g (N,)
    E = galerkin_error(model, degree, *, step=2, levels=2, weight=None, **build) -> GalerkinEstimate
        (in estimate.py)
    E.kernel_values / mean0 / predict / taylor_coefficient / expectation -> (value(s) at degree p, |v_p - v_{p+step}|)
    E.warning(error, tol, what) -> None | message (for the caller to issue as a warning)

Errors: ArgumentError (settings: degree, order, weight, points, n, ks, component, p), ModelError (parameters
without values, non-finite coefficients, D <= 0), NotAnalyticError, ArgumentError (basis too large for max_memory),
UnstableError (spurious or genuine eigenvalues with Re > 0; no fixed point / diverging pilot),
NotNormalisableError / StationaryLawError (no stationary law; implied law not positive), InputError (lags, s,
t, U, eps).  scipy is imported lazily (expm, expm_multiply).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import limits
from ...errors import InputError
from ...model import Diffusion
from ...validate import (
    check_component,
    check_eps,
    check_grid,
    check_index_tuple,
    check_int,
    check_int_sequence,
    check_kernel_order,
    check_lag_array,
    check_positive,
    finite_array,
    refusal,
)
from ..options import Option
from .analytic import check_analytic, is_constant, polynomial_degree, require_scipy
from .assembly import generator_matrices, initial_functionals, nonpolynomial_points, plan, spectrum_guard
from .basis import Basis, DensityBasis1D, basis_size, make_basis
from .prediction import forward_hierarchy
from .weights import Weight, choose_weight

__all__ = ["GalerkinSystem", "build_galerkin", "check_degree", "memory_needed"]

_CHUNK_BYTES = 64 * 2**20
_EIG_MAX, _EIG_COND = 300, 1e4
_CACHE_BYTES = 2**28  # dense exponentials kept for reuse


# --------------------------------------------------------------------------- sizes


def _points(model: Diffusion, degree: int) -> int:
    """Gauss-Hermite nodes per axis: exact for polynomial coefficients, generous otherwise."""
    degs = [polynomial_degree(m, model.state) for m in (model.drift, model.D, model.coupling, model.readout)]
    known = [d for d in degs if d is not None]
    if len(known) == len(degs):
        return degree + 1 + (max(known) + 2) // 2  # 2 Q - 1 >= 2 p + deg
    return nonpolynomial_points(model.n, degree)


def memory_needed(n: int, degree: int, m: int = 1, n_nodes: int | None = None, points: int | None = None) -> int:
    """Bytes the Galerkin build and evaluation need (an upper estimate).

    O(N^2) matrices: the B[g] (n_b of them), Gamma_k, M and work arrays, the 3N x 3N exponential of predict
    (about 54 N^2 numbers with scipy's work arrays); a chunk of basis values; the quadrature nodes; the
    cache of dense exponentials (_CACHE_BYTES).  Measured: the 4-D, N = 495 benchmark row peaks at 0.28 GB
    resident (interpreter included) against an estimate of 0.36 GB.
    """
    N = basis_size(n, degree)
    if n_nodes is None:
        n_nodes = (points or degree + 8) ** n
    n_b = n + n * (n + 1) // 2 + n * m + 2
    chunk = max(1, min(n_nodes, _CHUNK_BYTES // (8 * N * 4)))
    return 8 * (N * N * (n_b + m + 74) + 4 * chunk * N + 4 * n_nodes * n) + min(_CACHE_BYTES, 64 * 8 * N * N)


#: the basis degree: the Galerkin route's ``degree`` option, declared once (the route's schema uses it)
DEGREE = Option(
    "degree",
    "int",
    "total polynomial degree p of the basis (N = C(n + p, p) functions); not given: the lowest of 6, 8, ... "
    "(4, 6, ... for n > 2) whose error estimate meets tol, within MAX_GALERKIN_DEGREE and max_memory",
    minimum=1,
    limit="MAX_GALERKIN_DEGREE",
)


def check_degree(degree: Any) -> int:
    """The basis degree as an int >= 1 (ArgumentError otherwise): :data:`DEGREE`'s rule without the
    vs.limits bound, which the route applies to the user's degree (its estimate builds p + 2 above it)."""
    return int(DEGREE.validate(degree, bounded=False))


# --------------------------------------------------------------------------- the system


@dataclass(eq=False)
class GalerkinSystem:
    """The Galerkin generator of a model on a polynomial basis.

    Attributes (N = basis size, m inputs, p_out readout components)
    ----------
    M : (N, N) generator L0 on coefficient vectors.   Gammas : (m, N, N) input operators L1^k.
    c_f : (p_out, N) readout coefficients.   l : (N,) stationary functional (None otherwise);
    l0 : (N,) initial functional for point / Gaussian starts (None for stationary).
    eigenvalues : (N,) spectrum of M (computed for the guard), basis, weight, degree, order;
    gram_error = max |G - I|, n_nodes = quadrature nodes used in the assembly.
    """

    model: Diffusion
    degree: int
    order: int
    weight: Weight
    basis: Basis
    M: np.ndarray
    Gammas: np.ndarray
    c_f: np.ndarray
    l: np.ndarray | None
    l0: np.ndarray | None
    eigenvalues: np.ndarray | None
    gram_error: float
    n_nodes: int = 0

    # ---- basics ---------------------------------------------------------------------
    @property
    def N(self) -> int:
        return self.M.shape[0]

    @property
    def stationary(self) -> bool:
        return self.l is not None

    @property
    def functional(self) -> np.ndarray:
        """l (stationary) or l0 (point / Gaussian start), shape (N,)."""
        return self.l if self.l is not None else self.l0  # type: ignore[return-value]

    def __repr__(self) -> str:
        start = "stationary" if self.stationary else type(self.model.initial).__name__
        return (
            f"GalerkinSystem(n={self.model.n}, degree={self.degree}, N={self.N}, start={start}, "
            f"weight={self.weight.describe()})"
        )

    def rates(self, k: int = 6) -> np.ndarray:
        """The k leading relaxation rates -lambda (Re > 0): eigenvalues of M nearest 0, zero mode excluded."""
        ev = self.eigenvalues if self.eigenvalues is not None else np.linalg.eigvals(self.M)
        order = np.argsort(-ev.real)
        return -ev[order[1 : k + 1]]

    def info(self, rates: int = 4) -> dict[str, Any]:
        """What was computed, for derivation documents and JSON: basis, degree, N, weight, quadrature nodes,
        max |G - I|, start, and the leading relaxation rates (-lambda, as [re, im] pairs)."""
        kind = (
            "orthonormal polynomials for the stationary density"
            if isinstance(self.basis, DensityBasis1D)
            else "products of normalised Hermite polynomials in whitened coordinates"
        )
        return {
            "basis": f"{kind}, total degree <= {self.degree}",
            "degree": self.degree,
            "N": self.N,
            "weight": self.weight.describe(),
            "weight_source": self.weight.source,
            "quadrature_nodes": self.n_nodes,
            "gram_error": self.gram_error,
            "start": "stationary" if self.stationary else type(self.model.initial).__name__,
            "rates": [[float(r.real), float(r.imag)] for r in self.rates(rates)],
        }

    # ---- exponential actions ---------------------------------------------------------
    # e^{tau M} acts through (a) an eigendecomposition M = V diag(lam) V^-1 when N <= _EIG_MAX and V is
    # well conditioned (cond <= _EIG_COND: rounding error ~ cond * 1e-16), else (b) dense expm per step
    # (cached) or expm_multiply, whichever is cheaper.  No dense eig for big M.
    def eigendecomposition(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(lambda, V, V^-1) with M = V diag(lambda) V^-1 when N <= 300 and the 1-norm condition number of V is
        <= 1e4 (then e^{tau M} costs O(N^2) per lag, rounding ~ cond * 1e-16); None otherwise."""
        if "_eig_cache" not in self.__dict__:
            res = None
            if self.N <= _EIG_MAX:
                lam, V = np.linalg.eig(self.M)
                if np.all(np.isfinite(V)):
                    try:
                        Vi = np.linalg.inv(V)
                    except np.linalg.LinAlgError:
                        Vi = None
                    if Vi is not None and np.abs(V).sum(0).max() * np.abs(Vi).sum(0).max() <= _EIG_COND:
                        res = (lam, V, Vi)
            self.__dict__["_eig_cache"] = res
        return self.__dict__["_eig_cache"]

    def _expm(self, tau: float, transpose: bool) -> np.ndarray:
        key = (float(tau), transpose)
        cache = self.__dict__.setdefault("_expm_cache", {})
        if key not in cache:
            if len(cache) >= max(4, _CACHE_BYTES // (8 * self.N * self.N)):
                cache.clear()
            E = require_scipy().linalg.expm(tau * self.M)
            cache[key] = E.T if transpose else E
        return cache[key]

    def _act(self, tau: float, X: np.ndarray, transpose: bool) -> np.ndarray:
        """e^{tau M} X (or e^{tau M^T} X), X (N, c)."""
        if tau == 0.0:
            return X.copy()
        eig = self.eigendecomposition()
        if eig is not None:
            lam, V, Vi = eig
            if transpose:
                return (Vi.T @ (np.exp(tau * lam)[:, None] * (V.T @ X))).real
            return (V @ (np.exp(tau * lam)[:, None] * (Vi @ X))).real
        N = self.N
        norm = self.__dict__.setdefault("_norm1", float(np.abs(self.M).sum(axis=0).max()))
        cost_mult = (tau * norm + 8) * 2 * N * N * X.shape[1] + 3e5
        if (float(tau), transpose) in self.__dict__.get("_expm_cache", {}) or 30 * N**3 < cost_mult:
            return self._expm(tau, transpose) @ X
        A = self.M.T if transpose else self.M
        return require_scipy().sparse.linalg.expm_multiply(tau * A, X)

    def _times_single(self, v: np.ndarray, times: np.ndarray, transpose: bool) -> np.ndarray:
        """Columns e^{t_i M} v for sorted unique t_i >= 0: (N, U), by stepping (repeated steps reuse one expm)."""
        eig = self.eigendecomposition()
        if eig is not None:
            lam, V, Vi = eig
            w = (V.T @ v) if transpose else (Vi @ v)
            out = np.empty((self.N, times.size))
            step = max(1, 2**22 // self.N)
            for a in range(0, times.size, step):
                Et = np.exp(lam[:, None] * times[None, a : a + step]) * w[:, None]
                out[:, a : a + step] = ((Vi.T @ Et) if transpose else (V @ Et)).real
            return out
        out = np.empty((self.N, times.size))
        steps = np.diff(np.concatenate([[0.0], times]))
        rounded = np.round(steps / max(times[-1], 1e-300), 13)
        vals, counts = np.unique(rounded, return_counts=True)
        repeated = {float(x) for x, c in zip(vals, counts) if c >= 3}
        cur = v
        for i, h in enumerate(steps):
            r = float(rounded[i])
            if r in repeated and h > 0:
                h = float(vals[np.searchsorted(vals, r)] * max(times[-1], 1e-300))
                cur = self._expm(h, transpose) @ cur
            elif h > 0:
                cur = self._act(float(h), cur[:, None], transpose)[:, 0]
            out[:, i] = cur
        return out

    def _side(
        self, v0: np.ndarray, ops: list[tuple[str, Any]], lags: np.ndarray, transpose: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Apply ops (('E', column of lags) or ('G', k)) to v0 for every lag row: vectors (N, P), row -> column."""
        V = v0[:, None]
        inv = np.zeros(lags.shape[0], dtype=int)
        for kind, arg in ops:
            if kind == "G":
                G = self.Gammas[arg]
                V = (G.T if transpose else G) @ V
                continue
            times = lags[:, arg]
            if V.shape[1] == 1:
                u, inv = np.unique(times, return_inverse=True)
                V = self._times_single(V[:, 0], u, transpose)
                continue
            pairs, new_inv = np.unique(np.stack([inv.astype(float), times], axis=1), axis=0, return_inverse=True)
            new_inv = new_inv.reshape(-1)
            W = np.empty((self.N, pairs.shape[0]))
            for tau in np.unique(pairs[:, 1]):
                cols = np.nonzero(pairs[:, 1] == tau)[0]
                W[:, cols] = self._act(float(tau), V[:, pairs[cols, 0].astype(int)], transpose)
            V, inv = W, new_inv
        return V, inv

    # ---- kernels ---------------------------------------------------------------------
    def kernel_values(
        self, n: int, ks: Sequence[int] | int | None, lags: Any, component: int = 0, s: Any = None
    ) -> np.ndarray:
        """K^(n)_{k_1..k_n}(tau_1..tau_n [; s]) on an array of lag tuples.

        n : order >= 1 (<= self.order).  ks : n input indices (0-based; int or None allowed when unambiguous).
        lags : array (..., n) of lags >= 0 (tau_1 most recent); for n = 1 a 0-d or 1-d array holds single lags.
        s : non-stationary starts only, time from the start to the oldest input, broadcast against lags[..., 0]
            (default 0).  Returns values of shape lags.shape[:-1].
        """
        ks = self._check_order(n, ks, component)
        lag = check_lag_array(lags, n)
        shape = lag.shape[:-1]
        flat = lag.reshape(-1, n)
        if not self.stationary:
            sv = np.zeros(shape) if s is None else finite_array(s, "s")
            try:
                sv = np.broadcast_to(sv, shape).reshape(-1, 1)
            except ValueError:
                why = f"shape {np.shape(s)} does not broadcast to the lag shape {shape}"
                raise refusal("s", why, cls=InputError) from None
            if np.any(sv < 0):
                why = f"the time from the start to the oldest input must be >= 0, min {sv.min():.6g}"
                raise refusal("s", why, cls=InputError)
            flat = np.concatenate([flat, sv], axis=1)
        elif s is not None:
            raise refusal("s", "only kernels from a point-mass or Gaussian start depend on s", "omit it", InputError)
        if flat.shape[0] == 0:
            return np.zeros(shape)
        # chain (right to left): c_f, E(tau_1), G_k1, E(tau_2), ..., E(tau_n), G_kn, [E(s)], then . l
        ops: list[tuple[str, Any]] = []
        for j in range(n):
            ops += [("E", j), ("G", ks[j])]
        if not self.stationary:
            ops.append(("E", n))
        n_e = sum(1 for o in ops if o[0] == "E")
        e_seen, split = 0, 1
        for i, o in enumerate(ops):  # the middle Gamma: ceil(n_e / 2) exponentials to its right
            e_seen += o[0] == "E"
            if o[0] == "G" and e_seen >= (n_e + 1) // 2:
                split = i
                break
        VR, iR = self._side(self.c_f[component], ops[:split], flat, transpose=False)
        VL, iL = self._side(self.functional, ops[split + 1 :][::-1], flat, transpose=True)
        GR = self.Gammas[ops[split][1]] @ VR
        out = np.empty(flat.shape[0])
        step = max(1, 2**22 // self.N)
        for a in range(0, flat.shape[0], step):
            sl = slice(a, a + step)
            out[sl] = np.einsum("ij,ij->j", VL[:, iL[sl]], GR[:, iR[sl]])
        return out.reshape(shape)

    def mean0(self, t: Any, component: int = 0) -> np.ndarray:
        """E f(h^0_t) = l e^{t M} c_f on an array of times t >= 0 (constant for the stationary start)."""
        check_component(component, self.c_f.shape[0])
        tt = finite_array(t, "t")
        if np.any(tt < 0):
            raise refusal("t", f"times must be >= 0, received min {tt.min():.6g}", cls=InputError)
        if self.stationary:
            return np.full(tt.shape, float(self.functional @ self.c_f[component]))
        u, inv = np.unique(tt.reshape(-1), return_inverse=True)
        if u.size == 0:
            return np.zeros(tt.shape)
        V = self._times_single(self.c_f[component], u, transpose=False)
        return (self.functional @ V)[inv.reshape(-1)].reshape(tt.shape)

    def project(self, g: Any) -> np.ndarray:
        """Coefficients c_g = G^-1 <psi, g> of a sympy expression g in the state (parameters substituted):
        shape (N,), or (K, N) for a sequence of K expressions (one quadrature pass for all).

        Exact for polynomials of degree <= p (Gauss-Hermite with enough nodes); other functions use
        assembly.nonpolynomial_points nodes per axis (their projection error is part of p vs p + 2).
        """
        import sympy as sp

        from .analytic import lambdify_matrix
        from .basis import HermiteBasis

        many = isinstance(g, (list, tuple))
        from ...model.parsing import as_expression

        names = {s.name: s for s in (*self.model.state, *self.model.params)}
        exprs = [as_expression(e, names, where="g").xreplace(self.model.params) for e in (g if many else [g])]
        fn = lambdify_matrix(sp.Matrix(exprs), self.model.state, "g")
        b = self.basis
        c: np.ndarray = np.zeros((len(exprs), self.N))
        chunk = max(1, _CHUNK_BYTES // (8 * self.N * 4))
        if isinstance(b, HermiteBasis):
            d = polynomial_degree(sp.Matrix(exprs), self.model.state)
            q = (self.degree + d) // 2 + 1 if d is not None else nonpolynomial_points(b.n, self.degree)
            z, w = np.polynomial.hermite_e.hermegauss(q)
            w = w / w.sum()
            total = q**b.n
            for a in range(0, total, chunk):
                idx = np.stack(np.unravel_index(np.arange(a, min(a + chunk, total)), (q,) * b.n), axis=1)
                Z, wq = z[idx], np.prod(w[idx], axis=1)
                c += (b.values(Z).T @ (wq[:, None] * fn(b.to_x(Z))[:, :, 0])).T
        else:
            G = np.zeros((self.N, self.N))
            for Z, wq in b.quadrature(chunk):
                Psi = b.values(Z)
                G += (Psi * wq[:, None]).T @ Psi
                c += (Psi.T @ (wq[:, None] * fn(b.to_x(Z))[:, :, 0])).T
            c = np.linalg.solve(G, c.T).T
        return c if many else c[0]  # (the Hermite basis is orthonormal: G = I)

    def expectation(self, g: Any, s: float = 0.0) -> Any:
        """E[g(h^0_s)]: the stationary expectation l . c_g, or l0 e^{sM} c_g from a point / Gaussian start.

        g : a sympy expression in the state (-> float) or a sequence of them (-> array (K,)).
        """
        c = self.project(g)
        left = self.functional
        if not self.stationary and s:
            left = self._times_single(left, np.array([float(s)]), transpose=True)[:, 0]
        out = c @ left
        return out if isinstance(g, (list, tuple)) else float(out)

    def taylor_coefficient(
        self, n: int, ks: Sequence[int] | int | None, p: Sequence[int], component: int = 0, s: float = 0.0
    ) -> float:
        """d^{p_1}_{tau_1} ... d^{p_n}_{tau_n} K^(n)_k at zero lags.

        = l [e^{sM}] Gamma_{k_n} M^{p_n} ... Gamma_{k_1} M^{p_1} c_f (s: non-stationary starts, default 0).
        """
        ks = self._check_order(n, ks, component)
        p = check_int_sequence(p, "p", n, what="one derivative order per lag")
        v = self.c_f[component].copy()
        for j in range(n):
            for _ in range(int(p[j])):
                v = self.M @ v
            v = self.Gammas[ks[j]] @ v
        left = self.functional
        if not self.stationary and s:
            left = self._times_single(left, np.array([float(s)]), transpose=True)[:, 0]
        return float(left @ v)

    # ---- prediction ------------------------------------------------------------------
    def predict(self, U: Any, t: Any, eps: float = 1.0, by_order: bool = False, order: int | None = None) -> np.ndarray:
        """E f(h_t) by the forward hierarchy on the grid t, input piecewise linear between samples.

        r_0(t) = l e^{tM};  d/dt r_n = r_n M + sum_k u_k(t) r_{n-1}(t) Gamma_k, r_n(0) = 0;  term n = r_n . c_f.
        Exponential integrator (ETD2): on each step the source is linear between its end values, so
        order 1 from a stationary start is exact; otherwise second order in the step.  One augmented
        expm (3N x 3N) per distinct step length (at most 16; grids with more distinct steps use the
        eigenbasis of M when it is well conditioned), O(N^2 len(t)) per order.

        U : (L, m) samples (or (L,) when m = 1).  t : (L,) strictly increasing, t[0] = 0.
        Returns (L,) [or (L, p_out) for a vector readout]; by_order=True stacks orders 0..order first.
        """
        order = self.order if order is None else order
        order = check_int(order, "order", minimum=0, maximum=self.order, hint=f" (built for order {self.order})")
        tt = check_grid(t, min_points=1)
        u = finite_array(U, "U")
        m = self.Gammas.shape[0]
        if u.ndim == 1 and m == 1:
            u = u[:, None]
        if u.shape != (tt.size, m):
            why = f"expected samples of shape ({tt.size}, {m}) on the grid t, received {u.shape}"
            raise refusal("U", why, cls=InputError)
        e = check_eps(eps)
        # the hierarchy holds (order + 1) x len(t) x N states plus a source array: checked before allocating
        limits.check_memory(
            8.0 * tt.size * self.N * (order + 3),
            "t",
            f"the Galerkin prediction on {tt.size} points (N = {self.N} basis functions, orders 0..{order})",
            "use a coarser grid or a lower degree",
            cls=InputError,
        )
        return self._finish(forward_hierarchy(self, u, tt, order), e, by_order, order)

    def predict_step_error(
        self, U: Any, t: Any, eps: float = 1.0, by_order: bool = False, order: int | None = None
    ) -> np.ndarray:
        """Estimate of the time-stepping error of :meth:`predict`: 4/3 |P(t) - P(t refined)| (ETD2 is second
        order); the refined grid halves every step and interpolates the input linearly (the same input)."""
        tt = finite_array(t, "t")
        u = finite_array(U, "U")
        if u.ndim == 1:
            u = u[:, None]
        if tt.ndim != 1 or tt.size < 2 or u.shape[0] != tt.size:  # predict raises the right error or is exact
            return 0.0 * self.predict(U, t, eps, by_order, order)
        tf = np.empty(2 * tt.size - 1)
        tf[0::2], tf[1::2] = tt, 0.5 * (tt[:-1] + tt[1:])
        uf = np.empty((tf.size, u.shape[1]))
        uf[0::2], uf[1::2] = u, 0.5 * (u[:-1] + u[1:])
        coarse = self.predict(u, tt, eps, by_order, order)
        fine = self.predict(uf, tf, eps, by_order, order)
        return 4.0 / 3.0 * np.abs(coarse - np.take(fine, np.arange(0, tf.size, 2), axis=1 if by_order else 0))

    def _finish(self, out: np.ndarray, eps: float, by_order: bool, order: int) -> np.ndarray:
        """(order+1, L, p_out) -> the documented shapes."""
        if self.c_f.shape[0] == 1 and not self.model.vector_readout:
            out = out[..., 0]
        if by_order:
            return out
        return np.tensordot(eps ** np.arange(order + 1), out, axes=1)

    # ---- checks ----------------------------------------------------------------------
    def _check_order(self, n: int, ks: Any, component: int) -> tuple[int, ...]:
        """component, order n (<= the order built) and input indices ks: the same checks as a Response's."""
        check_component(component, self.c_f.shape[0])
        hint = f" (the system was built with order={self.order}; rebuild with a higher order)"
        n = check_kernel_order(n, self.order, hint)
        return check_index_tuple(ks, n, self.Gammas.shape[0], name="ks")


# --------------------------------------------------------------------------- build


_MORE_MEMORY = "raise max_memory= (default: the limit GALERKIN_MEMORY, vs.limits.configure(galerkin_memory=...))"


def build_galerkin(
    model: Diffusion,
    degree: int,
    *,
    weight: Any = None,
    order: int = 3,
    points: int | None = None,
    max_memory: int | None = None,
    seed: int = 0,
    spectrum_tol: float = 1e-7,
    check_spectrum: bool = True,
) -> GalerkinSystem:
    """Assemble the Galerkin generator of ``model`` on polynomials of total degree <= ``degree``.

    weight : see :func:`.weights.choose_weight` (None: chosen from the model).
    order : the highest kernel / prediction order that will be asked for.
    points : Gauss-Hermite nodes per axis of the basis's tensor rule (default: exact for polynomial coefficients,
        see assembly.nonpolynomial_points otherwise); ridge terms: see assembly.py.
    max_memory : bytes; a basis that would need more is refused up front (ArgumentError on ``degree``) with the size.
    spectrum_tol : eigenvalues of M other than the zero mode with Re > spectrum_tol * max(1, |lambda|_max)
        raise UnstableError (spurious modes of a badly matched weight, or unstable dynamics).
    Raises NotAnalyticError, ArgumentError (settings, memory), UnstableError / StationaryLawError (guards).
    """
    degree = check_degree(degree)
    max_memory = limits.GALERKIN_MEMORY if max_memory is None else max_memory
    for name, value, low in (("points", points, 1), ("max_memory", max_memory, 1), ("seed", seed, 0)):
        if value is not None or name != "points":
            check_int(value, name, minimum=low)
    check_positive(spectrum_tol, "spectrum_tol")
    check_int(order, "order", minimum=0)
    num = model.with_values() if model.parameters else model
    check_analytic(num)
    n, m = num.n, num.m
    pts = points if points is not None else _points(num, degree)
    guess = memory_needed(n, degree, m, n_nodes=800 if n == 1 else None, points=pts)
    if guess > max_memory:
        below = range(1, min(degree, limits.MAX_GALERKIN_DEGREE + 2))  # bounded even for a huge degree
        fits = max((p for p in below if memory_needed(n, p, m, points=pts - degree + p) <= max_memory), default=0)
        raise refusal(
            "degree",
            f"a degree-{degree} basis in {n} dimensions has N = {basis_size(n, degree)} functions and about "
            f"{pts**n} quadrature nodes; the Galerkin matrices would need about {guess / 2**30:.2f} GiB > max_memory = "
            f"{max_memory / 2**30:.2f} GiB",
            "lower the degree" + (f" (degree={fits} fits)" if fits else "") + f", or {_MORE_MEMORY}",
        )
    w = choose_weight(num, weight, seed=seed)
    st = num.state
    D_const = is_constant(num.D, st)
    g_const = is_constant(num.coupling, st)
    pairs = [(i, j) for i in range(n) for j in range(i, n)]
    targets = [(f"drift[{i}]", num.drift[i]) for i in range(n)]
    if not D_const:
        targets += [(f"diffusion D[{i},{j}]", num.D[i, j]) for i, j in pairs]
    if not g_const:
        targets += [(f"coupling[{i},{k}]", num.coupling[i, k]) for i in range(n) for k in range(m)]
    pl = plan(num, degree, targets, structured=w.kind == "gaussian" and n >= 2)
    basis = make_basis(w, degree, points if points is not None else pl.points)
    N = basis.N
    need = memory_needed(n, degree, m, n_nodes=basis.n_nodes)
    if need > max_memory:
        raise refusal(
            "degree",
            f"N = {N} basis functions with {basis.n_nodes} quadrature nodes need about {need / 2**30:.2f} GiB > "
            f"max_memory = {max_memory / 2**30:.2f} GiB",
            f"lower the degree, or {_MORE_MEMORY}",
        )
    G, M, Gam, c_f, gram_error, n_nodes = generator_matrices(num, basis, pl, pairs)
    ev = None
    if check_spectrum:
        ev = np.linalg.eigvals(M)
        spectrum_guard(ev, spectrum_tol, degree, w)
    l, l0 = initial_functionals(num, M, G, basis, w, degree)
    return GalerkinSystem(num, degree, int(order), w, basis, M, Gam, c_f, l, l0, ev, gram_error, n_nodes)
