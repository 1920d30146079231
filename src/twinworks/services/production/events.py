"""Events the production services record (past tense, like the runtime's own)."""

from __future__ import annotations

__all__ = ["SCHEDULE_CREATED", "SCHEDULE_REVISED", "WHATIF_COMPLETED"]

WHATIF_COMPLETED = "WhatIfCompleted"
SCHEDULE_CREATED = "ScheduleCreated"
SCHEDULE_REVISED = "ScheduleRevised"
