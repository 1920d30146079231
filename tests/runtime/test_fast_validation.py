"""The runtime's fast path for plain numbers gives the verdict SignalRule.check gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from twinworks.connect import Reading
from twinworks.errors import RejectedValueError
from twinworks.runtime import Runtime
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

DEFINITION = parse_definition(
    """
types:
  m:
    telemetry:
      bounded: {min: -5, max: 5}
      open: {}
      temp: {unit: degC, min: -20, max: 150}
      count: {dtype: int, min: 0}
twins: [{id: m1, type: m}]
"""
)
RUNTIME = Runtime(DEFINITION, MemoryStore())

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.text(max_size=3),
)
stamps = st.one_of(st.floats(-1e10, 1e10), st.just(float("nan")), st.integers(0, 2_000_000_000))


def oracle(signal: str, value: Any, ts: float, unit: str | None, need_unit: bool) -> Any:
    try:
        return ("ok", RUNTIME.registry.rules[("m1", signal)].check(value, ts, unit, need_unit))
    except RejectedValueError as exc:
        return ("rejected", exc.reason)


@settings(max_examples=400, deadline=None, derandomize=True)  # reproducible
@given(
    st.sampled_from(["bounded", "open", "temp", "count"]),
    values,
    stamps,
    st.sampled_from([None, "degC", "degF"]),
    st.booleans(),
)
def test_fast_path_agrees_with_the_rule(
    signal: str, value: Any, ts: float, unit: str | None, need_unit: bool
) -> None:
    good, bad = RUNTIME.validate([Reading("m1", signal, ts, value, unit)], "test", need_unit)
    got = ("ok", good[0].value) if good else ("rejected", bad[0].reason)
    expected = oracle(signal, value, ts, unit, need_unit)
    assert got[0] == expected[0]
    if got[0] == "ok":
        assert got[1] == expected[1] and type(got[1]) is type(expected[1])
    else:
        assert got[1] == expected[1]
