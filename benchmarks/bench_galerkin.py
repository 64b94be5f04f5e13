"""Benchmark of the Galerkin route's numerical core (volterra_sym.routes.galerkin.system), issue 11 targets.

Rows (each run in its own subprocess, so that the peak memory is per row):

* 1-D tanh SRNN dh = (-h + 1.5 tanh h + 0.3) dt + 0.7 dW, f = h, C = 0.8 (bimodal), degree 30, and the
  monostable dh = (-h + 0.5 tanh h + 0.3) dt + 0.7 dW, degree 20; weight: the stationary density.
* 2-D tanh SRNN, Gamma = I, W = [[0.5, -1.2], [1.2, 0.3]], b = [0.2, -0.1], sigma = 0.6, C = [1, 0.5], f = h1,
  degree 14; 3-D (degree 12) and 4-D (degree 8) tanh SRNNs with non-symmetric W; weight: pilot simulation.

For each row: "time" = choose the weight + build the system + kernels of order 1 on 100 lags in [0.05, 5] and of
order 2 on 100 random lag pairs in [0, 3]^2; "error" = max |K(p) - K(p + 2)| over those lags (the route's own
estimate) and, in 1-D, also max |K(p) - K(40)| (reference at degree 40); "peak MB" = peak resident memory of
the row's process.  Then: prediction of orders 0..2 on 1e4 time points (2-D model, degree 14), a
convergence table in p, and a case where the guard fires.  Run:  python benchmarks/bench_galerkin.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import sympy as sp

import volterra_sym as vs
from volterra_sym.routes.galerkin.system import build_galerkin
from volterra_sym.routes.galerkin.weights import choose_weight

h = sp.Symbol("h1")
W3 = [[0.5, -1.0, 0.3], [1.0, 0.2, -0.4], [-0.3, 0.5, 0.1]]
W4 = [[0.5, -1.0, 0.3, 0.2], [1.0, 0.2, -0.4, 0.1], [-0.3, 0.5, 0.1, -0.6], [0.2, -0.1, 0.6, 0.3]]
TANH = {"activation": "tanh", "readout": "h1", "sigma": 0.6}
MODELS = {
    "1d-bimodal": (lambda: vs.Diffusion([h], [-h + 1.5 * sp.tanh(h) + 0.3], 0.7, [0.8], h), 30, "1e-6", 0.5),
    "1d-monostable": (lambda: vs.Diffusion([h], [-h + 0.5 * sp.tanh(h) + 0.3], 0.7, [0.8], h), 20, "1e-9", 0.5),
    "2d": (
        lambda: vs.SRNN(1, [[0.5, -1.2], [1.2, 0.3]], [0.2, -0.1], C=[1, 0.5], **TANH),
        14,
        "1e-5",
        3.0,
    ),
    "3d": (
        lambda: vs.SRNN(1, W3, [0.2, -0.1, 0.1], C=[1, 0.5, -0.3], **TANH),
        12,
        "1e-4",
        20.0,
    ),
    "4d": (
        lambda: vs.SRNN(1, W4, [0.2, -0.1, 0.1, 0.0], C=[1, 0.5, -0.3, 0.2], **TANH),
        8,
        "1e-3",
        60.0,
    ),
}


def lags() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return np.linspace(0.05, 5.0, 100), rng.uniform(0.0, 3.0, (100, 2))


def kernels(S) -> tuple[np.ndarray, np.ndarray]:
    l1, l2 = lags()
    return S.kernel_values(1, 0, l1), S.kernel_values(2, (0, 0), l2)


def row(name: str) -> dict:
    make, p, _, _ = MODELS[name]
    model = make()
    t0 = time.perf_counter()
    w = choose_weight(model)
    S = build_galerkin(model, p, weight=w, order=2)
    k1, k2 = kernels(S)
    elapsed = time.perf_counter() - t0
    f1, f2 = kernels(build_galerkin(model, p + 2, weight=w, order=2))
    out = {
        "name": name,
        "degree": p,
        "N": S.N,
        "nodes": S.n_nodes,
        "time": elapsed,
        "est1": float(np.abs(k1 - f1).max()),
        "est2": float(np.abs(k2 - f2).max()),
        "rate": [float(S.rates(1)[0].real), float(S.rates(1)[0].imag)],
        "weight": w.describe(),
    }
    if model.n == 1:
        r1, r2 = kernels(build_galerkin(model, 40, weight=w, order=2))
        out["ref1"], out["ref2"] = float(np.abs(k1 - r1).max()), float(np.abs(k2 - r2).max())
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def predict_row() -> dict:
    make, p, _, _ = MODELS["2d"]
    S = build_galerkin(make(), p, order=2)
    t = np.linspace(0.0, 20.0, 10_000)
    U = (np.sin(t) + 0.5 * np.cos(3 * t))[:, None]
    S.predict(U[:10], t[:10], order=2)  # warm-up (imports)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        S.predict(U, t, 1.0, by_order=True, order=2)
        times.append(time.perf_counter() - t0)
    return {"time": float(np.median(times)), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def convergence() -> None:
    l1, l2 = lags()
    print("\nconvergence in p (max |K(p) - K(p+2)| on the lags above; orders 1 / 2):")
    for name, degrees in (("1d-bimodal", (10, 16, 22, 28)), ("2d", (6, 8, 10, 12, 14)), ("3d", (6, 8, 10))):
        model = MODELS[name][0]()
        w = choose_weight(model)
        cells = []
        for p in degrees:
            a = kernels(build_galerkin(model, p, weight=w, order=2))
            b = kernels(build_galerkin(model, p + 2, weight=w, order=2))
            cells.append(f"p={p}: {np.abs(a[0] - b[0]).max():.1e} / {np.abs(a[1] - b[1]).max():.1e}")
        print(f"  {name:12s} " + "; ".join(cells))
    model = MODELS["1d-bimodal"][0]()
    w = choose_weight(model)
    print("guard (1-D bimodal, Gaussian weight of the stationary mean, width x 0.5 / x 1.5):")
    for f in (0.5, 1.5):
        try:
            build_galerkin(model, 24, weight=("gaussian", w.mean, w.cov * f * f))
            print(f"  x{f}: no error (unexpected)")
        except vs.VolterraError as e:
            print(f"  x{f}: {type(e).__name__}: {str(e)[:150]}...")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--row":
        print(json.dumps(predict_row() if sys.argv[2] == "predict" else row(sys.argv[2])))
        return
    print(f"os.cpu_count() = {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}")
    print(
        f"{'row':14s} {'p':>3s} {'N':>4s} {'nodes':>6s} {'time s':>7s} {'target':>6s} {'est K1':>8s} {'est K2':>8s} "
        f"{'ref K1':>8s} {'ref K2':>8s} {'target':>6s} {'peak MB':>8s}"
    )
    env = dict(os.environ)
    for name, (_, _, err_target, time_target) in MODELS.items():
        res = subprocess.run([sys.executable, __file__, "--row", name], capture_output=True, text=True, env=env)
        if res.returncode:
            print(f"{name}: failed\n{res.stderr[-2000:]}")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        ref1 = f"{r['ref1']:.1e}" if "ref1" in r else "-"
        ref2 = f"{r['ref2']:.1e}" if "ref2" in r else "-"
        print(
            f"{name:14s} {r['degree']:3d} {r['N']:4d} {r['nodes']:6d} {r['time']:7.2f} {time_target:6.1f} "
            f"{r['est1']:8.1e} {r['est2']:8.1e} {ref1:>8s} {ref2:>8s} {err_target:>6s} {r['peak_mb']:8.0f}"
        )
        print(f"{'':14s} leading rate {r['rate'][0]:.5f} +- {abs(r['rate'][1]):.5f} i; weight {r['weight']}")
    res = subprocess.run([sys.executable, __file__, "--row", "predict"], capture_output=True, text=True, env=env)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    print(
        f"predict orders 0..2, 1e4 times, 2-D degree 14: {r['time']:.3f} s (target < 1 s), peak {r['peak_mb']:.0f} MB"
    )
    convergence()


if __name__ == "__main__":
    main()
