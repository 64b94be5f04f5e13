"""Networks as matrices (volterra_sym/model/structure.py, issue 20 part 0).

Trusts: SymPy's differentiation and lambdify (the structure's drift, Jacobian, curvatures and
activation derivatives are compared with the symbolic drift differentiated by SymPy); hand-written
Diffusion models for detection.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs
from volterra_sym.model.structure import NetworkStructure, network_structure


def _net(n: int, activation: str, seed: int = 0) -> vs.Diffusion:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n, n)) / np.sqrt(n)
    G = np.eye(n) + 0.1 * rng.normal(size=(n, n))
    return vs.SRNN(G, W, rng.normal(size=n) * 0.3, rng.normal(size=(n, 2)), 0.3, activation=activation, readout="h1")


def _symbolic_derivatives(model: vs.Diffusion) -> tuple:
    h = sp.Matrix(model.state)
    phi = model.drift
    J = phi.jacobian(h)
    return sp.lambdify(model.state, phi, "numpy"), sp.lambdify(model.state, J, "numpy"), phi, h


@pytest.mark.parametrize(
    "activation",
    ["tanh", pytest.param("identity", marks=pytest.mark.slow), pytest.param("sigmoid", marks=pytest.mark.slow)],
)
def test_structure_numerics_match_sympy(activation: str) -> None:
    model = _net(3, activation)
    s = model.structure
    assert isinstance(s, NetworkStructure) and s.activation == activation
    f, Jf, phi, h = _symbolic_derivatives(model)
    x = np.array([0.3, -0.7, 1.1])
    assert np.allclose(s.drift(x), np.asarray(f(*x), dtype=float).ravel(), rtol=1e-13, atol=1e-14)
    assert np.allclose(s.jacobian(x), np.asarray(Jf(*x), dtype=float), rtol=1e-13, atol=1e-14)
    H = np.random.default_rng(1).normal(size=(2, 3, 5))  # paths last
    ref = np.stack([[np.asarray(f(*H[e, :, p]), dtype=float).ravel() for p in range(5)] for e in range(2)])
    assert np.allclose(s.drift_columns(H), ref.transpose(0, 2, 1), rtol=1e-13, atol=1e-14)
    # second and third derivative tensors applied to vectors, against sympy
    u, v, w = np.eye(3)[0] + 0.5, np.array([0.2, -1.0, 0.4]), np.array([1.0, 0.1, -0.3])
    a, b_, c = sp.symbols("a b c")  # directional derivatives d/da d/db (d/dc) phi(x + a u + b v + c w) at 0
    line = {hj: xj + a * uj + b_ * vj + c * wj for hj, xj, uj, vj, wj in zip(model.state, x, u, v, w)}
    zero = {a: 0, b_: 0, c: 0}
    want2 = np.array([float(sp.diff(p.xreplace(line), a, b_).xreplace(zero)) for p in phi])
    want3 = np.array([float(sp.diff(p.xreplace(line), a, b_, c).xreplace(zero)) for p in phi])
    z = s.pre(x)[:, None]
    assert np.allclose(s.curvature(z, 2, u[:, None], v[:, None])[:, 0], want2, rtol=1e-12, atol=1e-14)
    assert np.allclose(s.curvature(z, 3, u[:, None], v[:, None], w[:, None])[:, 0], want3, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "identity"])
def test_activation_derivatives_match_sympy(activation: str) -> None:
    x = sp.Symbol("x")
    a = {"tanh": sp.tanh(x), "sigmoid": 1 / (1 + sp.exp(-x)), "identity": x}[activation]
    s = _net(1, activation).structure
    assert s is not None
    z = np.linspace(-3, 3, 7)
    for d in range(5):
        ref = sp.lambdify(x, sp.diff(a, x, d), "numpy")(z) * np.ones_like(z)
        assert np.allclose(s.a(z, d), ref, rtol=1e-12, atol=1e-14), d


def test_detection_of_hand_written_models() -> None:
    # tanh network written by hand, with a sign pulled out of tanh and a constant row
    m = vs.Diffusion(
        ["x", "y"],
        ["-x + 0.5*y + tanh(2*x - y + 0.1)", "-2*y - tanh(x + 3*y)"],
        0.4,
        [[1], [0]],
        "x",
    )
    s = network_structure(m)
    assert s is not None and s.activation == "tanh"
    assert np.allclose(s.Gamma, [[1, -0.5], [0, 2]]) and np.allclose(s.W, [[2, -1], [-1, -3]])
    assert np.allclose(s.b, [0.1, 0.0]) and np.allclose(s.sigma, 0.4 * np.eye(2)) and np.allclose(s.C, [[1], [0]])
    # an OU written by hand (affine drift)
    ou = vs.Diffusion(["x"], ["-2*x + 0.3"], 0.5, 1, "x**2")
    so = network_structure(ou)
    assert so is not None and so.linear and np.allclose(so.Gamma, [[2]]) and np.allclose(so.b, [0.3])
    # a sigmoid network with a bias (sympy writes exp(-z - b) as exp(-b) exp(-z))
    sg = vs.Diffusion(["x"], ["-x + 1/(1 + exp(-(0.7*x - 0.2)))"], 0.2, 1, "x")
    ss = network_structure(sg)
    assert ss is not None and ss.activation == "sigmoid" and np.allclose([ss.W[0, 0], ss.b[0]], [0.7, -0.2])
    # parameters with values are substituted
    par = vs.Diffusion(["x"], ["-k*x + tanh(x)"], 0.2, 1, "x", params={"k": 2})
    sp_ = network_structure(par)
    assert sp_ is not None and np.allclose(sp_.Gamma, [[2]])


@pytest.mark.parametrize(
    "drift, sigma, coupling",
    [
        (["-x**3 + tanh(x)"], 0.2, 1),  # cubic term
        (["-x + 2*tanh(x)"], 0.2, 1),  # a gain in front of the activation
        (["-x + tanh(x**2)"], 0.2, 1),  # activation of a non-affine map
        (["-x + tanh(x) + 1/(1 + exp(-x))"], 0.2, 1),  # two activations in one row
        (["-x + tanh(x)"], "0.2*x", 1),  # multiplicative noise
        (["-x + tanh(x)"], 0.2, "x"),  # state-dependent coupling
        (["-x + sin(x)"], 0.2, 1),  # another function
        (["-x + tanh(x) + 0.5"], 0.2, 1),  # a constant beside tanh in the same row
    ],
)
def test_detection_refuses_other_forms(drift, sigma, coupling) -> None:
    assert network_structure(vs.Diffusion(["x"], drift, sigma, coupling, "x")) is None


def test_symbolic_parameters_without_values_give_none() -> None:
    m = vs.SRNN("g", [[0.5]], None, [1], 0.3, activation="tanh", readout="h1")
    assert network_structure(m) is None


def test_lazy_symbolic_form_equals_the_eager_one() -> None:
    """A numeric SRNN builds its sympy drift only on demand, and then exactly as the symbolic constructor does."""
    W = [[0.5, -1.0], [0.25, 0.0]]
    lazy = vs.SRNN(1.0, np.array(W), [0.1, 0.0], [1, 0], 0.3, activation="tanh", readout="h1**2")
    assert not lazy.symbolic_built
    h1, h2 = sp.symbols("h1 h2")
    eager = vs.Diffusion(
        [h1, h2],
        # Python floats enter a model as the decimals typed (0.1 -> 1/10), lazily or not
        [-h1 + sp.tanh(sp.Rational(1, 2) * h1 - h2 + sp.Rational(1, 10)),
         -h2 + sp.tanh(sp.Rational(1, 4) * h1)],
        sp.Rational(3, 10) * sp.eye(2),
        [1, 0],
        h1**2,
    )  # fmt: skip
    assert all(sp.simplify(a - b) == 0 for a, b in zip(lazy.drift, eager.drift))
    assert lazy.symbolic_built and lazy.diffusion == eager.diffusion and lazy.coupling == eager.coupling
    # replace / with_values / pickling keep the structure
    again = pickle.loads(pickle.dumps(lazy.replace(initial=vs.PointMass([0, 0]))))
    assert again.structure is not None and np.array_equal(again.structure.W, np.array(W))


def test_large_network_is_cheap() -> None:
    """n = 256: construction, structure and linearity need no symbolic work (targets: issue 20)."""
    rng = np.random.default_rng(0)
    n = 256
    model = vs.SRNN(1.0, rng.normal(size=(n, n)) / 16, np.zeros(n), np.ones((n, 1)), 0.2, activation="tanh",
                    readout="h1")  # fmt: skip
    s = model.structure
    assert s is not None and not s.linear and model.n == n and model.m == 1 and model.r == n
    assert not model.symbolic_built  # nothing above built the n^2 expressions
    assert "digest" in repr(model)
