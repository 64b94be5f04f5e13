"""Quadrature rule engines for expectations over initial laws (used by :mod:`.expectations`).

Composite Gauss-Legendre rules ("panels") on a box outside of which the density
has dropped by more than ``dps * ln 10 + margin``, run at two refinement levels
(Gauss-Legendre degree doubled); the error of the finer one is estimated from
their difference.  Three families: Gaussian laws (panels in whitened
coordinates h = m + L z), 1-D stationary laws rho_inf ~ D^-1 exp(int 2 phi / D),
and gradient laws on a box (n = 2).  See the module docstring of
:mod:`volterra_sym.algebra.expectations` for where each is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from mpmath.calculus.quadrature import GaussLegendre

from ..errors import ExpectationError, StationaryLawError

#: the remedy every stationary-law failure offers
OTHER_STARTS = (
    "use a start whose law is known instead: model.replace(initial=vs.PointMass(x0)) "
    "or model.replace(initial=vs.Gaussian(mean, cov))"
)


@dataclass
class Rule:
    """Nodes (one mpf list per coordinate) and normalised weights."""

    coords: list[list[Any]]
    weights: list[Any]


@lru_cache(maxsize=8)
def _gl_nodes(degree: int, prec: int) -> tuple[tuple[Any, Any], ...]:
    """Gauss-Legendre nodes and weights on [-1, 1] (3 * 2**(degree-1) of them)."""
    with mpmath.workprec(prec):
        return tuple(GaussLegendre(mpmath.mp).calc_nodes(degree, prec))


def _panel_rule(a: Any, b: Any, panels: int, degree: int, prec: int) -> tuple[list[Any], list[Any]]:
    """Composite Gauss-Legendre rule on [a, b] with ``panels`` equal panels."""
    xs: list[Any] = []
    ws: list[Any] = []
    base = _gl_nodes(degree, prec)
    width = (b - a) / panels
    for k in range(panels):
        lo = a + k * width
        half = width / 2
        mid = lo + half
        for t, w in base:
            xs.append(mid + half * t)
            ws.append(half * w)
    return xs, ws


class RuleFamily:
    """A sequence of quadrature rules for one law, finer with the level."""

    description = ""
    state: tuple[sp.Symbol, ...]  # the variables of the rules' nodes (set by every family)

    def rule(self, level: int) -> Rule:  # pragma: no cover - interface
        raise NotImplementedError


class RuleEngine:
    """Moments on two consecutive rule levels (Gauss-Legendre degree doubled), with an error estimate.

    Gauss-Legendre errors fall geometrically, E_N ~ C rho^(-2N), so doubling the
    nodes per panel roughly squares the relative error: once the coarse and
    fine values differ by d <= 1e-6 |scale|, the fine value's error is estimated
    as 100 d^2 / scale (the extrapolation mpmath.quad also uses); otherwise as d.
    """

    max_level = 3  # finest level (Gauss-Legendre with 3 * 2**(3 + level - 1) = 96 nodes per panel)

    def __init__(self, family: RuleFamily, dps: int):
        self.family = family
        self.dps = dps
        self.level = 0
        self.bits = int(math.ceil((dps + 25) * math.log2(10)))
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._tables: dict[tuple[Any, ...], Any] = {}
        self._rules: dict[int, Rule] = {}
        self._int_weights: dict[int, Any] = {}
        self.max_error = mpmath.mpf(0)

    def report(self) -> dict[str, Any]:
        rules = [self._rule(self.level), self._rule(self.level + 1)]
        return {
            "method": self.family.description,
            "nodes": [len(r.weights) for r in rules],
            "error estimate": sp.Float(self.max_error, 5),
        }

    def _rule(self, level: int) -> Rule:
        if level not in self._rules:
            with mpmath.workdps(self.dps + 15):
                self._rules[level] = self.family.rule(level)
        return self._rules[level]

    def _tol(self, value: Any) -> Any:
        return mpmath.mpf(10) ** (-self.dps) * max(mpmath.mpf(1), abs(value))

    @staticmethod
    def _estimate(coarse: Any, fine: Any) -> Any:
        scale = max(mpmath.mpf(1), abs(fine))
        d = abs(coarse - fine)
        return d if d > scale * mpmath.mpf(10) ** -6 else min(d, 100 * d * d / scale)

    def _refine(self, what: str, err: Any) -> None:
        if self.level + 1 >= self.max_level:
            raise ExpectationError(
                f"quadrature over the initial law did not converge for {what}: the two finest rules "
                f"({[len(self._rule(k).weights) for k in (self.level, self.level + 1)]} nodes) differ by "
                f"{mpmath.nstr(err, 5)}; lower dps, or use a point-mass / Gaussian start"
            )
        self.level += 1
        self._cache.clear()

    # ---- arbitrary functions ----------------------------------------------------------
    def expect_function(self, g: sp.Expr, state: Sequence[sp.Symbol]) -> sp.Expr:
        fn = sp.lambdify(list(state), g, modules="mpmath")
        while True:
            with mpmath.workdps(self.dps + 15):
                vals = []
                for lev in (self.level, self.level + 1):
                    r = self._rule(lev)
                    pts = zip(*r.coords)
                    vals.append(mpmath.fsum(w * fn(*x) for w, x in zip(r.weights, pts)))
                err = self._estimate(vals[0], vals[1])
                if err <= self._tol(vals[1]):
                    self.max_error = max(self.max_error, err)
                    return sp.Float(vals[1], self.dps)
            self._refine(str(g), err)

    # ---- monomial moments in fixed-point integer arithmetic ---------------------------
    def moment(self, gens: tuple[sp.Expr, ...], ex: tuple[int, ...]) -> Any:
        """E[prod_j gens_j^{ex_j}] (gens: numeric functions of the state) as an mpf."""
        while True:
            key = (gens, ex)
            if key in self._cache:
                return self._cache[key]
            a = self._int_moment(gens, ex, self.level)
            b = self._int_moment(gens, ex, self.level + 1)
            err = self._estimate(a, b)
            if err <= self._tol(b):
                self.max_error = max(self.max_error, err)
                self._cache[key] = b
                return b
            self._refine(f"the moment {ex} of {gens}", err)

    def _int_moment(self, gens: tuple[sp.Expr, ...], ex: tuple[int, ...], level: int) -> Any:
        F = self.bits
        acc = self._weights_int(level)
        for j, e in enumerate(ex):
            if e:
                acc = (acc * self._power_table(gens, j, e, level)) >> F
        with mpmath.workdps(self.dps + 15):
            return mpmath.ldexp(mpmath.mpf(int(acc.sum())), -F)

    def _weights_int(self, level: int) -> Any:
        if level not in self._int_weights:
            r = self._rule(level)
            self._int_weights[level] = np.array([int(mpmath.ldexp(w, self.bits)) for w in r.weights], dtype=object)
        return self._int_weights[level]

    def _power_table(self, gens: tuple[sp.Expr, ...], j: int, e: int, level: int) -> Any:
        key = (gens[j], e, level)
        if key in self._tables:
            return self._tables[key]
        if e == 1:
            r = self._rule(level)
            fn = sp.lambdify(list(self._state_of(r)), gens[j], modules="mpmath")
            with mpmath.workdps(self.dps + 15):
                vals = [fn(*x) for x in zip(*r.coords)]
                tab = np.array([int(mpmath.ldexp(mpmath.mpf(v), self.bits)) for v in vals], dtype=object)
        else:
            tab = (self._power_table(gens, j, e - 1, level) * self._power_table(gens, j, 1, level)) >> self.bits
        self._tables[key] = tab
        return tab

    def _state_of(self, r: Rule) -> tuple[sp.Symbol, ...]:
        return self.family.state


class GaussianRuleFamily(RuleFamily):
    """h = m + L z, z ~ N(0, I_r): tensor product of 1-D panel rules for exp(-z^2/2)."""

    def __init__(self, state: Sequence[sp.Symbol], mean: list[Any], L: list[list[Any]], dps: int):
        self.mean, self.L, self.dps = mean, L, dps
        self.r = len(L[0]) if L else 0
        self.state = tuple(state)
        self.zmax = mpmath.sqrt(2 * (dps * mpmath.log(10) + 12))
        zmax = mpmath.nstr(self.zmax, 4)
        self.description = f"Gauss-Legendre panels in whitened coordinates z in [-{zmax}, {zmax}]^{self.r}"

    def rule(self, level: int) -> Rule:
        prec = mpmath.mp.prec
        panels = 8 if self.r > 1 else 16
        z1, w1 = _panel_rule(-self.zmax, self.zmax, panels, 3 + level, prec)
        w1 = [w * mpmath.exp(-z * z / 2) for z, w in zip(z1, w1)]
        tot = mpmath.fsum(w1)
        w1 = [w / tot for w in w1]
        grids: list[tuple[list[Any], Any]] = [([], mpmath.mpf(1))]
        for _ in range(self.r):
            grids = [(zs + [z], w * wz) for zs, w in grids for z, wz in zip(z1, w1)]
        n = len(self.mean)
        coords = [
            [self.mean[i] + mpmath.fsum(self.L[i][k] * zs[k] for k in range(self.r)) for zs, _ in grids]
            for i in range(n)
        ]
        return Rule(coords, [w for _, w in grids])


class OneDRuleFamily(RuleFamily):
    """rho_inf(x) ~ exp(ell(x)), ell' = (2 phi - D') / D, on a box found from the drift."""

    def __init__(self, h: sp.Symbol, dlog: sp.Expr, D: sp.Expr, dps: int, phi: sp.Expr):
        self.state = (h,)
        self.dps = dps
        self.threshold = dps * math.log(10) + 20
        with mpmath.workdps(dps + 15):
            self._dl = sp.lambdify([h], dlog, modules="mpmath")
            self._D = sp.lambdify([h], D, modules="mpmath")
            try:
                poly = sp.Poly(dlog, h)
            except sp.PolynomialError:
                poly = None
            if poly is not None:
                ell = sp.integrate(poly.as_expr(), h)
                self._ell_exact: Callable[[Any], Any] | None = sp.lambdify([h], ell, modules="mpmath")
            else:
                self._ell_exact = None
            self.a, self.b = self._find_limits(phi)
        self.description = (
            f"Gauss-Legendre panels on [{mpmath.nstr(self.a, 6)}, {mpmath.nstr(self.b, 6)}] "
            f"(log-density drops by > {self.threshold:.0f} at the ends)"
        )

    def _ell_between(self, x0: Any, x1: Any) -> Any:
        if self._ell_exact is not None:
            return self._ell_exact(x1) - self._ell_exact(x0)
        return mpmath.quad(self._dl, [x0, x1])

    def _find_limits(self, phi: sp.Expr) -> tuple[Any, Any]:
        zero = mpmath.mpf(0)
        ends = []
        top = zero
        for sign in (1, -1):
            x, ell = zero, zero
            step = mpmath.mpf(1) / 8
            while True:
                if abs(x) > 1e6:
                    side = "positive" if sign > 0 else "negative"
                    if ell < top - 2 * math.log(abs(x)) - 1:  # decays, but only like a power of |h|
                        raise StationaryLawError(
                            f"initial: the stationary density rho_inf ~ D^-1 exp(int 2 phi / D) with phi = {phi} has "
                            f"a heavy (power-law) tail in the {side} direction: it has not decayed by "
                            f"{self.threshold:.0f} in log within |h| < 1e6, so it cannot be integrated to {self.dps} "
                            "digits here; lower dps, or " + OTHER_STARTS
                        )
                    raise StationaryLawError(
                        f"initial: the stationary density rho_inf ~ D^-1 exp(int 2 phi / D) with phi = {phi} is not "
                        f"normalisable (its log-density does not decay in the {side} direction): the drift does not "
                        "confine the process, so there is no stationary law; " + OTHER_STARTS
                    )
                nx = x + sign * step
                self._check_D(nx)
                ell = ell + self._ell_between(x, nx)
                x = nx
                top = max(top, ell)
                slope = sign * self._dl(x)
                if ell < top - self.threshold and slope < 0:
                    tail = mpmath.exp(ell - top) / abs(slope)
                    if tail < mpmath.mpf(10) ** (-self.dps - 5):
                        break
                step = step * 2 if abs(x) >= step * 4 else step
            ends.append(x)
        return ends[1], ends[0]

    def _check_D(self, x: Any) -> None:
        if not self._D(x) > 0:
            raise StationaryLawError(
                f"initial: D(h) = sigma(h)^2 must be positive for the 1-D stationary density; it is "
                f"{mpmath.nstr(self._D(x), 5)} at h = {mpmath.nstr(x, 5)}; " + OTHER_STARTS
            )

    def rule(self, level: int) -> Rule:
        prec = mpmath.mp.prec
        panels = 16
        xs, ws = _panel_rule(self.a, self.b, panels, 3 + level, prec)
        ells = self._ell_at(xs, panels, 3 + level)
        top = max(ells)
        ws = [w * mpmath.exp(e - top) for w, e in zip(ws, ells)]
        tot = mpmath.fsum(ws)
        if not tot > 0:
            raise StationaryLawError("initial: the stationary density integrates to zero; " + OTHER_STARTS)
        return Rule([xs], [w / tot for w in ws])

    def _ell_at(self, xs: list[Any], panels: int, degree: int) -> list[Any]:
        if self._ell_exact is not None:
            return [self._ell_exact(x) for x in xs]
        # cumulative: ell(x_i) = ell(panel start) + half * sum_j Q_ij ell'(x_j)   (spectral integration)
        base = _gl_nodes(degree, mpmath.mp.prec)
        Q = _gl_integration_matrix(degree, mpmath.mp.prec)
        per = len(base)
        half = (self.b - self.a) / panels / 2
        out: list[Any] = []
        ell_left = mpmath.mpf(0)
        for k in range(panels):
            d = [self._dl(x) for x in xs[k * per : (k + 1) * per]]
            out.extend(ell_left + half * mpmath.fdot(row, d) for row in Q)
            ell_left = ell_left + half * mpmath.fdot([w for _, w in base], d)
        return out


@lru_cache(maxsize=4)
def _gl_integration_matrix(degree: int, prec: int) -> tuple[tuple[Any, ...], ...]:
    """Q_ij = int_{-1}^{t_i} l_j(t) dt for the Lagrange basis l_j on the Gauss-Legendre nodes t_j.

    With l_j(t) = w_j sum_k (2k+1)/2 P_k(t_j) P_k(t) and int_{-1}^x P_k = (P_{k+1} - P_{k-1})(x) / (2k+1):
    Q_ij = w_j [ (t_i + 1)/2 + sum_{k=1}^{N-1} P_k(t_j) (P_{k+1}(t_i) - P_{k-1}(t_i)) / 2 ].
    """
    base = _gl_nodes(degree, prec)
    N = len(base)
    with mpmath.workprec(prec):

        def legendre_all(x: Any) -> list[Any]:
            P = [mpmath.mpf(1), x]
            for k in range(1, N):
                P.append(((2 * k + 1) * x * P[k] - k * P[k - 1]) / (k + 1))
            return P

        tab = [legendre_all(t) for t, _ in base]
        rows = []
        for i in range(N):
            Pi = tab[i]
            ti = base[i][0]
            row = []
            for j in range(N):
                Pj = tab[j]
                acc = (ti + 1) / 2 + mpmath.fsum(Pj[k] * (Pi[k + 1] - Pi[k - 1]) / 2 for k in range(1, N))
                row.append(base[j][1] * acc)
            rows.append(tuple(row))
    return tuple(rows)


class BoxRuleFamily(RuleFamily):
    """rho ~ exp(ell(x)) in 2-D on a box found by expanding squares (tensor panel rule)."""

    def __init__(self, state: Sequence[sp.Symbol], ell: sp.Expr, dps: int):
        self.state = tuple(state)
        self.dps = dps
        self.threshold = dps * math.log(10) + 20
        self.ell_expr = ell
        with mpmath.workdps(dps + 15):
            self._ell = sp.lambdify(list(state), ell, modules="mpmath")
            self.box = self._find_box()
        lims = ", ".join(f"[{mpmath.nstr(a, 5)}, {mpmath.nstr(b, 5)}]" for a, b in self.box)
        self.description = f"tensor Gauss-Legendre panels on {lims}"

    def _edge_max(self, box: list[list[Any]], axis: int, side: int, samples: int = 96) -> Any:
        other = 1 - axis
        lo, hi = box[other]
        x = box[axis][side]
        best = mpmath.mpf("-inf")
        for k in range(samples + 1):
            y = lo + (hi - lo) * k / samples
            pt = [x, y] if axis == 0 else [y, x]
            best = max(best, self._ell(*pt))
        return best

    def _inner_max(self, box: list[list[Any]], samples: int = 48) -> Any:
        (a1, b1), (a2, b2) = box
        return max(
            self._ell(a1 + (b1 - a1) * i / samples, a2 + (b2 - a2) * j / samples)
            for i in range(samples + 1)
            for j in range(samples + 1)
        )

    def _find_box(self) -> list[list[Any]]:
        R = mpmath.mpf(1)
        while True:
            box = [[-R, R], [-R, R]]
            top = self._inner_max(box)
            edges = [self._edge_max(box, ax, sd) for ax in (0, 1) for sd in (0, 1)]
            if max(edges) < top - self.threshold:
                break
            R *= 2
            if R > 1e4:
                raise StationaryLawError(
                    f"initial: exp({self.ell_expr}) does not decay within |h| < 1e4: the potential does not confine "
                    "the process, so there is no normalisable stationary law; " + OTHER_STARTS
                )
        self.top = top
        # shrink each side while its edge stays below the threshold
        for ax in (0, 1):
            for sd in (0, 1):
                for _ in range(30):
                    trial = [list(box[0]), list(box[1])]
                    trial[ax][sd] = box[ax][sd] * mpmath.mpf("0.9")
                    if self._edge_max(trial, ax, sd) < top - self.threshold:
                        box = trial
                    else:
                        break
        return box

    def rule(self, level: int) -> Rule:
        prec = mpmath.mp.prec
        panels = 8
        (a1, b1), (a2, b2) = self.box
        x1, w1 = _panel_rule(a1, b1, panels, 3 + level, prec)
        x2, w2 = _panel_rule(a2, b2, panels, 3 + level, prec)
        c1: list[Any] = []
        c2: list[Any] = []
        ws: list[Any] = []
        ells: list[Any] = []
        for xa, wa in zip(x1, w1):
            for xb, wb in zip(x2, w2):
                c1.append(xa)
                c2.append(xb)
                ws.append(wa * wb)
                ells.append(self._ell(xa, xb))
        top = max(ells)
        ws = [w * mpmath.exp(e - top) for w, e in zip(ws, ells)]
        tot = mpmath.fsum(ws)
        return Rule([c1, c2], [w / tot for w in ws])
