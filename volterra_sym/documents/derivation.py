"""The derivation record: ordered steps holding the real intermediate results.

A :class:`Derivation` is a list of :class:`Step` objects (key, title, prose,
equations).  Each :class:`Equation` holds SymPy objects computed by the
derivation itself (generators applied to generic functions, the recursion's
g_j, the semigroup's spectral data, the kernels) or, for purely notational
relations (the Duhamel formula), a LaTeX string.  :mod:`volterra_sym.documents.export`
renders the record as LaTeX or Markdown.

This module holds what every route shares (the record, the common steps: model, generators,
hierarchy, Volterra series); each route's own steps live in its folder
(``routes/<name>/derivation.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import sympy as sp

from ..model.diffusion import Diffusion, Gaussian, PointMass, Stationary
from ..model.operators import L0, L1, L0_adjoint, L1_adjoint


@dataclass
class Equation:
    """lhs rel rhs; each side a SymPy object or a LaTeX string (``latex=True`` sides)."""

    lhs: Any
    rhs: Any
    rel: str = "="
    note: str = ""


@dataclass
class Step:
    key: str
    title: str
    text: str
    equations: list[Equation] = field(default_factory=list)


@dataclass
class Derivation:
    title: str
    steps: list[Step]
    symbols: dict[str, str] = field(default_factory=dict)


# ---- what the steps read of a Response: structural types, since the documents sit below the routes


class DerivationSubject(Protocol):
    """What the steps every route shares read of a Response."""

    model: Diffusion
    order: int

    @property
    def stationary(self) -> bool: ...


class ClosedFormSubject(DerivationSubject, Protocol):
    """A Response whose kernels are formulas (exact and Taylor routes)."""

    def lags(self, n: int) -> tuple[sp.Symbol, ...]: ...

    def kernels(self, component: int | None = None) -> Iterator[tuple[int, tuple[int, ...], Any]]: ...


def index_label(k: int) -> int:
    """The printed (1-based) label of the 0-based input index ``k``."""
    return k + 1


def common_steps(resp: DerivationSubject) -> list[Step]:
    """The steps every route shares: the model, its generators, the hierarchy, the Volterra series."""
    return [_model_step(resp), _generator_step(resp), _hierarchy_step(resp), _volterra_step(resp)]


def derivation_title(resp: DerivationSubject) -> str:
    """The title of every route's record."""
    return f"Response kernels of the model '{resp.model.name}'"


def route_derivation(resp: DerivationSubject, route_steps: list[Step]) -> Derivation:
    """The derivation record of a route: the shared steps (:func:`common_steps`), then the route's own."""
    return Derivation(title=derivation_title(resp), steps=common_steps(resp) + route_steps)


# --------------------------------------------------------------------------- steps


def _model_step(resp: DerivationSubject) -> Step:
    m = resp.model
    eqs = [
        Equation(sp.Symbol(r"\phi(h)"), m.drift, note="drift"),
        Equation(sp.Symbol(r"\gamma(h)"), m.coupling, note="input coupling"),
        Equation(sp.Symbol(r"\sigma(h)"), m.diffusion, note="noise"),
        Equation(sp.Symbol("D"), m.D, note=r"$D = \sigma\sigma^\top$"),
        Equation(sp.Symbol("f(h)"), m.readout if m.vector_readout else m.readout[0], note="readout"),
    ]
    init = m.initial
    if isinstance(init, Stationary):
        init_text = r"the stationary law $\rho_\infty$ of the unperturbed dynamics"
    elif isinstance(init, PointMass):
        init_text = "a point mass"
        eqs.append(Equation(sp.Symbol("h_0"), init.x0))
    else:
        assert isinstance(init, Gaussian)
        init_text = "a Gaussian law"
        eqs.append(Equation(sp.Symbol(r"\mathbb{E} h_0"), init.mean))
        eqs.append(Equation(sp.Symbol(r"\operatorname{Cov} h_0"), init.cov))
    sde = [
        Equation(
            r"d h_t",
            r"\left[\phi(h_t) + \varepsilon\, \gamma(h_t)\, u_t\right] dt + \sigma(h_t)\, dW_t",
            note="Ito SDE",
        ),
        Equation(r"y_t", r"f(h_t)", note="output"),
    ]
    return Step(
        "model",
        "The model",
        f"State $h = ({', '.join(sp.latex(s) for s in m.state)})$, {m.m} input channel(s), "
        f"{m.r} Brownian motion(s); $h_0$ is drawn from {init_text}.",
        sde + eqs,
    )


def _generator_step(resp: DerivationSubject) -> Step:
    m = resp.model
    g = sp.Function("g")(*m.state)
    p = sp.Function("p")(*m.state)
    eqs = [Equation(sp.Symbol(r"\mathcal{L}_0 g"), L0(m, g))]
    for k in range(m.m):
        eqs.append(Equation(sp.Symbol(rf"\mathcal{{L}}_1^{{{index_label(k)}}} g"), L1(m, k, g)))
    eqs.append(Equation(sp.Symbol(r"\mathcal{L}_0^* p"), L0_adjoint(m, p)))
    for k in range(m.m):
        eqs.append(Equation(sp.Symbol(rf"\mathcal{{L}}_1^{{{index_label(k)}*}} p"), L1_adjoint(m, k, p)))
    return Step(
        "generators",
        "Generators and Fokker-Planck operators",
        r"Backward generator $\mathcal{L}_0 g = \phi\cdot\nabla g + \tfrac12 D:\nabla^2 g$, input operators "
        r"$\mathcal{L}_1^k g = \gamma_k\cdot\nabla g$ and their adjoints, applied to generic functions of the state.",
        eqs,
    )


def _hierarchy_step(resp: DerivationSubject) -> Step:
    m = resp.model
    t = sp.Symbol("t")
    eqs = []
    for n in range(resp.order + 1):
        rho_n = sp.Function(rf"\rho^{{({n})}}")(t, *m.state)
        rhs = L0_adjoint(m, rho_n)
        if n > 0:
            rho_prev = sp.Function(rf"\rho^{{({n - 1})}}")(t, *m.state)
            for k in range(m.m):
                rhs += sp.Function(f"u_{index_label(k)}")(t) * L1_adjoint(m, k, rho_prev)
        eqs.append(Equation(sp.Derivative(rho_n, t), rhs, note=f"order {n}"))
    duhamel = []
    for n in range(1, resp.order + 1):
        duhamel.append(
            Equation(
                rf"\rho^{{({n})}}_t",
                rf"\int_0^t e^{{(t-s)\mathcal{{L}}_0^*}} \sum_{{k}} u^k_s\, "
                rf"\mathcal{{L}}_1^{{k*}} \rho^{{({n - 1})}}_s \, ds",
                note="Duhamel",
            )
        )
    init = r"\rho^{(0)}_t = \rho_\infty" if resp.stationary else r"\rho^{(0)}_0 = \mu_0"
    return Step(
        "hierarchy",
        "Perturbation hierarchy",
        r"The law $\rho^\varepsilon_t = \sum_n \varepsilon^n \rho^{(n)}_t$ solves "
        r"$\partial_t \rho = (\mathcal{L}_0^* + \varepsilon \mathcal{L}_1^*(t))\rho$; order by order, with $"
        + init
        + r"$ and $\rho^{(n)}_0 = 0$ for $n \ge 1$:",
        eqs + duhamel,
    )


def _volterra_step(resp: DerivationSubject) -> Step:
    n = resp.order
    lag = r"\tau_1 = t - s_1,\ \tau_j = s_{j-1} - s_j"
    series = (
        r"\mathbb{E}_{\mu_0} f(h^0_t) + \sum_{n=1}^{"
        + str(n)
        + r"} \varepsilon^n \sum_{k_1..k_n} \int_{0<s_n<\dots<s_1<t} K^{(n)}_{k_1..k_n}(\tau_1,\dots,\tau_n"
        + ("" if resp.stationary else r";\, s_n")
        + r")\, u^{k_1}_{s_1}\cdots u^{k_n}_{s_n}\, ds"
    )
    rec = [
        Equation(r"G_0", r"f"),
        Equation(r"G_j", r"\mathcal{L}_1^{k_j} P_{\tau_j} G_{j-1} \quad (j = 1..n)"),
        Equation(
            r"K^{(n)}_{k_1..k_n}",
            r"\mathbb{E}_{\rho_\infty}[G_n]" if resp.stationary else r"\mathbb{E}_{\mu_0}[(P_{s_n} G_n)(h_0)]",
        ),
    ]
    return Step(
        "volterra",
        "Volterra series and the generator recursion",
        f"Pairing the hierarchy with $f$ and unrolling the Duhamel integrals gives the triangular Volterra series "
        f"with lags ${lag}$ (the most recent input first); the kernels follow from the generator recursion "
        r"with the semigroup $P_\tau = e^{\tau \mathcal{L}_0}$.",
        [Equation(r"\mathbb{E} f(h_t)", series)] + rec,
    )
