"""Issue 14 (second hardening pass): route options whose copies must agree (API, model files, CLI).

The other guards moved to tests/test_guard_{inputs,limits,messages,verdicts}.py (by what they protect).
Limits come from ``vs.limits`` (docs/api.md, "Limits").  Trusts: the public API and the CLI entry point.
"""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest

import volterra_sym as vs
from volterra_sym import limits
from volterra_sym.cli import main
from volterra_sym.modelfile import loads_run

ROOT = Path(__file__).resolve().parents[1]


def _fast(call, cls=vs.VolterraError):
    """``call`` must raise ``cls`` up front, before the work: the Python heap it allocates stays small
    (tracemalloc; the refused requests would need gigabytes or run for minutes); returns the message."""
    tracemalloc.start()
    try:
        with pytest.raises(cls) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"the refusal must come before the work (peak {peak / 2**20:.0f} MiB)"
    message = str(info.value)
    assert "\n" not in message and len(message) <= 1000
    return message


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


TANH2 = vs.SRNN(1, [[0.5, 0.3], [0.3, 0.6]], C=[1, 1], sigma=0.5, activation="tanh", readout="h1",
                initial=vs.PointMass([0.1, 0.1]))  # fmt: skip


def test_lag_degree_limit_agrees_between_api_model_files_and_cli(capsys, tmp_path):
    top = limits.MAX_LAG_DEGREE
    with pytest.raises(vs.ArgumentError, match=str(top)):
        vs.derive(TANH2, 1, method="taylor", lag_degree=top + 1)
    text = (ROOT / "examples/srnn_tanh.toml").read_text()
    text = re.sub(r"lag_degree\s*=\s*\d+", f"lag_degree = {top + 1}", text)
    if "lag_degree" not in text:
        text += f"\n[derive]\nlag_degree = {top + 1}\n"
    with pytest.raises(vs.VolterraError, match=str(top)):
        loads_run(text, "m.toml")
    code, _, err = _cli(capsys, "derive", str(ROOT / "examples/srnn_tanh.toml"), "--lag-degree", str(top + 1))
    assert code == 2 and str(top) in err


def test_galerkin_degree_limit_agrees_between_api_model_files_and_cli(capsys):
    top = limits.MAX_GALERKIN_DEGREE
    tanh = vs.SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")
    assert str(top) in _fast(lambda: vs.derive(tanh, 1, method="galerkin", degree=top + 1), vs.ArgumentError)
    text = '[model]\nkind="OU"\nA=1\nC=1\nsigma=1\nreadout="h1"\n[derive]\nmethod="galerkin"\ndegree=' + str(top + 1)
    with pytest.raises(vs.ModelError, match=str(top)):
        loads_run(text, "m.toml")
    code, _, err = _cli(capsys, "derive", str(ROOT / "examples/ou1d_cubic.toml"), "--degree", str(top + 1))
    assert code == 2 and str(top) in err
