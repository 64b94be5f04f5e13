"""The small-noise route for networks (n > 6, or ``engine="numeric"``): :class:`NumericSmallNoiseResponse`.

The kernels K^(0), K^(1) (``numeric.py``) and K^(2) (``numeric_second.py``) come from the numeric engine,
not as formulas: ``kernel`` gives a vectorised callable of the lags, ``kernel_values`` the numbers, each with
an error estimate that adds the expansion's O(s^4) remainder (as ``route.py``) and the time integration's
error (step doubling).  ``predict`` integrates the moment system's perturbation hierarchy (``numeric_predict.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from ...documents.derivation import Derivation, Equation, Step
from ...model.diffusion import Diffusion
from ...model.structure import NetworkStructure
from ...response import Response, check_finite_prediction
from ...validate import check_eps, check_flag, check_grid, input_samples, refusal
from .guard import GuardReport, check_expansion_ratio, find_fixed_point, pilot_covariance
from .local import ModelFunctions
from .numeric import (
    NetworkPoint,
    NumericExpansion,
    channel_alphas,
    channel_couplings,
    check_network,
    network_point,
    readout_polynomials,
)
from .numeric_predict import Hierarchy, uniform_step
from .numeric_second import SecondOrderKernels

#: the unknown constant of the s^4 term (as route.ERROR_SAFETY)
ERROR_SAFETY = 2.0
#: lag grid on which the kernels' sizes are measured (points up to eight slowest relaxation times; fewer
#: for tau2 of K^(2), whose every distinct tau2 is one time integration)

SIZE_POINTS = 41
SIZE_POINTS_2 = 9
_K1_FORMULA = r"(f' + f'' m^* + \tfrac12 f'''[P])\cdot a + f'\cdot \delta m + \tfrac12 \operatorname{tr}(f''\,\delta P)"
_K2_FORMULA = (
    r"(f' + f'' m^* + \tfrac12 f'''[P])\cdot Z_a + f'\cdot Z_m + \tfrac12 \operatorname{tr}(f'' Z_P) + f''[a_1, a_2] "
    r"+ f'''[a_1, a_2, m^*] + f''[a_1, \delta m_2] + f''[a_2, \delta m_1] + \tfrac12 f'''[a_1][\delta P_2] "
    r"+ \tfrac12 f'''[a_2][\delta P_1]"
)


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
    polys = readout_polynomials(model)
    check_network(S, polys, model.n)
    assert S is not None and not isinstance(polys, str)
    funcs = ModelFunctions(model, S)
    h, report = find_fixed_point(funcs, S.sigma, seed, guard)
    readouts = [poly.at(h) for poly in polys]
    pt = network_point(S, h, True)
    alphas = channel_alphas(model.meta["input_channels"], S.m) if S.input == "inside" else None
    couplings = channel_couplings(S, pt, alphas)
    if guard:
        pilot_covariance(funcs, S.sigma, h, pt.J, pt.P, seed, report)
    resp = NumericSmallNoiseResponse(
        model,
        1 if order is None else order,
        noise_order=noise_order,
        structure=S,
        point=pt,
        expansion=NumericExpansion(S, pt, readouts, couplings, tol),
        guard=report,
    )
    check_expansion_ratio(resp.expansion_ratio(), guard, resp.terminates)
    return resp


class NumericSmallNoiseResponse(Response):
    """K^(0), K^(1) and K^(2), each K_0 (+ s^2 K_2), of an SRNN network by the numeric engine (module docstring).

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
        self.terminates = not (np.any(point.a2) or np.any(point.a3)) and all(g.constant for g in expansion.couplings)
        self.second = SecondOrderKernels(structure, point, expansion.readouts, expansion.couplings, expansion.time_step)
        #: the time integration's estimated max |error| per (order, inputs, component) over the lags so far
        self._numerical: dict[tuple[int, tuple[int, ...], int], float] = {}
        self._sizes: dict[tuple[int, tuple[int, ...], int], tuple[float, float]] = {}

    # ---- kernels -------------------------------------------------------------------------
    def kernel(self, n: int, k: Any = None, component: int | None = None) -> Any:
        """K^(n)_k as a vectorised callable of the lags (no formulas: the numeric engine gives numbers)."""
        n = self._check_n(n)
        return self._lag_callable(n, self._k(n, k), component)

    def _kernel_values(self, n: int, ks: tuple[int, ...], lags: np.ndarray, component: int) -> np.ndarray:
        noise = self.noise_order == 2
        if n == 1:
            vals, err = self.expansion.first_order(ks[0], component, lags[:, 0], noise)
        else:
            both, errs = self.second.values(ks, lags, noise)
            vals, err = both[component], float(errs[component])
        key = (n, ks, component)
        self._numerical[key] = max(self._numerical.get(key, 0.0), err)
        return vals

    @property
    def mean0(self) -> Any:
        vals = [sp.Float(self.expansion.mean(c, self.noise_order == 2), 17) for c in range(self.model.p)]
        return sp.Matrix(vals) if self.model.vector_readout else vals[0]

    def predict(
        self, u: Any, t: Any, eps: float = 1.0, *, by_order: bool = False, return_error: bool = False, **options: Any
    ) -> Any:
        """E f(h_t) on a uniform grid ``t`` by the moment system's perturbation hierarchy (``numeric_predict.py``;
        the input read as the piecewise-linear interpolant of its samples).

        ``return_error=True`` also returns the estimated error per time (per order with ``by_order``), as
        :meth:`SmallNoiseResponse.predict`: order 0 the mean's :meth:`error_estimate`; order n >= 1 the running
        maximum of |noise_order 2 - noise_order 0| times the small parameter (plus that maximum at noise_order
        0), plus the time integration's error, estimated by step halving as 2 |y(s) - y(2 s)| (s substeps per
        interval; near the input's kinks the scheme is of order 2, where halving leaves 3/4 of the error).
        """
        by_order = check_flag(by_order, "by_order")
        return_error = check_flag(return_error, "return_error")
        if options:
            raise refusal(
                "options",
                f"the numeric engine's predict takes no options, received {sorted(options)}; its time step "
                "follows step_tol of derive",
            )
        tt = check_grid(t)
        e = check_eps(eps, self.order)
        U = input_samples(u, tt, self.model.m)
        H = uniform_step(tt)
        hier = Hierarchy(self.structure, self.point, self.expansion.readouts, self.expansion.couplings)
        s = max(1, int(np.ceil(H / self.expansion.time_step - 1e-9)))  # substeps per interval
        noise = self.noise_order == 2
        powers = e ** np.arange(1, self.order + 1)[:, None, None]
        p = self.model.p
        parts = np.zeros((self.order + 1, tt.size, p))
        parts[0] = [self.expansion.mean(c, noise) for c in range(p)]
        parts[1:] = hier.orders(U, H, s, self.order, noise) * powers
        err = np.zeros_like(parts)
        if return_error:
            finer = hier.orders(U, H, 2 * s, self.order, noise) * powers  # step halving: the error of s
            other = hier.orders(U, H, s, self.order, not noise) * powers
            envelope = np.maximum.accumulate(np.abs(parts[1:] - other), axis=1)
            rho = np.array(
                [
                    0.0 if self.terminates else ERROR_SAFETY * max(self.expansion_ratio(), self.curvature_ratio(c))
                    for c in range(p)
                ]
            )
            err[1:] = envelope * rho + (envelope if not noise else 0.0) + 2.0 * np.abs(parts[1:] - finer)
            err[0] = [self.error_estimate(0, component=c) for c in range(p)]
        check_finite_prediction(parts, tt)
        if not self.model.vector_readout:
            parts, err = parts[..., 0], err[..., 0]
        out = parts if by_order else parts.sum(axis=0)
        if not return_error:
            return out
        return out, (err if by_order else err.sum(axis=0))

    # ---- the error estimate --------------------------------------------------------------

    def lag_horizon(self) -> float:
        """Lags over which sizes are measured: 8 slowest relaxation times of J."""
        return float(8.0 / -np.max(self.point.lam.real))

    def _size(self, n: int, ks: tuple[int, ...], c: int) -> tuple[float, float]:
        """(max |K_0|, max |s^2 K_2|) of K^(n)_ks on SIZE_POINTS lags (n = 1) or SIZE_POINTS x SIZE_POINTS_2
        lag pairs (tau1, tau2) (n = 2) up to the horizon."""
        key = (n, ks, c)
        if key not in self._sizes:
            if n == 1:
                g = np.linspace(0.0, self.lag_horizon(), SIZE_POINTS)
                k0, _ = self.expansion.first_order(ks[0], c, g, False)
                k2, err = self.expansion.first_order(ks[0], c, g, True)
            else:
                g1 = np.linspace(0.0, self.lag_horizon(), SIZE_POINTS)  # tau1: one integration for all
                g2 = np.linspace(0.0, self.lag_horizon(), SIZE_POINTS_2)
                L = np.stack(np.meshgrid(g1, g2, indexing="ij"), axis=-1).reshape(-1, 2)
                k0 = self.second.values(ks, L, False)[0][c]
                two, errs = self.second.values(ks, L, True)
                k2, err = two[c], float(errs[c])
            self._numerical[key] = max(self._numerical.get(key, 0.0), err)
            self._sizes[key] = (float(np.max(np.abs(k0))), float(np.max(np.abs(k2 - k0))))
        return self._sizes[key]

    def curvature_ratio(self, component: int = 0) -> float:
        """rho = kappa^2 |phi''|^2 |P| + kappa |phi'''| |P|, kappa = |J^{-1}| and |P| spectral norms; |phi''| and
        |phi'''| are the spectral norms of the tensors' first unfoldings (n x n^2 and n x n^3), upper bounds of
        sup |phi''[u, v]| and sup |phi'''[u, v, w]| over unit vectors that, unlike the Frobenius norms, do not
        grow like sqrt(n) with the number of units.  For the network they are sqrt(lambda_max(M_k)),
        M_k = (a_k a_k^T) * (W W^T)^k element-wise (k = 2, 3; powers element-wise too): O(n^3), no n^3
        array.  The readout (degree <= 3: f'''' = 0) adds nothing."""
        pt = self.point
        G = self.structure.W @ self.structure.W.T
        kappa = float(np.linalg.norm(np.linalg.inv(pt.J), 2))
        p = float(np.linalg.norm(pt.P, 2))

        def unfolding(a: np.ndarray, k: int) -> float:
            return float(np.sqrt(max(float(np.linalg.eigvalsh(np.outer(a, a) * G**k)[-1]), 0.0)))

        return kappa**2 * unfolding(pt.a2, 2) ** 2 * p + kappa * unfolding(pt.a3, 3) * p

    def numerical_error(self, k: Any = None, component: int = 0, n: int = 1) -> float:
        """The time integration's estimated max |error| of K^(n)_k (step doubling) over the lags computed so far
        (the size grid of :meth:`error_estimate` included)."""
        c = self._component(component)[0]
        ks = self._k(self._check_n(n), k)
        self._size(n, ks, c)
        return self._numerical[(n, ks, c)]

    def error_estimate(self, n: int = 1, k: Any = None, component: int = 0) -> float:
        """Estimated max |error| of K^(n)_k over the lags (n = 0: the mean): the expansion's remainder as in
        :meth:`SmallNoiseResponse.error_estimate` (readouts of degree <= 3: no f'''' term) plus, for n >= 1,
        :meth:`numerical_error`."""
        c = self._component(component)[0]
        if n == 0:
            if self.terminates and self.noise_order == 2:
                return 0.0
            r, pt = self.expansion.readouts[c], self.point
            parts = abs(float(r.f1 @ pt.m)) + 0.5 * abs(float(np.sum(r.F2 * pt.P)))
            rem = ERROR_SAFETY * parts * self.curvature_ratio(c)
            return float(rem if self.noise_order == 2 else parts + rem)
        ks = self._k(self._check_n(n), k)
        lead, corr = self._size(n, ks, c)
        num = self._numerical[(n, ks, c)]
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
                lead, corr = self._size(1, (k,), c)
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
            if self.order >= 2:
                for ks in self.index_tuples(2):
                    out[f"K2[{ks[0]},{ks[1]}][{c}]"] = self.error_estimate(2, ks, c)
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
            f"method='small_noise' (numeric engine, n = {self.model.n}): K^(0)..K^({self.order}) to "
            f"s^{self.noise_order} of "
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
        coupling = (
            "input channels u^alpha inside the activation, gamma_alpha(h) = a^(|alpha|)(W h + b) c_alpha "
            "(MATH.md section 11)"
            if self.structure.input == "inside"
            else "constant coupling C"
        )
        steps = [
            Step(
                "model",
                "The network",
                f"phi(h) = -Gamma h + a(W h + b) with a = {self.structure.activation}, n = {self.model.n} units, "
                f"{self.model.m} input(s), {coupling} and noise sigma (D = sigma sigma^T, trace "
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
                "K^(1) = (f' + f''m* + f'''[P]/2).a + f'.dm + tr(f'' dP)/2 (f''' = 0 below degree 3).",
                [Equation(r"K^{(1)}_k(\tau)", _K1_FORMULA)],
            ),
        ]
        if self.order >= 2:
            steps.append(
                Step(
                    "second",
                    "The second-order kernel",
                    "K^(2)_k1k2(tau1, tau2) = DY[Z(tau1; tau2)] + D^2Y[X_k1(tau1), X_k2(tau1 + tau2)] with "
                    "Z = int_0^tau1 e^{(tau1 - r) DF} D^2F[X_k1(r), X_k2(r + tau2)] dr, the blocks (Z_a, Z_P, Z_m) "
                    "integrated on the same grid (docs/small_noise.md): exact propagators, Gauss-Legendre sources for "
                    "Z_P, exponential integration for Z_a and Z_m; D^2Y = f''[a_1, a_2] + f'''[a_1, a_2, m*] + "
                    "f''[a_1, dm_2] + f''[a_2, dm_1] + f'''[a_1][dP_2]/2 + f'''[a_2][dP_1]/2.",
                    [Equation(r"K^{(2)}_{k_1k_2}(\tau_1,\tau_2)", _K2_FORMULA)],
                )
            )
        steps += [
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
