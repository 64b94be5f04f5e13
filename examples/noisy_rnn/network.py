"""The trained NoisyRNN run in NumPy with its noise: its mean output and that mean's Taylor series in eps.

The network (public ``erichson/NoisyRNN``, solver "noisy", training mode) from its state dict:

    A = beta (B - B^T) + (1 - beta)(B + B^T) - gamma_A I,   W = beta (C - C^T) + (1 - beta)(C + C^T) - gamma_W I,
    h_0 = 0,   h_{k+1} = h_k + d * [alpha h_k A + tanh(h_k W + eps x_k E^T + E_b)] + add_noise z_k,   y = h_T D^T + D_b

(row vectors, z_k ~ N(0, I)).  ``eps`` scales the input: eps = 1 is the network as trained.  For a
fixed noise path the output y(eps) is analytic in eps near 0 (tanh is entire up to its poles at
+-i pi/2), so its Taylor coefficients follow from the Cauchy integral on a circle |eps| = r inside the
radius of convergence, by the discrete Fourier transform of K values (aliasing error c_{n+K} r^K):

    c_n = (1 / K) sum_j y(r w^j) w^{-j n} / r^n,   w = e^{2 pi i / K}.

The noise does not depend on eps (additive noise), so E y(eps) = sum_n eps^n E c_n: the mean's Volterra
terms of order n in eps, E_n = E c_n, each with the standard error of its per-path values (common random
numbers across every eps on a path).  This route shares no code with the kernel routes of volterra_sym: it
runs the network itself.  ``substeps = q > 1`` runs the same SDE with q and 2 q Euler steps per input step
(d / q, add_noise / sqrt(q)) on the same Brownian path and returns the Richardson combination 2 y_2q - y_q
per path (Euler bias O((eps / q)^2)): the network's continuous-time limit, the SDE whose kernels the engine
computes; its difference from q = 1 is the network's own Euler bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Network:
    """The network's matrices (float64), in the public code's row-vector convention."""

    A: np.ndarray  # (n, n)
    W: np.ndarray  # (n, n)
    E: np.ndarray  # (n,) the single input's column of E.weight (m = 1)
    Eb: np.ndarray  # (n,)
    Dw: np.ndarray  # (p, n)
    Db: np.ndarray  # (p,)
    d: np.ndarray  # (n,) per-unit step
    alpha: float
    add_noise: float

    @classmethod
    def from_state_dict(
        cls, sd: dict, *, beta: float, gamma_A: float, gamma_W: float, alpha: float, add_noise: float
    ) -> Network:
        B, C = np.asarray(sd["B"], float), np.asarray(sd["C"], float)
        eye = np.eye(B.shape[0])
        A = beta * (B - B.T) + (1 - beta) * (B + B.T) - gamma_A * eye
        W = beta * (C - C.T) + (1 - beta) * (C + C.T) - gamma_W * eye
        E = np.asarray(sd["E.weight"], float)
        if E.shape[1] != 1:
            raise ValueError(f"E.weight: this example takes one input (m = 1), received shape {E.shape}")
        return cls(
            A,
            W,
            E[:, 0],
            np.asarray(sd["E.bias"], float),
            np.asarray(sd["D.weight"], float),
            np.asarray(sd["D.bias"], float),
            np.asarray(sd["d"], float),
            float(alpha),
            float(add_noise),
        )

    def run(self, x: np.ndarray, eps: np.ndarray, z: np.ndarray, h0: np.ndarray, substeps: int = 1) -> np.ndarray:
        """Readouts y (len(eps), P, p) after the sequence x (T,) from the states h0 (P, n).

        ``z`` (T, substeps, P, n): the standard normal noise, shared by every eps (common random numbers).
        """
        eps = np.asarray(eps)
        dtype = complex if np.iscomplexobj(eps) else float
        h = np.broadcast_to(h0, (len(eps), *h0.shape)).astype(dtype)
        step, noise = self.d / substeps, self.add_noise / np.sqrt(substeps)
        for k, xk in enumerate(x):
            drive = (eps * xk)[:, None, None] * self.E + self.Eb
            for j in range(substeps):
                h = h + step * (self.alpha * h @ self.A + np.tanh(h @ self.W + drive)) + noise * z[k, j]
        return h @ self.Dw.T + self.Db

    def warm_up(self, steps: int, paths: int, rng: np.random.Generator, substeps: int = 1) -> list[np.ndarray]:
        """States (paths, n) after ``steps`` input steps of x = 0 from h = 0 (the same for every eps).

        With ``substeps`` = q > 1 returns the states of q and of 2 q Euler steps per input step driven by the
        same Brownian path (the coarse increments are sums of pairs of fine ones): [h_q, h_2q]; else [h].
        """
        n = self.A.shape[0]
        qs = [1] if substeps == 1 else [substeps, 2 * substeps]
        hs = [np.zeros((paths, n)) for _ in qs]
        for _ in range(steps):
            zf = rng.standard_normal((qs[-1], paths, n))
            for i, q in enumerate(qs):
                z = coarsen(zf, qs[-1] // q)
                for j in range(q):
                    h = hs[i]
                    drift = self.alpha * h @ self.A + np.tanh(h @ self.W + self.Eb)
                    hs[i] = h + self.d / q * drift + self.add_noise / np.sqrt(q) * z[j]
        return hs


def coarsen(z: np.ndarray, factor: int) -> np.ndarray:
    """Standard normals of a coarser grid from a finer one along axis 0: normalised sums of ``factor`` in a row."""
    if factor == 1:
        return z
    return z.reshape(z.shape[0] // factor, factor, *z.shape[1:]).sum(axis=1) / np.sqrt(factor)


@dataclass(frozen=True)
class TaylorMC:
    """Per-order terms of the network's mean output and the mean itself, by Monte Carlo with their SEs.

    ``coef[n]``, ``coef_se[n]`` (N + 1, S, p): E c_n and its SE for each sequence and class readout;
    ``value``, ``value_se`` (len(eps_real), S, p): E y(eps) at the real amplitudes ``eps_real``;
    ``partial_error``, ``partial_error_se`` (len(eps_real), N + 1, S, p): E [y(eps) - sum_{n<=N} c_n eps^n]
    (per-path differences: common random numbers make these SEs small).
    """

    coef: np.ndarray
    coef_se: np.ndarray
    value: np.ndarray
    value_se: np.ndarray
    partial_error: np.ndarray
    partial_error_se: np.ndarray
    eps_real: np.ndarray
    radius: float
    nodes: int


def _mean_se(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    return a.mean(axis=axis), a.std(axis=axis, ddof=1) / np.sqrt(a.shape[axis])


def taylor_mc(
    net: Network,
    X: np.ndarray,
    *,
    warmup: int,
    paths: int,
    seed: int,
    top: int = 8,
    radius: float = 0.5,
    nodes: int = 24,
    eps_real: tuple[float, ...] = (0.5, 1.0, 1.5),
    substeps: int = 1,
) -> TaylorMC:
    """The terms E c_n (n <= top) of each sequence's mean output, and E y(eps) at ``eps_real``.

    X (S, T): the input sequences (the data steps after ``warmup`` zero steps).  ``nodes`` > 2 top
    points on the circle |eps| = ``radius``, which must lie inside the series' radius of convergence.
    """
    if nodes <= 2 * top:
        raise ValueError(f"nodes: need more than 2 * top = {2 * top} Cauchy nodes, received {nodes}")
    rng = np.random.default_rng(seed)
    circle = radius * np.exp(2j * np.pi * np.arange(nodes) / nodes)
    eps = np.concatenate([circle, np.asarray(eps_real, dtype=complex)])
    S, T = X.shape
    n = net.A.shape[0]
    orders = np.arange(top + 1)[:, None, None]
    coef, coef_se, val, val_se, perr, perr_se = [], [], [], [], [], []
    for s in range(S):
        h0s = net.warm_up(warmup, paths, rng, substeps)
        qs = [1] if substeps == 1 else [substeps, 2 * substeps]
        zf = rng.standard_normal((T, qs[-1], paths, n))
        ys = []
        for h0, q in zip(h0s, qs):
            z = np.stack([coarsen(zf[k], qs[-1] // q) for k in range(T)])
            ys.append(net.run(X[s], eps, z, h0, q))  # (K + R, P, p)
        # Richardson (q, 2q; the same Brownian path): Euler bias O((eps / q)^2)
        y = ys[0] if len(ys) == 1 else 2 * ys[1] - ys[0]
        c = (np.fft.fft(y[:nodes], axis=0)[: top + 1] / nodes).real / radius**orders
        m, se = _mean_se(c, axis=1)
        coef.append(m)
        coef_se.append(se)
        yr = y[nodes:].real  # (R, P, p)
        m, se = _mean_se(yr, axis=1)
        val.append(m)
        val_se.append(se)
        powers = np.asarray(eps_real)[:, None] ** np.arange(top + 1)[None, :]  # (R, N + 1)
        partial = np.cumsum(powers[:, :, None, None] * c[None], axis=1)  # (R, N + 1, P, p)
        m, se = _mean_se(yr[:, None] - partial, axis=2)
        perr.append(m)
        perr_se.append(se)
    st = lambda a, ax: np.stack(a, axis=ax)  # noqa: E731
    return TaylorMC(
        st(coef, 1),
        st(coef_se, 1),
        st(val, 1),
        st(val_se, 1),
        st(perr, 2),
        st(perr_se, 2),
        np.asarray(eps_real, float),
        radius,
        nodes,
    )
