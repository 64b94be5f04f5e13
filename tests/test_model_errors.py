"""Bad input to models and derive() gives clear VolterraErrors (argument, value, remedy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: vs.OU([[1, 2, 3], [4, 5, 6]], [1, 0], 1, readout="h1"), "A"),
        (lambda: vs.OU([[1, 0], [0, 1]], [1, 0, 0], 1, readout="h1"), "C"),
        (lambda: vs.OU([[1, 0], [0, 1]], [1, 0], [[1, 0, 0]], readout="h1"), "diffusion"),
        (
            lambda: vs.SRNN([[1, 0], [0, 1]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], None, [1, 0], 1, readout="h1"),
            "Gamma|W",
        ),
        (lambda: vs.SRNN(1, [[0.5, 0], [0, 0.5]], [0, 0, 0], [1, 0], 1, readout="h1"), "b"),
        (lambda: vs.OU(1, 1, 1, readout="h1 + q"), "readout"),
        (lambda: vs.OU(float("nan"), 1, 1, readout="h1"), "non-finite"),
        (lambda: vs.OU(1, math.inf, 1, readout="h1"), "non-finite"),
        (lambda: vs.OU(1, 1, 1, readout="__import__('os')"), "not allowed"),
        (lambda: vs.OU(1, 1, 1, readout="h1", initial="sideways"), "initial"),
        (lambda: vs.OU(1, 1, 1, readout="h1", initial=vs.PointMass([1, 2])), "dimension"),
        (lambda: vs.SRNN(1, 0.5, 0, 1, 1, activation="relu", readout="h1"), "activation"),
        (lambda: vs.OU(1, 1, 1), "readout"),
    ],
)
def test_model_construction_errors(build, match):
    with pytest.raises(vs.VolterraError, match=match):
        build()


def test_unstable_stationary_start():
    with pytest.raises(vs.UnstableError, match="PointMass"):
        vs.derive(vs.OU([[1, 0], [0, -0.5]], [1, 0], 1, readout="h1"))
    with pytest.raises(vs.UnstableError):
        vs.derive(vs.OU([[0]], [1], 1, readout="h1"))  # singular
    # an unstable model is fine from a point mass
    resp = vs.derive(vs.OU([[1, 0], [0, -0.5]], [1, 0], 1, readout="h1", initial=vs.PointMass([0, 0])))
    assert resp.order == 1


def test_symbolic_stability_checked_against_given_values():
    a = sp.Symbol("a")
    with pytest.raises(vs.UnstableError):
        vs.derive(vs.OU(a, 1, 1, readout="h1", params={"a": -1}))


@pytest.mark.parametrize("order", [0, -1, 1.5, "2", True])
def test_bad_order(order):
    with pytest.raises(vs.VolterraError, match="order"):
        vs.derive(vs.OU(1, 1, 1, readout="h1"), order=order)


def test_nonpolynomial_readout_needs_taylor_route():
    with pytest.raises(vs.NotLinearError, match="polynomial"):
        vs.derive(vs.OU(1, 1, 1, readout="tanh(h1)"))


def test_nonlinear_drift_points_to_taylor_route():
    with pytest.raises(vs.NotLinearError, match="taylor"):
        vs.derive(vs.SRNN(1, 0.5, 0, 1, 1, activation="tanh", readout="h1"))
    h = sp.Symbol("h1")
    with pytest.raises(vs.NotLinearError, match="noise"):
        vs.derive(vs.Diffusion([h], [-h], [[1 + h**2]], [[1]], h))


def test_bad_method_and_kernel_requests():
    resp = vs.derive(vs.OU([[1, 0], [0, 2]], [[1, 0], [0, 1]], 1, readout="h1*h2"))
    with pytest.raises(vs.VolterraError, match="k"):
        resp.kernel(1)
    with pytest.raises(vs.VolterraError, match="k"):
        resp.kernel(2, (0, 5))
    with pytest.raises(vs.VolterraError, match="n"):
        resp.kernel(3, (0, 0, 0))
    with pytest.raises(vs.VolterraError, match="method"):
        vs.derive(vs.OU(1, 1, 1, readout="h1"), method="magic")


def test_exact_numbers_stay_exact():
    resp = vs.derive(vs.OU(sp.Rational(1, 2), 1, sp.Rational(1, 3), readout="h1**2"))
    assert resp.mean0 == sp.Rational(1, 9)  # S_inf = (1/9)/(2*(1/2))
    assert all(isinstance(x, sp.Rational) for x in resp.kernel(1).atoms(sp.Number))
    assert resp.order == 2 and resp.kernel(2).has(sp.exp)


def test_declared_symbolic_parameter_only_in_readout():
    k = sp.Symbol("k")
    model = vs.OU(1, 1, 1, readout=k * sp.Symbol("h1") ** 2, params={"k": None})
    resp = vs.derive(model)
    assert resp.kernel(2).has(k)
    with pytest.raises(vs.VolterraError, match="params"):
        model.with_values()
    with pytest.raises(vs.ModelError, match="readout"):
        vs.OU(1, 1, 1, readout="k*h1")


def test_symbolic_kernels_singular_at_the_given_values_are_refused():
    a, b, d = sp.symbols("a b d")
    model = vs.OU([[a, b], [0, d]], [0, 1], 0.5, readout="h1**2", params={"a": 1, "b": 1, "d": 1})
    resp = vs.derive(model)
    with pytest.raises(vs.VolterraError, match="singular.*with_values"):
        resp.predict(np.ones(11), np.linspace(0, 1, 11))
    with pytest.raises(vs.VolterraError, match="singular"):
        resp.lower()
    # the numeric derivation finds the Jordan form and agrees with the Gaussian law
    t = np.linspace(0, 1, 201)
    got = vs.derive(model.with_values()).predict(np.ones(201), t)
    assert np.max(np.abs(got - vs.gaussian_oracle(model.with_values(), np.ones(201), t))) < 1e-10


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r, t: r.lower(max_lag=-1), "max_lag"),
        (lambda r, t: r.lower(max_lag="x"), "max_lag"),
        (lambda r, t: r.predict(np.ones(11), t, by_order="yes"), "by_order"),
        (lambda r, t: r.kernel_taylor(1, 0, ("a",)), "p:"),
        (lambda r, t: r.write_latex("/tmp"), "folder"),
        (lambda r, t: r.fdt_kernel(3), "k:"),
        (lambda r, t: r.mean0_form(5), "component"),
        (lambda r, t: vs.volterra_quadrature([1, 2], np.ones(11), t), "mapping"),
        (lambda r, t: vs.Gaussian([0], [[-1]]), "positive semi-definite"),
    ],
)
def test_bad_arguments_to_response_methods(call, match):
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, c=0.2, readout="h1**2"))
    with pytest.raises(vs.VolterraError, match=match):
        call(resp, np.linspace(0, 1, 11))


# --------------------------------------------------------------------------- issue 19, item 5


def test_unstable_model_is_blamed_on_the_dynamics_not_the_galerkin_weight():
    unstable = vs.SRNN(-0.5, [[0.4, -1.0], [0.9, 0.2]], [0.1, -0.2], [1, 0.5], 0.5, activation="tanh", readout="h1")
    with pytest.raises(vs.UnstableError, match=r"^model: the unperturbed dynamics diverges") as info:
        vs.derive(unstable, 1, method="galerkin", degree=4)
    assert "no stationary law" in str(info.value) and "degree" not in str(info.value)


def test_a_flat_noise_vector_is_refused_with_both_meanings():
    with pytest.raises(vs.ModelError, match=r"^sigma: received a flat sequence of 2 amplitudes .* np\.diag"):
        vs.SRNN(1.0, [[0.4, -1.0], [0.9, 0.2]], None, [1, 0.5], [0.5, 0.3], readout="h1")
    with pytest.raises(vs.ModelError, match=r"^sigma: received a flat sequence"):
        vs.OU([[1.0, 0.0], [0.0, 1.0]], [1, 0.5], np.array([0.5, 0.3]), readout="h1")
    with pytest.raises(vs.ModelError, match=r"^diffusion: received a flat sequence"):
        vs.Diffusion(["x", "y"], ["-x", "-y"], [0.5, 0.3], [[1], [0]], "x")
    assert vs.SRNN(1.0, 0.5, None, 1.0, [0.5], readout="h1").r == 1  # 1-D: no ambiguity


def test_describe_prints_numpy_scalars_as_numbers():
    from volterra_sym.errors import describe

    assert describe(np.float64(0.015)) == "0.015 (type float64)"
    assert describe(np.int64(3)) == "3 (type int64)"
