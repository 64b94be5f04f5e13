"""Timings of volterra_sym.features.signature and volterra_sym.features, against iisignature in the same run.

Run:  python benchmarks/bench_signature.py
Prints medians (ms) and ratios ours / iisignature (< 1 means we are faster).
iisignature is optional (pip install --no-build-isolation iisignature).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import sympy as sp

from volterra_sym.features import feature_coefficients, response_feature
from volterra_sym.features.signature import signature

try:
    import iisignature
except ImportError:  # pragma: no cover - optional
    iisignature = None


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def row(label: str, ours: float, theirs: float | None) -> None:
    if theirs is None:
        print(f"{label:<44} {ours:10.2f} ms   (iisignature not installed)")
    else:
        print(f"{label:<44} {ours:10.2f} ms   iisignature {theirs:10.2f} ms   ratio {ours / theirs:5.2f}")


def main() -> None:
    print(f"os.cpu_count() = {os.cpu_count()}, numpy {np.__version__}")
    rng = np.random.default_rng(0)
    one = np.cumsum(rng.standard_normal((1000, 4)) * 0.1, axis=0)
    batch = np.cumsum(rng.standard_normal((256, 1000, 4)) * 0.1, axis=1)
    if iisignature is not None:
        err = np.abs(signature(batch[:8], 4) - iisignature.sig(batch[:8], 4)).max()
        print(f"max |ours - iisignature| on 8 paths: {err:.1e}")

    ii = iisignature
    row(
        "signature, one path L=1000 d=4 N=4",
        median_ms(lambda: signature(one, 4), 50),
        median_ms(lambda: ii.sig(one, 4), 50) if ii else None,
    )
    row(
        "signature, batch 256 x L=1000 d=4 N=4",
        median_ms(lambda: signature(batch, 4), 5),
        median_ms(lambda: ii.sig(batch, 4), 5) if ii else None,
    )
    if ii:
        looped = median_ms(lambda: [ii.sig(p, 4) for p in batch], 5)
        print(f"{'   (iisignature in a Python loop over paths)':<44} {looped:10.2f} ms")
    row(
        "stream, one path L=1000 d=4 N=4",
        median_ms(lambda: signature(one, 4, stream=True), 20),
        median_ms(lambda: ii.sig(one, 4, 2), 20) if ii else None,
    )

    def taylor(n: int, k: tuple[int, ...], p: tuple[int, ...]) -> sp.Expr:
        # K^(n) = exp(-(n tau_1 + (n-1) tau_2 + ... + tau_n)) (MATH.md section 5 shape)
        return sp.Mul(*[sp.Integer(-(n - j)) ** pj for j, pj in enumerate(p)])

    for truncation in ("box", "total"):
        ms = median_ms(lambda tr=truncation: feature_coefficients(taylor, 10, 3, truncation=tr), 3)
        print(f"{'feature_coefficients P=10 N=3 m=1 ' + truncation:<44} {ms:10.2f} ms")
    ms = median_ms(lambda: feature_coefficients(taylor, 10, 3, exact=False, dps=50), 3)
    print(f"{'feature_coefficients P=10 N=3 mpmath dps=50':<44} {ms:10.2f} ms")

    t = np.linspace(0, 2, 1001)
    u = np.sin(3 * t) + 0.5
    ms = median_ms(lambda: response_feature(u, t, 10, 3), 5)
    print(f"{'response_feature L=1001 P=10 N=3 (size 1463)':<44} {ms:10.2f} ms")
    ms = median_ms(lambda: response_feature(u, t, 10, 3, running=True), 3)
    print(f"{'response_feature running=True, same':<44} {ms:10.2f} ms")


if __name__ == "__main__":
    main()
