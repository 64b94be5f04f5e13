"""Test configuration.

* Hypothesis runs derandomised, so a failure on CI reproduces anywhere.
* Tests marked ``@pytest.mark.slow`` (Monte Carlo, large symbolic runs, long
  Hypothesis runs, convergence studies on fine grids) are skipped by the
  default ``python -m pytest -q``, which stays fast; they run when the ``CI``
  environment variable is set (``.ci/run`` sets ``CI=true``), with
  ``--runslow``, or when ``-m`` names them (``python -m pytest -m slow``).
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))  # tests/oracles.py

settings.register_profile("volterra", derandomize=True, print_blob=True)
settings.load_profile("volterra")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow", action="store_true", default=False, help="also run the tests marked slow (as CI=true does)"
    )


def _run_slow(config: pytest.Config) -> bool:
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    markexpr = config.getoption("markexpr") or ""
    return ci or config.getoption("--runslow") or ("slow" in markexpr and "not slow" not in markexpr)


def pytest_report_header(config: pytest.Config) -> str:
    if _run_slow(config):
        return "slow tests: run (CI, --runslow or -m)"
    return "slow tests: skipped (run them with --runslow, CI=true or -m slow)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _run_slow(config):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or CI=true (CI runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# --------------------------------------------------------------------------- guard helpers (tests/test_guard_*.py)

#: a refusal "before the work" allocates at most this much Python heap (the refused requests need gigabytes)
REFUSAL_HEAP = 64 * 2**20


def _refused_fast(call: Callable[[], Any], cls: type[BaseException] | None = None) -> str:
    """``call`` must raise ``cls`` (default: any VolterraError) up front, before the work: the Python heap it
    allocates stays below REFUSAL_HEAP (tracemalloc); the message is one line of at most 1000 characters."""
    import volterra_sym as vs

    tracemalloc.start()
    try:
        with pytest.raises(cls or vs.VolterraError) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < REFUSAL_HEAP, f"the refusal must come before the work (peak {peak / 2**20:.0f} MiB)"
    message = str(info.value)
    assert "\n" not in message and len(message) <= 1000
    return message


@pytest.fixture
def fast() -> Callable[..., str]:
    """``fast(call, cls)``: ``call`` is refused with ``cls`` before any work; returns the message."""
    return _refused_fast


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``cli(*argv)`` runs the command line in-process: (exit code, stdout, stderr)."""
    from volterra_sym.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


# --------------------------------------------------------------------------- shared models


@pytest.fixture(scope="session")
def tanh1() -> Any:
    """The 1-D tanh SRNN dh = [-h + tanh(1.5 h + 0.3) + 0.8 eps u] dt + 0.7 dW, y = h (stationary start)."""
    from models import TANH1

    return TANH1
