"""vs.MonteCarlo: one settings object for simulate, simulate_response, verify and estimate_kernels.

The reference is the keyword form of the same call (which predates the object): the same settings must give
bit-identical numbers either way, and every way of giving a setting twice with two values is refused.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from models import OU1

import volterra_sym as vs
from volterra_sym.checks.settings import DEFAULT_PATHS, VERIFY_PATHS

T = np.linspace(0.0, 1.0, 11)


def test_settings_object_and_keywords_give_the_same_numbers(tanh1):
    keywords = vs.simulate_response(tanh1, np.sin, T, 128, seed=3, eps=0.5, substeps=2, chunk=64)
    mc = vs.MonteCarlo(paths=128, seed=3, substeps=2, chunk=64)
    settings = vs.simulate_response(tanh1, np.sin, T, eps=0.5, mc=mc)
    mixed = vs.simulate_response(tanh1, np.sin, T, 128, eps=0.5, mc=vs.MonteCarlo(seed=3, substeps=2), chunk=64)
    for res in (settings, mixed):
        assert np.array_equal(res.mean, keywords.mean) and np.array_equal(res.stderr, keywords.stderr)
    est_kw = vs.estimate_kernels(OU1, 1, {1: [0.0, 0.5]}, paths=64, seed=2, dt=0.05, bias_check=False)
    est_mc = vs.estimate_kernels(OU1, 1, {1: [0.0, 0.5]}, mc=vs.MonteCarlo(paths=64, seed=2, dt=0.05), bias_check=False)
    assert np.array_equal(est_kw.mean(1), est_mc.mean(1))


def test_a_setting_given_twice_with_two_values_is_refused(fast):
    mc = vs.MonteCarlo(paths=100, seed=1)
    message = fast(lambda: vs.simulate(OU1, None, T, 200, mc=mc), vs.ArgumentError)
    assert message.startswith("paths: given as 200") and "mc.paths = 100" in message
    message = fast(lambda: vs.estimate_kernels(OU1, 1, {1: [0.0]}, seed=4, mc=mc), vs.ArgumentError)
    assert message.startswith("seed: given as 4")
    message = fast(lambda: vs.verify(OU1, None, T, order=1, paths=3000, mc=mc), vs.ArgumentError)
    assert message.startswith("paths: given as 3000")
    # the same value twice, or a keyword left at its default, is no conflict
    assert vs.simulate(OU1, None, T, 100, seed=0, mc=mc).paths == 100


def test_fields_a_function_does_not_use_are_refused(fast):
    assert fast(lambda: vs.simulate(OU1, None, T, mc=vs.MonteCarlo(dt=0.1)), vs.ArgumentError).startswith("mc:")
    assert "scheme" in fast(
        lambda: vs.estimate_kernels(OU1, 1, {1: [0.0]}, mc=vs.MonteCarlo(scheme="exact")), vs.ArgumentError
    )
    assert fast(lambda: vs.simulate(OU1, None, T, mc={"paths": 10}), vs.ArgumentError).startswith("mc: expected")


@pytest.mark.parametrize(
    "field, value",
    [("paths", 0), ("seed", -1), ("scheme", "milstein"), ("substeps", 1.5), ("dt", 0.0), ("burn_in", -1.0),
     ("burn_in_dt", float("nan")), ("chunk", True), ("max_memory", "lots"), ("progress", "yes")],
)  # fmt: skip
def test_every_field_is_checked_when_the_object_is_built(field, value):
    with pytest.raises(vs.ArgumentError) as info:
        vs.MonteCarlo(**{field: value})
    assert str(info.value).startswith(f"{field}:")


def test_one_documented_default_for_paths():
    assert vs.MonteCarlo().paths is None  # None: the function's default, named in the docstring
    assert DEFAULT_PATHS == 10000 and VERIFY_PATHS == 20000
    assert vs.simulate(OU1, None, np.array([0.0, 0.1]), scheme="exact").paths == DEFAULT_PATHS
    filled = vs.MonteCarlo(seed=5).with_defaults(paths=DEFAULT_PATHS, seed=0)
    assert (filled.paths, filled.seed) == (DEFAULT_PATHS, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        filled.paths = 1  # type: ignore[misc]
