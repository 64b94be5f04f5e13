"""Truncated signatures of piecewise-linear paths, in NumPy (MATH.md section 7).

For a path X: [0, T] -> R^d and a word w = (i_1, ..., i_n) of letters in
{0, ..., d-1}, the signature coordinate is the iterated integral

    S^w(X) = int_{0 < r_1 < ... < r_n < T} dX^{i_1}(r_1) ... dX^{i_n}(r_n).

Level n collects the d^n words of length n; the truncated signature up to level
N lives in the truncated tensor algebra T^N(R^d) with product

    (A (x) B)_n = sum_{k=0}^{n} A_k (x) B_{n-k}        (A_0 = B_0 = 1).

A linear segment with increment D has signature exp(D) = (1, D, D^2/2!, ...,
D^N/N!) and Chen's identity gives the signature of a concatenation as the
product of the pieces' signatures, so a piecewise-linear path through points
x_0, ..., x_{L-1} has signature exp(x_1 - x_0) (x) ... (x) exp(x_{L-1} - x_{L-2}).

Layout (the iisignature / pysiglib flat layout): levels 1..N concatenated
(level 0, the constant 1, only if asked), each level's words in C order, i.e.
word (i_1, ..., i_n) sits at offset sum_j i_j d^(n-j) within its level.

Internally a truncated tensor is a list ``levels`` with ``levels[n-1]`` of
shape (..., d**n).  Algorithms (see the function docstrings): running
signatures level by level with cumulative sums over the segments
(:func:`_scan_t`); whole-path signatures by a meet-in-the-middle split that
forms running signatures only up to level ceil(N/2) and turns the rest into
matrix products (:func:`_meet_in_the_middle`).  No Python loop runs over
points; batches and long paths are processed in blocks of bounded memory.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np

from .. import limits
from ..errors import ArgumentError, FeatureError, describe

__all__ = ["FeatureError", "sig_size", "sig_words", "signature"]

# The largest number of float64 values any public function here returns: limits.MAX_FEATURE_VALUES.

#: Working-memory budget (float64 values) of one block of the path algorithms.
_CHUNK_FLOATS = 1 << 20

Levels = list[np.ndarray]


# --------------------------------------------------------------------------- layout


def sig_size(d: int, level: int, include_level0: bool = False) -> int:
    """Number of signature coordinates d + d^2 + ... + d^N (+ 1 with level 0)."""
    return sum(d**n for n in range(1, level + 1)) + (1 if include_level0 else 0)


def sig_words(d: int, level: int, include_level0: bool = False) -> list[tuple[int, ...]]:
    """Word labels in the flat layout: tuples of letters 0..d-1, levels 1..N, C order.

    With ``include_level0`` the empty word ``()`` comes first.
    """
    check_feature_int("level", level, 1)
    check_feature_int("d", d, 1)
    words: list[tuple[int, ...]] = [()] if include_level0 else []
    for n in range(1, level + 1):
        words.extend(product(range(d), repeat=n))
    return words


# --------------------------------------------------------------------------- tensor algebra


def _outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tensor product of the last axes (flattened, C order), broadcasting the leading axes."""
    c = a[..., :, None] * b[..., None, :]
    return c.reshape(*c.shape[:-2], -1)


def _mul(a: Levels, b: Levels) -> Levels:
    """Chen product A (x) B of two truncated tensors (implicit 1 at level 0), broadcasting."""
    out = []
    for n in range(1, len(a) + 1):
        c = a[n - 1] + b[n - 1]
        for k in range(1, n):
            c = c + _outer(a[k - 1], b[n - k - 1])
        out.append(c)
    return out


def exp_mul(delta: np.ndarray, s: Levels) -> Levels:
    """exp(D) (x) S, Horner form: level n is S_n + D (S_{n-1} + D/2 (S_{n-2} + ... + D/n))."""
    out = []
    for n in range(1, len(s) + 1):
        acc = delta / n
        for k in range(n - 1, 0, -1):
            acc = _outer(delta / k, s[n - k - 1] + acc)
        out.append(acc + s[n - 1])
    return out


def _zeros(batch: tuple[int, ...], d: int, level: int) -> Levels:
    return [np.zeros((*batch, d**n)) for n in range(1, level + 1)]


# Path algorithms work in the "segment-last" layout: level n of a batch of running
# signatures is an array (B, d^n, M), so elementwise products run along long,
# contiguous segment axes and sums over segments are matrix products.


def _outer_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tensor product of axis 1 of (B, da, M) and (B, db, M): (B, da * db, M)."""
    return (a[:, :, None, :] * b[:, None, :, :]).reshape(a.shape[0], -1, a.shape[-1])


def _scan_t(inc: np.ndarray, level: int, carry: Levels | None = None) -> Levels:
    """Running signatures of the path with increments ``inc`` (B, d, M), started from ``carry``.

    Returns levels of shape (B, d^n, M + 1); column i is the signature of the
    first i segments (column 0 is ``carry``, or zero).  Works level by level,
    vectorised over the segments: with R_k(i) the running signature before
    segment i, Chen's identity for one more segment D_i reads

        S_n(i + 1) = S_n(i) + G_n(i) (x) D_i,
        G_n(i) = ((D_i/n + R_1(i)) (x) D_i/(n-1) + R_2(i)) (x) ... + R_{n-1}(i)   (Horner),

    so each level is one cumulative sum over the segments of quantities built
    from the lower levels.
    """
    batch, d, m = inc.shape
    running: Levels = []
    for n in range(1, level + 1):
        step = inc
        if n > 1:
            acc = inc / n
            for j in range(1, n):
                acc = _outer_t(acc + running[j - 1][:, :, :-1], inc / (n - j))
            step = acc
        buf = np.empty((batch, d**n, m + 1))
        buf[:, :, 0] = 0.0 if carry is None else carry[n - 1]
        np.cumsum(step, axis=-1, out=buf[:, :, 1:])
        if carry is not None:
            buf[:, :, 1:] += carry[n - 1][:, :, None]
        running.append(buf)
    return running


def _reverse_words_t(x: np.ndarray, d: int, n: int) -> np.ndarray:
    """Reverse the letters of level-n words, layout (B, d^n, M): rho(A (x) B) = rho(B) (x) rho(A)."""
    if n < 2:
        return x
    batch, _, m = x.shape
    axes = [0, *range(n, 0, -1), n + 1]
    return x.reshape(batch, *([d] * n), m).transpose(axes).reshape(batch, d**n, m)


def _meet_in_the_middle(inc: np.ndarray, level: int) -> Levels:
    """Signature levels (B, d^n) of the path with increments ``inc`` (B, d, M).

    Classify the n letters of a word by the segment i holding letter a + 1
    (a = ceil(n/2) - 1): p <= a letters fall before segment i, m >= a + 1 - p in
    it, s = n - p - m after it.  With R_p(i) the signature of the segments
    before i and U_s(i) that of the segments after i,

        S_n = sum_{m2=0}^{r} sum_i Left_{m2}(i) (x) Right_{m2}(i),      r = n - a - 1,
        Left_{m2}(i)  = sum_{p=0}^{a} R_p(i) (x) D_i^(a+1-p) / (a+1-p+m2)!,
        Right_{m2}(i) = D_i^(m2) (x) U_{r-m2}(i),

    and every sum over i is one matrix product (B, d^(a+1), M) @ (B, M, d^r).
    Running signatures are formed only up to level ceil(N/2).
    """
    batch, d, m = inc.shape
    top_prefix = (level + 1) // 2 - 1
    top_suffix = level // 2
    ones = np.ones((batch, 1, m))
    prefix = [ones] + [x[:, :, :-1] for x in _scan_t(inc, top_prefix)]
    backward = _scan_t(inc[:, :, ::-1], top_suffix)  # word-reversed signatures of the last k segments
    suffix = [ones] + [_reverse_words_t(x[:, :, m - 1 :: -1], d, s) for s, x in enumerate(backward, start=1)]
    powers = [ones, inc]
    for _ in range(2, top_suffix + 1):
        powers.append(_outer_t(powers[-1], inc))
    out = []
    for n in range(1, level + 1):
        a = (n + 1) // 2 - 1
        r = n - a - 1
        total = np.zeros((batch, d ** (a + 1), d**r))
        for m2 in range(r + 1):
            left = inc / math.factorial(a + 1 + m2)
            for p in range(1, a + 1):
                left = _outer_t(left + prefix[p] / math.factorial(a + 1 - p + m2), inc)
            if m2 == 0:
                right = suffix[r]
            elif m2 == r:
                right = powers[r]
            else:
                right = _outer_t(powers[m2], suffix[r - m2])
            total += np.matmul(left, right.transpose(0, 2, 1))
        out.append(total.reshape(batch, -1))
    return out


def _blocks(batch: int, m: int, per_point: int) -> tuple[int, int]:
    """Batch block and segment chunk sizes that keep the working set near the budget."""
    per_path = m * per_point
    if per_path <= _CHUNK_FLOATS:
        return max(1, min(batch, _CHUNK_FLOATS // per_path)), m
    return 1, max(1, _CHUNK_FLOATS // per_point)


def signature_levels(increments: np.ndarray, level: int) -> Levels:
    """Signature of each path from its increments (B, M, d); levels of shape (B, d^n).

    Batches and long paths are cut into blocks that fit the working-memory
    budget; the pieces of one path are joined by Chen products.
    """
    batch, m, d = increments.shape
    if m == 0:
        return _zeros((batch,), d, level)
    half = (level + 1) // 2
    block, chunk = _blocks(batch, m, 3 * (level // 2 + 1) * d**half + sig_size(d, half))
    parts = []
    for b0 in range(0, batch, block):
        acc: Levels | None = None
        for s0 in range(0, m, chunk):
            inc_t = np.ascontiguousarray(increments[b0 : b0 + block, s0 : s0 + chunk].transpose(0, 2, 1))
            part = _meet_in_the_middle(inc_t, level)
            acc = part if acc is None else _mul(acc, part)
        assert acc is not None
        parts.append(acc)
    return [np.concatenate([p[n] for p in parts], axis=0) for n in range(level)]


def _signature_stream(increments: np.ndarray, level: int, out: Levels) -> None:
    """Running signatures written into ``out`` (levels (B, M + 1, d^n)); row 0 is the empty path."""
    batch, m, d = increments.shape
    for x in out:
        x[:, 0] = 0.0
    if m == 0:
        return
    block, chunk = _blocks(batch, m, 3 * sig_size(d, level))
    for b0 in range(0, batch, block):
        carry: Levels | None = None
        for s0 in range(0, m, chunk):
            inc_t = np.ascontiguousarray(increments[b0 : b0 + block, s0 : s0 + chunk].transpose(0, 2, 1))
            running = _scan_t(inc_t, level, carry)
            rows = slice(s0 + 1, s0 + inc_t.shape[-1] + 1)
            for x, r in zip(out, running):
                x[b0 : b0 + block, rows] = r[:, :, 1:].transpose(0, 2, 1)
            carry = [r[:, :, -1] for r in running]


def _level_views(flat: np.ndarray, d: int, level: int, include_level0: bool) -> Levels:
    """Views of the per-level blocks of a flat signature array (last axis); sets level 0 to 1."""
    offset = 0
    if include_level0:
        flat[..., 0] = 1.0
        offset = 1
    views = []
    for n in range(1, level + 1):
        views.append(flat[..., offset : offset + d**n])
        offset += d**n
    return views


def flatten_levels(levels: Levels, include_level0: bool) -> np.ndarray:
    parts = list(levels)
    if include_level0:
        parts.insert(0, np.ones((*levels[0].shape[:-1], 1)))
    return np.concatenate(parts, axis=-1)


# --------------------------------------------------------------------------- public


def signature(path: np.ndarray, level: int, *, include_level0: bool = False, stream: bool = False) -> np.ndarray:
    """Truncated signature of the piecewise-linear path through the given points.

    Parameters
    ----------
    path : array (..., L, d)
        Points x_0, ..., x_{L-1} of the path (any leading batch shape, L >= 1).
    level : int
        Truncation level N >= 1.
    include_level0 : bool
        Prepend the level-0 coordinate 1.
    stream : bool
        Return the signature of every prefix x_0..x_j, j = 0..L-1 (row 0 is the
        empty path: zeros, or 1 at level 0).

    Returns
    -------
    array (..., d + d^2 + ... + d^N) or, with ``stream``, (..., L, d + ... + d^N);
    one more column with ``include_level0``.  Layout: see the module docstring
    and :func:`sig_words`.
    """
    check_feature_int("level", level, 1)
    if np.iscomplexobj(path):
        raise FeatureError("path: received a complex path; signatures here are of real paths")
    x = np.asarray(path, dtype=float)
    if x.ndim < 2 or x.shape[-2] < 1 or x.shape[-1] < 1:
        raise FeatureError(
            f"signature(path): expected an array of shape (..., L, d) with L >= 1 points and d >= 1 channels, "
            f"received shape {x.shape}; pass one point per row"
        )
    if not np.all(np.isfinite(x)):
        raise FeatureError("signature(path): the path contains NaN or infinite values; clean or interpolate the input")
    *lead, length, d = x.shape
    batch = math.prod(lead)
    size = sig_size(d, level, include_level0)
    check_feature_memory("signature", batch * size * (length if stream else 1), f"batch {batch}, level {level}, d {d}")
    inc = np.diff(x.reshape(batch, length, d), axis=-2)
    if stream:
        result = np.empty((batch, length, size))
        _signature_stream(inc, level, _level_views(result, d, level, include_level0))
        return result.reshape(*lead, length, size)
    return flatten_levels(signature_levels(inc, level), include_level0).reshape(*lead, size)


# --------------------------------------------------------------------------- checks


#: the vs.limits bound of each integer setting of the features, and the advice when it is exceeded
FEATURE_LIMITS = {
    "degree": ("MAX_FEATURE_DEGREE", "use a lower degree (every step holds a (P+1) x (P+1) shift matrix)"),
    "level": ("MAX_FEATURE_LEVEL", "use a lower level (the feature grows like D^level)"),
    "refine": ("MAX_FEATURE_REFINE", "use a smaller refine (or a finer input grid)"),
    "dps": ("MAX_DPS", "use fewer digits"),
}


def check_feature_int(name: str, value: object, minimum: int, cls: type[Exception] = ArgumentError) -> None:
    """An integer setting >= ``minimum``, and (degree, level, refine, dps) within its vs.limits bound, up front."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise cls(f"{name}: expected an integer >= {minimum}, received {describe(value)}")
    if name in FEATURE_LIMITS:
        limit, remedy = FEATURE_LIMITS[name]
        limits.check_limit(int(value), name, limit, remedy, cls)


def check_feature_memory(where: str, floats: int, what: str) -> None:
    if floats > limits.MAX_FEATURE_VALUES:
        raise FeatureError(
            f"{where}: the result would hold {floats:.3g} float64 values ({floats * 8 / 1e9:.3g} GB) for {what}; "
            f"the limit is MAX_FEATURE_VALUES = {limits.MAX_FEATURE_VALUES:.0e}. Lower the level or degree, or split "
            "the batch / time grid, or raise the limit with vs.limits.configure(max_feature_values=...)"
        )
