"""Exponential polynomials: the normal form of every linear-SRNN kernel.

An :class:`ExpPoly` over variables v = (v_1, ..., v_d) is a finite sum

    F(v) = sum_j c_j * prod_i v_i^{p_ij} * exp(-mu_ij v_i)

stored as a dict ``{(mu_j, p_j): c_j}`` with ``mu_j`` a d-tuple of rates and
``p_j`` a d-tuple of non-negative integer powers.  Rates and coefficients are
SymPy expressions: exact numbers (rationals, Gaussian rationals, quadratic
irrationals), symbolic expressions, or high-precision ``Float``s.  Complex
rates appear in conjugate pairs for real kernels; :meth:`ExpPoly.as_expr`
returns the manifestly real form with ``cos``/``sin`` factors.

The form is closed under sums, products, substitution v -> sum of variables,
and integration (MATH.md section 5 uses all three), prints well, and lowers to
the O(grid) recursive filters of :mod:`volterra_sym.series`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from math import comb, factorial
from typing import Any

import mpmath
import sympy as sp

Key = tuple[tuple[sp.Expr, ...], tuple[int, ...]]

_ZERO = sp.Integer(0)


_MP = (mpmath.mpf, mpmath.mpc)
#: mpmath rates are snapped to a grid 2^SNAP_BITS coarser than the working precision (relative to |rate|)
SNAP_BITS = 16


def is_mp(x: object) -> bool:
    """True for mpmath numbers (the high-precision numeric domain)."""
    return isinstance(x, _MP)


def canonical_rate(rate: sp.Expr) -> sp.Expr:
    """Canonical form of a rate, so equal rates give equal dict keys.

    Exact/symbolic rates are expanded; mpmath rates are snapped to a grid of
    2^-(prec - SNAP_BITS) relative to their size, so that sums computed in
    different orders hash alike while keeping all but the last few bits.
    """
    if isinstance(rate, _MP):
        z = mpmath.mpc(rate)
        if z == 0:
            return _ZERO
        q = mpmath.mpf(2) ** (mpmath.mag(abs(z)) - mpmath.mp.prec + SNAP_BITS)
        return mpmath.mpc(mpmath.nint(z.real / q) * q, mpmath.nint(z.imag / q) * q)
    rate = sp.sympify(rate, strict=True)
    if rate.is_Number:
        return rate
    return sp.expand(rate)


def is_zero(c: sp.Expr) -> bool:
    """Exact zero test for a coefficient (structural first, then ``cancel``)."""
    if isinstance(c, (*_MP, int)):
        return c == 0
    if c == 0:
        return True
    if c.is_Number:
        return bool(c == 0)
    return sp.cancel(sp.expand(c)) == 0


def to_sympy(x: object, dps: int = 30) -> sp.Expr:
    """Convert a coefficient or rate to SymPy (mpmath numbers become Floats with ``dps`` digits)."""
    if isinstance(x, mpmath.mpf):
        return sp.Float(x, dps)
    if isinstance(x, mpmath.mpc):
        re, im = sp.Float(x.real, dps), sp.Float(x.imag, dps)
        return re + sp.I * im if x.imag != 0 else re
    return sp.sympify(x, strict=True)


def numeric_value(x: object, subs: dict, dps: int = 20) -> mpmath.mpc:
    """A coefficient or rate as an mpmath number at ``dps`` digits, parameters substituted from ``subs``.

    Raises a VolterraError naming the parameters that have no numeric value.
    """
    if isinstance(x, _MP):
        return mpmath.mpc(x)
    if isinstance(x, (int, float, complex)):
        return mpmath.mpc(x)
    expr = sp.sympify(x, strict=True)
    if expr.free_symbols:
        expr = expr.xreplace(subs)
        if expr.free_symbols:
            from ..errors import VolterraError

            raise VolterraError(
                f"params: the kernels contain symbolic parameter(s) {sorted(map(str, expr.free_symbols))} without "
                "numeric values; give them as params={'name': value} when building the model"
            )
    value = sp.N(expr, dps + 5)
    if value.has(sp.zoo, sp.oo, -sp.oo, sp.nan) or not value.is_finite:
        from ..errors import VolterraError

        raise VolterraError(
            f"params: the symbolic kernels are singular at the given parameter values {dict(subs)} (a coefficient "
            f"{x} becomes {value}); this happens where the generic formula divides by zero, e.g. where two "
            "eigenvalues coincide. Derive with the numbers instead: vs.derive(model.with_values()), which "
            "finds the confluent (Jordan) form"
        )
    with mpmath.workdps(dps + 5):
        re, im = value.as_real_imag()
        return mpmath.mpc(mpmath.mpf(str(sp.Float(re, dps + 5))), mpmath.mpf(str(sp.Float(im, dps + 5))))


class ExpPoly:
    """A sum of ``c * prod v_i^p_i * exp(-mu_i v_i)`` terms over fixed variables ``vars``."""

    __slots__ = ("vars", "terms")

    def __init__(self, vars: Sequence[sp.Symbol], terms: dict[Key, sp.Expr] | None = None):
        self.vars: tuple[sp.Symbol, ...] = tuple(vars)
        self.terms: dict[Key, sp.Expr] = {}
        if terms:
            for (mu, p), c in terms.items():
                self._add_term(tuple(canonical_rate(x) for x in mu), tuple(p), c)

    # ---- construction --------------------------------------------------------------
    @classmethod
    def constant(cls, vars: Sequence[sp.Symbol], c: sp.Expr) -> ExpPoly:
        d = len(tuple(vars))
        return cls(vars, {((_ZERO,) * d, (0,) * d): c if isinstance(c, (*_MP, int)) else sp.sympify(c, strict=True)})

    @classmethod
    def zero(cls, vars: Sequence[sp.Symbol]) -> ExpPoly:
        return cls(vars)

    def _add_term(self, mu: tuple[sp.Expr, ...], p: tuple[int, ...], c: sp.Expr) -> None:
        key = (mu, p)
        if key in self.terms:
            self.terms[key] = self.terms[key] + c
        else:
            self.terms[key] = c

    def copy(self) -> ExpPoly:
        out = ExpPoly(self.vars)
        out.terms = dict(self.terms)
        return out

    # ---- arithmetic ----------------------------------------------------------------
    def _check(self, other: ExpPoly) -> None:
        if other.vars != self.vars:
            raise ValueError(f"ExpPoly variables differ: {self.vars} vs {other.vars}")

    def __add__(self, other: ExpPoly | sp.Expr | int) -> ExpPoly:
        if not isinstance(other, ExpPoly):
            other = ExpPoly.constant(self.vars, other)
        self._check(other)
        out = self.copy()
        for (mu, p), c in other.terms.items():
            out._add_term(mu, p, c)
        return out

    __radd__ = __add__

    def __neg__(self) -> ExpPoly:
        out = ExpPoly(self.vars)
        out.terms = {k: -c for k, c in self.terms.items()}
        return out

    def __sub__(self, other: ExpPoly | sp.Expr | int) -> ExpPoly:
        if not isinstance(other, ExpPoly):
            other = ExpPoly.constant(self.vars, other)
        return self + (-other)

    def scale(self, c: sp.Expr) -> ExpPoly:
        out = ExpPoly(self.vars)
        if c == 0:
            return out
        out.terms = {k: v * c for k, v in self.terms.items()}
        return out

    def __mul__(self, other: ExpPoly | sp.Expr | int) -> ExpPoly:
        if not isinstance(other, ExpPoly):
            return self.scale(other if isinstance(other, (*_MP, int)) else sp.sympify(other, strict=True))
        self._check(other)
        out = ExpPoly(self.vars)
        for (mu1, p1), c1 in self.terms.items():
            for (mu2, p2), c2 in other.terms.items():
                mu = tuple(
                    canonical_rate(a + b) if (a != 0 and b != 0) else (a if b == 0 else b) for a, b in zip(mu1, mu2)
                )
                p = tuple(a + b for a, b in zip(p1, p2))
                out._add_term(mu, p, c1 * c2)
        return out

    __rmul__ = __mul__

    # ---- normalisation -------------------------------------------------------------
    def simplified(self, simplify: bool = True) -> ExpPoly:
        """Drop zero coefficients; with ``simplify`` put symbolic coefficients in factored form."""
        out = ExpPoly(self.vars)
        mp_vals = [abs(c) for c in self.terms.values() if isinstance(c, _MP)]
        # mpmath coefficients: parts below the working precision (relative to the largest) are rounding residue
        floor = max(mp_vals) * mpmath.mpf(10) ** (3 - mpmath.mp.dps) if mp_vals else 0
        for key, c in self.terms.items():
            if c == 0:
                continue
            if isinstance(c, int):
                c = sp.Integer(c)
            if isinstance(c, _MP):
                z = mpmath.mpc(c)
                re = z.real if abs(z.real) > floor else 0
                im = z.imag if abs(z.imag) > floor else 0
                if re == 0 and im == 0:
                    continue
                out.terms[key] = mpmath.mpc(re, im) if im else mpmath.mpf(re)
                continue
            if not c.is_Number:
                c = sp.expand(c)
                if simplify and c.free_symbols:
                    c = sp.factor(sp.cancel(c))
                elif c.has(sp.I):  # algebraic complex constant: rationalise denominators (real/imag split)
                    c = sp.expand(sp.radsimp(c))
                if c == 0:
                    continue
            out.terms[key] = c
        return out

    def is_zero(self) -> bool:
        return all(is_zero(c) for c in self.terms.values())

    def __bool__(self) -> bool:  # pragma: no cover - use is_zero()
        return not self.is_zero()

    def __len__(self) -> int:
        return len(self.terms)

    def __iter__(self) -> Iterator[tuple[tuple[sp.Expr, ...], tuple[int, ...], sp.Expr]]:
        for (mu, p), c in self.terms.items():
            yield mu, p, c

    # ---- change of variables -------------------------------------------------------
    def embed(self, new_vars: Sequence[sp.Symbol], positions: Sequence[int]) -> ExpPoly:
        """Re-express over ``new_vars``; old variable i becomes new variable ``positions[i]``."""
        new_vars = tuple(new_vars)
        d = len(new_vars)
        out = ExpPoly(new_vars)
        for (mu, p), c in self.terms.items():
            nm = [_ZERO] * d
            npow = [0] * d
            for i, j in enumerate(positions):
                nm[j], npow[j] = mu[i], p[i]
            out._add_term(tuple(nm), tuple(npow), c)
        return out

    def substitute_sum(self, index: int, new_vars: Sequence[sp.Symbol], parts: Sequence[int]) -> ExpPoly:
        """Replace variable ``index`` (the only variable of a univariate ExpPoly) by a sum.

        For a univariate F(t) = sum c t^p exp(-mu t), return F(v_{j1} + ... + v_{jk})
        over ``new_vars`` with ``parts`` = (j1, ..., jk):  exp(-mu sum v) factorises,
        (sum v)^p expands by the multinomial theorem.
        """
        if len(self.vars) != 1 or index != 0:
            raise ValueError("substitute_sum expects a univariate ExpPoly")
        new_vars = tuple(new_vars)
        d = len(new_vars)
        out = ExpPoly(new_vars)
        for (mu,), (p,), c in self:
            rates = [_ZERO] * d
            for j in parts:
                rates[j] = mu
            for powers, mult in _multinomial(p, len(parts)):
                pw = [0] * d
                for j, q in zip(parts, powers):
                    pw[j] = q
                out._add_term(tuple(rates), tuple(pw), c * mult)
        return out

    # ---- calculus ------------------------------------------------------------------
    def integrate_univariate(self, upper: str = "t", zero_tol: float = 0.0) -> ExpPoly:
        """For univariate F, return G(t) = int_0^t F(s) ds (``upper="t"``).

        Uses int_0^t s^p e^{-mu s} ds = p!/mu^{p+1} (1 - e^{-mu t} sum_{k<=p} (mu t)^k/k!)
        for mu != 0 and t^{p+1}/(p+1) for mu == 0.
        """
        if len(self.vars) != 1:
            raise ValueError("integrate_univariate expects a univariate ExpPoly")
        out = ExpPoly(self.vars)
        for (mu,), (p,), c in self:
            if _rate_is_zero(mu, zero_tol):
                out._add_term((_ZERO,), (p + 1,), c / (p + 1))
                continue
            out._add_term((_ZERO,), (0,), c * factorial(p) / mu ** (p + 1))
            for k in range(p + 1):
                out._add_term((mu,), (k,), -c * factorial(p) / factorial(k) * mu ** (k - p - 1))
        return out

    def integral_to_infinity(self, zero_tol: float = 0.0) -> sp.Expr:
        """int_0^oo F(s) ds for univariate F whose rates all have positive real part."""
        total = _ZERO
        for (mu,), (p,), c in self:
            if _rate_is_zero(mu, zero_tol):
                raise ValueError("integral to infinity of a non-decaying term")
            total += c * factorial(p) / mu ** (p + 1)
        return total

    def derivative_at_zero(self, orders: Sequence[int]) -> sp.Expr:
        """d^{q_1}_{v_1} ... d^{q_d}_{v_d} F at v = 0 (exact)."""
        total = _ZERO
        for mu, p, c in self:
            term = c
            for q, pi, m in zip(orders, p, mu):
                # d^q [v^p e^{-m v}] at 0 = C(q, p) p! (-m)^{q-p} for q >= p, else 0
                if q < pi:
                    term = _ZERO
                    break
                term = term * comb(q, pi) * factorial(pi) * (-m) ** (q - pi)
            total += term
        return total

    # ---- output --------------------------------------------------------------------
    def as_expr(self, simplify: bool = True) -> sp.Expr:
        """The manifestly real SymPy expression sum c prod v^p exp(-Re(mu).v) [cos, sin](Im(mu).v).

        Complex terms use Re(c e^{-mu.v}) summed over all terms (the total is
        real, so no pairing is needed); the two members of a conjugate pair give
        identical real terms and are merged.
        """
        groups: dict[tuple, list[sp.Expr]] = {}
        for mu, p, c in self:
            re_mu = tuple(_re(m) for m in mu)
            im_mu = tuple(_im(m) for m in mu)
            if all(x == 0 for x in im_mu):
                key = (re_mu, p, ())
                groups.setdefault(key, [0, 0])[0] += c
                continue
            # normalise the sign of the frequency vector (cos even, sin odd)
            first = next(x for x in im_mu if x != 0)
            sign = -1 if _is_negative(first) else 1
            freq = tuple(sign * x for x in im_mu)
            key = (re_mu, p, freq)
            acc = groups.setdefault(key, [0, 0])
            acc[0] += _re(c)
            acc[1] += sign * _im(c)
        mp_vals = [abs(x) for pair in groups.values() for x in pair if isinstance(x, _MP)]
        if mp_vals:  # conjugate members are conjugate only to working precision: chop the residue
            floor = max(mp_vals) * mpmath.mpf(10) ** (3 - mpmath.mp.dps)
            for pair in groups.values():
                for j, x in enumerate(pair):
                    if isinstance(x, _MP) and abs(x) <= floor:
                        pair[j] = 0
        out = _ZERO
        for (re_mu, p, freq), (cc, cs) in groups.items():
            if cc == 0 and cs == 0:
                continue
            dps = mpmath.mp.dps
            mono = sp.Mul(*[v**q for v, q in zip(self.vars, p)])
            expo = sp.exp(-sp.Add(*[to_sympy(m, dps) * v for m, v in zip(re_mu, self.vars)]))
            if freq:
                phase = sp.Add(*[to_sympy(w, dps) * v for w, v in zip(freq, self.vars)])
                cc, cs = _tidy(cc, simplify), _tidy(cs, simplify)
                body = cc * sp.cos(phase) + cs * sp.sin(phase)
            else:
                body = _tidy(cc, simplify)
            out += body * mono * expo
        return out

    def __repr__(self) -> str:
        return f"ExpPoly({self.vars}, {len(self.terms)} terms)"


# --------------------------------------------------------------------------- helpers


def _conj_i(x: sp.Expr) -> sp.Expr:
    if isinstance(x, _MP):
        return mpmath.conj(x)
    """Formal conjugate treating every symbol as real (I -> -I)."""
    return x.xreplace({sp.I: -sp.I}) if x.has(sp.I) else x


def _re(x: sp.Expr) -> sp.Expr:
    if isinstance(x, _MP):
        return mpmath.mpf(mpmath.re(x))
    if not x.has(sp.I):
        return x
    if not x.free_symbols:
        x = sp.radsimp(x)
    return sp.expand((x + _conj_i(x)) / 2)


def _im(x: sp.Expr) -> sp.Expr:
    if isinstance(x, _MP):
        return mpmath.mpf(mpmath.im(x))
    if not x.has(sp.I):
        return _ZERO
    if not x.free_symbols:
        x = sp.radsimp(x)
    return sp.expand((x - _conj_i(x)) / (2 * sp.I))


def _is_negative(x: sp.Expr) -> bool:
    if isinstance(x, _MP):
        return bool(x < 0)
    if x.is_number:
        return bool(x < 0)
    return x.could_extract_minus_sign()


def _tidy(c: sp.Expr, simplify: bool) -> sp.Expr:
    if isinstance(c, _MP):
        return to_sympy(c, mpmath.mp.dps)
    c = sp.sympify(c, strict=True)
    if c.is_Number or not simplify:
        return c
    c = sp.expand(c)
    if c.free_symbols:
        return sp.factor(sp.cancel(c))
    return c


def _rate_is_zero(mu: sp.Expr, tol: float) -> bool:
    if isinstance(mu, _MP):
        return abs(mu) <= tol
    if mu == 0:
        return True
    if tol > 0 and mu.is_number and not mu.free_symbols:
        return abs(complex(mu)) <= tol
    return False


def _multinomial(p: int, k: int) -> Iterable[tuple[tuple[int, ...], int]]:
    """All (q_1..q_k) with sum p and their multinomial coefficients."""
    if k == 1:
        yield (p,), 1
        return
    for q in range(p + 1):
        for rest, mult in _multinomial(p - q, k - 1):
            yield (q, *rest), mult * comb(p, q)


def stable_numeric_terms(
    F: ExpPoly, subs: dict, horizon: float, *, dps: int = 50, tol: float = 1e-3
) -> list[tuple[tuple[complex, ...], tuple[int, ...], complex]]:
    """The terms of ``F`` as Python complex numbers, safe to evaluate in float64 for lags <= ``horizon``.

    Distinct but nearly equal rates (|mu' - mu| < ``tol`` * max(|mu|, 1/horizon) in the same
    variable; e.g. a nearly defective A) come with coefficients ~ (scale/|mu' - mu|)^k of opposite
    signs that cancel; evaluated term by term in float64 they lose up to all digits.  Such rates
    are merged first, exactly up to a truncation below 1e-30 relative:

        e^{-mu' v} = e^{-mu v} sum_{q <= Q} (-(mu' - mu) v)^q / q!,   (|mu' - mu| horizon)^Q / Q! < 1e-30,

    with the coefficients combined in mpmath at ``dps`` digits before rounding to float.
    """
    with mpmath.workdps(dps):
        terms = [([numeric_value(m, subs, dps) for m in mu], list(p), numeric_value(c, subs, dps)) for mu, p, c in F]
        d = len(F.vars)
        H = mpmath.mpf(horizon)
        for i in range(d):
            reps: list = []

            def close(r: Any, x: Any) -> bool:
                return bool(r == x or abs(r - x) < tol * max(abs(x), 1 / H))

            for mu, _, _ in terms:
                if not any(close(mu[i], x) for x in reps):
                    reps.append(mu[i])
            if len(reps) == len({t[0][i] for t in terms}):
                continue  # no near-coincident rates in this variable
            merged: dict[tuple, object] = {}
            for mu, p, c in terms:
                rep = next(x for x in reps if close(mu[i], x))
                delta = mu[i] - rep
                q, term = 0, c
                while True:
                    key = (
                        tuple(rep if j == i else mu[j] for j in range(d)),
                        tuple(p[j] + (q if j == i else 0) for j in range(d)),
                    )
                    merged[key] = merged.get(key, 0) + term
                    if delta == 0 or abs(delta * H) ** (q + 1) / mpmath.factorial(q + 1) < mpmath.mpf(10) ** -30:
                        break
                    q += 1
                    term = term * (-delta) / q
            terms = [(list(k[0]), list(k[1]), c) for k, c in merged.items()]
        return [(tuple(complex(m) for m in mu), tuple(p), complex(c)) for mu, p, c in terms if c != 0]
