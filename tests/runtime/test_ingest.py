"""One validator, two forms: the columnar check accepts exactly what the per-reading one does.

Random messages of readings -- good values mixed with wrong dtypes, NaN, infinities,
values out of range, unknown twins and signals, enumeration values in and out of
their list, implausible times -- go through :meth:`Validator.validate` one reading
at a time, and as a connector's columns through :meth:`Validator.validate_columns`.
The accepted points and the rejections (reason, message, value) must be the same.

Columns hold what a connector's fast path puts there: ``float(value)`` for numbers
and NaN for anything else (a string, a boolean, None), with ``exact`` giving back
the readings as sent.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twinworks.connect.base import Origin, Reading, ReadingColumns
from twinworks.runtime.ingest import Validator
from twinworks.runtime.registry import TwinRegistry
from twinworks.spec import parse_definition
from twinworks.store.base import Columns

DEFINITION = parse_definition(
    """
types:
  m:
    telemetry:
      bounded: {min: -5, max: 5}
      open: {}
      temp: {unit: degC, min: -20, max: 150}
      count: {dtype: int, min: 0, max: 1000}
      ok: {dtype: bool}
      mode: {dtype: string, values: [run, halt]}
      note: {dtype: string}
twins: [{id: m1, type: m}, {id: m2, type: m}]
"""
)
VALIDATOR = Validator(TwinRegistry(DEFINITION))
NAMES = [
    (twin, signal)
    for twin in ("m1", "m2", "ghost")
    for signal in ("bounded", "open", "temp", "count", "ok", "mode", "note", "nope")
]
T0 = 1_700_000_000.0

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-10, 10),
    st.integers(-(10**4), 10**4),
    st.booleans(),
    st.sampled_from(["run", "halt", "walk", "", "1.5"]),
    st.none(),
)
stamps = st.one_of(
    st.floats(T0, T0 + 1e6),
    st.sampled_from([math.nan, -1.0, 0.0, 1e12, math.inf]),
    st.integers(1_600_000_000, 1_800_000_000),
)
anything = st.tuples(st.integers(0, len(NAMES) - 1), stamps, values)
# mostly plausible samples of float signals near their limits, so that many messages
# are clean and the vectorised check, not the fallback, decides them
FLOATS = [
    i
    for i, (twin, signal) in enumerate(NAMES)
    if twin != "ghost" and signal in ("bounded", "open", "temp")
]
plausible = st.tuples(
    st.sampled_from(FLOATS),
    st.one_of(st.floats(T0, T0 + 1e6), st.sampled_from([8e9, 7258118400.0, 0.0, math.nan])),
    st.one_of(
        st.floats(-25, 160),
        st.sampled_from([-5.0, 5.0, -20.0, 150.0, math.inf, -math.inf, math.nan]),
        st.integers(-6, 6),
    ),
)
readings = st.one_of(plausible, plausible, plausible, anything)
messages = st.lists(st.lists(readings, min_size=1, max_size=4), min_size=1, max_size=12)


def as_readings(batch: list[list[tuple[int, float, Any]]]) -> list[list[Reading]]:
    out = []
    for m, message in enumerate(batch):
        origin = Origin(f"message {m}".encode(), "t/m")
        out.append([Reading(*NAMES[k], ts, value, None, origin) for k, ts, value in message])
    return out


def as_columns(per_message: list[list[Reading]]) -> ReadingColumns:
    series, ts, vals, message = [], [], [], []
    for m, readings_of in enumerate(per_message):
        for r in readings_of:
            numeric = isinstance(r.value, int | float) and not isinstance(r.value, bool)
            series.append(NAMES.index((r.twin_id, r.signal)))
            ts.append(float(r.ts))
            vals.append(float(r.value) if numeric else math.nan)
            message.append(m)
    columns = Columns(NAMES, np.array(series, np.int64), np.array(ts), np.array(vals))

    def exact(which: Any) -> list[Reading]:
        return [r for m in which for r in per_message[m]]

    return ReadingColumns(columns, np.array(message, np.int64), exact, len(per_message))


def accepted(points: Any) -> Counter[tuple[str, str, float, Any, str]]:
    return Counter((p[0], p[1], float(p[2]), p[3], type(p[3]).__name__) for p in points)


def rejected(bad: Any) -> Counter[tuple[str, str, str, str, str]]:
    return Counter((r.twin_id, r.signal, r.reason, r.message, r.value) for r in bad)


@settings(max_examples=300, deadline=None, derandomize=True)  # reproducible
@given(messages, st.booleans())
def test_columns_and_readings_get_the_same_verdicts(
    batch: list[list[tuple[int, float, Any]]], need_unit: bool
) -> None:
    per_message = as_readings(batch)
    good, bad = VALIDATOR.validate([r for m in per_message for r in m], "t", need_unit)
    columns, cgood, cbad = VALIDATOR.validate_columns(as_columns(per_message), "t", need_unit)
    fast = list(columns) if columns is not None else []
    assert accepted([*fast, *cgood]) == accepted(good)
    assert rejected(cbad) == rejected(bad)
    # a column sample is a plain float, as the per-reading path stores it
    assert all(type(p.value) is float for p in fast)


def test_a_clean_batch_stays_columnar_and_a_bad_message_is_judged_whole() -> None:
    per_message = [
        [Reading("m1", "bounded", T0, 1.0), Reading("m1", "open", T0, 7.0)],
        [Reading("m2", "bounded", T0, 9.0), Reading("m2", "open", T0, 2.0)],  # 9.0 too big
    ]
    columns, good, bad = VALIDATOR.validate_columns(as_columns(per_message), "t")
    assert columns is not None and len(columns) == 2  # message 0, as arrays
    assert [(p.twin_id, p.signal) for p in good] == [("m2", "open")]  # via the readings
    assert [(r.twin_id, r.reason) for r in bad] == [("m2", "out_of_range")]
