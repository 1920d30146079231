"""Load the gearbox example from its files, as a user's model is loaded: by path."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

GEARBOX_LINE = Path(__file__).resolve().parents[2] / "examples" / "gearbox_line"


def load_gearbox_line() -> tuple[ModuleType, ModuleType]:
    """The example's model module and its simulator module."""
    if str(GEARBOX_LINE) not in sys.path:
        sys.path.insert(0, str(GEARBOX_LINE))
    import models.gearbox as gearbox  # type: ignore[import-not-found]
    import simulator  # type: ignore[import-not-found]

    return gearbox, simulator


@pytest.fixture(scope="session")
def gearbox_line() -> tuple[ModuleType, ModuleType]:
    return load_gearbox_line()
