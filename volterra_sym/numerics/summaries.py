"""Summary numbers of a response, computed from its kernels (definitions: docs/frequency.md).

- ``relaxation_rates(resp)``: the slowest relaxation rates -lambda (Re > 0), the poles s = lambda of H_1
  (formulas) or the leading eigenvalues of the generator (Galerkin, grid routes), slowest first.
- ``resonance(resp)``: the frequency omega_r >= 0 where |H_1(omega)| is largest (0: a low-pass response), the peak
  |H_1(omega_r)|, and the half-power band [omega_lo, omega_hi] around it (|H_1| >= |H_1(omega_r)| / sqrt 2;
  omega_lo = 0 for a low-pass response), bandwidth = omega_hi - omega_lo.
- ``memory_function(resp, taus)``: the linear (Fisher) memory function
  J(tau) = K^(1)(tau)^T C_y^{-1} K^(1)(tau), C_y the stationary covariance of the readout y = f(h): the Fisher
  information y(t) carries about the area a of an input pulse a delta(t - tau) to first order in a (exact for a
  linear SRNN with a linear readout, where y(t) is Gaussian with mean shifted by a K^(1)(tau)).  1 / J(tau) is
  the variance of the best unbiased linear estimate of a from y(t).
- ``memory_capacity(resp)``: int_0^oo J(tau) dtau (continuous-time Fisher memory capacity, per unit input
  intensity: for a white-noise input of intensity q, q int J is the summed Fisher information about the input).

Every function takes a Response (duck-typed: ``transfer``, ``kernel_values``, ``model``) of a stationary start.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError, describe
from ..validate import check_int, check_positive, real_array, refusal

__all__ = ["relaxation_rates", "resonance", "memory_function", "memory_capacity", "readout_covariance"]


def relaxation_rates(resp: Any, count: int = 4) -> np.ndarray:
    """The ``count`` slowest relaxation rates (complex, Re > 0), slowest first (see the module docstring)."""
    count = check_int(count, "count", minimum=1, what="a positive integer")
    rates = resp.transfer(1, 0 if resp.model.m > 1 else None).rates
    out: list[complex] = []
    for r in rates:  # one member of each conjugate pair (Im >= 0)
        if r.imag >= -1e-12 * abs(r) and not any(abs(r - q) <= 1e-9 * abs(r) for q in out):
            out.append(complex(r.real, abs(r.imag)))
    return np.array(out[: int(count)], dtype=complex)


def _grid(resp: Any, k: Any, component: int, omega_max: float | None) -> tuple[np.ndarray, Any]:
    H = resp.transfer(1, k, component)
    rates = H.rates
    top = float(np.max(np.abs(rates))) * 30 if rates.size else 100.0
    if omega_max is not None:
        check_positive(omega_max, "omega_max")
        top = float(omega_max)
    low = float(np.min(np.abs(rates))) / 100 if rates.size else top * 1e-4
    w = np.unique(np.concatenate([[0.0], np.geomspace(max(low, top * 1e-6), top, 2000)]))
    return w, H


def resonance(resp: Any, k: Any = None, component: int = 0, *, omega_max: float | None = None) -> dict[str, float]:
    """{'frequency', 'peak', 'low', 'high', 'bandwidth'} of |H_1| on [0, omega_max] (default 30 x the fastest
    rate); 'high' is inf when |H_1| stays above the half-power level up to omega_max."""
    w, H = _grid(resp, k, component, omega_max)
    mag = np.abs(H(w))
    i = int(np.argmax(mag))
    lo_b, hi_b = w[max(i - 1, 0)], w[min(i + 1, w.size - 1)]
    for _ in range(4):  # refine the peak on finer local grids
        fine = np.linspace(lo_b, hi_b, 201)
        m = np.abs(H(fine))
        j = int(np.argmax(m))
        lo_b, hi_b = fine[max(j - 1, 0)], fine[min(j + 1, fine.size - 1)]
    wr, peak = float(fine[j]), float(m[j])
    level = peak / np.sqrt(2.0)

    def crossing(a: float, b: float) -> float:  # |H| - level changes sign on [a, b]: bisection
        fa = abs(complex(H(a))) - level
        for _ in range(80):
            mid = 0.5 * (a + b)
            fm = abs(complex(H(mid))) - level
            if (fm > 0) == (fa > 0):
                a, fa = mid, fm
            else:
                b = mid
        return 0.5 * (a + b)

    below = mag < level
    left = np.nonzero(below[: i + 1])[0]
    right = np.nonzero(below[i:])[0]
    low = crossing(float(w[left[-1]]), float(w[left[-1] + 1])) if left.size else 0.0
    high = crossing(float(w[i + right[0] - 1]), float(w[i + right[0]])) if right.size else np.inf
    return {"frequency": wr, "peak": peak, "low": low, "high": high, "bandwidth": high - low}


def readout_covariance(resp: Any) -> np.ndarray:
    """C_y = E_inf[f f^T] - E_inf f E_inf f^T of the readout (p x p) under the stationary law
    (:func:`volterra_sym.algebra.expectations.expectation`: exact for linear SRNNs, quadrature in 1-D)."""
    import sympy as sp

    from ..algebra.expectations import expectation

    model = resp.model
    f = list(model.readout)
    p = len(f)
    num = model.with_values() if model.parameters else model
    mean = [sp.N(expectation(num, fi)) for fi in f]
    C = np.empty((p, p))
    for i in range(p):
        for j in range(i, p):
            C[i, j] = C[j, i] = float(sp.N(expectation(num, sp.expand(f[i] * f[j])))) - float(mean[i] * mean[j])
    return C


def _covariance(resp: Any, covariance: Any) -> np.ndarray:
    p = resp.model.p
    if covariance is None:
        C = readout_covariance(resp)
    else:
        C = real_array(covariance, "covariance")
        if C.size != p * p:
            why = f"expected the {p} x {p} stationary covariance of the readout, received {describe(covariance)}"
            raise refusal("covariance", why, cls=InputError)
        C = C.reshape(p, p)
    if not np.all(np.isfinite(C)) or np.min(np.linalg.eigvalsh((C + C.T) / 2)) <= 0:
        raise refusal(
            "covariance",
            "the readout covariance must be finite and positive definite (a readout without noise has infinite "
            "Fisher information)",
            "give covariance= explicitly",
            InputError,
        )
    return (C + C.T) / 2


def memory_function(resp: Any, taus: Any, k: Any = None, *, covariance: Any = None) -> np.ndarray:
    """J(tau) = K^(1)_k(tau)^T C_y^{-1} K^(1)_k(tau) at the lags ``taus`` (module docstring); ``covariance``
    overrides C_y (p x p)."""
    if not resp.stationary:
        why = "the memory function needs the stationary start (the kernels then depend on the lag only)"
        raise refusal("resp", why)
    C = _covariance(resp, covariance)
    K = np.asarray(resp.kernel_values(1, k, np.asarray(taus, dtype=float)[..., None]))
    K = K.reshape(K.shape[: np.ndim(taus)] + (resp.model.p,))
    return np.einsum("...i,ij,...j->...", K, np.linalg.inv(C), K)


def memory_capacity(resp: Any, k: Any = None, *, covariance: Any = None, panels: int = 60) -> tuple[float, float]:
    """(int_0^oo J(tau) dtau, error estimate): composite 16-point Gauss-Legendre on [0, 40 / slowest rate]
    (``panels`` panels) against half the panels, plus the neglected tail e^-80-scale bound."""
    C = _covariance(resp, covariance)
    rates = relaxation_rates(resp, 1)
    horizon = 40.0 / max(float(rates[0].real), 1e-6) if rates.size else 100.0
    x, w = np.polynomial.legendre.leggauss(16)

    def integral(m: int) -> float:
        edges = np.linspace(0.0, horizon, m + 1)
        nodes = ((edges[1:] - edges[:-1])[:, None] * (x + 1) / 2 + edges[:-1, None]).reshape(-1)
        weights = ((edges[1:] - edges[:-1])[:, None] * w / 2).reshape(-1)
        return float(weights @ memory_function(resp, nodes, k, covariance=C))

    fine, coarse = integral(panels), integral(max(1, panels // 2))
    return fine, abs(fine - coarse) + 1e-12 * abs(fine)
