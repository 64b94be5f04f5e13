"""Test configuration: Hypothesis runs derandomised, so a failure on CI reproduces anywhere."""

from __future__ import annotations

import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))  # tests/oracles.py

settings.register_profile("volterra", derandomize=True, print_blob=True)
settings.load_profile("volterra")
