"""Exact Gaussian oracle for linear SRNNs (MATH.md section 5), independent of the kernels.

For a linear SRNN, dh = [-A h + c + eps C u_t] dt + sigma dW with constant A, c, C,
sigma (D = sigma sigma^T), the law of h_t is Gaussian N(m_t, Cov_t):

    m_t   = e^{-A t} m_0 + int_0^t e^{-A(t-s)} (c + eps C u_s) ds
    Cov_t = e^{-A t} S_0 e^{-A^T t} + S_t,     S_t = int_0^t e^{-A s} D e^{-A^T s} ds

and for a stationary start m_0 = m_inf (A m_inf = c), Cov_t = S_inf (A S + S A^T = D).
E f(h_t) for a polynomial readout is then a Gaussian moment computation (Isserlis /
Stein recursion), with no Volterra kernels involved.

Input convention: u is known on the grid ``t`` (samples, or a callable sampled on the
grid) and is taken **piecewise linear** between grid points; that input is integrated
exactly (Van Loan block exponentials), so the only error is rounding.

This module also holds the small numerical toolkit shared with the exact simulation
scheme of :mod:`volterra_sym.simulate`: a Pade matrix exponential, the exact one-step
transition, the Kronecker Lyapunov solver and the grid/input validation.  None of it is
shared with the kernel derivation (``linear.py``, ``kernels.py``...), by design.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..errors import InputError, ModelError, NotLinearError, UnstableError, describe
from ..model.diffusion import Diffusion, Gaussian, PointMass, Stationary
from ..model.structure import network_structure
from ..validate import check_eps, check_model, input_samples, refusal
from ..validate import check_grid as _check_grid

__all__ = [
    "LinearParts",
    "Transition",
    "expm",
    "gaussian_law",
    "gaussian_oracle",
    "linear_arrays",
    "lyapunov",
    "stationary_law",
    "transition",
]

InputLike = Callable[[float], Any] | np.ndarray | Any

# --------------------------------------------------------------------------- validation


def check_times(t: Any) -> np.ndarray:
    """Validate a time grid (see :func:`volterra_sym.validate.check_grid`; a single time 0 is allowed)."""
    return _check_grid(t, min_points=1)


def input_on_grid(u: InputLike, t: np.ndarray, m: int) -> np.ndarray:
    """The input sampled on the grid, shape (len(t), m); ``None`` means no input."""
    return input_samples(u, t, m, allow_none=True)


# --------------------------------------------------------------------------- linear extraction


@dataclass(frozen=True)
class LinearParts:
    """Numbers of a linear SRNN: drift -A h + c, coupling C (n x m), noise sigma (n x r)."""

    A: np.ndarray
    c: np.ndarray
    C: np.ndarray
    sigma: np.ndarray

    @property
    def D(self) -> np.ndarray:
        """D = sigma sigma^T."""
        return self.sigma @ self.sigma.T


def _to_float(mat: sp.Matrix, where: str) -> np.ndarray:
    try:
        return np.array([[float(x) for x in row] for row in mat.tolist()], dtype=float).reshape(mat.shape)
    except TypeError:
        raise ModelError(
            f"{where}: could not evaluate {mat.tolist()} to numbers; give values for all parameters"
        ) from None


def numeric_model(model: Diffusion) -> Diffusion:
    """The model with every parameter replaced by its numeric value."""
    check_model(model)
    return model if model.is_numeric() else model.with_values()


# duplicated on purpose (algebra/linear_gaussian.affine_parts): the oracle shares no code with the kernels
def linear_arrays(model: Diffusion) -> LinearParts:
    """A = -d phi/dh, c = phi(0), C, sigma as float arrays; NotLinearError if not a linear SRNN.

    Extracted directly from the model's expressions (jacobian of the drift), not from any
    kernel-derivation code.
    """
    num = numeric_model(model)
    if num.general_input:  # before any differentiation (large drifts with the input inside are slow to differentiate)
        raise NotLinearError(
            "model: exact Gaussian formulas need a linear SRNN (affine drift, constant sigma and coupling), but the "
            "input enters the drift nonlinearly (u1..um inside phi). Use Monte Carlo with scheme='euler' instead."
        )
    net = network_structure(num)
    if net is not None and not net.linear:  # decided from the matrices: no symbolic Jacobian
        raise NotLinearError(
            "model: exact Gaussian formulas need a linear SRNN (affine drift, constant sigma and coupling), but "
            f"the drift of this {num.n}-unit network has the activation {net.activation!r} (not affine in the "
            "state). Use Monte Carlo with scheme='euler' instead."
        )
    given = num.__dict__.get("_structure")
    if given is not None and given.linear:  # the arrays the constructor was given (vs.SRNN / vs.OU)
        return LinearParts(given.Gamma - given.W, given.b.copy(), given.C.copy(), given.sigma.copy())
    h = sp.Matrix(num.state)
    state = set(num.state)
    J = num.drift.jacobian(h)
    problems = []
    if any(e.free_symbols & state for e in J):
        problems.append(f"the drift {list(num.drift)} is not affine in the state")
    if any(e.free_symbols & state for e in num.diffusion):
        problems.append(f"the noise sigma {num.diffusion.tolist()} depends on the state")
    if any(e.free_symbols & state for e in num.coupling):
        problems.append(f"the input coupling {num.coupling.tolist()} depends on the state")
    if problems:
        raise NotLinearError(
            "model: exact Gaussian formulas need a linear SRNN (affine drift, constant sigma and "
            "coupling), but " + "; ".join(problems) + ". Use Monte Carlo with scheme='euler' instead."
        )
    zero = {s: 0 for s in num.state}
    A = -_to_float(J, "drift")
    c = _to_float(num.drift.xreplace(zero), "drift").reshape(-1)
    C = _to_float(num.coupling, "coupling")
    sigma = _to_float(num.diffusion, "diffusion")
    return LinearParts(A, c, C, sigma)


# --------------------------------------------------------------------------- matrix exponential

# Pade-13 coefficients and theta_13 of Higham (2005), "The scaling and squaring method
# for the matrix exponential revisited", SIAM J. Matrix Anal. Appl. 26(4).
_PADE13 = (
    64764752532480000.0,
    32382376266240000.0,
    7771770303897600.0,
    1187353796428800.0,
    129060195264000.0,
    10559470521600.0,
    670442572800.0,
    33522128640.0,
    1323241920.0,
    40840800.0,
    960960.0,
    16380.0,
    182.0,
    1.0,
)
_THETA13 = 5.371920351148152


def expm(M: np.ndarray) -> np.ndarray:
    """Matrix exponential e^M by scaling and squaring with a [13/13] Pade approximant.

    Works for any square real or complex matrix (defective, complex spectrum...);
    backward-stable to about machine precision (Higham 2005).
    """
    M = np.asarray(M)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"expm: expected a square matrix, received shape {M.shape}")
    n = M.shape[0]
    if n == 0:
        return M.copy()
    norm = np.linalg.norm(M, 1)
    if not np.isfinite(norm):
        raise ValueError("expm: the matrix has non-finite entries")
    s = max(0, int(math.ceil(math.log2(norm / _THETA13)))) if norm > _THETA13 else 0
    X = M / (2.0**s)
    b = _PADE13
    ident = np.eye(n, dtype=X.dtype)
    X2 = X @ X
    X4 = X2 @ X2
    X6 = X4 @ X2
    U = X @ (X6 @ (b[13] * X6 + b[11] * X4 + b[9] * X2) + b[7] * X6 + b[5] * X4 + b[3] * X2 + b[1] * ident)
    V = X6 @ (b[12] * X6 + b[10] * X4 + b[8] * X2) + b[6] * X6 + b[4] * X4 + b[2] * X2 + b[0] * ident
    E = np.linalg.solve(V - U, V + U)
    for _ in range(s):
        E = E @ E
    return E


# --------------------------------------------------------------------------- exact transitions


@dataclass(frozen=True)
class Transition:
    """Exact one-step quantities of dh = (-A h + g(s)) ds + sigma dW over [0, dt].

    Phi = e^{-A dt};  G0 = int_0^dt e^{-A(dt-s)} ds;  G1 = int_0^dt e^{-A(dt-s)} s ds;
    Q = int_0^dt e^{-A s} D e^{-A^T s} ds.  For g(s) = g0 + g1 s / dt:
    h_dt = Phi h_0 + G0 g0 + G1 g1 / dt + xi,  xi ~ N(0, Q).
    """

    Phi: np.ndarray
    G0: np.ndarray
    G1: np.ndarray
    Q: np.ndarray


def transition(A: np.ndarray, D: np.ndarray, dt: float) -> Transition:
    """Exact transition over a step dt (Van Loan block exponentials plus doubling).

    Van Loan: exp of [[-A, I, 0], [0, 0, I], [0, 0, 0]] h has blocks (Phi, G0, G1) in its
    first block row; exp of [[-A, D], [0, A^T]] h has (1,2) block Q e^{A^T h}.
    The Van Loan exponentials are taken at h = dt / 2^k with ||A h|| <= 1 (so the growing
    block e^{A^T h} never overflows), then doubled k times:
    Phi(2h) = Phi^2, G0(2h) = Phi G0 + G0, G1(2h) = Phi G1 + G1 + h G0,
    Q(2h) = Q + Phi Q Phi^T.
    """
    n = A.shape[0]
    norm = float(np.linalg.norm(A, 1)) * dt
    k = max(0, int(math.ceil(math.log2(norm)))) if norm > 1.0 else 0
    h = dt / 2.0**k
    ident = np.eye(n)
    big = np.zeros((3 * n, 3 * n))
    big[:n, :n] = -A * h
    big[:n, n : 2 * n] = ident * h
    big[n : 2 * n, 2 * n :] = ident * h
    E = expm(big)
    Phi = E[:n, :n]
    G0 = E[:n, n : 2 * n]
    G1 = E[:n, 2 * n :]
    vl = np.zeros((2 * n, 2 * n))
    vl[:n, :n] = -A * h
    vl[:n, n:] = D * h
    vl[n:, n:] = A.T * h
    F = expm(vl)
    Q = F[:n, n:] @ Phi.T
    for _ in range(k):
        G1 = Phi @ G1 + G1 + h * G0
        G0 = Phi @ G0 + G0
        Q = Q + Phi @ Q @ Phi.T
        Phi = Phi @ Phi
        h *= 2.0
    Q = 0.5 * (Q + Q.T)
    return Transition(Phi, G0, G1, Q)


def _dt_key(dt: float) -> float:
    """Grid steps equal up to 1e-13 relative share one cached transition (linspace jitter)."""
    return float(f"{dt:.13e}")


def transitions_on_grid(A: np.ndarray, D: np.ndarray, t: np.ndarray) -> list[Transition]:
    """Transition for every grid interval [t_k, t_k+1], cached over equal steps."""
    cache: dict[float, Transition] = {}
    out = []
    for dt in np.diff(t):
        key = _dt_key(float(dt))
        if key not in cache:
            cache[key] = transition(A, D, float(dt))
        out.append(cache[key])
    return out


# duplicated on purpose (algebra/linear_gaussian.lyapunov_exact, exact arithmetic): independent float route
def lyapunov(A: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Solve A S + S A^T = D by a Kronecker linear solve: (I (x) A + A (x) I) vec S = vec D."""
    n = A.shape[0]
    ident = np.eye(n)
    K = np.kron(ident, A) + np.kron(A, ident)
    S = np.linalg.solve(K, D.reshape(-1, order="F")).reshape(n, n, order="F")
    return 0.5 * (S + S.T)


def stationary_law(parts: LinearParts) -> tuple[np.ndarray, np.ndarray]:
    """(m_inf, S_inf) with A m_inf = c and A S_inf + S_inf A^T = D; UnstableError unless A is stable."""
    eig = np.linalg.eigvals(parts.A)
    if not np.all(eig.real > 0):
        worst = eig[np.argmin(eig.real)]
        raise UnstableError(
            f"initial: a stationary start needs every eigenvalue of A (drift = -A h + c) to have a positive "
            f"real part, but A has eigenvalue {worst:.6g}; use initial=vs.PointMass(x0) or vs.Gaussian(m, S)"
        )
    m_inf = np.linalg.solve(parts.A, parts.c)
    return m_inf, lyapunov(parts.A, parts.D)


# duplicated on purpose (algebra/linear_gaussian.initial_moments, exact): independent float route
def initial_arrays(model: Diffusion, parts: LinearParts | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the initial law (Stationary needs the linear parts)."""
    init = model.initial
    n = model.n
    if isinstance(init, PointMass):
        return _to_float(init.x0, "initial").reshape(n), np.zeros((n, n))
    if isinstance(init, Gaussian):
        return _to_float(init.mean, "initial").reshape(n), _to_float(init.cov, "initial")
    if isinstance(init, Stationary):
        if parts is None:
            raise NotLinearError("initial: the stationary law is only known in closed form for linear SRNNs")
        return stationary_law(parts)
    raise ModelError(f"initial: unknown initial law {describe(init)}")


# --------------------------------------------------------------------------- the Gaussian law


def gaussian_law(model: Diffusion, u: InputLike, t: Any, eps: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and covariance of h_t on the grid: (means (len(t), n), covs (len(t), n, n)).

    u is piecewise linear between the grid samples (a callable is sampled on the grid).
    """
    num = numeric_model(model)
    parts = linear_arrays(num)
    tt = check_times(t)
    eps = check_eps(eps)
    U = input_on_grid(u, tt, num.m)
    m0, S0 = initial_arrays(num, parts)
    stationary = isinstance(num.initial, Stationary)
    n = num.n
    means = np.empty((tt.size, n))
    covs = np.empty((tt.size, n, n))
    means[0], covs[0] = m0, S0
    forcing = parts.c[None, :] + eps * U @ parts.C.T  # (nt, n): c + eps C u_k
    for k, tr in enumerate(transitions_on_grid(parts.A, parts.D, tt)):
        dt = tt[k + 1] - tt[k]
        g0, g1 = forcing[k], forcing[k + 1] - forcing[k]
        means[k + 1] = tr.Phi @ means[k] + tr.G0 @ g0 + (tr.G1 @ g1) / dt
        covs[k + 1] = S0 if stationary else tr.Phi @ covs[k] @ tr.Phi.T + tr.Q
    return means, covs


# --------------------------------------------------------------------------- Gaussian moments


def polynomial_terms(model: Diffusion) -> list[list[tuple[tuple[int, ...], float]]]:
    """Each readout component as a list of (exponent tuple, coefficient); NotLinearError if not polynomial."""
    out = []
    for i, fi in enumerate(model.readout):
        if not fi.is_polynomial(*model.state):
            raise NotLinearError(
                f"readout: the Gaussian oracle needs a polynomial readout, but component {i} is {fi}; "
                "use Monte Carlo (vs.simulate) for non-polynomial readouts"
            )
        poly = sp.Poly(sp.expand(fi), *model.state)
        out.append([(tuple(int(e) for e in mon), float(coef)) for mon, coef in poly.terms()])
    return out


# duplicated on purpose (algebra/expectations.gaussian_moment, exact): independent float route
def gaussian_moments(means: np.ndarray, covs: np.ndarray, exponents: list[tuple[int, ...]]) -> dict:
    """E[h^alpha] for each exponent tuple, vectorised over the leading (time) axis.

    Stein / Isserlis recursion: with beta = alpha - e_i,
    E[h^alpha] = mu_i E[h^beta] + sum_j S_ij beta_j E[h^(beta - e_j)].
    """
    n = means.shape[1]
    memo: dict[tuple[int, ...], np.ndarray] = {(0,) * n: np.ones(means.shape[0])}

    def moment(alpha: tuple[int, ...]) -> np.ndarray:
        if alpha in memo:
            return memo[alpha]
        i = next(k for k, a in enumerate(alpha) if a > 0)
        beta = list(alpha)
        beta[i] -= 1
        val = means[:, i] * moment(tuple(beta))
        for j in range(n):
            if beta[j] > 0:
                gamma = list(beta)
                gamma[j] -= 1
                val = val + covs[:, i, j] * beta[j] * moment(tuple(gamma))
        memo[alpha] = val
        return val

    return {alpha: moment(alpha) for alpha in exponents}


def gaussian_oracle(model: Diffusion, u: InputLike, t: Any, eps: float = 1.0) -> np.ndarray:
    """Exact E f(h_t) on the grid for a linear SRNN with polynomial readout.

    Returns shape (len(t),) for a scalar readout, (len(t), p) for a vector readout.
    u: samples (len(t), m) or a callable sampled on the grid; piecewise linear in between.
    """
    num = numeric_model(model)
    terms = polynomial_terms(num)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, with its time
        means, covs = gaussian_law(num, u, t, eps)
        exps = sorted({alpha for comp in terms for alpha, _ in comp})
        mom = gaussian_moments(means, covs, exps)
    out = np.zeros((means.shape[0], len(terms)))
    with np.errstate(over="ignore", invalid="ignore"):
        for i, comp in enumerate(terms):
            for alpha, coef in comp:
                out[:, i] += coef * mom[alpha]
    if not np.all(np.isfinite(out)):
        j = int(np.argmin(np.all(np.isfinite(out), axis=1)))
        when = float(np.ravel(np.asarray(t, dtype=float))[j])
        raise refusal(
            "t",
            f"the exact E f(h_t) leaves the floating-point range at t = {when:.6g} (a huge eps or input, growing "
            "modes or extreme time scales)",
            "use a smaller eps or a shorter horizon",
            InputError,
        )
    return out if num.vector_readout else out[:, 0]
