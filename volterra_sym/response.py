"""The result of a derivation: kernels, the zeroth-order term, and the derivation record.

Conventions (MATH.md section 4): the triangular kernel K^(n)_{k_1..k_n} is a
function of the lags tau_1 = t - s_1 (most recent input), tau_j = s_{j-1} - s_j,
and, for non-stationary starts, of s_n (time from the start to the oldest
input).  Input indices k are 0-based here (channel ``u[:, k]``); documents
print them 1-based as in MATH.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from .errors import VolterraError
from .expopoly import ExpPoly
from .kernels import all_index_tuples, normalise_k
from .model import Diffusion, Stationary


class Response:
    """Response kernels of a model up to ``order`` (exponential-polynomial normal form).

    Attributes
    ----------
    model, order, method
    taus : lag symbols tau1..tauN;  s_sym : s_n;  t_sym : time t
    readout_degree : degree of each readout component (exact method)
    """

    def __init__(
        self,
        *,
        model: Diffusion,
        order: int,
        method: str,
        taus: tuple[sp.Symbol, ...],
        s_sym: sp.Symbol,
        t_sym: sp.Symbol,
        kernel_forms: dict[tuple[int, int, tuple[int, ...]], ExpPoly],
        mean0_forms: list[ExpPoly],
        readout_degree: list[int] | None = None,
        linear: Any = None,
        recursion: list | None = None,
        law: dict | None = None,
        dps: int = 30,
        simplify: bool = True,
        taylor: Any = None,
        lag_degree: int | None = None,
    ):
        self.model = model
        self.order = order
        self.method = method
        self.taus = taus
        self.s_sym = s_sym
        self.t_sym = t_sym
        self._forms = kernel_forms
        self._mean0_forms = mean0_forms
        self.readout_degree = readout_degree
        self.linear = linear
        self.recursion = recursion or []
        self.law = law or {}
        self.dps = dps
        self.simplify = simplify
        self.taylor = taylor
        self.lag_degree = lag_degree
        self._expr_cache: dict = {}
        self._derivation = None

    # ---- basic facts ---------------------------------------------------------------
    @property
    def stationary(self) -> bool:
        return isinstance(self.model.initial, Stationary)

    def lags(self, n: int) -> tuple[sp.Symbol, ...]:
        """The arguments of K^(n): (tau_1, ..., tau_n), plus s_n for non-stationary starts."""
        self._check_n(n)
        return self.taus[:n] if self.stationary else (*self.taus[:n], self.s_sym)

    def _check_n(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > self.order:
            raise VolterraError(f"n: expected a kernel order in 1..{self.order} (derived order), received {n!r}")

    def _component(self, component: int | None) -> list[int]:
        if component is None:
            return list(range(self.model.p))
        if not isinstance(component, int) or not 0 <= component < self.model.p:
            raise VolterraError(f"component: expected 0..{self.model.p - 1}, received {component!r}")
        return [component]

    def vanishes(self, n: int, component: int = 0) -> bool:
        """True when K^(n) is identically zero because n exceeds the readout's degree."""
        return self.readout_degree is not None and n > self.readout_degree[component]

    @property
    def zero_orders(self) -> dict[int, str]:
        """Orders <= ``order`` whose kernels vanish identically, with the reason."""
        out = {}
        if self.readout_degree is None:
            return out
        deg = max(self.readout_degree)
        for n in range(1, self.order + 1):
            if n > deg:
                out[n] = (
                    f"K^({n}) = 0: the readout has degree {deg}, P_tau preserves polynomial degree and each "
                    "L1 lowers it by one (docs/MATH.md section 5)"
                )
        return out

    # ---- kernels -------------------------------------------------------------------
    def kernel_form(self, n: int, k: Sequence[int] | int | None = None, component: int = 0) -> ExpPoly:
        """The exponential-polynomial normal form of K^(n)_k over ``self.taus + (s_n,)``."""
        self._check_n(n)
        key = (component, n, normalise_k(self.model, n, k))
        return self._forms[key]

    def kernel(self, n: int, k: Sequence[int] | int | None = None, component: int | None = None) -> sp.Expr:
        """K^(n)_{k_1..k_n} as a SymPy expression in ``self.lags(n)``.

        For a vector readout without ``component`` a column Matrix (one entry per component).
        """
        self._check_n(n)
        ks = normalise_k(self.model, n, k)
        comps = self._component(component)
        exprs = []
        for c in comps:
            key = (c, n, ks)
            if key not in self._expr_cache:
                with mpmath.workdps(self.dps):
                    self._expr_cache[key] = self._forms[key].as_expr(self.simplify)
            exprs.append(self._expr_cache[key])
        if component is None and self.model.vector_readout:
            return sp.Matrix(exprs)
        return exprs[0]

    def kernels(self, component: int | None = None) -> Iterator[tuple[int, tuple[int, ...], sp.Expr]]:
        """Iterate (n, k, K^(n)_k) over all orders and input-index tuples."""
        for n in range(1, self.order + 1):
            for ks in all_index_tuples(self.model.m, n):
                yield n, ks, self.kernel(n, ks, component)

    @property
    def mean0(self) -> sp.Expr:
        """E f(h^0_t): a constant for the stationary start, a function of ``t_sym`` otherwise."""
        with mpmath.workdps(self.dps):
            exprs = [F.as_expr(self.simplify) for F in self._mean0_forms]
        return sp.Matrix(exprs) if self.model.vector_readout else exprs[0]

    def mean0_form(self, component: int = 0) -> ExpPoly:
        return self._mean0_forms[self._component(component)[0]]

    def fdt_kernel(self, k: int = 0, component: int = 0) -> sp.Expr:
        """K^(1)_k in fluctuation-dissipation form E_inf[f(h_tau) A_k(h_0)] (stationary start)."""
        from .kernels import fdt_kernel

        k = normalise_k(self.model, 1, k)[0]
        component = self._component(component)[0]
        F = fdt_kernel(self, k, component)
        with mpmath.workdps(self.dps):
            return F.as_expr(self.simplify)

    def symmetric_kernel(self, n: int, k: Sequence[int] | int | None = None, component: int = 0):
        """The symmetric kernel H^(n)_k as a vectorised function of theta_1..theta_n (MATH.md section 4).

        theta_j = t - s_j is the time since the j-th input, and
        E f(h_t) = E f(h^0_t) + sum_n eps^n sum_k int_{[0,t]^n} H^(n)_k(theta) prod_j u^{k_j}(t - theta_j) dtheta.
        H is the triangular kernel extended to the whole cube by symmetry and divided by n!: for a
        point (theta, k), the permutation sigma sorting theta increasingly gives
        H_k(theta) = K_{k o sigma}(tau(theta o sigma)) / n!, tau_1 = theta_(1), tau_j = theta_(j) - theta_(j-1)
        (joint symmetrisation over (index, time) pairs for several inputs).  Stationary start only.
        """
        if not self.stationary:
            raise VolterraError(
                "symmetric_kernel: for a non-stationary start the kernels also depend on the absolute time "
                "(s_n), so there is no time-invariant symmetric kernel; use kernel(n, k) (triangular form)"
            )
        self._check_n(n)
        ks = normalise_k(self.model, n, k)
        lowered = self.lower("numpy")
        fact = float(math.factorial(n))

        def H(*thetas):
            th = np.broadcast_arrays(*[np.asarray(x, dtype=float) for x in thetas])
            if len(th) != n:
                raise VolterraError(f"symmetric_kernel: expected {n} arguments theta_1..theta_{n}, received {len(th)}")
            stack = np.stack(th, axis=-1)
            order = np.argsort(stack, axis=-1, kind="stable")
            srt = np.take_along_axis(stack, order, axis=-1)
            taus = np.concatenate([srt[..., :1], np.diff(srt, axis=-1)], axis=-1)
            out = np.zeros(stack.shape[:-1])
            perms = order.reshape(-1, n)
            flat_taus = taus.reshape(-1, n)
            flat_out = out.reshape(-1)
            for perm in {tuple(p) for p in perms.tolist()}:
                sel = np.all(perms == np.array(perm), axis=1)
                kk = tuple(ks[i] for i in perm)
                flat_out[sel] = lowered.kernel(n, kk, component)(*flat_taus[sel].T) / fact
            return flat_out.reshape(out.shape)

        return H

    def kernel_taylor(self, n: int, k: Sequence[int] | int | None, p: Sequence[int], component: int = 0) -> sp.Expr:
        """d^{p_1}_{tau_1} ... d^{p_n}_{tau_n} K^(n)_k at zero lags (exact; stationary start)."""
        if not self.stationary:
            raise VolterraError("kernel_taylor: needs the stationary start (point-mass kernels also depend on s_n)")
        F = self.kernel_form(n, k, self._component(component)[0])
        p = tuple(p)
        if len(p) != n or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in p):
            raise VolterraError(f"p: expected {n} non-negative integer derivative orders, received {p!r}")
        if self.method == "taylor" and sum(p) > self.lag_degree:
            raise VolterraError(
                f"p: total degree {sum(p)} exceeds lag_degree={self.lag_degree} of these Taylor kernels (the "
                "truncated kernels would give 0); derive with a larger lag_degree"
            )
        with mpmath.workdps(self.dps):
            val = F.derivative_at_zero((*p, 0))
            from .expopoly import to_sympy

            return sp.sympify(to_sympy(val, self.dps)) if not isinstance(val, sp.Basic) else sp.expand(val)

    # ---- response features (MATH.md section 7) ---------------------------------------
    def _taylor_callable(self, level: int, component: int = 0):
        if level > self.order:
            raise VolterraError(
                f"level: feature coefficients of level {level} need kernels up to order {level}, but this Response "
                f"was derived to order {self.order}; derive with order >= {level}"
            )
        if not self.stationary:
            raise VolterraError("feature coefficients need the stationary start (E f(h_t) - E_inf f)")
        if self.method == "taylor":
            tk = self.taylor[component]

            def taylor(n, k, p):
                if sum(p) > self.lag_degree:
                    raise VolterraError(
                        f"degree: the features need Taylor coefficients of total degree {sum(p)}, but the kernels "
                        f"were derived with lag_degree={self.lag_degree}; derive with a larger lag_degree"
                    )
                return tk.coefficient(n, k, p)

            return taylor
        if self.method != "exact":
            raise VolterraError(f"feature coefficients need exact or Taylor kernels, not method={self.method!r}")
        return lambda n, k, p: self.kernel_taylor(n, k, p, component)

    def feature_coefficients(self, degree: int, level: int, *, component: int = 0, **options: Any):
        """Coefficients c_w of E f(h_t) - E_inf f = <c, Phi_t(u)>.

        See :func:`volterra_sym.features.feature_coefficients`.
        """
        from .features import feature_coefficients

        if self.method == "taylor":
            options.setdefault("truncation", "total")
        comp = self._component(component)[0]
        return feature_coefficients(self._taylor_callable(level, comp), degree, level, inputs=self.model.m, **options)

    def predict_features(self, u: Any, t: Any, degree: int, level: int, *, component: int = 0, **options: Any):
        """E f(h_t) ~ E_inf f + <c, Phi_t(u)> (see :func:`volterra_sym.features.predict_features`)."""
        from .features import predict_features

        comp = self._component(component)[0]
        m0 = self.mean0[comp] if self.model.vector_readout else self.mean0
        mean0 = float(sp.N(sp.sympify(m0).xreplace(self.model.params)))
        if self.method == "taylor":
            options.setdefault("truncation", "total")
        return predict_features(self._taylor_callable(level, comp), mean0, u, t, degree, level, **options)

    # ---- numbers -------------------------------------------------------------------
    def predict(self, u: Any, t: Any, eps: float = 1.0, *, by_order: bool = False, **options: Any):
        """E f(h_t) on the grid ``t`` for input ``u`` (see :func:`volterra_sym.series.predict`)."""
        from .series import predict

        return predict(self, u, t, eps=eps, by_order=by_order, **options)

    def lower(self, backend: str = "numpy", **options: Any):
        """Lower every kernel to numeric callables (see :func:`volterra_sym.codegen.lower`)."""
        from .codegen import lower

        return lower(self, backend=backend, **options)

    def write_module(self, path: Any, max_lag: float = 100.0) -> str:
        """Write a standalone NumPy module holding every kernel (see :mod:`volterra_sym.codegen`)."""
        from .codegen import write_module

        return write_module(self, path, max_lag)

    # ---- documents -----------------------------------------------------------------
    @property
    def derivation(self):
        """The derivation record (ordered steps with the real intermediate results)."""
        if self._derivation is None:
            from .derivation import build_derivation

            self._derivation = build_derivation(self)
        return self._derivation

    def to_latex(self, *, body_only: bool = False) -> str:
        from .export import to_latex

        return to_latex(self, body_only=body_only)

    def to_markdown(self, *, body_only: bool = False) -> str:
        from .export import to_markdown

        return to_markdown(self, body_only=body_only)

    def write_latex(self, path: Any) -> str:
        from .export import write_text

        return write_text(path, self.to_latex())

    def write_markdown(self, path: Any) -> str:
        from .export import write_text

        return write_text(path, self.to_markdown())

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable summary: model, order, every kernel as LaTeX and SymPy text."""
        items = []
        for c in range(self.model.p):
            for n, ks, expr in self.kernels(component=c):
                items.append(
                    {
                        "n": n,
                        "k": list(ks),
                        "component": c,
                        "lags": [str(s) for s in self.lags(n)],
                        "sympy": sp.srepr(expr) if False else str(expr),
                        "latex": sp.latex(expr),
                        "zero": expr == 0,
                    }
                )
        mean0 = self.mean0
        return {
            "model": repr(self.model),
            "method": self.method,
            "order": self.order,
            "initial": repr(self.model.initial),
            "mean0": str(mean0),
            "kernels": items,
            "zero_orders": {str(k): v for k, v in self.zero_orders.items()},
        }

    def __repr__(self) -> str:
        return (
            f"Response(model={self.model.name!r}, method={self.method!r}, order={self.order}, "
            f"initial={self.model.initial!r})"
        )

    def summary(self) -> str:
        """Human-readable listing of the kernels."""
        lines = [repr(self), f"  E f(h^0_t) = {self.mean0}"]
        for n, ks, expr in self.kernels():
            label = ",".join(str(k + 1) for k in ks)
            lines.append(f"  K^({n})_[{label}]({', '.join(map(str, self.lags(n)))}) = {expr}")
        for _n, why in self.zero_orders.items():
            lines.append(f"  {why}")
        return "\n".join(lines)
