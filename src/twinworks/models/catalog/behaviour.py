"""Behaviour model: the machine's state machine as a continuous-time Markov chain.

A CNC machine moves between modes — idle, cutting, tool change, fault — along the
transitions its controller allows. :class:`MachineStateMachine` keeps the
probability of each mode as its state and moves it with the transition rates (per
second), so a twin can predict utilisation and availability over a shift, and
flag a transition its controller should never make. Rates are fitted from an
observed mode sequence by maximum likelihood (:meth:`MachineStateMachine.fit_rates`:
transitions counted ÷ time spent in the mode they leave).

>>> import numpy as np
>>> sm = MachineStateMachine()
>>> sm.allowed("cutting", "tool_change"), sm.allowed("fault", "cutting")
(True, False)
>>> p = sm.initialize(1)                        # idle for sure
>>> p = sm.step(p, np.zeros((1, 0)), 3600.0, sm.theta(1))
>>> bool(abs(p.sum() - 1.0) < 1e-9)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twinworks.models.base import Frame, Model, ModelContractError, Param

__all__ = ["MODES", "TRANSITIONS", "MachineStateMachine"]

MODES: tuple[str, ...] = ("idle", "cutting", "tool_change", "fault")

# (from, to) → name of the rate parameter (per second)
TRANSITIONS: dict[tuple[str, str], str] = {
    ("idle", "cutting"): "rate_idle_cutting",
    ("cutting", "idle"): "rate_cutting_idle",
    ("cutting", "tool_change"): "rate_cutting_tool_change",
    ("idle", "tool_change"): "rate_idle_tool_change",
    ("tool_change", "idle"): "rate_tool_change_idle",
    ("cutting", "fault"): "rate_cutting_fault",
    ("fault", "idle"): "rate_fault_idle",
}


class MachineStateMachine(Model):
    """Probabilities of idle / cutting / tool change / fault, moved by transition rates."""

    inputs = ()
    states = ("p_idle", "p_cutting", "p_tool_change", "p_fault")
    outputs = ("utilisation", "availability")
    events = ("fault",)
    parameters = {
        "rate_idle_cutting": Param(1 / 10.0, "1/s", (0.0, 10.0), "parts start ~10 s after idle"),
        "rate_cutting_idle": Param(1 / 120.0, "1/s", (0.0, 10.0), "1 / cycle time"),
        "rate_cutting_tool_change": Param(1 / 1500.0, "1/s", (0.0, 10.0), "1 / tool life"),
        "rate_idle_tool_change": Param(0.0, "1/s", (0.0, 10.0), "operator tool changes"),
        "rate_tool_change_idle": Param(1 / 60.0, "1/s", (0.0, 10.0), "1 / tool change time"),
        "rate_cutting_fault": Param(1 / 14400.0, "1/s", (0.0, 10.0), "1 / MTBF in cutting"),
        "rate_fault_idle": Param(1 / 600.0, "1/s", (0.0, 10.0), "1 / MTTR"),
    }
    initial_state = {"p_idle": 1.0}
    integration = "rk4"
    max_dt = 5.0

    def dx(self, x: Frame, u: Frame, p: Frame) -> Any:
        flows = {m: 0.0 for m in MODES}
        for (src, dst), rate in TRANSITIONS.items():
            flow = getattr(p, rate) * getattr(x, f"p_{src}")
            flows[src] = flows[src] - flow
            flows[dst] = flows[dst] + flow
        return tuple(flows[m] for m in MODES)

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        return x.p_cutting, 1.0 - x.p_fault - x.p_tool_change

    def event_state(self, x: Frame, p: Frame) -> Any:
        return (1.0 - x.p_fault,)

    @staticmethod
    def allowed(src: str, dst: str) -> bool:
        """Whether the controller may go from mode ``src`` to ``dst`` (staying is allowed)."""
        for mode in (src, dst):
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        return src == dst or (src, dst) in TRANSITIONS

    @classmethod
    def fit_rates(cls, times_s: Sequence[float], modes: Sequence[str]) -> dict[str, float]:
        """Maximum-likelihood rates from an observed mode sequence (sampled at ``times_s``).

        Each sample's mode is taken to hold until the next sample. Raises
        :class:`ModelContractError` on a mode or transition the machine does not have.
        """
        if len(times_s) != len(modes):
            raise ValueError(f"{len(times_s)} times but {len(modes)} modes; give one per sample")
        dwell = dict.fromkeys(MODES, 0.0)
        counts = dict.fromkeys(TRANSITIONS, 0)
        for i in range(len(modes) - 1):
            src, dst = modes[i], modes[i + 1]
            dt = float(times_s[i + 1]) - float(times_s[i])
            if dt < 0:
                raise ValueError(f"times must increase; sample {i + 1} goes back in time")
            if src not in MODES or dst not in MODES:
                bad = src if src not in MODES else dst
                raise ModelContractError(
                    f"MachineStateMachine: unknown mode {bad!r} at sample {i}; "
                    f"modes: {', '.join(MODES)} (map others, e.g. 'stopped' → 'idle', first)"
                )
            dwell[src] += dt
            if src != dst:
                if (src, dst) not in TRANSITIONS:
                    raise ModelContractError(
                        f"MachineStateMachine: transition {src} → {dst} at sample {i} is not "
                        "allowed by the controller; check the data or the TRANSITIONS table"
                    )
                counts[(src, dst)] += 1
        defaults = cls.parameters
        return {
            rate: (counts[key] / dwell[key[0]])
            if dwell[key[0]] > 0
            else float(defaults[rate].values)
            for key, rate in TRANSITIONS.items()
        }
