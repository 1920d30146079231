"""The composition root, above the API, the CLI and the dashboard: what runs, built once."""

from twinworks.compose.build import Assembly, ServiceFactory, Settings, build, standard_services
from twinworks.compose.server import TwinServer

__all__ = ["Assembly", "ServiceFactory", "Settings", "TwinServer", "build", "standard_services"]
