"""The production service inside the runtime: what-if and scheduling on the live line.

It joins :mod:`twinworks.services.production` (what-if) and
:mod:`twinworks.services.scheduling` (plans), which stay independent of each other.
"""

from twinworks.services.operations.service import ProductionService

__all__ = ["ProductionService"]
