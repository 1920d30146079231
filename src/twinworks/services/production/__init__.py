"""Production services: the line as a discrete-event model, and what-if forked from now.

The runtime service is :class:`twinworks.services.operations.service.ProductionService`.

>>> from twinworks.spec import load_definition
>>> from twinworks.services.production import Scenario, line_from_definition, run_whatif
>>> line = line_from_definition(load_definition("examples/machining_cell.yaml"))
>>> result = run_whatif(line, Scenario(horizon=3600, replications=2))
>>> [k.name for k in result.kpis][:3]
['throughput_per_h', 'lead_time_min', 'wip']
"""

from twinworks.services.line.model import LineModel, line_from_definition
from twinworks.services.production.des import (
    Effects,
    LineState,
    Order,
    RunResult,
    Simulation,
    StationState,
    simulate,
)
from twinworks.services.production.report import write_report
from twinworks.services.production.scenario import (
    Scenario,
    compile_effects,
    load_scenario,
    parse_scenario,
)
from twinworks.services.production.state import state_from_runtime, state_from_views
from twinworks.services.production.whatif import (
    KpiComparison,
    WhatIfResult,
    confidence_interval,
    run_whatif,
)

__all__ = [
    "Effects",
    "KpiComparison",
    "LineModel",
    "LineState",
    "Order",
    "RunResult",
    "Scenario",
    "Simulation",
    "StationState",
    "WhatIfResult",
    "compile_effects",
    "confidence_interval",
    "line_from_definition",
    "load_scenario",
    "parse_scenario",
    "run_whatif",
    "simulate",
    "state_from_runtime",
    "state_from_views",
    "write_report",
]
