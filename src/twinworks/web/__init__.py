"""The web dashboard, served by the API server at ``/`` (see docs/dashboard.md)."""

from twinworks.web.dashboard import find_node_modules, mount_dashboard

__all__ = ["find_node_modules", "mount_dashboard"]
