"""Files named by users stay inside the folder they belong to.

A definition's name becomes ``<name>.db`` in the data folder: a name such as
``../../elsewhere`` (or a symbolic link planted in the folder) must not make
twinworks write outside it. Every path built from a name goes through
:func:`file_in`, which resolves it and checks where it lands.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["file_in"]


def file_in(folder: str | Path, name: str) -> Path:
    """``folder / name`` resolved, or ValueError when it would not be inside ``folder``."""
    base = Path(folder).resolve()
    if not name or name in {".", ".."}:
        raise ValueError(f"{name!r} is not a file name inside {base}")
    target = (base / name).resolve()
    if target.parent != base:
        raise ValueError(
            f"{name!r} would be written at {target}, not inside {base}; "
            "expected a plain file name (no folders, no '..')"
        )
    return target
