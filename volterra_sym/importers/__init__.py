"""Importers: trained networks from other codes as :class:`~volterra_sym.model.diffusion.Diffusion` models.

- :func:`~volterra_sym.importers.noisy_rnn.from_noisy_rnn`: the NoisyRNN of Lim, Erichson et al.
  (NeurIPS 2021), trained with noise injection (docs/importers.md).

Plain continuous-time SRNNs from arrays need no importer: ``vs.SRNN(Gamma, W, b, C, sigma, ...)``
(``input="inside"`` for a(W h + b + C u)).
"""
