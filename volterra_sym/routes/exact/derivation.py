"""The exact route's derivation steps: the semigroup of the linear SRNN, the recursion g_j, the
kernels and (stationary start) the fluctuation-dissipation form (MATH.md sections 4-5).

The steps read the Response through the structural type :class:`ExactSubject`; the shared record,
printer and common steps live in :mod:`volterra_sym.documents`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import mpmath
import sympy as sp

from ...algebra.exp_polynomial import to_sympy
from ...algebra.linear_gaussian import LinearData
from ...algebra.state_polynomial import StatePolynomial
from ...documents.derivation import (
    ClosedFormSubject,
    Derivation,
    Equation,
    Step,
    index_label,
    route_derivation,
)


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

    def transfer(self, n: int, k: Sequence[int] | int | None = None, component: int = 0) -> Any: ...


def exact_derivation(resp: ExactSubject) -> Derivation:
    """The derivation record of an exact (linear-SRNN) Response."""
    steps = [_semigroup_step(resp), _recursion_step(resp), _kernel_step(resp)]
    if resp.stationary:
        steps.append(_fdt_step(resp))
        steps.append(_transfer_step(resp))
    return route_derivation(resp, steps)


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
            label = ",".join(str(index_label(k)) for k in st.k)
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
            label = ",".join(str(index_label(k)) for k in ks)
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
        eqs.append(Equation(sp.Symbol(rf"\mathbb{{E}}_\infty[f(h_\tau) A_{index_label(k)}(h_0)]"), fdt, note=agree))
    return Step(
        "fdt",
        "First order: the fluctuation-dissipation form",
        r"With $A_k = -\nabla\cdot(\gamma_k \rho_\infty)/\rho_\infty = C_k^\top S_\infty^{-1}(x - m_\infty)$, "
        r"$K^{(1)}_k(\tau) = \mathbb{E}_\infty[f(h_\tau) A_k(h_0)]$, computed here from the explicit Gaussian action "
        r"of $P_\tau$ on $f$ (a route independent of the recursion).",
        eqs,
    )


#: transfer functions with more partial fractions are not printed (the document names resp.transfer instead)
MAX_DOCUMENT_FRACTIONS = 24


def _transfer_step(resp: ExactSubject) -> Step:
    """H_n(s_1..s_n) of every non-vanishing order (one input tuple per multiset: the others are permutations)."""
    eqs = []
    for c in range(resp.model.p):
        comp = f"[{c + 1}]" if resp.model.vector_readout else ""
        for n in range(1, resp.order + 1):
            if n in resp.zero_orders:
                continue
            for ks in sorted({tuple(sorted(k)) for k in itertools.product(range(resp.model.m), repeat=n)}):
                H = resp.transfer(n, ks, c)
                parts = H.expression("s", combine=False)
                label = ",".join(str(index_label(k)) for k in ks)
                args = ", ".join(sp.latex(x) for x in sorted(parts.free_symbols - set(resp.model.parameters), key=str))
                lhs = sp.Symbol(f"H{comp}_{{{n}; {label}}}({args})")
                terms = len(sp.Add.make_args(parts))
                if terms > MAX_DOCUMENT_FRACTIONS:
                    eqs.append(Equation(lhs, rf"\text{{a sum of {terms} partial fractions: resp.transfer({n})}}"))
                    continue
                eqs.append(Equation(lhs, H.expression("s")))
    return Step(
        "transfer",
        "Transfer functions",
        r"The symmetric kernels in the frequency domain, $H_{n,k}(\omega) = \int_{[0,\infty)^n} H^{(n)}_k(\theta)"
        r"\, e^{-i \sum_j \omega_j \theta_j}\, d\theta$, written at $s_j = i\omega_j$: the exponential-polynomial "
        r"term $c\,\tau^p e^{-\mu\tau}$ of a triangular kernel transforms to $c\,p!/(s + \mu)^{p+1}$, the lag "
        r"of the most recent input carrying the total frequency, averaged over the $n!$ orderings of the inputs "
        r"(docs/frequency.md). The other input orderings follow by permuting $(k_j, s_j)$ jointly.",
        eqs,
    )
