"""Transfer functions of the Galerkin route: resolvents of the Galerkin generator (docs/frequency.md).

With K^(n)_k(tau) = l . Gamma_{k_n} e^{tau_n M} ... Gamma_{k_1} e^{tau_1 M} c_f (MATH.md section 9) the
triangular Laplace transform is the resolvent chain

    T_k(s_1..s_n) = l . Gamma_{k_n} R(s_n) ... Gamma_{k_1} R(s_1) c_f,     R(s) = (s - M)^{-1} on (1 - 1 l^T),

H_1(omega) = l . Gamma (i omega - M)^{-1} c_f (the constant mode removed) and H_n the average of T over the n!
orderings (numerics/frequency.py).  The zero eigenvalue of M (constants) is deflated: on the complement of the
constant function (s - M)^{-1} = (s - M + 1 l^T)^{-1}, which is regular at s = 0, and the constant part is
dropped because every Gamma_k annihilates constants.  One LU factorisation per distinct frequency (cached per
transfer function), whatever the number of orderings and input tuples using it.  The error estimate is the
route's: the same transform at the neighbouring degrees (:class:`GalerkinEstimate`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...numerics.frequency import Transfer, resolvent_chain
from .analytic import require_scipy
from .system import GalerkinSystem

__all__ = ["SystemTransfer", "galerkin_transfer"]

#: bytes of LU factorisations kept per system (older ones are dropped)
_LU_BYTES = 2**28


def _null_vector(M: np.ndarray) -> np.ndarray:
    """The right null vector of M (the constants: L0 1 = 0) by two steps of inverse iteration with a tiny shift
    (one LU factorisation; the other modes are damped by shift / |lambda|)."""
    linalg = require_scipy().linalg
    N = M.shape[0]
    shift = 1e-10 * max(1.0, float(np.abs(M).sum(axis=0).max()))
    lu = linalg.lu_factor(M - shift * np.eye(N), check_finite=False)
    x = np.ones(N)
    for _ in range(2):
        x = linalg.lu_solve(lu, x, check_finite=False)
        x = x / np.linalg.norm(x)
    return x


class SystemTransfer:
    """T_k(S) of one Galerkin system and readout component, with cached factorisations of s - M + 1 l^T."""

    def __init__(self, system: GalerkinSystem, component: int) -> None:
        M, left = system.M, system.functional
        one = _null_vector(M)  # coefficients of the constant function (the right null vector of M)
        one = one / float(left @ one)
        self.system, self.component = system, component
        self.left, self.one = left, one
        self.deflated = M - np.outer(one, left)
        self._lu: dict[complex, Any] = {}

    def _factor(self, s: complex) -> Any:
        if s not in self._lu:
            N = self.deflated.shape[0]
            if len(self._lu) >= max(8, _LU_BYTES // (16 * N * N)):
                self._lu.clear()
            self._lu[s] = require_scipy().linalg.lu_factor(s * np.eye(N) - self.deflated, check_finite=False)
        return self._lu[s]

    def solve(self, s: complex, V: np.ndarray) -> np.ndarray:
        """R(s) V on the complement of the constants: (s - M + 1 l^T)^{-1} (V - 1 (l . V))."""
        P = V - np.outer(self.one, self.left @ V)
        return require_scipy().linalg.lu_solve(self._factor(s), P, check_finite=False)

    def __call__(self, ks: tuple[int, ...], S: np.ndarray) -> np.ndarray:
        c_f = self.system.c_f[self.component]
        return resolvent_chain(self.left, self.system.Gammas, c_f, ks, S, self.solve)


def galerkin_transfer(estimate: Any, n: int, ks: tuple[int, ...], component: int) -> Transfer:
    """H_n of the Galerkin route at degree p, with the error estimate from the neighbouring degrees."""
    parts: dict[int, SystemTransfer] = {}

    def of(system: GalerkinSystem, kk: tuple[int, ...], S: np.ndarray) -> np.ndarray:
        key = id(system)
        if key not in parts:
            parts[key] = SystemTransfer(system, component)
        return parts[key](kk, S)

    def value(kk: tuple[int, ...], S: np.ndarray) -> np.ndarray:
        return of(estimate.coarse, kk, S)

    def error(kk: tuple[int, ...], S: np.ndarray) -> np.ndarray:
        return np.asarray(estimate.evaluate(of, kk, S)[1], dtype=float)

    return Transfer(
        n, ks, component, "galerkin", value, error, error_kind="degree", rates_of=lambda: estimate.coarse.rates(6)
    )
