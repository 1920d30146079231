"""The line model, re-exported for what-if users: it lives in :mod:`twinworks.services.line`.

What-if simulation and scheduling both read it, so it sits beside them rather than
inside either (the two packages do not import each other).
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

__all__ = [
    "Dist",
    "LineModel",
    "Product",
    "Station",
    "Step",
    "Transport",
    "line_from_definition",
    "merge_windows",
    "open_windows",
]
