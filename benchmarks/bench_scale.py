"""Networks of 16-256 units (issue 20): the matrix numerics against plain NumPy doing the same work.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_scale.py          # Monte Carlo table: n = 16, 64, 128
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_scale.py --n256   # also the n = 256 row

Prints, with the machine load (os.getloadavg) before each section:
1. vs.SRNN construction time at n = 256 (target < 1 s);
2. vs.simulate against a plain NumPy Euler loop (same paths, steps, noise and statistics) at n = 16, 64,
   256 (target: within 1.5x);
3. vs.estimate_kernels (plain settings: one window, no control variate, no dt/2 check) against a plain
   NumPy tangent estimator (target: within 3x);
4. the Monte Carlo K1 column of the issue's table: 20 lags to a standard error of 1e-3 max|K1| with
   windows and the control variate (paths set from a pilot), with the variance reduction it reports;
5. the targets table (``--only targets``): each case (small_noise K1 with the guard on 500 lags, small_noise
   K2 on 50 x 50 lag pairs, Monte Carlo K1 as in 4.) in a fresh subprocess, CPU seconds and peak resident
   memory (ru_maxrss of the subprocess, interpreter and imports included), the load before each case;
6. the small_noise K2 column in detail (``--only k2``): K^(2) on 50 x 50 lag pairs, noise_order=2, numeric
   engine, with its integration error estimate;
7. predict on 1e4 points (``--only predict``): the numeric small-noise engine against the exact route.
CPU seconds (time.process_time) are measured, the better of two repetitions for 2. and 3.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

import volterra_sym as vs

S = 0.2  # noise amplitude (s_eff)


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f}"


def network(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NoisyRNN-style W (antisymmetric plus symmetric part, gain ~1.2), bias, one input column."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    W = 1.2 * (0.5 * (A - A.T) + 0.25 * (A + A.T)) / np.sqrt(n)
    return W, 0.3 * rng.normal(size=n), rng.normal(size=(n, 1)) / np.sqrt(n)


def model(n: int, **kw: object) -> vs.Diffusion:
    W, b, C = network(n)
    return vs.SRNN(1.0, W, b, C, S, activation="tanh", readout="h1", **kw)


def cpu(fn: Callable[[], object], reps: int = 2) -> float:
    best = np.inf
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def construction() -> None:
    print(f"\n== 1. vs.SRNN construction, n = 256 ({load()})")
    W, b, C = network(256)
    t = cpu(lambda: vs.SRNN(1.0, W, b, C, S, activation="tanh", readout="h1"), 3)
    print(f"   construction: {t * 1e3:.1f} ms (target < 1 s)")


def plain_euler(n: int, paths: int, steps: int, dt: float) -> None:
    W, b, _ = network(n)
    g = np.random.Generator(np.random.SFC64(1))
    h = np.zeros((n, paths))
    mean, var = np.empty(steps + 1), np.empty(steps + 1)
    mean[0], var[0] = h[0].mean(), h[0].var()
    sq = S * np.sqrt(dt)
    for k in range(steps):
        h += dt * (np.tanh(W @ h + b[:, None]) - h) + sq * g.standard_normal((n, paths))
        mean[k + 1], var[k + 1] = h[0].mean(), h[0].var()


def simulate_vs_euler() -> None:
    print(f"\n== 2. vs.simulate against plain NumPy Euler ({load()})")
    steps, dt, paths = 200, 0.01, 2048
    t = np.linspace(0, steps * dt, steps + 1)
    for n in (16, 64, 256):
        m = model(n, initial=vs.PointMass(np.zeros(n)))
        vs.simulate(m, None, t[:3], 64, progress=False)  # compile once
        a = cpu(lambda m=m: vs.simulate(m, None, t, paths, seed=1, progress=False))
        p = cpu(lambda n=n: plain_euler(n, paths, steps, dt))
        print(f"   n = {n:3d}: simulate {a:6.2f} s, plain Euler {p:6.2f} s, ratio {a / p:5.2f} (target <= 1.5)")


def plain_tangent(n: int, paths: int, nburn: int, nlag: int, dt: float) -> np.ndarray:
    """K1(tau_j), j < nlag, of readout h1: burn-in, then one tangent w = C per path; per-path samples."""
    W, b, C = network(n)
    g = np.random.Generator(np.random.SFC64(2))
    h = np.zeros((n, paths))
    sq = S * np.sqrt(dt)
    for _ in range(nburn):
        h += dt * (np.tanh(W @ h + b[:, None]) - h) + sq * g.standard_normal((n, paths))
    w = np.repeat(C, paths, axis=1)
    out = np.empty((nlag, paths))
    for k in range(nlag):
        out[k] = w[0]
        if k == nlag - 1:
            break
        z = W @ h + b[:, None]
        t = np.tanh(z)
        w += dt * ((1 - t * t) * (W @ w) - w)
        h += dt * (t - h) + sq * g.standard_normal((n, paths))
    return out


def kernels_vs_plain() -> None:
    print(f"\n== 3. vs.estimate_kernels (plain settings) against a plain NumPy tangent estimator ({load()})")
    dt, paths = 0.02, 512
    taus = np.round(np.arange(20) * 0.1, 10)
    for n in (16, 64, 256):
        m = model(n)
        burn = vs.estimate_kernels(m, 1, {1: taus[:2]}, paths=64, dt=dt, bias_check=False, progress=False).burn_in
        nburn, nlag = int(round(burn / dt)), int(round(taus[-1] / dt)) + 1

        def run(m: vs.Diffusion = m) -> None:
            vs.estimate_kernels(m, 1, {1: taus}, paths=paths, dt=dt, bias_check=False, progress=False)

        a = cpu(run)
        p = cpu(lambda n=n, nburn=nburn, nlag=nlag: plain_tangent(n, paths, nburn, nlag, dt))
        print(
            f"   n = {n:3d} (burn-in {burn:.1f}): estimate_kernels {a:6.2f} s, plain tangents {p:6.2f} s, "
            f"ratio {a / p:5.2f} (target <= 3)"
        )


def mc_table(sizes: list[int]) -> None:
    print(f"\n== 4. Monte Carlo K1 at 20 lags to SE 1e-3 max|K1| (windows + control variate) ({load()})")
    print("   | n | Monte Carlo K1 (CPU s) | paths | variance reduction vs plain | small_noise K1 (same lags) |")
    taus = np.round(np.arange(20) * 0.1, 10)
    dt, windows = 0.02, 8
    for n in sizes:
        m = model(n)
        kw = dict(dt=dt, windows=windows, control_variate=True, bias_check=False, progress=False)
        t0 = time.process_time()
        pilot = vs.estimate_kernels(m, 1, {1: taus}, paths=128, seed=1, **kw)
        target = 1e-3 * float(np.max(np.abs(pilot.mean(1))))
        need = int(np.ceil(128 * (float(np.max(pilot.stderr(1))) / target) ** 2))
        paths = max(64, need)
        est = vs.estimate_kernels(m, 1, {1: taus}, paths=paths, seed=2, **kw)
        total = time.process_time() - t0
        ok = float(np.max(est.stderr(1))) <= 1.1 * target
        vr = est.summary.get("variance_reduction", float("nan"))
        # small_noise K1 at the same 20 lags (numeric engine, guard on; K2: the targets table and section 6)
        t0 = time.process_time()
        sn = vs.derive(m, 1, method="small_noise")
        sn.kernel_values(1, 0, taus[:, None])
        sn1 = f"{time.process_time() - t0:.2f} s"
        print(f"   | {n} | {total:.1f}{'' if ok else ' (SE not reached)'} | {paths} | {vr:.1f}x | {sn1} |")


# --------------------------------------------------------------------------- the targets table, one subprocess per case


def case_small_noise_k1(n: int) -> dict[str, object]:
    """vs.derive(..., method="small_noise") with the guard, then K1 on 500 lags (noise_order=2)."""
    m = model(n)
    lags = np.linspace(0.0, 10.0, 500)[:, None]
    t0 = time.process_time()
    sn = vs.derive(m, 1, method="small_noise")
    sn.kernel_values(1, 0, lags)
    return {"cpu": time.process_time() - t0, "note": f"guard gap {100 * sn.guard.covariance_gap:.0f}%"}


def case_small_noise_k2(n: int) -> dict[str, object]:
    """vs.derive(..., order=2, method="small_noise") with the guard, then K2 on 50 x 50 lag pairs in [0, 5]^2
    (noise_order=2, numeric engine)."""
    m = model(n)
    g = np.linspace(0.0, 5.0, 50)
    pairs = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    t0 = time.process_time()
    sn = vs.derive(m, 2, method="small_noise")
    sn.kernel_values(2, 0, pairs)
    return {"cpu": time.process_time() - t0, "note": "K2 50 x 50 pairs, guard on"}


def case_mc_k1(n: int) -> dict[str, object]:
    """Monte Carlo K1 at 20 lags to SE 1e-3 max|K1| (windows + control variate, paths from a pilot)."""
    m = model(n)
    taus = np.round(np.arange(20) * 0.1, 10)
    kw = dict(dt=0.02, windows=8, control_variate=True, bias_check=False, progress=False)
    t0 = time.process_time()
    pilot = vs.estimate_kernels(m, 1, {1: taus}, paths=128, seed=1, **kw)
    target = 1e-3 * float(np.max(np.abs(pilot.mean(1))))
    paths = max(64, int(np.ceil(128 * (float(np.max(pilot.stderr(1))) / target) ** 2)))
    est = vs.estimate_kernels(m, 1, {1: taus}, paths=paths, seed=2, **kw)
    ok = float(np.max(est.stderr(1))) <= 1.1 * target
    vr = est.summary.get("variance_reduction", float("nan"))
    note = f"{paths} paths, variance reduction {vr:.0f}x" + ("" if ok else ", SE not reached")
    return {"cpu": time.process_time() - t0, "note": note}


#: the cases of the targets table (name -> (column title, function of n)); one fresh subprocess each
CASES: dict[str, tuple[str, Callable[[int], dict[str, object]]]] = {
    "sn_k1": ("small_noise K1, 500 lags", case_small_noise_k1),
    "sn_k2": ("small_noise K2, 50 x 50 pairs", case_small_noise_k2),
    "mc_k1": ("Monte Carlo K1, 20 lags to SE 1e-3", case_mc_k1),
}


def run_case(name: str, n: int) -> None:
    """Run one case in this process and print its result as JSON: CPU seconds, peak RSS (ru_maxrss of this
    process: everything, the interpreter and imports included) and the RSS before the case (the baseline)."""
    import json
    import resource

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = CASES[name][1](n)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**out, "rss_mb": peak / 1024.0, "base_mb": base / 1024.0}))


def targets_table(sizes: list[int], names: list[str] | None = None) -> None:
    """The issue's targets table: every case in a fresh subprocess (``--case NAME N``), CPU seconds and peak
    resident memory (resource ru_maxrss of the subprocess: interpreter and imports included, ~0.1-0.2 GB),
    the machine load (os.getloadavg) before each case."""
    import json
    import subprocess
    import sys

    names = list(CASES) if names is None else names
    print(f"\n== 5. targets table: one subprocess per case, CPU s / peak RSS ({load()})")
    print("   | n | " + " | ".join(CASES[k][0] for k in names) + " |")
    print("   |---|" + "---|" * len(names))
    notes = []
    for n in sizes:
        cells = []
        for name in names:
            before = load()
            proc = subprocess.run(
                [sys.executable, __file__, "--case", name, str(n)], capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                cells.append("failed")
                notes.append(f"n = {n} {name}: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            cells.append(f"{res['cpu']:.2f} s / {res['rss_mb'] / 1024:.2f} GB")
            notes.append(f"n = {n} {name}: {res['note']}; baseline RSS {res['base_mb']:.0f} MB; {before}")
        print(f"   | {n} | " + " | ".join(cells) + " |")
    for line in notes:
        print(f"   {line}")


def small_noise_k2(sizes: list[int]) -> None:
    """The small_noise K2 column of the issue's table: K^(2) on 50 x 50 lag pairs in [0, 5]^2, noise_order=2,
    numeric engine (routes/small_noise/numeric_second.py); CPU seconds of kernel_values after derive."""
    print(f"\n== 6. small_noise K2 on 50 x 50 lag pairs, noise_order=2 (numeric engine) ({load()})")
    print("   | n | derive (guard off) | K2 50 x 50 (CPU s) | target | integration error estimate | max abs K2 |")
    g = np.linspace(0.0, 5.0, 50)
    pairs = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    targets = {16: 1, 64: 10, 128: 60, 256: 300}
    for n in sizes:
        m = model(n)
        t0 = time.process_time()
        sn = vs.derive(m, 2, method="small_noise", guard=False)
        t1 = time.process_time()
        k2 = sn.kernel_values(2, 0, pairs)
        t2 = time.process_time()
        err = sn.second.values((0, 0), pairs, True)[1][0]  # cached: the step-doubling estimate of that call
        print(
            f"   | {n} | {t1 - t0:.2f} s | {t2 - t1:.2f} | < {targets.get(n, '?')} s | {err:.1e} | "
            f"{np.max(np.abs(k2)):.3g} |"
        )


def small_noise_predict(sizes: list[int]) -> None:
    """predict on 1e4 points (t in [0, 100], u = sin t) by the numeric small-noise engine (orders 1 and 2,
    noise_order=2) against the exact route's predict on a linear SRNN of the same size (issue 20: within 3x)."""
    print(f"\n== 7. small_noise predict on 1e4 points (numeric engine) vs the exact route, linear SRNN ({load()})")
    print("   | n | small_noise order 1 (CPU s) | order 2 | order 2 + return_error | exact route, linear (order 2) |")
    t = np.linspace(0.0, 100.0, 10_000)
    u = np.sin(t)[:, None]
    for n in sizes:
        sn = {k: vs.derive(model(n), k, method="small_noise", guard=False) for k in (1, 2)}
        W, b, C = network(n)
        # triangular W: the exact route's cheap case (a dense n x n spectrum is beyond its limits at n >= 16)
        G = np.diag(np.linspace(0.5, 2.0, n))
        lin = vs.SRNN(G, 0.5 * np.triu(W, 1), b, C, S, activation="identity", readout="h1")
        ex = vs.derive(lin, 2, method="exact")
        times = [
            cpu(lambda sn=sn: sn[1].predict(u, t, 0.1), 1),
            cpu(lambda sn=sn: sn[2].predict(u, t, 0.1), 1),
            cpu(lambda sn=sn: sn[2].predict(u, t, 0.1, return_error=True), 1),
            cpu(lambda ex=ex: ex.predict(u, t, 0.1), 2),
        ]
        print("   | " + " | ".join([str(n)] + [f"{x:.3g}" for x in times]) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n256", action="store_true", help="also the n = 256 row of the Monte Carlo table (long)")
    ap.add_argument(
        "--only", choices=["construction", "simulate", "kernels", "table", "targets", "k2", "predict"], default=None
    )
    ap.add_argument("--case", nargs=2, metavar=("NAME", "N"), help="run one case of the targets table (internal)")
    args = ap.parse_args()
    if args.case:
        run_case(args.case[0], int(args.case[1]))
        return
    sections = {
        "construction": construction,
        "simulate": simulate_vs_euler,
        "kernels": kernels_vs_plain,
        "table": lambda: mc_table([16, 64, 128] + ([256] if args.n256 else [])),
        "targets": lambda: targets_table([16, 64, 128] + ([256] if args.n256 else [])),
        "k2": lambda: small_noise_k2([16, 64, 128] + ([256] if args.n256 else [])),
        "predict": lambda: small_noise_predict([16, 64]),
    }
    for name, fn in sections.items():
        if args.only in (None, name):
            fn()
    print(f"\n({load()})")


if __name__ == "__main__":
    main()
