"""The model layer: the :class:`Diffusion` type, its constructors, the safe expression parser and model files."""

from .diffusion import OU, SRNN, Diffusion, Gaussian, InitialLaw, PointMass, Stationary
from .parsing import parse_expr

__all__ = ["OU", "SRNN", "Diffusion", "Gaussian", "InitialLaw", "PointMass", "Stationary", "parse_expr"]
