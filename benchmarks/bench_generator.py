"""Benchmark of the numerical-generator route (volterra_sym.routes.generator) on a 400-cell grid.

Case: 1-D tanh SRNN dh = (-h + tanh(1.5 h + 0.2) + eps u) dt + 0.8 dW, f = h, stationary start.
Prints the median time of: building the response (grid, one eigh, coupling matrices) for order 3;
kernels of orders 1, 2, 3 at 1e3 lag points each; predict() on 1e3 time points at order 3;
and os.cpu_count().  Run:  python benchmarks/bench_generator.py
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

import volterra_sym as vs
from volterra_sym.routes.generator import derive_generator

CELLS, LAGS, REPEATS = 400, 1000, 5


def median_time(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    model = vs.SRNN(Gamma=1, W=1.5, b=0.2, C=1, sigma=0.8, activation="tanh", readout="h1")
    print(f"os.cpu_count() = {os.cpu_count()}; cells = {CELLS}; lag points per order = {LAGS}")
    print(f"build (order 3): {median_time(lambda: derive_generator(model, 3, cells=CELLS)):.3f} s")
    r = derive_generator(model, 3, cells=CELLS)
    rng = np.random.default_rng(0)
    total = 0.0
    for n in (1, 2, 3):
        lags = rng.uniform(0.0, 5.0, size=(LAGS, n))
        dt = median_time(lambda lags=lags, n=n: r.kernel_values(n, 0, lags))
        total += dt
        print(f"kernel order {n}: {dt * 1e3:.1f} ms for {LAGS} lags ({dt / LAGS * 1e6:.1f} us per lag)")
    print(f"kernels orders 1-3, {LAGS} lags each: {total:.3f} s")
    t = np.linspace(0.0, 10.0, 1000)
    u = np.sin(t)
    print(f"predict (order 3, {t.size} times): {median_time(lambda: r.predict(u, t)):.3f} s")


if __name__ == "__main__":
    main()
