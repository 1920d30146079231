"""The REST + streaming API (FastAPI)."""

from twinworks.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
