"""acphost's version, in a module of its own so every layer can read it without the package root."""

__version__ = "0.1.0"
