"""The runtime: the asyncio engine that ties connectors, store, state and services together."""

from twinworks.runtime.bus import ChangeBus, Subscription
from twinworks.runtime.engine import CommandRecord, IngestReport, Rejection, Runtime
from twinworks.runtime.registry import SignalRule, TwinRegistry
from twinworks.runtime.service import TwinService

__all__ = [
    "ChangeBus",
    "CommandRecord",
    "IngestReport",
    "Rejection",
    "Runtime",
    "SignalRule",
    "Subscription",
    "TwinRegistry",
    "TwinService",
]
