"""Symmetric kernels: symmetry, and the cube integral reproduces the exact response.

Trusts: the Gaussian oracle (exact law of the perturbed process) and a plain trapezoid over the cube.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import volterra_sym as vs


def _cube_integral(H, n, U, t, ks):
    """int_{[0,T]^n} H(theta) prod u^{k_j}(T - theta_j) dtheta by the tensor trapezoid rule on t."""
    T = t[-1]
    theta = T - t[::-1]  # increasing thetas, theta = T - s
    w = np.full(theta.size, theta[1] - theta[0])
    w[[0, -1]] /= 2
    grids = np.meshgrid(*([theta] * n), indexing="ij")
    vals = H(*grids)
    for j in range(n):
        u_j = U[::-1, ks[j]]  # u(T - theta)
        shape = [1] * n
        shape[j] = -1
        vals = vals * (w * u_j).reshape(shape)
    return vals.sum()


def test_symmetric_kernel_two_inputs_reproduces_the_response():
    """The cube integral of H converges (trapezoid, O(h^2)) to the exact response of orders 1 + 2."""
    model = vs.OU([[1.0, 0.5], [0.0, 2.0]], [[1, 0], [0.5, 1]], 0.5, c=[0.2, 0.1], readout="h1*h2 + h1**2")
    resp = vs.derive(model)
    Hs = {ks: resp.symmetric_kernel(len(ks), ks) for n in (1, 2) for ks in itertools.product(range(2), repeat=n)}
    errs = []
    for L in (41, 81, 161):
        t = np.linspace(0, 1.5, L)
        U = np.stack([np.sin(2 * t) + 0.3, np.cos(t)], axis=1)
        total = sum(_cube_integral(H, len(ks), U, t, ks) for ks, H in Hs.items())
        truth = vs.gaussian_oracle(model, U, t)[-1] - vs.gaussian_oracle(model, 0 * U, t)[-1]
        errs.append(abs(total - truth))
    slope = np.log2(errs[0] / errs[1]), np.log2(errs[1] / errs[2])
    assert all(1.7 < x < 2.3 for x in slope)


def test_symmetry_and_errors():
    model = vs.OU([[1.0, 0.5], [0.0, 2.0]], [[1, 0], [0.5, 1]], 0.5, readout="h1*h2**2")
    resp = vs.derive(model)
    rng = np.random.default_rng(0)
    th = rng.uniform(0, 2, (3, 50))
    H = resp.symmetric_kernel(3, (0, 1, 1))
    H_perm = resp.symmetric_kernel(3, (1, 0, 1))
    # permuting (index, time) pairs jointly leaves H unchanged
    assert np.allclose(H(*th), H_perm(th[1], th[0], th[2]), rtol=1e-13, atol=0)
    # on the ordered region it is the triangular kernel / n!
    srt = np.sort(th, axis=0)
    tri = resp.lower().kernel(3, (0, 1, 1))(srt[0], srt[1] - srt[0], srt[2] - srt[1])
    assert np.allclose(H(*srt), tri / 6, rtol=1e-13)
    pm = vs.derive(model.replace(initial=vs.PointMass([0, 0])))
    with pytest.raises(vs.VolterraError, match="non-stationary"):
        pm.symmetric_kernel(1, (0,))
