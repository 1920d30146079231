"""The ``twinworks`` command line (typer + rich)."""

from twinworks.cli.main import app

__all__ = ["app"]
