"""Every store backend passes the same checks (the fake and the real one agree)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from twinworks.store import Event, MemoryStore, Point, SqliteStore, TwinStore


@pytest.fixture(params=["memory", "sqlite", "sqlite-compacting"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwinStore]:
    s: TwinStore
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SqliteStore(tmp_path / "t.db")
    else:
        # compacts every few points, so reads cross hot batches and chunks
        s = SqliteStore(tmp_path / "t.db", compact_at=7)
    with s:
        yield s


T0 = 1_700_000_000.0


def test_append_returns_new_points_and_ignores_duplicates(store: TwinStore) -> None:
    pts = [Point("m1", "temp", T0 + i, 20.0 + i) for i in range(10)]
    assert store.append(pts) == 10
    assert store.append([*pts[5:], Point("m1", "temp", T0 + 10, 30.0)]) == 1
    assert store.count("m1", "temp") == 11
    assert store.count("m1") == 11
    assert store.count() == 11


def test_range_is_half_open_and_ordered(store: TwinStore) -> None:
    store.append([Point("m1", "temp", T0 + i, float(i)) for i in reversed(range(10))])
    assert [v for _, v in store.range("m1", "temp", T0 + 2, T0 + 5)] == [2.0, 3.0, 4.0]
    newest = store.range("m1", "temp", newest_first=True, limit=2)
    assert newest == [(T0 + 9, 9.0), (T0 + 8, 8.0)]
    assert store.range("m1", "nothing") == []
    assert store.range("nobody", "temp") == []


def test_values_keep_their_type(store: TwinStore) -> None:
    store.append(
        [
            Point("m1", "state", T0, "cutting"),
            Point("m1", "count", T0, 7),
            Point("m1", "temp", T0, 21.5),
        ]
    )
    latest = store.latest("m1")
    assert latest["state"] == (T0, "cutting")
    assert latest["count"] == (T0, 7) and isinstance(latest["count"][1], int)
    assert latest["temp"] == (T0, 21.5)


def test_microsecond_timestamps_round_trip(store: TwinStore) -> None:
    ts = T0 + 0.123456
    store.append([Point("m1", "x", ts, 1.0)])
    (got,) = store.range("m1", "x")
    assert got[0] == pytest.approx(ts, abs=1e-6)


def test_buckets_match_a_batch_computation(store: TwinStore) -> None:
    rng = np.random.default_rng(7)
    ts = np.sort(T0 + rng.uniform(0, 600, 5000))
    vs = rng.normal(50, 10, ts.size)
    store.append([Point("m1", "power", float(t), float(v)) for t, v in zip(ts, vs, strict=True)])
    start, end, width = T0 + 30, T0 + 570, 37.0
    got = store.buckets("m1", "power", start, end, width)
    # the batch oracle, computed on the raw rows as stored
    raw = store.range("m1", "power", start, end)
    t = np.array([r[0] for r in raw])
    v = np.array([r[1] for r in raw])
    idx = np.floor((t - start) / width + 1e-9).astype(int)
    expected = []
    for b in np.unique(idx):
        sel = v[idx == b]
        expected.append((start + b * width, sel.size, sel.min(), sel.mean(), sel.max()))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.start == pytest.approx(e[0])
        assert g.count == e[1]
        assert g.min == pytest.approx(e[2])
        assert g.mean == pytest.approx(e[3])
        assert g.max == pytest.approx(e[4])


def test_buckets_leave_gaps_out_and_skip_strings(store: TwinStore) -> None:
    store.append([Point("m1", "x", T0 + t, 1.0) for t in (0, 1, 2, 50, 51)])
    store.append([Point("m1", "s", T0 + 1, "idle")])
    got = store.buckets("m1", "x", T0, T0 + 60, 10)
    assert [(b.start - T0, b.count) for b in got] == [(0, 3), (50, 2)]
    assert store.buckets("m1", "s", T0, T0 + 60, 10) == []
    with pytest.raises(ValueError):
        store.buckets("m1", "x", T0, T0 + 60, 0)


def test_latest_as_of_a_past_time(store: TwinStore) -> None:
    store.append([Point("m1", "a", T0 + i, float(i)) for i in range(10)])
    store.append([Point("m1", "b", T0 + 5, 100.0)])
    assert store.latest("m1", as_of=T0 + 3.5) == {"a": (T0 + 3, 3.0)}
    assert store.latest("m1", as_of=T0 + 5) == {"a": (T0 + 5, 5.0), "b": (T0 + 5, 100.0)}
    assert store.latest("m1") == {"a": (T0 + 9, 9.0), "b": (T0 + 5, 100.0)}
    assert store.latest("m1", as_of=T0 - 1) == {}


def test_documents_keep_every_revision(store: TwinStore) -> None:
    assert store.get_document("m1") is None
    assert store.put_document("m1", {"desired": {"feed": 100}}, ts=T0) == 1
    assert store.put_document("m1", {"desired": {"feed": 80}}, ts=T0 + 10) == 2
    assert store.put_document("m2", {"desired": {}}, ts=T0) == 1
    now = store.get_document("m1")
    assert now is not None and now.rev == 2 and now.doc["desired"]["feed"] == 80
    past = store.get_document("m1", as_of=T0 + 5)
    assert past is not None and past.rev == 1 and past.doc["desired"]["feed"] == 100
    assert store.get_document("m1", as_of=T0 - 1) is None
    assert [r.rev for r in store.revisions("m1")] == [1, 2]
    assert store.twin_ids() == ["m1", "m2"]


def test_events_filter_and_page(store: TwinStore) -> None:
    stored = store.append_events(
        [
            Event("CommandSent", "m1", {"command": "stop"}, ts=T0),
            Event("CommandAcknowledged", "m1", {"command": "stop"}, ts=T0 + 1),
            Event("TelemetryRejected", "m2", {"reason": "range"}, ts=T0 + 2),
        ]
    )
    ids = [e.id for e in stored]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [e.kind for e in store.events()] == [
        "TelemetryRejected",
        "CommandAcknowledged",
        "CommandSent",
    ]
    assert [e.kind for e in store.events(twin_id="m1", newest_first=False)] == [
        "CommandSent",
        "CommandAcknowledged",
    ]
    assert [e.twin_id for e in store.events(kinds=["TelemetryRejected"])] == ["m2"]
    assert len(store.events(since=T0 + 1)) == 2
    assert len(store.events(until=T0 + 1)) == 1
    assert [e.id for e in store.events(after_id=ids[0], newest_first=False)] == ids[1:]
    assert store.events(limit=1)[0].data == {"reason": "range"}


def test_nan_and_inf_are_stored_as_given(store: TwinStore) -> None:
    # validation happens before the store; the store itself must not corrupt values
    store.append([Point("m1", "x", T0, math.inf)])
    assert store.latest("m1")["x"][1] == math.inf


def test_sqlite_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with SqliteStore(path) as s:
        s.append([Point("m1", "x", T0 + i, float(i)) for i in range(100)])
        s.put_document("m1", {"a": 1}, ts=T0)
        s.append_events([Event("Started", None, {}, ts=T0)])
    with SqliteStore(path) as s:
        assert s.count() == 100
        assert s.get_document("m1") is not None
        assert s.events()[0].kind == "Started"
        # series numbering is reloaded, so new points join the old series
        s.append([Point("m1", "x", T0 + 100, 100.0)])
        assert s.count("m1", "x") == 101


# ------------------------------------------------------------------ model registry


def test_model_versions_are_numbered_per_twin_and_model(store: TwinStore) -> None:
    v1 = store.add_model_version("m1", "machine", {"a": 1.0}, source="prior", ts=T0)
    v2 = store.add_model_version(
        "m1", "machine", {"a": 1.5}, std={"a": 0.1}, scores={"nll": -2.5}, parent=1, ts=T0 + 5
    )
    other = store.add_model_version("m2", "machine", {"a": 9.0}, ts=T0)
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    got = store.model_versions("m1", "machine")
    assert [v.version for v in got] == [1, 2]
    assert got[1].parameters == {"a": 1.5} and got[1].std == {"a": 0.1}
    assert got[1].scores == {"nll": -2.5} and got[1].parent == 1
    assert got[0].source == "prior" and got[0].status == "candidate"
    assert got[1].created == pytest.approx(T0 + 5)
    assert store.model_versions("m1", "other") == []
    assert [v.twin_id for v in store.model_versions("m2")] == ["m2"]
    found = store.get_model_version("m1", "machine", 2)
    assert found is not None and found.parameters == {"a": 1.5}
    assert store.get_model_version("m1", "machine", 3) is None


def test_model_verdicts_merge_scores(store: TwinStore) -> None:
    store.add_model_version("m1", "machine", {"a": 1.0}, scores={"fit": 1.0}, ts=T0)
    judged = store.set_model_version_status("m1", "machine", 1, "rejected", {"holdout": 0.5})
    assert judged.status == "rejected"
    assert store.model_versions("m1")[0].scores == {"fit": 1.0, "holdout": 0.5}
    with pytest.raises(KeyError, match="no version 7"):
        store.set_model_version_status("m1", "machine", 7, "accepted")
    with pytest.raises(ValueError, match="not one of"):
        store.set_model_version_status("m1", "machine", 1, "great")


def test_active_model_version_follows_activations_in_time(store: TwinStore) -> None:
    for i in range(3):
        store.add_model_version("m1", "machine", {"a": float(i)}, ts=T0 + i)
    assert store.active_model_version("m1", "machine") is None
    store.activate_model_version("m1", "machine", 1, ts=T0, reason="prior")
    store.activate_model_version("m1", "machine", 3, ts=T0 + 10, reason="better")
    store.activate_model_version("m1", "machine", 1, ts=T0 + 20, reason="rollback")
    now = store.active_model_version("m1", "machine")
    assert now is not None and now.version == 1
    then = store.active_model_version("m1", "machine", as_of=T0 + 15)
    assert then is not None and then.version == 3
    assert store.active_model_version("m1", "machine", as_of=T0 - 1) is None
    assert [(v, r) for _, v, r in store.model_activations("m1", "machine")] == [
        (1, "prior"),
        (3, "better"),
        (1, "rollback"),
    ]
    with pytest.raises(KeyError):
        store.activate_model_version("m1", "machine", 4)


def test_model_registry_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with SqliteStore(path) as s:
        s.add_model_version("m1", "machine", {"a": 2.0}, ts=T0)
        s.activate_model_version("m1", "machine", 1, ts=T0)
    with SqliteStore(path) as s:
        active = s.active_model_version("m1", "machine")
        assert active is not None and active.parameters == {"a": 2.0}
