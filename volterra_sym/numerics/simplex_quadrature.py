"""Volterra integrals of arbitrary kernels by quadrature over the simplex (the general fallback).

    I^(n)_k(t) = int_{0<s_n<..<s_1<t} K(tau_1, .., tau_n [; s_n]) u^{k_1}(s_1) .. u^{k_n}(s_n) ds,
    tau_1 = t - s_1,  tau_j = s_{j-1} - s_j.

Nested trapezoidal rules on the grid's own nodes: error O(h^2) for smooth
kernels and inputs.  The cost is O(len(t)^(n+1)) kernel evaluations for the
whole grid, so this is for orders n <= 2 on modest grids; exponential-polynomial
kernels (every linear SRNN, every Taylor kernel) use the O(len(t)) filter
cascades of :mod:`volterra_sym.numerics.series` instead.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import limits
from ..errors import InputError, QuadratureCostWarning, VolterraError, describe
from ..validate import check_eps, check_grid, input_samples, refusal

#: bytes per lag-grid entry of the order-2 working arrays (lags, masks, kernel values, products)
BYTES_PER_ENTRY_2 = 72


def _trapezoid_row(h: np.ndarray, i: int) -> np.ndarray:
    """w with int_0^{t_i} g ds ~ sum_l w[l] g(t_l) (trapezoid on nodes 0..i), length i + 1."""
    w = np.zeros(i + 1)
    w[:i] += h[:i] / 2
    w[1 : i + 1] += h[:i] / 2
    return w


def _kernel_values(kernel: Callable[..., Any], args: list[np.ndarray], key: Any) -> np.ndarray:
    """The kernel on the lag arrays ``args``, checked to be one real value per lag (a scalar is broadcast)."""
    name = f"kernels[{key!r}]"
    try:
        raw = kernel(*args)
    except TypeError:
        raise  # a wrong number of lags: volterra_quadrature explains the calling convention
    except Exception as exc:  # the user's kernel failed
        raise refusal(name, f"calling the kernel raised {type(exc).__name__}: {exc}") from exc
    if np.iscomplexobj(raw):
        raise refusal(name, "the kernel returned complex values", "kernels must be real")
    try:
        vals = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise refusal(name, f"the kernel returned {describe(raw)}, not an array of real numbers") from None
    if not np.all(np.isfinite(vals)):
        raise refusal(
            name,
            f"the kernel returned non-finite values (NaN or inf) on lags in [0, {float(np.max(args[0])):.4g}]",
            "kernels must be finite at every lag of the grid",
        )
    shape = np.shape(args[0])
    if vals.shape != shape:
        if vals.ndim == 0:
            return np.broadcast_to(vals, shape)
        raise refusal(
            name,
            f"the kernel returned an array of shape {vals.shape} for lag arrays of shape {shape}",
            "a kernel must be NumPy-vectorised and return one value per lag (the shape of its arguments)",
        )
    return vals


def simplex_integral(
    kernel: Callable[..., Any],
    n: int,
    U: np.ndarray,
    t: np.ndarray,
    k: tuple[int, ...],
    *,
    with_start: bool = False,
    key: Any = None,
) -> np.ndarray:
    """I^(n)_k on every grid time for a vectorised kernel callable K(tau_1, .., tau_n[, s_n]).

    Working memory O(len(t)) for n = 1 and O(len(t)^2) for n = 2 (one lag grid at a time)."""
    L = t.size
    h = np.diff(t)
    key = (n, k) if key is None else key
    out = np.zeros(L)
    if n == 1:
        for j in range(1, L):
            s = t[: j + 1]
            args = [t[j] - s] + ([s] if with_start else [])
            out[j] = np.sum(_trapezoid_row(h, j) * _kernel_values(kernel, args, key) * U[: j + 1, k[0]])
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
            vals = np.where(lower, _kernel_values(kernel, args, key), 0.0)
            # trapezoid weights of row i on nodes 0..i: h[l]/2 for l < i plus h[l-1]/2 for 1 <= l <= i
            left = np.zeros(j + 1)
            left[:j] = h[:j] / 2
            right = np.zeros(j + 1)
            right[1:] = h[:j] / 2
            rows = np.arange(j + 1)[:, None]
            cols = np.arange(j + 1)[None, :]
            weights = np.where(cols < rows, left[None, :], 0.0) + np.where(lower, right[None, :], 0.0)
            inner = np.sum(weights * vals * U[None, : j + 1, k[1]], axis=1)
            out[j] = np.sum(_trapezoid_row(h, j) * U[: j + 1, k[0]] * inner)
        return out
    raise refusal(
        "n",
        f"simplex quadrature is offered for orders n <= 2 (cost O(len(t)^(n+1))), received n = {n}",
        "exponential-polynomial kernels use the O(len(t)) route of Response.predict",
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
    u, t : input and grid as in :meth:`volterra_sym.response.Response.predict` (samples are used at the nodes).
    m : number of input channels.
    mean0 : the zeroth-order term (a number or a function of t).

    Returns (len(t),), or (N+1, len(t)) with ``by_order``.  Limits (``vs.limits``, docs/api.md "Limits"):
    warns (QuadratureCostWarning) above ``WARN_QUADRATURE_EVALS`` kernel evaluations, refuses above
    ``MAX_QUADRATURE_EVALS``, and refuses working arrays above ``MAX_QUADRATURE_MEMORY`` bytes (order 1:
    O(len(t)) memory; order 2: ~72 len(t)^2 bytes, one lag grid at a time).
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
    check_eps(e, order)  # eps**order must be a finite float
    if cost > limits.MAX_QUADRATURE_EVALS:
        raise refusal(
            "t",
            f"simplex quadrature on {tt.size} points would need ~{cost:.2g} kernel evaluations, beyond the limit "
            f"MAX_QUADRATURE_EVALS = {limits.MAX_QUADRATURE_EVALS:.2g}",
            "use a coarser grid, or exponential-polynomial kernels (Response.predict, O(len(t))), or raise the limit "
            "with vs.limits.configure(max_quadrature_evals=...)",
            InputError,
        )
    memory = (BYTES_PER_ENTRY_2 * tt.size**2) if order >= 2 else 64.0 * tt.size
    if memory > limits.MAX_QUADRATURE_MEMORY:
        raise refusal(
            "t",
            f"simplex quadrature of order {order} on {tt.size} points needs ~{limits.human_bytes(memory)} of working "
            f"arrays, beyond the limit MAX_QUADRATURE_MEMORY = {limits.human_bytes(limits.MAX_QUADRATURE_MEMORY)}",
            "use a coarser grid, or raise the limit with vs.limits.configure(max_quadrature_memory=...)",
            InputError,
        )
    if cost > limits.WARN_QUADRATURE_EVALS:
        warnings.warn(
            f"simplex quadrature: ~{cost:.2g} kernel evaluations (O(len(t)^(n+1))); this may take a while",
            QuadratureCostWarning,
            stacklevel=2,
        )
    out = np.zeros((order + 1, tt.size))
    out[0] = mean0(tt) if callable(mean0) else float(mean0)
    for (n, k), K in normalised.items():
        try:
            out[n] += e**n * simplex_integral(K, n, U, tt, k, with_start=not stationary, key=(n, k))
        except TypeError as exc:
            want = f"{n} lag(s)" + ("" if stationary else " and s_n")
            raise VolterraError(
                f"kernels[{(n, k)!r}]: the kernel could not be called with {want} ({exc}); kernels of a "
                "non-stationary start take s_n last: pass stationary=False"
            ) from None
    return out if by_order else out.sum(axis=0)
