"""``method="small_noise"``: the route object and its Response (MATH.md section 10).

The options live in ``OPTIONS`` (one place); ``SmallNoiseRoute.derive`` validates them, refuses what the
expansion does not cover (``local.check_model_form``, non-stationary starts, orders above 2), finds the
fixed point and runs the guard (``guard.py``), builds the terms (``terms.py``) for noise_order 0 and 2
(the pair gives the error estimate), and returns a :class:`SmallNoiseResponse`: a closed-form Response
(exponential polynomials: prediction, lowering, features and documents of the exact route) that also
carries the error estimate and the guard report.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ...algebra.exp_polynomial import ExpPoly
from ...algebra.linear_gaussian import linear_data
from ...documents.derivation import Derivation
from ...model.diffusion import OU, Diffusion, Stationary
from ...model.structure import network_structure
from ...response import Response, lag_symbols
from ...validate import check_choice, check_flag, check_real_in_range, refusal
from ..base import ContractCase, Route
from ..closed_form import ClosedFormResponse, KernelKey
from ..options import PILOT_SEED, Option
from .guard import GuardReport, check_expansion_ratio, find_fixed_point, pilot_covariance
from .local import ALTERNATIVES, MAX_STATES, LocalData, ModelFunctions, check_model_form, local_data, to_modal
from .symbolic import symbolic_local
from .terms import Expansion, map_ext, mp_number

ENGINES = ("auto", "closed_form", "numeric")


def _check_engine(value: Any) -> str:
    """'auto', 'closed_form' or 'numeric'."""
    return check_choice(value, "engine", ENGINES)


def _check_step_tol(value: Any) -> float:
    """The numeric engine's relative accuracy target: a number in [1e-14, 1e-2]."""
    return check_real_in_range(value, "step_tol", low=1e-14, high=1e-2, what="a relative accuracy")


def _parse_step_tol(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise refusal("step_tol", f"expected a number such as 1e-6, received {text!r}") from None


NOISE_ORDERS = (0, 2)
#: the unknown constant of the s^4 term: the remainder estimate is this times (s^2 term) x (small parameter)
ERROR_SAFETY = 2.0
MAX_SMALL_NOISE_ORDER = 2
DPS = 30


def check_noise_order(value: Any) -> int:
    """noise_order must be 0 or 2 (1 and 3 vanish: the odd powers of s are zero)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) not in NOISE_ORDERS:
        raise refusal(
            "noise_order",
            f"expected 0 or 2 (the odd powers of the noise scale vanish; 4 is not built), received "
            f"{value!r}; for more accuracy than s^2 use method='galerkin' (n <= 4) or Monte Carlo",
        )
    return int(value)


class SmallNoiseRoute(Route):
    """Kernels expanded in the noise amplitude around the stable fixed point (MATH.md section 10)."""

    name = "small_noise"
    summary = "small-noise expansion around the stable fixed point (K = K_0 + s^2 K_2, analytic drift, additive noise)"
    schema = (
        Option(
            "noise_order",
            "int",
            "highest power of the noise scale s kept: 0 (K_0, the noiseless network at h*) or 2; the odd powers "
            "vanish and 4 is not built: for more accuracy use method='galerkin' (n <= 4) or Monte Carlo",
            default=2,
            choices=NOISE_ORDERS,
        ),
        Option("guard", "flag", "run the guard (Newton from pilot samples, pilot covariance against P)", default=True),
        PILOT_SEED,
        Option(
            "symbolic", "flag", "keep the model's symbolic parameters in the kernels (formulas; n <= 2)", default=True
        ),
        Option(
            "engine",
            "value",
            "'closed_form' (exponential polynomials, n <= 6), 'numeric' (SRNN networks, orders 0-2, any n) or "
            "'auto' (numeric for n > 6)",
            default="auto",
            choices=ENGINES,
            check=_check_engine,
        ),
        Option(
            "step_tol",
            "value",
            "relative accuracy target of the numeric engine's time integration",
            default=1e-6,
            check=_check_step_tol,
            parse=_parse_step_tol,
            form="a number in [1e-14, 1e-2]",
        ),
    )
    default_order = True

    def contract_case(self) -> ContractCase:
        return _contract_case(self)

    def _derive(self, model: Diffusion, order: int | None, **options: Any) -> Response:
        noise_order = check_noise_order(options["noise_order"])
        guard, seed, symbolic = options["guard"], options["seed"], options["symbolic"]
        engine, tol = options["engine"], options["step_tol"]
        numeric = engine == "numeric" or (engine == "auto" and model.n > MAX_STATES)
        if order is not None and order > MAX_SMALL_NOISE_ORDER:
            raise refusal(
                "order",
                f"method='small_noise' builds kernels up to order {MAX_SMALL_NOISE_ORDER}, received {order}; "
                f"{ALTERNATIVES}",
            )
        if not isinstance(model.initial, Stationary):
            raise refusal(
                "initial",
                f"method='small_noise' expands around the stationary law, received {model.initial!r}; its "
                "kernels are those of the stationary start, which a point or Gaussian start reaches after a burn-in "
                "of a few slowest relaxation times of J (the start's offset decays like e^{-t/T}, T = 1/|Re "
                "lambda_max|: derive with initial='stationary' and apply them to inputs after that), while the "
                "kernels of the start itself need method='galerkin' (n <= 4), 'exact' (linear networks), 'taylor' "
                "(short lags) or Monte Carlo kernels (vs.estimate_kernels)",
            )
        structure = network_structure(model) if numeric else None
        if numeric and structure is None:  # the channel model of SRNN(..., input="inside"): numeric engine
            from .numeric import channel_network

            found = channel_network(model)
            structure = found[0] if found else None

        check_model_form(model, numeric=numeric, structure=structure)
        if numeric:
            from .numeric_route import derive_numeric

            return derive_numeric(
                model, structure, order, noise_order=noise_order, guard=guard, seed=seed, tol=float(tol)
            )
        order = MAX_SMALL_NOISE_ORDER if order is None else order
        return derive_small_noise(model, order, noise_order=noise_order, guard=guard, seed=seed, symbolic=symbolic)


def _exp_jt(loc: LocalData, model: Diffusion, var: sp.Symbol, symbolic: bool = False) -> list[list[ExpPoly]]:
    """e^{J var} as exponential polynomials (the linearised OU model's e^{-A var}, A = -J; exact and in the
    model's parameters when ``symbolic``)."""
    n = loc.J.shape[0]
    lin = OU(sp.Matrix(-loc.J), sp.Matrix(loc.g), sp.zeros(n, 1), readout=model.state[0], state=model.state)
    data = linear_data(lin, dps=DPS, domain="exact" if symbolic else "numeric")
    return data.expm_neg(var)


def _diagonal_exp(lam: np.ndarray, var: sp.Symbol) -> list[list[ExpPoly]]:
    """e^{diag(lam) var}: exp(-mu var) terms with mu = -lambda on the diagonal."""
    n = lam.size
    E = [[ExpPoly([var]) for _ in range(n)] for _ in range(n)]
    for i, z in enumerate(lam):
        E[i][i] = ExpPoly([var], {((mp_number(-z),), (0,)): mpmath.mpf(1)})
    return E


def derive_small_noise(
    model: Diffusion, order: int, *, noise_order: int = 2, guard: bool = True, seed: int = 0, symbolic: bool = True
) -> SmallNoiseResponse:
    """The kernels K_0 (+ s^2 K_2) up to ``order`` (see module docstring)."""
    funcs = ModelFunctions(model)
    sigma = np.array(model.diffusion.xreplace(model.params).evalf(), dtype=float)
    h, report = find_fixed_point(funcs, sigma, seed, guard)
    numeric = {0: local_data(model, funcs, h, 0), 2: local_data(model, funcs, h, 2)}
    if guard:
        pilot_covariance(funcs, sigma, h, numeric[2].J, numeric[2].P, seed, report)
    taus, s_sym, _ = lag_symbols(model, order)
    V = (*taus, s_sym)
    # the data the terms run on: exact in the parameters, in J's eigenbasis, or as given (Jordan blocks)
    exact = {no: symbolic_local(model, numeric[no], no) if symbolic else None for no in (0, 2)}
    modal = {no: to_modal(numeric[no]) for no in (0, 2)}
    with mpmath.workdps(DPS):
        r = sp.Symbol("r")
        tol: Any = mpmath.mpf(10) ** (-(DPS // 2))
        if exact[0] is not None and exact[2] is not None:
            data: dict[int, LocalData] = {0: exact[0], 2: exact[2]}
            E = _exp_jt(data[2], model, r, symbolic=True)
            tol = None
        elif modal[0] is not None and modal[2] is not None:
            data = {0: modal[0], 2: modal[2]}
            E = _diagonal_exp(data[2].eigenvalues, r)
        else:
            data = numeric
            E = _exp_jt(data[2], model, r)
        forms = {no: _forms(Expansion(data[no], E, no == 2, tol), model, order, V) for no in (0, 2)}
    resp = SmallNoiseResponse(
        model=model,
        order=order,
        kernel_forms=forms[noise_order][0],
        mean0_forms=forms[noise_order][1],
        dps=DPS,
        simplify=tol is None,
        noise_order=noise_order,
        local=numeric[2],
        guard=report,
        other_forms=forms[2 - noise_order],
    )
    check_expansion_ratio(resp.expansion_ratio(), guard, resp.terminates)
    return resp


def terminates(model: Diffusion) -> bool:
    """True when the expansion is exact at s^2: affine drift and input coupling (the law stays Gaussian under
    any input) and a polynomial readout of degree <= 3."""
    st = model.state
    if model.drift.jacobian(st).free_symbols & set(st):
        return False
    if any(model.coupling[:, k].jacobian(st).free_symbols & set(st) for k in range(model.m)):
        return False
    for f in model.readout:
        try:
            if sp.Poly(f, *st).total_degree() > 3:
                return False
        except sp.PolynomialError:
            return False
    return True


#: |K_0| below this times |s^2 K_2| is a structural zero of the leading term (SmallNoiseResponse._ratio)
STRUCTURAL_ZERO = 1e-9

#: relative size below which parts of a coefficient are rounding residue of the float64 data (h*, J, tensors)
FLOAT_FLOOR = 1e-13


def _clean(F: ExpPoly) -> ExpPoly:
    """Drop real or imaginary parts of coefficients below FLOAT_FLOOR times the largest coefficient: the
    data are float64, so e.g. the imaginary residue of a real rate's coefficient is rounding, not content.
    Symbolic coefficients: put in factored form."""
    if any(isinstance(c, sp.Basic) and c.free_symbols for _, _, c in F):
        return F.simplified(True)
    F = F.simplified(False)
    if not len(F):
        return F
    floor = FLOAT_FLOOR * max(abs(c) for _, _, c in F)
    terms = {}
    for mu, p, c in F:
        z = mpmath.mpc(c)
        re = z.real if abs(z.real) > floor else 0
        im = z.imag if abs(z.imag) > floor else 0
        if re or im:
            terms[(mu, p)] = mpmath.mpc(re, im) if im else mpmath.mpf(re)
    return ExpPoly(F.vars, terms)


def _forms(
    ex: Expansion, model: Diffusion, order: int, V: tuple[sp.Symbol, ...]
) -> tuple[dict[KernelKey, ExpPoly], list[ExpPoly]]:
    """Kernel forms over V = (tau_1..tau_order, s_n) and the constant K^(0) per component."""
    first = {k: ex.first_order(k) for k in range(model.m)}
    at_tau1 = {k: map_ext(X, lambda F: F.embed(V, [0])) for k, X in first.items()}
    kernels: dict[KernelKey, ExpPoly] = {}
    for c in range(model.p):
        for k in range(model.m):
            kernels[(c, 1, (k,))] = _clean(ex.readout_first(c, at_tau1[k]))
    if order >= 2:
        at_sum = {k: map_ext(X, lambda F: F.substitute_sum(0, V, (0, 1))) for k, X in first.items()}
        # X_k2(tau2): what the coupling's shift DG_k1 acts on at the later input time (state-dependent gamma)
        at_tau2 = {k: map_ext(X, lambda F: F.embed(V, [1])) for k, X in first.items()} if ex.coupled else {}
        for k1 in range(model.m):
            for k2 in range(model.m):
                Z = ex.second_order(at_tau1[k1], at_sum[k2], k1, at_tau2.get(k2))
                for c in range(model.p):
                    K = ex.readout_first(c, Z) + ex.readout_second(c, at_tau1[k1], at_sum[k2])
                    kernels[(c, 2, (k1, k2))] = _clean(K)
    mean0 = [ex.mean(c, V) for c in range(model.p)]
    return kernels, mean0


def coupling_ratio(gam: list[np.ndarray], p: float) -> float:
    """|gamma''''| p / (4 max(|gamma''|, |gamma'''| p^(1/2))) for the derivative tensors ``gam`` = [gamma_k, D gamma_k,
    .., D^4 gamma_k] of one coupling column at h* and the spread p = |P| (0 when gamma'' and gamma''' vanish): the
    ratio of the s^4 term 1/8 gamma''''[P, P] of E gamma_k(h) to its s^2 term 1/2 gamma''[P], the coupling's
    part of the remainder's small parameter (:meth:`SmallNoiseResponse.curvature_ratio`)."""
    low = max(float(np.linalg.norm(gam[2])), float(np.linalg.norm(gam[3])) * np.sqrt(p))
    return float(np.linalg.norm(gam[4])) * p / (4 * low) if low > 0 else 0.0


def terms_values(terms: list[Any], L: np.ndarray) -> np.ndarray:
    """sum_j Re c_j prod_i L_i^{p_ji} e^{-mu_ji L_i} at lags L (points, n) from float terms (rates over the
    lags and s_n; the s_n factor is 1 for the stationary start)."""
    out = np.zeros(L.shape[0], dtype=complex)
    n = L.shape[1]
    for mu, p, c in terms:
        v = np.full(L.shape[0], complex(c))
        for i in range(n):
            v = v * L[:, i] ** p[i] * np.exp(-complex(mu[i]) * L[:, i])
        out += v
    return out.real


class SmallNoiseResponse(ClosedFormResponse):
    """Kernels K_0 (+ s^2 K_2) as exponential polynomials, with the error estimate and the guard report.

    Extra attributes: ``noise_order``; ``local`` (h*, J, P, m*, the derivative tensors; :class:`LocalData`);
    ``guard`` (:class:`GuardReport`).  :meth:`error_estimate` gives the estimated error of each kernel,
    ``predict(..., return_error=True)`` that of a prediction.
    """

    def __init__(
        self,
        *,
        noise_order: int,
        local: LocalData,
        guard: GuardReport,
        other_forms: tuple[dict[KernelKey, ExpPoly], list[ExpPoly]],
        **forms: Any,
    ) -> None:
        super().__init__(**forms)
        self.noise_order = noise_order
        self.local = local
        self.guard = guard
        self._other = _Companion(
            model=self.model,
            order=self.order,
            kernel_forms=other_forms[0],
            mean0_forms=other_forms[1],
            dps=self.dps,
            simplify=self.simplify,
        )
        self._sizes: dict[tuple[int, tuple[int, ...], int], tuple[float, float]] = {}
        #: the expansion terminates at s^2 (affine drift, polynomial readout of degree <= 3): no remainder
        self.terminates = terminates(self.model)

    # ---- the error estimate ----------------------------------------------------------------
    def lag_horizon(self) -> float:
        """Lags over which sizes are measured: 8 slowest relaxation times of J."""
        return float(8.0 / -np.max(self.local.eigenvalues.real))

    def _size(self, n: int, ks: tuple[int, ...], c: int) -> tuple[float, float]:
        """(max |K_0|, max |s^2 K_2|) of one kernel on a lag grid up to the horizon (n = 0: the mean)."""
        key = (n, ks, c)
        if key not in self._sizes:
            two, zero = (self, self._other) if self.noise_order == 2 else (self._other, self)
            if n == 0:
                a = zero.mean0_number(c)
                b = two.mean0_number(c) - a
                self._sizes[key] = (abs(a), abs(b))
            else:
                H = self.lag_horizon()
                g = np.linspace(0.0, H, 41 if n == 1 else 17)
                L = np.stack(np.meshgrid(*([g] * n), indexing="ij"), axis=-1).reshape(-1, n)
                k0 = terms_values(zero.numeric_terms((c, n, ks), H), L)
                k2 = terms_values(two.numeric_terms((c, n, ks), H), L) - k0
                self._sizes[key] = (float(np.max(np.abs(k0))), float(np.max(np.abs(k2))))
        return self._sizes[key]

    def curvature_ratio(self, component: int = 0, inputs: tuple[int, ...] | None = None) -> float:
        """rho = kappa^2 |phi''|^2 |P| + kappa |phi'''| |P| + rho_f + rho_gamma, kappa = |J^{-1}|: the noise spread P
        against the distance over which the drift leaves its linearisation (MATH.md section 10), the small
        parameter of the O(s^4) remainder; rho_f = |f''''| |P| / max(|f''|, |f'''| |P|^(1/2)) the same for the
        readout (0 when f'' and f''' vanish at h*); for a state-dependent coupling rho_gamma, the largest
        :func:`coupling_ratio` over the ``inputs`` (default: all; () none).  Frobenius norms of the tensors,
        spectral norms of the matrices."""
        loc = self.local
        kappa = float(np.linalg.norm(np.linalg.inv(loc.J), 2))
        p = float(np.linalg.norm(loc.P, 2))
        rho = kappa**2 * float(np.linalg.norm(loc.phi[2])) ** 2 * p + kappa * float(np.linalg.norm(loc.phi[3])) * p
        f = loc.f[component]
        low = max(float(np.linalg.norm(f[2])), float(np.linalg.norm(f[3])) * np.sqrt(p))
        rho += float(np.linalg.norm(f[4])) * p / low if low > 0 else 0.0
        if loc.gam is not None:
            ks = range(self.model.m) if inputs is None else inputs
            rho += max((coupling_ratio(loc.gam[k], p) for k in ks), default=0.0)
        return rho

    def error_estimate(self, n: int = 1, k: Any = None, component: int = 0) -> float:
        """Estimated max |error| of K^(n)_k over the lags (n = 0: of the mean K^(0)).

        noise_order=2: the O(s^4) remainder, estimated as the s^2 term times the expansion's small
        parameter, ERROR_SAFETY * |s^2 K_2| * max(|s^2 K_2| / |K_0|, rho) (the kernel's own ratio and
        :meth:`curvature_ratio`; for the mean, whose K_0 holds the arbitrary offset f(h*), rho alone, plus
        the readout's own s^4 term |f''''[P, P]| / 8); noise_order=0: |s^2 K_2| (the first omitted term)
        plus that.  Zero where the expansion terminates at s^2 (affine drift, polynomial readout of
        degree <= 3).
        """
        c = self._component(component)[0]
        ks = () if n == 0 else self._k(self._check_n(n), k)
        if self.terminates and self.noise_order == 2:
            return 0.0
        lead, corr = self._size(n, ks, c)
        own = self._ratio(lead, corr) if n else 0.0
        rem = ERROR_SAFETY * corr * max(own, self.curvature_ratio(c, tuple(set(ks))))
        if n == 0:  # the s^2 term of the mean is f'.m* + f''[P]/2, whose parts may cancel: use their sizes
            loc, f = self.local, self.local.f[c]
            parts = abs(float(f[1] @ loc.m)) + 0.5 * abs(float(np.sum(f[2] * loc.P)))
            rem = ERROR_SAFETY * max(corr, parts) * self.curvature_ratio(c, ())
            rem += ERROR_SAFETY * abs(float(np.einsum("ijkl,ij,kl->", f[4], loc.P, loc.P))) / 8
        return float(rem if self.noise_order == 2 else corr + rem)

    @staticmethod
    def _ratio(lead: float, corr: float) -> float:
        """|s^2 K_2| / |K_0|; 0 where K_0 vanishes structurally (below STRUCTURAL_ZERO |s^2 K_2|: e.g. f'(h*) = 0,
        or a channel u^2 of an odd activation at z* = 0), where the kernel starts at s^2 and its own ratio says
        nothing about the noise level (the curvature ratio still scales its remainder)."""
        if lead <= STRUCTURAL_ZERO * corr:
            return 0.0
        return corr / lead

    def expansion_ratio(self) -> float:
        """max over the first-order kernels of max|s^2 K_2| / max|K_0| (the guard refuses above
        guard.MAX_RATIO; the second-order K_0 may vanish where s^2 K_2 does not, so it is not a measure; a
        first-order K_0 that vanishes structurally is skipped, see :meth:`_ratio`)."""
        out = 0.0
        for c in range(self.model.p):
            for n in range(1, 2):
                for ks in self.index_tuples(n):
                    lead, corr = self._size(n, ks, c)
                    out = max(out, self._ratio(lead, corr))
        return out

    def predict(
        self, u: Any, t: Any, eps: float = 1.0, *, by_order: bool = False, return_error: bool = False, **options: Any
    ) -> Any:
        """E f(h_t) from the kernels (the exact route's predictor, see :meth:`ClosedFormResponse.predict`).

        ``return_error=True`` also returns the estimated error at each time, per order with ``by_order``:
        order 0 is :meth:`error_estimate` of the mean; order n >= 1 is D_n(t) = max_{t' <= t} |d_n(t')|, the
        running maximum of the difference between the noise_order 2 and 0 predictions (a response to the
        past input: where d_n crosses zero the remainder need not), times the small parameter of
        :meth:`error_estimate` (noise_order 2), or D_n plus that (noise_order 0).
        """
        by_order = check_flag(by_order, "by_order")
        return_error = check_flag(return_error, "return_error")
        out = super().predict(u, t, eps, by_order=True, **options)
        if not return_error:
            return out if by_order else out.sum(axis=0)
        other = self._other.predict(u, t, eps, by_order=True, **options)
        envelope = np.maximum.accumulate(np.abs(out - other), axis=1)
        p = self.model.p
        rho = np.array(
            [
                0.0 if self.terminates else ERROR_SAFETY * max(self.expansion_ratio(), self.curvature_ratio(c))
                for c in range(p)
            ]
        )
        rho = rho if self.model.vector_readout else rho[0]
        err = envelope * rho + (envelope if self.noise_order == 0 else 0.0)
        mean_err = np.array([self.error_estimate(0, component=c) for c in range(p)])
        err[0] = mean_err if self.model.vector_readout else mean_err[0]
        return (out, err) if by_order else (out.sum(axis=0), err.sum(axis=0))

    def _kernel_values(self, n: int, ks: tuple[int, ...], lags: np.ndarray, component: int) -> np.ndarray:
        """Sum of the kernel's float terms at the lags (no generated code: the order-2 kernels of larger
        networks have hundreds of terms, and only the one asked for is evaluated)."""
        horizon = float(2.0 ** np.ceil(np.log2(max(float(np.max(lags)), 1.0))))  # few horizons: cached terms
        return terms_values(self.numeric_terms((component, n, ks), horizon), lags)

    def kernel_taylor(self, n: int, k: Any, p: Any, component: int = 0) -> Any:
        """d^p K^(n)_k at zero lags (exact on the exponential polynomial); real: the kernels are real, and the
        imaginary residue of summing conjugate terms is rounding."""
        val = super().kernel_taylor(n, k, p, component)
        return sp.re(val) if val.has(sp.I) else val

    # ---- documents and listings --------------------------------------------------------------
    def _build_derivation(self) -> Derivation:
        from .document import small_noise_derivation

        return small_noise_derivation(self)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["noise_order"] = self.noise_order
        out["fixed_point"] = self.local.h.tolist()
        out["jacobian_eigenvalues"] = [[z.real, z.imag] for z in self.local.eigenvalues.tolist()]
        out["lyapunov_covariance"] = self.local.P.tolist()
        out["mean_shift"] = self.local.m.tolist()
        out["error_estimates"] = {
            f"K{n}{list(ks)}[{c}]": self.error_estimate(n, ks if n else None, c)
            for c in range(self.model.p)
            for n in range(self.order + 1)
            for ks in (self.index_tuples(n) if n else [()])
        }
        out["expansion_ratio"] = self.expansion_ratio()
        out["guard"] = self.guard.as_dict()
        return out

    def summary(self) -> str:
        lines = [super().summary()]
        lines.append(
            f"  small-noise expansion to s^{self.noise_order} around h* = {np.round(self.local.h, 6).tolist()}; "
            f"expansion ratio max|s^2 K_2|/max|K_0| = {self.expansion_ratio():.3g}"
        )
        for c in range(self.model.p):
            for n in range(self.order + 1):
                for ks in self.index_tuples(n) if n else [()]:
                    label = f"K^({n})" + (f"_[{','.join(str(k + 1) for k in ks)}]" if n else "")
                    lines.append(f"  estimated error of {label}: {self.error_estimate(n, ks if n else None, c):.2e}")
        lines.append(self.guard.summary_line())
        return "\n".join(lines)


class _Companion(ClosedFormResponse):
    """The kernels of the other noise order (K_0 beside K_0 + s^2 K_2): what the error estimate compares."""

    method = "small_noise"

    def _build_derivation(self) -> Derivation:  # pragma: no cover - never documented on its own
        raise NotImplementedError


def _contract_case(route: SmallNoiseRoute) -> ContractCase:
    """A 1-D cubic drift at weak noise: fast, nonlinear, one stable fixed point."""
    cubic = Diffusion("h1", "-h1 - h1**3", 0.2, 1.0, "h1 + h1**2", name="cubic")
    return ContractCase(cubic, 2, {"symbolic": False})


# the route's Response is defined below the route in this module: declared here, once
SmallNoiseRoute.response = SmallNoiseResponse
SmallNoiseResponse.method = SmallNoiseRoute.name
