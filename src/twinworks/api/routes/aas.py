"""A read-only Asset Administration Shell API (AAS Part 2, v3.0) under ``/api/aas/v3``.

The shell and submodel repositories, read-only, serving the shells ``twinworks aas
export`` writes with live values (routes in :mod:`.aas_repository`). They need the
Eclipse BaSyx SDK, an optional dependency (``pip install 'twinworks[aas]'``):
without it the rest of the API serves as before and these routes are absent.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

__all__ = ["install"]

log = logging.getLogger(__name__)


def install(app: FastAPI) -> bool:
    """Serve the AAS API on ``app`` and declare its access policy; False without basyx."""
    try:
        from twinworks.api.routes import aas_repository
    except ImportError as exc:
        log.info("AAS API not served (%s): pip install 'twinworks[aas]'", exc)
        return False
    app.include_router(aas_repository.router)
    app.state.policy.update(aas_repository.POLICY)
    return True
