"""Dask as the engine of the Monte Carlo checks (volterra_sym/checks/distributed.py, issue 12 part 2).

A LocalCluster of 2 worker processes runs the seed blocks as tasks; every result must be
bit-identical to the local run with the same seed, and failures must surface as clear errors.
"""

from __future__ import annotations

import operator
import os
import sys
import warnings

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym.checks import distributed as vd
from volterra_sym.errors import SimulationError, TimeStepBiasWarning

try:
    import distributed
except ImportError:  # the 'dask' extra: required on CI (.ci/run installs it), optional locally
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise
    pytest.skip("needs pip install 'volterra_sym[dask]'", allow_module_level=True)

pytestmark = pytest.mark.slow  # starting two worker processes takes a few seconds


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


TANH = vs.SRNN(Gamma=1.0, W=[[0.5, -0.3], [0.8, 0.2]], b=[0.1, 0.0], C=[[1.0], [0.5]], sigma=0.5,
               activation="tanh", readout="h1 + h2**2", initial=vs.PointMass([0.2, -0.1]))  # fmt: skip


def test_simulate_bit_identical(client) -> None:
    t = np.linspace(0, 1, 11)
    U = np.sin(3 * t)
    for fn in (vs.simulate, vs.simulate_response):
        local = fn(TANH, U, t, 1000, seed=5, substeps=2, return_samples=True)
        dist = fn(TANH, U, t, 1000, seed=5, substeps=2, return_samples=True, client=client)
        assert np.array_equal(local.mean, dist.mean) and np.array_equal(local.stderr, dist.stderr)
        assert np.array_equal(local.samples, dist.samples)
    # a fixed chunk size is kept as given
    dist = vs.simulate(TANH, U, t, 1000, seed=5, substeps=2, client=client, chunk=128)
    assert np.array_equal(vs.simulate(TANH, U, t, 1000, seed=5, substeps=2).mean, dist.mean)


def test_estimate_kernels_bit_identical(client) -> None:
    lags = {1: [[0.0, 0.0], [0.5, 0.2]], 2: [[0.1, 0.2, 0.0], [0.3, 0.0, 0.1]]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TimeStepBiasWarning)
        local = vs.estimate_kernels(TANH, 2, lags, 700, seed=3)
        dist = vs.estimate_kernels(TANH, 2, lags, 700, seed=3, client=client)
    for n in (1, 2):
        for f in ("mean", "stderr", "bias", "bias_stderr"):
            assert np.array_equal(getattr(local, f)(n), getattr(dist, f)(n))


def test_verify_with_client(client) -> None:
    model = vs.OU(A=1.0, C=0.5, sigma=0.5, readout="h1**2")
    t = np.linspace(0, 1, 6)
    a = vs.verify(model, np.cos(t), t, paths=2000, seed=1)
    b = vs.verify(model, np.cos(t), t, paths=2000, seed=1, client=client)
    assert np.array_equal(a.mc_mean, b.mc_mean) and b.passed


def test_worker_failures_are_clear_errors(client) -> None:
    blowup = vs.Diffusion(["h"], ["h**3"], 0.5, 1.0, "h", initial=vs.PointMass([3.0]))
    with pytest.raises(SimulationError, match=r"dask task for paths .* failed \(SimulationError: .*non-finite"):
        vs.simulate(blowup, None, np.linspace(0, 5, 11), 256, client=client)
    # an arbitrary exception inside a task (here a TypeError raised on the worker)
    with pytest.raises(SimulationError, match=r"failed \(TypeError.*no partial result"):
        vd.run_blocks(client, operator.truediv, "job", 4, 1, True, False, 256, "test")


def test_bad_clients(monkeypatch) -> None:
    model = vs.OU(A=1.0, C=0.5, sigma=0.5, readout="h1")
    t = np.linspace(0, 1, 3)
    with pytest.raises(vs.ArgumentError, match="expected a dask.distributed Client"):
        vs.simulate(model, None, t, 64, client=42)
    monkeypatch.setattr(vd, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(SimulationError, match="could not reach a dask scheduler at 'tcp://127.0.0.1:9'"):
        vs.simulate(model, None, t, 64, client="tcp://127.0.0.1:9")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask were not installed
    with pytest.raises(vs.MissingDependencyError, match=r"pip install 'volterra_sym\[dask\]'"):
        vs.simulate(model, None, t, 64, client="tcp://127.0.0.1:9")


def test_a_scheduler_address_passes_the_up_front_check(client) -> None:
    """The address check (issues 23/24: fail once, before any work) speaks dask's handshake to a real scheduler."""
    t = np.linspace(0, 1, 6)
    local = vs.simulate(TANH, np.sin(t), t, 128, seed=2)
    remote = vs.simulate(TANH, np.sin(t), t, 128, seed=2, client=client.scheduler.address)
    assert np.array_equal(local.mean, remote.mean)
