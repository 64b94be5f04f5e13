"""Is the law near one fixed point?  The guard of the small-noise route (MATH.md section 10).

1. Fixed points from several starts: Newton's method on phi(h) = 0 from the origin, from the end
   points of a short pilot simulation started far out (spread 3 (1 + sqrt(trace D)) around the origin),
   and from the pilot's mean; roots closer than 1e-6 (relative) are one.  Several stable roots:
   several attractors, refused.  No stable root: refused.
2. The pilot simulation (Euler-Maruyama, own seeded generator, ``PILOT_PATHS`` paths) then runs from
   h* for ``PILOT_TIMES`` slowest relaxation times; its covariance over the second half (time and
   paths) is compared with the Lyapunov covariance P of the linearised law (``covariance_gap``,
   relative Frobenius distance).  A gap above ``MAX_COVARIANCE_GAP`` means the noise spread is not
   the linearised one (limit cycle, a second well, a nearly neutral mode): refused.
3. A nearly neutral mode, -Re lambda_max < ``NEUTRAL_RATIO`` * max |lambda|: refused.
4. After the derivation, the size of the s^2 term against the leading one (``MAX_RATIO``): refused
   above it (the route, see ``route.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import StationaryLawError
from .local import ALTERNATIVES, ModelFunctions

PILOT_PATHS = 256
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


def newton(funcs: ModelFunctions, h0: np.ndarray, iters: int = 60) -> np.ndarray | None:
    """A root of phi from h0 (damped Newton; None when it does not converge)."""
    h = np.array(h0, dtype=float)
    scale = 1.0 + float(np.max(np.abs(h)))
    for _ in range(iters):
        F = funcs.drift(h)
        if not np.all(np.isfinite(F)):
            return None
        if np.max(np.abs(F)) < 1e-13 * scale:
            return h
        try:
            step = np.linalg.solve(funcs.jacobian(h), F)
        except np.linalg.LinAlgError:
            return None
        lam = 1.0
        base = float(np.linalg.norm(F))
        while lam > 1e-4:
            cand = h - lam * step
            Fc = funcs.drift(cand)
            if np.all(np.isfinite(Fc)) and np.linalg.norm(Fc) < base:
                break
            lam /= 2
        h = h - lam * step
    F = funcs.drift(h)
    return h if np.all(np.isfinite(F)) and np.max(np.abs(F)) < 1e-10 * scale else None


def euler_paths(
    funcs: ModelFunctions,
    sigma: np.ndarray,
    H0: np.ndarray,
    dt: float,
    steps: int,
    rng: np.random.Generator,
    keep_from: int | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Euler-Maruyama paths from H0 (paths, n); returns the end points and the states after ``keep_from``
    (every 4th step); paths that leave the floating-point range are dropped."""
    H = H0.copy()
    kept: list[np.ndarray] = []
    sq = np.sqrt(dt)
    with np.errstate(over="ignore", invalid="ignore"):  # paths that leave the float range are dropped
        for j in range(steps):
            H = H + funcs.drift(H) * dt + (rng.standard_normal((H.shape[0], sigma.shape[1])) @ sigma.T) * sq
            finite = np.all(np.isfinite(H), axis=1)
            if not np.all(finite):
                H = H[finite]
                if H.shape[0] == 0:
                    break
            if keep_from is not None and j >= keep_from and j % 4 == 0:
                kept.append(H.copy())
    return H, kept


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
    starts = [np.zeros(n)]
    rng = np.random.default_rng(seed)
    D = sigma @ sigma.T
    spread = 3.0 * (1.0 + np.sqrt(np.trace(D)))
    if run_guard:
        H0 = rng.standard_normal((PILOT_PATHS, n)) * spread
        J0 = funcs.jacobian(np.zeros(n))
        rate = max(float(np.max(np.abs(np.linalg.eigvals(J0)))), 1e-3)
        ends, _ = euler_paths(funcs, sigma, H0, 0.05 / rate, 400, rng)
        ends = ends[np.all(np.isfinite(ends), axis=1)]
        starts += [ends.mean(axis=0)] + list(ends[: min(len(ends), 48)])
    roots = _distinct([r for r in (newton(funcs, s) for s in starts) if r is not None])
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
    _, kept = euler_paths(funcs, sigma, H0, dt, steps, rng, keep_from=steps // 2)
    report.pilot_paths = PILOT_PATHS
    if not kept:
        raise StationaryLawError(f"model: the pilot simulation left the floating-point range; {ALTERNATIVES}")
    X = np.concatenate(kept, axis=0)
    C = np.cov(X.T).reshape(h.size, h.size)
    report.pilot_cov = C
    norm = float(np.linalg.norm(P))
    report.covariance_gap = float(np.linalg.norm(C - P) / norm) if norm > 0 else 0.0
    # paths are independent; time samples within a path are correlated over ~1/slow: effective samples
    eff = PILOT_PATHS * max(1.0, (steps // 2) * dt * slow / 2)
    report.covariance_se = float(np.sqrt(2.0 / eff))
    if report.covariance_gap > MAX_COVARIANCE_GAP + 4 * report.covariance_se:
        raise StationaryLawError(
            f"model: the pilot simulation's covariance differs from the linearised (Lyapunov) covariance P by "
            f"{100 * report.covariance_gap:.0f}% (relative Frobenius distance; the expansion needs it small): the law "
            f"is not near one fixed point (a limit cycle, another well, or noise too large for the expansion); "
            f"{ALTERNATIVES}"
        )
