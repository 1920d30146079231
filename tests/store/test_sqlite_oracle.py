"""The SQLite store against the in-memory store as oracle, over random workloads.

Random batches mix in-order, late and repeated points, integers, booleans and
strings, with compaction at random moments; after every step the two stores must
answer every query the same way (STYLE: incremental code tested against a batch
oracle at every step).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinworks.store import MemoryStore, Point, SqliteStore

T0 = 1_700_000_000.0
TWINS = ["a", "b"]
SIGNALS = {"x": "float", "n": "int", "on": "bool", "state": "str"}


def value_for(kind: str, draw_value: float) -> object:
    if kind == "float":
        return draw_value
    if kind == "int":
        return int(draw_value)
    if kind == "bool":
        return draw_value > 0
    return "run" if draw_value > 0 else "idle"


points = st.builds(
    lambda twin, signal, t, v: Point(twin, signal, T0 + t * 0.5, value_for(SIGNALS[signal], v)),
    st.sampled_from(TWINS),
    st.sampled_from(sorted(SIGNALS)),
    st.integers(0, 60),
    st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 3)),
)
steps = st.lists(
    st.one_of(st.lists(points, min_size=1, max_size=25), st.just("compact"), st.just("reopen")),
    min_size=1,
    max_size=25,
)


def same_answers(ours: SqliteStore, oracle: MemoryStore) -> None:
    assert ours.count() == oracle.count()
    for twin in TWINS:
        assert ours.latest(twin) == oracle.latest(twin)
        assert ours.latest(twin, as_of=T0 + 10) == oracle.latest(twin, as_of=T0 + 10)
        assert ours.count(twin) == oracle.count(twin)
        for signal in SIGNALS:
            assert ours.range(twin, signal) == oracle.range(twin, signal)
            assert ours.range(twin, signal, T0 + 5, T0 + 20, limit=3, newest_first=True) == (
                oracle.range(twin, signal, T0 + 5, T0 + 20, limit=3, newest_first=True)
            )
            got = ours.buckets(twin, signal, T0, T0 + 31, 4.0)
            want = oracle.buckets(twin, signal, T0, T0 + 31, 4.0)
            assert [(b.start, b.count, b.min, b.max) for b in got] == [
                (b.start, b.count, b.min, b.max) for b in want
            ]
            assert [b.mean for b in got] == pytest.approx([b.mean for b in want])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_sqlite_store_matches_the_oracle(workload: list[object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.db"
        oracle = MemoryStore()
        ours = SqliteStore(path, compact_at=10)
        try:
            for step in workload:
                if step == "compact":
                    ours.compact()
                elif step == "reopen":
                    ours.close()
                    ours = SqliteStore(path, compact_at=10)
                else:
                    assert isinstance(step, list)
                    assert ours.append(step) == oracle.append(step)
                same_answers(ours, oracle)
        finally:
            ours.close()
