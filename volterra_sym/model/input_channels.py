"""General input coupling as input-affine channels (MATH.md section 11).

A model whose drift or coupling uses the input symbols u1..um anywhere (e.g. inside an
activation, a(W h + b + C u)) reads

    dh = F(h, eps u) dt + sigma(h) dW,      F(h, v) = phi(h, v) + gamma(h, v) v,

with F analytic in v at v = 0.  Expanding in v = eps u,

    F(h, eps u) = F(h, 0) + sum_{j>=1} eps^j sum_{|alpha| = j} u^alpha gamma_alpha(h),
    gamma_alpha(h) = d^alpha_v F(h, 0) / alpha!,

(alpha a multi-index over the m inputs, u^alpha = prod_k u_k^alpha_k, alpha! = prod_k alpha_k!).
The model is therefore input-affine in the monomials of u: channel alpha carries the input
u^alpha and the power eps^|alpha|.  :func:`channel_model` returns that input-affine
:class:`~volterra_sym.model.diffusion.Diffusion` (drift F(h, 0), coupling column alpha =
gamma_alpha, every |alpha| <= degree), so every route computes its kernels unchanged; the
order-n term of E f(h_t) in eps collects the products of channels of total degree n
(MATH.md section 11; :mod:`volterra_sym.routes.input_channels` regroups them).

Channels are ordered by degree, then lexicographically from the first input (m = 2, degree 2:
u1, u2, u1^2, u1*u2, u2^2).  The m channels of degree 1 are always present, first (channel k
is u_{k+1}, as for an input-affine model); a channel of degree >= 2 whose gamma_alpha vanishes
identically is left out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..errors import ModelError, clip
from .diffusion import Diffusion


@dataclass(frozen=True)
class InputChannels:
    """The channels of a general input coupling: multi-indices alpha (one per channel) over m inputs."""

    m: int
    alphas: tuple[tuple[int, ...], ...]

    @property
    def count(self) -> int:
        """Number of channels M."""
        return len(self.alphas)

    @property
    def degrees(self) -> tuple[int, ...]:
        """|alpha| of each channel: the power of eps it carries."""
        return tuple(sum(a) for a in self.alphas)

    @property
    def names(self) -> tuple[str, ...]:
        """Printable monomials: ``u1``, ``u1^2``, ``u1*u2``."""
        out = []
        for alpha in self.alphas:
            parts = [f"u{k + 1}" + (f"^{a}" if a > 1 else "") for k, a in enumerate(alpha) if a]
            out.append("*".join(parts))
        return tuple(out)

    def values(self, U: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Channel inputs (scale u)^alpha: U of shape (..., m) -> (..., M)."""
        V = np.asarray(U, dtype=float) * scale
        cols = [np.prod([V[..., k] ** a for k, a in enumerate(alpha) if a], axis=0) for alpha in self.alphas]
        return np.stack(cols, axis=-1)

    def callable(self, u: Callable[[float], Any], scale: float = 1.0) -> Callable[[float], np.ndarray]:
        """t -> (scale u(t))^alpha for an input given as a callable u(t) -> (m,)."""

        def v(t: float) -> np.ndarray:
            return self.values(np.asarray(u(t), dtype=float).reshape(self.m), scale)

        return v


def total_drift(model: Diffusion) -> sp.Matrix:
    """F(h, u) = phi(h, u) + gamma(h, u) u: the whole drift at input u (n x 1)."""
    return model.drift + model.coupling * sp.Matrix(model.inputs)


def channel_model(model: Diffusion, degree: int) -> tuple[Diffusion, InputChannels]:
    """The input-affine model of channels up to ``degree`` and its :class:`InputChannels`.

    Drift F(h, 0); coupling column alpha = d^alpha_u F(h, 0) / alpha!.  Raises ModelError when a
    derivative at u = 0 is not finite (F not analytic in the input at 0).
    """
    u = model.inputs
    F = total_drift(model)
    zero = {s: sp.Integer(0) for s in u}
    derivs: dict[tuple[int, ...], sp.Matrix] = {(0,) * model.m: F}
    alphas: list[tuple[int, ...]] = []
    columns: list[sp.Matrix] = []
    for j in range(1, degree + 1):
        for alpha in _multi_indices(model.m, j):
            k = next(i for i, a in enumerate(alpha) if a)  # differentiate the parent in u_{k+1}
            parent = tuple(a - (i == k) for i, a in enumerate(alpha))
            derivs[alpha] = derivs[parent].diff(u[k])
            col = derivs[alpha].xreplace(zero) / math.prod(math.factorial(a) for a in alpha)
            _check_finite(col, alpha)
            if j == 1 or any(e != 0 for e in col):
                alphas.append(alpha)
                columns.append(col)
    base = F.xreplace(zero)
    _check_finite(base, (0,) * model.m)
    coupling = sp.Matrix.hstack(*columns)
    channels = InputChannels(model.m, tuple(alphas))
    meta = {**model.meta, "input_channels": channels.names}
    return model.replace(drift=base, coupling=coupling, meta=meta), channels


def _multi_indices(m: int, degree: int) -> list[tuple[int, ...]]:
    """Multi-indices of total ``degree`` over m inputs, lexicographically from the first input."""
    return [c for c in itertools.product(range(degree, -1, -1), repeat=m) if sum(c) == degree]


def _check_finite(col: sp.Matrix, alpha: tuple[int, ...]) -> None:
    for i, e in enumerate(col):
        if e.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            what = "F(h, 0)" if not any(alpha) else f"the derivative of order {list(alpha)} in the inputs at u = 0"
            raise ModelError(
                f"drift: component {i} is not analytic in the input at u = 0 ({what} is {clip(e)}); write the drift "
                "so that it is smooth in u1..um around u = 0 (shift the input, e.g. u1 -> u1 + 1, into a parameter)"
            )
