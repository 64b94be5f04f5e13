"""Models shared by several test files (built once; the conftest fixtures of the same names return them).

Module-level so that ``pytest.mark.parametrize`` lists can name them too; a test that only needs one takes
the fixture (``def test_x(tanh1): ...``).
"""

from __future__ import annotations

import volterra_sym as vs

#: the 1-D tanh SRNN dh = [-h + tanh(1.5 h + 0.3) + 0.8 eps u] dt + 0.7 dW, y = h (stationary start)
TANH1 = vs.SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")

#: the 1-D Ornstein-Uhlenbeck model dh = [-h + eps u] dt + 0.5 dW, y = h (stationary start): the smallest
#: model every entry point accepts, used by the guard tests to reach a check
OU1 = vs.OU(1.0, 1.0, 0.5, readout="h1")


def exact_kernels(model: vs.Diffusion, order: int):
    """The exact route's kernels of ``model`` lowered to NumPy (the closed-form reference of several files)."""
    return vs.derive(model, order).lower("numpy")


def learn_module():
    """volterra_sym.learn, skipping the test when scikit-learn (the [learn] extra) is absent."""
    import pytest

    pytest.importorskip("sklearn")
    from volterra_sym import learn

    return learn
