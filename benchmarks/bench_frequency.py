"""Transfer functions: evaluation time per route, and the Galerkin resolvent against the naive per-lag route
(numerical Fourier integration of kernel_values). Prints figures; asserts nothing."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

import volterra_sym as vs


def best(fn, repeat: int = 3) -> float:
    out = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def main() -> None:
    print(f"cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
    W = [[0.5, -1.2], [1.2, 0.3]]
    lin = vs.derive(vs.SRNN(1.0, W, [0.2, -0.1], C=[1, 0.5], sigma=0.6, readout="h1**2 + h2"), order=2)
    w = np.linspace(-10, 10, 10_000)
    H1, H2 = lin.transfer(1), lin.transfer(2)
    H1(w[:2]), H2(w[:2], w[:2])
    print(f"exact H1, 1e4 frequencies:              {best(lambda: H1(w)) * 1e3:8.2f} ms")
    g1, g2 = np.meshgrid(w[::50], w[::50])
    print(f"exact H2, 200 x 200 grid:               {best(lambda: H2(g1, g2)) * 1e3:8.2f} ms")
    tanh = vs.SRNN([[1, 0], [0, 1]], W, [0.2, -0.1], [1, 0.5], 0.6, activation="tanh", readout="h1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vs.ConvergenceWarning)
        gal = vs.derive(tanh, order=2, method="galerkin", degree=10)
    wg = np.linspace(-5, 5, 301)
    print(f"galerkin N = {gal.N}")
    t = best(lambda: gal.transfer(1)(wg), 1)
    print(f"galerkin H1 + error, 301 frequencies:   {t * 1e3:8.2f} ms (value only: "
          f"{best(lambda: gal.transfer(1).triangular((0,), 1j * wg[:, None]), 1) * 1e3:.2f} ms)")
    a, b = np.meshgrid(wg[::5], wg[::5])
    print(f"galerkin H2, 61 x 61 grid:              {best(lambda: gal.transfer(2)(a, b), 1) * 1e3:8.2f} ms")
    # naive: trapezoid Fourier integral of kernel_values on 4000 lags to tau = 40 (error ~ 1e-5 at h = 0.01)
    taus = np.linspace(0, 40, 4001)

    def naive() -> None:
        K = gal.kernel_values(1, None, taus[:, None])
        wt = np.full(taus.size, taus[1])
        wt[[0, -1]] /= 2
        (np.exp(-1j * np.outer(wg, taus)) * (wt * K)).sum(axis=1)

    print(f"naive H1 (kernel_values + DFT), 301 fr.: {best(naive, 1) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
