"""Responses whose kernels are formulas: exponential polynomials in the lags.

The exact route (linear SRNNs) and the Taylor route (short-lag kernels, zero
rates) both produce kernels of the normal form
sum c prod_j tau_j^{p_j} e^{-mu_j tau_j} (:class:`~volterra_sym.algebra.exp_polynomial.ExpPoly`),
so they share prediction (:mod:`volterra_sym.numerics.prediction`: cube form or filter cascades),
code generation (:mod:`volterra_sym.numerics.codegen`), exact derivatives at zero
lag (the response features) and printable formulas.  The route-specific parts
(derivation steps, error estimates) are hooks of the subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import mpmath
import numpy as np
import sympy as sp

from .. import limits
from ..algebra.exp_polynomial import ExpPoly, NumericTerms, to_sympy
from ..model.diffusion import Diffusion
from ..numerics.codegen import Lowered
from ..response import Response, check_finite_prediction
from ..validate import check_int_sequence, refusal

KernelKey = tuple[int, int, tuple[int, ...]]  # (component, n, (k_1..k_n))


class ClosedFormResponse(Response):
    """Kernels in exponential-polynomial normal form (see module docstring).

    Attributes
    ----------
    model, order, method
    taus : lag symbols tau1..tauN;  s_sym : s_n;  t_sym : time t
    dps : working precision of the derivation (digits)
    """

    closed_form: ClassVar[bool] = True

    def __init__(
        self,
        *,
        model: Diffusion,
        order: int,
        kernel_forms: dict[KernelKey, ExpPoly],
        mean0_forms: list[ExpPoly],
        dps: int = limits.DEFAULT_DPS,
        simplify: bool = True,
    ) -> None:
        super().__init__(model, order)
        self._forms = kernel_forms
        self._mean0_forms = mean0_forms
        self.dps = dps
        self.simplify = simplify
        self._expr_cache: dict[KernelKey, sp.Expr] = {}
        self._terms_cache: dict[tuple[Any, ...], list[Any]] = {}
        self._converters: dict[Any, NumericTerms] = {}  # float terms converted once per kernel (first use)
        self._plan_cache: dict[tuple[float, int | None], Any] = {}
        self._plans_by_signature: dict[Any, Any] = {}
        self._signature_cache: dict[int, tuple[Any, ...]] = {}  # per terms list (kept alive in it)
        self._numeric_checked = False

    # ---- kernels -------------------------------------------------------------------
    def kernel_form(self, n: int, k: Sequence[int] | int | None = None, component: int = 0) -> ExpPoly:
        """The exponential-polynomial normal form of K^(n)_k over ``self.taus + (s_n,)``."""
        n = self._check_n(n)
        return self._forms[(self._component(component)[0], n, self._k(n, k))]

    def kernel(self, n: int, k: Sequence[int] | int | None = None, component: int | None = None) -> Any:
        """K^(n)_{k_1..k_n} as a SymPy expression in ``self.lags(n)``.

        For a vector readout without ``component`` a column Matrix (one entry per component).
        """
        n = self._check_n(n)
        ks = self._k(n, k)
        exprs = []
        for c in self._component(component):
            key = (c, n, ks)
            if key not in self._expr_cache:
                with mpmath.workdps(self.dps):
                    self._expr_cache[key] = self._forms[key].as_expr(self.simplify)
            exprs.append(self._expr_cache[key])
        if component is None and self.model.vector_readout:
            return sp.Matrix(exprs)
        return exprs[0]

    def _kernel_values(self, n: int, ks: tuple[int, ...], lags: np.ndarray, component: int) -> np.ndarray:
        K = self.lower("numpy").kernel(n, ks, component)
        return np.asarray(K(*lags.T), dtype=float)

    @property
    def mean0(self) -> Any:
        """E f(h^0_t): a constant for the stationary start, a function of ``t_sym`` otherwise."""
        with mpmath.workdps(self.dps):
            exprs = [F.as_expr(self.simplify) for F in self._mean0_forms]
        return sp.Matrix(exprs) if self.model.vector_readout else exprs[0]

    def mean0_form(self, component: int = 0) -> ExpPoly:
        """E f_c(h^0_t) as an exponential polynomial in t (constant for the stationary start)."""
        return self._mean0_forms[self._component(component)[0]]

    def numeric_terms(self, key: KernelKey, horizon: float) -> list[Any]:
        """Float terms of a kernel valid for lags <= horizon (near-coincident rates merged, see
        :func:`volterra_sym.algebra.exp_polynomial.stable_numeric_terms`), cached here.  The conversion
        through mpmath is done once per kernel (:class:`~volterra_sym.algebra.exp_polynomial.NumericTerms`):
        for every horizon at which no rates merge the same list object is returned."""
        ckey = (*key, horizon)
        if ckey not in self._terms_cache:
            if key not in self._converters:
                c, n, ks = key
                self._converters[key] = NumericTerms(
                    self.kernel_form(n, ks, c), dict(self.model.params), dps=max(50, self.dps)
                )
            self._terms_cache[ckey] = self._converters[key].at(horizon)
        return self._terms_cache[ckey]

    def mean0_terms(self, component: int, horizon: float) -> list[Any]:
        """Float terms of E f_c(h^0_t) for t <= horizon (see :meth:`numeric_terms`), cached here."""
        from ..numerics.series import mean0_numeric_form

        ckey = ("mean0", component, horizon)
        if ckey not in self._terms_cache:
            if ("mean0", component) not in self._converters:
                self._converters[("mean0", component)] = NumericTerms(
                    mean0_numeric_form(self, component), dict(self.model.params), dps=max(50, self.dps)
                )
            self._terms_cache[ckey] = self._converters[("mean0", component)].at(max(horizon, 1e-300))
        return self._terms_cache[ckey]

    #: cube-form plans kept per response (one per horizon and top shell; the oldest is dropped)
    _plan_cache_size: ClassVar[int] = 8

    def cube_plan(self, horizon: float, top_degree: int | None = None) -> Any:
        """The cube-form plan of the kernels for lags <= horizon (see :mod:`volterra_sym.numerics.separable`),
        cached here: which orders are separable, their filters and polynomial coefficients.  A plan depends
        on the horizon only through its signature (:func:`~volterra_sym.numerics.separable.plan_signature`:
        the terms kept and the rate scale), so a new horizon with the signature of a built plan reuses it
        (O(kernels) work instead of a new plan)."""
        from ..numerics.separable import build_cube_plan, plan_signature

        key = (horizon, top_degree)
        if key not in self._plan_cache:
            if len(self._plan_cache) >= self._plan_cache_size:
                self._plan_cache.pop(next(iter(self._plan_cache)))
            signature = plan_signature(self, horizon, top_degree, self._signature_cache)
            plan = self._plans_by_signature.get(signature)
            if plan is None:
                plan = build_cube_plan(self, horizon, top_degree)
                if len(self._plans_by_signature) >= self._plan_cache_size:
                    self._plans_by_signature.pop(next(iter(self._plans_by_signature)))
                self._plans_by_signature[signature] = plan
            self._plan_cache[key] = plan
        return self._plan_cache[key]

    # ---- the frequency domain ------------------------------------------------------
    def _transfer(self, n: int, ks: tuple[int, ...], component: int) -> Any:
        """Rational transfer functions of the exponential-polynomial kernels (numerics/frequency.py)."""
        import itertools

        from ..numerics.frequency import Transfer, check_decay, exp_poly_laplace, exp_terms, formula_builder

        params = dict(self.model.params)
        perms = sorted(set(itertools.permutations(ks)))
        forms = {kk: self.kernel_form(n, kk, component) for kk in perms}
        for kk in perms:  # refused up front: kernels that do not decay (numeric rates are checked on first use)
            check_decay(forms[kk], n, f"K^({n})_{kk}")
        terms: dict[tuple[int, ...], Any] = {}

        def numeric(kk: tuple[int, ...]) -> Any:
            if kk not in terms:
                with mpmath.workdps(self.dps):
                    terms[kk] = exp_terms(forms[kk], n, params, self.dps, what=f"K^({n})_{kk}")
            return terms[kk]

        def value(kk: tuple[int, ...], S: np.ndarray) -> np.ndarray:
            return np.asarray(exp_poly_laplace(numeric(kk), S))

        def bound(kk: tuple[int, ...], S: np.ndarray) -> np.ndarray:
            return np.asarray(exp_poly_laplace(numeric(kk), S, with_error=True)[1])

        taken = {x.name for x in (*self.model.state, *self.model.parameters)}
        return Transfer(
            n, ks, component, self.method, value, bound,
            formula=formula_builder(forms.__getitem__, ks, taken),
            error_kind="rounding",
            rates_of=lambda: np.unique(np.concatenate([numeric(kk).mu.reshape(-1) for kk in perms])),
        )

    # ---- Taylor coefficients at zero lag -------------------------------------------
    #: the largest total derivative order available (None: unlimited)
    _taylor_limit: ClassVar[int | None] = None

    def _check_taylor_degree(self, total: int, what: str) -> None:
        """Hook: refuse derivative orders the kernels do not carry (Taylor route)."""

    def kernel_taylor(self, n: int, k: Sequence[int] | int | None, p: Sequence[int], component: int = 0) -> Any:
        """d^{p_1}_{tau_1} ... d^{p_n}_{tau_n} K^(n)_k at zero lags (exact; stationary start)."""
        if not self.stationary:
            raise refusal("kernel_taylor", "needs the stationary start (point-mass kernels also depend on s_n)")
        F = self.kernel_form(n, k, self._component(component)[0])
        p = check_int_sequence(p, "p", n, what="derivative orders")
        limits.check_limit(sum(int(x) for x in p), "p", "MAX_KERNEL_DERIVATIVE", limits.DERIVATIVE_ADVICE)
        self._check_taylor_degree(sum(p), "p")
        with mpmath.workdps(self.dps):
            val = F.derivative_at_zero((*p, 0))
            return sp.sympify(to_sympy(val, self.dps), strict=True) if not isinstance(val, sp.Basic) else sp.expand(val)

    # ---- numbers -------------------------------------------------------------------
    def _top_shell_degree(self) -> int | None:
        """Hook: the total lag degree of the top Taylor shell (None: the kernels are not truncated)."""
        return None

    def _after_prediction(self, tt: np.ndarray, parts: np.ndarray, top: np.ndarray) -> None:
        """Hook called with each order's contribution and the top-shell estimate (Taylor: warnings)."""

    def predict(
        self,
        u: Any,
        t: Any,
        eps: float = 1.0,
        *,
        by_order: bool = False,
        interp: str | None = None,
        return_error: bool = False,
        engine: str = "auto",
        **options: Any,
    ) -> Any:
        """E f(h_t) on the grid ``t`` for the input ``u`` (:mod:`volterra_sym.numerics.prediction`).

        Orders whose kernels are symmetric products of one-lag factors (every exact kernel of a linear
        SRNN, Taylor kernels of linear models) take the cube form: one exact 1-D filter chain per
        distinct input and rate, then a polynomial per time point; other orders go through filter
        cascades per kernel term.

        Parameters
        ----------
        u : callable u(t) -> (m,), or samples of shape (len(t), m) ((len(t),) for m = 1).
        t : 1-D strictly increasing grid starting at 0.
        eps : the input amplitude (the series is in powers of eps).
        by_order : return each order's contribution separately, order 0 first.
        interp : ``"pwlinear"``, ``"cubic"`` or ``"linear"``; default ``"pwlinear"`` for samples and
            ``"cubic"`` for callables.  Cube-form orders are exact for the piecewise-linear interpolant
            (``"pwlinear"`` and ``"linear"`` alike) and O(h^4) with ``"cubic"``; cascade orders as in
            :mod:`volterra_sym.numerics.series`.
        return_error : also return a truncation-error estimate of the shape of the value, per order with
            ``by_order`` (every route; Taylor kernels: the contribution of the top-degree Taylor shell;
            exact kernels: zeros).
        engine : ``"auto"`` (cube form where it applies, cascades elsewhere), ``"cascade"`` (filter
            cascades for every order: the previous predictor, a cross-check), ``"cube"`` (error
            where the cube form does not apply).

        Returns
        -------
        (len(t),) or (len(t), p) for vector readouts; with ``by_order`` a leading axis of length order+1.
        """
        from ..numerics.prediction import ENGINES, predict_series
        from ..numerics.series import INTERPOLATIONS
        from ..validate import check_choice, check_eps, check_flag, check_grid, check_numeric_model, input_samples

        if options:  # the contract (Response.predict) lets routes take options; these take only the three above
            raise refusal(
                sorted(options)[0], f"method={self.method!r} predictions take only interp=, return_error= and engine="
            )
        check_flag(by_order, "by_order")
        check_flag(return_error, "return_error")
        if not self._numeric_checked:  # the model does not change: checked once
            check_numeric_model(self.model)
            self._numeric_checked = True
        tt = check_grid(t)
        e = check_eps(eps, self.order)
        U = input_samples(u, tt, self.model.m)
        if interp is None:
            interp = "cubic" if callable(u) else "pwlinear"
        check_choice(interp, "interp", INTERPOLATIONS)
        if interp == "cubic" and tt.size < 4:
            interp = "pwlinear"  # no cubic through 4 nodes on 2-3 points: the input is read as piecewise linear
        check_choice(engine, "engine", ENGINES)
        out, top = predict_series(self, U, tt, e, interp=interp, top_degree=self._top_shell_degree(), engine=engine)
        self._after_prediction(tt, out, top.sum(axis=0))
        if not self.model.vector_readout:
            out, top = out[..., 0], top[..., 0]
        check_finite_prediction(out, tt)
        res = out if by_order else out.sum(axis=0)
        if not return_error:
            return res
        # one convention for every route: the error has the shape of the value (per order with by_order)
        return res, (np.abs(top) if by_order else np.abs(top.sum(axis=0)))

    def lower(self, backend: str = "numpy", **options: Any) -> Lowered:
        """Lower every kernel to numeric callables (see :func:`volterra_sym.numerics.codegen.lower`)."""
        from ..numerics.codegen import lower

        key = (backend, tuple(sorted(options.items())))
        if key not in self._lowered:
            self._lowered[key] = lower(self, backend=backend, **options)
        return self._lowered[key]

    def write_module(self, path: Any, max_lag: float = 100.0) -> str:
        """Write a standalone NumPy module holding every kernel (see :mod:`volterra_sym.numerics.codegen`)."""
        from ..numerics.codegen import write_module

        return write_module(self, path, max_lag)

    # ---- listings ------------------------------------------------------------------
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
                        "sympy": str(expr),
                        "latex": sp.latex(expr),
                        "zero": expr == 0,
                    }
                )
        return {
            "model": repr(self.model),
            "method": self.method,
            "order": self.order,
            "initial": repr(self.model.initial),
            "mean0": str(self.mean0),
            "kernels": items,
            "zero_orders": {str(k): v for k, v in self.zero_orders.items()},
        }

    def summary(self) -> str:
        """Human-readable listing of the kernels."""
        lines = [repr(self), f"  E f(h^0_t) = {self.mean0}"]
        for n, ks, expr in self.kernels():
            label = ",".join(str(k + 1) for k in ks)
            lines.append(f"  K^({n})_[{label}]({', '.join(map(str, self.lags(n)))}) = {expr}")
        for _n, why in self.zero_orders.items():
            lines.append(f"  {why}")
        return "\n".join(lines)
