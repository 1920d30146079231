"""twinworks: industrial digital twins, connected, consistent and put to work."""

__version__ = "0.1.0"

__all__ = ["__version__"]
