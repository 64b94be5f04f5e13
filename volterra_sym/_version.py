"""The package version (a leaf module, so every layer can print it)."""

__version__ = "0.1.0"
