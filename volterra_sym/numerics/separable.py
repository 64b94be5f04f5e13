"""The Volterra series in cube (separable) form: cost set by the distinct 1-D filters, not by the kernel terms.

Write the order-n term of the series (MATH.md section 4) in absolute lags T_j = tau_1 + ... + tau_j = t - s_j,
0 < T_1 < ... < T_n < t, and s_n = t - T_n.  One exponential-polynomial term
c prod_j tau_j^{p_j} e^{-mu_j tau_j} * s_n^q e^{-nu s_n} becomes

    c e^{-nu t} prod_j (T_j - T_{j-1})^{p_j} (t - T_n)^q prod_j e^{-(mu_j - mu_{j+1}) T_j}     (mu_{n+1} = nu),

and expanding the binomials gives a sum of products of one-lag factors T_j^{a_j} e^{-lambda_j T_j} with
outer factors t^beta e^{-nu t}.  Collect, over every input tuple (k_1..k_n), the coefficient tensor
C_b[i_1..i_n] of the products, i = (k, a, lambda) one 1-D filter and b = (nu, beta) one outer factor.
When the tensor is symmetric (the kernel, extended analytically beyond T_1 < ... < T_n, is symmetric
under joint permutations of (k_j, T_j)), the ordered integral is 1/n! of the integral over the cube
[0, t]^n, which factorises:

    y^(n)(t) = (1/n!) sum_b t^beta e^{-nu t} sum_{i_1..i_n} C_b[i] z_{i_1}(t) ... z_{i_n}(t),
    z_{k,a,lambda}(t) = int_0^t T^a e^{-lambda T} u^k(t - T) dT.

This holds for every exact kernel of a linear SRNN, for any start: there K^(n) = E_{law of h^0_t}[D^n f]
contracted with v_j = e^{-A T_j} C_{k_j} (tests/oracles.pathwise_kernel), so the order-n term is
(1/n!) E[D^n f](m1(t), ..., m1(t)) with m1 the linear response; and for Taylor kernels of linear models
(rates 0, factors powers of the lags).  Kernels of nonlinear models are in general not symmetric; those
orders keep the filter cascades (:mod:`volterra_sym.numerics.series`), as do orders with growing
rates (Re lambda < 0) or oversized tensors.

Cost: the tensor is rewritten in real coordinates xi (Re/Im of one filter per conjugate pair) and
compressed to the r directions it actually uses (one SVD of all unfoldings, once per response and
horizon: r = the state dimension for a linear SRNN); a prediction then runs one exact filter chain
per distinct (input, rate) and evaluates a polynomial of degree n in r variables per time, in
elementwise NumPy (no BLAS on small operands, MEASURED.md).

Filters are exact for the interpolant of the input samples: ``"pwlinear"``/``"linear"`` (the
piecewise-linear interpolant: EXACT at every order) and ``"cubic"`` (cubics through 4 neighbouring
nodes: O(h^4) for smooth inputs).  The chain y_a = F_lambda^{a+1}[u] is advanced over each interval in
closed form (a Jordan block driven by a polynomial), one scalar recurrence per a.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .series import Blocks, ExpPolyKernels, NodeGrid, recurrence_blocks, solve_recurrence, step_classes

#: |w| below this: psi_m(w) by its Taylor series
PSI_SERIES_RADIUS = 8.0
#: relative tolerance for equal rates (after the float rounding of mu_j - mu_{j+1})
RATE_TOL = 1e-9
#: relative asymmetry of the coefficient tensor accepted as rounding
SYMMETRY_TOL = 1e-10
#: relative singular value below which a direction of the coefficient tensors is dropped
RANK_TOL = 1e-12
#: kernel terms smaller than this times the largest (bounded over lags <= horizon) are dropped
NEGLIGIBLE = 1e-22
#: largest coefficient tensor (entries) the cube form builds; larger orders use the cascades
MAX_TENSOR = 4_000_000
#: time points per chunk of the polynomial stage
CHUNK = 1 << 15


def psi_all(mmax: int, w: np.ndarray) -> np.ndarray:
    """[psi_0(w), ..., psi_mmax(w)] with psi_m(w) = int_0^1 e^{-w x} x^m / m! dx.

    Taylor series (no cancellation beyond e^{|w|} eps) for |w| < max(PSI_SERIES_RADIUS, mmax); the
    upward recurrence psi_m = (psi_{m-1} - e^{-w}/m!)/w from psi_0 = (1 - e^{-w})/w (errors shrink
    by 1/|w| per step) otherwise.
    """
    w = np.asarray(w, dtype=complex)
    out = np.empty((mmax + 1, *w.shape), dtype=complex)
    small = np.abs(w) < max(PSI_SERIES_RADIUS, mmax)
    if np.any(small):
        ws = w[small]
        R = float(np.max(np.abs(ws)))
        K, size = 1, 1.0  # terms until R^K / K! < 1e-18
        while size >= 1e-18 or K < 4:
            K += 1
            size *= R / K
        powers = np.empty((K, ws.size), dtype=complex)  # (-w)^k / k!
        powers[0] = 1.0
        for k in range(1, K):
            powers[k] = powers[k - 1] * (-ws) / k
        ks = np.arange(K)
        for m in range(mmax + 1):
            weights = 1.0 / ((m + ks + 1) * math.factorial(m))
            out[m][small] = np.einsum("k,kn->n", weights, powers)
    if not np.all(small):
        wb = w[~small]
        e = np.exp(-wb)
        v = (1.0 - e) / wb
        out[0][~small] = v
        for m in range(1, mmax + 1):
            v = (v - e / math.factorial(m)) / wb
            out[m][~small] = v
    return out


class FilterBank:
    """Exact filter chains y_a = F_lambda^{a+1}[u] (a = 0..amax) for the interpolant of input samples u.

    F_lambda[w](t) = int_0^t e^{-lambda (t - s)} w(s) ds, so a! y_a(t) = int_0^t T^a e^{-lambda T} u(t - T) dT.
    Over a step of length h, with the interpolant written around the right end,

        y_q(t + h) = e^{-lambda h} sum_{r <= q} h^{q-r}/(q-r)! y_r(t) + int_0^h e^{-lambda s} s^q/q! u(t + h - s) ds,

    and the forcing is a combination of h^{m+1} psi_m(lambda h) and the node values.  Given y_0..y_{q-1}
    on the grid, y_q solves a scalar recurrence (blocked cumulative sums, no loop over time).
    """

    def __init__(self, t: np.ndarray, interp: str) -> None:
        self.t = t
        self.h = np.diff(t)
        L = t.size
        if interp == "cubic" and L >= 4:
            grid = NodeGrid(t, "cubic")
            self.nodes: np.ndarray | None = grid.nodes
            self.Vinv = grid.Vinv
            self.cidx = grid.cidx
            self.class_h = grid.class_h
            self.deg = 3
        else:
            self.class_h, self.cidx = step_classes(self.h)
            self.nodes = None  # piecewise-linear interpolant: no node stencil
            self.Vinv = np.broadcast_to(np.array([[1.0, 0.0], [-1.0, 1.0]]), (self.class_h.size, 2, 2))
            self.deg = 1
        self.single = self.class_h.size == 1
        self._blocks: dict[complex, Blocks] = {}

    def node_values(self, u: np.ndarray) -> list[np.ndarray]:
        """The samples entering each interval's interpolant (one array per node position)."""
        if self.nodes is None:
            return [u[:-1], u[1:]]
        return [u[self.nodes[:, i]] for i in range(self.nodes.shape[1])]

    def per_step(self, x: np.ndarray) -> Any:
        """A per-class quantity on every step (a scalar when the grid has one class of steps)."""
        return x[0] if self.single else x[self.cidx]

    def chain(self, u: np.ndarray, lam: complex, amax: int) -> list[np.ndarray]:
        """[y_0, ..., y_amax] for the input samples ``u`` (real arrays for real lambda and real u)."""
        real = lam.imag == 0
        lam_ = lam.real if real else lam
        hc = self.class_h
        deg = self.deg
        finite = np.isfinite(lam_ * hc)
        if not np.all(finite):  # lambda h overflows: from that step on the prediction leaves the float range
            bad = int(np.flatnonzero(~finite[self.cidx])[0]) + 1
            hc = np.where(finite, hc, 0.0)
        psi = psi_all(amax + deg, lam_ * hc)  # (m, classes)
        if real:
            psi = psi.real
        if lam_ not in self._blocks:
            self._blocks[lam_] = recurrence_blocks(self.t, lam)
        blocks = self._blocks[lam_]
        uvals = self.node_values(u)
        decay = self.per_step(np.exp(-lam_ * hc)) if amax else None
        ys: list[np.ndarray] = []
        for q in range(amax + 1):
            # M_q[p] = sum_{r <= p} C(p, r) (-1)^r (q+r)!/q! psi_{q+r}: the interpolant's monomial theta^p
            M = [
                sum(math.comb(p, r) * (-1) ** r * math.perm(q + r, r) * psi[q + r] for r in range(p + 1))
                for p in range(deg + 1)
            ]
            b = 0.0
            for i, ui in enumerate(uvals):
                G = hc ** (q + 1) * sum(M[p] * self.Vinv[:, p, i] for p in range(deg + 1))
                b = b + self.per_step(G) * ui
            if q:
                h = self.h
                src = sum(h ** (q - r) / math.factorial(q - r) * ys[r][:-1] for r in range(q))
                b = b + decay * src
            ys.append(solve_recurrence(*blocks, np.asarray(b)))
        if not np.all(finite):
            for y in ys:
                y[bad:] = np.nan
        return ys


# --------------------------------------------------------------------------- the plan


class _Registry:
    """Canonical representatives of complex numbers equal to ``tol`` (absolute)."""

    def __init__(self, tol: float) -> None:
        self.tol = tol
        self.cells: dict[tuple[int, int], int] = {}
        self.values: list[complex] = []

    def index(self, x: complex) -> int:
        key = (round(x.real / self.tol), round(x.imag / self.tol))
        for dr in (0, -1, 1):
            for di in (0, -1, 1):
                j = self.cells.get((key[0] + dr, key[1] + di))
                if j is not None and abs(self.values[j] - x) <= self.tol:
                    return j
        self.values.append(x)
        self.cells[key] = len(self.values) - 1
        return len(self.values) - 1


def _expansion(p: tuple[int, ...], q: int) -> list[tuple[tuple[int, ...], int, int]]:
    """prod_j (T_j - T_{j-1})^{p_j} (t - T_n)^q (T_0 = 0) as [((a_1..a_n), beta, integer coefficient)]."""
    n = len(p)
    poly: dict[tuple[tuple[int, ...], int], int] = {((0,) * n, 0): 1}
    for j in range(n):
        if not p[j]:
            continue
        nxt: dict[tuple[tuple[int, ...], int], int] = {}
        for (a, beta), c in poly.items():
            for r in range(p[j] + 1 if j else 1):  # (T_j - T_{j-1})^p = sum_r C(p, r) T_j^{p-r} (-T_{j-1})^r
                aa = list(a)
                aa[j] += p[j] - r
                if r:
                    aa[j - 1] += r
                key = (tuple(aa), beta)
                nxt[key] = nxt.get(key, 0) + c * math.comb(p[j], r) * (-1) ** r
        poly = nxt
    if q:
        nxt = {}
        for (a, beta), c in poly.items():
            for r in range(q + 1):  # (t - T_n)^q = sum_r C(q, r) t^{q-r} (-T_n)^r
                aa = list(a)
                aa[n - 1] += r
                key = (tuple(aa), beta + q - r)
                nxt[key] = nxt.get(key, 0) + c * math.comb(q, r) * (-1) ** r
        poly = nxt
    return [(a, beta, c) for (a, beta), c in poly.items() if c]


@dataclass
class Source:
    """One filter chain y_a = F_lambda^{a+1}[v] (a <= amax) of the combined input v = sum_k weights[k] u^k;
    it adds Re(mix[a, :] y_a) to the coordinates w."""

    lam: complex
    amax: int
    weights: np.ndarray  # (m,)
    mix: np.ndarray  # (amax + 1, r)


@dataclass
class CubeEntry:
    """One order of one readout component (or its top Taylor shell) in cube form.

    y(t) = Re sum_b t^beta_b e^{-nu_b t} sum_M coef[b, M] w^M(t), M the multisets of size n over the
    r compressed coordinates (in the order of :meth:`CubePlan.monomials`).
    """

    n: int
    basis: list[tuple[complex, int]]
    coef: np.ndarray  # (len(basis), number of monomials of degree n)
    blocks: list = field(default_factory=list)  # per basis: per last variable v, (Re, Im) of its coefficients

    def split(self, levels: list) -> None:
        """Contiguous coefficient blocks by last variable (see :func:`monomial_levels`)."""
        ends = levels[self.n - 1][1]
        starts = np.concatenate([[0], np.cumsum(ends)]).astype(int)
        self.blocks = [
            [
                (
                    np.ascontiguousarray(cb[starts[v] : starts[v + 1]].real),
                    np.ascontiguousarray(cb[starts[v] : starts[v + 1]].imag),
                )
                for v in range(len(ends))
            ]
            for cb in self.coef
        ]


@dataclass
class CubePlan:
    """Everything a cube-form prediction needs, built once per response and horizon (:func:`build_cube_plan`)."""

    sources: list[Source] = field(default_factory=list)  # w = sum over sources and a of Re(mix[a] y_a)
    V: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (len(xi), r): w = V^T xi
    levels: list = field(default_factory=list)  # monomial_levels(r, highest order)
    entries: dict[tuple[int, int, bool], CubeEntry] = field(default_factory=dict)
    cascade: dict[tuple[int, int, bool], str] = field(default_factory=dict)  # not separable: why
    zero: set[tuple[int, int, bool]] = field(default_factory=set)  # no terms at all

    @property
    def rank(self) -> int:
        return int(self.V.shape[1])

    def path(self, c: int, n: int, top: bool = False) -> str:
        """'cube', 'cascade' or 'zero' for order n of component c (``top``: its top Taylor shell)."""
        key = (c, n, top)
        return "cube" if key in self.entries else "zero" if key in self.zero else "cascade"

    def monomials(self, degree: int) -> list[tuple[int, ...]]:
        """The monomials of ``degree`` in the r coordinates, in the order of ``CubeEntry.coef``."""
        return list(self.levels[degree][0])


def _mode_product(C: np.ndarray, B: np.ndarray, n: int) -> np.ndarray:
    """C[b, i_1..i_n] -> sum_i C[b, i...] B[i_1, a_1] ... B[i_n, a_n] (setup only)."""
    for ax in range(1, n + 1):
        C = np.moveaxis(np.tensordot(C, B, axes=([ax], [0])), -1, ax)
    return C


def _kept(absc: np.ndarray, power: np.ndarray, horizon: float) -> np.ndarray:
    """Terms not negligible on lags <= horizon: |c| max(horizon, 1)^|p| >= NEGLIGIBLE * the largest (terms far
    below rounding of the largest, e.g. rates split by a 1e-26 imaginary part of a numerically computed root,
    then merged, would only add filters and directions)."""
    sizes = absc * max(horizon, 1.0) ** power
    return sizes >= NEGLIGIBLE * (float(sizes.max()) if sizes.size else 0.0)


def plan_signature(
    forms: ExpPolyKernels, horizon: float, top_degree: int | None, cache: dict[int, tuple[Any, ...]]
) -> tuple[Any, ...]:
    """What :func:`build_cube_plan` reads of the horizon, in O(kernels) NumPy work: for every kernel the
    identity of its float terms (the same list for every horizon without merged rates, see
    :class:`~volterra_sym.algebra.exp_polynomial.NumericTerms`) and which terms pass the negligible-size
    filter, plus the rate scale.  Equal signatures give identical plans.  ``cache`` (owned by the
    response, keyed by id of a terms list it keeps) holds each list's |c|, total power and largest rate."""
    N = len(forms.taus)
    scale = 1.0 / max(horizon, 1e-300)
    parts: list[Any] = [top_degree]
    for c in range(forms.model.p):
        for n in range(1, forms.order + 1):
            for ks in itertools.product(range(forms.model.m), repeat=n):
                terms = forms.numeric_terms((c, n, ks), horizon)
                if id(terms) not in cache:
                    absc = np.array([abs(coef) for _, _, coef in terms], dtype=float)
                    power = np.array([sum(p) for _, p, _ in terms], dtype=float)
                    rmax = np.array(
                        [
                            max(*(abs(mu[j] - (mu[j + 1] if j < n - 1 else mu[N])) for j in range(n)), abs(mu[N]))
                            for mu, _, _ in terms
                        ],
                        dtype=float,
                    )
                    cache[id(terms)] = (terms, absc, power, rmax)
                _, absc, power, rmax = cache[id(terms)]
                keep = _kept(absc, power, horizon)
                if keep.any():
                    scale = max(scale, float(rmax[keep].max()))
                parts.append((id(terms), keep.tobytes()))
    parts.append(scale)
    return tuple(parts)


def build_cube_plan(forms: ExpPolyKernels, horizon: float, top_degree: int | None = None) -> CubePlan:
    """The cube form of every order (and top shell) whose kernels allow it (module docstring), in four passes:
    every term in absolute lags (:func:`_absolute_terms`), canonical rates, filters and outer factors
    (:func:`_canonical_filters`), dense tensors in real coordinates (:func:`_dense_tensors`), and the
    directions the tensors use (:func:`_directions`)."""
    raw, scale = _absolute_terms(forms, horizon, top_degree)
    plan = CubePlan()
    canon = _canonical_filters(raw, scale, plan)
    xi_tensors = _dense_tensors(canon, plan)
    if xi_tensors:
        _directions(canon, xi_tensors, plan, forms.model.m)
    return plan


def _absolute_terms(
    forms: ExpPolyKernels, horizon: float, top_degree: int | None
) -> tuple[dict[tuple[int, int, bool], list], float]:
    """Pass 1: every kept term of every kernel in absolute lags, as (ks, lambdas, nu, expansion, coef) per
    (component, order, top shell), and the rate scale (the largest |rate|, at least 1 / horizon)."""
    model = forms.model
    N = len(forms.taus)
    P, m = model.p, model.m
    raw: dict[tuple[int, int, bool], list] = {}
    scale = 1.0 / max(horizon, 1e-300)
    expansions: dict[tuple, list] = {}
    for c in range(P):
        for n in range(1, forms.order + 1):
            for top in (False, True) if top_degree is not None else (False,):
                raw[(c, n, top)] = []
            for ks in itertools.product(range(m), repeat=n):
                terms = forms.numeric_terms((c, n, ks), horizon)
                keep = _kept(
                    np.array([abs(coef) for _, _, coef in terms], dtype=float),
                    np.array([sum(p) for _, p, _ in terms], dtype=float),
                    horizon,
                )
                for (mu, p, coef), kept in zip(terms, keep):
                    if not kept:
                        continue
                    nu = mu[N]
                    lams = tuple(mu[j] - (mu[j + 1] if j < n - 1 else nu) for j in range(n))
                    scale = max(scale, *(abs(x) for x in lams), abs(nu))
                    pk = (tuple(p[:n]), p[N])
                    if pk not in expansions:
                        expansions[pk] = _expansion(*pk)
                    item = (ks, lams, nu, expansions[pk], coef)
                    raw[(c, n, False)].append(item)
                    if top_degree is not None and sum(p) == top_degree:
                        raw[(c, n, True)].append(item)
    return raw, scale


@dataclass
class _Canonical:
    """Pass 2's result: rates and outer factors merged within ``tol``, the filters (k, a, rate id) -> id, the
    sparse coefficient tensors per key, the growing filters, and the real coordinates xi = B^T (filters)."""

    tol: float
    rates: _Registry
    outer: _Registry
    filters: dict[tuple[int, int, int], int]
    tensors: dict[tuple[int, int, bool], dict]
    growing: set[int]
    B: np.ndarray  # (filters, coordinates)
    coords: list[tuple[tuple[int, int], int, str]]  # per coordinate: ((input k, rep rate id), a, "re" | "im")

    @property
    def d(self) -> int:
        return len(self.filters)

    @property
    def ncoord(self) -> int:
        return int(self.B.shape[1])


def _canonical_filters(raw: dict[tuple[int, int, bool], list], scale: float, plan: CubePlan) -> _Canonical:
    """Pass 2: canonical rates, filters, outer factors (keys without terms go to ``plan.zero``)."""
    tol = RATE_TOL * scale
    rates = _Registry(tol)
    outer = _Registry(tol)
    filters: dict[tuple[int, int, int], int] = {}  # (k, a, rate id) -> filter id
    tensors: dict[tuple[int, int, bool], dict] = {}
    for key, items in raw.items():
        if not items:
            plan.zero.add(key)
            continue
        acc: dict[tuple[int, tuple[int, ...]], complex] = {}
        bases: dict[tuple[int, int], int] = {}
        for ks, lams, nu, expansion, coef in items:
            lam_ids = [rates.index(x) for x in lams]
            nu_id = outer.index(nu)
            for a, beta, ic in expansion:
                b = bases.setdefault((nu_id, beta), len(bases))
                ids = tuple(filters.setdefault((ks[j], a[j], lam_ids[j]), len(filters)) for j in range(len(ks)))
                acc[(b, ids)] = acc.get((b, ids), 0) + coef * ic
        tensors[key] = {"acc": acc, "bases": bases}
    # growing filters (Re lambda < 0) would overflow long horizons: such orders keep the cascades
    growing = {i for (k, a, r), i in filters.items() if rates.values[r].real < -tol}
    d = len(filters)
    # real coordinates: one family per (k, a, {lambda, conj lambda}), rep with Im >= 0
    fam: dict[tuple[int, int, int], int] = {}  # (k, a, rep rate id) -> first coordinate
    B = np.zeros((d, 2 * d + 1), dtype=complex)
    ncoord = 0
    coords: list[tuple[tuple[int, int], int, str]] = []
    for (k, a, r), i in sorted(filters.items(), key=lambda kv: kv[1]):
        lam = rates.values[r]
        rep = r if lam.imag >= 0 else rates.index(lam.conjugate())
        lam_rep = rates.values[rep]
        cplx = abs(lam_rep.imag) > tol
        fkey = (k, a, rep)
        if fkey not in fam:
            fam[fkey] = ncoord
            coords.append(((k, rep), a, "re"))
            if cplx:
                coords.append(((k, rep), a, "im"))
            ncoord += 2 if cplx else 1
        j = fam[fkey]
        B[i, j] = 1.0
        if cplx:
            B[i, j + 1] = 1j if lam.imag >= 0 else -1j
    return _Canonical(tol, rates, outer, filters, tensors, growing, B[:, :ncoord], coords)


def _dense_tensors(canon: _Canonical, plan: CubePlan) -> dict[tuple[int, int, bool], tuple[list, np.ndarray]]:
    """Pass 3: dense tensors, symmetry, real coordinates: per key (outer basis, tensor in xi); keys that stay
    cascades go to ``plan.cascade`` with the reason, vanishing ones to ``plan.zero``."""
    d, B = canon.d, canon.B
    xi_tensors: dict[tuple[int, int, bool], tuple[list, np.ndarray]] = {}
    for key, tens in canon.tensors.items():
        c, n, top = key
        acc, bases = tens["acc"], tens["bases"]
        nb = len(bases)
        if nb * d**n > MAX_TENSOR:
            plan.cascade[key] = f"coefficient tensor of {nb * d**n} entries"
            continue
        if any(i in canon.growing for _, ids in acc for i in ids):
            plan.cascade[key] = "a growing rate (Re lambda < 0)"
            continue
        C = np.zeros((nb, *(d,) * n), dtype=complex)
        for (b, ids), v in acc.items():
            C[(b, *ids)] += v
        big = float(np.max(np.abs(C))) if C.size else 0.0
        if big == 0.0:
            plan.zero.add(key)
            continue
        if any(np.max(np.abs(C - np.swapaxes(C, j, j + 1))) > SYMMETRY_TOL * big for j in range(1, n)):
            plan.cascade[key] = "the kernel is not symmetric in the absolute lags"
            continue
        basis = [(canon.outer.values[nu_id], beta) for (nu_id, beta) in bases]
        xi_tensors[key] = (basis, _mode_product(C, B, n))
    return xi_tensors


def _directions(
    canon: _Canonical, xi_tensors: dict[tuple[int, int, bool], tuple[list, np.ndarray]], plan: CubePlan, m: int
) -> None:
    """Pass 4: the directions the tensors use (one SVD of all unfoldings): ``plan.V``, the sources (filters of
    combined inputs), the monomial levels and the cube entries."""
    ncoord, rates, outer, tol = canon.ncoord, canon.rates, canon.outer, canon.tol
    blocks = []
    for _, X in xi_tensors.values():
        M = np.moveaxis(X, 1, 0).reshape(ncoord, -1)
        M = M / np.max(np.abs(M))
        blocks += [M.real, M.imag]
    left, sv, _ = np.linalg.svd(np.concatenate(blocks, axis=1), full_matrices=False)
    V = left[:, sv > RANK_TOL * sv[0]].copy()
    r = V.shape[1]
    plan.V = V
    # w = V^T xi as filters of combined inputs: for each rate family, w_a = Re sum_{k, a'} c[(a', a), k] z_{k,a'}
    # with c = V[re] - i V[im] (complex families); c = F E (rank rho <= min(r (amax+1), m)) means rho chains
    # on the inputs v_j = sum_k E[j, k] u^k instead of one per input
    by_family: dict[int, dict[tuple[int, int], np.ndarray]] = {}
    for xi_index, ((k, rep), a, part) in enumerate(canon.coords):
        rows = by_family.setdefault(rep, {})
        row = rows.setdefault((a, k), np.zeros(r, dtype=complex))
        row += V[xi_index] if part == "re" else -1j * V[xi_index]
    for rep, rows in sorted(by_family.items()):
        lam = rates.values[rep]
        real = abs(lam.imag) <= tol
        lam = complex(lam.real, 0.0) if real else lam
        amax = max(a for a, _ in rows)
        Cmat = np.zeros(((amax + 1) * r, m), dtype=complex)
        for (a, k), row in rows.items():
            Cmat[a * r : (a + 1) * r, k] += row * math.factorial(a)
        if real:
            Cmat = Cmat.real
        left, sv, right = np.linalg.svd(Cmat, full_matrices=False)
        rho = int(np.sum(sv > RANK_TOL * sv[0])) if sv.size and sv[0] > 0 else 0
        for j in range(rho):
            F = (left[:, j] * sv[j]).reshape(amax + 1, r)
            plan.sources.append(Source(lam=lam, amax=amax, weights=right[j].copy(), mix=F))
    plan.levels = monomial_levels(r, max(key[1] for key in xi_tensors))
    for key, (basis, X) in xi_tensors.items():
        n = key[1]
        G = _mode_product(X, V.astype(complex), n)  # (nb, r, ..., r)
        pos = {mm: j for j, mm in enumerate(plan.levels[n][0])}
        coef = np.zeros((len(basis), len(pos)), dtype=complex)
        for idx in itertools.product(range(r), repeat=n):
            coef[:, pos[tuple(sorted(idx))]] += G[(slice(None), *idx)]  # type: ignore[arg-type]  # numpy stubs: mixed index tuple
        coef /= math.factorial(n)
        # the result is Re(sum_b f_b(t) coef[b] w^M) with w real: an outer factor e^{-nu t} with Im nu < 0 is
        # the conjugate one with conjugate coefficients, so conjugate pairs share one exponential
        merged: dict[tuple[complex, int], np.ndarray] = {}
        for (nu, beta), row in zip(basis, coef):
            if nu.imag < 0:
                partner = outer.values[outer.index(nu.conjugate())]
                nu, row = partner, row.conjugate()
            merged[(nu, beta)] = merged.get((nu, beta), 0) + row
        basis, coef = list(merged), np.array(list(merged.values()))
        plan.entries[key] = CubeEntry(n=n, basis=basis, coef=coef)
        plan.entries[key].split(plan.levels)


def monomial_levels(r: int, maxdeg: int) -> list[tuple[list[tuple[int, ...]], list[int]]]:
    """Monomials of each degree d in r variables, ordered in blocks by their last (largest) variable.

    levels[d] = (multisets, ends) with ends[v] = the number of multisets whose last variable is <= v, so
    block v of degree d is (the first ends_{d-1}[v] monomials of degree d-1) times w_v: every level is
    built from slices of the previous one, without gathers.
    """
    levels: list[tuple[list[tuple[int, ...]], list[int]]] = [([()], [1] * r)]
    for _d in range(1, maxdeg + 1):
        prev, prev_ends = levels[-1]
        cur: list[tuple[int, ...]] = []
        ends = []
        for v in range(r):
            cur += [(*mm, v) for mm in prev[: prev_ends[v]]]
            ends.append(len(cur))
        levels.append((cur, ends))
    return levels


# --------------------------------------------------------------------------- evaluation


def outer_factors(basis: list[tuple[complex, int]], t: np.ndarray, exps: dict) -> list[np.ndarray | float]:
    """t^beta e^{-nu t} for each (nu, beta), sharing the exponentials through ``exps`` (1.0 for (0, 0))."""
    out: list[np.ndarray | float] = []
    for nu, beta in basis:
        if nu == 0:
            e: Any = 1.0
        else:
            if nu not in exps:
                exps[nu] = np.exp(-(nu.real if nu.imag == 0 else nu) * t)
            e = exps[nu]
        out.append(e * t**beta if beta else e)
    return out


def evaluate_cube(
    plan: CubePlan,
    t: np.ndarray,
    U: np.ndarray,
    interp: str,
    keys: list[tuple[int, int, bool]],
    exps: dict | None = None,
) -> dict[tuple[int, int, bool], np.ndarray]:
    """y(t) of each requested entry of the plan (real arrays), for the input samples U (len(t), m).

    exps : e^{-nu t} on ``t`` by rate nu, shared with other evaluations on the same grid (filled here)."""
    exps = {} if exps is None else exps
    bank = FilterBank(t, interp)
    r = plan.rank
    W = np.zeros((r, t.size))
    for src in plan.sources:
        v = sum(U[:, k] * wk for k, wk in enumerate(src.weights) if wk != 0)
        ys = bank.chain(np.asarray(v), src.lam, src.amax)
        for a, y in enumerate(ys):
            for col in range(r):
                c = src.mix[a, col]
                if c == 0:
                    continue
                if np.iscomplexobj(y):
                    W[col] += c.real * y.real - c.imag * y.imag
                else:
                    W[col] += c.real * y
    results = {key: np.zeros(t.size) for key in keys}
    maxdeg = max((plan.entries[key].n for key in keys), default=0)
    levels = plan.levels
    factors = {key: outer_factors(plan.entries[key].basis, t, exps) for key in keys}
    for lo in range(0, t.size, CHUNK):
        hi = min(lo + CHUNK, t.size)
        Wc = W[:, lo:hi]
        # monomials of degree < maxdeg, each level from slices of the previous one
        monos = [np.ones((1, hi - lo))]
        for d in range(1, maxdeg):
            prev, ends = monos[-1], levels[d - 1][1]
            monos.append(np.concatenate([prev[: ends[v]] * Wc[v] for v in range(r)]))
        for key in keys:
            entry = plan.entries[key]
            n = entry.n
            prev, ends = monos[n - 1], levels[n - 1][1]
            total = None
            for b, f in enumerate(factors[key]):
                sums = []
                for part_index in (0, 1) if np.iscomplexobj(f) else (0,):
                    acc: np.ndarray | None = None
                    for v, block in enumerate(entry.blocks[b]):  # monomials with last variable v: w_v (c . prefix)
                        term = np.einsum("m,ml->l", block[part_index], prev[: ends[v]])
                        term *= Wc[v]
                        acc = term if acc is None else acc + term
                    assert acc is not None  # every basis function has at least one block
                    sums.append(acc)
                if isinstance(f, float):
                    part = sums[0] * f
                elif len(sums) == 1:
                    part = sums[0] * f[lo:hi]
                else:  # Re(c M f) = Re(c M) Re f - Im(c M) Im f
                    fc = f[lo:hi]
                    part = sums[0] * fc.real - sums[1] * fc.imag
                total = part if total is None else total + part
            results[key][lo:hi] = total
    return results
