"""Prognostics in the runtime: tool RUL of the CNC twins and the maintenance plan."""

from twinworks.services.prognostics.service import MaintenanceCalendar, PrognosticsService

__all__ = ["MaintenanceCalendar", "PrognosticsService"]
