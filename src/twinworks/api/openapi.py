"""The OpenAPI schema, completed with what the guard adds to every route.

The guard answers 401 and 403 before a route runs, and command routes may answer
429, so those answers and the bearer scheme are written into the schema from the
policy table, rather than into every route by hand.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["secured_openapi"]

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def secured_openapi(app: FastAPI) -> dict[str, Any]:
    from twinworks.api.schemas import ErrorBody

    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if "ErrorBody" not in schemas:
        defs = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(defs.pop("$defs", {}))
        schemas["ErrorBody"] = defs
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "a session JWT from POST /api/v1/auth/login, or an API token twk_...",
        }
    }
    policy = app.state.policy
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            rule = policy.get((method.upper(), path))
            responses = operation.setdefault("responses", {})
            responses.setdefault("413", _error("the request body is too large"))
            # every error is answered as ErrorBody, FastAPI's own 422 included (see errors.py)
            responses["422"] = _error(
                responses.get("422", {}).get("description") or "invalid request or value"
            )
            if "requestBody" in operation or method.upper() in ("POST", "PUT", "PATCH"):
                responses.setdefault("400", _error("the body is not valid UTF-8 JSON"))
                responses.setdefault("415", _error("the body is not JSON (Content-Type)"))
                responses["413"] = _error(
                    "the request body is too large, or a list in it has too many items"
                )
            if "{" in path:
                responses.setdefault("404", _error("no such twin, signal or resource"))
            for code, response in responses.items():
                # an error is JSON even where the route answers a picture or a page
                content = response.get("content")
                if code[:1] in "45" and content and "application/json" not in content:
                    response["content"] = {"application/json": {"schema": _ERROR_REF}}
            if rule is not None and rule.is_public:
                operation["security"] = []
                continue
            operation["security"] = [{"bearer": []}]
            responses.setdefault("401", _error("no valid credentials (see WWW-Authenticate)"))
            responses.setdefault("403", _error("the caller lacks the role or scope needed"))
            if method.upper() in ("PUT", "POST") and "/twins/" in path:
                responses.setdefault("429", _error("too many commands for this twin"))
    return schema
