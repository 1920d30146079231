"""A tamper-evident audit trail: a hash-chained log with signed checkpoints.

Every entry is one JSON line::

    {"seq": 7, "ts": 1767000000.5, "kind": "CommandSent", "actor": "ann",
     "twin_id": "cnc1", "data": {...}, "prev": "<sha256 of entry 6>", "hash": "<sha256 of this>"}

``hash`` is the SHA-256 of the entry's canonical JSON without ``hash`` (and
without ``sig``), and ``prev`` is the ``hash`` of the entry before (64 zeros for
the first). Editing an entry breaks its hash; re-hashing it breaks the next
entry's ``prev``; deleting or moving entries breaks the ``seq`` order. Every
``checkpoint_every`` entries, and when the log is closed, a ``Checkpoint`` entry
is appended whose hash is signed with an Ed25519 key: someone who can edit the
file but does not hold the key cannot re-write the chain up to a checkpoint
without the signature failing. The newest signed checkpoint is also kept outside
the log (the *anchor*), so cutting entries off the end is found too.

:func:`verify_log` checks all of that and says, for every problem, on which line
it is and what it means.

Several processes may append (the server and ``twinworks users``): appends are
serialised with an exclusive ``flock`` on the file, and each one is fsynced
before it returns, because an entry is written *before* the action it records.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from twinworks.errors import TwinworksError
from twinworks.security.files import touch_private
from twinworks.security.secrets import public_key_id

__all__ = [
    "CHECKPOINT",
    "GENESIS",
    "AuditError",
    "AuditLog",
    "Finding",
    "VerifyReport",
    "entry_hash",
    "load_public_key",
    "verify_log",
]

GENESIS = "0" * 64
CHECKPOINT = "Checkpoint"
TAIL_REPAIRED = "AuditTailRepaired"
MAX_DATA_BYTES = 8192  # larger data is summarised: the log records actions, not payloads

_HASHED = ("seq", "ts", "kind", "actor", "twin_id", "data", "prev")

# called with (seq, hash, signature) after each signed checkpoint
AnchorSink = Callable[[int, str, str], None]


class AuditError(TwinworksError):
    """The audit log cannot be appended to (damaged tail, unwritable file)."""


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: entry.get(k) for k in _HASHED})).hexdigest()


def _bounded(data: dict[str, Any]) -> dict[str, Any]:
    raw = _canonical(data)
    if len(raw) <= MAX_DATA_BYTES:
        return json.loads(raw)  # also turns tuples and the like into plain JSON
    return {
        "truncated": True,
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "keys": sorted(str(k) for k in data)[:50],
    }


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the audit public key must be an Ed25519 key (PEM)")
    return key


class AuditLog:
    """Append-only, hash-chained audit log; ``path=None`` keeps it in memory (tests)."""

    def __init__(
        self,
        path: Path | None,
        signing_key: Ed25519PrivateKey | None = None,
        *,
        checkpoint_every: int = 100,
        on_checkpoint: AnchorSink | None = None,
    ) -> None:
        self.path = path
        self.signing_key = signing_key
        self.key_id = public_key_id(signing_key) if signing_key is not None else None
        self.checkpoint_every = checkpoint_every
        self.on_checkpoint = on_checkpoint
        self._lock = threading.Lock()
        self._lines: list[bytes] = []  # memory mode
        self._file: IO[bytes] | None = None
        self._size = -1  # file size after our last append; another writer changes it
        self._seq = 0
        self._hash = GENESIS
        self._since_checkpoint = 0
        self.hooks: list[Callable[[dict[str, Any]], None]] = []
        if path is not None:
            touch_private(path)
            self._file = path.open("r+b")
            with self._locked():
                self._resync(repair=True)

    # ------------------------------------------------------------------ file

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._file is None:
                yield
                return
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)

    def _resync(self, repair: bool) -> None:
        """Read the chain's head (last seq and hash) from the end of the file."""
        assert self._file is not None
        size = os.fstat(self._file.fileno()).st_size
        if size == self._size:
            return
        tail = _read_tail(self._file, size)
        dropped = b""
        if tail and not tail.endswith(b"\n"):
            # a crash while writing: the entry was never complete, so the action it
            # announced never happened; drop it, and record that we did
            cut = tail.rfind(b"\n") + 1
            dropped = tail[cut:]
            tail = tail[:cut]
            if not repair:
                raise AuditError(f"the audit log {self.path} ends in an incomplete entry")
            self._file.truncate(size - len(dropped))
            size -= len(dropped)
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1] if tail.strip() else b""
        if last:
            try:
                entry = json.loads(last)
                self._seq, self._hash = int(entry["seq"]), str(entry["hash"])
            except (ValueError, KeyError, TypeError):
                raise AuditError(
                    f"the last entry of the audit log {self.path} is damaged; check it with "
                    "`twinworks audit verify`, then move the log aside to start a new one"
                ) from None
        else:
            self._seq, self._hash = 0, GENESIS
        self._size = size
        if dropped:
            self._write(
                TAIL_REPAIRED,
                "twinworks",
                None,
                {
                    "dropped_bytes": len(dropped),
                    "dropped_sha256": hashlib.sha256(dropped).hexdigest(),
                },
            )

    def _write(
        self, kind: str, actor: str | None, twin_id: str | None, data: dict[str, Any]
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "seq": self._seq + 1,
            "ts": round(time.time(), 6),
            "kind": kind,
            "actor": actor,
            "twin_id": twin_id,
            "data": _bounded(data),
            "prev": self._hash,
        }
        entry["hash"] = entry_hash(entry)
        if kind == CHECKPOINT:
            assert self.signing_key is not None
            signature = self.signing_key.sign(bytes.fromhex(entry["hash"]))
            entry["sig"] = base64.b64encode(signature).decode()
        line = _canonical(entry) + b"\n"
        if self._file is None:
            self._lines.append(line)
        else:
            self._file.seek(0, os.SEEK_END)
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._size += len(line)
        self._seq, self._hash = entry["seq"], entry["hash"]
        if kind == CHECKPOINT:
            self._since_checkpoint = 0
            if self.on_checkpoint is not None:
                self.on_checkpoint(entry["seq"], entry["hash"], entry["sig"])
        else:
            self._since_checkpoint += 1
        return entry

    # ------------------------------------------------------------------ public

    @property
    def head(self) -> tuple[int, str]:
        return self._seq, self._hash

    def append(
        self,
        kind: str,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
        twin_id: str | None = None,
    ) -> dict[str, Any]:
        """Append one entry durably; a checkpoint follows every ``checkpoint_every`` entries."""
        with self._locked():
            if self._file is not None:
                self._resync(repair=True)
            entry = self._write(kind, actor, twin_id, data or {})
            if self.signing_key is not None and self._since_checkpoint >= self.checkpoint_every:
                self._write(CHECKPOINT, "twinworks", None, {"key_id": self.key_id})
        for hook in self.hooks:
            hook(entry)
        return entry

    def checkpoint(self) -> dict[str, Any] | None:
        """Sign the chain as it is now (if anything was added since the last checkpoint)."""
        if self.signing_key is None:
            return None
        with self._locked():
            if self._file is not None:
                self._resync(repair=True)
            if self._since_checkpoint == 0 and self._seq > 0:
                return None
            return self._write(CHECKPOINT, "twinworks", None, {"key_id": self.key_id})

    def lines(self) -> list[bytes]:
        if self._file is None:
            return list(self._lines)
        assert self.path is not None
        return self.path.read_bytes().splitlines(keepends=True)

    def entries(self, after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for raw in self.lines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and int(entry.get("seq", 0)) > after_seq:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def close(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(AuditError, OSError):
            self.checkpoint()
        self._file.close()
        self._file = None
        self._size = -1


def _read_tail(handle: IO[bytes], size: int, block: int = 65536) -> bytes:
    """The end of the file, long enough to hold its last complete line."""
    start = size
    data = b""
    while start > 0:
        start = max(0, start - block)
        handle.seek(start)
        data = handle.read(size - start)
        body = data[:-1] if data.endswith(b"\n") else data
        if b"\n" in body or start == 0:
            break
    return data


# ---------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Finding:
    line: int | None
    seq: int | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "log"
        if self.seq is not None:
            where += f" (seq {self.seq})"
        return f"{self.severity}: {where}: {self.message}"


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    last_seq: int = 0
    signed_seq: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def summary(self) -> str:
        if not self.ok:
            return f"TAMPERED: {len(self.errors)} problem(s) in {self.entries} entries"
        text = (
            f"ok: {self.entries} entries, {self.checkpoints} signed checkpoints, "
            f"last seq {self.last_seq}"
        )
        if self.signed_seq < self.last_seq:
            text += f"; entries after seq {self.signed_seq} are chained but not yet signed"
        return text


def verify_log(
    lines: Iterable[bytes],
    public_key: Ed25519PublicKey | None = None,
    anchor: tuple[int, str, str] | None = None,
) -> VerifyReport:
    """Check the chain, order and signatures of an audit log; report every problem found."""
    report = VerifyReport()
    expected, prev = 1, GENESIS
    hashes: dict[int, str] = {}
    all_lines = list(lines)
    if public_key is None:
        report.findings.append(
            Finding(None, None, "no public key given: checkpoint signatures not checked", "warning")
        )
    for number, raw in enumerate(all_lines, start=1):
        last_line = number == len(all_lines)
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict):
                raise ValueError
            seq = int(entry["seq"])
            recorded = str(entry["hash"])
        except (ValueError, KeyError, TypeError):
            if last_line and not raw.endswith(b"\n"):
                report.findings.append(
                    Finding(number, None, "incomplete last entry (the writer crashed)", "warning")
                )
            else:
                report.findings.append(
                    Finding(number, None, "not a valid audit entry: the line was damaged or edited")
                )
            continue
        report.entries += 1
        if seq > expected:
            missing = (
                f"entry {expected}" if seq == expected + 1 else f"entries {expected}-{seq - 1}"
            )
            report.findings.append(
                Finding(number, seq, f"{missing} missing before this line: deleted or moved")
            )
        elif seq < expected:
            report.findings.append(
                Finding(
                    number,
                    seq,
                    f"comes after seq {expected - 1}: entries are out of order (swapped or moved)",
                )
            )
        if entry_hash(entry) != recorded:
            report.findings.append(
                Finding(number, seq, "content does not match its hash: the entry was edited")
            )
        elif seq == expected and entry.get("prev") != prev:
            report.findings.append(
                Finding(
                    number,
                    seq,
                    "does not chain to the entry before it: an earlier entry was edited "
                    "and re-hashed, or replaced",
                )
            )
        if entry.get("kind") == CHECKPOINT:
            report.checkpoints += 1
            if public_key is not None:
                try:
                    public_key.verify(
                        base64.b64decode(str(entry.get("sig", ""))), bytes.fromhex(recorded)
                    )
                    if report.ok:
                        report.signed_seq = seq
                except (InvalidSignature, ValueError):
                    report.findings.append(
                        Finding(
                            number,
                            seq,
                            "checkpoint signature is not valid: the log up to here was "
                            "rewritten, or signed with another key",
                        )
                    )
        hashes[seq] = recorded
        expected, prev = seq + 1, recorded
        report.last_seq = max(report.last_seq, seq)
    if anchor is not None:
        a_seq, a_hash, a_sig = anchor
        if public_key is not None:
            try:
                public_key.verify(base64.b64decode(a_sig), bytes.fromhex(a_hash))
            except (InvalidSignature, ValueError):
                report.findings.append(
                    Finding(None, a_seq, "the stored anchor's signature is not valid")
                )
        if a_seq not in hashes:
            report.findings.append(
                Finding(
                    None,
                    a_seq,
                    f"a signed checkpoint at seq {a_seq} was recorded but the log ends at seq "
                    f"{report.last_seq}: entries were cut off the end (truncated)",
                )
            )
        elif hashes[a_seq] != a_hash:
            report.findings.append(
                Finding(
                    None,
                    a_seq,
                    "differs from the signed checkpoint recorded for this seq: the log was "
                    "rewritten",
                )
            )
    return report
