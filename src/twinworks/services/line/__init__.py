"""The production line as plain data, shared by what-if simulation and scheduling.

:mod:`~twinworks.services.line.model` compiles a twin definition's ``production``
section into a :class:`LineModel`; :mod:`~twinworks.services.line.state` holds the
line's state at a moment (:class:`LineState`). Both the discrete-event simulation
(:mod:`twinworks.services.production`) and the scheduler
(:mod:`twinworks.services.scheduling`) read them, and neither imports the other.
"""

from twinworks.services.line.model import (
    Dist,
    LineModel,
    Product,
    Station,
    Step,
    Transport,
    line_from_definition,
    merge_windows,
    open_windows,
)
from twinworks.services.line.state import LineState, StationState

__all__ = [
    "Dist",
    "LineModel",
    "LineState",
    "Product",
    "Station",
    "StationState",
    "Step",
    "Transport",
    "line_from_definition",
    "merge_windows",
    "open_windows",
]
