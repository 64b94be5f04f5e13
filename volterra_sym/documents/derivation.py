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

from collections.abc import Iterator, Sequence
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
class Table:
    """A table of numbers: a caption, column headers and rows; cells are LaTeX math (rendered as $...$)."""

    caption: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Step:
    key: str
    title: str
    text: str
    equations: list[Equation] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


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
    return f"Response kernels of the model {resp.model.name}"


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
            note="Itô SDE",
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


def _divergence(vec: Any, state: Sequence[sp.Symbol]) -> sp.Expr:
    return sp.simplify(sum((sp.diff(vec[i], x) for i, x in enumerate(state)), sp.Integer(0)))


def _generator_step(resp: DerivationSubject) -> Step:
    """The operators, written once.  With a constant noise the adjoint is shown in its structured form
    L0* p = -phi.grad p - (div phi) p + 1/2 D : grad^2 p with div phi computed (the expanded form repeats
    the drift); a state-dependent noise gets the fully expanded operators."""
    m = resp.model
    g = sp.Function("g")(*m.state)
    p = sp.Function("p")(*m.state)
    constant_noise = not any(e.free_symbols & set(m.state) for e in m.D)
    eqs: list[Equation] = []
    if constant_noise:
        eqs += [
            Equation(
                sp.Symbol(r"\mathcal{L}_0 g"),
                r"\sum_i \phi_i\, \partial_i g + \tfrac12 \sum_{i,j} D_{ij}\, \partial_i \partial_j g",
            ),
            Equation(
                sp.Symbol(r"\mathcal{L}_0^* p"),
                r"-\sum_i \phi_i\, \partial_i p - (\nabla\cdot\phi)\, p + \tfrac12 \sum_{i,j} D_{ij}\, "
                r"\partial_i \partial_j p",
            ),
            Equation(sp.Symbol(r"\nabla\cdot\phi"), _divergence(m.drift, m.state)),
        ]
    else:
        eqs += [
            Equation(sp.Symbol(r"\mathcal{L}_0 g"), L0(m, g)),
            Equation(sp.Symbol(r"\mathcal{L}_0^* p"), L0_adjoint(m, p)),
        ]
    for k in range(m.m):
        eqs.append(Equation(sp.Symbol(rf"\mathcal{{L}}_1^{{{index_label(k)}}} g"), L1(m, k, g)))
    for k in range(m.m):
        eqs.append(Equation(sp.Symbol(rf"\mathcal{{L}}_1^{{{index_label(k)}*}} p"), L1_adjoint(m, k, p)))
    text = (
        r"Backward generator $\mathcal{L}_0 g = \phi\cdot\nabla g + \tfrac12 D:\nabla^2 g$ and input operators "
        r"$\mathcal{L}_1^k g = \gamma_k\cdot\nabla g$ ($\phi$, $\gamma$, $D$ as above), with their adjoints "
        r"(Fokker-Planck operators) "
    )
    text += (
        r"$\mathcal{L}_0^* p = -\nabla\cdot(\phi p) + \tfrac12 \nabla^2 : (D p)$, here with the constant $D$:"
        if constant_noise
        else r"$\mathcal{L}_0^* p = -\nabla\cdot(\phi p) + \tfrac12 \nabla^2 : (D p)$, applied to generic functions:"
    )
    return Step("generators", "Generators and Fokker-Planck operators", text, eqs)


def _hierarchy_step(resp: DerivationSubject) -> Step:
    """One line per order, in the operators of the previous section (not re-expanded)."""
    m = resp.model
    source = (
        r"u^{1}(t)\, \mathcal{L}_1^{1*}"
        if m.m == 1
        else r"\sum_{k=1}^{" + str(m.m) + r"} u^k(t)\, \mathcal{L}_1^{k*}"
    )
    eqs = [Equation(r"\partial_t \rho^{(0)}_t", r"\mathcal{L}_0^* \rho^{(0)}_t", note="order 0")]
    for n in range(1, resp.order + 1):
        eqs.append(
            Equation(
                rf"\partial_t \rho^{{({n})}}_t",
                rf"\mathcal{{L}}_0^* \rho^{{({n})}}_t + {source} \rho^{{({n - 1})}}_t",
                note=f"order {n}",
            )
        )
    duhamel = [
        Equation(
            r"\rho^{(n)}_t",
            r"\int_0^t e^{(t-s)\mathcal{L}_0^*} \sum_{k} u^k_s\, \mathcal{L}_1^{k*} \rho^{(n-1)}_s \, ds",
            note=r"Duhamel, $n \ge 1$",
        )
    ]
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
        + r")\, u^{k_1}_{s_1}\cdots u^{k_n}_{s_n}\, ds_1\cdots ds_n"
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
