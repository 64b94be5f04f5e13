"""Regenerate the figures of docs/frequency.md (plot and galerkin extras): python scripts/frequency_figures.py"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

import volterra_sym as vs
from volterra_sym import plots

OUT = Path(__file__).resolve().parent.parent / "docs" / "figures"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    linear = vs.SRNN(1.0, [[0.5, -1.2], [1.2, 0.3]], [0.2, -0.1], C=[1, 0.5], sigma=0.6, readout="h1")
    tanh = vs.SRNN(
        [[1, 0], [0, 1]], [[0.5, -1.2], [1.2, 0.3]], [0.2, -0.1], [1, 0.5], 0.6, activation="tanh", readout="h1"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vs.ConvergenceWarning)
        exact = vs.derive(linear, order=1)
        gal = vs.derive(tanh, order=2, method="galerkin", degree=6)
        est = vs.estimate_kernels(tanh, order=1, lags={1: np.arange(0, 10.0001, 0.25)}, paths=3000, seed=1, dt=0.05)
    plots.save_figure(
        plots.plot_kernel1({"galerkin p=6 (tanh)": gal, "exact (linear)": exact}, estimate=est),
        OUT / "frequency_k1.png",
    )
    plots.save_figure(plots.plot_kernel2(gal), OUT / "frequency_k2.png")
    plots.save_figure(
        plots.plot_bode({"galerkin p=6 (tanh)": gal, "exact (linear)": exact}, estimate=est), OUT / "frequency_bode.png"
    )
    plots.save_figure(plots.plot_transfer2(gal), OUT / "frequency_h2.png")


if __name__ == "__main__":
    main()
