"""The result of a derivation, shared by every route: the :class:`Response` contract.

Conventions (MATH.md section 4): the triangular kernel K^(n)_{k_1..k_n} is a
function of the lags tau_1 = t - s_1 (most recent input), tau_j = s_{j-1} - s_j,
and, for non-stationary starts, of s_n (time from the start to the oldest
input).  Input indices k are 0-based here (channel ``u[:, k]``); documents
print them 1-based as in MATH.md.

Every route returns a subclass of :class:`Response`; the CLI, ``verify``,
documents and features use only what is declared here:

==========================  =====================================================
member                      meaning
==========================  =====================================================
``model, order, method``    the model, the highest kernel order, the route's name
``stationary``              whether the start is the stationary law
``lags(n)``                 the argument symbols of K^(n)
``kernel(n, k, component)`` K^(n)_k: a SymPy expression (closed-form routes) or a
                            vectorised callable of the lags (numerical routes)
``kernel_values(n, k, L)``  K^(n)_k at an array of lags L of shape (..., n[+1])
``mean0``                   E f(h^0_t): a number/expression (stationary) or of t
``predict(u, t, eps)``      E f(h_t) on a grid (``by_order=True``: each order)
``lower(backend)``          :class:`~volterra_sym.numerics.codegen.Lowered` callables
``derivation``              the derivation record; ``to_latex``/``to_markdown``
``kernel_taylor(n, k, p)``  derivatives at zero lag (routes that have them)
``transfer(n, k)``          H_n(omega_1..omega_n), the kernels in the frequency domain (stationary start)
``feature_coefficients``    response-feature coefficients (from ``kernel_taylor``)
``summary()``, ``to_json()`` readable and machine-readable listings
==========================  =====================================================
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import sympy as sp

from .errors import InputError
from .model.diffusion import Diffusion, Stationary
from .validate import (
    check_component,
    check_index_tuple,
    check_kernel_order,
    check_lag_array,
    derive_advice,
    real_array,
    refusal,
)

if TYPE_CHECKING:
    from .documents.derivation import Derivation
    from .numerics.codegen import Lowered
    from .numerics.frequency import Transfer

#: Taylor coefficients a(n, k, p) of the kernels at zero lag (what the response features consume)
TaylorFunction = Callable[[int, tuple[int, ...], tuple[int, ...]], Any]


def lag_symbols(model: Diffusion, order: int) -> tuple[tuple[sp.Symbol, ...], sp.Symbol, sp.Symbol]:
    """Lag symbols tau1..tau_order, the start lag s_n and the time t, avoiding the model's names."""
    taken = {s.name for s in model.state} | {s.name for s in model.parameters}

    def fresh(name: str) -> sp.Symbol:
        while name in taken:
            name += "_"
        return sp.Symbol(name)

    taus = tuple(fresh(f"tau{i + 1}") for i in range(order))
    return taus, fresh("s_n"), fresh("t")


def check_finite_prediction(out: np.ndarray, tt: np.ndarray) -> None:
    """Refuse a prediction that left the floating-point range (parts (orders, len(t), ...))."""
    bad = ~np.isfinite(out.reshape(out.shape[0], tt.size, -1))
    if np.any(bad):
        j = int(np.argmax(np.any(bad, axis=(0, 2))))
        raise refusal(
            "t",
            f"the prediction leaves the floating-point range at t = {tt[j]:.6g} (growing modes, extreme time scales "
            "or a huge eps)",
            "use a shorter horizon or a smaller eps, or check the model's stability",
            InputError,
        )


class Response(ABC):
    """Response kernels of a model up to ``order``, from one route (module docstring: the contract)."""

    #: the route's name (``method=`` of :func:`volterra_sym.derive`)
    method: ClassVar[str]
    #: whether the kernels are formulas (documents show them; ``write_module`` writes them)
    closed_form: ClassVar[bool] = False

    model: Diffusion
    order: int
    taus: tuple[sp.Symbol, ...]
    s_sym: sp.Symbol
    t_sym: sp.Symbol
    #: ``method`` and route options of :func:`~volterra_sym.derive` (set there; None for hand-built responses)
    derive_options: dict[str, Any] | None = None

    def __init__(self, model: Diffusion, order: int) -> None:
        self.model = model
        self.order = order
        self.taus, self.s_sym, self.t_sym = lag_symbols(model, order)
        self._derivation: Derivation | None = None
        self._lowered: dict[tuple[str, Any], Lowered] = {}

    # ---- basic facts ---------------------------------------------------------------
    @property
    def stationary(self) -> bool:
        """True for the stationary start (kernels depend on the lags only)."""
        return isinstance(self.model.initial, Stationary)

    def lags(self, n: int) -> tuple[sp.Symbol, ...]:
        """The arguments of K^(n): (tau_1, ..., tau_n), plus s_n for non-stationary starts."""
        self._check_n(n)
        return self.taus[:n] if self.stationary else (*self.taus[:n], self.s_sym)

    def _check_n(self, n: Any) -> int:
        return check_kernel_order(n, self.order, " (the derived order)")

    def _component(self, component: int | None) -> list[int]:
        if component is None:
            return list(range(self.model.p))
        return [check_component(component, self.model.p)]

    def _k(self, n: int, k: Sequence[int] | int | None) -> tuple[int, ...]:
        return check_index_tuple(k, n, self.model.m)

    def index_tuples(self, n: int) -> list[tuple[int, ...]]:
        """All input-index tuples (k_1..k_n) of order n, 0-based."""
        import itertools

        return list(itertools.product(range(self.model.m), repeat=n))

    @property
    def zero_orders(self) -> dict[int, str]:
        """Orders <= ``order`` whose kernels vanish identically, with the reason (none by default)."""
        return {}

    # ---- kernels -------------------------------------------------------------------
    @abstractmethod
    def kernel(self, n: int, k: Sequence[int] | int | None = None, component: int | None = None) -> Any:
        """K^(n)_{k_1..k_n}: a SymPy expression in ``lags(n)`` or a vectorised callable of the lags."""

    @abstractmethod
    def _kernel_values(self, n: int, ks: tuple[int, ...], lags: np.ndarray, component: int) -> np.ndarray:
        """Values at validated lags (flat array (L, n[+1])) -> (L,)."""

    def kernel_values(
        self, n: int, k: Sequence[int] | int | None, lags: Any, component: int | None = None
    ) -> np.ndarray:
        """K^(n)_k at ``lags``: an array of shape (..., n) of (tau_1..tau_n), or (..., n+1) with s_n last
        for a non-stationary start; all finite and >= 0.  Returns shape (...), or (..., p) for a vector
        readout without ``component``."""
        n = self._check_n(n)
        ks = self._k(n, k)
        width = n if self.stationary else n + 1
        L = check_lag_array(lags, width, stationary=self.stationary)
        flat = L.reshape(-1, width)
        comps = self._component(component)
        vals = np.stack([self._kernel_values(n, ks, flat, c) for c in comps], axis=-1)
        out = vals.reshape(L.shape[:-1] + (len(comps),))
        return out if (component is None and self.model.vector_readout) else out[..., 0]

    def kernels(self, component: int | None = None) -> Iterator[tuple[int, tuple[int, ...], Any]]:
        """Iterate (n, k, K^(n)_k) over all orders and input-index tuples."""
        for n in range(1, self.order + 1):
            for ks in self.index_tuples(n):
                yield n, ks, self.kernel(n, ks, component)

    @property
    @abstractmethod
    def mean0(self) -> Any:
        """E f(h^0_t): a constant for the stationary start, a function of t otherwise."""

    def kernel_taylor(self, n: int, k: Sequence[int] | int | None, p: Sequence[int], component: int = 0) -> Any:
        """d^{p_1}_{tau_1} ... d^{p_n}_{tau_n} K^(n)_k at zero lags (stationary start)."""
        raise refusal(
            "kernel_taylor",
            f"method={self.method!r} does not provide derivatives of the kernels at zero lag",
            "use method='exact' (linear SRNNs), 'taylor' or 'galerkin'",
        )

    def symmetric_kernel(self, n: int, k: Sequence[int] | int | None = None, component: int = 0) -> Callable:
        """The symmetric kernel H^(n)_k as a vectorised function of theta_1..theta_n (MATH.md section 4).

        theta_j = t - s_j is the time since the j-th input, and
        E f(h_t) = E f(h^0_t) + sum_n eps^n sum_k int_{[0,t]^n} H^(n)_k(theta) prod_j u^{k_j}(t - theta_j) dtheta.
        H is the triangular kernel extended to the whole cube by symmetry and divided by n!: for a
        point (theta, k), the permutation sigma sorting theta increasingly gives
        H_k(theta) = K_{k o sigma}(tau(theta o sigma)) / n!, tau_1 = theta_(1), tau_j = theta_(j) - theta_(j-1)
        (joint symmetrisation over (index, time) pairs for several inputs).  Stationary start only.
        """
        if not self.stationary:
            raise refusal(
                "symmetric_kernel",
                "for a non-stationary start the kernels also depend on the absolute time (s_n), so there is no "
                "time-invariant symmetric kernel",
                "use kernel(n, k) (triangular form)",
            )
        n = self._check_n(n)
        ks = self._k(n, k)
        comp = self._component(component)[0]
        fact = float(math.factorial(n))

        def H(*thetas: Any) -> np.ndarray:
            if len(thetas) != n:
                raise refusal("symmetric_kernel", f"expected {n} arguments theta_1..theta_{n}, received {len(thetas)}")
            th = np.broadcast_arrays(*[real_array(x, "theta") for x in thetas])
            stack = np.stack(th, axis=-1)
            order = np.argsort(stack, axis=-1, kind="stable")
            srt = np.take_along_axis(stack, order, axis=-1)
            taus = np.concatenate([srt[..., :1], np.diff(srt, axis=-1)], axis=-1)
            out = np.zeros(stack.shape[:-1])
            perms = order.reshape(-1, n)
            flat_taus = taus.reshape(-1, n)
            flat_out = out.reshape(-1)
            for perm in {tuple(q) for q in perms.tolist()}:
                sel = np.all(perms == np.array(perm), axis=1)
                kk = tuple(ks[i] for i in perm)
                flat_out[sel] = self.kernel_values(n, kk, flat_taus[sel], comp) / fact
            return flat_out.reshape(out.shape)

        return H

    # ---- the frequency domain (docs/frequency.md) ----------------------------------
    def transfer(self, n: int, k: Sequence[int] | int | None = None, component: int = 0) -> Transfer:
        """H_n(omega_1..omega_n): the Fourier transform of :meth:`symmetric_kernel` (stationary start).

        H_{n,k}(omega) = int_{[0,oo)^n} H^(n)_k(theta) exp(-i sum_j omega_j theta_j) dtheta, so u = e^{i omega t}
        gives the order-1 output H_1(omega) e^{i omega t}.  Returns a
        :class:`~volterra_sym.numerics.frequency.Transfer`: ``H(w1, ..., wn)`` (complex frequencies allowed),
        ``H.error(...)``, ``H.laplace(s...)``, ``H.expression()`` (closed-form routes).
        """
        n = self._check_n(n)
        ks = self._k(n, k)
        comp = self._component(component)[0]
        if not self.stationary:
            raise refusal(
                "n",
                f"the order-{n} kernels from the start {self.model.initial!r} depend on the time since the start "
                "(s_n) as well as on the lags, so they have no transfer function (it needs time invariance)",
                "derive with initial='stationary'",
            )
        return self._transfer(n, ks, comp)

    def _transfer(self, n: int, ks: tuple[int, ...], component: int) -> Transfer:
        raise refusal(
            "transfer",
            f"method={self.method!r} does not provide transfer functions",
            "use method='exact', 'galerkin' or 'generator'",
        )

    # ---- numbers -------------------------------------------------------------------
    @abstractmethod
    def predict(self, u: Any, t: Any, eps: float = 1.0, *, by_order: bool = False, **options: Any) -> Any:
        """E f(h_t) on the grid ``t`` for the input ``u``.

        Returns (len(t),) or (len(t), p) for vector readouts; with ``by_order`` a leading axis of
        length order + 1 (order 0 first).
        """

    def lower(self, backend: str = "numpy", **options: Any) -> Lowered:
        """Numeric callables for every kernel: ``lower().kernel(n, k)(tau_1, ..., tau_n[, s_n])``.

        Numerical routes evaluate through :meth:`kernel_values` (``backend="numpy"`` only);
        closed-form routes override this with generated code.
        """
        from .numerics.codegen import Lowered

        if backend != "numpy" or options:
            raise refusal(
                "backend",
                f"method={self.method!r} evaluates its kernels numerically; only lower('numpy') without options is "
                f"available, received backend={backend!r}, options={sorted(options)}",
            )
        funcs: dict[tuple[int, int, tuple[int, ...]], Callable[..., Any]] = {}
        for c in range(self.model.p):
            funcs[(c, 0, ())] = self._mean0_callable(c)
            for n in range(1, self.order + 1):
                for ks in self.index_tuples(n):
                    funcs[(c, n, ks)] = self._lag_callable(n, ks, c)
        return Lowered("numpy", funcs, None, None, self.model.vector_readout, self.model.m)

    def _lag_callable(self, n: int, ks: tuple[int, ...], c: int | None) -> Callable[..., np.ndarray]:
        """K^(n)_ks as a callable of the lag arrays (broadcast together), through :meth:`kernel_values`."""
        width = n if self.stationary else n + 1
        if c is not None:
            self._component(c)

        def K(*lags: Any) -> np.ndarray:
            if len(lags) != width:
                names = ", ".join(str(s) for s in self.lags(n))
                raise refusal("kernel", f"expected {width} lag arguments ({names}), received {len(lags)}")
            arrs = np.broadcast_arrays(*[real_array(x, "lags") for x in lags])
            return self.kernel_values(n, ks, np.stack(arrs, axis=-1), c)

        return K

    def _mean0_callable(self, c: int) -> Callable[[Any], np.ndarray]:
        def mean0(t: Any) -> np.ndarray:
            tt = real_array(t, "t")
            if np.any(~np.isfinite(tt)) or np.any(tt < 0):
                raise refusal("t", "expected finite times >= 0", cls=InputError)
            return self._mean0_values(tt, c)

        return mean0

    def _mean0_values(self, t: np.ndarray, component: int) -> np.ndarray:
        """E f_c(h^0_t) on an array of times (numerical routes override)."""
        raise NotImplementedError

    def write_module(self, path: Any, max_lag: float = 100.0) -> str:
        """Write a standalone NumPy module of the kernels (closed-form routes only)."""
        raise refusal(
            "write_module",
            f"method={self.method!r} computes its kernels numerically, so there are no formulas to write as a module",
            "use lower('numpy') for callables, or method='exact'/'taylor' for formulas",
        )

    # ---- response features (MATH.md section 7) -------------------------------------
    def _taylor_function(self, level: int, component: int) -> TaylorFunction:
        """a(n, k, p) for the response features, checked against what the route can give."""
        if level > self.order:
            raise refusal(
                "level",
                f"feature coefficients of level {level} need kernels up to order {level}, but this Response was "
                f"derived to order {self.order}",
                derive_advice("order", level),
            )
        if not self.stationary:
            raise refusal("initial", "feature coefficients need the stationary start (E f(h_t) - E_inf f)")
        return lambda n, k, p: self.kernel_taylor(n, k, p, component)

    #: defaults for the feature functions (the Taylor route truncates by total degree)
    _feature_defaults: ClassVar[dict[str, Any]] = {}

    def feature_coefficients(self, degree: int, level: int, *, component: int = 0, **options: Any) -> np.ndarray:
        """Coefficients c_w of E f(h_t) - E_inf f = <c, Phi_t(u)>.

        See :func:`volterra_sym.features.feature_coefficients`.
        """
        from .features.response_feature import feature_coefficients

        comp = self._component(component)[0]
        opts = {**self._feature_defaults, **options}
        return feature_coefficients(self._taylor_function(level, comp), degree, level, inputs=self.model.m, **opts)

    def predict_features(
        self, u: Any, t: Any, degree: int, level: int, *, component: int = 0, **options: Any
    ) -> np.ndarray:
        """E f(h_t) ~ E_inf f + <c, Phi_t(u)> (see :func:`volterra_sym.features.predict_features`)."""
        from .features.response_feature import predict_features

        comp = self._component(component)[0]
        self.check_feature_degree(degree, t)
        opts = {"why": self.feature_convergence_note(), **self._feature_defaults, **options}
        return predict_features(
            self._taylor_function(level, comp), self.mean0_number(comp), u, t, degree, level, **opts
        )

    def feature_convergence_note(self) -> str:
        """Why the response-feature series in P may converge slowly for this route ("" when nothing to add)."""
        return ""

    def check_feature_degree(self, degree: Any, t: Any) -> None:
        """Refuse a feature degree P at which the route knows the series in P cannot have converged (routes with
        no such knowledge accept every P; the last-shell estimate still judges the result)."""
        return None

    def mean0_number(self, component: int) -> float:
        """E_inf f_c as a float (stationary start)."""
        m0 = self.mean0
        val = m0[component] if self.model.vector_readout else m0
        return float(sp.N(val.xreplace(self.model.params))) if isinstance(val, sp.Basic) else float(val)

    # ---- documents -----------------------------------------------------------------
    @property
    def derivation(self) -> Derivation:
        """The derivation record (ordered steps with the real intermediate results)."""
        if self._derivation is None:
            self._derivation = self._build_derivation()
        return self._derivation

    @abstractmethod
    def _build_derivation(self) -> Derivation:
        """Assemble the derivation record of this route."""

    def to_latex(self, *, body_only: bool = False) -> str:
        """The derivation as a standalone LaTeX document (or its body)."""
        from .documents.export import to_latex

        return to_latex(self, body_only=body_only)

    def to_markdown(self, *, body_only: bool = False) -> str:
        """The derivation as Markdown (formulas in $...$)."""
        from .documents.export import to_markdown

        return to_markdown(self, body_only=body_only)

    def write_latex(self, path: Any) -> str:
        """Write :meth:`to_latex` to ``path``; returns the path."""
        from .documents.export import write_text

        return write_text(path, self.to_latex())

    def write_markdown(self, path: Any) -> str:
        """Write :meth:`to_markdown` to ``path``; returns the path."""
        from .documents.export import write_text

        return write_text(path, self.to_markdown())

    # ---- listings ------------------------------------------------------------------
    @abstractmethod
    def summary(self) -> str:
        """Human-readable listing of the kernels."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable summary of the kernels."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model.name!r}, method={self.method!r}, order={self.order}, "
            f"initial={self.model.initial!r})"
        )
