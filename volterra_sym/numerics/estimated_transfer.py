"""Transfer functions of Monte Carlo kernel estimates (``vs.estimate_kernels``): the DFT of the kernel on its lags.

    H = vs.estimated_transfer(est, n=1)        # H(omega), H.error(omega) (SE bound), H.bias(omega)

The triangular transform T_k(s) of numerics/frequency.py is the trapezoid rule of the estimated K^(n)_k over its
lag grid (order 1: any sorted lags from 0; order 2: a tensor grid of (tau_1, tau_2) pairs from 0), evaluated at
any real frequency; H_n is the usual average over the orderings.  Errors:

- ``H.error``: a bound on the standard error, sum_j w_j SE_j (the estimates at different lags share paths, so the
  worst-case correlation is assumed: the true standard error is at most this);
- ``H.bias``: a bound on the deterministic errors: the tail beyond the last lag of each axis (exponential decay at
  the rate the estimate shows between its largest value and the last lag of that axis, applied to |K| + 2 SE on
  the edge),
  the trapezoid rule (Richardson: |T_h - T_2h| / 3 on the grid and every second point of it, which also picks up
  some noise, so it errs on the large side) and the time-step bias of the estimate (|T of the bias|, when the
  estimate was run with ``bias_check=True``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..errors import describe
from ..validate import check_component, refusal
from .frequency import Transfer, grid_laplace, trapezoid_weights

__all__ = ["estimated_transfer"]


class _Grid:
    """One estimated kernel on its tensor grid of lags: grids (n arrays), mean, se, bias of shape (G_1[, G_2])."""

    def __init__(self, estimate: Any, n: int, ks: tuple[int, ...], component: int) -> None:
        lags = np.asarray(estimate.lags[n], dtype=float).reshape(-1, n)
        mean, se = np.asarray(estimate.mean(n, ks)), np.asarray(estimate.stderr(n, ks))
        bias = np.asarray(estimate.bias(n, ks)) if estimate.bias_checked else np.zeros_like(mean)
        if mean.ndim == 2:
            p = mean.shape[1]
            component = check_component(component, p)
            mean, se, bias = mean[:, component], se[:, component], bias[:, component]
        self.grids = [np.unique(lags[:, j]) for j in range(n)]
        shape = tuple(g.size for g in self.grids)
        if int(np.prod(shape)) != lags.shape[0] or any(g.size < 3 or g[0] != 0 for g in self.grids):
            raise refusal(
                "estimate",
                f"the order-{n} lags must form a tensor grid with at least 3 values per lag, each starting at 0 (the "
                f"transform integrates from lag 0), received {lags.shape[0]} rows with "
                f"{[g.size for g in self.grids]} distinct values from {[float(g[0]) for g in self.grids]}",
            )
        index = tuple(np.searchsorted(g, lags[:, j]) for j, g in enumerate(self.grids))
        self.mean, self.se, self.bias = (np.zeros(shape) for _ in range(3))
        self.mean[index], self.se[index], self.bias[index] = mean, se, bias
        self.weights = [trapezoid_weights(g) for g in self.grids]
        self.tails = [self._tail(axis) for axis in range(n)]

    def _tail(self, axis: int) -> float:
        """int over tau_axis > its last lag of |K|: exponential decay at the rate seen along that axis from the
        largest |K| to the last lag (|K| + 2 SE there)."""
        peaks = np.moveaxis(np.abs(self.mean), axis, 0).reshape(self.grids[axis].size, -1).max(axis=1)
        edge = np.moveaxis(np.abs(self.mean) + 2 * self.se, axis, 0)[-1]
        j = int(np.argmax(peaks))
        top, last = float(peaks[j]), float(np.max(edge))
        if last >= top or j == peaks.size - 1:
            raise refusal(
                "estimate",
                f"the estimated kernel has not decayed along tau_{axis + 1} within the lags (largest |K| {top:.3g}, at "
                f"the last lag + 2 SE {last:.3g})",
                "estimate it on longer lags",
            )
        rate = np.log(top / last) / (self.grids[axis][-1] - self.grids[axis][j])
        total = edge
        for w in [w for i, w in enumerate(self.weights) if i != axis]:
            total = w @ total
        return float(total) / rate

    def value(self, S: np.ndarray) -> np.ndarray:
        return grid_laplace(self.grids, self.mean, S)

    def stderr_bound(self, S: np.ndarray) -> np.ndarray:
        total = self.se
        for w in self.weights[::-1]:
            total = total @ w
        return np.full(S.shape[0], float(total))

    def bias_bound(self, S: np.ndarray) -> np.ndarray:
        odd = [g.size - (g.size + 1) % 2 for g in self.grids]  # every second point needs an odd count
        trimmed = self.mean[tuple(slice(0, k) for k in odd)]
        fine = grid_laplace([g[:k] for g, k in zip(self.grids, odd)], trimmed, S)
        coarse = grid_laplace(
            [g[:k:2] for g, k in zip(self.grids, odd)], trimmed[tuple(slice(None, None, 2) for _ in odd)], S
        )
        return sum(self.tails) + np.abs(fine - coarse) / 3 + np.abs(grid_laplace(self.grids, self.bias, S))


def estimated_transfer(estimate: Any, n: int = 1, k: Any = None, component: int = 0) -> Transfer:
    """H_n(omega) (n = 1 or 2, real frequencies) of a KernelEstimate of the stationary start (module docstring)."""
    from ..validate import check_index_tuple, refusal

    if not hasattr(estimate, "lags") or not hasattr(estimate, "mean"):
        raise refusal("estimate", f"expected a KernelEstimate (vs.estimate_kernels), received {describe(estimate)}")
    if isinstance(n, bool) or n not in (1, 2) or n not in estimate.lags:
        why = f"expected an estimated order (1 or 2) of this estimate, {sorted(estimate.lags)}, received {describe(n)}"
        raise refusal("n", why)
    if not str(getattr(estimate, "start", "")).startswith("stationary"):
        raise refusal(
            "estimate",
            f"the kernels were estimated from the start {estimate.start}, so they depend on s_n and have no transfer "
            "function",
            "estimate them from the stationary start",
        )
    ks = check_index_tuple(k, n, estimate.m)
    grids = {kk: _Grid(estimate, n, kk, component) for kk in sorted(set(itertools.permutations(ks)))}
    return Transfer(
        n,
        ks,
        component,
        "monte carlo",
        lambda kk, S: grids[kk].value(S),
        lambda kk, S: grids[kk].stderr_bound(S),
        real_only=True,
        error_kind="stderr",
        bias_bound=lambda kk, S: grids[kk].bias_bound(S),
    )
