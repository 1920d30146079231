"""FMUs through FMPy: a small FMU is built with pythonfmu at test time (nothing downloaded)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fmpy")
pytest.importorskip("pythonfmu")

from twinworks.models import FmuModel, ModelContractError, SpindleThermal
from twinworks.sync import UnscentedKalmanFilter

HEATER = textwrap.dedent(
    '''
    from pythonfmu import Fmi2Causality, Fmi2Slave, Fmi2Variability, Real

    TUNABLE = dict(causality=Fmi2Causality.parameter, variability=Fmi2Variability.tunable)


    class Heater(Fmi2Slave):
        """A spindle heated by its power, first order; exact exponential step."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.spindle_power_kw = 0.0
            self.temperature_c = 22.0
            self.seen_c = 22.0
            self.ambient_c = 22.0
            self.thermal_resistance_c_per_kw = 2.0
            self.time_constant_s = 600.0
            self.locked_c = 0.0
            self.register_variable(Real("spindle_power_kw", causality=Fmi2Causality.input))
            self.register_variable(Real("temperature_c", **TUNABLE))
            self.register_variable(Real("seen_c", causality=Fmi2Causality.output))
            self.register_variable(Real("ambient_c", **TUNABLE))
            self.register_variable(Real("thermal_resistance_c_per_kw", **TUNABLE))
            self.register_variable(Real("time_constant_s", **TUNABLE))
            self.register_variable(Real("locked_c", causality=Fmi2Causality.output))

        def do_step(self, current_time, step_size):
            import math

            steady = self.ambient_c + self.thermal_resistance_c_per_kw * self.spindle_power_kw
            decay = math.exp(-step_size / self.time_constant_s)
            self.temperature_c = steady + (self.temperature_c - steady) * decay
            self.seen_c = self.temperature_c
            return True
    '''
)


@pytest.fixture(scope="module")
def heater_fmu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pythonfmu.builder import FmuBuilder

    work = tmp_path_factory.mktemp("fmu")
    script = work / "heater.py"
    script.write_text(HEATER)
    return Path(FmuBuilder.build_FMU(script, dest=work))


def test_an_fmu_steps_a_fleet_like_the_native_model(heater_fmu: Path) -> None:
    outputs = ("temperature_c", "seen_c")
    with FmuModel(heater_fmu, states=("temperature_c",), outputs=outputs) as fmu:
        assert fmu.inputs == ("spindle_power_kw",)
        assert set(fmu.param_names) == {
            "ambient_c",
            "thermal_resistance_c_per_kw",
            "time_constant_s",
        }
        native = SpindleThermal()
        x = np.array([[22.0], [40.0], [60.0]])
        u = np.array([[0.0], [5.0], [12.0]])
        theta = fmu.theta(3, thermal_resistance_c_per_kw=3.0)
        ntheta = native.theta(3, thermal_resistance_c_per_kw=3.0)
        np.testing.assert_allclose(fmu.step(x, u, 30.0, theta), native.step(x, u, 30.0, ntheta))
        # any state can be stepped from (sigma points), so the UKF runs on the FMU
        f = UnscentedKalmanFilter(
            fmu,
            2,
            x0=np.array([[30.0], [30.0]]),
            P0=np.eye(1) * 25,
            Q=np.eye(1) * 1e-4,
            R=np.diag([0.01, 1e6]),
        )
        for _ in range(20):
            z = np.array([[32.0, np.nan], [22.0, np.nan]])  # seen_c is not measured
            f.step(np.array([[5.0], [0.0]]), z, 1.0)
        np.testing.assert_allclose(f.x[:, 0], [32.0, 22.0], atol=0.1)


def test_fmu_contract_errors_name_the_fix(heater_fmu: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelContractError, match="cannot be set between steps"):
        FmuModel(heater_fmu, states=("locked_c",))
    with pytest.raises(ModelContractError, match=r"has no variable 'temp'.*it has:"):
        FmuModel(heater_fmu, states=("temp",))
    with pytest.raises(ModelContractError, match="no FMU file"):
        FmuModel(tmp_path / "missing.fmu", states=("x",))
    junk = tmp_path / "junk.fmu"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelContractError, match="not a readable FMU"):
        FmuModel(junk, states=("x",))
