"""Tests of volterra_sym.features.signature (truncated signatures of piecewise-linear paths).

Which code each test trusts:
- test_matches_iisignature*: iisignature (optional locally, skipped when absent; required on CI).
- test_matches_iterated_integrals: a brute-force reference in this file that
  integrates the iterated integrals S^{w c}(r) = int_0^r S^w dX^c as exact
  polynomials segment by segment (numpy.polynomial); no Chen identity, no exp.
- test_chen_identity / test_shuffle_identity: the algebraic identities, with
  the tensor and shuffle products written out word by word in this file.
- test_reparametrisation / test_translation: geometric invariances only.
- test_chunked_paths_agree: the unchunked code path of the same module.
"""

from __future__ import annotations

import itertools
import math
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.polynomial import Polynomial

import volterra_sym as vs
import volterra_sym.features.signature as sigmod
from volterra_sym.errors import VolterraError
from volterra_sym.features.signature import FeatureError, sig_size, sig_words, signature

# --------------------------------------------------------------------------- references


def _iisignature():
    """The peer implementation; .ci/run installs it, so on CI its absence is a failure, not a skip."""
    try:
        import iisignature
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(
                "iisignature is not installed on CI: .ci/run should build it (pip install --no-build-isolation)"
            )
        pytest.skip("iisignature not installed (pip install --no-build-isolation iisignature)")
    return iisignature


def brute_force_signature(path: np.ndarray, level: int) -> dict[tuple[int, ...], float]:
    """Iterated integrals of a piecewise-linear path as exact polynomials on each segment.

    On segment i, X(theta) = x_i + theta * D_i (theta in [0, 1]); S^{w c} restricted
    to the segment is S^{w c}(start) + int_0^theta S^w(phi) D_i^c dphi.
    """
    d = path.shape[1]
    words = [w for n in range(1, level + 1) for w in itertools.product(range(d), repeat=n)]
    value = dict.fromkeys(words, 0.0)
    for i in range(path.shape[0] - 1):
        delta = path[i + 1] - path[i]
        poly = {(): Polynomial([1.0])}
        for w in words:  # words are ordered by length, so prefixes come first
            integrand = poly[w[:-1]] * delta[w[-1]]
            poly[w] = integrand.integ() + value[w]
        for w in words:
            value[w] = poly[w](1.0)
    return value


def tensor_product(a: np.ndarray, b: np.ndarray, words: list[tuple[int, ...]]) -> np.ndarray:
    """(A (x) B)^w = sum over splits w = uv of A^u B^v (A^() = B^() = 1), flat layout."""
    index = {w: i for i, w in enumerate(words)}

    def coord(x: np.ndarray, w: tuple[int, ...]) -> float:
        return 1.0 if not w else x[index[w]]

    return np.array([sum(coord(a, w[:k]) * coord(b, w[k:]) for k in range(len(w) + 1)) for w in words])


def shuffles(u: tuple[int, ...], v: tuple[int, ...]) -> list[tuple[int, ...]]:
    """All interleavings of u and v (with multiplicity)."""
    if not u:
        return [v]
    if not v:
        return [u]
    return [(u[0], *w) for w in shuffles(u[1:], v)] + [(v[0], *w) for w in shuffles(u, v[1:])]


def _random_path(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return np.cumsum(rng.standard_normal(shape) * 0.4, axis=-2)


# --------------------------------------------------------------------------- layout


def test_sig_words_layout():
    assert sig_words(2, 2) == [(0,), (1,), (0, 0), (0, 1), (1, 0), (1, 1)]
    assert sig_words(3, 3, include_level0=True)[0] == ()
    assert len(sig_words(3, 4)) == sig_size(3, 4) == 3 + 9 + 27 + 81


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(("length", "d", "level"), [(2, 2, 3), (4, 1, 3), (5, 3, 3), (3, 2, 2), (6, 2, 1)])
def test_matches_iterated_integrals(length, d, level):
    rng = np.random.default_rng(length * 100 + d * 10 + level)
    path = _random_path(rng, length, d)
    ref = brute_force_signature(path, level)
    got = signature(path, level)
    want = np.array([ref[w] for w in sig_words(d, level)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    stream = signature(path, level, stream=True)
    for j in range(length):
        ref_j = brute_force_signature(path[: j + 1], level)
        np.testing.assert_allclose(stream[j], [ref_j[w] for w in sig_words(d, level)], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("length", "d", "level"), [(2, 3, 4), (7, 2, 5), (50, 4, 4), (300, 3, 3), (33, 1, 6)])
def test_matches_iisignature(length, d, level):
    iisignature = _iisignature()
    rng = np.random.default_rng(7 * length + d + level)
    path = _random_path(rng, length, d)
    want = iisignature.sig(path, level)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(signature(path, level), want, rtol=0, atol=1e-12 * scale)
    stream = signature(path, level, stream=True)
    np.testing.assert_allclose(stream[1:], iisignature.sig(path, level, 2), rtol=0, atol=1e-12 * scale)
    np.testing.assert_array_equal(stream[0], 0.0)


def test_matches_iisignature_batch():
    iisignature = _iisignature()
    rng = np.random.default_rng(3)
    paths = _random_path(rng, 2, 3, 40, 3)
    want = iisignature.sig(paths, 4)
    got = signature(paths, 4)
    assert got.shape == (2, 3, sig_size(3, 4))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * max(1.0, float(np.abs(want).max())))
    assert signature(paths, 4, stream=True).shape == (2, 3, 40, sig_size(3, 4))


# --------------------------------------------------------------------------- identities

path_strategy = arrays(
    np.float64,
    st.tuples(st.integers(2, 6), st.integers(1, 3)),
    elements=st.floats(-2, 2, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=25, deadline=None)
@given(path_strategy, st.integers(2, 5), st.integers(1, 4))
def test_chen_identity(path, extra, level):
    rng = np.random.default_rng(int(abs(path).sum() * 1000) % 2**32)
    second = path[-1] + np.cumsum(rng.standard_normal((extra, path.shape[1])), axis=0)
    whole = np.concatenate([path, second])
    words = sig_words(path.shape[1], level)
    want = tensor_product(signature(path, level), signature(np.concatenate([path[-1:], second]), level), words)
    np.testing.assert_allclose(signature(whole, level), want, rtol=1e-10, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(path_strategy)
def test_shuffle_identity(path):
    level = 4
    d = path.shape[1]
    words = sig_words(d, level)
    index = {w: i for i, w in enumerate(words)}
    s = signature(path, level)
    scale = max(1.0, float(np.abs(s).max())) ** 2
    for u in sig_words(d, 2):
        for v in sig_words(d, 2):
            rhs = sum(s[index[w]] for w in shuffles(u, v))
            assert abs(s[index[u]] * s[index[v]] - rhs) <= 1e-12 * scale


def test_reparametrisation_and_translation():
    rng = np.random.default_rng(11)
    path = _random_path(rng, 6, 3)
    # insert midpoints: the same piecewise-linear path, differently sampled
    mids = (path[:-1] + path[1:]) / 2
    finer = np.empty((11, 3))
    finer[0::2] = path
    finer[1::2] = mids
    np.testing.assert_allclose(signature(finer, 4), signature(path, 4), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(signature(path + 5.0, 4), signature(path, 4), rtol=1e-12, atol=1e-12)


def test_single_segment_is_exponential():
    delta = np.array([0.3, -1.2])
    s = signature(np.stack([np.zeros(2), delta]), 3, include_level0=True)
    want = [1.0]
    for n in range(1, 4):
        want.extend(np.ravel(np.einsum(",".join("abcd"[:n]) + "->" + "abcd"[:n], *([delta] * n))) / math.factorial(n))
    np.testing.assert_allclose(s, want, rtol=1e-14)


def test_degenerate_paths():
    one_point = signature(np.ones((1, 3)), 3, include_level0=True)
    assert one_point[0] == 1.0 and np.all(one_point[1:] == 0.0)
    assert signature(np.ones((1, 2)), 2, stream=True).shape == (1, 6)


def test_chunked_paths_agree(monkeypatch):
    rng = np.random.default_rng(5)
    paths = _random_path(rng, 5, 120, 3)
    want = signature(paths, 4)
    want_stream = signature(paths, 3, stream=True)
    monkeypatch.setattr(sigmod, "_CHUNK_FLOATS", 700)  # forces batch blocks of 1 and short segment chunks
    np.testing.assert_allclose(signature(paths, 4), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(signature(paths, 3, stream=True), want_stream, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "level", "fragment"),
    [
        (np.zeros((3, 2)), 0, "level"),
        (np.zeros((3, 2)), 2.0, "level"),
        (np.zeros(3), 2, "shape (..., L, d)"),
        (np.array([[0.0, 1.0], [np.nan, 0.0]]), 2, "NaN"),
        (np.zeros((2, 40)), 6, "limit"),
    ],
)
def test_bad_input(path, level, fragment):
    cls = vs.ArgumentError if fragment == "level" else FeatureError  # settings vs. bad paths
    with pytest.raises(cls, match=re.escape(fragment)) as info:
        signature(path, level)
    assert isinstance(info.value, VolterraError)
