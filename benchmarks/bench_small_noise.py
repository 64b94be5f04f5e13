"""method="small_noise" cost (issue 20, part 1). Prints figures measured in this run and the machine load.

Run:  python benchmarks/bench_small_noise.py [n ...]      (default n = 2 3 4 16 64 128 256)

n <= 6: the closed-form engine (below).  n > 6: the numeric engine (``main_numeric``): the same network
family (``network_arrays``; C = e_1, sigma = 0.1, y = h1), K^(1) on 500 lags in [0, 10] with noise_order 2
(fixed point, eigenbasis, P, m*, both time grids of the error estimate included), timed on the engine
directly from the NetworkStructure (building ``vs.SRNN`` at n >= 128 takes minutes before issue 20 part 0
lands) and, for n <= 64, through ``vs.derive(..., guard=False)`` + ``kernel_values`` and the guard alone;
peak memory of the engine by tracemalloc; K^(2) is not built by the numeric engine.

For each n: a random non-symmetric tanh SRNN (gain 1.2, the NoisyRNN-style mix 0.7 antisymmetric +
0.3 symmetric, sigma = 0.1, y = h1): derive (guard on, order 2, noise_order 2), K1 on 500 lags,
K2 on 50 x 50 lag pairs, peak memory (tracemalloc of a second derivation), and predict on 1e4 points against
the exact route's predict on a linear SRNN of the same size (same Gamma, W, C, sigma; identity
activation; its order-2 kernels vanish for y = h1), both through the same exponential-polynomial
predictor; "pred o1" is the small-noise prediction derived to order 1 only.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np

import volterra_sym as vs


def network(n: int, activation: str) -> vs.Diffusion:
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    W = 1.2 * (0.7 * (A - A.T) + 0.3 * (A + A.T)) / np.sqrt(2)
    b = 0.1 * rng.standard_normal(n)
    C = [1.0] + [0.0] * (n - 1)
    return vs.SRNN(Gamma=1.0, W=W.tolist(), b=b.tolist(), C=C, sigma=0.1, activation=activation, readout="h1")


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(ns: list[int]) -> None:
    print(f"load average (1, 5, 15 min): {os.getloadavg()}, cores: {os.cpu_count()}")
    head = ("n", "derive", "K1 500", "K2 50x50", "peak MB", "predict", "exact", "pred o1", "ratio o2", "ratio o1")
    print(" ".join(f"{h:>9}" for h in head))
    taus = np.linspace(0, 10, 500)[:, None]
    g = np.linspace(0, 5, 50)
    pairs = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    t = np.linspace(0, 20, 10_000)
    u = np.sin(t) + 0.3 * np.cos(3.1 * t)
    for n in ns:
        resp, t_der = timed(lambda n=n: vs.derive(network(n, "tanh"), 2, method="small_noise"))
        tracemalloc.start()  # a second derivation under tracemalloc (which slows Python code) for the memory
        vs.derive(network(n, "tanh"), 2, method="small_noise")
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        _, t_k1 = timed(lambda r=resp: r.kernel_values(1, 0, taus))
        _, t_k2 = timed(lambda r=resp: r.kernel_values(2, (0, 0), pairs))
        resp.predict(u, t)  # the first call builds the filters
        _, t_pred = timed(lambda r=resp: r.predict(u, t))
        exact = vs.derive(network(n, "identity"), 2, method="exact")
        exact.predict(u, t)
        _, t_ex = timed(lambda r=exact: r.predict(u, t))
        first = vs.derive(network(n, "tanh"), 1, method="small_noise")
        first.predict(u, t)
        _, t_o1 = timed(lambda r=first: r.predict(u, t))
        row = (f"{n}", f"{t_der:.2f}", f"{t_k1:.3f}", f"{t_k2:.3f}", f"{peak:.1f}", f"{t_pred:.3f}", f"{t_ex:.3f}")
        row += (f"{t_o1:.3f}", f"{t_pred / t_ex:.2f}", f"{t_o1 / t_ex:.2f}")
        print(" ".join(f"{x:>9}" for x in row), flush=True)
    print(f"load average after: {os.getloadavg()}")


def network_arrays(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W, b, C of ``network`` (same random draws)."""
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    W = 1.2 * (0.7 * (A - A.T) + 0.3 * (A + A.T)) / np.sqrt(2)
    b = 0.1 * rng.standard_normal(n)
    C = np.zeros((n, 1))
    C[0, 0] = 1.0
    return W, b, C


def engine_k1(n: int, taus: np.ndarray) -> tuple[float, float, float]:
    """The numeric engine on the network's structure: (max |K1|, numerical error estimate, max |s^2 K_2|)."""
    from volterra_sym.model.structure import NetworkStructure
    from volterra_sym.routes.small_noise.guard import newton_many
    from volterra_sym.routes.small_noise.numeric import CubicReadout, NumericExpansion, channel_couplings, network_point

    W, b, C = network_arrays(n)
    S = NetworkStructure(np.eye(n), W, b, C, 0.1 * np.eye(n), "tanh")
    funcs = SimpleNamespace(structure=S, drift=S.drift)  # what newton_many reads of a network
    h = newton_many(funcs, np.zeros((1, n)))[0]  # type: ignore[arg-type]
    pt = network_point(S, h, True)
    readout = CubicReadout(float(h[0]), np.eye(n)[0], np.zeros((n, n)))
    ex = NumericExpansion(S, pt, [readout], channel_couplings(S, pt, None))
    k2, err = ex.first_order(0, 0, taus, True)
    k0, _ = ex.first_order(0, 0, taus, False)
    return float(np.max(np.abs(k2))), err, float(np.max(np.abs(k2 - k0)))


def main_numeric(ns: list[int]) -> None:
    print(f"numeric engine; load average (1, 5, 15 min): {os.getloadavg()}, cores: {os.cpu_count()}")
    head = ("n", "K1 500", "peak MB", "num err", "s2 term", "derive+K1", "guard", "build")
    print(" ".join(f"{h:>10}" for h in head))
    taus = np.linspace(0, 10, 500)
    for n in ns:
        (kmax, err, corr), t_k1 = timed(lambda n=n: engine_k1(n, taus))
        tracemalloc.start()
        engine_k1(n, taus)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        row = [f"{n}", f"{t_k1:.3f}", f"{peak:.1f}", f"{err:.1e}", f"{corr:.1e}"]
        if n <= 64:
            model, t_build = timed(lambda n=n: network(n, "tanh"))
            resp, t_der = timed(lambda m=model: vs.derive(m, 1, method="small_noise", guard=False))
            _, t_kv = timed(lambda r=resp: r.kernel_values(1, 0, taus[:, None]))
            _, t_guard = timed(lambda m=model: vs.derive(m, 1, method="small_noise"))
            row += [f"{t_der + t_kv:.2f}", f"{t_guard - t_der:.2f}", f"{t_build:.1f}"]
        else:
            row += ["-", "-", "-"]
        print(" ".join(f"{x:>10}" for x in row), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load average after: {os.getloadavg()}; max resident set size of this process {rss:.0f} MB")


if __name__ == "__main__":
    args = [int(x) for x in sys.argv[1:]] or [2, 3, 4, 16, 64, 128, 256]
    small, large = [n for n in args if n <= 6], [n for n in args if n > 6]
    if small:
        main(small)
    if large:
        main_numeric(large)
