"""Quadratures and orthonormal polynomial bases of the Galerkin route (MATH.md section 9).

A basis is a set of polynomials psi_1..psi_N of total degree <= p in whitened coordinates
z = L^-1 (x - mean) (L L^T = cov of the weight), orthonormal for a *discrete* reference measure
(nodes z_q, weights w_q, sum w_q = 1): every Galerkin inner product <a, b> = sum_q w_q a(z_q) b(z_q)
is then an exact finite sum, and the derivative operators d/dz_a are exact N x N matrices on the
coefficients (polynomials are closed under differentiation).

Two bases:

* :class:`HermiteBasis` -- weight N(mean, cov): products of normalised probabilists' Hermite
  polynomials h_k(z) = He_k(z)/sqrt(k!), tensor Gauss-Hermite nodes pruned where
  w_q * max_alpha psi_alpha(z_q)^2 < 1e-18 (their contribution to any Gram entry is below that).
* :class:`DensityBasis1D` -- 1-D weight given by nodes and probabilities (the stationary density
  on a composite Gauss-Legendre rule): orthonormal polynomials by Arnoldi (Vandermonde with
  Arnoldi, full re-orthogonalisation), replayed at any other point by the same recurrence.

The reference weights are chosen from the model in :mod:`.weights` (:func:`~.weights.choose_weight`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from ...validate import refusal
from .weights import Weight

# --------------------------------------------------------------------------- bases


def multi_indices(n: int, degree: int) -> np.ndarray:
    """All alpha in N^n with |alpha| <= degree, graded (constant first): shape (N, n)."""
    out = []
    for d in range(degree + 1):
        for c in itertools.combinations_with_replacement(range(n), d):
            a = [0] * n
            for i in c:
                a[i] += 1
            out.append(a)
    return np.array(out, dtype=int).reshape(-1, n)


def basis_size(n: int, degree: int) -> int:
    """N = C(n + p, n)."""
    return math.comb(n + degree, n)


class Basis:
    """Orthonormal polynomial basis in whitened coordinates z = L^-1 (x - mean).

    alphas : (N, n) multi-indices (graded; psi_0 = 1).  deriv : list of n arrays (N, N),
    coefficients of d/dz_a g are ``deriv[a] @ c``.  ``values(z)`` -> (Q, N).
    ``quadrature(chunk)`` yields (z (q, n), w (q,)) blocks of the reference measure.
    """

    n: int
    degree: int
    alphas: np.ndarray
    deriv: list[np.ndarray]
    mean: np.ndarray
    L: np.ndarray
    Linv: np.ndarray
    n_nodes: int

    @property
    def N(self) -> int:
        return self.alphas.shape[0]

    def to_z(self, X: np.ndarray) -> np.ndarray:
        """Whitened coordinates of points X (Q, n)."""
        return (np.asarray(X, dtype=float) - self.mean) @ self.Linv.T

    def to_x(self, Z: np.ndarray) -> np.ndarray:
        return self.mean + Z @ self.L.T

    def values(self, Z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def quadrature(self, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError


def _whitening(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    L = np.linalg.cholesky(cov)
    return L, np.linalg.inv(L)


class HermiteBasis(Basis):
    """psi_alpha(z) = prod_i h_{alpha_i}(z_i), h_k = He_k / sqrt(k!), orthonormal for N(mean, cov).

    Quadrature: tensor Gauss-Hermite with ``points`` nodes per axis (exact for polynomial integrands of
    degree <= 2 points - 1 in each variable), pruned as described in the module docstring.
    """

    def __init__(self, weight: Weight, degree: int, points: int):
        self.n = weight.mean.size
        self.degree = degree
        self.alphas = multi_indices(self.n, degree)
        self.mean = weight.mean
        self.L, self.Linv = _whitening(weight.cov)
        index = {tuple(a): i for i, a in enumerate(self.alphas)}
        N = self.alphas.shape[0]
        self.deriv = []
        for a in range(self.n):
            Da = np.zeros((N, N))
            for j, al in enumerate(self.alphas):
                if al[a] > 0:
                    lower = al.copy()
                    lower[a] -= 1
                    Da[index[tuple(lower)], j] = math.sqrt(al[a])
            self.deriv.append(Da)
        z, w = np.polynomial.hermite_e.hermegauss(points)
        w = w / w.sum()
        bound = (self.univariate(z) ** 2).max(axis=1)  # max_k h_k(z)^2 per node
        logs = np.log(w) + np.log(bound)
        grids = np.meshgrid(*([np.arange(points)] * self.n), indexing="ij")
        idx = np.stack([g.reshape(-1) for g in grids], axis=1)
        keep = logs[idx].sum(axis=1) >= math.log(1e-18)
        self._idx = idx[keep]
        self._z1, self._w1 = z, w
        self.n_nodes = int(self._idx.shape[0])
        self.points = points

    def univariate(self, z: np.ndarray) -> np.ndarray:
        """h_k(z) for k = 0..degree: shape z.shape + (degree + 1,)."""
        z = np.asarray(z, dtype=float)
        H = np.empty(z.shape + (self.degree + 1,))
        H[..., 0] = 1.0
        if self.degree >= 1:
            H[..., 1] = z
        for k in range(1, self.degree):
            H[..., k + 1] = (z * H[..., k] - math.sqrt(k) * H[..., k - 1]) / math.sqrt(k + 1)
        return H

    def values(self, Z: np.ndarray) -> np.ndarray:
        Z = np.asarray(Z, dtype=float).reshape(-1, self.n)
        out = np.ones((Z.shape[0], self.N))
        for a in range(self.n):
            out *= self.univariate(Z[:, a])[:, self.alphas[:, a]]
        return out

    def quadrature(self, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for s in range(0, self.n_nodes, chunk):
            idx = self._idx[s : s + chunk]
            yield self._z1[idx], np.prod(self._w1[idx], axis=1)


class DensityBasis1D(Basis):
    """Orthonormal polynomials for a discrete 1-D measure (Vandermonde with Arnoldi).

    p_0 = 1, p_{k+1} = (z p_k - sum_{j<=k} H_jk p_j) / H_{k+1,k}; the same recurrence evaluates the
    basis (and its derivative) at any point.
    """

    def __init__(self, weight: Weight, degree: int):
        if weight.nodes is None or weight.probs is None:
            raise refusal("weight", "a 'density-1d' weight needs nodes and probabilities")
        self.n = 1
        self.degree = degree
        self.alphas = np.arange(degree + 1).reshape(-1, 1)
        self.mean = weight.mean
        self.L, self.Linv = _whitening(weight.cov)
        z = (weight.nodes - self.mean[0]) * self.Linv[0, 0]
        q = weight.probs
        if np.count_nonzero(q > 1e-300) <= degree + 1:
            raise refusal("degree", f"{degree} needs more quadrature nodes than the weight has ({q.size})")
        N = degree + 1
        V = np.zeros((z.size, N))
        H = np.zeros((N, N))
        V[:, 0] = 1.0
        for k in range(degree):
            v = z * V[:, k]
            for _ in range(2):
                c = V[:, : k + 1].T @ (q * v)
                v = v - V[:, : k + 1] @ c
                H[: k + 1, k] += c
            H[k + 1, k] = math.sqrt(float(q @ v**2))
            V[:, k + 1] = v / H[k + 1, k]
        self._H = H
        self._z, self._q = z, q
        self.n_nodes = z.size
        Psi, dPsi = self._eval(z)
        self.deriv = [Psi.T @ (q[:, None] * dPsi)]

    def _eval(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.asarray(z, dtype=float).reshape(-1)
        N, H = self.degree + 1, self._H
        P = np.zeros((z.size, N))
        dP = np.zeros((z.size, N))
        P[:, 0] = 1.0
        for k in range(N - 1):
            P[:, k + 1] = (z * P[:, k] - P[:, : k + 1] @ H[: k + 1, k]) / H[k + 1, k]
            dP[:, k + 1] = (P[:, k] + z * dP[:, k] - dP[:, : k + 1] @ H[: k + 1, k]) / H[k + 1, k]
        return P, dP

    def values(self, Z: np.ndarray) -> np.ndarray:
        return self._eval(np.asarray(Z, dtype=float).reshape(-1))[0]

    def quadrature(self, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for s in range(0, self.n_nodes, chunk):
            yield self._z[s : s + chunk, None], self._q[s : s + chunk]


def make_basis(weight: Weight, degree: int, points: int) -> Basis:
    """The orthonormal basis of total degree <= ``degree`` for ``weight`` (``points`` Gauss-Hermite nodes per axis)."""
    if weight.kind == "density-1d":
        return DensityBasis1D(weight, degree)
    return HermiteBasis(weight, degree, points)


def hermite_rule(n: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss-Hermite rule for N(0, I_n): nodes (points^n, n), weights summing to 1."""
    z, w = np.polynomial.hermite_e.hermegauss(points)
    w = w / w.sum()
    grids = np.meshgrid(*([np.arange(points)] * n), indexing="ij")
    idx = np.stack([g.reshape(-1) for g in grids], axis=1)
    return z[idx], np.prod(w[idx], axis=1)
