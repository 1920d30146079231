"""A model a user writes for a plant that is not the demo, and a definition binding it.

Shared by the loader, validation and end-to-end tests: written to a temporary folder
as ``models/gearbox.py`` beside ``plant.yaml``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFINITION", "GEARBOX", "write_plant"]

GEARBOX = '''\
"""A gearbox: its oil heats with the load, its bearing wears with the energy through it."""
import numpy as np

from twinworks.models import Model, Param


class Gearbox(Model):
    inputs = ("load_kw",)
    states = ("oil_temperature_c", "wear")
    outputs = ("oil_temperature_c_measured",)
    events = ("worn_out",)
    parameters = {
        "ambient_c": Param(25.0, "degC", (-20.0, 60.0)),
        "heating_c_per_kw": Param(0.5, "degC/kW", (0.0, 10.0), prior_std=0.2),
        "time_constant_s": Param(60.0, "s", (1.0, 1e4)),
        "wear_per_kwh": Param(1e-3, "1/kWh", (0.0, 1.0)),
    }
    initial_state = {"oil_temperature_c": 25.0}
    initial_std = {"oil_temperature_c": 5.0, "wear": 0.01}
    process_noise = {"oil_temperature_c": 0.05, "wear": 1e-5}
    measurement_noise = {"oil_temperature_c_measured": 0.2}

    def next_state(self, x, u, dt, p):
        steady = p.ambient_c + p.heating_c_per_kw * u.load_kw
        temperature = steady + (x.oil_temperature_c - steady) * np.exp(-dt / p.time_constant_s)
        return temperature, x.wear + p.wear_per_kwh * u.load_kw * dt / 3600.0

    def output(self, x, u, p):
        return (x.oil_temperature_c,)

    def event_state(self, x, p):
        return (np.clip(1.0 - x.wear, 0.0, 1.0),)
'''

DEFINITION = """\
types:
  gearbox:
    telemetry:
      load: {unit: kW}
      oil_temperature: {unit: degC}
    models:
      drive:
        model: models/gearbox.py:Gearbox
        parameters: {heating_c_per_kw: 0.8}
        inputs: {load_kw: load}
        outputs: {oil_temperature_c_measured: oil_temperature}
        estimates: {oil_temperature_model: oil_temperature_c, bearing_wear: wear}
twins:
  - id: gb1
    type: gearbox
  - id: gb2
    type: gearbox
"""


def write_plant(folder: Path, model: str = GEARBOX, definition: str = DEFINITION) -> Path:
    """Write ``models/gearbox.py`` and ``plant.yaml`` into ``folder``; return the YAML's path."""
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "models" / "gearbox.py").write_text(model)
    path = folder / "plant.yaml"
    path.write_text(definition)
    return path
