"""The audit trail finds every edited, deleted, reordered or cut-off entry, and says where."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from twinworks.cli import app
from twinworks.security.audit import AuditLog, entry_hash, verify_log
from twinworks.security.secrets import Secrets

runner = CliRunner()


@pytest.fixture
def secrets() -> Secrets:
    return Secrets.generate()


def write_log(
    path: Path, secrets: Secrets, n: int = 23, every: int = 5
) -> list[tuple[int, str, str]]:
    anchors: list[tuple[int, str, str]] = []
    log = AuditLog(
        path,
        secrets.audit_key,
        checkpoint_every=every,
        on_checkpoint=lambda s, h, sig: anchors.append((s, h, sig)),
    )
    for i in range(n):
        log.append("CommandSent", "ann", {"name": "start", "n": i}, twin_id=f"m{i % 3}")
    log.close()
    return anchors


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def check(raw: list[bytes], secrets: Secrets, anchor: tuple[int, str, str] | None = None):  # type: ignore[no-untyped-def]
    return verify_log(raw, secrets.audit_key.public_key(), anchor)


def test_an_untouched_log_verifies(tmp_path: Path, secrets: Secrets) -> None:
    anchors = write_log(tmp_path / "audit.log", secrets)
    report = check(lines(tmp_path / "audit.log"), secrets, anchors[-1])
    assert report.ok, report.findings
    assert report.entries == 23 + 5  # 4 checkpoints on the way, 1 at close
    assert report.signed_seq == report.last_seq
    assert report.summary().startswith("ok: 28 entries, 5 signed checkpoints")


def test_an_edited_entry_is_found_with_its_line(tmp_path: Path, secrets: Secrets) -> None:
    write_log(tmp_path / "audit.log", secrets)
    raw = lines(tmp_path / "audit.log")
    raw[6] = raw[6].replace(b'"ann"', b'"bob"')
    report = check(raw, secrets)
    assert not report.ok
    assert [(f.line, f.seq) for f in report.errors] == [(7, 7)]
    assert "was edited" in report.errors[0].message


def test_an_edited_and_rehashed_entry_breaks_the_chain(tmp_path: Path, secrets: Secrets) -> None:
    write_log(tmp_path / "audit.log", secrets)
    raw = lines(tmp_path / "audit.log")
    entry = json.loads(raw[3])
    entry["actor"] = "bob"
    entry["hash"] = entry_hash(entry)
    raw[3] = json.dumps(entry).encode() + b"\n"
    report = check(raw, secrets)
    assert [f.line for f in report.errors] == [5]
    assert "does not chain" in report.errors[0].message


def test_a_rewritten_chain_fails_the_signed_checkpoints(tmp_path: Path, secrets: Secrets) -> None:
    write_log(tmp_path / "audit.log", secrets)
    raw = lines(tmp_path / "audit.log")
    # someone without the key edits line 2 and re-hashes everything after it
    prev = None
    out = []
    for number, line in enumerate(raw, start=1):
        entry = json.loads(line)
        if number == 2:
            entry["data"] = {"name": "nothing to see"}
        if prev is not None:
            entry["prev"] = prev
        entry["hash"] = entry_hash(entry)
        prev = entry["hash"]
        out.append(json.dumps(entry).encode() + b"\n")
    report = check(out, secrets)
    assert not report.ok
    assert all("signature is not valid" in f.message for f in report.errors)
    assert report.errors[0].line == 6  # the first checkpoint after the edit


def test_a_deleted_entry_is_found(tmp_path: Path, secrets: Secrets) -> None:
    write_log(tmp_path / "audit.log", secrets)
    raw = lines(tmp_path / "audit.log")
    del raw[9]
    report = check(raw, secrets)
    assert (report.errors[0].line, report.errors[0].seq) == (10, 11)
    assert "entry 10 missing" in report.errors[0].message


def test_swapped_entries_are_found(tmp_path: Path, secrets: Secrets) -> None:
    write_log(tmp_path / "audit.log", secrets)
    raw = lines(tmp_path / "audit.log")
    raw[12], raw[13] = raw[13], raw[12]
    report = check(raw, secrets)
    messages = [str(f) for f in report.errors]
    assert any("line 13 (seq 14)" in m and "missing" in m for m in messages)
    assert any("line 14 (seq 13)" in m and "out of order" in m for m in messages)


def test_a_cut_off_end_is_found_by_the_anchor(tmp_path: Path, secrets: Secrets) -> None:
    anchors = write_log(tmp_path / "audit.log", secrets)
    raw = lines(tmp_path / "audit.log")[:20]
    report = check(raw, secrets, anchors[-1])
    assert not report.ok
    assert "truncated" in report.errors[0].message


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["edit", "delete", "swap", "duplicate"]),
    at=st.integers(min_value=0, max_value=27),
    other=st.integers(min_value=0, max_value=27),
)
def test_any_single_tampering_is_found(kind: str, at: int, other: int) -> None:
    secrets = _SECRETS
    raw = list(_PRISTINE)
    if kind == "edit":
        entry = json.loads(raw[at])
        entry["ts"] = entry["ts"] + 1
        raw[at] = json.dumps(entry).encode() + b"\n"
    elif kind == "delete":
        del raw[at]
    elif kind == "swap":
        if at == other:
            return
        raw[at], raw[other] = raw[other], raw[at]
    else:
        raw.insert(other, raw[at])
    report = check(raw, secrets, _ANCHOR)
    assert not report.ok


_SECRETS = Secrets.generate()


def _pristine() -> tuple[list[bytes], tuple[int, str, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.log"
        anchors = write_log(path, _SECRETS)
        return lines(path), anchors[-1]


_PRISTINE, _ANCHOR = _pristine()


def test_a_torn_last_line_is_repaired_and_recorded(tmp_path: Path, secrets: Secrets) -> None:
    path = tmp_path / "audit.log"
    write_log(path, secrets, n=4)
    with path.open("ab") as f:
        f.write(b'{"seq": 99, "kind": "CommandS')  # the process died mid-write
    report = check(lines(path), secrets)
    assert report.ok and any("incomplete" in str(f) for f in report.findings)
    log = AuditLog(path, secrets.audit_key)
    log.append("CommandSent", "ann", {})
    log.close()
    report = check(lines(path), secrets)
    assert report.ok and not any("incomplete" in str(f) for f in report.findings)
    kinds = [json.loads(x)["kind"] for x in lines(path)]
    assert "AuditTailRepaired" in kinds


APPENDER = r"""
import sys
from pathlib import Path
from twinworks.security.audit import AuditLog
log = AuditLog(Path(sys.argv[1]))
for i in range(150):
    log.append("UserChanged", sys.argv[2], {"i": i})
log.close()
"""


def test_two_processes_appending_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(path), who]) for who in ("a", "b")
    ]
    for proc in procs:
        assert proc.wait(60) == 0
    report = verify_log(lines(path), None)
    assert report.ok, report.findings[:5]
    assert report.entries == 300


def test_the_cli_verifies_a_copy_and_says_where(tmp_path: Path, secrets: Secrets) -> None:
    data = tmp_path / "data"
    (data / "security").mkdir(parents=True)
    path = data / "security" / "audit.log"
    write_log(path, secrets)
    (data / "security" / "audit.pub").write_bytes(secrets.audit_public_pem)
    good = runner.invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert good.exit_code == 0, good.output
    assert "ok: 28 entries" in good.output
    copy = tmp_path / "copy.log"
    raw = lines(path)
    del raw[4]
    copy.write_bytes(b"".join(raw))
    bad = runner.invoke(
        app,
        ["audit", "verify", str(copy), "--public-key", str(data / "security" / "audit.pub")],
    )
    assert bad.exit_code == 1
    assert "line 5 (seq 6)" in bad.output and "entry 5 missing" in bad.output
    assert "TAMPERED" in bad.output
    assert os.stat(path).st_mode & 0o777 == 0o600
