"""The numerics that consume kernels: Volterra-series prediction (filter cascades), simplex quadrature
and code generation.  Imports only the algebra and model layers."""
