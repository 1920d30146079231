"""Request and response bodies of the REST API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Bucket",
    "CommandCall",
    "CommandOut",
    "DeadLetterCount",
    "DeadLetterOut",
    "DesiredWrite",
    "ErrorBody",
    "ErrorDetail",
    "EventOut",
    "HistoryOut",
    "IngestIn",
    "IngestOut",
    "IngestPoint",
    "IngestQueued",
    "RevisionOut",
    "SignalValue",
    "TwinOut",
    "TwinSummary",
]

JsonValue = float | int | bool | str


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Out):
    code: str = Field(description="machine-readable reason, e.g. unknown_twin, out_of_range")
    message: str = Field(description="what was wrong, where, and what was expected")
    where: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorBody(_Out):
    error: ErrorDetail


class SignalValue(_Out):
    ts: float = Field(description="source time, seconds since the epoch (UTC)")
    value: JsonValue
    unit: str | None
    quality: str | None = Field(
        default=None,
        description="good, uncertain or bad, when the source reports it (OPC UA status); "
        "a bad signal keeps showing its last good value",
        # only sources that report a quality add the key; the others' answers stay as they were
        exclude_if=lambda quality: quality is None,
    )
    unit_label: str | None = Field(
        default=None, description="the unit as people write it (m³/h for m**3/h); display only"
    )


class TwinSummary(_Out):
    id: str
    type: str
    name: str
    status: str = Field(
        description="running, idle, setup, stopped, fault, stale, disconnected, offline, virtual"
    )
    parent: str | None
    last_received: float | None
    reported: dict[str, SignalValue]


class TwinOut(_Out):
    id: str
    type: str
    name: str
    attributes: dict[str, Any]
    relationships: dict[str, str | list[str]]
    connectors: list[str]
    revision: int
    status: str | None
    last_received: float | None
    reported: dict[str, SignalValue]
    virtual: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="values computed by the twin's models and services"
    )
    desired: dict[str, dict[str, Any]]
    as_of: float | None = Field(description="the past time this view was read at; null for now")
    children: list[str] = Field(default_factory=list)


class RevisionOut(_Out):
    rev: int
    ts: float
    doc: dict[str, Any]


class Bucket(_Out):
    start: float
    count: int
    min: float
    mean: float
    max: float


class HistoryOut(_Out):
    twin_id: str
    signal: str
    unit: str | None
    unit_label: str | None = Field(default=None, description="the unit for display, e.g. m³/h")
    start: float | None
    end: float | None
    mode: Literal["raw", "buckets"]
    points: list[tuple[float, JsonValue]] | None = None
    truncated: bool = False
    bucket_s: float | None = None
    buckets: list[Bucket] | None = None


class EventOut(_Out):
    id: int
    ts: float
    kind: str
    twin_id: str | None
    data: dict[str, Any]


class DesiredWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: JsonValue = Field(description="in the unit the twin type declares for this setting")


class CommandCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    args: dict[str, JsonValue] = Field(default_factory=dict)


class CommandOut(_Out):
    id: str
    twin_id: str
    name: str
    kind: Literal["desired", "command"]
    args: dict[str, Any]
    status: Literal["pending", "acknowledged", "failed", "rejected"]
    created: float
    finished: float | None
    error: str | None
    result: Any = None


class IngestPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    twin_id: str = Field(max_length=128)
    signal: str = Field(max_length=128)
    ts: float | str = Field(description="seconds since the epoch, or ISO 8601")
    value: Any = Field(description="checked against the signal's dtype and range")
    unit: str | None = Field(
        default=None, max_length=64, description="required when the signal declares a unit"
    )


class IngestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # a malformed point is rejected on its own (reason invalid_point), not the whole batch
    points: list[IngestPoint | dict[str, Any] | Any] = Field(
        max_length=100_000, description="IngestPoint objects; malformed ones are rejected alone"
    )


class IngestOut(_Out):
    accepted: int
    stored: int = Field(description="new points now in the store")
    duplicates: int = Field(description="points the store already had (a retried request)")
    spooled: int = Field(
        default=0, description="safe in the on-disk buffer while the store is unavailable"
    )
    rejected_count: int = Field(default=0, description="all rejected points")
    rejected: list[dict[str, str]] = Field(
        description="why points were rejected (the first 1000 when there are more)"
    )


class IngestQueued(_Out):
    status: Literal["queued"]
    queued: int = Field(description="points accepted into the queue, not yet confirmed stored")
    message: str


class DeadLetterOut(_Out):
    id: int
    ts: float = Field(description="when it arrived, seconds since the epoch (UTC)")
    source: str = Field(description="the connector's name, or http")
    twin_id: str | None
    topic: str | None
    reason: str = Field(description="not_json, missing_fields, unknown_twin, out_of_range, ...")
    message: str
    payload: str = Field(description="the raw payload: UTF-8 text, or base64 (payload_encoding)")
    payload_encoding: Literal["utf-8", "base64"]
    size: int = Field(description="bytes as received")
    truncated: bool = Field(description="the payload was cut to the size limit")


class DeadLetterCount(_Out):
    twin_id: str | None
    reason: str
    count: int
