"""The audit trail: read it, and verify its hash chain and signatures (administrators)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from twinworks.api.auth_schemas import AuditEntryOut, AuditVerifyOut
from twinworks.api.deps import SecurityDep
from twinworks.security.audit import verify_log

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntryOut])
async def list_entries(
    security: SecurityDep,
    after_seq: Annotated[int, Query(ge=0, description="entries after this sequence number")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(security.audit.entries, after_seq, limit)


@router.get("/verify", response_model=AuditVerifyOut)
async def verify(security: SecurityDep) -> dict[str, Any]:
    """Check the whole log against its hashes, order, signatures and the stored anchor."""
    public_key = security.secrets.audit_key.public_key()
    report = await asyncio.to_thread(
        lambda: verify_log(security.audit.lines(), public_key, security.users.audit_anchor())
    )
    return {
        "ok": report.ok,
        "summary": report.summary(),
        "entries": report.entries,
        "checkpoints": report.checkpoints,
        "last_seq": report.last_seq,
        "signed_seq": report.signed_seq,
        "findings": [str(f) for f in report.findings],
    }
