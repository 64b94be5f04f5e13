"""Evaluating the truncated Volterra series for a sampled input (MATH.md section 4).

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

Quadrature orders (h = largest step):
* ``interp="cubic"`` (default): the source is interpolated by cubics through
  4 neighbouring nodes: error O(h^4) for smooth inputs.
* ``interp="linear"``: piecewise-linear interpolation of the source: the first
  order term is EXACT for piecewise-linear (sampled) inputs; higher orders are O(h^2).
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from .errors import VolterraError, describe
from .expopoly import ExpPoly, is_mp

BLOCK_EXPONENT = 30.0


# --------------------------------------------------------------------------- input checks


def check_grid(t: Any) -> np.ndarray:
    """Validate a time grid: 1-D, finite, strictly increasing, starting at 0."""
    try:
        arr = np.asarray(t, dtype=float)
    except (TypeError, ValueError):
        raise VolterraError(f"t: expected a 1-D array of times, received {describe(t)}") from None
    if arr.ndim != 1:
        raise VolterraError(f"t: expected a 1-D array of times, received shape {arr.shape}")
    if arr.size < 2:
        raise VolterraError(f"t: need at least 2 grid points, received {arr.size}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise VolterraError(f"t: non-finite value {arr[bad]} at index {bad}; give finite times")
    if arr[0] != 0:
        raise VolterraError(f"t: the grid must start at 0 (the time the input starts), received t[0] = {arr[0]}")
    d = np.diff(arr)
    if np.any(d <= 0):
        bad = int(np.flatnonzero(d <= 0)[0])
        raise VolterraError(
            f"t: the grid must be strictly increasing, but t[{bad + 1}] = {arr[bad + 1]} <= t[{bad}] = {arr[bad]}"
        )
    return arr


def input_samples(u: Any, t: np.ndarray, m: int) -> np.ndarray:
    """Input as an array of shape (len(t), m): samples, or a callable u(t) -> (m,) evaluated on the grid."""
    L = t.size
    if callable(u):
        rows = []
        for j, tj in enumerate(t):
            try:
                val = np.asarray(u(float(tj)), dtype=float)
            except VolterraError:
                raise
            except Exception as exc:  # the user's callable failed
                raise VolterraError(f"u: calling u({tj}) raised {type(exc).__name__}: {exc}") from exc
            if val.shape not in ((m,), () if m == 1 else (m,), (1,) if m == 1 else (m,)):
                raise VolterraError(
                    f"u: the callable must return an array of shape ({m},) (one value per input channel), "
                    f"u({tj}) returned shape {val.shape}"
                )
            rows.append(val.reshape(m))
            if j == 0 and not np.all(np.isfinite(rows[0])):
                break
        U = np.array(rows)
    else:
        try:
            U = np.asarray(u, dtype=float)
        except (TypeError, ValueError):
            raise VolterraError(
                f"u: expected samples of shape ({L}, {m}) or a callable u(t) -> ({m},), received {describe(u)}"
            ) from None
        if U.ndim == 1 and m == 1:
            U = U[:, None]
        if U.ndim != 2 or U.shape[1] != m:
            raise VolterraError(
                f"u: expected samples of shape (len(t), m) = ({L}, {m}) (the model has {m} input channel(s)), "
                f"received shape {U.shape}"
            )
        if U.shape[0] != L:
            raise VolterraError(f"u: has {U.shape[0]} samples but the grid t has {L} points; give one sample per time")
    if not np.all(np.isfinite(U)):
        j, k = np.argwhere(~np.isfinite(U))[0]
        raise VolterraError(f"u: non-finite value {U[j, k]} at time t[{j}] = {t[j]}, channel {k}; clean the input")
    return U


def check_eps(eps: Any) -> float:
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise VolterraError(f"eps: expected a finite real number, received {describe(eps)}") from None
    if not math.isfinite(e):
        raise VolterraError(f"eps: expected a finite real number, received {eps}")
    return e


# --------------------------------------------------------------------------- phi functions


def phi(k: int, z: np.ndarray) -> np.ndarray:
    """phi_k(z) = int_0^1 e^{(1-s) z} s^{k-1}/(k-1)! ds, stable for all z (series near 0)."""
    z = np.asarray(z, dtype=complex)
    out = np.empty_like(z)
    small = np.abs(z) < 1.0
    if np.any(small):
        zs = z[small]
        acc = np.zeros_like(zs)
        term = np.full_like(zs, 1.0 / math.factorial(k))
        for mth in range(30):
            acc += term
            term = term * zs / (mth + 1 + k)
        out[small] = acc
    big = ~small
    if np.any(big):
        zb = z[big]
        val = np.exp(zb)
        partial = np.zeros_like(zb)
        term = np.ones_like(zb)
        for j in range(k):
            partial += term
            term = term * zb / (j + 1)
        out[big] = (val - partial) / zb**k
    return out


class _Grid:
    """Interpolation weights of a grid (independent of the rates)."""

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
            raise VolterraError(f"interp: expected 'cubic' or 'linear', received {interp!r}")
        # monomial coefficients a_q (in theta = r/h) of the interpolant: a = Vinv @ w_nodes
        theta = (t[self.nodes] - t[:-1, None]) / self.h[:, None]  # (L-1, deg+1)
        V = theta[:, :, None] ** np.arange(self.deg + 1)[None, None, :]  # (L-1, nodes, q)
        self.Vinv = np.linalg.inv(V)  # (L-1, q, nodes)
        self._uniform = bool(np.allclose(self.h, self.h[0], rtol=1e-12, atol=0))
        self._cache: dict[complex, tuple[np.ndarray, np.ndarray]] = {}

    def weights(self, mu: complex) -> tuple[np.ndarray, np.ndarray]:
        """(decay e^{-mu h_j}, G[j, i]) with b_j = sum_i G[j, i] w[nodes[j, i]]."""
        if mu in self._cache:
            return self._cache[mu]
        if self._uniform:
            z = np.array([-mu * self.h[0]])
        else:
            z = -mu * self.h
        ph = np.stack([math.factorial(q) * phi(q + 1, z) for q in range(self.deg + 1)], axis=-1)  # (.., q)
        if self._uniform:
            ph = np.broadcast_to(ph, (self.h.size, self.deg + 1))
        G = self.h[:, None] * np.einsum("jq,jqi->ji", ph, self.Vinv)
        res = (np.exp(-mu * self.h), G)
        self._cache[mu] = res
        return res

    def filter(self, mu: complex, w: np.ndarray) -> np.ndarray:
        """z = F_mu[w] on the grid (z_0 = 0)."""
        decay, G = self.weights(mu)
        b = np.einsum("ji,ji->j", G, w[self.nodes])
        return _linear_recurrence(self.t, mu, b)


def _linear_recurrence(t: np.ndarray, mu: complex, b: np.ndarray) -> np.ndarray:
    """z_0 = 0, z_{j+1} = e^{-mu h_j} z_j + b_j, via blocked cumulative sums (no overflow)."""
    L = t.size
    z = np.zeros(L, dtype=complex)
    re = abs(mu.real)
    if re == 0:
        bounds = [0, L - 1]
    else:
        span = BLOCK_EXPONENT / re
        edges = np.searchsorted(t, np.arange(0.0, t[-1] + span, span))
        bounds = sorted(set([0, *[int(e) for e in edges if 0 < e < L - 1], L - 1]))
    for a, bnd in zip(bounds[:-1], bounds[1:]):
        tt = t[a : bnd + 1] - t[a]
        grow = np.exp(mu * tt[1:])  # e^{mu (t_{i+1} - t_a)}
        acc = np.cumsum(b[a:bnd] * grow)
        z[a + 1 : bnd + 1] = np.exp(-mu * tt[1:]) * (z[a] + acc)
    return z


# --------------------------------------------------------------------------- evaluation


def _to_complex(x: Any, subs: dict) -> complex:
    if is_mp(x):
        return complex(x)
    if isinstance(x, (int, float, complex)):
        return complex(x)
    expr = sp.sympify(x)
    if expr.free_symbols:
        expr = expr.xreplace(subs)
        if expr.free_symbols:
            raise VolterraError(
                f"params: the kernels contain symbolic parameter(s) {sorted(map(str, expr.free_symbols))} without "
                "numeric values; give them as params={'name': value} when building the model"
            )
    return complex(sp.N(expr, 20))


def numeric_terms(F: ExpPoly, subs: dict) -> list[tuple[tuple[complex, ...], tuple[int, ...], complex]]:
    """The terms of an ExpPoly as Python complex numbers (parameters substituted)."""
    with mpmath.workdps(20):
        return [(tuple(_to_complex(m, subs) for m in mu), p, _to_complex(c, subs)) for mu, p, c in F]


def eval_univariate(F: ExpPoly, t: np.ndarray, subs: dict) -> np.ndarray:
    """sum c t^p e^{-mu t} on an array of times."""
    out = np.zeros(t.shape, dtype=complex)
    for (mu,), (p,), c in numeric_terms(F, subs):
        out += c * t**p * np.exp(-mu * t)
    return out.real


class SeriesEvaluator:
    """Evaluates ordered Volterra integrals of exponential-polynomial kernels on one grid and input."""

    def __init__(self, t: np.ndarray, U: np.ndarray, interp: str = "cubic"):
        self.grid = _Grid(t, interp)
        self.t = t
        self.U = U.astype(complex)
        self._cache: dict[tuple, np.ndarray] = {}

    def stage(self, chain: tuple) -> np.ndarray:
        """chain = ((q, nu), (k_n, mu_n, p_n), ..., (k_j, mu_j, p_j)): y_j on the grid."""
        if chain in self._cache:
            return self._cache[chain]
        if len(chain) == 1:
            q, nu = chain[0]
            res = (self.t**q) * np.exp(-nu * self.t) if (q or nu) else np.ones_like(self.t, dtype=complex)
        else:
            inner = self.stage(chain[:-1])
            k, mu, p = chain[-1]
            y = self.U[:, k] * inner
            for _ in range(p + 1):
                y = self.grid.filter(mu, y)
            res = y * math.factorial(p)
        self._cache[chain] = res
        return res

    def term(
        self, ks: tuple[int, ...], mu: tuple[complex, ...], p: tuple[int, ...], start: tuple[int, complex]
    ) -> np.ndarray:
        n = len(ks)
        chain: tuple = (start,)
        for j in reversed(range(n)):
            chain = (*chain, (ks[j], mu[j], p[j]))
        return self.stage(chain)


def predict(
    resp: Any,
    u: Any,
    t: Any,
    eps: float = 1.0,
    *,
    by_order: bool = False,
    interp: str = "cubic",
    return_error: bool = False,
) -> np.ndarray:
    """E f(h_t) on the grid ``t`` for the input ``u`` (module docstring: method and error order).

    Parameters
    ----------
    u : callable u(t) -> (m,), or samples of shape (len(t), m) ((len(t),) for m = 1).
    t : 1-D strictly increasing grid starting at 0.
    eps : the input amplitude (the series is in powers of eps).
    by_order : return each order's contribution separately, order 0 first.
    return_error : also return a truncation-error estimate (Taylor kernels: the
        contribution of the top-degree Taylor shell; exact kernels: zeros).
        Taylor predictions warn (TruncationWarning) where that estimate exceeds
        1% of the response.

    Returns
    -------
    (len(t),) or (len(t), p) for vector readouts; with ``by_order`` a leading axis of length order+1.
    """
    model = resp.model
    tt = check_grid(t)
    e = check_eps(eps)
    U = input_samples(u, tt, model.m)
    subs = dict(model.params)
    P = model.p
    out = np.zeros((resp.order + 1, tt.size, P))
    ev = SeriesEvaluator(tt, U, interp)
    N = len(resp.taus)
    taylor = resp.method == "taylor"
    top = np.zeros((tt.size, P))
    if taylor:
        from .taylor_response import top_degree_part
    for c in range(P):
        F0 = resp.mean0_form(c)
        out[0, :, c] = (
            eval_univariate(F0, tt, subs)
            if not resp.stationary
            else eval_univariate(_as_univariate(F0, resp.t_sym), tt, subs)
        )
        for n in range(1, resp.order + 1):
            acc = np.zeros(tt.size, dtype=complex)
            acc_top = np.zeros(tt.size, dtype=complex)
            for ks in _tuples(model.m, n):
                F = resp.kernel_form(n, ks, c)
                for mu, p, coef in numeric_terms(F, subs):
                    start = (p[N], mu[N])
                    val = coef * ev.term(ks, mu[:n], p[:n], start)
                    acc += val
                    if taylor and sum(p) == resp.lag_degree:
                        acc_top += val
            out[n, :, c] = acc.real * e**n
            top[:, c] += acc_top.real * e**n
    if taylor:
        from .taylor_response import check_horizon

        resp._last_t = tt
        check_horizon(resp, out, top)
        del top_degree_part
    if not model.vector_readout:
        out = out[..., 0]
        top = top[:, 0]
    res = out if by_order else out.sum(axis=0)
    return (res, np.abs(top)) if return_error else res


def _as_univariate(F: ExpPoly, t_sym: sp.Symbol) -> ExpPoly:
    total = sum((c for _, _, c in F), 0)
    return ExpPoly.constant((t_sym,), total)


def _tuples(m: int, n: int):
    import itertools

    return itertools.product(range(m), repeat=n)
