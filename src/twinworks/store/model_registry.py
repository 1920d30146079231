"""The model registry of both store backends (versions, verdicts, activations).

Kept apart from the telemetry code: :class:`MemoryModelRegistry` and
:class:`SqliteModelRegistry` are mixins that ``MemoryStore`` and ``SqliteStore``
inherit, and the store conformance tests hold them to the same behaviour.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from twinworks.errors import StoreError
from twinworks.store.base import MODEL_STATUSES, ModelVersion, from_us, to_us

__all__ = ["MODEL_SCHEMA", "MemoryModelRegistry", "SqliteModelRegistry"]

MODEL_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    twin_id TEXT NOT NULL,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    ts_us INTEGER NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (twin_id, model, version)
);
CREATE TABLE IF NOT EXISTS model_activations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    twin_id TEXT NOT NULL,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    ts_us INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS model_activations_by_model ON model_activations (twin_id, model, id);
"""


def _check_status(status: str) -> None:
    if status not in MODEL_STATUSES:
        raise ValueError(f"model status {status!r} is not one of {', '.join(MODEL_STATUSES)}")


def _unknown(twin_id: str, model: str, version: int) -> KeyError:
    return KeyError(f"twin {twin_id!r} has no version {version} of model {model!r}")


class MemoryModelRegistry:
    """In-memory model registry (mixed into ``MemoryStore``)."""

    _lock: threading.Lock

    def _registry(self) -> tuple[dict[tuple[str, str], list[ModelVersion]], list[Any]]:
        if not hasattr(self, "_model_versions"):
            self._model_versions: dict[tuple[str, str], list[ModelVersion]] = {}
            self._model_activations: list[tuple[str, str, float, int, str]] = []
        return self._model_versions, self._model_activations

    def add_model_version(
        self,
        twin_id: str,
        model: str,
        parameters: dict[str, float],
        *,
        std: dict[str, float] | None = None,
        scores: dict[str, float] | None = None,
        source: str = "calibration",
        parent: int | None = None,
        status: str = "candidate",
        note: str = "",
        ts: float | None = None,
    ) -> ModelVersion:
        _check_status(status)
        with self._lock:
            versions, _ = self._registry()
            items = versions.setdefault((twin_id, model), [])
            item = ModelVersion(
                twin_id,
                model,
                len(items) + 1,
                from_us(to_us(time.time() if ts is None else ts)),
                {k: float(v) for k, v in parameters.items()},
                {k: float(v) for k, v in (std or {}).items()},
                {k: float(v) for k, v in (scores or {}).items()},
                source,
                parent,
                status,
                note,
            )
            items.append(item)
            return copy.deepcopy(item)

    def model_versions(self, twin_id: str, model: str | None = None) -> list[ModelVersion]:
        with self._lock:
            versions, _ = self._registry()
            return [
                copy.deepcopy(v)
                for (t, m), items in sorted(versions.items())
                if t == twin_id and (model is None or m == model)
                for v in items
            ]

    def set_model_version_status(
        self,
        twin_id: str,
        model: str,
        version: int,
        status: str,
        scores: dict[str, float] | None = None,
    ) -> ModelVersion:
        _check_status(status)
        with self._lock:
            versions, _ = self._registry()
            items = versions.get((twin_id, model), [])
            if not 1 <= version <= len(items):
                raise _unknown(twin_id, model, version)
            old = items[version - 1]
            merged = {**old.scores, **{k: float(v) for k, v in (scores or {}).items()}}
            new = ModelVersion(
                old.twin_id,
                old.model,
                old.version,
                old.created,
                old.parameters,
                old.std,
                merged,
                old.source,
                old.parent,
                status,
                old.note,
            )
            items[version - 1] = new
            return copy.deepcopy(new)

    def activate_model_version(
        self, twin_id: str, model: str, version: int, ts: float | None = None, reason: str = ""
    ) -> None:
        with self._lock:
            versions, activations = self._registry()
            if not 1 <= version <= len(versions.get((twin_id, model), [])):
                raise _unknown(twin_id, model, version)
            stamp = from_us(to_us(time.time() if ts is None else ts))
            activations.append((twin_id, model, stamp, version, reason))

    def model_activations(self, twin_id: str, model: str) -> list[tuple[float, int, str]]:
        with self._lock:
            _, activations = self._registry()
            return [(ts, v, r) for t, m, ts, v, r in activations if t == twin_id and m == model]


class SqliteModelRegistry:
    """SQLite model registry (mixed into ``SqliteStore``): two small tables."""

    _write_lock: threading.Lock
    _writer: sqlite3.Connection
    _read: Callable[..., list[Any]]

    def _write(self, what: str, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with self._write_lock:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    self._writer.execute(sql, params)
                self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise StoreError(f"{what} failed: {exc}") from None

    @staticmethod
    def _version(row: Sequence[Any]) -> ModelVersion:
        twin_id, model, version, ts_us, body, status = row
        data = json.loads(body)
        return ModelVersion(
            twin_id,
            model,
            int(version),
            from_us(ts_us),
            data["parameters"],
            data["std"],
            data["scores"],
            data["source"],
            data["parent"],
            status,
            data["note"],
        )

    def add_model_version(
        self,
        twin_id: str,
        model: str,
        parameters: dict[str, float],
        *,
        std: dict[str, float] | None = None,
        scores: dict[str, float] | None = None,
        source: str = "calibration",
        parent: int | None = None,
        status: str = "candidate",
        note: str = "",
        ts: float | None = None,
    ) -> ModelVersion:
        _check_status(status)
        ts_us = to_us(time.time() if ts is None else ts)
        body = {
            "parameters": {k: float(v) for k, v in parameters.items()},
            "std": {k: float(v) for k, v in (std or {}).items()},
            "scores": {k: float(v) for k, v in (scores or {}).items()},
            "source": source,
            "parent": parent,
            "note": note,
        }
        with self._write_lock:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                (version,) = self._writer.execute(
                    "SELECT coalesce(max(version), 0) + 1 FROM model_versions "
                    "WHERE twin_id = ? AND model = ?",
                    (twin_id, model),
                ).fetchone()
                self._writer.execute(
                    "INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?)",
                    (twin_id, model, version, ts_us, json.dumps(body), status),
                )
                self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise StoreError(f"storing a version of {twin_id}/{model} failed: {exc}") from None
        return self._version((twin_id, model, version, ts_us, json.dumps(body), status))

    def model_versions(self, twin_id: str, model: str | None = None) -> list[ModelVersion]:
        sql = "SELECT * FROM model_versions WHERE twin_id = ?"
        params: list[Any] = [twin_id]
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        return [self._version(r) for r in self._read(sql + " ORDER BY model, version", params)]

    def set_model_version_status(
        self,
        twin_id: str,
        model: str,
        version: int,
        status: str,
        scores: dict[str, float] | None = None,
    ) -> ModelVersion:
        _check_status(status)
        rows = self._read(
            "SELECT * FROM model_versions WHERE twin_id = ? AND model = ? AND version = ?",
            (twin_id, model, version),
        )
        if not rows:
            raise _unknown(twin_id, model, version)
        old = self._version(rows[0])
        body: dict[str, Any] = {
            "parameters": old.parameters,
            "std": old.std,
            "scores": {**old.scores, **{k: float(v) for k, v in (scores or {}).items()}},
            "source": old.source,
            "parent": old.parent,
            "note": old.note,
        }
        self._write(
            "updating a model version",
            [
                (
                    "UPDATE model_versions SET status = ?, body = ? "
                    "WHERE twin_id = ? AND model = ? AND version = ?",
                    (status, json.dumps(body), twin_id, model, version),
                )
            ],
        )
        return ModelVersion(
            twin_id,
            model,
            version,
            old.created,
            old.parameters,
            old.std,
            body["scores"],
            old.source,
            old.parent,
            status,
            old.note,
        )

    def activate_model_version(
        self, twin_id: str, model: str, version: int, ts: float | None = None, reason: str = ""
    ) -> None:
        exists = self._read(
            "SELECT 1 FROM model_versions WHERE twin_id = ? AND model = ? AND version = ?",
            (twin_id, model, version),
        )
        if not exists:
            raise _unknown(twin_id, model, version)
        self._write(
            "activating a model version",
            [
                (
                    "INSERT INTO model_activations (twin_id, model, version, ts_us, reason) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (twin_id, model, version, to_us(time.time() if ts is None else ts), reason),
                )
            ],
        )

    def model_activations(self, twin_id: str, model: str) -> list[tuple[float, int, str]]:
        rows = self._read(
            "SELECT ts_us, version, reason FROM model_activations WHERE twin_id = ? AND model = ? "
            "ORDER BY id",
            (twin_id, model),
        )
        return [(from_us(ts), int(v), r) for ts, v, r in rows]
