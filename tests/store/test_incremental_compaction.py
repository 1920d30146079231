"""Incremental compaction against the in-memory oracle.

A background compaction sorts the hot batches into chunk rows without the write
lock and writes them a few series per transaction, with appends in between. At every
point in between -- after each step, after appends of new, late and repeated points,
after a reopen that leaves a compaction half done (as a crash would) -- every query
must answer exactly what the oracle answers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sqlite_oracle import SIGNALS, T0, TWINS, points, same_answers, value_for

from twinworks.store import MemoryStore, Point, SqliteStore
from twinworks.store.telemetry import CompactionPlan

NEVER = 10**12  # compact_at: the automatic compaction never starts, the test drives it

actions = st.lists(
    st.one_of(
        st.lists(points, min_size=1, max_size=25),
        st.just("plan"),
        st.just("step"),
        st.just("reopen"),
        st.just("compact"),
    ),
    min_size=1,
    max_size=30,
)


def _open(path: Path, rows_per_step: int) -> SqliteStore:
    store = SqliteStore(path, compact_at=NEVER)
    store.COMPACT_ROWS_PER_STEP = rows_per_step
    return store


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions, st.integers(1, 3))
def test_queries_during_incremental_compaction_match_the_oracle(
    workload: list[object], rows_per_step: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.db"
        oracle = MemoryStore()
        ours = _open(path, rows_per_step)
        plan: CompactionPlan | None = None
        start = 0
        try:
            for action in workload:
                if action == "plan":
                    plan, start = ours._telemetry.plan_compaction(ours._reader()), 0
                elif action == "step":
                    if plan is not None and start < len(plan.rows):
                        with ours._write_lock:
                            if ours._compact_step(plan, start):
                                start += rows_per_step
                            else:
                                plan = None  # stale: compacted meanwhile
                elif action == "reopen":
                    ours.close()  # a compaction may be left half done, as after a crash
                    ours = _open(path, rows_per_step)
                    plan = None
                elif action == "compact":
                    ours.compact()
                else:
                    assert isinstance(action, list)
                    assert ours.append(action) == oracle.append(action)
                same_answers(ours, oracle)
        finally:
            ours.close()


def test_a_plan_written_step_by_step_leaves_only_chunks(tmp_path: Path) -> None:
    oracle = MemoryStore()
    ours = _open(tmp_path / "t.db", 1)
    try:
        batch = [p for i in range(40) for p in _points(i)]
        assert ours.append(batch) == oracle.append(batch)
        plan = ours._telemetry.plan_compaction(ours._reader())
        assert plan is not None and len(plan.rows) == 6  # 2 twins x 3 numeric signals
        for start in range(len(plan.rows)):
            late = _points(start + 0.25)  # a new point between two stored ones
            assert ours.append(late) == oracle.append(late)
            with ours._write_lock:
                assert ours._compact_step(plan, start)
            same_answers(ours, oracle)
        reader = ours._reader()
        assert reader.execute("SELECT count(*) FROM compacting").fetchone()[0] == 0
        # only the points appended during the compaction are still hot
        assert reader.execute("SELECT min(id) FROM hot").fetchone()[0] > plan.ids[-1]
    finally:
        ours.close()


def _points(i: float) -> list[Point]:
    return [
        Point(twin, signal, T0 + i, value_for(kind, i - 20))
        for twin in TWINS
        for signal, kind in SIGNALS.items()
    ]
