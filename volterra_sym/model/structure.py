"""Networks as matrices: the numeric structure of SRNN-like models (issue 20, part 0; minimal version).

    phi(h) = -Gamma h + a(W h + b),   gamma(h) = C (constant),   sigma(h) = sigma (constant, n x r).

With z = W h + b: D phi(h) = -Gamma + diag(a'(z)) W and D^k phi(h)[v_1..v_k] = a^(k)(z) * prod (W v_i)
(k >= 2): the curvature tensors are diagonal in the pre-activation coordinates (MATH.md section 10).
This minimal version reads the arrays an :func:`~volterra_sym.model.diffusion.SRNN` keeps in its ``meta``;
the full detection for any Diffusion is part 0 of issue 20.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

__all__ = ["ACTIVATIONS", "NetworkStructure", "network_structure"]

ACTIVATIONS = ("identity", "tanh", "sigmoid")


@dataclass(frozen=True, eq=False)
class NetworkStructure:
    """phi(h) = -Gamma h + a(W h + b) (+ C u inside a(.) when input == "inside"), gamma(h) = C constant
    when input == "outside", sigma constant n x r.  All arrays float64.

    Shapes: Gamma, W (n, n); b (n,); C (n, m); sigma (n, r).
    """

    Gamma: np.ndarray
    W: np.ndarray
    b: np.ndarray
    C: np.ndarray
    sigma: np.ndarray
    activation: str
    input: str = "outside"

    def a(self, z: np.ndarray, d: int = 0) -> np.ndarray:
        """The d-th derivative of the activation at z (d = 0..4), element-wise."""
        z = np.asarray(z, dtype=float)
        if self.activation == "identity":
            return z.copy() if d == 0 else np.full_like(z, 1.0 if d == 1 else 0.0)
        if self.activation == "tanh":
            t = np.tanh(z)
            s = 1.0 - t * t
            return [t, s, -2.0 * t * s, (6.0 * t * t - 2.0) * s, (16.0 * t - 24.0 * t**3) * s][d]
        y = 0.5 * (1.0 + np.tanh(0.5 * z))
        s = y * (1.0 - y)
        return [y, s, s * (1 - 2 * y), s * (1 - 6 * y + 6 * y * y), s * (1 - 2 * y) * (1 - 12 * y + 12 * y * y)][d]

    def drift(self, H: np.ndarray) -> np.ndarray:
        """phi(H) for H (..., n) -> (..., n)."""
        H = np.asarray(H, dtype=float)
        return -(H @ self.Gamma.T) + self.a(H @ self.W.T + self.b)

    def jacobian(self, h: np.ndarray) -> np.ndarray:
        """D phi(h) = -Gamma + diag(a'(W h + b)) W, h (n,) -> (n, n)."""
        z = self.W @ np.asarray(h, dtype=float) + self.b
        return -self.Gamma + self.a(z, 1)[:, None] * self.W


def _array(M: Any) -> np.ndarray | None:
    M = sp.Matrix(M)
    if M.free_symbols:
        return None
    return np.array(M.evalf(), dtype=float)


def network_structure(model: Any) -> NetworkStructure | None:
    """The structure of an SRNN built by :func:`~volterra_sym.model.diffusion.SRNN` with numeric arrays and
    a named activation; None otherwise (module docstring)."""
    meta = getattr(model, "meta", {})
    if meta.get("kind") != "SRNN" or meta.get("activation") not in ACTIVATIONS:
        return None
    arrays = [_array(x) for x in (meta["Gamma"], meta["W"], meta["b"], model.coupling, model.diffusion)]
    if any(a is None for a in arrays):
        return None
    G, W, b, C, sigma = arrays
    assert G is not None and W is not None and b is not None and C is not None and sigma is not None
    return NetworkStructure(G, W, b.reshape(-1), C, sigma, str(meta["activation"]))
