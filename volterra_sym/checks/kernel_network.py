"""The tangent ensemble of a network model by matrix products, with a control variate (issue 20, part 2).

For phi(h) = -Gamma h + a(W h + b), constant coupling C and constant noise sigma, one Euler step of
the state h (n, P), the tangents w (T, n, P) and the second variations k (Q, n, P) is (z = W h + b)

    w' = w + dt (-Gamma w + a'(z) * (W w))
    k' = k + dt (-Gamma k + a'(z) * (W k) + a''(z) * (W w1) * (W w2))
    h' = h + dt (-Gamma h + a(z)) + sigma dW,

the exact derivatives of the Euler map (the generic ensemble of kernel_estimates.py with the
Jacobian and curvature applied as matrix products: O(n^2) per vector, no n^2 expressions).

Control variate (order 1).  Along the same Brownian increments a linearised chain x around the rest
point h* (J = D phi(h*), a2 = a''(W h* + b)) carries the first-order expansion of the tangent flow in
the fluctuation:

    x'  = x + dt J x + sigma dW,                    x_0 = h_0 - h*
    v0' = v0 + dt J v0,                             v0 = C_k at the tangent's start (deterministic)
    v1' = v1 + dt (J v1 + a2 * (W x) * (W v0)),     v1 = 0 at the start
    Y   = grad f(h*) . v1 + Hess f(h*)[x, v0]

Y is the part of the tangent sample X = grad f(h_t) . w_t linear in the fluctuation, so X - Y has a
variance of higher order in the noise.  Y is linear in the Gaussian chain x, so its exact mean (for the
discrete chain, at every step) is Y evaluated along the mean path E x_k = (I + dt J)^k E x_0: the same
recursion with dW = 0 (:func:`control_mean`).  X - Y + E Y is then unbiased whatever the correlation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..model.structure import NetworkStructure
from .simulate import noise_product, per_block

__all__ = ["ControlVariate", "NetEnsemble"]


def _mat(M: np.ndarray, X: np.ndarray) -> np.ndarray:
    """M @ X over the state axis of X (..., n, P), per 64-path block (chunk-independent numbers)."""
    return per_block(lambda Y: np.matmul(M, Y), X)


class ControlVariate:
    """What the control variate needs: h*, J = D phi(h*), a''(W h* + b), and the readout table at h*
    (``f``: ("f1", c, i) gradient and ("f2", c, i, j) Hessian entries of f at h*)."""

    def __init__(self, net: NetworkStructure, hstar: np.ndarray, f: dict):
        self.hstar = hstar
        self.J = net.jacobian(hstar)
        self.a2 = net.a(net.pre(hstar), 2)
        self.f = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in f.items()}


class NetEnsemble:
    """States h (n, P), tangents W (T, n, P), second variations K (Q2, n, P) of one chain of a network model,
    with the linearised chain of the control variate when ``cv`` is given.  Interface of kernel_estimates._Ensemble.
    """

    def __init__(self, d: Any, sc: Any, H0: np.ndarray, dt: float, cv: ControlVariate | None = None):
        n, P = H0.shape
        self.d, self.sc, self.dt, self.net = d, sc, dt, d.net
        G = self.net.Gamma
        self.gdiag = np.diag(G).copy() if np.array_equal(G, np.diag(np.diag(G))) else None
        self.h = H0.copy()
        self.W = np.zeros((sc.t_start.size, n, P))
        self.K = np.zeros((sc.q_start.size, n, P))
        self.aW = self.aK = self.loW = self.loK = 0
        self.cv = cv
        if cv is not None:
            self.x = H0 - cv.hstar[:, None]
            self.V0 = np.zeros((sc.t_start.size, n, 1))
            self.V1 = np.zeros((sc.t_start.size, n, P))

    def _gamma(self, X: np.ndarray) -> np.ndarray:
        return self.gdiag[:, None] * X if self.gdiag is not None else _mat(self.net.Gamma, X)

    def _noise(self, dW: np.ndarray) -> np.ndarray:
        return noise_product(self.net.sigma[None], dW[None])[0]

    def burn(self, dW: np.ndarray) -> None:
        """One unperturbed Euler step of the state (and of the linearised chain)."""
        net, h, dt = self.net, self.h, self.dt
        noise = self._noise(dW)
        if self.cv is not None:
            self.x += dt * _mat(self.cv.J, self.x) + noise
        z = _mat(net.W, h) + net.b[:, None]
        h += dt * (net.a(z) - self._gamma(h)) + noise

    def step(self, dW: np.ndarray) -> None:
        net, h, dt, sc = self.net, self.h, self.dt, self.sc
        z = _mat(net.W, h) + net.b[:, None]
        a1 = net.a(z, 1)
        lo, hi = self.loW, self.aW
        WW = _mat(net.W, self.W[lo:hi]) if hi > lo else None
        if self.aK > self.loK:
            assert WW is not None
            K = self.K[self.loK : self.aK]
            A = WW[sc.q_w1[self.loK : self.aK] - lo]
            B = WW[sc.q_w2[self.loK : self.aK] - lo]
            K += dt * (a1 * _mat(net.W, K) - self._gamma(K) + net.a(z, 2) * A * B)
        if WW is not None:
            Wt = self.W[lo:hi]
            Wt += dt * (a1 * WW - self._gamma(Wt))
        noise = self._noise(dW)
        cv = self.cv
        if cv is not None:
            if hi > lo:
                V0, V1 = self.V0[lo:hi], self.V1[lo:hi]
                curv = cv.a2[:, None] * _mat(net.W, self.x) * np.matmul(net.W, V0)
                V1 += dt * (_mat(cv.J, V1) + curv)
                V0 += dt * np.matmul(cv.J, V0)
            self.x += dt * _mat(cv.J, self.x) + noise
        h += dt * (net.a(z) - self._gamma(h)) + noise

    def events(self, j: int, V: np.ndarray, Y: np.ndarray | None = None) -> None:
        """At step j: start tangents (w = C_k, k = 0: the coupling is constant), record into V (entries, p, P)
        and the control variate into Y, then retire what is no longer needed."""
        d, sc = self.d, self.sc
        b = int(np.searchsorted(sc.t_start, j, side="right"))
        bK = int(np.searchsorted(sc.q_start, j, side="right"))
        for t in range(self.aW, b):
            self.W[t] = self.net.C[:, sc.t_input[t], None]
            if self.cv is not None:
                self.V0[t] = self.net.C[:, sc.t_input[t], None]
                self.V1[t] = 0.0
        self.aW, self.aK = max(self.aW, b), max(self.aK, bK)
        r1, r2 = sc.rec1.get(j), sc.rec2.get(j)
        if r1 is not None or r2 is not None:
            f = d.record(self.h)
            if r1 is not None:
                e, t = r1
                V[e] = _contract(f, d.p, self.W[t], None)
                if Y is not None and self.cv is not None:
                    Y[e] = _contract(self.cv.f, d.p, self.V1[t], None) + _contract(
                        self.cv.f, d.p, None, (self.x[None], self.V0[t]), gradient=False
                    )
            if r2 is not None:
                e, t1, t2, q = r2
                V[e] = _contract(f, d.p, self.K[q], (self.W[t1], self.W[t2]))
        while self.loW < self.aW and sc.t_end[self.loW] <= j:
            self.loW += 1
        while self.loK < self.aK and sc.q_end[self.loK] <= j:
            self.loK += 1


def _contract(
    f: dict, p: int, vec: np.ndarray | None, pair: tuple[np.ndarray, np.ndarray] | None, gradient: bool = True
) -> np.ndarray:
    """sum_i f1[c, i] vec[:, i] + sum_ij f2[c, i, j] A[:, i] B[:, j] -> (R, p, P), from the readout table f
    (sparse: only the entries that are not identically zero).  vec, A, B have shape (R, n, P) (or broadcast)."""
    shapes = [x.shape for x in ([vec] if vec is not None else []) + (list(pair) if pair is not None else [])]
    R = max(s[0] for s in shapes)
    P = max(s[-1] for s in shapes)
    out = np.zeros((R, p, P))
    for key, v in f.items():
        if key[0] == "f1" and gradient and vec is not None:
            out[:, key[1]] += v * vec[:, key[2]]
        elif key[0] == "f2" and pair is not None:
            A, B = pair
            out[:, key[1]] += v * (A[:, key[2]] * B[:, key[3]])
    return out
