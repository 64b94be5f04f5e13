"""The derivation record: ordered steps holding the real intermediate results.

A :class:`Derivation` is a list of :class:`Step` objects (key, title, prose,
equations).  Each :class:`Equation` holds SymPy objects computed by the
derivation itself (generators applied to generic functions, the recursion's
g_j, the semigroup's spectral data, the kernels) or, for purely notational
relations (the Duhamel formula), a LaTeX string.  :mod:`volterra_sym.export`
renders the record as LaTeX or Markdown.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import mpmath
import numpy as np
import sympy as sp

from ..algebra.exp_polynomial import to_sympy
from ..algebra.linear_gaussian import LinearData
from ..algebra.state_polynomial import StatePolynomial
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


class RecursionRecord(Protocol):
    """One step G_j = P_{T_j}[g_j] of the exact recursion (input indices ``k``, readout ``component``)."""

    @property
    def component(self) -> int: ...

    @property
    def k(self) -> tuple[int, ...]: ...

    @property
    def g(self) -> StatePolynomial: ...


class ExactSubject(ClosedFormSubject, Protocol):
    """An exact (linear-SRNN) Response: the semigroup data, the recursion and the law it used."""

    taus: tuple[sp.Symbol, ...]
    dps: int
    simplify: bool
    linear: LinearData
    readout_degree: list[int]

    @property
    def recursion(self) -> Sequence[RecursionRecord]: ...

    @property
    def law(self) -> Mapping[str, Any]: ...

    @property
    def mean0(self) -> Any: ...

    @property
    def zero_orders(self) -> dict[int, str]: ...

    def kernel(self, n: int, k: Sequence[int] | int | None = None, component: int | None = None) -> Any: ...

    def fdt_kernel(self, k: int = 0, component: int = 0) -> Any: ...


class TaylorObservables(Protocol):
    """The observables L1^{k_n} L0^{p_n} ... L1^{k_1} L0^{p_1} f of the Taylor route (one readout component)."""

    def observable(self, n: int, k: Any, p: Any) -> Any: ...


class TaylorSubject(ClosedFormSubject, Protocol):
    """A Taylor (short-lag) Response: its truncation degree and observables."""

    lag_degree: int

    @property
    def taylor(self) -> Sequence[TaylorObservables]: ...


class GridFacts(Protocol):
    """The discretisation grid of the generator route."""

    @property
    def edges(self) -> np.ndarray: ...

    @property
    def cells(self) -> int: ...


class GeneratorSubject(DerivationSubject, Protocol):
    """A discretised-generator Response: its grid, spectrum and kernel values."""

    @property
    def grid(self) -> GridFacts: ...

    @property
    def eigenvalues(self) -> np.ndarray: ...

    def index_tuples(self, n: int) -> list[tuple[int, ...]]: ...

    def kernel_values(
        self, n: int, k: Sequence[int] | int | None, lags: Any, component: int | None = None
    ) -> np.ndarray: ...


def _idx(k: int) -> int:
    return k + 1


def common_steps(resp: DerivationSubject) -> list[Step]:
    """The steps every route shares: the model, its generators, the hierarchy, the Volterra series."""
    return [_model_step(resp), _generator_step(resp), _hierarchy_step(resp), _volterra_step(resp)]


def _title(resp: DerivationSubject) -> str:
    return f"Response kernels of the model {resp.model.name}"


def exact_derivation(resp: ExactSubject) -> Derivation:
    """The derivation record of an exact (linear-SRNN) Response."""
    steps = common_steps(resp) + [_semigroup_step(resp), _recursion_step(resp), _kernel_step(resp)]
    if resp.stationary:
        steps.append(_fdt_step(resp))
    return Derivation(title=_title(resp), steps=steps)


def taylor_derivation(resp: TaylorSubject) -> Derivation:
    """The derivation record of a Taylor (short-lag) Response."""
    return Derivation(title=_title(resp), steps=common_steps(resp) + [_taylor_step(resp)])


def numerical_derivation(resp: DerivationSubject, route_steps: list[Step]) -> Derivation:
    """The derivation record of a numerical route: the shared steps, then what the route computed."""
    return Derivation(title=_title(resp), steps=common_steps(resp) + route_steps)


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
        eqs.append(Equation(sp.Symbol(rf"\mathcal{{L}}_1^{{{_idx(k)}}} g"), L1(m, k, g)))
    for k in range(m.m):
        eqs.append(Equation(sp.Symbol(rf"\mathcal{{L}}_1^{{{_idx(k)}*}} p"), L1_adjoint(m, k, p)))
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


def _semigroup_step(resp: ExactSubject) -> Step:
    d = resp.linear
    tau = sp.Symbol("tau")
    with mpmath.workdps(resp.dps):
        spectrum = [(to_sympy(lam, resp.dps), mult) for lam, mult in d.spectrum]
        E = sp.Matrix([[F.as_expr(resp.simplify) for F in row] for row in d.expm_neg(tau)])
        eqs = [
            Equation(sp.Symbol("A"), d.A, note=r"drift $\phi(h) = -A h + c$"),
            Equation(sp.Symbol("c"), d.c),
            Equation(sp.Symbol("C"), d.C),
            Equation(
                sp.Symbol(r"\operatorname{spec}(A)"),
                sp.Matrix([[lam, mult] for lam, mult in spectrum]),
                note="each row: eigenvalue, multiplicity",
            ),
            Equation(sp.Symbol(r"e^{-A\tau}"), E),
        ]
        if resp.stationary:
            mean, cov = d.stationary()
            eqs.append(
                Equation(
                    sp.Symbol(r"m_\infty"), sp.Matrix([to_sympy(x, resp.dps) for x in mean]), note=r"$A m_\infty = c$"
                )
            )
            eqs.append(
                Equation(
                    sp.Symbol(r"S_\infty"),
                    sp.Matrix([[to_sympy(x, resp.dps) for x in row] for row in cov]),
                    note=r"Lyapunov: $A S_\infty + S_\infty A^\top = D$",
                )
            )
        else:
            law = resp.law
            eqs.append(
                Equation(sp.Symbol(r"\mathbb{E} h^0_t"), sp.Matrix([F.as_expr(resp.simplify) for F in law["mean"]]))
            )
            eqs.append(
                Equation(
                    sp.Symbol(r"\operatorname{Cov} h^0_t"),
                    sp.Matrix([[F.as_expr(resp.simplify) for F in row] for row in law["cov"]]),
                    note=r"$e^{-At} S_0 e^{-A^\top t} + S_t$",
                )
            )
    return Step(
        "semigroup",
        "The Ornstein-Uhlenbeck semigroup in closed form",
        r"For affine drift $-Ah + c$ and constant noise, $(P_\tau g)(x) = \mathbb{E}[g(e^{-A\tau}x + m_\tau + \xi)]$ "
        r"with $\xi \sim N(0, S_\tau)$, $m_\tau = \int_0^\tau e^{-As} c\, ds$, "
        r"$S_\tau = \int_0^\tau e^{-As} D e^{-A^\top s} ds$. The exponential is kept in spectral form "
        r"$e^{-A\tau} = \sum_\lambda e^{-\lambda\tau} \sum_{p} \frac{(-\tau)^p}{p!} N_\lambda^p P_\lambda$.",
        eqs,
    )


def _recursion_step(resp: ExactSubject) -> Step:
    m = resp.model
    x = m.state
    eqs = []
    with mpmath.workdps(resp.dps):
        for st in resp.recursion:
            if st.component != 0 and not m.vector_readout:
                continue
            n = len(st.k)
            label = ",".join(str(_idx(k)) for k in st.k)
            comp = f"[{st.component + 1}]" if m.vector_readout else ""
            g = st.g.as_expr(x, resp.simplify)
            eqs.append(Equation(sp.Symbol(f"g{comp}_{{{n};{label}}}"), g, note=rf"$G_{n} = P_{{T_{n}}}[g_{n}]$"))
    return Step(
        "recursion",
        "The recursion, step by step",
        r"Since $\nabla P_\tau g = e^{-A^\top\tau} P_\tau \nabla g$, every step keeps the form "
        r"$G_j = P_{T_j}[g_j]$ with $T_j = \tau_1 + \dots + \tau_j$ and "
        r"$g_j = (e^{-A T_j} C_{k_j})\cdot\nabla g_{j-1}$, $g_0 = f$: "
        r"a polynomial of degree $\deg f - j$ in the state.",
        eqs,
    )


def _kernel_step(resp: ExactSubject) -> Step:
    eqs = []
    vanish = resp.zero_orders
    for c in range(resp.model.p):
        for n, ks, expr in resp.kernels(component=c):
            if n in vanish:
                continue
            label = ",".join(str(_idx(k)) for k in ks)
            comp = f"[{c + 1}]" if resp.model.vector_readout else ""
            args = ", ".join(sp.latex(s) for s in resp.lags(n))
            eqs.append(Equation(sp.Symbol(f"K{comp}^{{({n})}}_{{{label}}}({args})"), expr))
    text = "Taking the expectation over the initial law (Gaussian moments) gives every kernel in closed form."
    text += _vanishing_text(resp)
    zero_eqs = [Equation(sp.Symbol(f"K^{{({n})}}"), sp.Integer(0), note=r"$n > \deg f$") for n in vanish]
    mean0 = resp.mean0
    return Step(
        "kernels",
        "The kernels",
        text,
        [Equation(sp.Symbol(r"\mathbb{E}_{\mu_0} f(h^0_t)"), mean0)] + eqs + zero_eqs,
    )


def _vanishing_text(resp: ExactSubject) -> str:
    """Which orders vanish and why (MATH.md section 5), as prose with inline math."""
    degrees = resp.readout_degree
    if not degrees:
        return ""
    d = max(degrees)
    per = "" if len(degrees) == 1 else " (componentwise " + ", ".join(f"${x}$" for x in degrees) + ")"
    text = (
        f" The readout has degree $\\deg f = {d}${per}. The semigroup $P_\\tau$ maps polynomials of degree $d$ "
        "to polynomials of degree $d$ and each $\\mathcal{L}_1^k$ lowers the degree by one, so $g_j$ has degree "
        f"$\\deg f - j$ and every kernel of order $n > {d}$ vanishes identically: the Volterra series is finite "
        "and exact."
    )
    if resp.zero_orders:
        orders = ", ".join(f"${n}$" for n in resp.zero_orders)
        text += f" Among the derived orders this concerns $n$ = {orders}."
    return text


def _coeffs(expr: sp.Expr) -> list[sp.Expr]:
    """The numeric coefficients of a sum of terms (rounding residues of a numeric comparison)."""
    return [term.as_coeff_Mul()[0] for term in sp.Add.make_args(sp.expand(expr))]


def _fdt_step(resp: ExactSubject) -> Step:
    eqs = []
    for k in range(resp.model.m):
        fdt = resp.fdt_kernel(k)
        rec = resp.kernel(1, (k,), component=0)
        diff = sp.simplify(fdt - rec)
        if diff == 0:
            agree = "agrees with the recursion exactly"
        elif diff.free_symbols <= set(resp.taus) and all(abs(complex(c)) < 10 ** (5 - resp.dps) for c in _coeffs(diff)):
            agree = "agrees with the recursion to working precision"
        else:
            agree = "compare with the recursion's first-order kernel"
        eqs.append(Equation(sp.Symbol(rf"\mathbb{{E}}_\infty[f(h_\tau) A_{_idx(k)}(h_0)]"), fdt, note=agree))
    return Step(
        "fdt",
        "First order: the fluctuation-dissipation form",
        r"With $A_k = -\nabla\cdot(\gamma_k \rho_\infty)/\rho_\infty = C_k^\top S_\infty^{-1}(x - m_\infty)$, "
        r"$K^{(1)}_k(\tau) = \mathbb{E}_\infty[f(h_\tau) A_k(h_0)]$, computed here from the explicit Gaussian action "
        r"of $P_\tau$ on $f$ (a route independent of the recursion).",
        eqs,
    )


def _taylor_step(resp: TaylorSubject) -> Step:
    tk = resp.taylor[0]
    extra = () if resp.stationary else (0,)
    obs = []
    # the lowest observables before the expectation: L1^k f (p = 0) and L1^k L0 f (p = 1), first order
    for k in range(resp.model.m):
        for p in (0, 1):
            if p <= resp.lag_degree:
                label = f"\\mathcal{{L}}_1^{{{_idx(k)}}}" + ("\\mathcal{L}_0" if p else "") + " f"
                obs.append(Equation(sp.Symbol(label), tk.observable(1, (k,), (p, *extra))))
    eqs = []
    for n, ks, expr in resp.kernels(component=0):
        label = ",".join(str(_idx(k)) for k in ks)
        args = ", ".join(sp.latex(s) for s in resp.lags(n))
        eqs.append(Equation(sp.Symbol(f"K^{{({n})}}_{{{label}}}({args})"), expr, rel=r"\approx"))
    start = "" if resp.stationary else r" (and in $s_n$, the time from the start to the oldest input)"
    return Step(
        "taylor",
        "Short-lag Taylor kernels",
        r"For analytic coefficients $P_\tau = \sum_q \frac{\tau^q}{q!}\mathcal{L}_0^q$, so "
        r"$\partial^{p_1}_{\tau_1}\cdots\partial^{p_n}_{\tau_n} K^{(n)}_k(0) = "
        r"\mathbb{E}_{\mu_0}[\mathcal{L}_1^{k_n}\mathcal{L}_0^{p_n}\cdots\mathcal{L}_1^{k_1}\mathcal{L}_0^{p_1} f]$. "
        f"The lowest observables before the expectation are listed first; the kernels are truncated at total "
        f"degree {resp.lag_degree} in the lags{start}, and are accurate only for short lags.",
        obs + eqs,
    )


class GalerkinSubject(DerivationSubject, Protocol):
    """A Galerkin Response: its basis, weight, rates, error estimates and convergence table."""

    degree: int
    N: int
    weight: str
    tol: float

    def index_tuples(self, n: int) -> list[tuple[int, ...]]: ...

    def leading_rates(self, k: int = 4) -> np.ndarray: ...

    def kernel_error(
        self, n: int, k: Sequence[int] | int | None, lags: Any, component: int = 0
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def convergence_table(self, degrees: Sequence[int] | None = None, lags: Sequence[float] = ...) -> Any: ...


def galerkin_steps(resp: GalerkinSubject) -> list[Step]:
    """What the Galerkin route computed: basis, weight, the matrices, rates, error estimates, convergence in p."""
    n_state = resp.model.n
    lhs = r"K^{(n)}_{k_1\dots k_n}(\tau_1,\dots,\tau_n" + ("" if resp.stationary else "; s") + ")"
    rhs = (r"l\, " if resp.stationary else r"l\, e^{s M}") + (
        r"\Gamma_{k_n} e^{\tau_n M} \cdots \Gamma_{k_1} e^{\tau_1 M} c_f"
    )
    rates = np.asarray(resp.leading_rates(4))
    eqs = [
        Equation(sp.Symbol(r"p"), sp.Integer(resp.degree), note="total degree of the basis"),
        Equation(sp.Symbol(r"N"), sp.Integer(resp.N), note=f"basis functions, $\\binom{{{n_state} + p}}{{p}}$"),
        Equation(lhs, rhs, rel=r"\approx"),
    ]
    for j, r in enumerate(rates, start=1):
        z = complex(r)
        eqs.append(
            Equation(
                sp.Symbol(rf"-\lambda_{{{j}}}"),
                sp.Float(z.real, 5) + sp.I * sp.Float(z.imag, 5),
                note="slowest relaxation rate" if j == 1 else "",
            )
        )
    lags = (0.5, 1.0, 2.0)
    values = []
    for n in range(1, resp.order + 1):
        for ks in resp.index_tuples(n):
            width = n if resp.stationary else n + 1
            pts = np.repeat(np.asarray(lags)[:, None], width, axis=1)
            vals, errs = resp.kernel_error(n, ks, pts, 0)
            label = ",".join(str(_idx(k)) for k in ks)
            cells = [
                rf"{float(v):.8f} \pm {_sci(float(e))}" for v, e in zip(np.atleast_1d(vals), np.atleast_1d(errs))
            ]
            values.append([rf"K^{{({n})}}_{{{label}}}"] + cells)
    lag_cols = [rf"\tau = {x:g}" for x in lags]
    tables = [
        Table(
            r"Kernels at equal lags $K^{(n)}_k(\tau, \dots, \tau)$, with their error estimates",
            ["\\text{kernel}"] + lag_cols,
            values,
        ),
        Table(
            "Convergence in the degree $p$ of the first-order kernel",
            ["p"] + [rf"K^{{(1)}}_1({x:g})" for x in lags],
            [
                [str(d)] + [f"{float(v):.10f}" for v in np.atleast_1d(vals)]
                for d, vals in resp.convergence_table(lags=lags)
            ],
        ),
    ]
    return [
        Step(
            "galerkin",
            "Galerkin approximation of the generator (numerical route)",
            r"The generator is approximated on the polynomials of total degree $\le p$, orthonormal for the "
            f"reference weight {_prose_weight(resp.weight)}: "
            r"$G_{ij} = \langle\psi_i, \psi_j\rangle$, $A_{ij} = \langle\psi_i, \mathcal{L}_0\psi_j\rangle$, "
            r"$M = G^{-1}A$, $\Gamma_k = G^{-1}\langle\psi_i, \mathcal{L}_1^k\psi_j\rangle$, "
            r"$c_f = G^{-1}\langle\psi, f\rangle$; "
            + (
                r"the stationary law is the left null vector $l$ of $M$ with $l \cdot c_1 = 1$. "
                if resp.stationary
                else r"the initial law enters through the exact expectations $l$ of the basis functions. "
            )
            + r"The eigenvalues $\lambda_j$ of $M$ closest to 0 (besides the zero mode) give the slowest relaxation "
            "rates. Error estimates compare degrees $p - 2$, $p$ and $p + 2$ on the same weight "
            f"(tolerance {resp.tol:g} relative); for linear SRNNs the route is exact. The kernels are numbers, "
            "not formulas: their values at equal lags are tabulated, then the first-order kernel for several degrees.",
            eqs,
            tables,
        )
    ]


def _sci(x: float) -> str:
    """1.7e-07 as LaTeX: 1.7 \\cdot 10^{-7}."""
    if x == 0 or not np.isfinite(x):
        return "0" if x == 0 else r"\infty"
    mant, exp = f"{x:.1e}".split("e")
    return rf"{mant} \cdot 10^{{{int(exp)}}}"


def _prose_weight(text: str) -> str:
    """A weight description for LaTeX prose (no raw underscores or carets)."""
    return "``" + text.replace("_", " ").replace("^", " ").replace("$", "").replace("\\", " ") + "''"


def generator_steps(resp: GeneratorSubject) -> list[Step]:
    """What the 1-D discretised-generator route computed: the grid, its spectrum, kernel values."""
    g = resp.grid
    lam = resp.eigenvalues
    slow = [-float(x) for x in lam[::-1][1:4]]
    eqs = [
        Equation(sp.Symbol(r"N_{\mathrm{cells}}"), sp.Integer(g.cells)),
        Equation(
            sp.Symbol(r"[x_{\mathrm{lo}}, x_{\mathrm{hi}}]"),
            sp.Interval(*(sp.Float(float(v), 6) for v in (g.edges[0], g.edges[-1]))),
        ),
        Equation(
            sp.Symbol(r"\text{slowest rates } -\lambda_{2,3,4}"),
            sp.Matrix([[sp.Float(v, 6) for v in slow]]),
        ),
    ]
    lags = (0.0, 0.5, 1.0, 2.0)
    for n in range(1, resp.order + 1):
        for ks in resp.index_tuples(n):
            width = n if resp.stationary else n + 1
            pts = np.repeat(np.asarray(lags)[:, None], width, axis=1)
            vals = np.atleast_1d(resp.kernel_values(n, ks, pts, 0))
            label = ",".join(str(_idx(k)) for k in ks)
            eqs.append(
                Equation(
                    sp.Symbol(f"K^{{({n})}}_{{{label}}}(\\tau,\\dots,\\tau)\\big|_{{\\tau = 0, 0.5, 1, 2}}"),
                    sp.Matrix([[sp.Float(float(v), 8) for v in vals]]),
                    rel=r"\approx",
                )
            )
    return [
        Step(
            "discretisation",
            "Discretised generator (numerical route)",
            r"The generator $\mathcal{L}_0$ of the 1-D model is discretised by finite volumes on a grid that "
            r"covers the stationary bulk; its symmetrised form is diagonalised once, "
            r"$P_\tau = e^{\tau \mathcal{L}_{0,h}}$, and the kernels are "
            r"$K^{(n)} = \mu_0 \cdot \mathcal{L}_1^{k_n} P_{\tau_n} \cdots \mathcal{L}_1^{k_1} P_{\tau_1} f$ "
            "evaluated in that eigenbasis (docs/generator.md). The kernels are numbers, not formulas: "
            "values at equal lags are listed.",
            eqs,
        )
    ]
