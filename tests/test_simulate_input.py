"""The Euler scheme's input inside a step (issue 12, part 4).

Euler reads u as the piecewise-linear interpolant of its grid samples (like the exact scheme and
the Gaussian oracle) and uses its exact average over each sub-step.  References: the exact
moment recursion of the Euler chain for 1-D OU (written here, for both input rules) and the
Gaussian oracle.  Tolerances: Z standard errors plus, against the oracle, the exactly computed
drift-discretisation bias of the Euler chain.
"""

from __future__ import annotations

import numpy as np

import volterra_sym as vs
from volterra_sym.checks.oracle import gaussian_oracle
from volterra_sym.checks.simulate import simulate, simulate_response

Z = 5.0
A, C0, CC, S, X0 = 0.2, 0.2, 1.0, 0.5, 0.3


def _euler_mean_var(U, t, substeps, eps, rule):
    """Exact mean and variance of the Euler chain for dh = (-A h + C0 + eps CC u) dt + S dW, h_0 = X0."""
    m, v = [X0], [0.0]
    for k in range(t.size - 1):
        h = (t[k + 1] - t[k]) / substeps
        mk, vk = m[-1], v[-1]
        for i in range(substeps):
            u = U[k] if rule == "left" else U[k] + (i + 0.5) / substeps * (U[k + 1] - U[k])
            mk = mk + (-A * mk + C0 + eps * CC * u) * h
            vk = (1 - A * h) ** 2 * vk + S**2 * h
        m.append(mk)
        v.append(vk)
    return np.array(m), np.array(v)


def _response(U, t, substeps, rule):
    m1, v1 = _euler_mean_var(U, t, substeps, 1.0, rule)
    m0, v0 = _euler_mean_var(U, t, substeps, 0.0, rule)
    return m1**2 + v1 - m0**2 - v0


def test_euler_response_uses_step_average_and_loses_the_input_bias() -> None:
    model = vs.OU(A=A, C=CC, sigma=S, c=C0, readout="h1**2", initial=vs.PointMass([X0]))
    t = np.linspace(0, 2, 21)  # coarse: dt = 0.1 for an input of angular frequency 6
    U = np.sin(6 * t)
    oracle = gaussian_oracle(model, U, t, 1.0) - gaussian_oracle(model, U, t, 0.0)
    for substeps in (1, 3):
        res = simulate_response(model, U, t, 4000, seed=21, substeps=substeps)
        chain = _response(U, t, substeps, "average")
        # the implementation is the averaged-input Euler chain
        assert np.all(np.abs(res.mean - chain)[1:] <= Z * res.stderr[1:])
        # against the exact law: only the (exactly known) drift-discretisation bias remains
        drift_bias = np.abs(chain - oracle)
        assert np.all(np.abs(res.mean - oracle)[1:] <= Z * res.stderr[1:] + drift_bias[1:])
        # the old left-value rule was far outside that tolerance at this dt
        left = _response(U, t, substeps, "left")
        assert np.max(np.abs(left - oracle)[1:] / (Z * res.stderr[1:] + drift_bias[1:])) > 3


def test_callable_input_is_the_interpolant_of_its_grid_samples() -> None:
    model = vs.OU(A=1.0, C=1.0, sigma=0.4, readout="h1**2", initial=vs.PointMass([0.0]))
    t = np.linspace(0, 1, 6)
    a = simulate(model, lambda s: [np.cos(5 * s)], t, 256, seed=3, substeps=4)
    b = simulate(model, np.cos(5 * t), t, 256, seed=3, substeps=4)
    assert np.array_equal(a.mean, b.mean)
