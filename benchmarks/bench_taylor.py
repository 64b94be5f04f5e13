"""Time to derive Taylor (short-lag) kernels, volterra_sym.routes.taylor.coefficients.

Run:  python benchmarks/bench_taylor.py
Cases: a 1-D tanh SRNN (order 2, lag degree 8) and a 2-D tanh SRNN (order 2,
lag degree 6), for point-mass, Gaussian and stationary starts.  The 2-D
stationary law is known only for gradient drift, so that case uses a diagonal
W (phi = -grad U) with isotropic noise.
"""

from __future__ import annotations

import os
import time

import sympy as sp

import volterra_sym as vs
from volterra_sym.routes.taylor.coefficients import taylor_kernels

R = sp.Rational


def _time(label: str, model: vs.Diffusion, order: int, degree: int, dps: int = 30) -> None:
    t0 = time.perf_counter()
    tk = taylor_kernels(model, order, degree, dps=dps)
    dt = time.perf_counter() - t0
    rep = tk.expectation_report
    nodes = rep.get("nodes", "-")
    print(
        f"{label:<44} {dt:8.2f} s   {len(tk._coef):5d} coefficients  {tk.applications:5d} operator applications  "
        f"{tk.representation}  nodes={nodes}"
    )


def main() -> None:
    print(f"os.cpu_count() = {os.cpu_count()}")
    one = dict(Gamma=1, W=2, b=R(1, 2), C=1, sigma=R(7, 10), activation="tanh", readout="h1")
    _time("1-D tanh SRNN, N=2, P=8, stationary", vs.SRNN(**one), 2, 8)
    _time("1-D tanh SRNN, N=2, P=8, point mass", vs.SRNN(**one, initial=vs.PointMass([R(3, 10)])), 2, 8)
    _time("1-D tanh SRNN, N=2, P=8, Gaussian", vs.SRNN(**one, initial=vs.Gaussian([0], [[R(1, 4)]])), 2, 8)
    two = dict(
        Gamma=1,
        W=[[R(1, 2), -1], [1, R(1, 4)]],
        b=[R(1, 10), -R(1, 5)],
        C=[[1], [R(1, 2)]],
        sigma=R(1, 2),
        activation="tanh",
        readout="h1",
    )
    _time("2-D tanh SRNN, N=2, P=6, point mass", vs.SRNN(**two, initial=vs.PointMass([R(3, 10), -R(1, 5)])), 2, 6)
    grad = dict(two, W=[[2, 0], [0, R(3, 2)]])
    _time("2-D gradient tanh SRNN, N=2, P=6, point mass", vs.SRNN(**grad, initial=vs.PointMass([0, 0])), 2, 6)
    _time("2-D gradient tanh SRNN, N=2, P=6, stationary (dps 20)", vs.SRNN(**grad), 2, 6, dps=20)


if __name__ == "__main__":
    main()
