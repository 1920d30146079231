from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from twinworks.plant.broker import BrokerUnavailable, MosquittoBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A real mosquitto on a free loopback port, with persistence, stopped afterwards."""
    try:
        b = MosquittoBroker(directory=tmp_path / "broker")
    except BrokerUnavailable as exc:
        pytest.skip(str(exc))
    with b:
        yield b
