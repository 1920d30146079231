"""Alarm rules of a twin type: limits, rates of change and learned normal behaviour.

Declared under a type's ``alarms:``, one entry per alarm, keyed by its name::

    alarms:
      spindle_hot:
        kind: limit
        signal: spindle_temperature
        high: 90            # raised above 90 ...
        deadband: 3         # ... cleared below 87 (hysteresis)
        delay_s: 2          # only when it stays above for 2 s (on-delay)
        severity: high
      spindle_heating_fast:
        kind: rate
        signal: spindle_temperature
        rate: 0.5           # |slope| above 0.5 degC/s over the window
        window_s: 20
        direction: rise
      unusual_behaviour:
        kind: anomaly
        signals: [spindle_power, vibration, spindle_temperature]

Severities follow ISA-18.2 priorities: low, medium, high, critical. The checks
against the type (the signal exists and is numeric, low < high, ...) are in
:func:`check_alarms`, called by :func:`twinworks.spec.validate.check_definition`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "SEVERITIES",
    "AlarmSpec",
    "AnomalyAlarmSpec",
    "LimitAlarmSpec",
    "RateAlarmSpec",
    "Severity",
    "check_alarms",
]

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

# the same pattern as twinworks.spec.schema.ID_PATTERN (not imported: schema imports us)
_Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")]


class _Alarm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity = "medium"
    message: str = Field(default="", description="shown to the operator when the alarm is raised")
    delay_s: float = Field(
        default=0.0, ge=0, description="on-delay: the condition must hold this long (source time)"
    )
    latch: bool = Field(
        default=False,
        description="stay active after the condition clears, until acknowledged",
    )


class LimitAlarmSpec(_Alarm):
    """Raised when a signal goes above ``high`` or below ``low``; cleared past the dead-band."""

    kind: Literal["limit"]
    signal: _Name
    high: float | None = None
    low: float | None = None
    deadband: float = Field(
        default=0.0, ge=0, description="hysteresis: clear only this far back inside the limit"
    )

    @model_validator(mode="after")
    def _check(self) -> LimitAlarmSpec:
        if self.high is None and self.low is None:
            raise ValueError("a limit alarm needs 'high', 'low' or both")
        if self.high is not None and self.low is not None and self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class RateAlarmSpec(_Alarm):
    """Raised when a signal's trend (least-squares slope over ``window_s``) is too steep."""

    kind: Literal["rate"]
    signal: _Name
    rate: float = Field(gt=0, description="largest normal change per second (unit/s)")
    direction: Literal["rise", "fall", "both"] = "both"
    window_s: float = Field(default=10.0, gt=0, description="the slope is fitted over this span")
    min_points: int = Field(default=3, ge=2, description="samples needed in the window")
    deadband: float = Field(
        default=0.0, ge=0, description="clear only when the slope is this far below the rate"
    )

    @model_validator(mode="after")
    def _check(self) -> RateAlarmSpec:
        if self.deadband >= self.rate:
            raise ValueError(
                f"deadband ({self.deadband}) must be smaller than rate ({self.rate}), "
                "or the alarm could never clear"
            )
        return self


class AnomalyAlarmSpec(_Alarm):
    """Raised when the signals together stop looking like the twin's learned normal behaviour."""

    kind: Literal["anomaly"]
    signals: list[_Name] = Field(min_length=1)
    by_state: bool = Field(
        default=True,
        description="learn one normal behaviour per value of the twin's 'state' signal",
    )
    warmup: int = Field(default=200, ge=10, description="samples learned before scoring starts")
    threshold: float = Field(
        default=0.9999,
        gt=0.5,
        lt=1,
        description="raise beyond this quantile of the normal (chi-square) score",
    )
    persistence: int = Field(
        default=3, ge=1, description="consecutive anomalous samples before raising"
    )
    relearn_on: list[_Name] = Field(
        default_factory=list,
        description="signals whose change means the asset was serviced (e.g. a tool-change "
        "counter): normal behaviour is then learned anew",
    )
    halflife: float | None = Field(
        default=2000.0,
        gt=0,
        description="samples after which old behaviour weighs half (slow drift is learned)",
    )

    @model_validator(mode="after")
    def _check(self) -> AnomalyAlarmSpec:
        if len(set(self.signals)) != len(self.signals):
            raise ValueError("signals are listed more than once")
        return self


AlarmSpec = Annotated[
    LimitAlarmSpec | RateAlarmSpec | AnomalyAlarmSpec, Field(discriminator="kind")
]

Problem = tuple[tuple[str | int, ...], str, str | None]


def check_alarms(ttype: Any, base: tuple[str | int, ...]) -> list[Problem]:
    """Check a type's alarms against its telemetry (``ttype`` is a TwinTypeSpec)."""
    problems: list[Problem] = []
    telemetry = ttype.telemetry
    numeric = sorted(n for n, s in telemetry.items() if s.dtype in ("float", "int"))
    choices = "a numeric telemetry signal: " + (", ".join(numeric) or "none is declared")
    for name, alarm in getattr(ttype, "alarms", {}).items():
        where = (*base, "alarms", name)
        signals = alarm.signals if isinstance(alarm, AnomalyAlarmSpec) else [alarm.signal]
        if isinstance(alarm, AnomalyAlarmSpec):
            for signal in alarm.relearn_on:
                if signal not in telemetry:
                    problems.append(
                        (
                            (*where, "relearn_on"),
                            f"no telemetry signal {signal!r}",
                            "one of: " + ", ".join(sorted(telemetry)),
                        )
                    )
        for signal in signals:
            spec = telemetry.get(signal)
            if spec is None:
                problems.append(((*where, "signal"), f"no telemetry signal {signal!r}", choices))
            elif spec.dtype not in ("float", "int"):
                problems.append(
                    ((*where, "signal"), f"{signal!r} is a {spec.dtype}, not a number", choices)
                )
        if (
            isinstance(alarm, LimitAlarmSpec)
            and alarm.high is not None
            and alarm.low is not None
            and alarm.deadband >= (alarm.high - alarm.low) / 2
        ):
            problems.append(
                (
                    (*where, "deadband"),
                    f"deadband {alarm.deadband} overlaps the limits [{alarm.low}, {alarm.high}]",
                    "less than half the distance between low and high",
                )
            )
    return problems
