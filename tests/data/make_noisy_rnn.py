"""Write tests/data/noisy_rnn.npz: a small NoisyRNN state dict, a sequence and torch's outputs.

Run once with torch installed (``python tests/data/make_noisy_rnn.py``); the torch-free importer tests
compare the imported SDE's Euler steps with the stored torch outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from noisy_rnn_net import NoisyRNN  # noqa: E402


def main() -> None:
    torch.manual_seed(7)
    net = NoisyRNN(3, 2, n_units=5, eps=0.1, beta=0.75, gamma_A=0.05, gamma_W=0.02, alpha=1.0, solver="noisy",
                   add_noise=0.05).double()  # fmt: skip
    with torch.no_grad():
        net.d.copy_(0.1 + 0.05 * torch.rand(5, dtype=torch.float64))  # a trained step differs per unit
        net.E.weight.mul_(2.0)
    x = torch.randn(1, 12, 3, dtype=torch.float64)
    with torch.no_grad():  # the output after each step k = 1..T (the readout of the prefix x[:k])
        out_noisy = np.array([net(x[:, :k]).numpy()[0] for k in range(1, x.shape[1] + 1)])
        net.solver = "base"
        out_base = np.array([net(x[:, :k]).numpy()[0] for k in range(1, x.shape[1] + 1)])
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    np.savez(
        Path(__file__).with_name("noisy_rnn.npz"), x=x.numpy()[0], out_noisy=out_noisy, out_base=out_base,
        **{"sd:" + k: v for k, v in sd.items()},
    )  # fmt: skip


if __name__ == "__main__":
    main()
