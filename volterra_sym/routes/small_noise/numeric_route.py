"""The small-noise route for networks (n > 6, or ``engine="numeric"``): :class:`NumericSmallNoiseResponse`.

The kernels K^(0) and K^(1) come from the numeric engine (``numeric.py``), not as formulas: ``kernel`` gives
a vectorised callable of the lags, ``kernel_values`` the numbers, each with an error estimate that adds the
expansion's O(s^4) remainder (as ``route.py``) and the time integration's error (step doubling).  Order 2
and ``predict`` are refused in one sentence each, naming the alternatives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from ...documents.derivation import Derivation, Equation, Step
from ...errors import ArgumentError
from ...model.diffusion import Diffusion
from ...model.structure import NetworkStructure
from ...response import Response
from .guard import MAX_RATIO, GuardReport, find_fixed_point, pilot_covariance
from .local import ALTERNATIVES, ModelFunctions
from .numeric import NetworkPoint, NumericExpansion, check_network, network_point, quadratic_readouts

#: the unknown constant of the s^4 term (as route.ERROR_SAFETY)
ERROR_SAFETY = 2.0
#: lag grid on which the kernels' sizes are measured (points up to eight slowest relaxation times)
SIZE_POINTS = 41
_K1_FORMULA = r"(f' + f'' m^*)\cdot a + f'\cdot \delta m + \tfrac12 \operatorname{tr}(f''\,\delta P)"


def derive_numeric(
    model: Diffusion,
    S: NetworkStructure | None,
    order: int | None,
    *,
    noise_order: int,
    guard: bool,
    seed: int,
    tol: float,
) -> NumericSmallNoiseResponse:
    """Refuse what the engine does not cover, find h* (guard), build the engine, check the s^2 ratio
    (``S``: the model's network structure, None when it has none)."""
    check_network(S, quadratic_readouts(model, np.zeros(model.n)), model.n)
    assert S is not None
    if order is not None and order > 1:
        raise ArgumentError(
            f"order: the numeric engine of method='small_noise' (n = {model.n} > 6) builds K^(0) and K^(1), received "
            f"order {order}; for K^(2) use Monte Carlo kernels (vs.estimate_kernels)"
        )
    funcs = ModelFunctions(model, S)
    h, report = find_fixed_point(funcs, S.sigma, seed, guard)
    readouts = quadratic_readouts(model, h)
    assert readouts is not None
    pt = network_point(S, h, True)
    if guard:
        pilot_covariance(funcs, S.sigma, h, pt.J, pt.P, seed, report)
    resp = NumericSmallNoiseResponse(
        model,
        1,
        noise_order=noise_order,
        structure=S,
        point=pt,
        expansion=NumericExpansion(S, pt, readouts, tol),
        guard=report,
    )
    ratio = resp.expansion_ratio()
    if guard and not resp.terminates and ratio > MAX_RATIO:
        raise ArgumentError(
            f"model: the s^2 term of the small-noise expansion is {ratio:.2g} times the leading term (over the "
            f"kernels and lags), above {MAX_RATIO}: the noise is too large for the expansion; {ALTERNATIVES}"
        )
    return resp


class NumericSmallNoiseResponse(Response):
    """K^(0) and K^(1) = K_0 (+ s^2 K_2) of an SRNN network by the numeric engine (module docstring).

    Attributes: ``noise_order``; ``point`` (h*, J's eigen-decomposition, P, m*; :class:`NetworkPoint`);
    ``guard`` (:class:`GuardReport`); ``terminates`` (linear network: the expansion is exact at s^2).
    """

    method = "small_noise"

    def __init__(
        self,
        model: Diffusion,
        order: int,
        *,
        noise_order: int,
        structure: NetworkStructure,
        point: NetworkPoint,
        expansion: NumericExpansion,
        guard: GuardReport,
    ) -> None:
        super().__init__(model, order)
        self.noise_order = noise_order
        self.structure = structure
        self.point = point
        self.expansion = expansion
        self.guard = guard
        self.terminates = not (np.any(point.a2) or np.any(point.a3))
        self._numerical: dict[tuple[int, int], float] = {}
        self._sizes: dict[tuple[int, int], tuple[float, float]] = {}

    # ---- kernels -------------------------------------------------------------------------
    def kernel(self, n: int, k: Any = None, component: int | None = None) -> Any:
        """K^(1)_k as a vectorised callable of the lag (no formulas: the numeric engine gives numbers)."""
        n = self._check_n(n)
        return self._lag_callable(n, self._k(n, k), component)

    def _kernel_values(self, n: int, ks: tuple[int, ...], lags: np.ndarray, component: int) -> np.ndarray:
        vals, err = self.expansion.first_order(ks[0], component, lags[:, 0], self.noise_order == 2)
        key = (ks[0], component)
        self._numerical[key] = max(self._numerical.get(key, 0.0), err)
        return vals

    @property
    def mean0(self) -> Any:
        vals = [sp.Float(self.expansion.mean(c, self.noise_order == 2), 17) for c in range(self.model.p)]
        return sp.Matrix(vals) if self.model.vector_readout else vals[0]

    def predict(self, u: Any, t: Any, eps: float = 1.0, *, by_order: bool = False, **options: Any) -> Any:
        raise ArgumentError(
            f"predict: the numeric engine of method='small_noise' (n = {self.model.n} > 6) gives kernel values, not a "
            "predictor; use kernel_values with your own quadrature, or vs.simulate_response (Monte Carlo)"
        )

    # ---- the error estimate --------------------------------------------------------------
    def lag_horizon(self) -> float:
        """Lags over which sizes are measured: 8 slowest relaxation times of J."""
        return float(8.0 / -np.max(self.point.lam.real))

    def _size(self, k: int, c: int) -> tuple[float, float]:
        """(max |K_0|, max |s^2 K_2|) of K^(1)_k on SIZE_POINTS lags up to the horizon."""
        if (k, c) not in self._sizes:
            g = np.linspace(0.0, self.lag_horizon(), SIZE_POINTS)
            k0, _ = self.expansion.first_order(k, c, g, False)
            k2, err = self.expansion.first_order(k, c, g, True)
            self._numerical[(k, c)] = max(self._numerical.get((k, c), 0.0), err)
            self._sizes[(k, c)] = (float(np.max(np.abs(k0))), float(np.max(np.abs(k2 - k0))))
        return self._sizes[(k, c)]

    def curvature_ratio(self, component: int = 0) -> float:
        """rho = kappa^2 |phi''|^2 |P| + kappa |phi'''| |P|, kappa = |J^{-1}| and |P| spectral norms; |phi''| and
        |phi'''| are the spectral norms of the tensors' first unfoldings (n x n^2 and n x n^3), upper bounds of
        sup |phi''[u, v]| and sup |phi'''[u, v, w]| over unit vectors that, unlike the Frobenius norms, do not
        grow like sqrt(n) with the number of units.  For the network they are sqrt(lambda_max(M_k)),
        M_k = (a_k a_k^T) * (W W^T)^k element-wise (k = 2, 3; powers element-wise too): O(n^3), no n^3
        array.  The readout (degree <= 2) adds nothing."""
        pt = self.point
        G = self.structure.W @ self.structure.W.T
        kappa = float(np.linalg.norm(np.linalg.inv(pt.J), 2))
        p = float(np.linalg.norm(pt.P, 2))

        def unfolding(a: np.ndarray, k: int) -> float:
            return float(np.sqrt(max(float(np.linalg.eigvalsh(np.outer(a, a) * G**k)[-1]), 0.0)))

        return kappa**2 * unfolding(pt.a2, 2) ** 2 * p + kappa * unfolding(pt.a3, 3) * p

    def numerical_error(self, k: Any = None, component: int = 0) -> float:
        """The time integration's estimated max |error| of K^(1)_k (step doubling) over the lags computed so far."""
        c = self._component(component)[0]
        kk = self._k(1, k)[0]
        self._size(kk, c)
        return self._numerical[(kk, c)]

    def error_estimate(self, n: int = 1, k: Any = None, component: int = 0) -> float:
        """Estimated max |error| of K^(n)_k over the lags (n = 0: the mean): the expansion's remainder as in
        :meth:`SmallNoiseResponse.error_estimate` (degree <= 2 readouts: no f'''' term) plus, for n = 1,
        :meth:`numerical_error`."""
        c = self._component(component)[0]
        if n == 0:
            if self.terminates and self.noise_order == 2:
                return 0.0
            r, pt = self.expansion.readouts[c], self.point
            parts = abs(float(r.f1 @ pt.m)) + 0.5 * abs(float(np.sum(r.F2 * pt.P)))
            rem = ERROR_SAFETY * parts * self.curvature_ratio(c)
            return float(rem if self.noise_order == 2 else parts + rem)
        kk = self._k(self._check_n(n), k)[0]
        lead, corr = self._size(kk, c)
        num = self._numerical[(kk, c)]
        if self.terminates and self.noise_order == 2:
            return num
        own = corr / lead if lead > 0 else (0.0 if corr == 0 else float("inf"))
        rem = ERROR_SAFETY * corr * max(own, self.curvature_ratio(c))
        return float((rem if self.noise_order == 2 else corr + rem) + num)

    def expansion_ratio(self) -> float:
        """max over the first-order kernels of max|s^2 K_2| / max|K_0|."""
        out = 0.0
        for c in range(self.model.p):
            for k in range(self.model.m):
                lead, corr = self._size(k, c)
                out = max(out, corr / lead if lead > 0 else (0.0 if corr == 0 else float("inf")))
        return out

    # ---- documents and listings ------------------------------------------------------------
    def _spectrum(self) -> dict[str, float]:
        lam = self.point.lam
        return {
            "slowest_rate": float(-np.max(lam.real)),
            "fastest_rate": float(-np.min(lam.real)),
            "max_abs": float(np.max(np.abs(lam))),
            "max_imag": float(np.max(np.abs(lam.imag))),
            "eigenvector_condition": self.point.condition,
        }

    def _p_summary(self) -> dict[str, float]:
        P = self.point.P
        ev = np.linalg.eigvalsh(P)
        return {
            "trace": float(np.trace(P)),
            "max_eigenvalue": float(ev[-1]),
            "min_eigenvalue": float(ev[0]),
            "lyapunov_residual": self.point.lyapunov_residual,
        }

    def _error_dict(self) -> dict[str, float]:
        out = {}
        for c in range(self.model.p):
            out[f"K0[{c}]"] = self.error_estimate(0, component=c)
            for k in range(self.model.m):
                out[f"K1[{k}][{c}]"] = self.error_estimate(1, (k,), c)
        return out

    def to_json(self) -> dict[str, Any]:
        m0 = self.mean0
        return {
            "method": self.method,
            "engine": "numeric",
            "model": self.model.name,
            "n": self.model.n,
            "order": self.order,
            "noise_order": self.noise_order,
            "mean0": [float(x) for x in m0] if self.model.vector_readout else float(m0),
            "fixed_point": self.point.h.tolist(),
            "jacobian_spectrum": self._spectrum(),
            "lyapunov_covariance": self._p_summary(),
            "mean_shift": self.point.m.tolist(),
            "time_step": self.expansion.time_step,
            "error_estimates": self._error_dict(),
            "expansion_ratio": self.expansion_ratio(),
            "curvature_ratio": self.curvature_ratio(),
            "guard": self.guard.as_dict(),
        }

    def summary(self) -> str:
        sp_ = self._spectrum()
        ps = self._p_summary()
        lines = [
            f"method='small_noise' (numeric engine, n = {self.model.n}): K^(0), K^(1) to s^{self.noise_order} of "
            f"'{self.model.name}'",
            f"  h*: |h*|_max = {np.max(np.abs(self.point.h)):.4g}; spec J: rates {sp_['slowest_rate']:.4g}.."
            f"{sp_['fastest_rate']:.4g}, max |Im| {sp_['max_imag']:.4g}, eigenvector condition "
            f"{sp_['eigenvector_condition']:.3g}",
            f"  P: trace {ps['trace']:.4g}, eigenvalues {ps['min_eigenvalue']:.3g}..{ps['max_eigenvalue']:.3g}, "
            f"Lyapunov residual {ps['lyapunov_residual']:.2g}",
            f"  expansion ratio max|s^2 K_2|/max|K_0| = {self.expansion_ratio():.3g}, curvature ratio "
            f"{self.curvature_ratio():.3g}, time step {self.expansion.time_step:.3g}",
        ]
        for name, val in self._error_dict().items():
            lines.append(f"  estimated error of {name}: {val:.2e}")
        lines.append(self.guard.summary_line())
        return "\n".join(lines)

    def _build_derivation(self) -> Derivation:
        """Fixed point, spectrum, P, the (a, dP, dm) system, the numbers and the error estimate (no n x n
        matrices printed: summaries)."""
        pt, sp_, ps = self.point, self._spectrum(), self._p_summary()
        F = lambda x: sp.Float(x, 6)  # noqa: E731
        steps = [
            Step(
                "model",
                "The network",
                f"phi(h) = -Gamma h + a(W h + b) with a = {self.structure.activation}, n = {self.model.n} units, "
                f"{self.model.m} input(s), constant coupling C and noise sigma (D = sigma sigma^T, trace "
                f"{np.trace(pt.D):.4g}).",
            ),
            Step(
                "fixed_point",
                "Fixed point, Jacobian spectrum, Lyapunov covariance",
                "h* by Newton; J = -Gamma + diag(a'(z*)) W = V diag(lambda) V^{-1}, z* = W h* + b; P from "
                "J P + P J^T + D = 0 in J's eigenbasis; m* = -J^{-1} (a''(z*) * diag(W P W^T)) / 2.",
                [
                    Equation(r"\max_i |h^*_i|", F(np.max(np.abs(pt.h)))),
                    Equation(r"-\max \operatorname{Re}\lambda", F(sp_["slowest_rate"]), note="slowest rate"),
                    Equation(r"-\min \operatorname{Re}\lambda", F(sp_["fastest_rate"]), note="fastest rate"),
                    Equation(r"\max |\operatorname{Im}\lambda|", F(sp_["max_imag"])),
                    Equation(r"\operatorname{cond} V", F(sp_["eigenvector_condition"])),
                    Equation(r"\operatorname{tr} P", F(ps["trace"])),
                    Equation(r"\lambda_{\max}(P)", F(ps["max_eigenvalue"])),
                    Equation(r"\|J P + P J^\top + D\| / \|D\|", F(ps["lyapunov_residual"])),
                    Equation(r"\max_i |m^*_i|", F(np.max(np.abs(pt.m)))),
                    Equation(sp.Symbol("K^{(0)}"), self.mean0.evalf(8)),
                ],
            ),
            Step(
                "terms",
                "The first-order kernel",
                "K^(1)_k(tau) is the readout of the linearised (a, dP, dm) system (MATH.md section 10, "
                "docs/small_noise.md): a = e^{J tau} C_k in closed form; dP' = J dP + dP J^T + diag(a'' * W a) W P "
                "+ (.)^T and dm' = J dm + diag(l) W a + a'' * diag(W dP W^T) / 2 integrated on a uniform grid "
                f"(step {self.expansion.time_step:.3g}; exact propagators, 3-point Gauss-Legendre sources, "
                "exponential integration of a degree-5 interpolant in J's eigenbasis); "
                "K^(1) = (f' + f''m*).a + f'.dm + tr(f'' dP)/2.",
                [Equation(r"K^{(1)}_k(\tau)", _K1_FORMULA)],
            ),
            Step(
                "error",
                "Error estimate and guard",
                "Expansion remainder 2 |s^2 K_2| max(|s^2 K_2|/|K_0|, rho) plus the time integration's error "
                "(step doubling), max over lags up to eight slowest relaxation times. "
                + (
                    f"Guard: {len(self.guard.fixed_points)} fixed point(s), one stable; pilot covariance vs P "
                    f"{100 * self.guard.covariance_gap:.1f}%."
                    if self.guard.ran
                    else "The guard was not run (guard=False)."
                ),
                [Equation(rf"\text{{error}}({name})", sp.Float(v, 3)) for name, v in self._error_dict().items()],
            ),
        ]
        return Derivation(title=f"Response kernels of the model '{self.model.name}'", steps=steps)
