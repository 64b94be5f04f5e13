"""Benchmarks of issue 12: dask scaling, estimate_kernels throughput, kernel accuracy per second.

1. LocalCluster (2 worker processes, 1 thread each) against one process on the same
   simulate() run of >= 10 s (2-D tanh SRNN, Euler): speed-up (target >= 1.6x).
2. Path-steps per second of estimate_kernels (order 1, 2-D tanh SRNN, point start, 21 lags)
   against plain simulate() Euler on the same model and step (target >= 0.5x); with and
   without the dt/2 bias companion (path-steps counted at dt).
3. Order-1 kernel of the 2-D tanh SRNN (stationary start) at 20 lags to standard error 1e-3:
   the time of estimate_kernels and of the response-perturbation route (simulate_response with
   common random numbers, a one-step input pulse of area eps, K^(1) ~ response / eps).  Both are
   measured on a pilot run and extrapolated to the number of paths giving max SE = 1e-3
   (time is linear in paths; the pilots are large enough for the per-path spread).

Single-process timings are CPU seconds (process_time, best of 3), so the ratios hold on a shared
machine; the cluster speed-up is wall clock, reported with the CPU seconds of each worker.
Run:  python benchmarks/bench_distributed.py [throughput] [accuracy] [cluster]
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

import volterra_sym as vs

MODEL = vs.SRNN(Gamma=1.0, W=[[0.5, -0.3], [0.8, 0.2]], b=[0.1, 0.0], C=[[1.0], [0.5]], sigma=0.5,
                activation="tanh", readout="h1 + h2**2")  # fmt: skip
DT = 0.01


def best(fn, repeats: int = 3, clock=time.perf_counter) -> float:
    out = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return min(out)


CPU = time.process_time  # single-process timings in CPU seconds: robust on a shared machine


def bench_cluster() -> None:
    import dask
    from distributed import Client, LocalCluster

    # dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also freezes glibc's mmap threshold:
    # every NumPy temporary > 128 KB becomes an mmap/munmap pair (page faults), 1.5-3x slower
    # element-wise loops on the workers (docs/distributed.md).  Start the workers without it.
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    dask.config.set({"distributed.nanny.pre-spawn-environ": env})

    model = MODEL.replace(initial=vs.PointMass([0.0, 0.0]))
    t = np.linspace(0, 30, 3001)
    paths = 80000
    cpu0 = time.process_time()
    local = best(lambda: vs.simulate(model, None, t, paths, seed=0, progress=False), 1)
    local_cpu = time.process_time() - cpu0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        vs.simulate(model, None, t, 640, seed=0, client=client)  # warm the workers (imports, compile)
        before = client.run(time.process_time)
        dist = best(lambda: vs.simulate(model, None, t, paths, seed=0, client=client), 1)
        after = client.run(time.process_time)
        worker_cpu = [after[w] - before[w] for w in after]
        a = vs.simulate(model, None, t, 2000, seed=0)
        b = vs.simulate(model, None, t, 2000, seed=0, client=client)
        same = np.array_equal(a.mean, b.mean) and np.array_equal(a.stderr, b.stderr)
    finally:
        client.close()
        cluster.close()
    print(f"[1] simulate, {paths} paths x 3000 steps: one process {local:.1f} s, LocalCluster(2 x 1) {dist:.1f} s")
    print(f"    speed-up {local / dist:.2f}x (target >= 1.6x); bit-identical: {same}")
    # on a shared machine the wall-clock ratio depends on the other load; CPU seconds do not
    print(
        f"    CPU seconds: one process {local_cpu:.1f}, workers {', '.join(f'{c:.1f}' for c in worker_cpu)}: "
        f"speed-up on 2 idle cores ~{local_cpu / max(worker_cpu):.2f}x; load average {os.getloadavg()[0]:.1f}"
    )


def bench_throughput() -> None:
    model = MODEL.replace(initial=vs.PointMass([0.0, 0.0]))
    T, paths = 5.0, 20000
    steps = int(round(T / DT))
    t = np.linspace(0, T, steps + 1)
    lags = np.stack([np.arange(0, T + 1e-9, 0.25), np.zeros(21)], axis=1)
    sim = best(lambda: vs.simulate(model, None, t, paths, seed=0, progress=False), clock=CPU)
    est = best(lambda: vs.estimate_kernels(model, 1, {1: lags}, paths, seed=0, bias_check=False), clock=CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estb = best(lambda: vs.estimate_kernels(model, 1, {1: lags}, paths, seed=0), clock=CPU)
    ps = paths * steps
    print(f"[2] path-steps per CPU second (2-D tanh SRNN, dt = {DT}, {paths} paths x {steps} steps):")
    print(f"    simulate Euler            {ps / sim:.3g}")
    print(f"    estimate_kernels order 1  {ps / est:.3g}  ratio {sim / est:.2f} (target >= 0.5)")
    print(f"    ... with dt/2 bias check  {ps / estb:.3g}  ratio {sim / estb:.2f}")


def bench_accuracy() -> None:
    target = 1e-3
    taus = np.round(np.arange(1, 21) * 0.25, 10)  # 20 lags 0.25 .. 5
    pilot = 4000
    t0 = CPU()
    est = vs.estimate_kernels(MODEL, 1, {1: taus}, pilot, seed=1, bias_check=False)
    t_est = CPU() - t0
    burn = est.burn_in
    sd = est.stderr(1) * np.sqrt(pilot)
    n_est = int(np.ceil((sd.max() / target) ** 2))
    time_est = t_est * n_est / pilot
    # response route: pulse of area eps at the first step (samples 2/dt at t = 0: the step average
    # of the piecewise-linear input is 1/dt), CRN difference / eps estimates K^(1)(t - dt/3)
    eps = 0.05
    t = np.round(np.arange(0, taus[-1] + DT / 2, DT), 10)
    U = np.zeros(t.size)
    U[0] = 2.0 / DT
    t0 = CPU()
    res = vs.simulate_response(MODEL, U, t, pilot, seed=1, eps=eps, burn_in=burn, progress=False)
    t_resp = CPU() - t0
    idx = np.rint(taus / DT).astype(int)
    sd_r = res.stderr[idx] / eps * np.sqrt(pilot)
    n_resp = int(np.ceil((sd_r.max() / target) ** 2))
    time_resp = t_resp * n_resp / pilot
    k_resp = res.mean[idx] / eps
    diff = np.max(np.abs(k_resp - est.mean(1)))
    print(f"[3] K^(1) of the 2-D tanh SRNN at 20 lags (0.25..5), stationary (burn-in {burn:.1f}), SE <= {target:g}:")
    print(f"    estimate_kernels : per-path sd <= {sd.max():.3f} -> {n_est} paths, ~{time_est:.0f} CPU s")
    print(
        f"    simulate_response: per-path sd <= {sd_r.max():.3f} -> {n_resp} paths, ~{time_resp:.0f} CPU s (eps={eps})"
    )
    se = sd.max() / np.sqrt(pilot)
    print(f"    ratio {time_resp / time_est:.1f}x; pilot estimates differ by <= {diff:.3f} (pilot SE ~{se:.3f})")


def main() -> None:
    import sys

    print(f"os.cpu_count() = {os.cpu_count()}")
    parts = sys.argv[1:] or ["throughput", "accuracy", "cluster"]
    for name in parts:
        globals()[f"bench_{name}"]()


if __name__ == "__main__":
    main()
