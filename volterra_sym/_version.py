"""The package version (a leaf module, so every layer can print it)."""

__version__ = "0.2.0"
