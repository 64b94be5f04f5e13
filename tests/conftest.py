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
