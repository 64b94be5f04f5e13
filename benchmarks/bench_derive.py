"""Derivation time of exact kernels (issue 2 goals: <3 s, <5 s, <2 s). Prints figures; asserts nothing."""

from __future__ import annotations

import os
import time

import numpy as np
import sympy as sp

import volterra_sym as vs


def timed(label: str, build, order: int, goal: float) -> None:
    best = float("inf")
    for _ in range(3):
        model = build()
        t0 = time.perf_counter()
        resp = vs.derive(model, order=order)
        for _n, _k, _expr in resp.kernels():  # include conversion to SymPy expressions
            pass
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<45s} {best:8.3f} s   (goal < {goal} s, ratio to goal {best / goal:.3f})")


def main() -> None:
    print(f"cores: {os.cpu_count()}")
    a, c, c0, s = sp.symbols("a c c0 s")
    timed("1-D symbolic, quartic readout, all orders", lambda: vs.OU(a, c, s, c=c0, readout="h1**4"), 4, 3.0)
    rng = np.random.default_rng(0)
    A3 = np.round(np.eye(3) * 2 + rng.normal(size=(3, 3)) * 0.4, 2)
    timed(
        "n=3 numeric, cubic readout, order 3",
        lambda: vs.OU(A3, [[1], [0.5], [0]], 0.4, readout="h1**3 + h1*h2*h3 + h2**2"),
        3,
        5.0,
    )
    A6 = np.round(np.eye(6) * 2 + rng.normal(size=(6, 6)) * 0.3, 2)
    timed(
        "n=6 numeric, quadratic readout, order 2",
        lambda: vs.OU(A6, rng.normal(size=(6, 1)).round(2), 0.3, readout="h1**2 + h2*h6"),
        2,
        2.0,
    )


if __name__ == "__main__":
    main()
