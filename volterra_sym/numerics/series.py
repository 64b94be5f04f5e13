"""Evaluating the truncated Volterra series for a sampled input by filter cascades (MATH.md section 4).

:mod:`volterra_sym.numerics.prediction` uses this module for the orders whose kernels have no cube
form (:mod:`volterra_sym.numerics.separable`), for order 0, and for ``engine="cascade"`` (the
previous predictor, kept as a cross-check).

    E f(h_t) = E f(h^0_t)
             + sum_{n=1}^N eps^n sum_k int_{0<s_n<..<s_1<t} K^(n)_k(tau; s_n) u^{k_1}_{s_1}..u^{k_n}_{s_n} ds

Every kernel here is an exponential polynomial (closed forms of linear SRNNs,
and Taylor kernels, whose rates are 0).  For one term
c prod_j tau_j^{p_j} e^{-mu_j tau_j} * s_n^q e^{-nu s_n} the ordered integral is a
cascade of causal filters, innermost first:

    w_n = u^{k_n}(s) s^q e^{-nu s},   y_j = H_{mu_j, p_j}[w_j],   w_{j-1} = u^{k_{j-1}} y_j,   I(t) = y_1(t),

    H_{mu,p}[w](s) = int_0^s (s-r)^p e^{-mu (s-r)} w(r) dr = p! (F_mu)^{p+1}[w],
    F_mu[w](s)     = int_0^s e^{-mu (s-r)} w(r) dr.

F_mu is advanced over each grid interval exactly for a polynomial interpolant
of its source (exponential-integrator weights phi_k(-mu h)), and the linear
recurrence z_{j+1} = e^{-mu h_j} z_j + b_j is solved with blocked cumulative
sums, so the cost is O(len(t)) per term (terms sharing inner stages share work).

Input conventions and quadrature orders (h = largest step):

* ``interp="pwlinear"`` (default for sampled inputs): the input IS the
  piecewise-linear interpolant of its samples (the convention of the Gaussian
  oracle and of exact-scheme Monte Carlo).  Filter sources are smooth inside
  each interval and kinked only at the samples; each is replaced on its
  interval by the Hermite cubic of its values and one-sided derivatives, which
  are known exactly (z' = -mu z + w for every filter output, u' = the slope of
  the interval).  The first order is EXACT; higher orders are O(h^4).
* ``interp="cubic"`` (default for callables, which are sampled on ``t``): cubics
  through 4 neighbouring nodes: O(h^4) for smooth inputs (grids of 2-3 points use
  ``"pwlinear"``).
* ``interp="linear"``: chords: first order exact for piecewise-linear inputs,
  higher orders O(h^2); the cheapest.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import mpmath
import numpy as np
import sympy as sp

from .. import limits
from ..algebra.exp_polynomial import ExpPoly, numeric_value, stable_numeric_terms
from ..errors import InputError
from ..model.diffusion import Diffusion
from ..validate import check_choice

BLOCK_EXPONENT = 30.0

#: (bounds, grow, decay, step_decay) of the blocked recurrence (see :func:`recurrence_blocks`)
Blocks = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def etd_phi(k: int, z: np.ndarray) -> np.ndarray:
    """phi_k(z) = int_0^1 e^{(1-s) z} s^{k-1}/(k-1)! ds (see :func:`etd_phi_all`)."""
    return etd_phi_all(k, z)[k - 1]


def etd_phi_all(kmax: int, z: np.ndarray) -> list[np.ndarray]:
    """[phi_1(z), ..., phi_kmax(z)] together: series for phi_kmax and the downward recurrence
    phi_k = z phi_{k+1} + 1/k! for |z| < 4; phi_1 = (e^z - 1)/z and the upward recurrence
    phi_{k+1} = (phi_k - 1/k!)/z otherwise (both stable in their range)."""
    z = np.asarray(z, dtype=complex)
    small = np.abs(z) < 4.0
    out = [np.empty_like(z) for _ in range(kmax)]
    if np.any(small):
        zs = z[small]
        acc = np.zeros_like(zs)
        term = np.full_like(zs, 1.0 / math.factorial(kmax))
        for mth in range(60):
            acc += term
            term = term * zs / (mth + 1 + kmax)
        vals = [acc]
        for k in range(kmax - 1, 0, -1):
            vals.append(zs * vals[-1] + 1.0 / math.factorial(k))
        for k in range(kmax):
            out[k][small] = vals[kmax - 1 - k]
    if not np.all(small):
        zb = z[~small]
        v = (np.exp(zb) - 1.0) / zb
        out[0][~small] = v
        for k in range(1, kmax):
            v = (v - 1.0 / math.factorial(k)) / zb
            out[k][~small] = v
    return out


class NodeGrid:
    """Interpolation weights of a grid (independent of the rates) and per-rate recurrence factors.

    ``interp``: ``"cubic"`` (cubics through 4 neighbouring nodes) or ``"linear"`` (chords).
    """

    def __init__(self, t: np.ndarray, interp: str):
        self.t = t
        self.h = np.diff(t)
        L = t.size
        if interp == "linear" or L < 4:
            self.deg = 1
            self.nodes = np.stack([np.arange(L - 1), np.arange(1, L)], axis=1)
        elif interp == "cubic":
            self.deg = 3
            start = np.clip(np.arange(L - 1) - 1, 0, L - 4)
            self.nodes = start[:, None] + np.arange(4)[None, :]
        else:
            check_choice(interp, "interp", ("pwlinear", "cubic", "linear"))
            raise AssertionError("unreachable: check_choice refuses every other value")
        # monomial coefficients a_q (in theta = r/h) of the interpolant: a = Vinv @ w_nodes
        theta = (t[self.nodes] - t[:-1, None]) / self.h[:, None]  # (L-1, deg+1)
        # rows sharing a step length and a node pattern (to 1e-9 relative, i.e. up to the rounding noise
        # of np.linspace-type grids) share their weights: a handful of classes instead of one per row
        hkey = _step_keys(self.h).astype(float)
        tkey = np.round(theta, 9)
        keys = np.concatenate([hkey[:, None], tkey], axis=1)
        _, first, self.cidx = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        self.cidx = self.cidx.reshape(-1)
        rep = first
        V = theta[rep][:, :, None] ** np.arange(self.deg + 1)[None, None, :]  # (classes, nodes, q)
        self.Vinv = np.linalg.inv(V)  # (classes, q, nodes)
        self.class_h = self.h[rep]
        self._cache: dict[complex, tuple[np.ndarray, Blocks]] = {}

    def weights(self, mu: complex) -> tuple[np.ndarray, Blocks]:
        """(G, blocks): b_j = sum_i G[j, i] w[nodes[j, i]], and the recurrence blocks of :func:`recurrence_blocks`."""
        if mu in self._cache:
            return self._cache[mu]
        z = -mu * self.class_h
        ph = np.stack([math.factorial(q) * f for q, f in enumerate(etd_phi_all(self.deg + 1, z))], axis=-1)
        Gc = np.einsum("cq,cqi->ci", ph, self.Vinv)  # per class, per unit step
        G = (self.class_h[:, None] * Gc)[self.cidx]
        res = (G, recurrence_blocks(self.t, mu))
        self._cache[mu] = res
        return res

    def filter(self, mu: complex, w: np.ndarray) -> np.ndarray:
        """z = F_mu[w] on the grid: z_0 = 0, z_{j+1} = e^{-mu h_j} z_j + b_j, via blocked cumulative sums."""
        G, blocks = self.weights(mu)
        b = np.einsum("ji,ji->j", G, w[self.nodes])
        return solve_recurrence(*blocks, b)


# --------------------------------------------------------------------------- evaluation


def _to_complex(x: Any, subs: dict) -> complex:
    if isinstance(x, (int, float, complex)):
        return complex(x)
    return complex(numeric_value(x, subs, 20))


#: steps equal to this relative tolerance share their weights (np.linspace grids: a handful of classes)
STEP_CLASS_TOL = 1e-10


def _step_keys(h: np.ndarray) -> np.ndarray:
    """Integer keys equal for steps that agree to STEP_CLASS_TOL relative (not absolute) precision."""
    return np.round(np.log(h) / STEP_CLASS_TOL).astype(np.int64)


def step_classes(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Representative step of each class of equal steps and the class of every step.

    O(len(h)) when the keys span a short range (every grid whose steps differ by rounding only, and
    most others); a sort otherwise."""
    keys = _step_keys(h)
    lo = int(keys.min())
    span = int(keys.max()) - lo
    if span <= 4 * h.size + 1024:
        present = np.zeros(span + 1, dtype=bool)
        present[keys - lo] = True
        rank = np.cumsum(present) - 1
        idx = rank[keys - lo]
        first = np.empty(int(rank[-1]) + 1, dtype=np.int64)
        first[idx[::-1]] = np.arange(h.size - 1, -1, -1)  # the last write is the first occurrence
        return h[first], idx
    _, first, idx = np.unique(keys, return_index=True, return_inverse=True)
    return h[first], idx.reshape(-1)


def recurrence_blocks(t: np.ndarray, mu: complex) -> Blocks:
    """Blocks of the recurrence z_{j+1} = e^{-mu h_j} z_j + b_j, solved by cumulative sums inside each block.

    Inside a block of several steps |Re mu| (t_j - t_block start) <= 2 BLOCK_EXPONENT, so the factors
    e^{+-mu (t_{j+1} - t_a)} neither overflow nor lose the early terms; a single step with
    |Re mu| h > BLOCK_EXPONENT forms a block of its own and is advanced directly.  Returns
    (bounds, grow, decay, step_decay); the number of blocks is at most |Re mu| T / BLOCK_EXPONENT plus
    the number of such steps, computed without any array of that size.
    """
    L = t.size
    h = np.diff(t)
    re = abs(mu.real)
    if re == 0:
        bounds = np.array([0, L - 1])
        big = np.zeros(0, dtype=int)
    else:
        ids = np.floor(re * (t - t[0]) / BLOCK_EXPONENT)
        change = np.flatnonzero(np.diff(ids) != 0) + 1
        big = np.flatnonzero(re * h > BLOCK_EXPONENT)
        bounds = np.unique(np.concatenate([[0, L - 1], change, big, big + 1]))
    start = bounds[np.searchsorted(bounds, np.arange(L - 1), side="right") - 1]  # block start of each step
    rel = t[1:] - t[start]
    rel[big] = 0.0  # single-step blocks use step_decay instead
    rate = mu.real if mu.imag == 0 else mu
    grow = np.exp(rate * rel)
    step_decay = np.zeros(L - 1, dtype=grow.dtype)
    single = bounds[:-1][np.diff(bounds) == 1]  # one-step blocks (every big step, and steps between two of them)
    step_decay[single] = np.exp(-rate * h[single])
    return bounds, grow, 1.0 / grow, step_decay


def solve_recurrence(
    bounds: np.ndarray, grow: np.ndarray, decay: np.ndarray, step_decay: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """z_0 = 0, z_{j+1} = e^{-mu h_j} z_j + b_j on the blocks of :func:`recurrence_blocks`."""
    z = np.zeros(b.size + 1, dtype=np.result_type(b, grow))
    for a, bnd in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if bnd == a + 1:
            z[bnd] = step_decay[a] * z[a] + b[a]
        else:
            acc = np.cumsum(b[a:bnd] * grow[a:bnd])
            z[a + 1 : bnd + 1] = decay[a:bnd] * (z[a] + acc)
    return z


class _HermiteGrid:
    """F_mu over each interval for the Hermite cubic of the source (values + one-sided derivatives).

    On [t_j, t_j + h] with w(t_j) = w0, w(t_j + h) = w1, w'(t_j+) = d0, w'(t_{j+1}-) = d1:
    w ~ sum_q a_q theta^q with a0 = w0, a1 = h d0, a2 = 3(w1 - w0) - h(2 d0 + d1),
    a3 = 2(w0 - w1) + h(d0 + d1), and int_0^h e^{-mu(h-r)} theta^q dr = h q! phi_{q+1}(-mu h).
    """

    def __init__(self, t: np.ndarray):
        self.t = t
        self.h = np.diff(t)
        self.class_h, self.cidx = step_classes(self.h)
        self._cache: dict[complex, tuple[list[np.ndarray], Blocks]] = {}

    def weights(self, mu: complex) -> tuple[list[np.ndarray], Blocks]:
        if mu in self._cache:
            return self._cache[mu]
        z = -mu * self.class_h
        W = [math.factorial(q) * f for q, f in enumerate(etd_phi_all(4, z))]
        if mu.imag == 0:
            W = [w.real for w in W]
        h = self.class_h
        coef = [h * (W[0] - 3 * W[2] + 2 * W[3]), h * (3 * W[2] - 2 * W[3]), h * h * (W[1] - 2 * W[2] + W[3])]
        coef.append(h * h * (W[3] - W[2]))
        coef = [c[self.cidx] for c in coef]
        res = (coef, recurrence_blocks(self.t, mu))
        self._cache[mu] = res
        return res

    def filter(self, mu: complex, w: np.ndarray, d0: np.ndarray, d1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z, z') with z = F_mu[w] at the nodes and z' = -mu z + w (continuous)."""
        (c0, c1, c2, c3), blocks = self.weights(mu)
        b = c0 * w[:-1] + c1 * w[1:] + c2 * d0 + c3 * d1
        z = solve_recurrence(*blocks, b)
        zr = mu.real if mu.imag == 0 else mu
        return z, w - zr * z


class HermiteEvaluator:
    """Ordered Volterra integrals for a piecewise-linear input (values at the nodes, slopes per interval)."""

    def __init__(self, t: np.ndarray, U: np.ndarray):
        self.grid = _HermiteGrid(t)
        self.t = t
        self.U = U
        self.slope = np.diff(U, axis=0) / np.diff(t)[:, None]
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._powers: dict[tuple, list] = {}

    def stage(self, chain: tuple) -> tuple[np.ndarray, np.ndarray]:
        """(y_j, y_j') on the grid for chain = ((q, nu), (k_n, mu_n, p_n), ..., (k_j, mu_j, p_j))."""
        if chain in self._cache:
            return self._cache[chain]
        t = self.t
        if len(chain) == 1:
            q, nu = chain[0]
            nu_ = nu.real if nu.imag == 0 else nu
            e = np.exp(-nu_ * t) if nu != 0 else np.ones_like(t)
            g = t**q * e
            dg = (q * t ** max(q - 1, 0) * e if q else 0.0) - nu_ * g
            res = (g, dg + 0 * g)
        else:
            k, mu, p = chain[-1]
            z, dz = self.powers(chain[:-1], k, mu, p)[p]
            res = (z * math.factorial(p), dz * math.factorial(p))
        self._cache[chain] = res
        return res

    def powers(self, inner: tuple, k: int, mu: complex, p: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """[F_mu^1, ..., F_mu^{p+1}] of u^k * stage(inner), shared by every power of the lag (H_{mu,p} = p! F^{p+1})."""
        key = (inner, k, mu)
        out = self._powers.setdefault(key, [])
        if not out:
            out.append(self.grid.filter(mu, *self.source(self.stage(inner), k, 1.0)))
        while len(out) <= p:
            z, dz = out[-1]
            out.append(self.grid.filter(mu, z, dz[:-1], dz[1:]))
        return out

    def source(self, sig: tuple[np.ndarray, np.ndarray], k: int, scale: float) -> tuple:
        """scale * u^k * signal as (values, right derivatives at the left ends, left derivatives at the right ends)."""
        y, dy = sig
        u, sl = self.U[:, k], self.slope[:, k]
        return scale * (u * y), scale * (sl * y[:-1] + u[:-1] * dy[:-1]), scale * (sl * y[1:] + u[1:] * dy[1:])

    def horner(
        self, inner: dict[int, tuple[np.ndarray, np.ndarray]], k: int, mu: complex
    ) -> tuple[np.ndarray, np.ndarray]:
        """sum_p H_{mu,p}[u^k * inner[p]] = F[0! w_0 + F[1! w_1 + ... F[pmax! w_pmax]]]: pmax + 1 filters in all."""
        pmax = max(inner)
        w, d0, d1 = self.source(inner[pmax], k, math.factorial(pmax))
        for p in range(pmax - 1, -1, -1):
            z, dz = self.grid.filter(mu, w, d0, d1)
            w, d0, d1 = z, dz[:-1], dz[1:]
            if p in inner:
                a, b, c = self.source(inner[p], k, math.factorial(p))
                w, d0, d1 = w + a, d0 + b, d1 + c
        return self.grid.filter(mu, w, d0, d1)

    @staticmethod
    def combine(items: list) -> tuple[np.ndarray, np.ndarray]:
        """sum_i c_i * signal_i."""
        return sum(c * sig[0] for c, sig in items), sum(c * sig[1] for c, sig in items)

    @staticmethod
    def value(sig: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return sig[0]


def numeric_terms(F: ExpPoly, subs: dict) -> list[tuple[tuple[complex, ...], tuple[int, ...], complex]]:
    """The terms of an ExpPoly as Python complex numbers (parameters substituted)."""
    with mpmath.workdps(20):
        return [(tuple(_to_complex(m, subs) for m in mu), p, _to_complex(c, subs)) for mu, p, c in F]


def eval_univariate(F: ExpPoly, t: np.ndarray, subs: dict) -> np.ndarray:
    """sum c t^p e^{-mu t} on an array of times (near-coincident rates merged up to max t)."""
    horizon = float(np.max(t)) if t.size else 1.0
    return univariate_values(stable_numeric_terms(F, subs, max(horizon, 1e-300)), t)


def mean0_numeric_form(forms: Any, component: int) -> ExpPoly:
    """E f_c(h^0_t) as an exponential polynomial in t alone (a constant for the stationary start)."""
    F0 = forms.mean0_form(component)
    return _as_univariate(F0, forms.t_sym) if forms.stationary else F0


def univariate_values(terms: list[tuple], t: np.ndarray, exps: dict | None = None) -> np.ndarray:
    """sum c t^p e^{-mu t} over float terms ((mu,), (p,), c), one exponential per distinct rate
    (``exps``: e^{-mu t} on ``t`` by rate, shared with other evaluations on the same grid)."""
    exps = {} if exps is None else exps
    by_rate: dict[complex, dict[int, complex]] = {}
    for (mu,), (p,), c in terms:
        if mu.imag < 0:  # Re(c e^{-mu t}) = Re(conj(c) e^{-conj(mu) t}): conjugate rates share one exponential
            mu, c = mu.conjugate(), c.conjugate()
        by_rate.setdefault(mu, {})
        by_rate[mu][p] = by_rate[mu].get(p, 0) + c
    out = np.zeros(t.shape)
    for mu, polys in by_rate.items():  # one exponential per distinct rate
        poly: np.ndarray = np.zeros(t.shape, dtype=complex)
        for p, c in polys.items():
            poly = poly + (c * t**p if p else c)
        if mu == 0:
            out += np.real(poly)
            continue
        if mu not in exps:
            exps[mu] = np.exp(-(mu.real if mu.imag == 0 else mu) * t)
        if mu.imag == 0:
            out += np.real(poly) * exps[mu]
        else:
            out += (poly * exps[mu]).real
    return out


class SeriesEvaluator:
    """Evaluates ordered Volterra integrals of exponential-polynomial kernels on one grid and input."""

    def __init__(self, t: np.ndarray, U: np.ndarray, interp: str = "cubic"):
        self.grid = NodeGrid(t, interp)
        self.t = t
        self.U = U.astype(complex)
        self._cache: dict[tuple, np.ndarray] = {}
        self._powers: dict[tuple, list] = {}

    def stage(self, chain: tuple) -> np.ndarray:
        """chain = ((q, nu), (k_n, mu_n, p_n), ..., (k_j, mu_j, p_j)): y_j on the grid."""
        if chain in self._cache:
            return self._cache[chain]
        if len(chain) == 1:
            q, nu = chain[0]
            res = (self.t**q) * np.exp(-nu * self.t) if (q or nu) else np.ones_like(self.t, dtype=complex)
        else:
            k, mu, p = chain[-1]
            res = self.powers(chain[:-1], k, mu, p)[p] * math.factorial(p)
        self._cache[chain] = res
        return res

    def powers(self, inner: tuple, k: int, mu: complex, p: int) -> list[np.ndarray]:
        """[F_mu^1, ..., F_mu^{p+1}] of u^k * stage(inner) (H_{mu,p} = p! F^{p+1})."""
        out = self._powers.setdefault((inner, k, mu), [])
        if not out:
            out.append(self.grid.filter(mu, self.U[:, k] * self.stage(inner)))
        while len(out) <= p:
            out.append(self.grid.filter(mu, out[-1]))
        return out

    def horner(self, inner: dict[int, np.ndarray], k: int, mu: complex) -> np.ndarray:
        """sum_p H_{mu,p}[u^k * inner[p]] = F[0! w_0 + F[1! w_1 + ... F[pmax! w_pmax]]]."""
        pmax = max(inner)
        u = self.U[:, k]
        w = u * inner[pmax] * math.factorial(pmax)
        for p in range(pmax - 1, -1, -1):
            w = self.grid.filter(mu, w)
            if p in inner:
                w = w + u * inner[p] * math.factorial(p)
        return self.grid.filter(mu, w)

    @staticmethod
    def combine(items: list) -> np.ndarray:
        return sum(c * sig for c, sig in items)

    @staticmethod
    def value(sig: np.ndarray) -> np.ndarray:
        return sig


def ordered_integrals(ev: Any, ks: tuple[int, ...], terms: list, N: int, select: Any = None) -> np.ndarray:
    """sum over terms of c * (ordered integral of the term), grouping terms by their outermost stage.

    The outermost filter is linear, so terms sharing (k_1, mu_1) sum their inner signals per lag power
    p_1 first and go through one Horner chain of filters (:meth:`horner`); inner stages share their
    filter powers (:meth:`powers`).  ``select(p)`` restricts to some terms (e.g. the top Taylor shell).
    """
    n = len(ks)
    groups: dict[tuple, dict[int, list]] = {}
    for mu, p, coef in terms:
        if select is not None and not select(p):
            continue
        chain: tuple = ((p[N], mu[N]),)
        for j in reversed(range(1, n)):
            chain = (*chain, (ks[j], mu[j], p[j]))
        groups.setdefault((ks[0], mu[0]), {}).setdefault(p[0], []).append((coef, ev.stage(chain)))
    total = np.zeros(ev.t.size, dtype=complex)
    for (k, mu), by_power in groups.items():
        total += ev.value(ev.horner({p: ev.combine(items) for p, items in by_power.items()}, k, mu))
    return total


class ExpPolyKernels(Protocol):
    """What the series evaluation needs of a closed-form Response (structural type)."""

    model: Diffusion
    order: int
    taus: tuple[sp.Symbol, ...]
    t_sym: sp.Symbol

    @property
    def stationary(self) -> bool: ...

    def mean0_form(self, component: int = 0) -> ExpPoly: ...

    def mean0_terms(self, component: int, horizon: float) -> list[Any]: ...

    def numeric_terms(self, key: tuple[int, int, tuple[int, ...]], horizon: float) -> list[Any]: ...


INTERPOLATIONS = ("pwlinear", "cubic", "linear")


def evaluate_series(
    forms: ExpPolyKernels,
    U: np.ndarray,
    tt: np.ndarray,
    eps: float,
    *,
    interp: str,
    top_degree: int | None = None,
    only: set[tuple[int, int, bool]] | None = None,
    exps: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each order's contribution eps^n y^(n)(t) of the Volterra series on the grid ``tt``, by filter cascades.

    U : validated input samples (len(t), m); interp : one of INTERPOLATIONS (module docstring).
    top_degree : when given, also the contribution of the terms of that total lag degree
        (the top Taylor shell: an error estimate of truncated kernels).
    only : when given, the (component, order, top shell?) parts computed here (the others are left at
        zero for the cube form of :mod:`volterra_sym.numerics.separable`); order 0 is always computed.
    exps : e^{-mu t} on ``tt`` by rate, shared with the cube form (filled here).

    Returns (parts (order+1, len(t), p), top (order+1, len(t), p): each order's top shell); non-finite values are
    left to the caller.
    """
    model = forms.model
    P = model.p
    N = len(forms.taus)
    check_prediction_memory(forms, tt, only, top_degree)
    out = np.zeros((forms.order + 1, tt.size, P))
    ev: Any = None
    top = np.zeros((forms.order + 1, tt.size, P))
    horizon = float(tt[-1])
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are reported by the caller
        for c in range(P):
            out[0, :, c] = univariate_values(forms.mean0_terms(c, horizon), tt, exps)
            for n in range(1, forms.order + 1):
                main = only is None or (c, n, False) in only
                shell = top_degree is not None and (only is None or (c, n, True) in only)
                if not (main or shell):
                    continue
                acc = np.zeros(tt.size, dtype=complex)
                acc_top = np.zeros(tt.size, dtype=complex)
                if ev is None:
                    ev = HermiteEvaluator(tt, U) if interp == "pwlinear" else SeriesEvaluator(tt, U, interp)
                for ks in _tuples(model.m, n):
                    terms = forms.numeric_terms((c, n, ks), horizon)
                    if main:
                        acc += ordered_integrals(ev, ks, terms, N)
                    if shell:
                        acc_top += ordered_integrals(ev, ks, terms, N, select=lambda p: sum(p) == top_degree)
                out[n, :, c] = acc.real * eps**n
                top[n, :, c] += acc_top.real * eps**n
    return out, top


#: bytes per grid point of one cached filter stage (value and slope, complex)
STAGE_BYTES = 32


def check_prediction_memory(
    forms: ExpPolyKernels, tt: np.ndarray, only: set[tuple[int, int, bool]] | None = None, top_degree: int | None = None
) -> None:
    """Refuse (InputError on ``t``) a cascade prediction whose cached filter stages, STAGE_BYTES x len(t) each,
    plus the (order + 3) x p output arrays exceed vs.limits.PREDICT_MEMORY, before any filter runs.

    The stages are the distinct prefixes of the terms' filter chains (what :func:`ordered_integrals` caches)."""
    horizon, points = float(tt[-1]), tt.size  # the terms are cached per horizon: the run below reuses them
    N = len(forms.taus)
    stages: set[tuple] = set()
    for c in range(forms.model.p):
        for n in range(1, forms.order + 1):
            if only is not None and (c, n, False) not in only and (top_degree is None or (c, n, True) not in only):
                continue
            for ks in _tuples(forms.model.m, n):
                for mu, p, _ in forms.numeric_terms((c, n, ks), horizon):
                    chain: tuple = ((p[N], mu[N]),)
                    stages.add(chain)
                    for j in reversed(range(1, n)):
                        chain = (*chain, (ks[j], mu[j], p[j]))
                        stages.add(chain)
                    stages.add((ks[0], mu[0], p[0]))
    need = STAGE_BYTES * points * len(stages) + 8 * points * (forms.order + 3) * forms.model.p
    limits.check_memory(
        need,
        "t",
        f"the prediction on {points} grid points ({len(stages)} filter stages of ~{STAGE_BYTES} bytes per point)",
        "use a coarser grid (or predict on pieces of it)",
        cls=InputError,
    )


def _as_univariate(F: ExpPoly, t_sym: sp.Symbol) -> ExpPoly:
    total = sum((c for _, _, c in F), 0)
    return ExpPoly.constant((t_sym,), total)


def _tuples(m: int, n: int):
    import itertools

    return itertools.product(range(m), repeat=n)
