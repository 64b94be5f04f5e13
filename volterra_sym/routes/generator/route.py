"""Numerical response kernels at any lag for 1-D models: a discretised generator.

The backward generator of a 1-D diffusion (MATH.md section 2) is written in
flux form with the stationary density rho_inf (section 6),

    L0 g = phi g' + D/2 g'' = (w g')' / (2 rho),   w = D rho  ∝  exp( int^x 2 phi / D ),

and discretised by finite volumes on N cells of width h with centres x_i
(the "square-root approximation", a Scharfetter-Gummel-type scheme):

    (Q g)_i = [ w_{i+1/2} (g_{i+1} - g_i) - w_{i-1/2} (g_i - g_{i-1}) ] / (2 h^2 rho_i),
    w_{i+1/2} = sqrt(w_i w_{i+1}),   no flux through the two domain ends.

Q is a rate matrix (off-diagonals > 0, rows sum to 0, so P_tau = exp(tau Q) is a
Markov matrix: positivity and mass are preserved), and it satisfies detailed
balance with pi_i ∝ rho_inf(x_i): the discrete stationary law is the exact
density sampled at the centres.  Hence S = R^{1/2} Q R^{-1/2}, R = diag(pi), is
symmetric (tridiagonal, S_{i,i+1} = sqrt(D_i D_{i+1}) / (2 h^2)); one
``numpy.linalg.eigh`` of S gives exp(tau Q) = R^{-1/2} U exp(tau Lambda) U^T R^{1/2}
at every lag.  The scheme is second order in h.

L1^k g = gamma_k g' is discretised by central differences on the same grid,
(B_k g)_i = gamma_k(x_i) (g_{i+1} - g_{i-1}) / (2h) (second order; one-sided at
the two end cells, where rho_inf is negligible).  The Fokker-Planck adjoints
are the transposes Q^T, B_k^T with respect to the cell masses, so the backward
kernels and the forward hierarchy used by :meth:`GeneratorResponse.predict`
are exactly dual to each other on the grid.

Everything is computed in the eigenbasis of S ("hat" coordinates g^ = R^{1/2} g):

    c_0 = U^T R^{1/2} f,   M_k = U^T R^{1/2} B_k R^{-1/2} U,   a = U^T R^{-1/2} mu_0,
    K^(n)_{k_1..k_n}(tau_1..tau_n; s_n) = a^T E(s_n) M_{k_n} E(tau_n) ... M_{k_1} E(tau_1) c_0,

with E(tau) = diag(exp(tau Lambda)).  See docs/generator.md for limits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ... import limits
from ...documents.derivation import Derivation, route_derivation
from ...errors import GridError, InputError, ModelError, NotNormalisableError, describe
from ...model.diffusion import SRNN, Diffusion, Gaussian, PointMass, Stationary
from ...response import Response
from ...validate import (
    check_derive_request,
    check_eps,
    check_flag,
    check_grid,
    finite_array,
    input_samples,
    refusal,
)
from ..base import ContractCase, Route
from ..options import Option
from .derivation import generator_steps

__all__ = [
    "GeneratorResponse",
    "Grid",
    "GridError",
    "InputError",
    "NotNormalisableError",
    "derive_generator",
]

#: stationary mass allowed beyond each end of the grid (automatic domain)
TAIL_MASS = 1e-13
#: largest stationary mass beyond the domain before a user-given domain is refused
MAX_TAIL_MASS = 1e-10
#: largest log of max_i mu0_i / sqrt(pi_i / max pi): rounding errors of the eigenbasis are amplified by it
MAX_LOG_AMPLIFICATION = 20.0
#: largest change of log rho_inf over one cell where rho_inf matters
MAX_LOG_STEP = 1.5
MIN_CELLS = 20
_LAG_BLOCK = 2048
_TIME_BLOCK = 2048


# --------------------------------------------------------------------------- numeric model


@dataclass(frozen=True)
class _Functions:
    """Vectorised numeric phi, D, gamma_k (m of them) and f_j (p of them) of a 1-D model."""

    phi: Callable[[np.ndarray], np.ndarray]
    D: Callable[[np.ndarray], np.ndarray]
    gamma: tuple[Callable[[np.ndarray], np.ndarray], ...]
    f: tuple[Callable[[np.ndarray], np.ndarray], ...]


def _vectorise(expr: sp.Expr, h: sp.Symbol, where: str) -> Callable[[np.ndarray], np.ndarray]:
    stray = expr.free_symbols - {h}
    if stray:
        raise ModelError(f"{where}: symbol(s) {sorted(map(str, stray))} have no numeric value; pass params=")
    fn_np = sp.lambdify(h, expr, modules="numpy")
    fn_mp = np.vectorize(sp.lambdify(h, expr, modules="mpmath"), otypes=[float])

    def fn(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        try:
            with np.errstate(all="ignore"):
                y = np.asarray(fn_np(x), dtype=float)
        except (NameError, TypeError, AttributeError):  # functions numpy lacks (erf, ...)
            y = fn_mp(x)
        return np.broadcast_to(y, x.shape).astype(float)

    return fn


def _functions(model: Diffusion) -> _Functions:
    (h,) = model.state
    D = sp.expand(model.D[0, 0])
    return _Functions(
        phi=_vectorise(model.drift[0], h, "drift"),
        D=_vectorise(D, h, "diffusion"),
        gamma=tuple(_vectorise(model.coupling[0, k], h, f"coupling[0,{k}]") for k in range(model.m)),
        f=tuple(_vectorise(model.readout[j], h, f"readout[{j}]") for j in range(model.p)),
    )


# --------------------------------------------------------------------------- stationary density and domain

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(4)


def _log_density(fns: _Functions, x: np.ndarray) -> np.ndarray:
    """log rho_inf at increasing points x, up to a constant: int_{x_0}^x 2 phi / D - log D(x).

    The integral is accumulated with 4-point Gauss-Legendre between neighbouring points.
    Returns NaN/inf where the model cannot be evaluated; raises if D <= 0.
    """
    a, b = x[:-1], x[1:]
    mid, half = (a + b) / 2, (b - a) / 2
    pts = mid[:, None] + half[:, None] * _GL_NODES
    with np.errstate(all="ignore"):
        Dp, Dx = fns.D(pts), fns.D(x)
        if np.any(Dp <= 0) or np.any(Dx <= 0):
            bad = float(np.concatenate([pts.ravel(), x])[np.argmin(np.concatenate([Dp.ravel(), Dx]))])
            raise ModelError(
                f"diffusion: the numerical generator needs D = sigma^2 > 0 on the domain, "
                f"but D({bad:.6g}) = {float(fns.D(np.array([bad]))[0]):.3g}; use a strictly positive sigma"
            )
        inc = (2 * fns.phi(pts) / Dp) @ _GL_WEIGHTS * half
        return np.concatenate([[0.0], np.cumsum(inc)]) - np.log(Dx)


def _tail_masses(fns: _Functions, lo: float, hi: float, centre: float, scale: float) -> tuple[float, float]:
    """Stationary mass below ``lo`` and above ``hi`` (fractions of the total)."""
    x, lr = _support(fns, centre, scale)
    p = np.exp(lr - lr.max())
    cum = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(x))])
    cum /= cum[-1]
    return float(np.interp(lo, x, cum)), float(1 - np.interp(hi, x, cum))


def _support(fns: _Functions, centre: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A fine grid covering where rho_inf > e^{-60} max, and log rho_inf on it.

    Searches [centre - R, centre + R] with R growing by 4x until the density has
    fallen by e^{-60} at both ends; raises NotNormalisableError if it never does.
    """
    R = 50.0 * scale
    for _ in range(12):
        x = np.linspace(centre - R, centre + R, 20001)
        lr = _log_density(fns, x)
        top = np.nanmax(lr) if np.any(np.isfinite(lr)) else np.nan
        if np.all(np.isfinite(lr)) and lr[0] < top - 60 and lr[-1] < top - 60:
            keep = np.nonzero(lr > top - 60)[0]
            a, b = x[max(keep[0] - 1, 0)], x[min(keep[-1] + 1, x.size - 1)]
            x = np.linspace(a, b, 20001)
            return x, _log_density(fns, x)
        R *= 4.0
    raise NotNormalisableError(
        "drift: the stationary density rho_inf ∝ exp(int 2 phi / D) / D is not normalisable "
        f"(it does not decay within |h - {centre:.3g}| < {R / 4:.3g}): the drift pushes the state to "
        "infinity or does not confine it (e.g. phi = +h or phi = 0), or its tails are too heavy (slower than "
        "e^-60 over 1e8 length scales). The numerical generator needs a confining drift; "
        "use method='taylor' for short lags, or Monte Carlo"
    )


def _initial_range(initial: Any) -> tuple[float, float] | None:
    """An interval holding the initial law (all but ~1e-15 of its mass), or None if stationary."""
    if isinstance(initial, PointMass):
        x0 = float(initial.x0[0])
        return x0, x0
    if isinstance(initial, Gaussian):
        m, v = float(initial.mean[0]), float(initial.cov[0, 0])
        if v < 0:
            raise ModelError(f"initial: Gaussian variance must be >= 0, received {v}")
        return m - 8.0 * np.sqrt(v), m + 8.0 * np.sqrt(v)
    return None


def _reach(fns: _Functions, edge: float, side: int, width: float) -> float:
    """How far a path started at ``edge`` may overshoot outwards (side = +1 up, -1 down).

    The probability of climbing from ``edge`` to y is about rho_inf(y) / rho_inf(edge)
    (scale-function bound), so return the first y beyond ``edge`` where log rho_inf has
    dropped by 30 (probability ~1e-13).
    """
    R = width
    for _ in range(12):
        x = edge + side * np.linspace(0.0, R, 2001)
        lr = _log_density(fns, x)
        below = np.nonzero(lr < lr[0] - 30.0)[0]
        if below.size:
            return float(x[below[0]])
        R *= 4.0
    raise NotNormalisableError(
        f"initial: from h = {edge:.6g} the stationary density does not decay outwards within {R / 4:.3g}; "
        "the drift does not confine the state. Use a confining drift, method='taylor', or Monte Carlo"
    )


def _scale(fns: _Functions, centre: float) -> float:
    """A length scale of the dynamics at ``centre``: sqrt(D / 2|phi'|)."""
    d = 1e-4 * max(1.0, abs(centre))
    slope = float((fns.phi(np.array([centre + d])) - fns.phi(np.array([centre - d])))[0] / (2 * d))
    D = float(fns.D(np.array([centre]))[0])
    if not D > 0:
        raise ModelError(
            f"diffusion: the numerical generator needs D = sigma^2 > 0, but D({centre:.6g}) = {D:.3g}; "
            "use a strictly positive sigma"
        )
    if not (np.isfinite(slope) and np.isfinite(D)):
        raise ModelError(f"drift/diffusion: cannot be evaluated at h = {centre:.6g} (phi' = {slope}, D = {D})")
    return float(np.sqrt(D / (2 * max(abs(slope), 1e-2))))


# --------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Grid:
    """A uniform finite-volume grid and the discrete stationary law.

    x : (N,) cell centres;  width : cell width h;  edges : (N+1,) cell edges;
    log_pi : (N,) log of the discrete stationary law pi (sum pi = 1), pi_i ∝ rho_inf(x_i).
    """

    x: np.ndarray
    width: float
    edges: np.ndarray
    log_pi: np.ndarray

    @property
    def pi(self) -> np.ndarray:
        return np.exp(self.log_pi)

    @property
    def cells(self) -> int:
        return self.x.size


def _make_grid(fns: _Functions, initial: Any, cells: int, domain: Sequence[float] | None) -> Grid:
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < MIN_CELLS:
        raise GridError(
            f"cells: need an integer >= {MIN_CELLS} for a meaningful discretisation, received {describe(cells)}; "
            "use cells=400 (the default) or more"
        )
    if cells > limits.MAX_GENERATOR_CELLS:  # dense cells x cells matrices: memory and time grow fast
        raise GridError(
            f"cells: {cells} cells need dense {cells} x {cells} matrices (~{limits.human_bytes(40.0 * cells**2)} and "
            f"O(cells^3) time for their spectrum), beyond the limit MAX_GENERATOR_CELLS = "
            f"{limits.MAX_GENERATOR_CELLS}; use fewer cells (the default 400 is accurate for most 1-D models), or "
            "raise the limit with vs.limits.configure(max_generator_cells=...)"
        )
    init = _initial_range(initial)
    centre = 0.0 if init is None else (init[0] + init[1]) / 2
    scale = _scale(fns, centre)
    if domain is None:
        xs, lr = _support(fns, centre, scale)
        p = np.exp(lr - lr.max())
        cum = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(xs))])
        cum /= cum[-1]
        lo = float(np.interp(TAIL_MASS, cum, xs))
        hi = float(np.interp(1 - TAIL_MASS, cum, xs))
        if init is not None:
            lo, hi = min(lo, _reach(fns, init[0], -1, hi - lo)), max(hi, _reach(fns, init[1], +1, hi - lo))
    else:
        try:
            lo, hi = (float(v) for v in domain)
        except (TypeError, ValueError):
            raise GridError(f"domain: expected (x_lo, x_hi), received {describe(domain)}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise GridError(f"domain: expected finite x_lo < x_hi, received {describe(domain)}")
        below, above = _tail_masses(fns, lo, hi, centre, scale)
        if max(below, above) > MAX_TAIL_MASS:
            raise GridError(
                f"domain: the stationary law has mass {below:.2g} below x_lo = {lo:.6g} and {above:.2g} above "
                f"x_hi = {hi:.6g} (limit {MAX_TAIL_MASS:g}); widen the domain or pass domain=None to choose it "
                "automatically"
            )
        if init is not None and (init[0] < lo or init[1] > hi):
            raise GridError(
                f"domain: ({lo:.6g}, {hi:.6g}) does not contain the initial law {initial!r} "
                f"(needs [{init[0]:.6g}, {init[1]:.6g}]); widen the domain"
            )
    edges = np.linspace(lo, hi, cells + 1)
    x = (edges[:-1] + edges[1:]) / 2
    lr = _log_density(fns, x)
    if not np.all(np.isfinite(lr)):
        raise ModelError(f"drift/diffusion: non-finite values on the domain ({lo:.6g}, {hi:.6g})")
    log_pi = lr - lr.max()
    log_pi -= np.log(np.exp(log_pi).sum())
    matters = log_pi > log_pi.max() - 20
    step = np.abs(np.diff(log_pi))[matters[1:] & matters[:-1]]
    if step.size and step.max() > MAX_LOG_STEP:
        needed = int(np.ceil(cells * step.max() / MAX_LOG_STEP * 2))
        remedy = (
            f"raise cells (e.g. cells={needed}) or narrow the domain"
            if needed <= limits.MAX_GENERATOR_CELLS
            else f"narrow the domain (about {needed} cells would be needed, beyond the limit MAX_GENERATOR_CELLS = "
            f"{limits.MAX_GENERATOR_CELLS})"
        )
        raise GridError(
            f"cells: {cells} cells on ({lo:.4g}, {hi:.4g}) are too coarse: rho_inf changes by a factor "
            f"e^{step.max():.2f} over one cell (limit e^{MAX_LOG_STEP}); {remedy}"
        )
    return Grid(x=x, width=float(edges[1] - edges[0]), edges=edges, log_pi=log_pi)


def _initial_masses(grid: Grid, initial: Any) -> np.ndarray:
    """mu_0 as cell masses (N,): pi, linear interpolation of a point mass, or Gaussian cell masses."""
    x = grid.x
    if isinstance(initial, Stationary):
        return grid.pi
    mu = np.zeros(x.size)
    if isinstance(initial, PointMass) or (isinstance(initial, Gaussian) and float(initial.cov[0, 0]) == 0):
        x0 = float(initial.x0[0]) if isinstance(initial, PointMass) else float(initial.mean[0])
        if not x[0] <= x0 <= x[-1]:
            raise GridError(
                f"initial: the point x0 = {x0:.6g} lies outside the grid ({x[0]:.6g}, {x[-1]:.6g}); widen domain"
            )
        i = min(int((x0 - x[0]) // grid.width), x.size - 2)
        w = (x0 - x[i]) / grid.width
        mu[i], mu[i + 1] = 1 - w, w
        return mu
    m, sd = float(initial.mean[0]), float(np.sqrt(float(initial.cov[0, 0])))
    cdf = np.array([0.5 * (1 + math.erf((e - m) / (sd * np.sqrt(2)))) for e in grid.edges])
    mu = np.diff(cdf)
    outside = 1 - mu.sum()
    if outside > MAX_TAIL_MASS:
        raise GridError(f"initial: the Gaussian start has mass {outside:.2g} outside the grid; widen domain")
    return mu / mu.sum()


# --------------------------------------------------------------------------- operators


def _symmetric_generator(grid: Grid, D: np.ndarray) -> np.ndarray:
    """S = R^{1/2} Q R^{-1/2} (N, N), symmetric tridiagonal; Q the square-root-approximation generator."""
    h2 = 2 * grid.width**2
    off = np.sqrt(D[1:] * D[:-1]) / h2  # S_{i,i+1} = w_{i+1/2} / (2 h^2 sqrt(rho_i rho_{i+1}))
    dl = np.diff(grid.log_pi)
    up = off * np.exp(dl / 2)  # Q_{i,i+1}
    down = off * np.exp(-dl / 2)  # Q_{i+1,i}
    diag = np.zeros(grid.cells)
    diag[:-1] -= up
    diag[1:] -= down
    return np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)


def _coupling_hat(grid: Grid, gamma: np.ndarray) -> np.ndarray:
    """R^{1/2} B R^{-1/2} (N, N), with (B g)_i = gamma_i (g_{i+1} - g_{i-1}) / 2h (one-sided at the ends)."""
    N, h = grid.cells, grid.width
    B = np.zeros((N, N))
    i = np.arange(1, N - 1)
    B[i, i + 1] = gamma[i] / (2 * h)
    B[i, i - 1] = -gamma[i] / (2 * h)
    B[0, 0], B[0, 1] = -gamma[0] / h, gamma[0] / h
    B[-1, -1], B[-1, -2] = gamma[-1] / h, -gamma[-1] / h
    half = grid.log_pi / 2
    return B * np.exp(half[:, None] - half[None, :])


# --------------------------------------------------------------------------- the response


def _phis(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi_1(z) = (e^z - 1)/z and phi_2(z) = (e^z - 1 - z)/z^2, stable near z = 0."""
    small = np.abs(z) < 1e-3
    zs = np.where(small, 1.0, z)
    with np.errstate(over="ignore"):
        ez = np.exp(z)
    p1 = np.where(small, 1 + z / 2 + z**2 / 6 + z**3 / 24, (ez - 1) / zs)
    p2 = np.where(small, 0.5 + z / 6 + z**2 / 24 + z**3 / 120, (ez - 1 - zs) / zs**2)
    return p1, p2


class GeneratorResponse(Response):
    """Response kernels and predictions of a 1-D model from its discretised generator.

    Attributes: ``model`` (the numeric model), ``order``, ``grid`` (:class:`Grid`),
    ``eigenvalues`` (N,) of the discrete generator (<= 0), ``mean0``.
    Input channels k are 0-based.  ``kernel(n, k)`` is a vectorised callable of the lags.
    """


    def __init__(self, model: Diffusion, order: int, grid: Grid, fns: _Functions):
        super().__init__(model, order)
        self.grid = grid
        x = grid.x
        mu0 = _initial_masses(grid, model.initial)
        on = mu0 > 0
        log_amp = float(np.max(np.log(mu0[on]) + (grid.log_pi.max() - grid.log_pi[on]) / 2))
        if log_amp > MAX_LOG_AMPLIFICATION:
            raise GridError(
                f"initial: the initial law {model.initial!r} puts mass far in the tail of the stationary law, "
                f"where rho_inf is ~e^-{2 * log_amp:.0f} of its peak; the symmetrised eigenbasis amplifies "
                f"rounding errors there by e^{log_amp:.0f} (limit e^{MAX_LOG_AMPLIFICATION:.0f}). Start closer "
                "to the bulk of the stationary law or use Monte Carlo"
            )
        S = _symmetric_generator(grid, fns.D(x))
        lam, U = np.linalg.eigh(S)
        self.eigenvalues = np.minimum(lam, 0.0)
        self._U = U
        sqrt_pi = np.exp(grid.log_pi / 2)
        F = np.stack([f(x) for f in fns.f], axis=1)  # (N, p)
        self._c0 = U.T @ (sqrt_pi[:, None] * F)  # (N, p)
        self._M = np.stack([U.T @ _coupling_hat(grid, g(x)) @ U for g in fns.gamma])  # (m, N, N)
        self._a = U.T @ (mu0 * np.exp(-grid.log_pi / 2))  # (N,)

    # ---- shapes --------------------------------------------------------------------
    def _out(self, y: np.ndarray) -> np.ndarray:
        """Drop the readout axis (last) for a scalar readout."""
        return y if self.model.vector_readout else y[..., 0]

    def __repr__(self) -> str:
        return f"GeneratorResponse(order={self.order}, cells={self.grid.cells}, model={self.model!r})"

    # ---- order 0 -------------------------------------------------------------------
    @property
    def mean0(self) -> Any:
        """E_mu0 f(h^0_t): a number (p-vector for vector readouts) for a stationary start,
        otherwise a callable of t (array-like) returning shape t.shape (+ (p,))."""
        if self.stationary:
            val = self._out(self._a @ self._c0)
            return float(val) if np.ndim(val) == 0 else val

        def mean0(t: Any) -> np.ndarray:
            tt = finite_array(t, "t")
            if np.any(tt < 0):
                raise refusal("t", f"expected finite times >= 0, received {describe(t)}", cls=InputError)
            e = np.exp(tt[..., None] * self.eigenvalues) * self._a  # (..., N)
            return self._out(e @ self._c0)

        return mean0

    # ---- kernels -------------------------------------------------------------------
    def kernel(self, n: int, k: Sequence[int] | int | None = None, component: int | None = None) -> Any:
        """K^(n)_k as a vectorised callable of (tau_1..tau_n[, s_n]) (arrays broadcast together)."""
        n = self._check_n(n)
        return self._lag_callable(n, self._k(n, k), component)

    def _mean0_values(self, t: np.ndarray, component: int) -> np.ndarray:
        if self.stationary:
            return np.full(t.shape, float((self._a @ self._c0)[component]))
        e = np.exp(t[..., None] * self.eigenvalues) * self._a
        return (e @ self._c0)[..., component]

    def _kernel_values(self, n: int, ks: tuple[int, ...], flat: np.ndarray, component: int) -> np.ndarray:
        """K^(n)_{k_1..k_n} at validated lags (L, n[+1]) for readout ``component`` -> (L,)."""
        out = np.empty((flat.shape[0], 1))
        lam = self.eigenvalues
        for start in range(0, flat.shape[0], _LAG_BLOCK):
            blk = flat[start : start + _LAG_BLOCK]
            c = np.broadcast_to(self._c0[:, None, component : component + 1], (lam.size, blk.shape[0], 1))
            for j in range(n):
                c = np.exp(np.outer(lam, blk[:, j]))[:, :, None] * c
                c = np.tensordot(self._M[ks[j]], c, axes=(1, 0))
            a = self._a[:, None] if self.stationary else self._a[:, None] * np.exp(np.outer(lam, blk[:, n]))
            out[start : start + blk.shape[0]] = np.einsum("nl,nlp->lp", a, c)
        return out[:, 0]

    def _transfer(self, n: int, ks: tuple[int, ...], component: int) -> Any:
        """Resolvents of the discretised generator in its eigenbasis: R(s) = diag 1 / (s - lambda) without the
        zero (constant) mode, T_k(S) = a . M_{k_n} R(s_n) ... M_{k_1} R(s_1) c (docs/frequency.md)."""
        from ...numerics.frequency import Transfer, resolvent_chain

        lam = self.eigenvalues
        keep = np.ones(lam.size, dtype=bool)
        keep[int(np.argmax(lam))] = False  # the stationary (constant) mode: annihilated by every coupling

        def solve(s: complex, V: np.ndarray) -> np.ndarray:
            r = np.zeros(lam.size, dtype=complex)
            with np.errstate(divide="ignore", invalid="ignore"):  # a pole hit exactly: refused by the caller
                r[keep] = 1.0 / (s - lam[keep])
            return r[:, None] * V

        def value(kk: tuple[int, ...], S: np.ndarray) -> np.ndarray:
            return resolvent_chain(self._a, self._M, self._c0[:, component], kk, S, solve)

        coarse: list[Any] = []

        def error(kk: tuple[int, ...], S: np.ndarray) -> np.ndarray:
            """|H_N - H_{N/2}| / 3: the Richardson estimate of a second-order scheme (same domain, half the cells)."""
            if not coarse:
                edges = self.grid.edges
                half = derive_generator(
                    self.model, n, cells=max(20, self.grid.cells // 2), domain=(float(edges[0]), float(edges[-1]))
                )
                coarse.append(half.transfer(n, ks, component))
            return np.abs(value(kk, S) - coarse[0].triangular(kk, S)) / 3.0

        return Transfer(
            n, ks, component, self.method, value, error, error_kind="grid",
            rates_of=lambda: -np.sort(lam[keep])[::-1][:6],
        )

    # ---- reports -------------------------------------------------------------------

    def summary(self, lags: Sequence[float] = (0.0, 0.5, 1.0, 2.0)) -> str:
        """A readable listing: the discretisation and each kernel at a few equal lags."""
        lines = [
            f"GeneratorResponse(order={self.order}, cells={self.grid.cells}, "
            f"domain=[{self.grid.edges[0]:.4g}, {self.grid.edges[-1]:.4g}], slowest rate {-self.eigenvalues[-2]:.4g})"
        ]
        if self.stationary:
            lines.append(f"  E f(h^0_t) = {self.mean0}")
        else:
            lines.append(f"  E f(h^0_t) at t = {list(lags)}: {np.round(self.mean0(np.asarray(lags)), 8).tolist()}")
        for n in range(1, self.order + 1):
            for ks in itertools.product(range(self.model.m), repeat=n):
                width = n if self.stationary else n + 1
                pts = np.repeat(np.asarray(lags, dtype=float)[:, None], width, axis=1)
                vals = np.round(self.kernel_values(n, ks, pts), 8).tolist()
                label = ",".join(str(k + 1) for k in ks)
                lines.append(f"  K^({n})_[{label}] at equal lags {list(lags)}: {vals}")
        return "\n".join(lines)

    def to_json(self, lags: Sequence[float] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)) -> dict[str, Any]:
        """Kernel values at equal lags (numerical route: there are no formulas to export)."""
        out: dict[str, Any] = {"model": repr(self.model), "method": "generator", "order": self.order, "kernels": []}
        for n in range(1, self.order + 1):
            for ks in itertools.product(range(self.model.m), repeat=n):
                width = n if self.stationary else n + 1
                pts = np.repeat(np.asarray(lags, dtype=float)[:, None], width, axis=1)
                out["kernels"].append(
                    {"n": n, "k": list(ks), "equal_lags": list(lags), "values": self.kernel_values(n, ks, pts).tolist()}
                )
        return out

    def _build_derivation(self) -> Derivation:
        return route_derivation(self, generator_steps(self))

    def predict(self, u: Any, t: Any, eps: float = 1.0, *, by_order: bool = False, **options: Any) -> np.ndarray:
        """E f(h_t) = sum_{n=0..order} eps^n y^(n)(t) on the time grid t.

        The forward hierarchy d/dt rho^(n) = L0*_h rho^(n) + sum_k u^k(t) L1^k*_h rho^(n-1),
        rho^(0)_0 = mu_0, is integrated in the eigenbasis with the second-order exponential
        integrator ETD2 (source linear in t over each step).  u is taken as the piecewise-linear
        interpolant of its samples on t; the step is exact for order 1 from a stationary start,
        second order in the step otherwise.

        u : callable u(t) -> (m,), or samples (len(t), m), or (len(t),) when m = 1.
        t : 1-D increasing times starting at 0.
        Returns (len(t),) or (len(t), p); with by_order=True (order+1, len(t)) or
        (order+1, len(t), p), order 0 first.
        """
        tt, U_in = self._check_inputs(u, t)
        if options:
            raise refusal(sorted(options)[0], "method='generator' predictions take no options")
        check_flag(by_order, "by_order")
        eps = check_eps(eps, self.order)
        lam, T = self.eigenvalues, tt.size
        Y = np.empty((self.order + 1, T, self._c0.shape[1]))
        state = np.zeros((self.order + 1, lam.size))  # q^(n) at the start of the current chunk
        step: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
        for i0 in range(0, max(T - 1, 1), _TIME_BLOCK):  # chunks [i0, i1] share their end points
            i1 = min(i0 + _TIME_BLOCK, T - 1)
            tc = tt[i0 : i1 + 1]
            q = np.exp(np.outer(tc, lam)) * self._a  # order 0, exact
            Y[0, i0 : i1 + 1] = q @ self._c0
            for n in range(1, self.order + 1):
                src = sum(U_in[i0 : i1 + 1, [k]] * (q @ self._M[k]) for k in range(self.model.m))  # M_k^T q
                new = np.empty_like(q)
                new[0] = state[n]
                for i in range(tc.size - 1):
                    dt = float(tc[i + 1] - tc[i])
                    if step is None or abs(dt - step[0]) > 1e-12 * dt:
                        z = lam * dt
                        step = (dt, np.exp(z), *_phis(z))
                    _, e, p1, p2 = step
                    new[i + 1] = e * new[i] + dt * (p1 * src[i] + p2 * (src[i + 1] - src[i]))
                state[n] = new[-1]
                q = new
                Y[n, i0 : i1 + 1] = q @ self._c0
        if by_order:
            return self._out(Y * (eps ** np.arange(self.order + 1))[:, None, None])
        return self._out(np.tensordot(eps ** np.arange(self.order + 1), Y, axes=1))

    def _check_inputs(self, u: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
        tt = check_grid(t)
        return tt, input_samples(u, tt, self.model.m)


# --------------------------------------------------------------------------- entry point


def derive_generator(
    model: Diffusion,
    order: int,
    *,
    cells: int = 400,
    domain: Sequence[float] | None = None,
    values: Mapping[Any, Any] | None = None,
) -> GeneratorResponse:
    """Kernels of orders 1..``order`` of a 1-D model by the discretised generator.

    model : a 1-D :class:`Diffusion` (numeric after ``model.with_values(values)``) with a
        normalisable stationary law.  cells : number of finite-volume cells (>= 20).
    domain : (x_lo, x_hi); default: the stationary bulk up to tail mass 1e-13 on each side,
        joined with the initial law.  Cost: one eigh of an N x N matrix and m N x N products.
    """
    order = check_derive_request(model, order)  # vs.derive's limits (model size, kernel count)
    if model.n != 1:
        raise ModelError(
            f"model: the numerical generator is 1-D only, received a model with state dimension {model.n}; "
            "use method='taylor' or Monte Carlo"
        )
    if values or not model.is_numeric():
        model = model.with_values(values)
    fns = _functions(model)
    grid = _make_grid(fns, model.initial, cells, domain)
    return GeneratorResponse(model, int(order), grid, fns)


def parse_domain(text: str) -> tuple[float, float]:
    """``LO,HI`` (command line) -> (x_lo, x_hi); the grid checks the values."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(text)
    return float(parts[0]), float(parts[1])


class GeneratorRoute(Route):
    """Numerical kernels of 1-D models at any lag from a discretised generator (docs/generator.md)."""

    name = "generator"
    summary = "numerical kernels at any lag from a discretised 1-D generator"
    schema = (
        Option(
            "cells",
            "int",
            "number of finite-volume cells",
            default=400,
            minimum=MIN_CELLS,
            limit="MAX_GENERATOR_CELLS",
            error=GridError,
        ),
        Option(
            "domain",
            "value",
            "the ends of the grid (default: the stationary bulk)",
            parse=parse_domain,
            form="(x_lo, x_hi); LO,HI on the command line",
        ),
        Option(
            "values",
            "value",
            "numeric values for symbolic parameters",
            flag="",
            in_files=False,
            form="a mapping parameter -> number",
        ),
    )
    response = GeneratorResponse

    def _derive(self, model: Diffusion, order: int | None, **options: Any) -> GeneratorResponse:
        assert order is not None  # the base class requires it (default_order is False)
        return derive_generator(model, order, **options)

    def contract_case(self) -> ContractCase:
        tanh = SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")
        numerical = f"method={self.name!r}"
        return ContractCase(
            tanh,
            2,
            {"cells": 120},
            refuses={
                "write_module": f"write_module: {numerical} computes its kernels numerically",
                "kernel_taylor": f"kernel_taylor: {numerical} does not provide derivatives",
                "feature_coefficients": f"kernel_taylor: {numerical} does not provide derivatives",
                "predict_features": f"kernel_taylor: {numerical} does not provide derivatives",
            },
        )
