"""Is the law near one fixed point?  The guard of the small-noise route (MATH.md section 10).

1. Fixed points from several starts: Newton's method on phi(h) = 0 (damped, all starts at once) from the
   origin, from the ``START_PATHS`` end points of a short pilot simulation started far out (spread
   3 (1 + sqrt(trace D)) around the origin, ``START_STEPS`` Euler steps of 0.05 / max|lambda(J(0))|), and
   from their mean; roots closer than 1e-6 (relative) are one.  Several stable roots: several
   attractors, refused.  No stable root: refused.
2. The pilot simulation (Euler-Maruyama, own seeded generator, ``PILOT_PATHS`` paths in ``PILOT_BATCHES``
   independent groups) then runs from the linearised law N(h*, P) for ``PILOT_TIMES`` slowest relaxation
   times; its covariance over the second half (time and paths) is compared with the Lyapunov covariance
   P of the linearised law (:func:`covariance_gap`: relative Frobenius distance with the sampling noise,
   measured from the groups' spread, removed).  A gap above ``MAX_COVARIANCE_GAP`` (plus four standard
   errors) means the noise spread is not the linearised one (limit cycle, a second well, a nearly
   neutral mode): refused.
3. A nearly neutral mode, -Re lambda_max < ``NEUTRAL_RATIO`` * max |lambda|: refused.
4. After the derivation, the size of the s^2 term against the leading one (``MAX_RATIO``): refused
   above it (the route, see ``route.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import StationaryLawError
from ...validate import refusal
from .local import ALTERNATIVES, ModelFunctions

PILOT_PATHS = 256
#: independent groups of the pilot's paths (the sampling noise of its covariance from their spread)
PILOT_BATCHES = 8
#: paths and Euler steps (of 0.05 / max|lambda(J(0))|) of the far-out run whose end points start Newton
START_PATHS = 48
START_STEPS = 400
PILOT_TIMES = 8.0
MAX_COVARIANCE_GAP = 0.5
NEUTRAL_RATIO = 1e-3
MAX_RATIO = 0.5


@dataclass
class GuardReport:
    """What the guard measured (reported with every kernel and prediction)."""

    fixed_points: list[np.ndarray] = field(default_factory=list)
    stable: list[bool] = field(default_factory=list)
    pilot_paths: int = 0
    pilot_cov: np.ndarray | None = None
    covariance_gap: float = float("nan")
    covariance_se: float = float("nan")
    ran: bool = False

    def summary_line(self) -> str:
        """One line for the Responses' summaries."""
        if not self.ran:
            return "  guard: not run (guard=False)"
        return (
            f"  guard: {len(self.fixed_points)} fixed point(s) found, 1 stable; pilot covariance vs P: "
            f"{100 * self.covariance_gap:.1f}% (SE {100 * self.covariance_se:.1f}%, {self.pilot_paths} paths)"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "ran": self.ran,
            "fixed_points": [p.tolist() for p in self.fixed_points],
            "stable": list(self.stable),
            "pilot_paths": self.pilot_paths,
            "covariance_gap": self.covariance_gap,
            "covariance_se": self.covariance_se,
        }


class _Stepper:
    """One Euler-Maruyama step of the model for an ensemble H (paths, n), in place.

    A network (``funcs.structure``) steps with one matrix product per step: phi(H) = a(H W^T + b) - H Gamma^T,
    with Gamma applied element-wise when it is diagonal and the noise scaled element-wise when sigma is
    diagonal (the same numbers as the matrix products, up to rounding); other models use ``funcs.drift``.
    """

    def __init__(self, funcs: ModelFunctions, sigma: np.ndarray, dt: float) -> None:
        self.funcs, self.dt = funcs, dt
        self.S = funcs.structure
        sq = np.sqrt(dt)
        diag = sigma.shape[0] == sigma.shape[1] and np.array_equal(sigma, np.diag(np.diag(sigma)))
        self.noise_diag = np.diag(sigma) * sq if diag else None
        self.noise_mat = None if diag else np.ascontiguousarray(sigma.T) * sq
        self.r = sigma.shape[1]
        if self.S is not None:
            G = self.S.Gamma
            self.WT = np.ascontiguousarray(self.S.W.T)
            self.gdiag = np.diag(G).copy() if np.array_equal(G, np.diag(np.diag(G))) else None
            self.GT = np.ascontiguousarray(G.T)

    def drift(self, H: np.ndarray) -> np.ndarray:
        """phi(H) for H (paths, n)."""
        S = self.S
        if S is None:
            return self.funcs.drift(H)
        Z = H @ self.WT
        Z += S.b
        A = S.a(Z)
        A -= H * self.gdiag if self.gdiag is not None else H @ self.GT
        return A

    def __call__(self, H: np.ndarray, rng: np.random.Generator) -> None:
        dW = rng.standard_normal((H.shape[0], self.r))
        if self.noise_diag is not None:
            dW *= self.noise_diag
        else:
            assert self.noise_mat is not None
            dW = dW @ self.noise_mat
        F = self.drift(H)
        F *= self.dt
        H += F
        H += dW


def check_expansion_ratio(ratio: float, guard: bool, terminates: bool) -> None:
    """Item 4 of the module docstring: refuse when max|s^2 K_2| / max|K_0| exceeds ``MAX_RATIO`` (with the guard
    on, and unless the expansion terminates at s^2)."""
    if guard and not terminates and ratio > MAX_RATIO:
        raise refusal(
            "model",
            f"the s^2 term of the small-noise expansion is {ratio:.2g} times the leading term (over the "
            f"kernels and lags), above {MAX_RATIO}: the noise is too large for the expansion; {ALTERNATIVES}",
        )


def newton_many(funcs: ModelFunctions, starts: np.ndarray, iters: int = 60) -> list[np.ndarray]:
    """Roots of phi by damped Newton from each row of ``starts`` (k, n), all starts at once (batched
    solves); the roots of the starts that converge (|phi| < 1e-10 (1 + max|h_0|)), in start order."""
    H = np.array(starts, dtype=float)
    scale = 1.0 + np.max(np.abs(H), axis=1)
    S = funcs.structure

    def F(X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return funcs.drift(X)

    def jac(X: np.ndarray) -> np.ndarray:
        if S is None:
            return np.stack([funcs.jacobian(x) for x in X])
        return -S.Gamma[None] + S.a(X @ S.W.T + S.b, 1)[:, :, None] * S.W[None]

    active = np.ones(len(H), dtype=bool)
    for _ in range(iters):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        X = H[idx]
        FX = F(X)
        finite = np.all(np.isfinite(FX), axis=1)
        done = finite & (np.max(np.abs(np.where(finite[:, None], FX, 0.0)), axis=1) < 1e-13 * scale[idx])
        active[idx[~finite | done]] = False
        keep = finite & ~done
        idx, X, FX = idx[keep], X[keep], FX[keep]
        if idx.size == 0:
            break
        Jx = jac(X)
        finite_j = np.all(np.isfinite(Jx), axis=(1, 2))
        ok = finite_j & (np.linalg.slogdet(np.where(finite_j[:, None, None], Jx, 0.0))[0] != 0)
        active[idx[~ok]] = False
        idx, X, FX, Jx = idx[ok], X[ok], FX[ok], Jx[ok]
        if idx.size == 0:
            break
        try:
            step = np.linalg.solve(Jx, FX[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular system among them: one by one
            step = np.zeros_like(X)
            for i in range(len(X)):
                try:
                    step[i] = np.linalg.solve(Jx[i], FX[i])
                except np.linalg.LinAlgError:
                    active[idx[i]] = False
        base = np.linalg.norm(FX, axis=1)
        lam = np.ones(len(X))
        pending = np.ones(len(X), dtype=bool)
        while np.any(pending) and np.min(lam[pending]) > 1e-4:
            cand = X[pending] - lam[pending, None] * step[pending]
            Fc = F(cand)
            fin = np.all(np.isfinite(Fc), axis=1)
            better = fin & (np.linalg.norm(np.where(fin[:, None], Fc, 0.0), axis=1) < base[pending])
            where = np.flatnonzero(pending)
            pending[where[better]] = False
            lam[pending] /= 2
        H[idx] = X - lam[:, None] * step
    FH = F(H)
    good = np.all(np.isfinite(FH), axis=1)
    good[good] = np.max(np.abs(FH[good]), axis=1) < 1e-10 * scale[good]
    return [H[i] for i in np.flatnonzero(good)]


def euler_paths(
    funcs: ModelFunctions,
    sigma: np.ndarray,
    H0: np.ndarray,
    dt: float,
    steps: int,
    rng: np.random.Generator,
    keep_from: int | None = None,
    batches: int = 1,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, int]]]:
    """Euler-Maruyama paths from H0 (paths, n): the end points, and (with ``keep_from``) the moments of
    the states after step ``keep_from`` (every 4th step) per batch of paths (``batches`` equal groups):
    [(sum of x, sum of x x^T, count)] with x = h - H0's mean.  Paths that leave the floating-point range
    are dropped (and so are their moments from then on)."""
    H = H0.copy()
    step = _Stepper(funcs, sigma, dt)
    groups = np.array_split(np.arange(H.shape[0]), batches)
    label = np.concatenate([np.full(g.size, i) for i, g in enumerate(groups)])
    n = H.shape[1]
    center = H0.mean(axis=0)
    s1 = np.zeros((batches, n))
    s2 = np.zeros((batches, n, n))
    count = np.zeros(batches, dtype=int)
    with np.errstate(over="ignore", invalid="ignore"):  # paths that leave the float range are dropped
        for j in range(steps):
            step(H, rng)
            finite = np.all(np.isfinite(H), axis=1)
            if not np.all(finite):
                H, label = H[finite], label[finite]
                if H.shape[0] == 0:
                    break
            if keep_from is not None and j >= keep_from and j % 4 == 0:
                X = H - center
                for b in range(batches):
                    Xb = X[label == b] if batches > 1 else X
                    s1[b] += Xb.sum(axis=0)
                    s2[b] += Xb.T @ Xb
                    count[b] += Xb.shape[0]
    return H, [(s1[b], s2[b], int(count[b])) for b in range(batches)]


def _distinct(roots: list[np.ndarray]) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for r in roots:
        if not any(np.linalg.norm(r - q) <= 1e-6 * (1 + np.linalg.norm(q)) for q in out):
            out.append(r)
    return out


def find_fixed_point(
    funcs: ModelFunctions, sigma: np.ndarray, seed: int, run_guard: bool
) -> tuple[np.ndarray, GuardReport]:
    """The unique stable fixed point, or a StationaryLawError naming the alternatives."""
    n = funcs.n
    report = GuardReport(ran=run_guard)
    starts = [np.zeros((1, n))]
    rng = np.random.default_rng(seed)
    D = sigma @ sigma.T
    spread = 3.0 * (1.0 + np.sqrt(np.trace(D)))
    if run_guard:
        H0 = rng.standard_normal((START_PATHS, n)) * spread
        J0 = funcs.jacobian(np.zeros(n))
        rate = max(float(np.max(np.abs(np.linalg.eigvals(J0)))), 1e-3)
        ends, _ = euler_paths(funcs, sigma, H0, 0.05 / rate, START_STEPS, rng)
        ends = ends[np.all(np.isfinite(ends), axis=1)]
        if len(ends):
            starts += [ends.mean(axis=0)[None], ends]
    roots = _distinct(newton_many(funcs, np.concatenate(starts)))
    stable = [bool(np.max(np.linalg.eigvals(funcs.jacobian(r)).real) < 0) for r in roots]
    report.fixed_points, report.stable = roots, stable
    good = [r for r, s in zip(roots, stable) if s]
    if not good:
        raise StationaryLawError(
            "model: no stable fixed point of the drift was found (Newton from the origin"
            + (" and from the end points of a pilot simulation" if run_guard else "")
            + "); the small-noise expansion needs the law concentrated near one stable fixed point; "
            + ALTERNATIVES
        )
    if len(good) > 1:
        pts = ", ".join(str(np.round(r, 4).tolist()) for r in good[:4])
        raise StationaryLawError(
            f"model: the drift has {len(good)} stable fixed points ({pts}): the law is not concentrated near one "
            f"fixed point (several wells), so the small-noise expansion does not apply; {ALTERNATIVES}"
        )
    return good[0], report


def pilot_covariance(
    funcs: ModelFunctions,
    sigma: np.ndarray,
    h: np.ndarray,
    J: np.ndarray,
    P: np.ndarray,
    seed: int,
    report: GuardReport,
) -> None:
    """Compare the pilot simulation's covariance with P (module docstring, 2-3); refuse on a gap."""
    eig = np.linalg.eigvals(J)
    slow = float(-np.max(eig.real))
    fast = float(np.max(np.abs(eig)))
    if slow < NEUTRAL_RATIO * fast:
        raise StationaryLawError(
            f"model: the Jacobian at h* has a nearly neutral mode (slowest rate {slow:.3g} against {fast:.3g}): the "
            f"noise spreads along it far beyond the linearised law; {ALTERNATIVES}"
        )
    rng = np.random.default_rng(seed + 1)
    dt = min(0.05 / fast, 0.1 / slow)
    steps = int(np.ceil(PILOT_TIMES / slow / dt))
    steps = min(steps, 20000)
    H0 = (
        np.tile(h, (PILOT_PATHS, 1))
        + rng.standard_normal((PILOT_PATHS, h.size))
        @ np.linalg.cholesky(P + 1e-300 * np.eye(h.size) + 1e-12 * np.trace(P) * np.eye(h.size)).T
    )
    _, moments = euler_paths(funcs, sigma, H0, dt, steps, rng, keep_from=steps // 2, batches=PILOT_BATCHES)
    report.pilot_paths = PILOT_PATHS
    counts = np.array([c for _, _, c in moments])
    if np.any(counts < 2):
        raise StationaryLawError(f"model: the pilot simulation left the floating-point range; {ALTERNATIVES}")
    covs = np.array([s2 / c - np.outer(s1 / c, s1 / c) for s1, s2, c in moments])
    s1 = sum(m[0] for m in moments) / counts.sum()
    report.pilot_cov = sum(m[1] for m in moments) / counts.sum() - np.outer(s1, s1)
    gap, se = covariance_gap(covs, P)
    report.covariance_gap, report.covariance_se = gap, se
    if gap > MAX_COVARIANCE_GAP + 4 * se:
        raise StationaryLawError(
            f"model: the pilot simulation's covariance differs from the linearised (Lyapunov) covariance P by "
            f"{100 * gap:.0f}% (relative Frobenius distance, sampling noise removed; the expansion needs it small): "
            f"the law is not near one fixed point (a limit cycle, another well, or noise too large for the "
            f"expansion); {ALTERNATIVES}"
        )


def covariance_gap(covs: np.ndarray, P: np.ndarray) -> tuple[float, float]:
    """(gap, se): |E C - P|_F / |P|_F estimated without the sampling noise, and its jackknife standard error.

    ``covs`` (B, n, n) are the covariances of B independent groups of paths, Delta_b = C_b - P.  The pooled
    gap |mean Delta_b| / |P| carries the sampling noise, which grows like sqrt(n / samples) (about 25% at
    n = 128 with 256 paths) whatever the law; the cross products of different groups do not:
    gap^2 = sum_{a != b} <Delta_a, Delta_b>_F / (B (B - 1) |P|^2) is unbiased for |E C - P|^2 / |P|^2, and
    gap = sqrt(max(gap^2, 0)).  The standard error: se2, the jackknife's (leave one group out) of gap^2 (a
    smooth statistic, unlike its clipped root), carried to the gap as se2 / (2 gap + sqrt(se2)) (the delta
    method for a large gap, sqrt(se2) at gap = 0).
    """
    norm = float(np.linalg.norm(P))
    if norm == 0:
        return 0.0, 0.0
    D = (covs - P[None]).reshape(covs.shape[0], -1) / norm
    G = D @ D.T  # <Delta_a, Delta_b> / |P|^2

    def gap2(idx: np.ndarray) -> float:
        sub = G[np.ix_(idx, idx)]
        k = idx.size
        return float((sub.sum() - np.trace(sub)) / (k * (k - 1)))

    B = covs.shape[0]
    full = gap2(np.arange(B))
    loo = np.array([gap2(np.delete(np.arange(B), i)) for i in range(B)])
    se2 = float(np.sqrt((B - 1) / B * np.sum((loo - loo.mean()) ** 2)))
    gap = float(np.sqrt(max(full, 0.0)))
    return gap, (se2 / (2 * gap + np.sqrt(se2)) if se2 > 0 else 0.0)
