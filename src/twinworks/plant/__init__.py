"""Plant simulators: the physical side of demos and tests.

A simulated machining cell — three CNC machines (cnc1, cnc2, cnc3) joined by a
conveyor (conveyor1) in cell1 — with a hidden ground truth (tool wear, faults),
usable in-process in virtual time or served over OPC UA in real (or scaled) time:

>>> cell = MachiningCell(seed=1)
>>> cell.advance(600.0)
1200
>>> sorted(cell.measurements())
['cell1', 'cnc1', 'cnc2', 'cnc3', 'conveyor1']

Run the OPC UA server with ``python -m twinworks.plant --port 4840 --speed 60``.

Module map: :mod:`~twinworks.plant.params` (parameters), :mod:`~twinworks.plant.wear`,
:mod:`~twinworks.plant.cnc`, :mod:`~twinworks.plant.conveyor` (pure physics),
:mod:`~twinworks.plant.cell` (the cell in virtual time), :mod:`~twinworks.plant.clock`
(the one owner of time), :mod:`~twinworks.plant.signals` and
:mod:`~twinworks.plant.node_ids` (what is published, and where),
:mod:`~twinworks.plant.address_space` and :mod:`~twinworks.plant.server` (OPC UA),
:mod:`~twinworks.plant.truth_log`, :mod:`~twinworks.plant.run` (command line).
"""

from twinworks.plant.cell import MachiningCell, PlantEvent, Reading
from twinworks.plant.clock import SimClock
from twinworks.plant.errors import CommandRefusedError
from twinworks.plant.params import (
    CNC_PRESETS,
    CellParams,
    CncParams,
    ConveyorParams,
    cnc_params,
)
from twinworks.plant.run import PlantConfig, serve
from twinworks.plant.server import PlantSecurity, PlantServer
from twinworks.plant.truth_log import TruthLog

__all__ = [
    "CNC_PRESETS",
    "CellParams",
    "CncParams",
    "CommandRefusedError",
    "ConveyorParams",
    "MachiningCell",
    "PlantConfig",
    "PlantEvent",
    "PlantSecurity",
    "PlantServer",
    "Reading",
    "SimClock",
    "TruthLog",
    "cnc_params",
    "serve",
]
