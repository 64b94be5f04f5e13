"""The trained-NoisyRNN worked example, full run (issue 21; docs/noisy_rnn_example.md). Prints its figures
measured in this run with the machine load.

Run:  python benchmarks/bench_noisy_rnn.py [--size full|small] [--figures DIR]

Needs the ``torch`` (training), ``bench`` (aeon: the ItalyPowerDemand data) and ``plot`` (matplotlib) extras.
Trains a NoisyRNN (n = 16 units, CPU) on ItalyPowerDemand, imports it with ``vs.from_noisy_rnn``, estimates
its kernels (Monte Carlo, orders 1 and 2 of the input channels; ``method="small_noise"`` when that route takes
the input inside the activation), predicts the mean output of held-out series order by order and compares it
with the network itself run with its noise (Taylor coefficients in eps by the Cauchy integral, with SEs).
Writes docs/figures/noisy_rnn_k1.png, noisy_rnn_k2.png and noisy_rnn_orders.png.  Timings are wall-clock on
a shared machine: read them with the load average printed before and after.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "noisy_rnn"


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(EXAMPLE))
    import train_and_analyse as ex

    before = os.getloadavg()
    print(f"cores: {os.cpu_count()}; load average (1, 5, 15 min) before: {tuple(round(v, 1) for v in before)}")
    res = ex.main(argv)
    after = os.getloadavg()
    print(f"\ntraining: {res['train']}")
    print("summary (wall-clock seconds)")
    for key in ("import_seconds", "mc_seconds", "network_seconds", "sde_seconds", "seconds"):
        print(f"  {key:16s} {res[key]:8.1f}")
    print(f"  orders needed for 5% of |E y1 - y0| (by eps): {res['orders_needed']}")
    print(f"load average after: {tuple(round(v, 1) for v in after)}")


if __name__ == "__main__":
    main(sys.argv[1:])
