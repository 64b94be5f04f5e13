"""Guards on resource limits (vs.limits): every size is refused up front, by the rule of docs/api.md.

A refusal comes before the work or allocation (the ``fast`` fixture bounds the heap it allocates),
is of the class of the argument that is too large, and names the argument, the limit and how to
change it.  Regrouped from issue 14's hardening tests; the rows of issues 23 and 24 follow.
"""

from __future__ import annotations

import re
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from models import OU1, learn_module

import volterra_sym as vs
from volterra_sym import limits
from volterra_sym.errors import ReadoutError
from volterra_sym.modelfile import loads_run

ROOT = Path(__file__).resolve().parents[1]

H1, H2, H3 = sp.symbols("h1 h2 h3")

OU = vs.OU(1.0, 1.0, 0.5, readout="h1**2")

T = np.linspace(0, 1, 11)

U = np.sin(T)

TANH2 = vs.SRNN(1, [[0.5, 0.3], [0.3, 0.6]], C=[1, 1], sigma=0.5, activation="tanh", readout="h1",
                initial=vs.PointMass([0.1, 0.1]))  # fmt: skip


# --------------------------------------------------------------------------- hangs: polynomial size


@pytest.mark.parametrize(
    "readout, n",
    [
        ("h1**1000", 1),
        ("(1+h1)**1000", 1),
        ("(h1**1000)**1000", 1),
        ("(h1+h2)**1000", 2),
        ("(h1**60)*(h1**60)", 1),
    ],
)
def test_large_powers_in_strings_are_refused_up_front(readout, n, fast):
    message = fast(lambda: vs.OU(np.eye(n), [1] * n, 1, readout=readout), vs.ExpressionError)
    assert str(limits.MAX_DEGREE) in message


@pytest.mark.parametrize(
    "readout, n, word",
    [
        (H1**1000, 1, "MAX_DEGREE"),  # built in SymPy: no parser involved
        ((1 + H1) ** 200, 1, "MAX_DEGREE"),
        ((H1 + H2) ** 1000, 2, "MAX_DEGREE"),
        ((1 + H1 + H2 + H3) ** 60, 3, "MAX_TERMS"),
        (sp.tanh((H1 + H2) ** 150), 2, "MAX_DEGREE"),
    ],
)
@pytest.mark.parametrize("method", ["exact", "taylor"])
def test_large_polynomials_are_refused_by_derive(readout, n, word, method, fast):
    model = vs.OU(np.eye(n), [1] * n, 1, readout=readout)
    options = {"lag_degree": 2} if method == "taylor" else {}
    message = fast(lambda: vs.derive(model, 2, method=method, **options), vs.ModelError)
    assert message.startswith("readout") and word in message and "vs.limits.configure" in message


def test_polynomial_limit_is_adjustable():
    model = vs.OU(1, 1, 1, readout=(1 + H1) ** 120)
    with pytest.raises(vs.ModelError, match="MAX_DEGREE"):
        vs.derive(model, 1)
    with limits.overridden(max_degree=200):
        assert vs.derive(model, 1).order == 1
        assert vs.parse_expr("h1**150") == H1**150  # the parser's exponent limit moves with it
    with pytest.raises(vs.ExpressionError):
        vs.parse_expr("h1**150")


def test_taylor_order_12_lag_degree_50_is_refused_up_front(fast):
    message = fast(lambda: vs.derive(TANH2, 12, method="taylor", lag_degree=50), vs.ArgumentError)
    assert message.startswith("lag_degree") and str(limits.MAX_LAG_DEGREE) in message


def test_taylor_cost_estimate_refuses_with_the_estimate_and_a_remedy(fast):
    message = fast(lambda: vs.derive(TANH2, 12, method="taylor", lag_degree=20), vs.ArgumentError)
    assert "estimated" in message and "MAX_DERIVE_SECONDS" in message and "vs.limits.configure" in message
    smaller = int(re.search(r"lag_degree <= (\d+)", message).group(1))
    limits.check_taylor_cost(12, smaller, 1, 4, False, 1)  # the remedy it names is accepted
    with pytest.raises(vs.ArgumentError):
        limits.check_taylor_cost(12, smaller + 1, 1, 4, False, 1)
    # the remedy it gives is one that works (for the brief's 2-D tanh SRNN: lag_degree 10 at order 2 took 93 s)
    work, seconds = limits.taylor_estimate(2, 10, 1, 4, False)
    assert 10 < seconds < limits.MAX_DERIVE_SECONDS


def test_taylor_estimate_orders_the_measured_cost():
    # measured on the reference machine (2-D tanh SRNN, point-mass start): 0.08/0.24/3.3/19.5/93 s for 2..10
    estimates = [limits.taylor_estimate(2, p, 1, 4, False)[1] for p in (2, 4, 6, 8, 10)]
    assert estimates == sorted(estimates)
    assert estimates[-1] / estimates[0] > 100


# --------------------------------------------------------------------------- hangs: Monte Carlo and grids


def test_simulate_and_verify_refuse_1e12_paths_up_front(fast):
    for call in (
        lambda: vs.simulate(OU, U, T, 10**12),
        lambda: vs.simulate_response(OU, U, T, 10**12),
        lambda: vs.verify(OU, U, T, paths=10**12),
    ):
        message = fast(call, vs.ArgumentError)
        assert message.startswith("paths") and "MAX_MC_WORK" in message and "estimated" in message


def test_cli_verify_refuses_1e12_paths(capsys, cli):
    tracemalloc.start()
    try:
        code, _, err = cli("verify", str(ROOT / "examples/ou1d_cubic.toml"), "--paths", "1000000000000")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and "MAX_MC_WORK" in err and peak < 64 * 2**20


def test_grid_points_limit_is_shared(capsys, fast, cli):
    top = limits.MAX_GRID_POINTS
    text = (ROOT / "examples/ou1d_cubic.toml").read_text().replace("points = 161", "points = 10000000")
    with pytest.raises(vs.VolterraError, match="MAX_GRID_POINTS"):
        loads_run(text, "m.toml")
    code, _, err = cli("verify", str(ROOT / "examples/ou1d_cubic.toml"), "--points", "100000000")
    assert code == 2 and str(top) in err and "MemoryError" not in err
    with limits.overridden(max_grid_points=50):
        for call in (
            lambda: vs.derive(OU).predict(np.ones(51), np.linspace(0, 1, 51)),
            lambda: vs.simulate(OU, None, np.linspace(0, 1, 51), 10),
        ):
            assert "MAX_GRID_POINTS" in fast(call, vs.InputError)


@pytest.mark.slow  # 1.4 s (CI runs it)
def test_simulation_memory_includes_the_per_grid_statistics():
    # with 20 000 grid times the per-block statistics dominate: they must fit in max_memory too
    t = np.linspace(0, 1, 20_001)
    with pytest.raises(vs.SimulationError, match="max_memory"):
        vs.simulate(OU, None, t, 64, max_memory=200_000)  # the statistics alone need 16 x 20 001 bytes
    tracemalloc.start()
    vs.simulate(OU, None, t, 640, max_memory=8_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * 8_000_000


def test_quadrature_memory_is_proportional_to_the_request():
    resp = vs.derive(OU1)
    kernel = resp.lower().kernel(1, (0,))

    def peak(points):
        t = np.linspace(0, 1, points)
        tracemalloc.start()
        vs.volterra_quadrature({(1, (0,)): kernel}, np.ones(points), t)
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return used

    small, large = peak(1000), peak(2000)
    assert large < 3 * small  # linear (2x), not quadratic (4x) as with the dense weight matrix


# --------------------------------------------------------------------------- the limits themselves


def test_limits_are_documented_once_and_linked():
    api = (ROOT / "docs/api.md").read_text()
    section = api[api.index("## Limits") :]
    for name in limits.current():
        assert name in section, name
    assert "api.md#limits" in (ROOT / "docs/model_files.md").read_text()
    assert "api.md#limits" in (ROOT / "docs/cli.md").read_text()


def test_configure_validates_and_restores():
    with pytest.raises(vs.ArgumentError):
        limits.configure(max_grid_pointz=3)
    with pytest.raises(vs.ArgumentError):
        limits.configure(max_grid_points=-1)
    before = limits.current()
    with limits.overridden(max_order=3, max_mc_work=10):
        with pytest.raises(vs.ArgumentError, match="1..3"):
            vs.derive(OU, 4)
    assert limits.current() == before


# --------------------------------------------------------------------------- members found while fixing


def test_generator_cells_beyond_the_limit_are_refused_before_allocating(fast, tanh1):
    tanh = tanh1
    message = fast(lambda: vs.derive(tanh, 1, method="generator", cells=10**7), vs.GridError)
    assert message.startswith("cells") and "MAX_GENERATOR_CELLS" in message


def test_kernel_count_is_refused_up_front_with_a_followable_remedy(fast):
    model = vs.OU(1, [[1, 1, 1, 1]], 1, readout="h1")
    message = fast(lambda: vs.derive(model, 12), vs.ArgumentError)
    assert message.startswith("order") and "MAX_KERNELS" in message and "vanishes" in message
    fit = int(re.search(r"order <= (\d+)", message).group(1))
    assert 1 <= fit <= limits.MAX_ORDER
    assert vs.derive(model, fit).order == fit


def test_expectation_of_a_huge_polynomial_is_refused_not_a_recursion_error(fast):
    message = fast(lambda: vs.expectation(vs.OU(1, 1, 1, readout="h1"), H1**1000), vs.ArgumentError)
    assert message.startswith("g") and "MAX_DEGREE" in message


def test_burn_in_steps_are_checked_before_allocating(fast, tanh1):
    tanh = tanh1
    message = fast(lambda: vs.simulate(tanh, None, T, 100, burn_in=1e12), vs.ArgumentError)  # as burn_in=-1
    assert message.startswith("burn_in") and "burn_in_dt" in message
    message = fast(lambda: vs.simulate(OU, None, T, 100, substeps=10**9), vs.InputError)
    assert "substeps" in message


def test_monte_carlo_advice_respects_the_minimum_paths_of_a_verdict(fast):
    t = np.linspace(0, 1, 20_001)
    model = vs.OU(1, 1, 1, readout="h1")
    with limits.overridden(max_mc_work=10**6):  # 100 paths x 20 000 steps > 1e6 and even 50 paths would not fit
        message = fast(lambda: vs.verify(model, None, t, paths=100, scheme="exact"), vs.ArgumentError)
        assert "paths <=" not in message and "coarser grid" in message
        message = fast(lambda: vs.simulate(model, None, t, 100, scheme="exact"), vs.ArgumentError)
        assert "paths <= 50" in message


def test_max_order_is_read_through_from_validate():
    from volterra_sym import validate

    with limits.overridden(max_order=5):
        assert validate.MAX_ORDER == 5
    assert validate.MAX_ORDER == limits.MAX_ORDER


@pytest.mark.slow  # 7 s: builds the cost estimate of a dense 12-unit model (CI runs it)
def test_exact_route_on_a_large_dense_model_is_refused_with_an_estimate(fast):
    A = np.eye(25) * 2 + 0.1 * np.random.default_rng(0).standard_normal((25, 25))
    message = fast(lambda: vs.derive(vs.OU(A, np.ones(25), 1, readout="h1"), 1), vs.ModelError)
    assert message.startswith("A") and "estimated" in message and "MAX_DERIVE_SECONDS" in message
    # a triangular (here diagonal) model of the same size has a rational spectrum and stays fast
    assert vs.derive(vs.OU(np.diag(np.arange(1.0, 26.0)), np.ones(25), 1, readout="h1"), 1).order == 1


def test_kernel_count_is_checked_when_the_order_comes_from_the_readout(fast):
    model = vs.OU(1, [[1, 1, 1, 1]], 1, readout="h1**12")
    assert "MAX_KERNELS" in fast(lambda: vs.derive(model), vs.ArgumentError)


def test_kernel_estimates_refuse_1e12_paths_up_front(fast):
    model = OU1
    message = fast(lambda: vs.estimate_kernels(model, lags={1: np.linspace(0, 1, 11)}, paths=10**12))
    assert message.startswith("paths") and "MAX_MC_WORK" in message


@pytest.mark.parametrize("change", [{"max_grid_points": 1.5}, {"max_order": 0.5}])
def test_count_limits_take_integers_only(change):
    """A fractional count used to be floored silently (max_order=0.5 made every derive fail)."""
    before = {k: getattr(vs.limits, k.upper()) for k in change}
    with pytest.raises(vs.ArgumentError, match="count; expected a positive integer"):
        vs.limits.configure(**change)
    assert {k: getattr(vs.limits, k.upper()) for k in change} == before


def test_count_limits_accept_numpy_integers():
    with vs.limits.overridden(max_feature_values=np.int64(10**8)):
        assert vs.limits.MAX_FEATURE_VALUES == 10**8


def test_kernel_values_refuses_lag_arrays_beyond_the_limit(fast):
    """3e6 lag pairs used to end in a raw MemoryError after 15 s (numerical routes hold N values per point)."""
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"), 2)
    message = fast(lambda: resp.kernel_values(2, (0, 0), np.zeros((3_000_000, 2))), vs.InputError)
    assert message.startswith("lags: 3000000 lag points") and "MAX_LAG_POINTS" in message


# --------------------------------------------------------------------------- issues 23 and 24: one row per cause


def test_configure_is_atomic_and_overridden_always_restores():
    """Issue 24: overridden(max_terms=6000, max_order=-1) raised but left MAX_TERMS = 6000."""
    before = limits.current()
    with pytest.raises(vs.ArgumentError, match="^max_order"):
        with limits.overridden(max_terms=6000, max_order=-1):
            pass
    with pytest.raises(vs.ArgumentError, match="^max_order"):
        limits.configure(max_terms=7000, max_order=0)  # validated before anything is applied
    assert limits.current() == before
    with pytest.raises(KeyError):  # the body raises: every limit is restored, the parser's exponent limit too
        with limits.overridden(max_terms=9000, max_degree=7):
            assert limits.MAX_TERMS == 9000
            raise KeyError
    assert limits.current() == before
    from volterra_sym.model import parsing

    assert parsing.MAX_DEGREE == limits.MAX_DEGREE


@pytest.mark.parametrize("change", [{"max_order": 10**400}, {"max_mc_work": 10**400}, {"min_estimate_paths": 1}])
def test_configure_refuses_values_no_limit_can_hold(change):
    """Issue 24: configure(max_order=10**400) raised OverflowError; a minimum path count below 2 means nothing."""
    before = limits.current()
    key = next(iter(change))
    with pytest.raises(vs.ArgumentError, match=f"^{key}"):
        limits.configure(**change)
    assert limits.current() == before


def _series(n=3, length=5):
    return np.random.default_rng(0).normal(size=(n, length))


@pytest.mark.parametrize(
    "make, argument, limit",
    [
        (lambda: learn_module().ResponseFeatures(1, 10**6), "level", "MAX_FEATURE_LEVEL"),
        (lambda: learn_module().ResponseFeatures(30000, 1), "degree", "MAX_FEATURE_DEGREE"),
        (lambda: learn_module().ResponseFeatures(refine=10**9), "refine", "MAX_FEATURE_REFINE"),
        (lambda: learn_module().ResponseKernel(degree=10**6), "degree", "MAX_FEATURE_DEGREE"),
    ],
)
def test_feature_sizes_are_limits_checked_before_any_work(fast, make, argument, limit):
    """Issue 24: level 10**6 counted its size with quadratic work first; degree 30000 passed the size check and
    allocated a 6.7 GiB shift matrix; refine=10**9 allocated 7.5 GiB."""
    estimator = make()  # scikit-learn imported outside the traced call
    message = fast(lambda: estimator.fit(_series()), vs.FeatureError)
    assert message.startswith(argument) and limit in message and "vs.limits.configure" in message


def test_readout_feature_degree_is_a_limit_and_not_truncated(fast):
    """Issue 24: ReadoutRegression(feature_degree=10**6) was unbounded and 2.7 was truncated silently."""
    learn = learn_module()
    model = OU1
    for value in (10**6, 2.7, "a"):
        est = learn.ReadoutRegression(model, ["h1"], order=1, feature_degree=value)
        message = fast(lambda e=est: e.fit(_series(), np.zeros(3)), ReadoutError)
        assert message.startswith("feature_degree")
    assert "MAX_FEATURE_DEGREE" in fast(
        lambda: learn.ReadoutRegression(model, ["h1"], order=1, feature_degree=10**6).fit(_series(), np.zeros(3))
    )


def test_response_feature_working_memory_is_checked_before_allocating(fast):
    """The shift matrices of every step ((P+1)^2 each) and the refined grid count, not only the result."""
    from volterra_sym.features import response_feature

    t = np.linspace(0, 1, 100_001)
    message = fast(lambda: response_feature(np.ones_like(t), t, 200, 1), vs.FeatureError)
    assert "MAX_FEATURE_VALUES" in message and "working arrays" in message


def test_stationary_degree_is_capped_before_any_work(fast):
    """Issue 24: Taylor's stationary_degree had no cap; the memory refusal then searched range(1, degree)."""
    message = fast(lambda: vs.derive(OU, 1, method="taylor", lag_degree=2, stationary_degree=10**9), vs.ArgumentError)
    assert message.startswith("stationary_degree") and "MAX_GALERKIN_DEGREE" in message


def test_galerkin_memory_refusal_is_an_argument_error_on_degree(fast):
    """Issue 23: the Galerkin memory refusal was a GridError; it is about degree, like every argument limit."""
    model = vs.OU([[1.0, 0.2], [0.0, 1.0]], [1, 0], 0.5, readout="h1")
    message = fast(lambda: vs.derive(model, 1, method="galerkin", degree=40, max_memory=2**20), vs.ArgumentError)
    assert message.startswith("degree") and "GALERKIN_MEMORY" in message and "configure" in message


@pytest.fixture(scope="module")
def cubic_galerkin():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vs.ConvergenceWarning)
        return vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**3"), 2, method="galerkin", degree=4)


def test_prediction_memory_is_checked_up_front(fast, cubic_galerkin):
    """Issues 23/24: a 1e6-point Galerkin prediction (allowed by MAX_GRID_POINTS) allocated 2.9 GiB, and the
    cascades' ~32 B x len(t) per filter stage was documented but not checked."""
    t = np.linspace(0, 1, 1_000_000)
    u = np.zeros_like(t)
    exact = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"), 2)
    with limits.overridden(predict_memory=2**24):
        for resp, options in ((cubic_galerkin, {}), (exact, {"engine": "cascade"})):
            message = fast(lambda r=resp, o=options: r.predict(u, t, **o), vs.InputError)
            assert message.startswith("t:") and "PREDICT_MEMORY" in message and "configure(predict_memory" in message


def test_kernel_taylor_orders_and_digits_are_limits(fast, cubic_galerkin):
    """Issue 23: kernel_taylor at p = 400 returned a finite, meaningless number; dps had no upper bound."""
    exact = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"), 2)
    for resp in (exact, cubic_galerkin):
        message = fast(lambda r=resp: r.kernel_taylor(1, 0, [400]), vs.ArgumentError)
        assert message.startswith("p:") and "MAX_KERNEL_DERIVATIVE" in message
    for method, options in (("exact", {}), ("taylor", {"lag_degree": 2})):
        message = fast(lambda m=method, o=options: vs.derive(OU, 1, method=m, dps=10**6, **o), vs.ArgumentError)
        assert message.startswith("dps") and "MAX_DPS" in message


@pytest.mark.parametrize("burn_in", [-1, 1e9, float("nan"), "a"])
def test_estimate_burn_in_has_one_rule(fast, burn_in):
    """Issue 23: burn_in=1e9 was a SimulationError and burn_in=-1 an ArgumentError."""
    model = OU1
    message = fast(
        lambda: vs.estimate_kernels(model, lags={1: [0.0, 0.5]}, paths=100, burn_in=burn_in), vs.ArgumentError
    )
    assert message.startswith("burn_in: expected")
    if burn_in == 1e9:
        assert "MAX_BURN_IN_STEPS" in message


def test_estimate_needs_two_paths_for_a_standard_error(fast):
    """Issue 24: paths=1 returned stderr = inf silently (and JSON with Infinity)."""
    model = OU1
    message = fast(lambda: vs.estimate_kernels(model, lags={1: [0.0, 0.5]}, paths=1), vs.ArgumentError)
    assert message.startswith("paths") and "MIN_ESTIMATE_PATHS" in message


def test_exact_cost_follows_the_largest_irreducible_block():
    """Issue 23: the exact route's estimate, calibrated on dense matrices, refused fast rational cases at
    n >= 12 (triangular up to the order of the states, block diagonal).  Reachability is checked against
    the permutation that makes the matrix triangular (no shared code)."""
    rng = np.random.default_rng(0)
    n = 12
    upper = np.triu(rng.standard_normal((n, n)), 1) + np.diag(np.arange(1.0, n + 1))
    order = rng.permutation(n)
    permuted = upper[np.ix_(order, order)]
    assert not (np.allclose(permuted, np.triu(permuted)) or np.allclose(permuted, np.tril(permuted)))
    blocks = np.kron(np.eye(n // 3), np.ones((3, 3)))[np.ix_(order, order)]
    assert limits.irreducible_block(permuted != 0) == 1 and limits.irreducible_block(blocks != 0) == 3
    assert limits.irreducible_block(np.ones((n, n))) == n
    assert limits.exact_estimate(n, 1) < limits.MAX_DERIVE_SECONDS < limits.exact_estimate(n, n)


@pytest.mark.slow  # derives a 12-D model (~1 s)
def test_a_fast_rational_case_at_n_12_passes():
    rng = np.random.default_rng(0)
    n = 12
    upper = np.triu(np.round(0.3 * rng.standard_normal((n, n)), 2), 1) + np.diag(np.arange(1.0, n + 1))
    order = rng.permutation(n)
    resp = vs.derive(vs.OU(upper[np.ix_(order, order)], np.ones(n), 1, readout="h1"), 1)
    assert resp.order == 1
