"""Decode speed of Sparkplug B payload libraries on a typical DDATA message.

The message: 10 metrics by alias (6 Double, 2 Int32, 2 Boolean), a timestamp and a
sequence number -- what an edge node sends for one device on a change. Each
candidate decodes it into values the host can use (alias → value); the figure is
CPU microseconds per message, best of 5 runs of ``--n`` decodes, on one core.

Candidates: twinworks' own (``twinworks.connect.sparkplug.payload``: the protobuf
runtime with a schema declared in code), its fast reader of data messages
(``twinworks.connect.sparkplug.wire``), the protobuf parse alone without turning the
result into Python values, and -- when importable -- pysparkplug (its ``DData``
decoded against the ``DBirth``). pysparkplug requires paho-mqtt < 2 and so cannot
be installed beside twinworks; to measure it, put its unpacked wheel on PYTHONPATH.

Run: ``python bench/sparkplug_decode.py`` (prints one line per candidate and a RESULT
line).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from twinworks.connect.sparkplug.payload import Payload, decode, encode, signed
from twinworks.connect.sparkplug.wire import decode_data

METRICS = [
    *[(f"Inputs/Analog{k}", k + 1, "Double", 20.5 + k) for k in range(6)],
    ("Counters/Parts", 7, "Int32", 1234),
    ("Counters/Rejects", 8, "Int32", -2),
    ("Status/Running", 9, "Boolean", True),
    ("Status/Alarm", 10, "Boolean", False),
]


def message() -> bytes:
    return encode(
        [{"alias": a, "datatype": t, "value": v} for _, a, t, v in METRICS],
        timestamp=1_700_000_000_000,
        seq=42,
    )


def ours(raw: bytes) -> dict[int, Any]:
    return {m.alias: m.value for m in decode(raw).metrics if m.alias is not None}


def wire(raw: bytes) -> dict[int, Any]:
    # what the host does with a data message: the birth's datatype gives the sign
    _, _, metrics = decode_data(raw)
    return {
        alias: signed(value, datatype) if field == "int_value" else value
        for _, alias, _, datatype, value, field, _ in metrics
    }


def parse_only(raw: bytes) -> Any:
    msg = Payload()
    msg.ParseFromString(raw)
    return msg


def pysparkplug_candidate() -> Callable[[bytes], Any] | None:
    try:
        import pysparkplug as spb
    except ImportError:
        return None
    birth = spb.DBirth(
        timestamp=1_700_000_000_000,
        seq=0,
        metrics=tuple(
            spb.Metric(
                timestamp=1_700_000_000_000,
                name=n,
                alias=a,
                datatype=getattr(spb.DataType, t.upper()),
                value=v,
            )
            for n, a, t, v in METRICS
        ),
    )

    def decode_spb(raw: bytes) -> dict[int, Any]:
        data = spb.DData.decode(raw, birth=birth)
        return {m.alias: m.value for m in data.metrics}

    return decode_spb


def timed(fn: Callable[[bytes], Any], raw: bytes, n: int) -> float:
    # CPU time of this process: on a shared machine wall time counts the others' work too
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(n):
            fn(raw)
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="decodes per run")
    args = parser.parse_args()
    raw = message()
    expected = {a: v for _, a, _, v in METRICS}
    assert ours(raw) == expected
    assert wire(raw) == expected
    candidates: list[tuple[str, Callable[[bytes], Any]]] = [
        ("twinworks (protobuf runtime, schema in code)", ours),
        ("twinworks fast data reader (wire format)", wire),
        ("protobuf parse only (no Python values)", parse_only),
    ]
    spb = pysparkplug_candidate()
    if spb is not None:
        assert spb(raw) == expected
        candidates.append(("pysparkplug DData.decode", spb))
    import google.protobuf
    from google.protobuf.internal import api_implementation

    print(
        f"{len(raw)}-byte DDATA, {len(METRICS)} metrics; protobuf "
        f"{google.protobuf.__version__} ({api_implementation.Type()} backend)"
    )
    figures = []
    for name, fn in candidates:
        us = timed(fn, raw, args.n)
        figures.append(f"{name} {us:.1f} us")
        print(f"  {name:48s} {us:7.1f} us/message  ({1e6 / us:9.0f} messages/s)")
    if spb is None:
        figures.append("pysparkplug not importable")
    print("RESULT sparkplug_decode: " + "; ".join(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
