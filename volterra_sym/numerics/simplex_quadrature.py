"""Volterra integrals of arbitrary kernels by quadrature over the simplex (the general fallback).

    I^(n)_k(t) = int_{0<s_n<..<s_1<t} K(tau_1, .., tau_n [; s_n]) u^{k_1}(s_1) .. u^{k_n}(s_n) ds,
    tau_1 = t - s_1,  tau_j = s_{j-1} - s_j.

Nested trapezoidal rules on the grid's own nodes: error O(h^2) for smooth
kernels and inputs.  The cost is O(len(t)^(n+1)) kernel evaluations for the
whole grid, so this is for orders n <= 2 on modest grids; exponential-polynomial
kernels (every linear SRNN, every Taylor kernel) use the O(len(t)) filter
cascades of :mod:`volterra_sym.series` instead.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import QuadratureCostWarning, VolterraError
from ..validate import check_eps, check_grid, input_samples

#: Kernel evaluations above which a warning about cost is issued, and the hard limit.
WARN_EVALUATIONS = 2e7
MAX_EVALUATIONS = 5e8


def _cumulative_trapezoid_weights(t: np.ndarray) -> np.ndarray:
    """W[i, l] such that int_0^{t_i} g ds ~ sum_l W[i, l] g(t_l) (trapezoid on nodes 0..i); lower triangular."""
    L = t.size
    h = np.diff(t)
    W = np.zeros((L, L))
    for i in range(1, L):
        W[i, :i] += h[:i] / 2
        W[i, 1 : i + 1] += h[:i] / 2
    return W


def simplex_integral(
    kernel: Callable[..., Any],
    n: int,
    U: np.ndarray,
    t: np.ndarray,
    k: tuple[int, ...],
    *,
    with_start: bool = False,
) -> np.ndarray:
    """I^(n)_k on every grid time for a vectorised kernel callable K(tau_1, .., tau_n[, s_n])."""
    L = t.size
    W = _cumulative_trapezoid_weights(t)
    out = np.zeros(L)
    if n == 1:
        for j in range(1, L):
            s = t[: j + 1]
            args = [t[j] - s] + ([s] if with_start else [])
            out[j] = np.sum(W[j, : j + 1] * np.asarray(kernel(*args), dtype=float) * U[: j + 1, k[0]])
        return out
    if n == 2:
        for j in range(1, L):
            s1 = t[: j + 1][:, None]
            s2 = t[: j + 1][None, :]
            lower = s1 >= s2  # the simplex s2 <= s1; outside it the kernel is not evaluated
            lag2 = np.where(lower, s1 - s2, 0.0)
            args = [np.broadcast_to(t[j] - s1, lag2.shape), lag2]
            if with_start:
                args.append(np.broadcast_to(s2, lag2.shape))
            vals = np.where(lower, np.asarray(kernel(*args), dtype=float), 0.0)
            inner = np.sum(W[: j + 1, : j + 1] * vals * U[None, : j + 1, k[1]], axis=1)
            out[j] = np.sum(W[j, : j + 1] * U[: j + 1, k[0]] * inner)
        return out
    raise VolterraError(
        f"n: simplex quadrature is offered for orders n <= 2 (cost O(len(t)^(n+1))), received n = {n}; "
        "exponential-polynomial kernels use the O(len(t)) route of Response.predict"
    )


def volterra_quadrature(
    kernels: Mapping[tuple[int, tuple[int, ...]], Callable[..., Any]],
    u: Any,
    t: Any,
    *,
    m: int = 1,
    mean0: float | Callable[[np.ndarray], Any] = 0.0,
    eps: float = 1.0,
    by_order: bool = False,
    stationary: bool = True,
) -> np.ndarray:
    """E f(h_t) = mean0 + sum_n eps^n sum_k I^(n)_k(t) for arbitrary kernel callables.

    Parameters
    ----------
    kernels : {(n, k): K} with k a tuple of n 0-based input indices and K a NumPy-vectorised function
        of the lags (tau_1..tau_n, plus s_n when ``stationary`` is False), e.g. ``resp.lower().kernel(n, k)``.
    u, t : input and grid as in :func:`volterra_sym.series.predict` (samples are used at the nodes).
    m : number of input channels.
    mean0 : the zeroth-order term (a number or a function of t).

    Returns (len(t),), or (N+1, len(t)) with ``by_order``.  Warns (QuadratureCostWarning) above
    ``WARN_EVALUATIONS`` kernel evaluations and refuses above ``MAX_EVALUATIONS``.
    """
    tt = check_grid(t)
    e = check_eps(eps)
    U = input_samples(u, tt, m)
    if not isinstance(kernels, Mapping) or not kernels:
        raise VolterraError(
            f"kernels: expected a non-empty mapping {{(n, k): callable}}, received {type(kernels).__name__}"
        )
    order = 0
    cost = 0.0
    normalised = {}
    for key, K in kernels.items():
        try:
            n, k = key
            n = operator.index(n)
            k = tuple(operator.index(x) for x in (k if isinstance(k, (tuple, list)) else (k,)))
        except (TypeError, ValueError):
            raise VolterraError(
                f"kernels: keys must be (n, k) with n >= 1 and k a tuple of n input indices, received {key!r}"
            ) from None
        if n < 1 or len(k) != n or any(not 0 <= x < m for x in k):
            raise VolterraError(f"kernels: key {key!r}: k needs {n} input indices in 0..{m - 1}")
        if not callable(K):
            raise VolterraError(f"kernels[{key!r}]: expected a callable of the lags, received {type(K).__name__}")
        normalised[(n, k)] = K
        order = max(order, n)
        cost += tt.size ** (n + 1) / (n + 1)
    if cost > MAX_EVALUATIONS:
        raise VolterraError(
            f"t: simplex quadrature would need ~{cost:.2g} kernel evaluations (limit {MAX_EVALUATIONS:.0e}); "
            "use a coarser grid, or exponential-polynomial kernels (Response.predict, O(len(t)))"
        )
    memory = 8.0 * tt.size**2  # the cumulative trapezoid weights
    if memory > 4e9:
        raise VolterraError(
            f"t: simplex quadrature on {tt.size} points needs {memory / 1e9:.1f} GB of weights; use a coarser grid"
        )
    if cost > WARN_EVALUATIONS:
        warnings.warn(
            f"simplex quadrature: ~{cost:.2g} kernel evaluations (O(len(t)^(n+1))); this may take a while",
            QuadratureCostWarning,
            stacklevel=2,
        )
    out = np.zeros((order + 1, tt.size))
    out[0] = mean0(tt) if callable(mean0) else float(mean0)
    for (n, k), K in normalised.items():
        try:
            out[n] += e**n * simplex_integral(K, n, U, tt, k, with_start=not stationary)
        except TypeError as exc:
            want = f"{n} lag(s)" + ("" if stationary else " and s_n")
            raise VolterraError(
                f"kernels[{(n, k)!r}]: the kernel could not be called with {want} ({exc}); kernels of a "
                "non-stationary start take s_n last: pass stationary=False"
            ) from None
    return out if by_order else out.sum(axis=0)
