"""Lowered kernels: the NumPy backend, the standalone module and the mpmath backend agree.

The mpmath backend evaluates the exponential polynomial term by term, the
NumPy code is generated source; a third reference is sympy.lambdify of the
printed kernel expression.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs

MODELS = {
    "complex-pointmass": lambda: vs.OU(
        [[1, 2], [-2, 1]], [1, 0], 0.5, c=[0.3, 0], readout="h1**3 + h1*h2", initial=vs.PointMass([1, 0])
    ),
    "jordan-two-inputs": lambda: vs.OU([[1, 1], [0, 1]], [[1, 0], [1, 1]], 0.5, readout="h1**2 + h2"),
    "3d-numeric": lambda: vs.OU([[2, 1, 0], [0, 3, 1], [1, 0, 4]], [[1], [0], [0.5]], 0.5, readout="h1**2*h3"),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_backends_agree(name, tmp_path):
    resp = vs.derive(MODELS[name]())
    npy = resp.lower("numpy")
    mpm = resp.lower("mpmath", dps=40)
    path = resp.write_module(tmp_path / "kern.py")
    spec = importlib.util.spec_from_file_location("kern", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(3)
    for (c, n, ks), f in npy.funcs.items():
        if n == 0:
            continue
        nargs = len(resp.lags(n))
        x = rng.uniform(0, 2, (nargs, 7))
        a = f(*x)
        b = mpm.kernel(n, ks, c)(*x).astype(float)
        g = mod.KERNELS[(c, n, ks)](*x)
        lam = sp.lambdify(resp.lags(n), resp.kernel(n, ks, c), "numpy")(*x)
        scale = np.max(np.abs(b)) + 1e-300
        assert np.max(np.abs(a - b)) <= 1e-12 * scale
        assert np.array_equal(a, g)
        assert np.max(np.abs(np.real(lam) - b)) <= 1e-12 * scale


def test_broadcasting_and_module_runs_standalone(tmp_path):
    resp = vs.derive(MODELS["jordan-two-inputs"]())
    f = resp.lower().kernel(2, (0, 1))
    assert f(np.ones((4, 1)), np.ones((1, 3))).shape == (4, 3)
    path = resp.write_module(tmp_path / "standalone.py")
    src = open(path).read()
    assert "def K2_1_2(tau1, tau2):" in src and "import sympy" not in src
    out = subprocess.run(
        [sys.executable, "-c", "import standalone as s; print(float(s.K2_1_2(0.1, 0.2)))"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(out.stdout) == pytest.approx(float(f(0.1, 0.2)), rel=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"backend": "fortran"}, "backend"),
        ({"backend": "mpmath", "dps": 0}, "dps"),
        ({"backend": "mpmath", "dps": 2.5}, "dps"),
    ],
)
def test_bad_backend_and_precision(kwargs, match):
    resp = vs.derive(vs.OU(1, 1, 1, readout="h1"))
    with pytest.raises(vs.VolterraError, match=match):
        resp.lower(**kwargs)
