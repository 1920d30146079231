"""Float samples of a batch of Sparkplug data messages, handed to the runtime as arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twinworks.connect.base import Origin, Reading, ReadingColumns
from twinworks.store.base import Columns

__all__ = ["ColumnBatch"]


class ColumnBatch:
    """Float samples of the data messages of one batch, handed over as arrays.

    The runtime checks them against the rules with NumPy at once and asks ``exact``
    for the readings of the few messages that need the per-reading checks (see
    ``ReadingColumns``); everything else (integers, booleans, text, births) goes as
    readings.
    """

    __slots__ = ("origins", "samples", "series", "ts", "values")

    def __init__(self) -> None:
        self.series: list[int] = []
        self.ts: list[float] = []
        self.values: list[float] = []
        self.origins: list[Origin] = []  # per message number
        self.samples: list[list[int]] = []  # per message number: its sample numbers

    def message(self, origin: Origin) -> int:
        if not self.origins or self.origins[-1] is not origin:
            self.origins.append(origin)
            self.samples.append([])
        return len(self.origins) - 1

    def forget(self, origin: Origin) -> None:
        """Take back the samples of the last message, if it is ``origin``'s."""
        if self.origins and self.origins[-1] is origin:
            # its samples are the last ones: each message adds its own in a row
            count = len(self.samples.pop())
            self.origins.pop()
            if count:
                del self.series[-count:], self.ts[-count:], self.values[-count:]

    def readings(self, names: Sequence[tuple[str, str]]) -> ReadingColumns:
        message = np.empty(len(self.series), dtype=np.int64)
        for m, numbers in enumerate(self.samples):
            message[numbers] = m
        series, ts, values = self.series, self.ts, self.values
        origins, samples = self.origins, self.samples

        def exact(numbers: Sequence[int]) -> list[Reading]:
            out: list[Reading] = []
            for m in numbers:
                for i in samples[m]:
                    twin_id, signal = names[series[i]]
                    out.append(Reading(twin_id, signal, ts[i], values[i], None, origins[m]))
            return out

        columns = Columns(
            names,
            np.array(series, dtype=np.int64),
            np.array(ts, dtype=np.float64),
            np.array(values, dtype=np.float64),
        )
        return ReadingColumns(columns, message, exact, len(origins))
