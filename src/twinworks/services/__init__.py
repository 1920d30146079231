"""Services: alarms and anomaly detection, prognostics (RUL), maintenance planning.

- :mod:`twinworks.services.alarms` — limit / rate / anomaly alarms from the twin definition;
- :mod:`twinworks.services.anomaly` — streaming detectors that learn normal behaviour;
- :mod:`twinworks.services.rul` — remaining useful life, data-driven and model-based;
- :mod:`twinworks.services.maintenance` — cost-optimal interventions and the fleet plan;
- :mod:`twinworks.services.prognostics` — the runtime service behind the demo's RUL and plan.
"""
