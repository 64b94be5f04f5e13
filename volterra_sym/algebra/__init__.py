"""The algebra layer: exponential polynomials in the lags, polynomials in the state, the exact Gaussian
toolkit of linear SRNNs, and expectations over initial laws.  Imports only the model layer."""
