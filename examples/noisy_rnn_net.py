"""A NoisyRNN in torch for the importer's tests (written from the equations of Lim, Erichson et al. 2021).

Same constructor arguments, attribute names, parameter names and forward pass as the public class
(``erichson/NoisyRNN``, models.py): h starts at 0; for each x_k, with A, W built from B, C,
    F = alpha h A + tanh(h W + E(x_k)),
    base:  h <- h + eps F;     noisy: h <- h + d * xi_m * F + add_noise * z   (noise in mode='train' only),
xi_m ~ U[1 - mult_noise, 1], z ~ N(0, I); output D(h).  Used by the importer tests and their
fixture script.
"""

from __future__ import annotations

import torch
from torch import nn


class NoisyRNN(nn.Module):
    def __init__(self, input_dim, output_classes, n_units=128, eps=0.01, beta=0.8, gamma_A=0.01, gamma_W=0.01,
                 init_std=1, alpha=1, solver="base", add_noise=0, mult_noise=0):  # fmt: skip
        super().__init__()
        self.n_units, self.eps, self.solver, self.beta, self.alpha = n_units, eps, solver, beta, alpha
        self.gamma_A, self.gamma_W, self.add_noise, self.mult_noise = gamma_A, gamma_W, add_noise, mult_noise
        self.E = nn.Linear(input_dim, n_units)
        self.D = nn.Linear(n_units, output_classes)
        self.C = nn.Parameter(torch.randn(n_units, n_units) * init_std / n_units**0.5)
        self.B = nn.Parameter(torch.randn(n_units, n_units) * init_std / n_units**0.5)
        self.d = nn.Parameter(torch.full((n_units,), float(eps)))

    def matrices(self):
        eye = torch.eye(self.n_units, dtype=self.B.dtype)
        A = self.beta * (self.B - self.B.T) + (1 - self.beta) * (self.B + self.B.T) - self.gamma_A * eye
        W = self.beta * (self.C - self.C.T) + (1 - self.beta) * (self.C + self.C.T) - self.gamma_W * eye
        return A, W

    def hidden(self, x, mode="test"):
        A, W = self.matrices()
        h = torch.zeros(x.shape[0], self.n_units, dtype=self.B.dtype)
        for i in range(x.shape[1]):
            update = self.alpha * h @ A + torch.tanh(h @ W + self.E(x[:, i, :]))
            if self.solver == "base":
                h = h + self.eps * update
            else:
                add, mult = 0.0, 1.0
                if mode == "train":
                    if self.add_noise > 0:
                        add = self.add_noise * torch.randn(h.shape, dtype=h.dtype)
                    if self.mult_noise > 0:
                        mult = self.mult_noise * torch.rand(h.shape, dtype=h.dtype) + (1 - self.mult_noise)
                h = h + self.d * mult * update + add
        return h

    def forward(self, x, mode="test"):
        return self.D(self.hidden(x, mode))
