"""The Galerkin (Koopman-generator) route: kernels of any analytic model at any lag (MATH.md section 9).

``vs.derive(model, order, method="galerkin", degree=p)`` approximates the generator on
polynomials of total degree <= p orthonormal for a weight chosen from the model
(:mod:`.weights`, :mod:`.basis`), assembles M, Gamma_k, c_f and the initial functional
(:mod:`.assembly`, :mod:`.system`) and gives

    K^(n)_{k_1..k_n}(tau_1..tau_n ; s) = l e^{s M} Gamma_{k_n} e^{tau_n M} ... Gamma_{k_1} e^{tau_1 M} c_f.

Every kernel, zeroth-order term and prediction carries an error estimate from
systems of degrees p - 2, p and p + 2 on the same weight: |value(p) - value(p + 2)|
divided by 1 - rho, rho the observed contraction from p - 2 to p + 2 (the tail of a
geometric convergence; the plain difference underestimated it about 2x)
(``kernel_error``, ``predict(..., return_error=True)``); ``derive`` warns
(:class:`~volterra_sym.errors.ConvergenceWarning`) when the estimate of the
kernels exceeds ``tol`` on a grid of lags spanning the slowest relaxation time.
For linear SRNNs with polynomial readouts of degree <= p the route is exact.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import limits
from ...documents.derivation import Derivation, route_derivation
from ...errors import ArgumentError, ConvergenceWarning, ModelError, describe
from ...model.diffusion import OU, Diffusion
from ...response import Response, check_finite_prediction
from ...validate import (
    check_eps,
    check_flag,
    check_grid,
    check_int,
    check_int_sequence,
    check_numeric_model,
    input_samples,
    refusal,
)
from ..base import ContractCase, Route
from ..options import PILOT_SEED, Option
from .derivation import galerkin_steps
from .estimate import GalerkinEstimate, galerkin_error
from .system import DEGREE

#: default tolerance of the kernels' error estimate (relative to their largest value)
DEFAULT_TOL = 1e-4


#: first degree the automatic choice tries (n <= 2; one less step in higher dimensions)
AUTO_START = 6


def _check_weight(weight: Any, n: int) -> Any:
    """A ('gaussian', mean, cov) weight must be real, finite, of the state's dimension, cov symmetric
    positive definite; names are checked by the route's core."""
    if not (isinstance(weight, (tuple, list)) and weight and weight[0] == "gaussian"):
        return weight
    if len(weight) != 3:
        raise refusal("weight", f"expected ('gaussian', mean, cov), received {describe(weight)}")
    try:
        if np.iscomplexobj(weight[1]) or np.iscomplexobj(weight[2]):
            raise TypeError
        mean = np.asarray(weight[1], dtype=float).reshape(-1)
        cov = np.asarray(weight[2], dtype=float)
    except (TypeError, ValueError):
        why = f"mean and cov must be real numbers, received {describe(weight[1])}, {describe(weight[2])}"
        raise refusal("weight", why) from None
    cov = cov.reshape(1, 1) if cov.size == 1 and n == 1 else cov
    if mean.size != n or cov.shape != (n, n) or not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
        why = f"expected a finite mean of length {n} and a {n} x {n} cov, received shapes {mean.shape}, {cov.shape}"
        raise refusal("weight", why)
    if not np.allclose(cov, cov.T, rtol=1e-12, atol=0) or np.linalg.eigvalsh((cov + cov.T) / 2).min() <= 0:
        raise refusal("weight", f"cov must be symmetric positive definite, received {cov.tolist()}")
    return ("gaussian", mean, cov)


class GalerkinResponse(Response):
    """Kernels from the Galerkin generator, with error estimates (module docstring).

    Attributes: ``degree`` (p), ``N`` (basis size), ``weight`` (description), ``system`` (the degree-p
    :class:`~volterra_sym.routes.galerkin.system.GalerkinSystem`), ``estimate`` (p and p + 2),
    ``tol``.  ``kernel(n, k)`` is a vectorised callable of the lags.
    """


    def __init__(self, model: Diffusion, order: int, estimate: GalerkinEstimate, *, tol: float) -> None:
        super().__init__(model, order)
        self.estimate = estimate
        self.system = estimate.coarse
        self.degree = self.system.degree
        self.N = self.system.M.shape[0]
        self.weight = self.system.weight.describe()
        self.tol = tol
        #: the degrees the automatic choice tried (degree=None), the last one chosen; None for a given degree
        self.degrees_tried: list[int] | None = None

    # ---- kernels -------------------------------------------------------------------
    def kernel(self, n: int, k: Sequence[int] | int | None = None, component: int | None = None) -> Any:
        """K^(n)_k as a vectorised callable of (tau_1..tau_n[, s_n]) (arrays broadcast together)."""
        n = self._check_n(n)
        return self._lag_callable(n, self._k(n, k), component)

    def _split(self, n: int, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return lags[:, :n], (None if self.stationary else lags[:, n])

    def _kernel_values(self, n: int, ks: tuple[int, ...], lags: np.ndarray, component: int) -> np.ndarray:
        taus, s = self._split(n, lags)
        return np.asarray(self.system.kernel_values(n, ks, taus, component, s), dtype=float).reshape(-1)

    def kernel_error(
        self, n: int, k: Sequence[int] | int | None, lags: Any, component: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(K^(n)_k at ``lags``, error estimate |K_p - K_(p+2)|), lags as in :meth:`kernel_values`."""
        from ...validate import check_lag_array

        n = self._check_n(n)
        ks = self._k(n, k)
        comp = self._component(component)[0]
        width = n if self.stationary else n + 1
        L = check_lag_array(lags, width, stationary=self.stationary)
        taus, s = self._split(n, L.reshape(-1, width))
        val, err = self.estimate.kernel_values(n, ks, taus, comp, s)
        shape = L.shape[:-1]
        return np.asarray(val).reshape(shape), np.asarray(err).reshape(shape)

    def _transfer(self, n: int, ks: tuple[int, ...], component: int) -> Any:
        from .frequency import galerkin_transfer

        return galerkin_transfer(self.estimate, n, ks, component)

    @property
    def mean0(self) -> Any:
        """E f(h^0_t): a number (p-vector for vector readouts) for a stationary start, else a callable of t."""
        if self.stationary:
            vals = [float(np.asarray(self.system.mean0(np.zeros(1), c))[0]) for c in range(self.model.p)]
            return np.array(vals) if self.model.vector_readout else vals[0]

        def mean0(t: Any) -> np.ndarray:
            tt = np.asarray(t, dtype=float)
            cols = [self._mean0_values(tt, c) for c in range(self.model.p)]
            return np.stack(cols, axis=-1) if self.model.vector_readout else cols[0]

        return mean0

    def _mean0_values(self, t: np.ndarray, component: int) -> np.ndarray:
        return np.asarray(self.system.mean0(t, component), dtype=float)

    def kernel_taylor(self, n: int, k: Sequence[int] | int | None, p: Sequence[int], component: int = 0) -> Any:
        """d^{p_1}_{tau_1} ... d^{p_n}_{tau_n} K^(n)_k at zero lags:
        l Gamma_{k_n} M^{p_n} ... Gamma_{k_1} M^{p_1} c_f."""
        if not self.stationary:
            raise refusal("kernel_taylor", "needs the stationary start (point-mass kernels also depend on s_n)")
        n = self._check_n(n)
        ks = self._k(n, k)
        orders = p if isinstance(p, (tuple, list, np.ndarray)) else (p,)
        pp = check_int_sequence(orders, "p", n, what="derivative orders")
        limits.check_limit(sum(int(x) for x in pp), "p", "MAX_KERNEL_DERIVATIVE", limits.DERIVATIVE_ADVICE)
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(self.system.taylor_coefficient(n, ks, pp, self._component(component)[0]))
        if not np.isfinite(value):
            raise refusal(
                "p",
                f"the derivative of total order {sum(pp)} leaves the floating-point range in the degree-{self.degree} "
                "basis (l Gamma M^p c_f)",
                "ask for lower orders",
            )
        return value

    # ---- accuracy ------------------------------------------------------------------
    def probe_lags(self, n: int) -> np.ndarray:
        """Lags (m, n[+1]) on which the accuracy is checked: 0 to three slowest relaxation times."""
        horizon = 3.0 / max(self.slowest_rate(), 1e-3)
        grid = np.linspace(0.0, horizon, 7)
        width = n if self.stationary else n + 1
        return np.repeat(grid[:, None], width, axis=1) / (1 if n == 1 else n)

    def slowest_rate(self) -> float:
        """Re of the slowest relaxation rate (the eigenvalue of M nearest 0 besides the zero mode)."""
        rates = np.asarray(self.leading_rates(2))
        return float(abs(rates[0].real)) if rates.size and np.isfinite(rates[0]) else 1.0

    def leading_rates(self, k: int = 4) -> np.ndarray:
        """The k slowest relaxation rates -lambda (ARPACK for big bases: no dense eig of a large M)."""
        if k + 2 >= self.N or self.system.eigenvalues is not None or self.N <= 120:
            return np.asarray(self.system.rates(k=k))
        from scipy.sparse.linalg import eigs

        try:
            ev = eigs(self.system.M, k=k + 1, which="LR", return_eigenvectors=False, tol=1e-10)
        except Exception:  # ARPACK did not converge: the dense route
            return np.asarray(self.system.rates(k=k))
        ev = ev[np.argsort(-ev.real)]
        return -ev[1 : k + 1]

    def accuracy(self) -> dict[int, tuple[float, float]]:
        """{n: (largest |K^(n)| on the probe lags, largest error estimate there)} over every input tuple."""
        out = {}
        for n in range(1, self.order + 1):
            big, err = 0.0, 0.0
            for ks in self.index_tuples(n):
                for c in range(self.model.p):
                    v, e = self.kernel_error(n, ks, self.probe_lags(n), c)
                    big, err = max(big, float(np.max(np.abs(v)))), max(err, float(np.max(e)))
            out[n] = (big, err)
        return out

    def accuracy_problems(self) -> list[str]:
        """Where a kernel's error estimate exceeds ``tol`` relative to its size: one message per order (cached).
        ``derive`` warns with them; ``vs.verify`` does not pass a response that has any."""
        if "_problems" not in self.__dict__:
            found = []
            # an order's size is floored at sqrt(machine eps) x the largest kernel of any order: a kernel below
            # it is zero in double precision (K^(2), K^(4) of a cubic readout of a linear model), and its
            # rounding noise relative to itself says nothing about convergence
            accuracy = self.accuracy()
            overall = max((big for big, _ in accuracy.values()), default=0.0)
            floor = float(np.sqrt(np.finfo(float).eps)) * overall
            for n, (big, err) in accuracy.items():
                scale = max(big, floor) if max(big, floor) > 0 else 1.0
                msg = self.estimate.warning(err / scale, self.tol, f"order-{n} kernel (relative)")
                if msg:
                    found.append(msg)
            self.__dict__["_problems"] = found
        return list(self.__dict__["_problems"])

    def check_accuracy(self, stacklevel: int = 2) -> None:
        """Warn (ConvergenceWarning) where a kernel's error estimate exceeds ``tol`` relative to its size."""
        for msg in self.accuracy_problems():
            warnings.warn(msg, ConvergenceWarning, stacklevel=stacklevel)

    def _fastest_rate(self) -> float:
        """|lambda_max|: the largest modulus in the spectrum of M (the fastest mode of the basis)."""
        ev = self.system.eigenvalues if self.system.eigenvalues is not None else np.linalg.eigvals(self.system.M)
        return float(np.max(np.abs(ev))) if np.size(ev) else 0.0

    def feature_convergence_note(self) -> str:
        """The Taylor coefficients l Gamma M^p c_f grow like the spread of M's spectrum to the power p."""
        return (
            "Galerkin kernels: their Taylor coefficients l Gamma M^p c_f grow like |lambda_max|^p, lambda_max the "
            f"fastest mode of the degree-{self.degree} basis (|lambda_max| = {self._fastest_rate():.3g}), so the "
            "terms (|lambda_max| t)^P / P! of the series in P fall only once P is well above e |lambda_max| t."
        )

    def check_feature_degree(self, degree: Any, t: Any) -> None:
        """Refuse P below e |lambda_max| t: the shells (|lambda_max| t)^P / P! have not started to fall."""
        from ...errors import FeatureError

        try:
            horizon = float(np.max(np.abs(np.asarray(t, dtype=float))))
        except (TypeError, ValueError):
            return  # the grid's own checks speak
        if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not np.isfinite(horizon):
            return
        need = int(np.ceil(math.e * self._fastest_rate() * horizon))
        if degree < need:
            raise FeatureError(
                f"degree: the response-feature series of these Galerkin kernels does not converge at P = {degree} "
                f"on t up to {horizon:g}: it needs P of about {need} or more. {self.feature_convergence_note()} "
                "Use Response.predict (the forward hierarchy, no expansion in P), a shorter horizon, or features "
                "from exact or Taylor kernels."
            )

    # ---- prediction ----------------------------------------------------------------
    def predict(
        self, u: Any, t: Any, eps: float = 1.0, *, by_order: bool = False, return_error: bool = False, **options: Any
    ) -> Any:
        """E f(h_t) on the grid ``t`` by the forward hierarchy in the basis, O(N^2 len(t)) per order.

        ``u`` is read as the piecewise-linear interpolant of its samples on ``t`` (callables are sampled).
        ``return_error``: also return the error estimate |y_p - y_(p+2)| + the time-stepping error.
        Returns (len(t),) or (len(t), p); with ``by_order`` a leading axis of length order + 1.
        """
        if options:
            raise refusal(sorted(options)[0], "method='galerkin' predictions take no such option")
        check_flag(by_order, "by_order")
        check_flag(return_error, "return_error")
        check_numeric_model(self.model)
        tt = check_grid(t)
        e = check_eps(eps)
        U = input_samples(u, tt, self.model.m)
        # the core returns the orders y^(n) at eps = 1; the contract's parts are eps^n y^(n)
        scale = (e ** np.arange(self.order + 1)).reshape((-1,) + (1,) * (1 if not self.model.vector_readout else 2))
        if return_error:
            val, err = self.estimate.predict(U, tt, 1.0, True, self.order)
            err = np.abs(np.asarray(err, dtype=float) * scale)
        else:
            val, err = self.system.predict(U, tt, 1.0, True, self.order), None
        parts = np.asarray(val, dtype=float) * scale
        check_finite_prediction(parts, tt)
        res = parts if by_order else parts.sum(axis=0)
        if err is None:
            return res
        return res, (err if by_order else err.sum(axis=0))

    def higher_orders(self, u: Any, t: Any, eps: float = 1.0, extra: int = 2) -> np.ndarray:
        """eps^n y^(n)(t) for n = N+1 .. N+extra, shape (extra, len(t)[, p]): the first orders this response
        omits, by the same forward hierarchy continued on the same matrices (their size estimates the series
        truncation; ``vs.verify`` reports it)."""
        import dataclasses

        tt = check_grid(t)
        e = check_eps(eps)
        extra = check_int(extra, "extra", minimum=1, maximum=limits.MAX_ORDER)
        U = input_samples(u, tt, self.model.m)
        top = self.order + extra
        up = dataclasses.replace(self.system, order=top)
        parts = np.asarray(up.predict(U, tt, 1.0, True, top), dtype=float)[self.order + 1 :]
        powers = e ** np.arange(self.order + 1, top + 1)
        return parts * powers.reshape((-1,) + (1,) * (parts.ndim - 1))

    # ---- documents and listings ----------------------------------------------------
    def convergence_table(self, degrees: Sequence[int] | None = None, lags: Sequence[float] = (0.5, 1.0, 2.0)) -> Any:
        """K^(1) (first input, first component) at ``lags`` for several degrees on this weight: rows (p, values)."""
        from .system import build_galerkin

        if degrees is None:
            degrees = [d for d in (self.degree - 4, self.degree - 2) if d >= 1] + [self.degree, self.degree + 2]
        rows = []
        L = np.asarray(lags, dtype=float)[:, None]
        s = None if self.stationary else np.zeros(L.shape[0])
        for d in degrees:
            if d == self.degree:
                sys_d = self.system
            elif d == self.estimate.fine.degree:
                sys_d = self.estimate.fine
            else:
                sys_d = build_galerkin(self.system.model, d, weight=self.system.weight, order=1)
            rows.append((d, np.asarray(sys_d.kernel_values(1, (0,), L, 0, s), dtype=float)))
        return rows

    def _build_derivation(self) -> Derivation:
        return route_derivation(self, galerkin_steps(self))

    def summary(self, lags: Sequence[float] = (0.0, 0.5, 1.0, 2.0)) -> str:
        """A readable listing: the basis, the slowest rates, each kernel at a few equal lags, and per order the
        error estimate that ``tol`` judges (largest over the probe lags, relative to the largest |K|)."""
        rates = ", ".join(f"{complex(r).real:.4g}" for r in self.leading_rates(3))
        lines = [
            f"GalerkinResponse(order={self.order}, degree={self.degree}, N={self.N}, weight={self.weight}, "
            f"slowest rates {rates})"
        ]
        if self.degrees_tried:
            tried = self.degrees_tried
            lines.append(f"  degree {self.degree} chosen automatically (tried {tried}; tol = {self.tol:g})")
        if self.stationary:
            lines.append(f"  E f(h^0_t) = {self.mean0}")
        accuracy = self.accuracy()
        for n in range(1, self.order + 1):
            width = n if self.stationary else n + 1
            pts = np.repeat(np.asarray(lags, dtype=float)[:, None], width, axis=1)
            for ks in self.index_tuples(n):
                v, _ = self.kernel_error(n, ks, pts, 0)
                label = ",".join(str(k + 1) for k in ks)
                lines.append(f"  K^({n})_[{label}] at equal lags {list(lags)}: {np.round(v, 8).tolist()}")
            big, err = accuracy[n]
            rel = err / big if big > 0 else err
            verdict = "meets" if rel <= self.tol else "EXCEEDS"
            horizon = float(np.max(self.probe_lags(n)) * (1 if n == 1 else n))
            lines.append(
                f"  order {n}: error estimate {err:.2g} on lags 0..{horizon:.3g} = {rel:.2g} relative to max |K| "
                f"{big:.3g}; {verdict} tol = {self.tol:g}"
            )
        return "\n".join(lines)

    def to_json(self, lags: Sequence[float] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)) -> dict[str, Any]:
        """Kernel values and error estimates at equal lags, the basis and the slowest rates."""
        out: dict[str, Any] = {
            "model": repr(self.model),
            "method": self.method,
            "order": self.order,
            "degree": self.degree,
            "basis_size": self.N,
            "weight": self.weight,
            "rates": [[complex(r).real, complex(r).imag] for r in self.leading_rates(4)],
            "kernels": [],
        }
        for n in range(1, self.order + 1):
            width = n if self.stationary else n + 1
            pts = np.repeat(np.asarray(lags, dtype=float)[:, None], width, axis=1)
            for ks in self.index_tuples(n):
                v, e = self.kernel_error(n, ks, pts, 0)
                out["kernels"].append(
                    {"n": n, "k": list(ks), "equal_lags": list(lags), "values": v.tolist(), "errors": e.tolist()}
                )
        return out


class GalerkinRoute(Route):
    """Galerkin approximation of the generator on a polynomial basis (any analytic model, any lag)."""

    name = "galerkin"
    summary = "numerical kernels at any lag from a Galerkin (polynomial-basis) generator, any dimension"
    schema = (
        DEGREE,
        Option(
            "weight",
            "value",
            "reference weight: None (chosen from the model), 'pilot', 'linearisation', 'stationary-1d', "
            "or ('gaussian', mean, cov)",
            choices=("pilot", "linearisation", "stationary-1d"),
        ),
        Option(
            "tol", "number", "tolerance of the kernels' error estimate |K_p - K_(p+2)| / max|K|", default=DEFAULT_TOL
        ),
        Option(
            "max_memory",
            "int",
            "bytes the Galerkin matrices may take (default vs.limits.GALERKIN_MEMORY); a larger basis is refused "
            "up front",
            minimum=1,
        ),
        PILOT_SEED,
    )
    response = GalerkinResponse

    def _derive(self, model: Diffusion, order: int | None, **options: Any) -> GalerkinResponse:
        assert order is not None  # the base class requires it (default_order is False)
        weight = None if options["weight"] is None else _check_weight(options["weight"], model.n)
        if options["degree"] is None:  # the lowest degree whose error estimate meets tol
            build = {"weight": weight, "max_memory": options["max_memory"], "seed": options["seed"]}
            return self._auto_degree(model, order, float(options["tol"]), build)
        try:
            estimate = galerkin_error(
                model,
                options["degree"],
                order=order,
                levels="tail",
                weight=weight,
                max_memory=options["max_memory"],
                seed=options["seed"],
            )
        except np.linalg.LinAlgError as exc:
            raise ModelError(
                f"weight: the reference weight chosen from the model is degenerate ({exc}); the noise may be too "
                "small against the drift for a polynomial basis; give weight=('gaussian', mean, cov) explicitly, "
                "or use Monte Carlo (vs.estimate_kernels)"
            ) from None
        resp = GalerkinResponse(model, order, estimate, tol=options["tol"])
        resp.check_accuracy(stacklevel=5)
        return resp

    def _auto_degree(self, model: Diffusion, order: int, tol: float, build: dict[str, Any]) -> GalerkinResponse:
        """The lowest degree AUTO_START, AUTO_START + 2, ... whose error estimate meets ``tol``, within
        MAX_GALERKIN_DEGREE and the memory guard; warns (ConvergenceWarning) with the last one otherwise.
        One weight for every try; each degree's system is built once (a try at p uses p - 2, p, p + 2)."""
        from .analytic import check_analytic
        from .system import build_galerkin
        from .weights import choose_weight

        num = model.with_values() if model.parameters else model
        check_analytic(num)
        opts = {k: v for k, v in build.items() if v is not None}
        try:
            weight = choose_weight(num, opts.pop("weight", None), seed=opts.get("seed", 0))
        except np.linalg.LinAlgError as exc:
            raise ModelError(f"weight: the reference weight chosen from the model is degenerate ({exc})") from None
        systems: dict[int, Any] = {}

        def system(p: int) -> Any:
            if p not in systems:
                systems[p] = build_galerkin(num, p, weight=weight, order=order, **opts)
            return systems[p]

        degree = AUTO_START if model.n <= 2 else AUTO_START - 2
        tried: list[int] = []
        resp: GalerkinResponse | None = None
        stop = ""
        while degree + 2 <= limits.MAX_GALERKIN_DEGREE:  # the estimate builds degree + 2 too
            try:
                estimate = GalerkinEstimate(system(degree), system(degree + 2), coarser=system(degree - 2))
            except ArgumentError as exc:  # the memory guard (on degree): keep the last degree that fitted
                if resp is None or not str(exc).startswith("degree"):
                    raise
                stop = f"degree {degree} exceeds the memory guard ({str(exc).split(';')[0]})"
                break
            resp = GalerkinResponse(model, order, estimate, tol=tol)
            tried.append(degree)
            if not resp.accuracy_problems():
                break
            systems.pop(degree - 2, None)  # no longer needed
            degree += 2
        else:
            stop = f"the next degree exceeds MAX_GALERKIN_DEGREE = {limits.MAX_GALERKIN_DEGREE}"
        assert resp is not None
        resp.degrees_tried = tried
        if resp.accuracy_problems():
            note = f"galerkin: degree chosen automatically stopped at {resp.degree} ({stop or 'no degree met tol'}); "
            for msg in resp.accuracy_problems():
                warnings.warn(note + msg, ConvergenceWarning, stacklevel=5)
        return resp

    def contract_case(self) -> ContractCase:
        ou = OU(1.0, 1.0, 0.5, readout="h1**2 + h1")
        return ContractCase(
            ou,
            2,
            {"degree": 3},
            refuses={"write_module": f"write_module: method={self.name!r} computes its kernels numerically"},
        )
