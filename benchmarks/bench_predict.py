"""predict() cost (issue 3): 3-D linear SRNN, cubic readout, all orders, against Monte Carlo; grid scaling;
generated NumPy kernels against sympy.lambdify(cse=True). Prints figures and ratios measured in this run."""

from __future__ import annotations

import os
import time

import numpy as np
import sympy as sp

import volterra_sym as vs


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    print(f"cores: {os.cpu_count()}")
    A = [[1.0, 0.3, 0.0], [-0.2, 1.5, 0.4], [0.1, 0.0, 2.0]]
    model = vs.OU(A, [[1.0], [0.5], [0.2]], 0.5, c=[0.2, 0, 0], readout="h1**3 + h2*h3 + h1")
    resp = vs.derive(model)
    T = 10.0
    L = 10_000
    t = np.linspace(0, T, L)
    u = np.sin(2 * t)
    tp = best_of(lambda: resp.predict(u, t, eps=0.5))
    print(f"predict, 1e4 grid, orders 0..3: {tp * 1e3:.1f} ms")

    # Monte Carlo baseline: plain vectorised Euler-Maruyama on the same grid; time per path-step measured on
    # a small ensemble, paths needed for SE 1e-3 from the measured variance of f at the final time.
    An, C, sig = np.array(A), np.array([1.0, 0.5, 0.2]), 0.5
    dt = T / (L - 1)
    rng = np.random.default_rng(0)
    paths = 2000
    h = rng.normal(size=(paths, 3)) * 0.3

    def em():
        nonlocal h
        x = h.copy()
        for j in range(L - 1):
            x = (
                x
                + (-(x @ An.T) + np.array([0.2, 0, 0]) + 0.5 * u[j] * C) * dt
                + sig * np.sqrt(dt) * rng.normal(size=x.shape)
            )
        return x

    t0 = time.perf_counter()
    x = em()
    t_mc = time.perf_counter() - t0
    f = x[:, 0] ** 3 + x[:, 1] * x[:, 2] + x[:, 0]
    var = float(np.var(f))
    need = var / 1e-3**2
    mc_time = t_mc / paths * need
    print(
        f"Euler-Maruyama: {paths * (L - 1) / t_mc:.3g} path-steps/s; SE 1e-3 needs {need:.3g} paths -> {mc_time:.1f} s"
    )
    print(f"ratio MC / predict: {mc_time / tp:.3g}  (goal >= 1e4)")

    times = []
    sizes = [1_000, 10_000, 100_000]
    for n in sizes:
        tt = np.linspace(0, T, n)
        times.append(best_of(lambda tt=tt: resp.predict(np.sin(2 * tt), tt)))
        print(f"grid {n:>7d}: {times[-1] * 1e3:8.1f} ms")
    slope = np.polyfit(np.log(sizes), np.log(times), 1)[0]
    print(f"cost slope vs grid length: {slope:.2f}  (goal ~ 1)")

    n3 = resp.lower("numpy").kernel(3)
    expr = resp.kernel(3)
    lam = sp.lambdify(resp.lags(3), expr, "numpy", cse=True)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, (3, 1_000_000))
    t_gen = best_of(lambda: n3(*x))
    t_lam = best_of(lambda: lam(*x))
    print(f"K^(3) at 1e6 lags: generated {t_gen * 1e3:.1f} ms, lambdify(cse=True) {t_lam * 1e3:.1f} ms")
    print(f"ratio lambdify / generated: {t_lam / t_gen:.2f} (goal >= 1)")


if __name__ == "__main__":
    main()
