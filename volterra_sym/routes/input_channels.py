"""Responses of models with a general input coupling (MATH.md section 11).

A model whose drift uses the input anywhere is expanded into input-affine channels
(:mod:`volterra_sym.model.input_channels`: channel alpha carries u^alpha and eps^|alpha|), any
route derives the channel model's kernels, and :class:`InputChannelResponse` presents them:

- kernels ``K^(r)_{alpha_1..alpha_r}`` are the channel model's (indices k are channel indices,
  ``resp.channels.names`` lists them: u1, .., um first, then u1^2, u1*u2, ...); ``r`` is the number
  of channels (input times) of a kernel, not the power of eps;
- ``predict(u, t, eps, by_order=True)`` returns the terms of E f(h_t) by powers of eps: order n
  collects every product of r channels of total degree |alpha_1| + ... + |alpha_r| = n, n <= order.

Order n in eps from the channel predictions.  The channel model's order-r term T_r is an r-linear
form in the channel inputs v_alpha; with v_alpha = (eps z)^|alpha| u^alpha it is the polynomial
T_r(z) = sum_{n=r}^{r D} c_{r,n} z^n, where only channels with |alpha| <= D = N - r + 1 can enter
an order n <= N.  Its coefficients are recovered exactly (up to rounding) by fitting T_r at
K >= r (D - 1) + 1 Chebyshev nodes z in [-1, 1] (least squares on the monomials z^r..z^{rD}, never
z = 0), and eps^n E_n = sum_r c_{r,n}.  The cost is sum_r K_r channel predictions; the
rounding error grows with the condition number of the fit, largest over r (measured): 1.4, 14, 118,
4.0e3, 2.2e5, 1.7e7, 1.4e10 for orders N = 2..8 (about log10 of it in digits are lost).  The
routes derive every channel tuple, M^r of them, although only those of total degree <= N enter, so
``vs.limits.MAX_KERNELS`` (20000) keeps one input to N <= 5 (condition number <= 4.0e3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ..documents.derivation import Derivation, Equation, Step
from ..errors import VolterraError
from ..model.diffusion import Diffusion
from ..model.input_channels import InputChannels, total_drift
from ..numerics.codegen import Lowered
from ..response import Response, check_finite_prediction
from ..validate import check_eps, check_flag, check_grid, check_index_tuple, input_samples, refusal


class InputChannelResponse(Response):
    """Kernels of a general-input model: a route's Response of the channel model, regrouped by eps powers."""

    method: ClassVar[str] = "input_channels"

    def __init__(self, model: Diffusion, channels: InputChannels, inner: Response) -> None:
        super().__init__(model, inner.order)
        self.channels = channels
        self.channel_response = inner
        self.taus, self.s_sym, self.t_sym = inner.taus, inner.s_sym, inner.t_sym

    # ---- kernels (channel indices) ---------------------------------------------------
    def _k(self, n: int, k: Sequence[int] | int | None) -> tuple[int, ...]:
        return check_index_tuple(k, n, self.channels.count)

    def index_tuples(self, n: int) -> list[tuple[int, ...]]:
        """All channel-index tuples (alpha_1..alpha_n) of r = n channels, 0-based."""
        return self.channel_response.index_tuples(n)

    @property
    def zero_orders(self) -> dict[int, str]:
        return self.channel_response.zero_orders

    def kernel(self, n: int, k: Sequence[int] | int | None = None, component: int | None = None) -> Any:
        """K^(n)_{alpha_1..alpha_n} of the channel model (k: channel indices, see ``channels.names``)."""
        return self.channel_response.kernel(n, k, component)

    def _kernel_values(self, n: int, ks: tuple[int, ...], lags: np.ndarray, component: int) -> np.ndarray:
        return np.asarray(self.channel_response.kernel_values(n, ks, lags, component), dtype=float)

    @property
    def mean0(self) -> Any:
        return self.channel_response.mean0

    def error_estimate(self, n: int = 1, k: Sequence[int] | int | None = None, component: int = 0) -> float:
        """The route's stated max |error| of K^(n)_k (k: channel indices; n = 0: the mean), where the route
        states one per kernel (``method="small_noise"``); refused in one sentence otherwise."""
        inner = getattr(self.channel_response, "error_estimate", None)
        if inner is None:
            raise refusal(
                "error_estimate",
                f"method={self.channel_response.method!r} states no per-kernel error estimate",
                "see its summary() or predict(..., return_error=True) where the route offers it",
            )
        return float(inner(n, None if n == 0 else self._k(n, k), component))

    def kernel_taylor(self, n: int, k: Sequence[int] | int | None, p: Sequence[int], component: int = 0) -> Any:
        return self.channel_response.kernel_taylor(n, k, p, component)

    def lower(self, backend: str = "numpy", **options: Any) -> Lowered:
        """The channel model's kernels as callables (``kernel(n, k)`` with channel indices k)."""
        return self.channel_response.lower(backend, **options)

    def write_module(self, path: Any, max_lag: float = 100.0) -> str:
        return self.channel_response.write_module(path, max_lag)

    def feature_coefficients(self, degree: int, level: int, *, component: int = 0, **options: Any) -> np.ndarray:
        raise self._no_features("feature_coefficients")

    def predict_features(
        self, u: Any, t: Any, degree: int, level: int, *, component: int = 0, **options: Any
    ) -> np.ndarray:
        raise self._no_features("predict_features")

    def _no_features(self, what: str) -> VolterraError:
        return refusal(
            what,
            "the response features are multilinear in the input, but this model's input enters the drift "
            "nonlinearly",
            "use resp.channel_response with the channel inputs resp.channels.values(eps * u) (channel alpha carries "
            "u^alpha), whose levels are numbers of channels, not powers of eps",
        )

    # ---- prediction by powers of eps ---------------------------------------------------
    def predict(self, u: Any, t: Any, eps: float = 1.0, *, by_order: bool = False, **options: Any) -> Any:
        """E f(h_t) on ``t``; ``by_order``: the terms eps^n E_n, n = 0..order (module docstring).

        ``u``: samples (len(t), m) (each channel u^alpha is then sampled on ``t`` and read as the
        piecewise-linear interpolant of its samples, as the routes read inputs) or a callable u(t) -> (m,).
        Options go to the channel response's ``predict`` (e.g. ``return_error=True`` of Galerkin: the
        error of each fitted coefficient is bounded by |pinv| applied to the channel errors).
        """
        check_flag(by_order, "by_order")
        tt = check_grid(t)
        e = check_eps(eps, self.order)
        want_error = bool(options.get("return_error", False))
        U = None if callable(u) else input_samples(u, tt, self.model.m)
        if callable(u):
            input_samples(u, tt[:1], self.model.m)  # one call: a clear error for a bad callable, up front
        N = self.order
        cache: dict[tuple[float, int], tuple[np.ndarray, np.ndarray | None]] = {}

        def run(z: float, top: int) -> tuple[np.ndarray, np.ndarray | None]:
            key = (z, top)
            if key not in cache:
                w = np.array([(e * z) ** d if d <= top else 0.0 for d in self.channels.degrees])
                V: Any = (
                    (lambda s: self.channels.callable(u)(s) * w) if U is None else self.channels.values(U) * w
                )
                out = self.channel_response.predict(V, tt, 1.0, by_order=True, **options)
                cache[key] = (np.asarray(out[0]), np.asarray(out[1])) if want_error else (np.asarray(out), None)
            return cache[key]

        first, first_err = run(1.0, 1)
        parts = np.zeros_like(first)
        errs = np.zeros_like(first)
        parts[0] = first[0]
        if first_err is not None:
            errs[0] = first_err[0]
        for r in range(1, N + 1):
            top = N - r + 1
            nodes, pinv, _ = _fit(r, N)
            span = pinv.shape[0]
            vals = np.stack([run(float(z), top)[0][r] for z in nodes])
            coef = np.tensordot(pinv, vals, axes=1)
            if want_error:
                verr = np.stack([np.asarray(run(float(z), top)[1])[r] for z in nodes])
                cerr = np.tensordot(np.abs(pinv), verr, axes=1)
            for j in range(span):
                if r + j <= N:
                    parts[r + j] += coef[j]
                    if want_error:
                        errs[r + j] += cerr[j]
        check_finite_prediction(parts, tt)
        res = parts if by_order else parts.sum(axis=0)
        if not want_error:
            return res
        return res, (errs if by_order else errs.sum(axis=0))

    # ---- documents and listings ---------------------------------------------------------
    def _build_derivation(self) -> Derivation:
        inner = self.channel_response.derivation
        steps = list(inner.steps)
        steps.insert(1 if steps else 0, self._channel_step())
        return Derivation(title=inner.title, steps=steps, symbols=dict(inner.symbols))

    def _channel_step(self) -> Step:
        F = total_drift(self.model)
        cm = self.channel_response.model
        eqs = [Equation(sp.Symbol("F(h, u)"), F, note="the drift at input u (MATH.md section 11)")]
        for j, name in enumerate(self.channels.names):
            eqs.append(
                Equation(
                    sp.Symbol(f"gamma_[{name}](h)"),
                    cm.coupling[:, j],
                    note=f"channel u^alpha = {name}, eps^{self.channels.degrees[j]}",
                )
            )
        text = (
            "The input enters the drift nonlinearly. Expanding F(h, eps u) = F(h, 0) + sum_j eps^j sum_{|alpha|=j} "
            "u^alpha gamma_alpha(h), gamma_alpha = d^alpha_u F(h, 0) / alpha!, makes the model input-affine in the "
            "channels u^alpha (below, up to degree "
            f"{self.order}); the kernels are those of this channel model, and the order n in eps of E f(h_t) "
            "collects the products of channels of total degree n."
        )
        return Step("input_channels", "Input channels", text, eqs)

    def summary(self) -> str:
        chans = ", ".join(f"{name} (eps^{d})" for name, d in zip(self.channels.names, self.channels.degrees))
        return (
            f"general input coupling: channels {chans}; kernel indices are channel indices, order n in eps "
            f"collects channel products of total degree n\n" + self.channel_response.summary()
        )

    def to_json(self) -> dict[str, Any]:
        out = dict(self.channel_response.to_json())
        out["input_channels"] = [
            {"index": j, "monomial": name, "eps_power": d}
            for j, (name, d) in enumerate(zip(self.channels.names, self.channels.degrees))
        ]
        return out


def _fit(r: int, N: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Chebyshev nodes, the pseudo-inverse of the monomial matrix z^r..z^{r(N-r+1)} and its condition number."""
    span = r * (N - r) + 1  # powers r .. r (N - r + 1)
    count = span + (span % 2)  # an even number of Chebyshev nodes never contains 0
    nodes = np.cos(np.pi * (2 * np.arange(count) + 1) / (2 * count))
    A = nodes[:, None] ** (r + np.arange(span))[None, :]
    return nodes, np.linalg.pinv(A), float(np.linalg.cond(A))


def wrap(model: Diffusion, channels: InputChannels, inner: Response) -> InputChannelResponse:
    """The channel Response of ``inner``, reporting the inner route's method name."""
    attrs = {"method": inner.method, "closed_form": inner.closed_form}
    cls = type(f"InputChannel{type(inner).__name__}", (InputChannelResponse,), attrs)
    resp: InputChannelResponse = cls(model, channels, inner)
    return resp


__all__ = ["InputChannelResponse", "wrap"]
