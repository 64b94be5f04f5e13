"""One kind of mistake, one error class, from every entry point (volterra_sym/validate.py).

Each row: (mistake, entry point, call, expected class, words the message must contain).
Trusts: nothing but the public API (the classes are the contract in docs/api.md).
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest
from models import TANH1

import volterra_sym as vs
from volterra_sym.algebra.expectations import expectation
from volterra_sym.checks.oracle import gaussian_law
from volterra_sym.routes.generator import derive_generator
from volterra_sym.routes.taylor.coefficients import taylor_kernels

OU = vs.OU(1.0, 1.0, 0.5, readout="h1**2")
OU2 = vs.OU([[1.0, 0.3], [0.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]], 0.5, readout="h1*h2")
TANH = TANH1
T = np.linspace(0, 1, 11)
U = np.sin(T)
BAD_T = np.array([0.0, 0.5, 0.4, 1.0])
NAN_U = U.copy()
NAN_U[3] = np.nan


@functools.cache  # one derivation per route for every row (the rows only read it)
def _exact():
    return vs.derive(OU)


@functools.cache  # one derivation per route for every row (the rows only read it)
def _exact2():
    return vs.derive(OU2)


@functools.cache  # one derivation per route for every row (the rows only read it)
def _taylor():
    return vs.derive(TANH, 1, method="taylor", lag_degree=2)


@functools.cache  # one derivation per route for every row (the rows only read it)
def _generator():
    return vs.derive(TANH, 1, method="generator", cells=200)


NOT_A_MODEL = [
    ("derive", lambda: vs.derive("OU")),
    ("simulate", lambda: vs.simulate("OU", U, T, 10)),
    ("simulate_response", lambda: vs.simulate_response("OU", U, T, 10)),
    ("verify", lambda: vs.verify("OU", U, T)),
    ("gaussian_oracle", lambda: vs.gaussian_oracle("OU", U, T)),
    ("gaussian_law", lambda: gaussian_law("OU", U, T)),
    ("taylor_kernels", lambda: taylor_kernels("OU", 1, 2)),
    ("derive_generator", lambda: derive_generator("OU", 1)),
    ("expectation", lambda: expectation("OU", 1)),
]

BAD_GRID = [
    ("predict exact", lambda: _exact().predict(np.ones(4), BAD_T)),
    ("predict taylor", lambda: _taylor().predict(np.ones(4), BAD_T)),
    ("predict generator", lambda: _generator().predict(np.ones(4), BAD_T)),
    ("simulate", lambda: vs.simulate(OU, np.ones(4), BAD_T, 10)),
    ("simulate_response", lambda: vs.simulate_response(OU, np.ones(4), BAD_T, 10)),
    ("gaussian_oracle", lambda: vs.gaussian_oracle(OU, np.ones(4), BAD_T)),
    ("verify", lambda: vs.verify(OU, np.ones(4), BAD_T, paths=10)),
    ("volterra_quadrature", lambda: vs.volterra_quadrature({(1, (0,)): lambda a: a}, np.ones(4), BAD_T)),
    ("response_feature", lambda: vs.response_feature(np.ones(4), BAD_T, 1, 1)),
    ("predict_features", lambda: _exact().predict_features(np.ones(4), BAD_T, 1, 1)),
]

NAN_INPUT = [
    ("predict exact", lambda: _exact().predict(NAN_U, T)),
    ("predict taylor", lambda: _taylor().predict(NAN_U, T)),
    ("predict generator", lambda: _generator().predict(NAN_U, T)),
    ("simulate", lambda: vs.simulate(OU, NAN_U, T, 10)),
    ("simulate_response", lambda: vs.simulate_response(OU, NAN_U, T, 10)),
    ("gaussian_oracle", lambda: vs.gaussian_oracle(OU, NAN_U, T)),
    ("verify", lambda: vs.verify(OU, NAN_U, T, paths=10)),
    ("volterra_quadrature", lambda: vs.volterra_quadrature({(1, (0,)): lambda a: a}, NAN_U, T)),
    ("response_feature", lambda: vs.response_feature(NAN_U, T, 1, 1)),
]

EPS_AS_TEXT = [
    ("predict exact", lambda: _exact().predict(U, T, eps="0.5")),
    ("predict taylor", lambda: _taylor().predict(U, T, eps="0.5")),
    ("predict generator", lambda: _generator().predict(U, T, eps="0.5")),
    ("simulate", lambda: vs.simulate(OU, U, T, 10, eps="0.5")),
    ("simulate_response", lambda: vs.simulate_response(OU, U, T, 10, eps="0.5")),
    ("gaussian_oracle", lambda: vs.gaussian_oracle(OU, U, T, eps="0.5")),
    ("verify", lambda: vs.verify(OU, U, T, paths=10, eps="0.5")),
    ("volterra_quadrature", lambda: vs.volterra_quadrature({(1, (0,)): lambda a: a}, U, T, eps="0.5")),
]

# issue 14: eps whose powers overflow float64, complex grids (NumPy would drop the imaginary part),
# grids beyond limits.MAX_GRID_POINTS (checked before anything is allocated)
Z_T = T + 0.1j * (T > 0.5)
HUGE_T = np.linspace(0, 1, vs.limits.MAX_GRID_POINTS + 1)

EPS_OVERFLOW = [
    ("predict exact", lambda: _exact().predict(U, T, eps=1e300)),
    ("predict taylor", lambda: vs.derive(TANH, 3, method="taylor", lag_degree=1).predict(U, T, eps=1e150)),
    ("predict generator", lambda: vs.derive(TANH, 3, method="generator", cells=200).predict(U, T, eps=1e150)),
    ("volterra_quadrature", lambda: vs.volterra_quadrature({(2, (0, 0)): lambda a, b: a}, U, T, eps=1e200)),
]

COMPLEX_OR_HUGE_GRID = [
    ("predict complex t", lambda: _exact().predict(np.ones(11), Z_T)),
    ("simulate complex t", lambda: vs.simulate(OU, None, Z_T, 10)),
    ("gaussian_oracle complex t", lambda: vs.gaussian_oracle(OU, None, Z_T)),
    ("response_feature complex t", lambda: vs.response_feature(np.ones(11), Z_T, 1, 1)),
    ("predict huge grid", lambda: _exact().predict(None, HUGE_T)),
    ("simulate huge grid", lambda: vs.simulate(OU, None, HUGE_T, 10)),
]

COMPLEX_MODEL = [
    ("A", lambda: vs.OU(np.array([[1 + 1j]]), 1, 1, readout="h1")),
    ("W", lambda: vs.SRNN(1, 1j, C=1, sigma=1, readout="h1")),
    ("sigma", lambda: vs.OU(1, 1, 1j, readout="h1")),
    ("params", lambda: vs.OU("a", 1, 1, readout="h1", params={"a": 1j})),
    ("PointMass", lambda: vs.PointMass([1j])),
    ("readout", lambda: vs.OU(1, 1, 1, readout=1j)),
]

BAD_INDEX_K = [
    ("kernel", lambda: _exact2().kernel(1, (5,))),
    ("kernel_values", lambda: _exact2().kernel_values(1, (5,), [0.1])),
    ("kernel_form", lambda: _exact2().kernel_form(1, (5,))),
    ("lower().kernel", lambda: _exact2().lower().kernel(1, (5,))),
    ("symmetric_kernel", lambda: _exact2().symmetric_kernel(1, (5,))),
    ("fdt_kernel", lambda: _exact2().fdt_kernel(5)),
    ("kernel_taylor", lambda: _exact2().kernel_taylor(1, (5,), (0,))),
    ("missing k, two inputs", lambda: _exact2().kernel(1)),
    ("generator kernel_values", lambda: _generator().kernel_values(1, (3,), [0.1])),
]

BAD_ORDER = [
    ("derive exact 0", lambda: vs.derive(OU, 0)),
    ("derive exact 13", lambda: vs.derive(OU, 13)),
    ("derive text", lambda: vs.derive(OU, "2")),
    ("derive taylor 13", lambda: vs.derive(TANH, 13, method="taylor", lag_degree=1)),
    ("derive generator 0", lambda: vs.derive(TANH, 0, method="generator")),
    ("derive_generator 0", lambda: derive_generator(TANH, 0)),
    ("taylor_kernels 0", lambda: taylor_kernels(TANH, 0, 2)),
    ("kernel n too large", lambda: _exact().kernel(3)),
    ("kernel_values n", lambda: _generator().kernel_values(2, 0, [[0.1, 0.2]])),
    ("lags n", lambda: _exact().lags(0)),
]

BAD_SETTING = [
    ("method", lambda: vs.derive(OU, method="exakt")),
    ("unknown option", lambda: vs.derive(OU, lag_degree=3)),
    ("simulate paths", lambda: vs.simulate(OU, U, T, 0)),
    ("simulate_response paths", lambda: vs.simulate_response(OU, U, T, -1)),
    ("verify paths", lambda: vs.verify(OU, U, T, paths=0)),
    ("simulate seed", lambda: vs.simulate(OU, U, T, 10, seed=-1)),
    ("component", lambda: _exact().kernel(1, component=3)),
    ("lower backend", lambda: _exact().lower("fortran")),
    ("by_order", lambda: _exact().predict(U, T, by_order="yes")),
    ("response_feature degree", lambda: vs.response_feature(U, T, -1, 1)),
    ("response_feature level", lambda: vs.response_feature(U, T, 1, 0)),
    # issue 14: sizes beyond vs.limits, refused before the work
    ("verify one path", lambda: vs.verify(OU, U, T, paths=1)),
    ("simulate 1e12 paths", lambda: vs.simulate(OU, U, T, 10**12)),
    ("lag_degree beyond MAX_LAG_DEGREE", lambda: vs.derive(TANH, 1, method="taylor", lag_degree=51)),
    ("Taylor cost", lambda: vs.derive(TANH, 12, method="taylor", lag_degree=25)),
    ("kernel count", lambda: vs.derive(vs.OU(1, [[1, 1, 1, 1]], 1, readout="h1"), 12)),
    ("quadrature kernel shape", lambda: vs.volterra_quadrature({(1, (0,)): lambda a: np.zeros(3)}, U, T)),
]

#: the argument each settings mistake must be named by (the message starts with it)
ARGUMENT = {
    "derive exact 0": "order",
    "derive exact 13": "order",
    "derive text": "order",
    "derive taylor 13": "order",
    "derive generator 0": "order",
    "derive_generator 0": "order",
    "taylor_kernels 0": "order",
    "kernel n too large": "n",
    "kernel_values n": "n",
    "lags n": "n",
    "method": "method",
    "unknown option": "lag_degree",
    "simulate paths": "paths",
    "simulate_response paths": "paths",
    "verify paths": "paths",
    "simulate seed": "seed",
    "component": "component",
    "lower backend": "backend",
    "by_order": "by_order",
    "response_feature degree": "degree",
    "response_feature level": "level",
    "verify one path": "paths",
    "simulate 1e12 paths": "paths",
    "lag_degree beyond MAX_LAG_DEGREE": "lag_degree",
    "Taylor cost": "lag_degree",
    "kernel count": "order",
    "quadrature kernel shape": "kernels",
}

CASES = (
    [(f"not a model: {n}", f, vs.ModelError, "model") for n, f in NOT_A_MODEL]
    + [(f"bad grid: {n}", f, vs.InputError, "t") for n, f in BAD_GRID]
    + [(f"NaN input: {n}", f, vs.InputError, "u") for n, f in NAN_INPUT]
    + [(f"eps as text: {n}", f, vs.InputError, "eps") for n, f in EPS_AS_TEXT]
    + [(f"eps overflows: {n}", f, vs.InputError, "eps") for n, f in EPS_OVERFLOW]
    + [(f"complex or huge grid: {n}", f, vs.InputError, "t") for n, f in COMPLEX_OR_HUGE_GRID]
    + [(f"complex model: {n}", f, vs.ModelError, n) for n, f in COMPLEX_MODEL]
    + [(f"bad k: {n}", f, vs.ArgumentError, "k") for n, f in BAD_INDEX_K]
    + [(f"bad order: {n}", f, vs.ArgumentError, ARGUMENT[n]) for n, f in BAD_ORDER]
    + [(f"bad setting: {n}", f, vs.ArgumentError, ARGUMENT[n]) for n, f in BAD_SETTING]
)


@pytest.mark.parametrize("name, call, cls, word", CASES, ids=[c[0] for c in CASES])
def test_each_mistake_raises_its_class(name, call, cls, word):
    with pytest.raises(vs.VolterraError) as info:
        call()
    assert type(info.value) is cls, f"{name}: {type(info.value).__name__} instead of {cls.__name__}: {info.value}"
    message = str(info.value)
    # the message starts with the argument's name (with an index or call where there is one), then a colon
    pattern = rf"{re.escape(word)}(\(.*?\))?(\[.*?\])?: "
    assert re.match(pattern, message), f"{name}: must start with {word!r}: {message}"
    assert len(message) < 2000
