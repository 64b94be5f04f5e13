"""Benchmark of volterra_sym.checks.simulate against a plain vectorised NumPy Euler-Maruyama loop.

Case (MEASURED.md): 2-D OU, 2000 paths, dt = 1e-3, T = 5 (1e7 path-steps), readout h1,
stationary start.  Prints path-steps / s for both, their ratio (goal >= 1.0), the exact
scheme's throughput, and the variance reduction of common random numbers at eps = 0.1.
Run:  python benchmarks/bench_simulate.py
"""

from __future__ import annotations

import os
import time

import numpy as np

import volterra_sym as vs
from volterra_sym.checks.simulate import simulate, simulate_response

A = np.array([[1.0, 0.5], [-0.3, 0.8]])
SIGMA = np.array([[0.6, 0.0], [0.2, 0.5]])
PATHS, DT, T = 2000, 1e-3, 5.0


def plain_euler(paths: int, dt: float, T: float, seed: int = 0) -> np.ndarray:
    """Reference: the 15-line vectorised Euler-Maruyama loop, mean of h1 on the grid."""
    rng = np.random.default_rng(seed)
    steps = int(round(T / dt))
    h = np.zeros((paths, 2))
    drift_matrix = -A.T
    noise = SIGMA.T * np.sqrt(dt)
    out = np.empty(steps + 1)
    out[0] = h[:, 0].mean()
    for k in range(steps):
        h = h + (h @ drift_matrix) * dt + rng.standard_normal((paths, 2)) @ noise
        out[k + 1] = h[:, 0].mean()
    return out


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    print(f"os.cpu_count() = {os.cpu_count()}")
    model = vs.OU(A=A.tolist(), C=[[1.0], [0.0]], sigma=SIGMA.tolist(), readout="h1", initial=vs.PointMass([0, 0]))
    crn_model = model.replace(readout="h1**2", initial="stationary")
    t = np.linspace(0.0, T, int(round(T / DT)) + 1)
    path_steps = PATHS * (t.size - 1)
    runs = {"plain": [], "euler": [], "exact": []}
    for _ in range(5):  # interleaved, best of 5: the machine is shared
        runs["plain"].append(timed(lambda: plain_euler(PATHS, DT, T)))
        runs["euler"].append(timed(lambda: simulate(model, None, t, PATHS, seed=1, scheme="euler", progress=False)))
        runs["exact"].append(timed(lambda: simulate(model, None, t, PATHS, seed=1, scheme="exact", progress=False)))
    t_plain, t_ours, t_exact = (min(runs[k]) for k in ("plain", "euler", "exact"))
    print(f"plain numpy Euler-Maruyama : {path_steps / t_plain:.3g} path-steps/s ({t_plain:.2f} s)")
    print(f"vs.simulate(scheme='euler'): {path_steps / t_ours:.3g} path-steps/s ({t_ours:.2f} s)")
    print(f"vs.simulate(scheme='exact'): {path_steps / t_exact:.3g} path-steps/s ({t_exact:.2f} s)")
    print(f"ratio euler / plain        : {t_plain / t_ours:.2f}  (goal >= 1.0)")

    # common random numbers: variance of the response estimator at eps = 0.1
    stat = crn_model  # quadratic readout: the response of each path is random, not deterministic
    tc = np.linspace(0.0, 2.0, 201)
    u = np.ones(tc.size)
    eps, paths = 0.1, 4000
    crn = simulate_response(stat, u, tc, paths, seed=2, eps=eps, scheme="exact", progress=False)
    a = simulate(stat, u, tc, paths, seed=3, eps=eps, scheme="exact", progress=False)
    b = simulate(stat, u, tc, paths, seed=4, eps=0.0, scheme="exact", progress=False)
    se_indep = np.sqrt(a.stderr[-1] ** 2 + b.stderr[-1] ** 2)
    print(
        f"CRN at eps={eps}: SE {crn.stderr[-1]:.3g} vs independent runs {se_indep:.3g}; "
        f"variance reduction factor {(se_indep / crn.stderr[-1]) ** 2:.3g}"
    )


if __name__ == "__main__":
    main()
