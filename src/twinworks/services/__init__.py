"""Services: what the twins compute for people.

- :mod:`twinworks.services.alarms` — limit / rate / anomaly alarms from the twin definition;
- :mod:`twinworks.services.anomaly` — streaming detectors that learn normal behaviour;
- :mod:`twinworks.services.rul` — remaining useful life, data-driven and model-based;
- :mod:`twinworks.services.maintenance` — cost-optimal interventions and the fleet plan;
- :mod:`twinworks.services.prognostics` — the runtime service behind the demo's RUL and plan;
- :mod:`twinworks.services.production` (what-if) and :mod:`twinworks.services.scheduling`
  (plans), independent of each other; both read the line of :mod:`twinworks.services.line`,
  and :mod:`twinworks.services.operations` runs them in the runtime.

Errors of bad inputs are in :mod:`twinworks.services.errors`.
"""

__all__: list[str] = []
