"""Files that hold secrets: created readable by their owner only, refused when others can read them.

Secrets files, the user database, the CLI token file and TLS private keys are
checked with :func:`check_private_file` before they are read, the way ssh treats
``~/.ssh/id_*``: a file that the group or others can read or write is refused
with a message that says how to fix it, because its secrets must be assumed
known.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from twinworks.errors import InsecureFileError

__all__ = ["check_private_file", "make_private_dir", "touch_private", "write_private_file"]


def check_private_file(path: Path, what: str = "secrets file") -> None:
    """Raise :class:`InsecureFileError` unless ``path`` is a regular file only its owner may use."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InsecureFileError(f"the {what} {path} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise InsecureFileError(f"the {what} {path} is not a regular file")
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if loose:
        mode = oct(stat.S_IMODE(info.st_mode))[2:]
        raise InsecureFileError(
            f"the {what} {path} can be read or written by other users (mode {mode}); "
            f"its secrets must be assumed known. Restrict it with `chmod 600 {path}` "
            "(and replace the secrets if others may have read them)"
        )
    if hasattr(os, "getuid") and info.st_uid not in (os.getuid(), 0):
        raise InsecureFileError(
            f"the {what} {path} belongs to another user (uid {info.st_uid}); "
            "it must belong to the user that runs twinworks"
        )


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable and writable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # O_EXCL + mode 0600 at creation: the secret is never on disk with looser rights
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def make_private_dir(path: Path) -> None:
    """Create a directory for secrets (0700); leave an existing one's mode alone."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)


def touch_private(path: Path) -> None:
    """Create an empty file with mode 0600 if it is missing (before a library opens it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
