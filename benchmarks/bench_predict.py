"""predict() cost (issues 3 and 13). Prints figures and ratios measured in this run.

Run:  python benchmarks/bench_predict.py [--quick]

Issue 13 (the targets): a 3-D linear SRNN with complex eigenvalues, 2 inputs, a quartic readout, all
orders up to 4, stationary start, 1e4 points:
  * against an independent closed-form floor written here (modal first-order filters by
    scipy.signal.lfilter with exact piecewise-linear weights from scipy.linalg.expm, then the Gaussian
    polynomial E f(m_inf + eps m1(t) + xi), xi ~ N(0, S_inf), built with SymPy): time ratio (goal <= 3)
    and agreement for piecewise-linear inputs (goal 1e-10 relative);
  * against plain NumPy Euler-Maruyama Monte Carlo reaching standard error 1e-3 (cost extrapolated from a
    short run; goal >= 1e4);
  * cost against grid length 1e3 .. 1e6 (goal slope ~1, 1e6 points < 1 s);
  * the previous predictor (engine="cascade") on the same case, on a point-mass start and on Taylor
    routes (goal: no slower than before).
Issue 3 (kept): the 3-D cubic model against Monte Carlo; generated kernels against sympy.lambdify.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings

import numpy as np
import scipy.linalg as sla
import scipy.signal as ss
import sympy as sp

import volterra_sym as vs


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def best_pair(f, g, repeat: int = 9) -> tuple[float, float]:
    """Best times of f and g, run alternately (both see the same load on a shared machine)."""
    bf = bg = float("inf")
    for _ in range(repeat):
        bf = min(bf, best_of(f, 1))
        bg = min(bg, best_of(g, 1))
    return bf, bg


# ---------------------------------------------------------------------------------------------- the floor
class ClosedFormFloor:
    """E f(h_t) for a linear SRNN with a stationary start, written from MATH.md section 5 only:
    h^eps_t ~ N(m_inf + eps m1(t), S_inf), m1' = -A m1 + C u, u piecewise linear between samples."""

    def __init__(self, A, C, c, sigma, readout: str):
        A, C, c = np.asarray(A, float), np.asarray(C, float), np.asarray(c, float)
        n = A.shape[0]
        D = sigma**2 * np.eye(n) if np.isscalar(sigma) else np.asarray(sigma) @ np.asarray(sigma).T
        self.m_inf = np.linalg.solve(A, c)
        S = sla.solve_continuous_lyapunov(A, D)
        lam, Vec = np.linalg.eig(A)
        keep = [i for i in range(n) if lam[i].imag >= 0]  # one mode per conjugate pair
        self.lam = lam[keep]
        self.twice = np.array([2.0 if lam[i].imag > 0 else 1.0 for i in keep])
        self.S = Vec[:, keep]
        self.Bm = np.linalg.solve(Vec, C.astype(complex))[keep]  # modal input weights (modes x inputs)
        # E f(x + xi) = exp(1/2 d^T S d) f(x), exact for polynomials of degree <= 5
        x = sp.symbols(f"x1:{n + 1}")
        f = sp.sympify(readout.replace("h", "x"), locals={f"x{i + 1}": x[i] for i in range(n)})

        def heat(g):
            return sp.Rational(1, 2) * sum(S[i, j] * sp.diff(g, x[i], x[j]) for i in range(n) for j in range(n))

        g1 = heat(f)
        g = sp.expand(f + g1 + heat(g1) / 2)
        self.g = sp.lambdify(x, g, "numpy", cse=True)

    def weights(self, lam: complex, h: float) -> tuple[complex, complex, complex]:
        """z(h) = a z(0) + I0 g(0) + I1 (g(h) - g(0)) for z' = -lam z + g, g linear on [0, h]:
        I0 = h phi_1(-lam h), I1 = h phi_2(-lam h), phi_k(x) = sum_j x^j / (j + k)!."""
        x = -lam * h
        if abs(x) < 1:
            phi1 = sum(x**j / math.factorial(j + 1) for j in range(25))
            phi2 = sum(x**j / math.factorial(j + 2) for j in range(25))
        else:
            phi1 = (np.exp(x) - 1) / x
            phi2 = (np.exp(x) - 1 - x) / x**2
        return np.exp(x), h * phi1, h * phi2

    def __call__(self, U: np.ndarray, t: np.ndarray, eps: float) -> np.ndarray:
        return self.g(*self.mean(U, t, eps))

    def mean(self, U: np.ndarray, t: np.ndarray, eps: float) -> np.ndarray:
        """m_inf + eps m1(t), shape (n, len(t))."""
        h = t[1] - t[0]
        m1 = np.zeros((self.S.shape[0], t.size))
        for i, lam in enumerate(self.lam):
            a, I0, I1 = self.weights(lam, h)
            g = sum(U[:, k] * self.Bm[i, k] for k in range(U.shape[1]))  # elementwise: no small BLAS products
            b = [I1, I0 - I1]
            z = np.zeros(t.size, dtype=complex)
            z[1:] = ss.lfilter(b, [1.0, -a], g[1:], zi=[b[1] * g[0]])[0]
            m1 += self.twice[i] * (self.S[:, i : i + 1] * z).real
        return self.m_inf[:, None] + eps * m1


# ---------------------------------------------------------------------------------------------- Monte Carlo
def monte_carlo_cost(A, C, c, sigma, U, t, eps, m_inf, S_inf, paths=400, steps=2000):
    """Seconds for plain NumPy Euler-Maruyama to reach SE 1e-3 at the final time on the whole grid:
    time per path-step from a short run, paths from the variance of f under the exact law at t_end."""
    A, C, c = np.asarray(A), np.asarray(C), np.asarray(c)
    n = A.shape[0]
    rng = np.random.default_rng(0)
    Lc = np.linalg.cholesky(S_inf)
    x = m_inf + rng.normal(size=(paths, n)) @ Lc.T
    dt = t[1] - t[0]
    t0 = time.perf_counter()
    for j in range(steps):
        x = x + (-(x @ A.T) + c + eps * (C @ U[j % len(U)])) * dt + sigma * np.sqrt(dt) * rng.normal(size=x.shape)
    per_step = (time.perf_counter() - t0) / (paths * steps)
    return per_step, x


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
    print("== issue 13: 3-D linear SRNN, complex eigenvalues, 2 inputs, quartic readout, orders 0..4 ==")
    A = [[1.0, 2.0, 0.0], [-2.0, 1.0, 0.5], [0.0, 0.3, 1.5]]
    C = [[1.0, 0.0], [0.5, 1.0], [0.0, 0.7]]
    c = [0.2, 0.0, -0.1]
    sigma = 0.5
    readout = "h1**4 + h1*h2*h3 + h2**2*h3 - h3**3 + h1"
    model = vs.OU(A, C, sigma, c=c, readout=readout)
    print(f"eigenvalues of A: {np.round(np.linalg.eigvals(np.array(A)), 4)}")
    t0 = time.perf_counter()
    resp = vs.derive(model)
    print(f"derive: {time.perf_counter() - t0:.2f} s")
    floor = ClosedFormFloor(A, C, c, sigma, readout)
    T, L, eps = 10.0, 10_000, 0.5
    t = np.linspace(0, T, L)
    rng = np.random.default_rng(1)
    U = np.stack([np.sin(2 * t) + 0.3 * rng.normal(size=L), np.cos(0.7 * t)], axis=1)  # read as piecewise linear
    t0 = time.perf_counter()
    resp.predict(U, t, eps=eps)
    setup = time.perf_counter() - t0
    print(f"first predict (kernel terms to floats once, the cube plan once per signature): {setup:.2f} s")
    # issue 18 item 9: a new grid (new horizon) reuses the float terms and the plan (same signature)
    fresh, again = [], []
    for t_end in (10.5, 11.0, 12.0, 15.0, 20.0, 8.0, 30.0):
        tn = np.linspace(0, t_end, L)
        Un = np.stack([np.sin(2 * tn), np.cos(0.7 * tn)], axis=1)
        t0 = time.perf_counter()
        resp.predict(Un, tn, eps=eps)
        fresh.append(time.perf_counter() - t0)
        again.append(best_of(lambda tn=tn, Un=Un: resp.predict(Un, tn, eps=eps), 3))
    ratio = float(np.median(np.array(fresh) / np.array(again)))
    print(
        f"a new grid (7 new horizons, 1e4 points): median {np.median(fresh) * 1e3:.1f} ms; the same grid again "
        f"{np.median(again) * 1e3:.1f} ms; median ratio new/repeated {ratio:.2f}  (goal <= 2.5)"
    )
    ref = floor(U, t, eps)
    pred = resp.predict(U, t, eps=eps)
    err = np.max(np.abs(pred - ref)) / np.max(np.abs(ref))
    tp, tf = best_pair(lambda: resp.predict(U, t, eps=eps), lambda: floor(U, t, eps), 31)
    tc = best_of(lambda: resp.predict(U, t, eps=eps, engine="cascade"), 2)
    old = resp.predict(U, t, eps=eps, engine="cascade")
    print(f"predict (cube form)  1e4 points: {tp * 1e3:7.2f} ms")
    print(f"closed-form floor    1e4 points: {tf * 1e3:7.2f} ms   ratio predict/floor: {tp / tf:.2f}  (goal <= 3)")
    print(f"agreement with the floor, piecewise-linear input: {err:.1e} relative  (goal <= 1e-10)")
    print(
        f"previous predictor (engine='cascade'): {tc * 1e3:7.1f} ms  ({tc / tp:.0f}x slower; differs by "
        f"{np.max(np.abs(old - ref)) / np.max(np.abs(ref)):.1e}: O(h^4) beyond order 1)"
    )

    # Monte Carlo at SE 1e-3
    m_inf = floor.m_inf
    S_inf = sla.solve_continuous_lyapunov(np.array(A), sigma**2 * np.eye(3))
    per_step, _ = monte_carlo_cost(A, C, c, sigma, U, t, eps, m_inf, S_inf, steps=300 if quick else 2000)
    # variance of f under the exact law at t_end: N(m_inf + eps m1(T), S_inf)
    samples = rng.multivariate_normal(np.zeros(3), S_inf, size=200_000)
    xs = floor.mean(U, t, eps)[:, -1] + samples
    fvals = xs[:, 0] ** 4 + xs[:, 0] * xs[:, 1] * xs[:, 2] + xs[:, 1] ** 2 * xs[:, 2] - xs[:, 2] ** 3 + xs[:, 0]
    need = float(np.var(fvals)) / 1e-3**2
    mc = need * (L - 1) * per_step
    print(
        f"Euler-Maruyama: {1 / per_step:.3g} path-steps/s; SE 1e-3 needs {need:.3g} paths x {L - 1} steps -> "
        f"{mc:.3g} s;  MC / predict: {mc / tp:.3g}  (goal >= 1e4)"
    )

    # grid scaling
    sizes = [1_000, 10_000, 100_000] + ([] if quick else [1_000_000])
    times = []
    for n in sizes:
        tt = np.linspace(0, T, n)
        Ut = np.stack([np.sin(2 * tt), np.cos(0.7 * tt)], axis=1)
        resp.predict(Ut, tt, eps=eps)
        tpn, fl = best_pair(
            lambda tt=tt, Ut=Ut: resp.predict(Ut, tt, eps=eps),
            lambda tt=tt, Ut=Ut: floor(Ut, tt, eps),
            9 if n < 1_000_000 else 3,
        )
        times.append(tpn)
        print(f"grid {n:>8d}: predict {tpn * 1e3:8.1f} ms   floor {fl * 1e3:8.1f} ms   ratio {tpn / fl:.2f}")
    slope = np.polyfit(np.log(sizes), np.log(times), 1)[0]
    print(f"cost slope vs grid length {sizes[0]:.0e}..{sizes[-1]:.0e}: {slope:.2f}  (goal ~ 1; 1e6 points < 1 s)")

    # point-mass start and Taylor routes: cube form against the previous predictor, same run
    print("== other starts and routes: this predictor vs the previous one (engine='cascade'), same run ==")
    pm = vs.OU(A, C, sigma, c=c, readout=readout, initial=vs.PointMass([0.5, -0.2, 0.1]))
    rp = vs.derive(pm)
    rp.predict(U, t, eps=eps)
    a, b = best_pair(lambda: rp.predict(U, t, eps=eps), lambda: rp.predict(U, t, eps=eps, engine="cascade"), 2)
    print(f"point-mass start, same model, 1e4 points: {a * 1e3:7.1f} ms vs {b * 1e3:7.1f} ms ({b / a:.0f}x)")
    cases = [
        (
            "Taylor, linear 2-D, lag degree 6, order 2",
            vs.OU([[1.0, 0.5], [0.0, 2.0]], [1, 1], 0.5, c=[0.2, 0], readout="h1**2 + h1*h2"),
            2,
            6,
        ),
        (
            "Taylor, tanh 2-D, lag degree 4, order 2 (point)",
            vs.SRNN(
                [[1, 0], [0, 1.2]],
                [[0.5, 0.3], [-0.2, 0.4]],
                [0.1, 0],
                [[1], [0.5]],
                0.6,
                activation="tanh",
                readout="h1 + h2**2",
                initial=vs.PointMass([0.1, -0.2]),
            ),
            2,
            4,
        ),
    ]
    tt = np.linspace(0, 0.5, 10_000)
    ut = np.sin(3 * tt)
    for label, mdl, order, P in cases:
        tay = vs.derive(mdl, order=order, method="taylor", lag_degree=P)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tay.predict(ut, tt, eps=0.3)
            a, b = best_pair(
                lambda tay=tay: tay.predict(ut, tt, eps=0.3),
                lambda tay=tay: tay.predict(ut, tt, eps=0.3, engine="cascade"),
                5,
            )
        paths = [tay.cube_plan(float(tt[-1]), P).path(0, n) for n in range(1, order + 1)]
        print(f"{label:<50} 1e4 points: {a * 1e3:7.1f} ms vs {b * 1e3:7.1f} ms ({b / a:.1f}x)  paths {paths}")

    print("== issue 3: 3-D cubic model ==")
    A3 = [[1.0, 0.3, 0.0], [-0.2, 1.5, 0.4], [0.1, 0.0, 2.0]]
    model3 = vs.OU(A3, [[1.0], [0.5], [0.2]], 0.5, c=[0.2, 0, 0], readout="h1**3 + h2*h3 + h1")
    resp3 = vs.derive(model3)
    u = np.sin(2 * t)
    resp3.predict(u, t, eps=0.5)
    tp3 = best_of(lambda: resp3.predict(u, t, eps=0.5), 5)
    print(f"predict, 1e4 grid, orders 0..3: {tp3 * 1e3:.2f} ms")
    n3 = resp3.lower("numpy").kernel(3)
    lam = sp.lambdify(resp3.lags(3), resp3.kernel(3), "numpy", cse=True)
    xl = np.random.default_rng(1).uniform(0, 3, (3, 1_000_000))
    t_gen = best_of(lambda: n3(*xl))
    t_lam = best_of(lambda: lam(*xl))
    print(f"K^(3) at 1e6 lags: generated {t_gen * 1e3:.1f} ms, lambdify(cse=True) {t_lam * 1e3:.1f} ms")
    print(f"ratio lambdify / generated: {t_lam / t_gen:.2f} (goal >= 1)")


if __name__ == "__main__":
    main()
