"""Collections of time series for the learning estimators: parsing, checks and the time clock.

Accepted forms of ``X`` (n series, m channels):

* an array (n, L) (one channel) or (n, L, m), all series on one grid: the
  estimator's ``t`` (length L), or by default the sample index 0, 1, ..., L-1;
* a list of arrays (L_i,) or (L_i, m) of one common length (stacked as above);
* a list of pairs ``(t_i, u_i)``, each series with its own 1-D strictly
  increasing grid t_i (length L_i) and samples u_i of shape (L_i,) or (L_i, m).
  A grid that does not start at 0 is shifted to start there: the input is
  switched on at its first sample.  A tuple of two entries is always read as
  such a pair; pass series themselves as arrays or lists.

This module does not import scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import limits
from ..errors import FeatureError, InputError, describe
from ..features import sig_size

__all__ = [
    "SeriesBatch",
    "as_series",
    "check_feature_size",
]

#: A feature matrix (or Gram matrix) holds at most limits.MAX_FEATURE_VALUES float64 values (vs.limits).


@dataclass
class SeriesBatch:
    """n series with their grids.

    ``values`` is (n, L, m) and ``grid`` (L,) when every series shares one grid
    (``grids`` is None); otherwise ``series`` is a list of (t_i (L_i,), u_i (L_i, m)).
    """

    n_series: int
    n_channels: int
    values: np.ndarray | None = None
    grid: np.ndarray | None = None
    series: list[tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def n_times(self) -> int | None:
        """Common length L (None for ragged collections)."""
        return None if self.values is None else self.values.shape[1]

    def durations(self) -> np.ndarray:
        """t_i[-1] - t_i[0] of every series (n,)."""
        if self.values is not None:
            assert self.grid is not None
            return np.full(self.n_series, self.grid[-1] - self.grid[0] if self.grid.size else 0.0)
        assert self.series is not None
        return np.array([g[-1] - g[0] for g, _ in self.series])

    def samples(self) -> list[np.ndarray]:
        """Every series' samples (L_i, m)."""
        if self.values is not None:
            return list(self.values)
        assert self.series is not None
        return [u for _, u in self.series]

    def groups(self, time_scale: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(indices, grid starting at 0 and multiplied by ``time_scale``, values (k, L, m)) by common grid."""
        if self.values is not None:
            assert self.grid is not None
            return [(np.arange(self.n_series), (self.grid - self.grid[0]) * time_scale, self.values)]
        assert self.series is not None
        buckets: dict[tuple[int, bytes], list[int]] = {}
        for i, (g, _) in enumerate(self.series):
            buckets.setdefault((g.size, np.ascontiguousarray(g - g[0]).tobytes()), []).append(i)
        out = []
        for idx in buckets.values():
            g = self.series[idx[0]][0]
            out.append((np.array(idx), (g - g[0]) * time_scale, np.stack([self.series[i][1] for i in idx])))
        return out


def _finite(values: np.ndarray, name: str, index: int | None = None) -> None:
    if not np.all(np.isfinite(values)):
        bad = np.argwhere(~np.isfinite(values))[0]
        where = f"series {index}" if index is not None else f"series {int(bad[0])}"
        raise InputError(
            f"{name}: {where} contains NaN or inf values (first at index {tuple(int(b) for b in bad)}); "
            "impute or interpolate missing samples first (e.g. with their series' linear interpolation), "
            "or pass the series as a pair (t_i, u_i) with the missing times dropped"
        )


def _grid(t: Any, name: str, length: int | None = None) -> np.ndarray:
    try:
        grid = np.asarray(t, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a 1-D array of times, received {describe(t)}") from None
    if grid.ndim != 1:
        raise InputError(f"{name}: expected a 1-D array of times, received shape {grid.shape}")
    if length is not None and grid.size != length:
        raise InputError(
            f"{name}: the grid has {grid.size} times but the series have {length} samples; pass one time per sample"
        )
    if not np.all(np.isfinite(grid)):
        raise InputError(f"{name}: the time grid contains NaN or inf values; pass finite times")
    if grid.size > 1 and np.any(np.diff(grid) <= 0):
        i = int(np.argmax(np.diff(grid) <= 0))
        raise InputError(
            f"{name}: the grid must be strictly increasing, received t[{i}] = {grid[i]!r} >= t[{i + 1}] = "
            f"{grid[i + 1]!r}; sort the samples by time and drop repeated times"
        )
    return grid


def _is_pair(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 2


def _floats(x: Any, name: str, what: str) -> np.ndarray:
    """``x`` as a float array, or InputError naming ``name`` and what it holds (strings, complex, ragged)."""
    try:
        raw = np.asarray(x)
        if raw.dtype.kind == "c":
            raise InputError(f"{name}: received complex values; {what} must be real numbers")
        return raw.astype(float, copy=False)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        reason = "ragged (rows of different lengths)" if "inhomogeneous" in str(exc) else "not numbers"
        raise InputError(
            f"{name}: expected {what} as real numbers, received {describe(x)} ({reason}); convert the samples to "
            "floats first"
        ) from None


def _series_array(u: Any, name: str) -> np.ndarray:
    """One series as (L, m) floats (InputError for non-numbers)."""
    arr = _floats(u, name, "a series of samples")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(
            f"{name}: expected a series of shape (L,) or (L, m) with L >= 1 samples, received shape {arr.shape}"
        )
    return arr


def as_series(X: Any, t: Any = None, *, name: str = "X", array: np.ndarray | None = None) -> SeriesBatch:
    """Parse a collection of series (module docstring) into a :class:`SeriesBatch`.

    ``array`` : X already converted to a float array of ndim 2 or 3 (by scikit-learn's
    ``check_array``), used instead of converting X again.
    """
    if array is None and isinstance(X, (list, tuple)):
        for i, x in enumerate(X):
            if isinstance(x, tuple) and len(x) != 2 and len(x) > 0 and not np.isscalar(x[0]):
                raise InputError(
                    f"{name}[{i}]: a tuple of {len(x)} entries; a series with its own grid is a pair (t_i, u_i), "
                    "and a series itself is an array or a list"
                )
    if array is None and isinstance(X, (list, tuple)) and len(X) > 0 and any(_is_pair(x) for x in X):
        if not all(_is_pair(x) for x in X):
            i = next(i for i, x in enumerate(X) if not _is_pair(x))
            raise InputError(
                f"{name}: some entries are pairs (t_i, u_i) but entry {i} is {describe(X[i])}; "
                "pass every series as a pair, or none"
            )
        series = []
        for i, (ti, ui) in enumerate(X):
            u = _series_array(ui, f"{name}[{i}][1]")
            g = _grid(ti, f"{name}[{i}][0]", u.shape[0])
            _finite(u, name, i)
            series.append((g, u))
        m = {u.shape[1] for _, u in series}
        if len(m) > 1:
            raise InputError(f"{name}: the series have different numbers of channels {sorted(m)}; pass m channels each")
        return SeriesBatch(n_series=len(series), n_channels=m.pop(), series=series)
    if array is None and isinstance(X, (list, tuple)) and len(X) > 0 and not np.isscalar(X[0]):
        arrays = [_series_array(x, f"{name}[{i}]") for i, x in enumerate(X)]
        lengths = {a.shape[0] for a in arrays}
        if len(lengths) > 1:
            raise InputError(
                f"{name}: the series have different lengths {sorted(lengths)[:5]} and no time grids; pass each "
                "series as a pair (t_i, u_i) with its own time grid, or resample them to one length"
            )
        array = np.stack(arrays)
    if array is None:
        array = _floats(X, name, "an array of series")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise InputError(
            f"{name}: expected an array (n_series, n_times) or (n_series, n_times, n_channels), a list of "
            f"series, or a list of pairs (t_i, u_i); received an array of shape {array.shape}"
            + ("; Reshape your data: a single series u is X = u.reshape(1, -1)" if array.ndim == 1 else "")
        )
    _finite(array, name)
    L = array.shape[1]
    grid = np.arange(L, dtype=float) if t is None else _grid(t, "t", L)
    return SeriesBatch(n_series=array.shape[0], n_channels=array.shape[2], values=array, grid=grid)


def check_feature_size(
    degree: int, level: int, channels: int, rows: int, include_level0: bool = False, *, extra: str = ""
) -> int:
    """Number of response-feature coordinates; refuse (FeatureError) a too-large matrix before allocating.

    size = D + D^2 + ... + D^N (+1), D = (degree + 1) * channels, for ``rows`` series.
    """
    dim = (degree + 1) * channels
    size = sig_size(dim, level, include_level0)
    nbytes = 8 * size * max(rows, 1)
    if nbytes > 8 * limits.MAX_FEATURE_VALUES:
        raise FeatureError(
            f"degree={degree}, level={level}: the response feature of {channels} channel(s) has "
            f"D + ... + D^{level} = {size:,} coordinates (D = (degree + 1) * channels = {dim}), "
            f"{nbytes / 1e9:.3g} GB for {max(rows, 1)} series{extra}; the limit is "
            f"{8 * limits.MAX_FEATURE_VALUES / 1e9:.3g} GB "
            "(MAX_FEATURE_VALUES float64 values, vs.limits). "
            "Lower the level or the degree (the size grows like D^level), or transform in smaller batches"
        )
    return size
