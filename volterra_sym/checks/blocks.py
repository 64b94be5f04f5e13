"""Seed blocks and progress, shared by every Monte Carlo function of the checks (and by their Dask tasks).

Paths are grouped in blocks of ``BLOCK`` consecutive paths; block b draws all its normals from its own
stream ``SFC64(SeedSequence(seed, spawn_key=(b,)))``, so a run is a deterministic function of the seed
whatever the chunking or the machine a chunk runs on (checks/simulate.py, checks/distributed.py).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

BLOCK = 64  #: paths per random-number block (fixed: changing it changes the random streams)


def block_stream(seed: int, block: int) -> np.random.Generator:
    """The random stream of one block of paths: SFC64 seeded by SeedSequence(seed, spawn_key=(block,))."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(block,))))


def block_normals(streams: list[tuple[np.random.Generator, int]], shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals of shape (*shape, P): block by block along the path axis."""
    return np.concatenate([g.standard_normal(shape + (b,)) for g, b in streams], axis=-1)


class ProgressBar:
    """Progress bar on stderr via tqdm (optional: no bar without it): paths done, rate, time left.

    mode True shows it, False silences it, None (auto) shows it only on a terminal and only once
    the run has taken 2 s.  ``update`` counts path-steps; ``per_path`` steps make one path.
    """

    def __init__(self, mode: bool | None, total: int, per_path: int = 1, desc: str = "volterra_sym"):
        self.per_path = max(int(per_path), 1)
        self.bar: Any = None
        if mode is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # the optional extra 'progress' is not installed: no bar
            return
        self.bar = tqdm(
            total=max(total, 1) / self.per_path,
            desc=desc,
            unit="paths",
            disable=None if mode is None else False,  # None: only on a TTY
            delay=2.0 if mode is None else 0.0,
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} paths "
            "[{elapsed}<{remaining}, {rate_fmt}]",
        )

    def update(self, steps: int) -> None:
        if self.bar is not None:
            self.bar.update(steps / self.per_path)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
