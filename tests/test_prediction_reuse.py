"""Prediction work done once (issue 18 item 9): the float terms of a kernel are converted once
(algebra/exp_polynomial.NumericTerms) and a cube-form plan is reused for every horizon with the same
signature (numerics/separable.plan_signature), without changing a single number.

Trusts: the per-horizon conversion of 0.2 (``_reference_terms`` below, its code verbatim: every term to
mpmath, near-coincident rates merged term by term) as the reference the shortcuts must equal exactly, and a
freshly derived Response (no caches) as the reference of a reused plan.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym.algebra.exp_polynomial import NumericTerms, numeric_value, stable_numeric_terms


def _reference_terms(F: Any, subs: dict, horizon: float, *, dps: int = 50, tol: float = 1e-3) -> list:
    """stable_numeric_terms of volterra_sym 0.2, verbatim (before the per-value representatives)."""
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
                continue
            merged: dict = {}
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

HORIZONS = (1e-4, 1e-3, 0.05, 0.5, 3.0, 10.0, 12.0, 250.0)

MODELS = {
    # complex eigenvalues, 2 inputs: rates of order-3/4 kernels equal up to the working precision
    "complex 3-D": vs.OU(
        [[1.0, 2.0, 0.0], [-2.0, 1.0, 0.5], [0.0, 0.3, 1.5]],
        [[1.0, 0.0], [0.5, 1.0], [0.0, 0.7]],
        0.5,
        c=[0.2, 0.0, -0.1],
        readout="h1**3 + h1*h2*h3 + h1",
    ),
    # nearly defective A: rates 1 and 1 + 1e-7 are merged (for every horizon)
    "nearly defective": vs.OU([[1.0, 1.0], [0.0, 1.0 + 1e-7]], [[0.3], [1.0]], 0.5, readout="h1**2 + h2"),
    # rates 1 and 1.002: merged only on short horizons
    "close rates": vs.OU([[1.0, 0.0], [0.0, 1.002]], [[1.0], [1.0]], 0.5, readout="h1*h2",
                         initial=vs.PointMass([0.2, -0.1])),
}


@pytest.mark.parametrize(
    "name", [pytest.param("complex 3-D", marks=pytest.mark.slow), "nearly defective", "close rates"]
)
def test_the_conversion_done_once_equals_the_per_horizon_one(name):
    resp = vs.derive(MODELS[name])
    subs = dict(resp.model.params)
    for key in [(0, n, ks) for n in range(1, resp.order + 1) for ks in [(0,) * n]]:
        F = resp.kernel_form(key[1], key[2], key[0])
        once = NumericTerms(F, subs, dps=50)
        for horizon in (*HORIZONS, 7.0, 0.7):  # out of order: intervals found in any order
            reference = _reference_terms(F, subs, horizon, dps=50)
            assert stable_numeric_terms(F, subs, horizon, dps=50) == reference, (name, key, horizon)
            assert once.at(horizon) == reference, (name, key, horizon)


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(MODELS["complex 3-D"], marks=pytest.mark.slow, id="complex 3-D"),
        pytest.param(vs.OU([[1.0, 1.5], [-1.5, 1.0]], [[1.0], [0.4]], 0.5, readout="h1**3 + h2"), id="complex 2-D"),
    ],
)
def test_a_reused_plan_predicts_exactly_what_a_fresh_response_predicts(model):
    resp = vs.derive(model)
    rng = np.random.default_rng(3)
    first = np.linspace(0, 10, 2001)
    resp.predict(np.stack([np.sin(first), np.cos(first)], axis=1)[:, : model.m], first, eps=0.5)
    built = len(resp._plans_by_signature)
    for t_end in (7.0, 40.0):
        t = np.linspace(0, t_end, 1501)
        u = np.stack([np.sin(2 * t) + 0.3 * rng.normal(size=t.size), np.cos(0.7 * t)], axis=1)[:, : model.m]
        reused = resp.predict(u, t, eps=0.5, by_order=True)
        fresh = vs.derive(model).predict(u, t, eps=0.5, by_order=True)
        np.testing.assert_array_equal(reused, fresh)
    assert len(resp._plans_by_signature) == built  # no new plan for the new horizons
