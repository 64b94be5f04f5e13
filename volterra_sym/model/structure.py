"""Networks as matrices: the numeric structure of SRNN-like models (issue 20, part 0).

A model whose drift is affine plus an activation of an affine map,

    phi(h) = -Gamma h + a(W h + b),   gamma(h) = C (constant),   sigma(h) = sigma (constant, n x r),

is evaluated with matrix products instead of n^2 separate expressions.  With z = W h + b:

    D phi(h)            = -Gamma + diag(a'(z)) W                               (n x n)
    D^2 phi(h)[u, v]    = a''(z) * (W u) * (W v)                               (element-wise)
    D^3 phi(h)[u, v, w] = a'''(z) * (W u) * (W v) * (W w)

so a curvature contraction costs O(n^2) per vector (MATH.md section 10).  ``input == "inside"``
(the input inside the activation, a(W h + b + C u)) is part of the interface for importers; the
detection here finds the "outside" form (gamma = C) only.

:func:`network_structure` returns the structure of a model: the arrays the constructors
:func:`~volterra_sym.model.diffusion.SRNN` / :func:`~volterra_sym.model.diffusion.OU` were given
(no symbolic work), or, for any other :class:`Diffusion`, what a cheap term-by-term reading of its
numeric drift finds (``None`` when the drift is not of this form or parameters have no values).
Deciding linearity is then ``activation == "identity"``, with no symbolic Jacobian.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

__all__ = ["ACTIVATIONS", "NetworkStructure", "network_structure"]

ACTIVATIONS = ("identity", "tanh", "sigmoid")
_CACHE_KEY = "_network_structure"


def _tanh_derivative(t: np.ndarray, d: int) -> np.ndarray:
    """d-th derivative of tanh at z, written in t = tanh z (d = 1..4)."""
    s = 1.0 - t * t  # tanh'
    if d == 1:
        return s
    if d == 2:
        return -2.0 * t * s
    if d == 3:
        return (6.0 * t * t - 2.0) * s
    return (16.0 * t - 24.0 * t**3) * s


def _sigmoid_derivative(y: np.ndarray, d: int) -> np.ndarray:
    """d-th derivative of the logistic sigmoid at z, written in y = sigmoid z (d = 1..4)."""
    s = y * (1.0 - y)
    if d == 1:
        return s
    if d == 2:
        return s * (1.0 - 2.0 * y)
    if d == 3:
        return s * (1.0 - 6.0 * y + 6.0 * y * y)
    return s * (1.0 - 2.0 * y) * (1.0 - 12.0 * y + 12.0 * y * y)


@dataclass(frozen=True, eq=False)
class NetworkStructure:
    """phi(h) = -Gamma h + a(W h + b) (+ C u inside a(.) when input == "inside"), gamma(h) = C constant
    when input == "outside", sigma constant n x r.  All arrays float64.

    Shapes: Gamma, W (n, n); b (n,); C (n, m); sigma (n, r).
    """

    Gamma: np.ndarray
    W: np.ndarray
    b: np.ndarray
    C: np.ndarray
    sigma: np.ndarray
    activation: str
    input: str = "outside"
    _digest: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for name in ("Gamma", "W", "b", "C", "sigma"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, received {self.activation!r}")
        if self.input not in ("outside", "inside"):
            raise ValueError(f"input: expected 'outside' or 'inside', received {self.input!r}")
        n = self.b.shape[0]
        if self.Gamma.shape != (n, n) or self.W.shape != (n, n) or self.C.shape[0] != n or self.sigma.shape[0] != n:
            raise ValueError(
                f"NetworkStructure: inconsistent shapes Gamma {self.Gamma.shape}, W {self.W.shape}, b {self.b.shape}, "
                f"C {self.C.shape}, sigma {self.sigma.shape}"
            )

    # ---- shapes
    @property
    def n(self) -> int:
        return int(self.b.shape[0])

    @property
    def m(self) -> int:
        return int(self.C.shape[1])

    @property
    def r(self) -> int:
        return int(self.sigma.shape[1])

    @property
    def linear(self) -> bool:
        """True when the drift is affine (identity activation, input outside)."""
        return self.activation == "identity" and self.input == "outside"

    def digest(self) -> str:
        """A short fingerprint of the arrays (for caches and model repr)."""
        if not self._digest:
            import hashlib

            h = hashlib.sha1(f"{self.activation}/{self.input}".encode())
            for arr in (self.Gamma, self.W, self.b, self.C, self.sigma):
                h.update(np.ascontiguousarray(arr).tobytes())
                h.update(str(arr.shape).encode())
            self._digest.append(h.hexdigest()[:12])
        return str(self._digest[0])

    # ---- the activation
    def a(self, z: np.ndarray, d: int = 0) -> np.ndarray:
        """The d-th derivative of the activation at z (d = 0..4), element-wise."""
        z = np.asarray(z, dtype=float)
        if self.activation == "identity":
            if d == 0:
                return z.copy()
            return np.full_like(z, 1.0 if d == 1 else 0.0)
        if self.activation == "tanh":
            t = np.tanh(z)
            return t if d == 0 else _tanh_derivative(t, d)
        y = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic sigmoid, overflow-free
        return y if d == 0 else _sigmoid_derivative(y, d)

    # ---- numerics, state last: H (..., n)
    def pre(self, H: np.ndarray) -> np.ndarray:
        """z = W h + b for H (..., n) -> (..., n)."""
        return np.asarray(H) @ self.W.T + self.b

    def drift(self, H: np.ndarray) -> np.ndarray:
        """phi(H) for H (..., n) -> (..., n) (input outside, or zero input)."""
        H = np.asarray(H, dtype=float)
        return -(H @ self.Gamma.T) + self.a(self.pre(H))

    def jacobian(self, h: np.ndarray) -> np.ndarray:
        """D phi(h) = -Gamma + diag(a'(W h + b)) W for h (n,) -> (n, n)."""
        z = self.pre(np.asarray(h, dtype=float).reshape(self.n))
        return -self.Gamma + self.a(z, 1)[:, None] * self.W

    # ---- numerics, paths last: H (..., n, P) (the layout of the Monte Carlo ensembles)
    def pre_columns(self, H: np.ndarray) -> np.ndarray:
        """z = W h + b for H (..., n, P) -> (..., n, P)."""
        return np.matmul(self.W, H) + self.b[:, None]

    def drift_columns(self, H: np.ndarray) -> np.ndarray:
        """phi for H (..., n, P) -> (..., n, P)."""
        out = self.a(self.pre_columns(H))
        out -= np.matmul(self.Gamma, H)
        return out

    def curvature(self, z: np.ndarray, d: int, *vectors: np.ndarray) -> np.ndarray:
        """D^d phi(h)[v_1, ..., v_d] = a^(d)(z) * prod_i (W v_i) at z = W h + b (d >= 2), columns (n, ...) .

        z has shape (n, P); each v_i (n, ..., P) broadcasts against it on the first axis.
        """
        ad = self.a(z, d)
        out = None
        for v in vectors:
            Wv = np.tensordot(self.W, v, axes=(1, 0))
            out = Wv if out is None else out * Wv
        assert out is not None
        shape = (self.n,) + (1,) * (out.ndim - ad.ndim) + ad.shape[1:]
        return ad.reshape(shape) * out

    # ---- symbolic form (built only where formulas are asked for)
    def symbolic_drift(self, state: tuple[sp.Symbol, ...]) -> sp.Matrix:
        """phi(h) as a sympy column in the given state symbols (O(n^2) expressions: small n only)."""
        h = sp.Matrix(state)
        G = sp.Matrix(self.Gamma.tolist()).applyfunc(_number)
        W = sp.Matrix(self.W.tolist()).applyfunc(_number)
        b = sp.Matrix(self.b.tolist()).applyfunc(_number)
        if self.activation == "identity":
            return (W - G) * h + b
        act = sp.tanh if self.activation == "tanh" else (lambda x: 1 / (1 + sp.exp(-x)))
        pre = W * h + b
        return -G * h + sp.Matrix([act(x) for x in pre])


def _number(x: float) -> sp.Expr:
    """An exact integer where the float is one, else a Float (keeps symbolic forms readable)."""
    xf = float(x)
    if xf.is_integer() and abs(xf) < 2**53:
        return sp.Integer(int(xf))
    return sp.Float(xf)


# --------------------------------------------------------------------------- detection


def network_structure(model: Any) -> NetworkStructure | None:
    """The :class:`NetworkStructure` of ``model`` (a :class:`~volterra_sym.model.Diffusion`), or None
    when its drift is not affine plus an activation of an affine map, its noise or input coupling
    depends on the state, or parameters lack values.  Cached on the model."""
    cache = model.__dict__
    if _CACHE_KEY in cache:
        return cache[_CACHE_KEY]
    given = model.__dict__.get("_structure")
    found = given if given is not None else _detect(model)
    object.__setattr__(model, _CACHE_KEY, found)
    return found


def _detect(model: Any) -> NetworkStructure | None:
    if model.parameters:
        missing = [s for s in model.parameters if s not in model.params]
        if missing:
            return None
        model = model.with_values()
    state = model.state
    index = {s: i for i, s in enumerate(state)}
    n = len(state)
    sigma = _constant(model.diffusion, index)
    C = _constant(model.coupling, index)
    if sigma is None or C is None:
        return None
    Gamma = np.zeros((n, n))
    W = np.zeros((n, n))
    b = np.zeros(n)
    c = np.zeros(n)
    kinds: set[str] = set()
    active = np.zeros(n, dtype=bool)
    for i, e in enumerate(model.drift):
        for term in sp.Add.make_args(sp.expand(e, deep=False)):
            if not term.free_symbols & set(state):
                v = _float(term)
                if v is None:
                    return None
                c[i] += v
                continue
            lin = _linear_term(term, index)
            if lin is not None:
                j, coeff = lin
                Gamma[i, j] -= coeff
                continue
            act = _activation_term(term, index)
            if act is None or active[i]:
                return None
            kind, row, const = act
            kinds.add(kind)
            active[i] = True
            W[i], b[i] = row, const
    if len(kinds) > 1:
        return None
    kind = kinds.pop() if kinds else "identity"
    if kind == "identity":
        b = c
    else:  # a constant row c_i (no activation term) is a(b_i) with W_i = 0; active rows take no constant
        if np.any(c[active] != 0.0):
            return None
        inverse = np.arctanh if kind == "tanh" else (lambda y: np.log(y / (1.0 - y)))
        lo, hi = (-1.0, 1.0) if kind == "tanh" else (0.0, 1.0)
        rest = c[~active]
        if np.any(rest <= lo) or np.any(rest >= hi):
            return None
        b[~active] = inverse(rest) if rest.size else rest
    return NetworkStructure(Gamma, W, b, C, sigma, kind)


def _float(e: sp.Expr) -> float | None:
    try:
        v = float(e)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _constant(mat: sp.Matrix, index: dict) -> np.ndarray | None:
    out = np.empty(mat.shape)
    for (i, j), e in np.ndenumerate(np.array(mat.tolist(), dtype=object)):
        if e.free_symbols & set(index):
            return None
        v = _float(e)
        if v is None:
            return None
        out[i, j] = v
    return out


def _linear_term(term: sp.Expr, index: dict) -> tuple[int, float] | None:
    """(j, c) when term = c * h_j with a number c."""
    coeff, rest = term.as_coeff_Mul()
    if rest in index:
        return index[rest], float(coeff)
    return None


def _affine(expr: sp.Expr, index: dict) -> tuple[np.ndarray, float] | None:
    """(row w, constant c) with expr = w . h + c, or None."""
    row = np.zeros(len(index))
    const = 0.0
    for term in sp.Add.make_args(sp.expand(expr)):
        if not term.free_symbols & set(index):
            v = _float(term)
            if v is None:
                return None
            const += v
            continue
        lin = _linear_term(term, index)
        if lin is None:
            return None
        row[lin[0]] += lin[1]
    return row, const


def _activation_term(term: sp.Expr, index: dict) -> tuple[str, np.ndarray, float] | None:
    """('tanh' | 'sigmoid', w, c) when term = tanh(w . h + c) or 1 / (1 + exp(-(w . h + c)))."""
    coeff, rest = term.as_coeff_Mul()
    if isinstance(rest, sp.tanh) and coeff in (1, -1):  # sympy writes tanh(-x) as -tanh(x): tanh is odd
        aff = _affine(rest.args[0], index)
        return None if aff is None else ("tanh", float(coeff) * aff[0], float(coeff) * aff[1])
    if isinstance(term, sp.Pow) and term.exp == -1:  # 1 / (1 + k exp(u)), k > 0: sigmoid(-u - log k)
        parts = sp.Add.make_args(term.base)
        ones = [p for p in parts if p == 1]
        others = [p for p in parts if p != 1]
        if len(parts) == 2 and len(ones) == 1:
            k, e = others[0].as_coeff_Mul()
            if isinstance(e, sp.exp) and k > 0:
                aff = _affine(-e.args[0], index)
                return None if aff is None else ("sigmoid", aff[0], aff[1] - float(np.log(float(k))))
    return None
