"""What went wrong, or was left out, when reading or writing another standard's files.

Every problem names the file, the element inside it (``contents[3].schema``), what
was wrong and what was expected, so that the message alone is enough to fix it.
Things that are valid but have no equivalent in a twin definition (a DTDL Map, an
AAS Blob) are *notes*: they are reported to the user, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from twinworks.errors import TwinworksError

__all__ = ["InteropError", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One problem (or one note) about one element of one file."""

    file: str
    path: str
    message: str
    expected: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        text = f"{where}: {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class InteropError(TwinworksError):
    """Files of another standard that cannot be read; ``problems`` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        lines = [f"{count} problem{'s' if count != 1 else ''} found"]
        lines += [f"  {p}" for p in problems]
        super().__init__("\n".join(lines))
