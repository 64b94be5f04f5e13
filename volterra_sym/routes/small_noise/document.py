"""The derivation record of a small-noise Response: fixed point, Jacobian, Lyapunov covariance, the terms.

The shared steps (model, generators, hierarchy, Volterra series) come first
(:func:`volterra_sym.documents.derivation.route_derivation`), then the steps of MATH.md section 10
with the numbers this derivation computed, the kernels as formulas (exponential polynomials in the
lags, rounded to 8 significant digits for print), the error estimate and the guard's findings.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import sympy as sp

from ...documents.derivation import Derivation, Equation, Step, route_derivation
from ...model.diffusion import Diffusion
from .guard import GuardReport
from .local import LocalData


class SmallNoiseResponse(Protocol):
    """What the steps read of a small-noise Response (route.py's class; a Protocol, so no import cycle)."""

    model: Diffusion
    order: int
    dps: int
    noise_order: int
    local: LocalData
    guard: GuardReport

    @property
    def stationary(self) -> bool: ...

    @property
    def mean0(self) -> Any: ...

    def index_tuples(self, n: int) -> list[tuple[int, ...]]: ...

    def lags(self, n: int) -> tuple[sp.Symbol, ...]: ...

    def kernel_form(self, n: int, k: Any = None, component: int = 0) -> Any: ...

    def kernel(self, n: int, k: Any = None, component: int | None = None) -> Any: ...

    def error_estimate(self, n: int = 1, k: Any = None, component: int = 0) -> float: ...

    def expansion_ratio(self) -> float: ...

    def curvature_ratio(self, component: int = 0, inputs: tuple[int, ...] | None = None) -> float: ...


#: kernels with more terms than this are described by their size instead of printed
MAX_PRINTED_TERMS = 60


def _mat(a: np.ndarray, digits: int = 8) -> sp.Matrix:
    a = np.atleast_2d(a) if a.ndim == 1 else a
    return sp.Matrix([[sp.Float(float(x), digits) for x in row] for row in a])


def _col(v: np.ndarray, digits: int = 8) -> sp.Matrix:
    return sp.Matrix([sp.Float(float(x), digits) for x in v])


def small_noise_derivation(resp: SmallNoiseResponse) -> Derivation:
    """The record (module docstring)."""
    return route_derivation(resp, [_fixed_point_step(resp), _terms_step(resp), _kernels_step(resp), _error_step(resp)])


def _fixed_point_step(resp: SmallNoiseResponse) -> Step:
    loc = resp.local
    eig = [
        sp.Float(z.real, 8) + sp.I * sp.Float(z.imag, 8) if abs(z.imag) > 0 else sp.Float(z.real, 8)
        for z in loc.eigenvalues.tolist()
    ]
    eqs = [
        Equation(sp.Symbol("h^*"), _col(loc.h), note=r"$\phi(h^*) = 0$ (Newton)"),
        Equation(sp.Symbol("J"), _mat(loc.J), note=r"$J = D\phi(h^*)$"),
        Equation(r"\operatorname{spec} J", sp.latex(sp.FiniteSet(*eig)) if len(set(eig)) == len(eig) else str(eig)),
        Equation(sp.Symbol("P"), _mat(loc.P), note=r"$J P + P J^\top + D = 0$ (Lyapunov)"),
        Equation(sp.Symbol("m^*"), _col(loc.m), note=r"$m^* = -J^{-1}\phi''[P]/2$ (stationary mean shift)"),
    ]
    return Step(
        "fixed_point",
        "Fixed point, Jacobian, Lyapunov covariance",
        "Write $h = h^* + s x$ around the stable fixed point. To order $s^2$ the stationary law is Gaussian "
        "with covariance $P$ (the noise scale $s$ is kept inside $D$, so $P$ and $m^*$ are of order $s^2$) "
        r"and mean $h^* + m^*$.",
        eqs,
    )


def _terms_step(resp: SmallNoiseResponse) -> Step:
    eqs = [
        Equation(r"\mathbb{E} f(h_t)", r"f(h^0_t) + f'(h^0_t)\, m_t + \tfrac12 f''(h^0_t)[P_t] + O(s^4)"),
        Equation(r"\dot h^0", r"\phi(h^0) + \varepsilon\,\gamma\, u_t"),
        Equation(r"\dot P", r"D\phi(h^0) P + P\, D\phi(h^0)^\top + D"),
        Equation(r"\dot m", r"D\phi(h^0)\, m + \tfrac12 \phi''(h^0)[P]"),
        Equation(r"K^{(1)}_k(\tau)", r"DY\!\left[e^{\tau\, DF} G_k\right]"),
        Equation(
            r"K^{(2)}_{k_1 k_2}(\tau_1, \tau_2)",
            r"DY\!\left[\int_0^{\tau_1} e^{(\tau_1 - r) DF} D^2F[X_{k_1}(r), X_{k_2}(r + \tau_2)]\, dr\right]"
            r" + D^2Y[X_{k_1}(\tau_1), X_{k_2}(\tau_1 + \tau_2)]",
        ),
    ]
    text = (
        "Expanding $h = h^0 + s x_1 + s^2 x_2 + \\dots$ ($h^0$ the noiseless response, $x_1$ Gaussian with mean "
        "zero and covariance $P_t$), the odd powers of $s$ vanish and the mean output to $O(s^4)$ is that of the "
        "deterministic system $X = (h^0, P, m)$ below, linear in $(P, m)$. Its Volterra kernels around "
        "$X^* = (h^*, P, m^*)$ are therefore exactly $K_0 + s^2 K_2$ (MATH.md section 10): $X_k(t) = e^{t\\,DF} G_k$ "
        "with $G_k = (\\gamma_k, 0, 0)$ for a constant coupling, "
        "$Y(X) = f(h) + f'(h) m + \\tfrac12 f''(h)[P]$. Every block of $e^{t\\,DF}$ is "
        "a convolution with $e^{J t}$, done in closed form, so each kernel is an exponential polynomial in the lags "
        "with rates among the eigenvalues of $J$ and their sums."
    )
    if resp.local.gam is not None:
        eqs[1] = Equation(r"\dot h^0", r"\phi(h^0) + \varepsilon \sum_k \gamma_k(h^0)\, u_{k,t}")
        eqs[4] = Equation(r"K^{(1)}_k(\tau)", r"DY\!\left[e^{\tau\, DF} G_k(X^*)\right]")
        eqs[5] = Equation(
            r"K^{(2)}_{k_1 k_2}(\tau_1, \tau_2)",
            r"DY\!\left[\int_0^{\tau_1} e^{(\tau_1 - r) DF} D^2F[X_{k_1}(r), X_{k_2}(r + \tau_2)]\, dr"
            r" + e^{\tau_1 DF} DG_{k_1}[X_{k_2}(\tau_2)]\right] + D^2Y[X_{k_1}(\tau_1), X_{k_2}(\tau_1 + \tau_2)]",
        )
        eqs.insert(
            4,
            Equation(
                r"G_k(X)",
                r"\left(\gamma_k(h),\ D\gamma_k P + P D\gamma_k^\top,\ D\gamma_k\, m + \tfrac12 \gamma_k''[P]\right)",
                note="the input operator of a state-dependent coupling",
            ),
        )
        text += (
            " The input coupling depends on the state, so with the input the drift is "
            r"$\phi + \varepsilon \sum_k u_k \gamma_k$ in every equation and the input operator is $G_k(X)$ below; "
            r"expanding $X = X^* + \varepsilon X_1 + \varepsilon^2 X_2$, the second order gains "
            r"$\sum_k u_k(t)\, DG_k(X^*)[X_1(t)]$: the input $k_1$ at the later time acting, through the coupling's "
            r"dependence on the state, on the response $X_{k_2}(\tau_2)$ to the earlier input $k_2$."
        )
    if resp.noise_order == 0:
        text += " With noise_order = 0 the blocks $P$, $m$ are dropped: $K_0$, the kernels of the noiseless network."
    return Step("terms", "The expansion terms", text, eqs)


def _kernels_step(resp: SmallNoiseResponse) -> Step:
    mean0 = sp.sympify(resp.mean0, strict=True)
    mean0 = mean0.xreplace({x: sp.Float(x, 8) for x in mean0.atoms(sp.Float)})
    eqs = [Equation(sp.Symbol("K^{(0)}"), mean0, note=r"$f(h^*) + f'\cdot m^* + \frac12 f''[P]$")]
    for c in range(resp.model.p):
        for n in range(1, resp.order + 1):
            for ks in resp.index_tuples(n):
                label = ",".join(str(k + 1) for k in ks)
                comp = f"[{c + 1}]" if resp.model.vector_readout else ""
                args = ", ".join(sp.latex(s) for s in resp.lags(n))
                lhs = sp.Symbol(f"K{comp}^{{({n})}}_{{{label}}}({args})")
                form = resp.kernel_form(n, ks, c)
                if len(form) > MAX_PRINTED_TERMS:
                    eqs.append(Equation(lhs, rf"\text{{an exponential polynomial of {len(form)} terms}}"))
                else:
                    expr = resp.kernel(n, ks, c)
                    eqs.append(Equation(lhs, expr.xreplace({x: sp.Float(x, 8) for x in expr.atoms(sp.Float)})))
    return Step(
        "kernels",
        "The kernels",
        f"The kernels to order $s^{{{resp.noise_order}}}$ (numbers rounded to 8 digits for print; the Response keeps "
        f"{resp.dps}).",
        eqs,
    )


def _error_step(resp: SmallNoiseResponse) -> Step:
    eqs = []
    for c in range(resp.model.p):
        for n in range(resp.order + 1):
            for ks in resp.index_tuples(n) if n else [()]:
                label = f"K^{{({n})}}" + (f"_{{{','.join(str(k + 1) for k in ks)}}}" if n else "")
                eqs.append(Equation(rf"\text{{error}}({label})", sp.Float(resp.error_estimate(n, ks or None, c), 3)))
    g = resp.guard
    text = (
        "Estimated error (max over lags up to eight slowest relaxation times): with noise_order 2 the remainder "
        r"$O(s^4)$ is estimated as $2\,|s^2 K_2| \max(|s^2 K_2|/|K_0|, \rho)$, with the kernel's own ratio and the "
        r"curvature ratio $\rho = \kappa^2 |\phi''|^2 |P| + \kappa |\phi'''|\,|P|$, $\kappa = |J^{-1}|$ (the noise "
        "spread against the distance over which the drift leaves its linearisation, plus the readout's and, for a "
        "state-dependent coupling, the coupling's ratio of s^4 to s^2 terms); with noise_order 0 it is "
        "$|s^2 K_2|$ plus that. "
        f"Expansion ratio $\\max|s^2 K_2|/\\max|K_0| = {resp.expansion_ratio():.3g}$, "
        f"$\\rho = {resp.curvature_ratio():.3g}$."
    )
    if g.ran:
        text += (
            f" Guard: Newton from the origin and from {min(g.pilot_paths, 48)} pilot end points found "
            f"{len(g.fixed_points)} fixed point(s), one stable; the pilot simulation's covariance differs from $P$ by "
            f"{100 * g.covariance_gap:.1f}% (standard error {100 * g.covariance_se:.1f}%)."
        )
    else:
        text += " The guard was not run (guard=False)."
    return Step("error", "Error estimate and guard", text, eqs)
