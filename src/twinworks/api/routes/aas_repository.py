"""The routes of the read-only AAS Part 2 API (v3.0) under ``/api/aas/v3``; see :mod:`.aas`.

The shell repository and the submodel repository, as an AAS client (BaSyx, AASX
Package Explorer, a Catena-X connector) reads them: the same shells ``twinworks aas
export`` writes, with the operational-data submodel built from the twin's live
state at each request (latest reported values, model estimates, RUL).

Identifiers in paths are base64url-encoded, as Part 2 prescribes; an idShortPath is
dot-separated (``Reported.spindle_speed``). Every route needs the viewer role
somewhere and shows only the twins the caller may see: a shell of another twin is
"not found", like one that does not exist. Errors use the Part 2 ``Result`` body
(``{"messages": [...]}``).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import math
import time
from typing import Annotated, Any

from basyx.aas import model
from basyx.aas.adapter.json import AASToJsonEncoder
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from twinworks.api.deps import get_principal, get_prognostics, get_runtime, visible_twins
from twinworks.api.policy import listing
from twinworks.runtime.engine import Runtime
from twinworks.security.roles import Principal, Role
from twinworks.services.prognostics.service import PrognosticsService
from twinworks.spec.interop.aas_export import (
    SUBMODELS,
    OperationalData,
    ShellWriter,
    default_prefix,
    submodel_id,
)

__all__ = ["AAS_PREFIX", "POLICY", "AasResult", "router", "value_only"]

AAS_PREFIX = "/api/aas/v3"


class AasMessage(BaseModel):
    code: str
    messageType: str  # the name AAS Part 2 gives it
    text: str
    timestamp: str


class AasResult(BaseModel):
    """The body of an error, as AAS Part 2 defines it."""

    messages: list[AasMessage]


_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": AasResult, "description": "a bad identifier, limit, cursor, level or extent"},
    404: {
        "model": AasResult,
        "description": "no such shell, submodel or element (or none the caller may see)",
    },
}
router = APIRouter(prefix=AAS_PREFIX, tags=["asset administration shell"], responses=_RESPONSES)

_SHELL = "/shells/{aas_id}"
_SM = "/submodels/{submodel_id}"
_ELEMENTS = "/submodel-elements"
_ELEMENT = _ELEMENTS + "/{id_short_path}"


# the shared dependencies are plain functions, which FastAPI runs in its thread pool;
# these reads are cheap, and on the event loop they spare two thread hand-offs a request
async def _runtime(request: Request) -> Runtime:
    return get_runtime(request)


async def _principal(request: Request) -> Principal:
    return get_principal(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
PrincipalDep = Annotated[Principal, Depends(_principal)]

MAX_LIMIT = 1000
# declared as text and checked here, so that a bad value is a Part 2 error (400, Result)
Limit = Annotated[str | None, Query(description=f"results per page, 1 to {MAX_LIMIT}")]
Cursor = Annotated[str | None, Query(description="where the previous page ended")]
Level = Annotated[str | None, Query(description="deep (default) or core: direct children only")]
Extent = Annotated[str | None, Query(description="withoutBlobValue (default) or withBlobValue")]


class _NotFound(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text


def _result(status: int, text: str) -> JSONResponse:
    """The AAS Part 2 ``Result`` body of an error."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return JSONResponse(
        {
            "messages": [
                {"code": str(status), "messageType": "Error", "text": text, "timestamp": stamp}
            ]
        },
        status_code=status,
    )


def _json(data: Any) -> Response:
    return Response(json.dumps(data, cls=AASToJsonEncoder), media_type="application/json")


def _decode(encoded: str, what: str) -> str:
    """A base64url-encoded identifier (padding optional) as text."""
    try:
        padded = encoded + "=" * (-len(encoded) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _NotFound(
            400, f"{what} {encoded!r} is not base64url-encoded UTF-8 (see AAS Part 2)"
        ) from None


class _Shells:
    """The shells of a runtime's twins, built once; live values filled in per request."""

    def __init__(
        self, runtime: Runtime, prognostics: PrognosticsService | None, api_url: str
    ) -> None:
        definition = runtime.definition
        self.runtime = runtime
        self.prognostics = prognostics  # RUL estimates, if this server runs prognostics
        self.prefix = default_prefix(definition.name or "plant")
        self.writer = ShellWriter(definition, self.prefix, api_url)
        self.twin_of: dict[str, str] = {}
        for twin in definition.twins:
            self.twin_of[self.writer.shell(twin, None)] = twin.id
            for which in SUBMODELS:
                self.twin_of[submodel_id(self.prefix, twin.id, which)] = twin.id

    def live(self, twin_id: str) -> OperationalData:
        view = self.runtime.twin_view(twin_id)
        service = self.prognostics
        estimate = service.estimates.get(twin_id) if service is not None else None
        return OperationalData(
            reported={s: (v["ts"], v["value"]) for s, v in view["reported"].items()},
            desired={s: v.get("value") for s, v in view["desired"].items() if isinstance(v, dict)},
            estimates={s: (v["ts"], v["value"]) for s, v in view["virtual"].items()},
            rul=estimate.as_dict() if estimate is not None else None,
        )

    def refresh(self, twin_id: str) -> None:
        """Rebuild the twin's operational-data submodel from its state now."""
        definition = self.runtime.definition
        twin = definition.twin(twin_id)
        fresh = self.writer.operational(twin, definition.types[twin.type], self.live(twin_id))
        store = self.writer.store
        old = store.get(fresh.id)
        if old is not None:
            store.discard(old)
        store.add(fresh)

    def get(self, identifier: str, visible: list[str] | None, kind: type) -> Any:
        twin_id = self.twin_of.get(identifier)
        obj = self.writer.store.get(identifier) if twin_id is not None else None
        hidden = visible is not None and twin_id not in visible
        if twin_id is None or obj is None or not isinstance(obj, kind) or hidden:
            what = "shell" if kind is model.AssetAdministrationShell else "submodel"
            raise _NotFound(404, f"no {what} with the id {identifier!r}")
        if identifier == submodel_id(self.prefix, twin_id, "OperationalData"):
            self.refresh(twin_id)
            obj = self.writer.store.get(identifier)
        return obj

    def all(self, kind: type, visible: list[str] | None) -> list[Any]:
        out = []
        for identifier, twin_id in self.twin_of.items():
            if visible is not None and twin_id not in visible:
                continue
            obj = self.writer.store.get(identifier)
            if isinstance(obj, kind):
                out.append(self.get(identifier, visible, kind))
        return out


def _shells(request: Request, runtime: Runtime) -> _Shells:
    shells = getattr(request.app.state, "aas_shells", None)
    if not isinstance(shells, _Shells) or shells.runtime is not runtime:
        base = str(request.base_url).rstrip("/")
        shells = _Shells(runtime, get_prognostics(request), base)
        request.app.state.aas_shells = shells
    return shells


def _limit(text: str | None) -> int:
    if text is None:
        return 100
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _NotFound(400, f"limit {text!r} is not a number from 1 to {MAX_LIMIT}")
    return int(text)


def _level(level: str | None, extent: str | None) -> bool:
    """Whether only direct children are wanted (level=core); checks both modifiers."""
    if level not in (None, "deep", "core"):
        raise _NotFound(400, f"level {level!r} is neither 'deep' nor 'core'")
    if extent not in (None, "withoutBlobValue", "withBlobValue"):
        raise _NotFound(400, f"extent {extent!r} is neither 'withoutBlobValue' nor 'withBlobValue'")
    return level == "core"


def _core(data: Any, depth: int = 0) -> Any:
    """Level core: collections and lists below the first level lose their children."""
    if isinstance(data, list):
        return [_core(d, depth) for d in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        nested = key in ("value", "submodelElements") and isinstance(value, list)
        if (
            nested
            and data.get("modelType") in ("SubmodelElementCollection", "SubmodelElementList")
            and depth >= 1
        ):
            continue
        out[key] = _core(value, depth + 1) if nested else value
    return out


def _page(items: list[Any], limit: int, cursor: str | None) -> dict[str, Any]:
    start = 0
    if cursor:
        text = _decode(cursor, "cursor")
        if not text.isdigit():
            raise _NotFound(400, f"cursor {cursor!r} is not one this server gave")
        start = int(text)
    end = start + limit
    metadata: dict[str, Any] = {}
    if end < len(items):
        metadata["cursor"] = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=")
    return {"paging_metadata": metadata, "result": items[start:end]}


def value_only(element: Any) -> Any:
    """The ValueOnly serialisation (AAS Part 2) of a submodel or submodel element."""
    if isinstance(element, model.Submodel):
        return {e.id_short: value_only(e) for e in element.submodel_element if _has_value(e)}
    return _value(element)


def _value(element: Any) -> Any:
    if isinstance(element, model.Property):
        value = element.value
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        return str(value)
    if isinstance(element, model.MultiLanguageProperty):
        return [{lang: text} for lang, text in (element.value or {}).items()]
    if isinstance(element, model.SubmodelElementCollection):
        return {e.id_short: _value(e) for e in element.value if _has_value(e)}
    if isinstance(element, model.SubmodelElementList):
        return [_value(e) for e in element.value]
    if isinstance(element, model.Range):
        return {"min": element.min, "max": element.max}
    if isinstance(element, model.RelationshipElement):
        return {"first": _plain(element.first), "second": _plain(element.second)}
    if isinstance(element, model.ReferenceElement):
        return _plain(element.value)
    if isinstance(element, model.File | model.Blob):
        value = element.value
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        return {"contentType": element.content_type, "value": value}
    return None


def _has_value(element: Any) -> bool:
    # Operations, capabilities and events have no value (Part 2, ValueOnly)
    return not isinstance(element, model.Operation | model.Capability | model.BasicEventElement)


def _plain(reference: Any) -> Any:
    return None if reference is None else json.loads(json.dumps(reference, cls=AASToJsonEncoder))


def _element(submodel: model.Submodel, path: str) -> Any:
    """The element at a dot-separated idShortPath; ``[i]`` indexes a list."""
    node: Any = submodel
    for part in path.split("."):
        name, _, rest = part.partition("[")
        try:
            node = node.get_referable(name) if name else node
            while rest:
                index, _, rest = rest.partition("]")
                node = list(node.value)[int(index)]
                rest = rest.removeprefix("[")
        except (KeyError, AttributeError, ValueError, IndexError, TypeError):
            raise _NotFound(
                404, f"submodel {submodel.id!r} has no element at idShortPath {path!r}"
            ) from None
    if node is submodel:
        raise _NotFound(404, f"submodel {submodel.id!r} has no element at idShortPath {path!r}")
    return node


def _visible(runtime: Runtime, principal: Any) -> list[str] | None:
    return visible_twins(runtime, principal, Role.VIEWER)


async def get_all_shells(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    form: str = "normal",
    limit: Limit = None,
    cursor: Cursor = None,
    id_short: Annotated[str | None, Query(alias="idShort")] = None,
    asset_ids: Annotated[
        list[str] | None,
        Query(alias="assetIds", description="base64url-encoded SpecificAssetIds (JSON)"),
    ] = None,
) -> Response:
    try:
        wanted = [_asset_id(a) for a in asset_ids or []]
        shells = _shells(request, runtime).all(
            model.AssetAdministrationShell, _visible(runtime, principal)
        )
        shells = [
            s
            for s in shells
            if (id_short is None or s.id_short == id_short)
            and all(_has_asset_id(s, name, value) for name, value in wanted)
        ]
        page = _page(shells, _limit(limit), cursor)
        if form == "reference":
            page["result"] = [_form_of(s, "reference", False) for s in page["result"]]
        return _json(page)
    except _NotFound as exc:
        return _result(exc.status, exc.text)


def _asset_id(encoded: str) -> tuple[str, str]:
    text = _decode(encoded, "assetIds")
    try:
        data = json.loads(text)
        return str(data["name"]), str(data["value"])
    except (ValueError, KeyError, TypeError):
        raise _NotFound(400, f"assetIds {encoded!r} is not a {{name, value}} object") from None


def _has_asset_id(shell: model.AssetAdministrationShell, name: str, value: str) -> bool:
    info = shell.asset_information
    if name == "globalAssetId":
        return info.global_asset_id == value
    return any(s.name == name and s.value == value for s in info.specific_asset_id)


def _shell(request: Request, runtime: Runtime, principal: Any, aas_id: str) -> Any:
    identifier = _decode(aas_id, "aasIdentifier")
    return _shells(request, runtime).get(
        identifier, _visible(runtime, principal), model.AssetAdministrationShell
    )


@router.get(_SHELL, summary="GetAssetAdministrationShellById")
async def get_shell(
    request: Request, runtime: RuntimeDep, principal: PrincipalDep, aas_id: str
) -> Response:
    try:
        return _json(_shell(request, runtime, principal, aas_id))
    except _NotFound as exc:
        return _result(exc.status, exc.text)


@router.get(_SHELL + "/asset-information", summary="GetAssetInformation")
async def get_asset_information(
    request: Request, runtime: RuntimeDep, principal: PrincipalDep, aas_id: str
) -> Response:
    try:
        return _json(_shell(request, runtime, principal, aas_id).asset_information)
    except _NotFound as exc:
        return _result(exc.status, exc.text)


@router.get(_SHELL + "/submodel-refs", summary="GetAllSubmodelReferences")
async def get_submodel_refs(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    aas_id: str,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    try:
        shell = _shell(request, runtime, principal, aas_id)
        refs = sorted(shell.submodel, key=lambda r: str(r.key[-1].value))
        return _json(_page(refs, _limit(limit), cursor))
    except _NotFound as exc:
        return _result(exc.status, exc.text)


def _form_of(obj: Any, form: str, core: bool) -> Any:
    """One shell, submodel or element in a Part 2 serialisation form."""
    if form == "value":
        if isinstance(obj, model.Submodel):
            return value_only(obj)
        if not _has_value(obj):
            raise _NotFound(400, f"{type(obj).__name__} {_id_short_path(obj)!r} has no value")
        # a single element's ValueOnly form names it: {idShort: value}
        return {obj.id_short: value_only(obj)}
    if form == "reference":
        return _plain(model.ModelReference.from_referable(obj))
    if form == "path":
        containers = (
            model.Submodel,
            model.SubmodelElementCollection,
            model.SubmodelElementList,
            model.Entity,
        )
        if not isinstance(obj, containers):
            raise _NotFound(
                400, f"{type(obj).__name__} {_id_short_path(obj)!r} holds no elements: no $path"
            )
        return _paths(obj, core)
    plain = json.loads(json.dumps(obj, cls=AASToJsonEncoder))
    if form == "metadata":
        return _without_values(plain)
    return _core(plain) if core else plain


# what a $metadata answer leaves out: the values, and the children of containers
_VALUE_KEYS = {
    "Submodel": ("submodelElements",),
    "Property": ("value", "valueId"),
    "MultiLanguageProperty": ("value", "valueId"),
    "Range": ("min", "max"),
    "File": ("value",),
    "Blob": ("value",),
    "ReferenceElement": ("value",),
    "SubmodelElementCollection": ("value",),
    "SubmodelElementList": ("value",),
    "Entity": ("statements", "globalAssetId", "specificAssetIds"),
}


def _without_values(plain: dict[str, Any]) -> dict[str, Any]:
    drop = _VALUE_KEYS.get(str(plain.get("modelType")), ())
    return {k: v for k, v in plain.items() if k not in drop}


def _id_short_path(element: Any) -> str:
    """``Reported.spindle_speed``; an element of a list is ``[i]``."""
    segments: list[str] = []
    node = element
    while node is not None and not isinstance(node, model.Submodel):
        parent = node.parent
        if isinstance(parent, model.SubmodelElementList):
            segments.append(f"[{list(parent.value).index(node)}]")
        else:
            segments.append(node.id_short)
        node = parent
    text = ""
    for segment in reversed(segments):
        text += segment if (not text or segment.startswith("[")) else "." + segment
    return text


def _children(obj: Any) -> list[Any]:
    if isinstance(obj, model.Submodel):
        return list(obj.submodel_element)
    if isinstance(obj, model.SubmodelElementCollection | model.SubmodelElementList):
        return list(obj.value)
    return []


def _paths(obj: Any, core: bool) -> list[str]:
    """idShortPaths: of the element and what it holds (core: its direct children only)."""
    out = [] if isinstance(obj, model.Submodel) else [_id_short_path(obj)]
    stack = [(c, 1) for c in reversed(_children(obj))]
    while stack:
        node, depth = stack.pop()
        out.append(_id_short_path(node))
        if not core or depth < 1:
            stack.extend((c, depth + 1) for c in reversed(_children(node)))
    return out


async def get_all_submodels(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    form: str = "normal",
    limit: Limit = None,
    cursor: Cursor = None,
    level: Level = None,
    extent: Extent = None,
    id_short: Annotated[str | None, Query(alias="idShort")] = None,
    semantic_id: Annotated[
        str | None, Query(alias="semanticId", description="base64url-encoded semantic id")
    ] = None,
) -> Response:
    try:
        core = _level(level, extent)
        wanted = _decode(semantic_id, "semanticId") if semantic_id else None
        submodels = _shells(request, runtime).all(model.Submodel, _visible(runtime, principal))
        submodels = [
            s
            for s in submodels
            if (id_short is None or s.id_short == id_short)
            and (wanted is None or (s.semantic_id and s.semantic_id.key[0].value == wanted))
        ]
        page = _page(submodels, _limit(limit), cursor)
        if form == "path":  # one entry per submodel, as Part 2 pages them: its idShort
            page["result"] = [s.id_short for s in page["result"]]
        else:
            page["result"] = [_form_of(s, form, core) for s in page["result"]]
        return _json(page)
    except _NotFound as exc:
        return _result(exc.status, exc.text)


def _submodel(
    request: Request, runtime: Runtime, principal: Any, encoded: str, aas_id: str | None
) -> model.Submodel:
    identifier = _decode(encoded, "submodelIdentifier")
    if aas_id is not None:
        shell = _shell(request, runtime, principal, aas_id)
        if not any(r.key[-1].value == identifier for r in shell.submodel):
            raise _NotFound(404, f"shell {shell.id!r} has no submodel {identifier!r}")
    sm: model.Submodel = _shells(request, runtime).get(
        identifier, _visible(runtime, principal), model.Submodel
    )
    return sm


async def get_submodel(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    submodel_id: str,
    aas_id: str | None = None,
    form: str = "normal",
    level: Level = None,
    extent: Extent = None,
) -> Response:
    try:
        core = _level(level, extent)
        sm = _submodel(request, runtime, principal, submodel_id, aas_id)
        return _json(_form_of(sm, form, core))
    except _NotFound as exc:
        return _result(exc.status, exc.text)


async def get_all_elements(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    submodel_id: str,
    aas_id: str | None = None,
    form: str = "normal",
    limit: Limit = None,
    cursor: Cursor = None,
    level: Level = None,
    extent: Extent = None,
) -> Response:
    try:
        core = _level(level, extent)
        sm = _submodel(request, runtime, principal, submodel_id, aas_id)
        page = _page(list(sm.submodel_element), _limit(limit), cursor)
        if form == "path":  # one path per element, as Part 2 pages them
            page["result"] = [_id_short_path(e) for e in page["result"]]
        elif form == "value":
            page["result"] = [{e.id_short: value_only(e)} for e in page["result"] if _has_value(e)]
        else:
            page["result"] = [_form_of(e, form, core) for e in page["result"]]
        return _json(page)
    except _NotFound as exc:
        return _result(exc.status, exc.text)


async def get_element(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    submodel_id: str,
    id_short_path: str,
    aas_id: str | None = None,
    form: str = "normal",
    level: Level = None,
    extent: Extent = None,
) -> Response:
    try:
        core = _level(level, extent)
        sm = _submodel(request, runtime, principal, submodel_id, aas_id)
        return _json(_form_of(_element(sm, id_short_path), form, core))
    except _NotFound as exc:
        return _result(exc.status, exc.text)


def _with_form(handler: Any, form: str, path: str = "") -> Any:
    """The handler with its serialisation form fixed (one route per form).

    ``aas_id`` is a parameter only of the routes under a shell (its ``path`` names it).
    """

    async def route(**kwargs: Any) -> Response:
        answer: Response = await handler(form=form, **kwargs)
        return answer

    hidden = {"form"} if "{aas_id}" in path else {"form", "aas_id"}
    params = [p for n, p in inspect.signature(handler).parameters.items() if n not in hidden]
    route.__signature__ = inspect.Signature(params, return_annotation=Response)  # type: ignore[attr-defined]
    return route


_FORMS = (
    ("", "normal", ""),
    ("/$metadata", "metadata", "-Metadata"),
    ("/$value", "value", "-ValueOnly"),
    ("/$reference", "reference", "-Reference"),
    ("/$path", "path", "-Path"),
)

for _suffix, _form, _name in _FORMS:
    router.add_api_route(
        "/submodels" + _suffix,
        _with_form(get_all_submodels, _form),
        methods=["GET"],
        summary="GetAllSubmodels" + _name,
        name="GetAllSubmodels" + _name,
    )
# each submodel route twice: in the submodel repository, and under the shell (superpath)
for _prefix in ("", _SHELL):
    _via = " (via the shell)" if _prefix else ""
    for _suffix, _form, _name in _FORMS:
        router.add_api_route(
            _prefix + _SM + _ELEMENTS + _suffix,
            _with_form(get_all_elements, _form, _prefix),
            methods=["GET"],
            summary="GetAllSubmodelElements" + _name + _via,
            name="GetAllSubmodelElements" + _name + _prefix,
        )
    for _suffix, _form, _name in _FORMS:
        router.add_api_route(
            _prefix + _SM + _suffix,
            _with_form(get_submodel, _form, _prefix),
            methods=["GET"],
            summary="GetSubmodelById" + _name + _via,
            name="GetSubmodelById" + _name + _prefix,
        )
        router.add_api_route(
            _prefix + _SM + _ELEMENT + _suffix,
            _with_form(get_element, _form, _prefix),
            methods=["GET"],
            summary="GetSubmodelElementByPath" + _name + _via,
            name="GetSubmodelElementByPath" + _name + _prefix,
        )


for _suffix, _form, _name in (("", "normal", ""), ("/$reference", "reference", "-Reference")):
    router.add_api_route(
        "/shells" + _suffix,
        _with_form(get_all_shells, _form),
        methods=["GET"],
        summary="GetAllAssetAdministrationShells" + _name,
        name="GetAllAssetAdministrationShells" + _name,
    )


@router.get(_SHELL + "/$reference", summary="GetAssetAdministrationShellById-Reference")
async def get_shell_reference(
    request: Request, runtime: RuntimeDep, principal: PrincipalDep, aas_id: str
) -> Response:
    try:
        return _json(_form_of(_shell(request, runtime, principal, aas_id), "reference", False))
    except _NotFound as exc:
        return _result(exc.status, exc.text)


@router.get("/serialization", summary="GenerateSerializationByIds")
async def get_serialization(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    aas_ids: Annotated[list[str] | None, Query(alias="aasIds")] = None,
    submodel_ids: Annotated[list[str] | None, Query(alias="submodelIds")] = None,
    include_cds: Annotated[str, Query(alias="includeConceptDescriptions")] = "true",
) -> Response:
    """An environment (AAS JSON) of the given shells and submodels; none given: all of them."""
    try:
        include_cds = include_cds.lower()
        if include_cds not in ("true", "false"):
            raise _NotFound(400, f"includeConceptDescriptions {include_cds!r} is not true/false")
        shells = _shells(request, runtime)
        visible = _visible(runtime, principal)
        chosen = [
            shells.get(_decode(a, "aasIds"), visible, model.AssetAdministrationShell)
            for a in aas_ids or []
        ] + [
            shells.get(_decode(s, "submodelIds"), visible, model.Submodel)
            for s in submodel_ids or []
        ]
        if not aas_ids and not submodel_ids:
            chosen = shells.all(model.AssetAdministrationShell, visible)
            chosen += shells.all(model.Submodel, visible)
        if include_cds == "true":
            chosen += [o for o in shells.writer.store if isinstance(o, model.ConceptDescription)]
        env: dict[str, list[Any]] = {
            "assetAdministrationShells": [],
            "submodels": [],
            "conceptDescriptions": [],
        }
        for obj in chosen:
            key = (
                "assetAdministrationShells"
                if isinstance(obj, model.AssetAdministrationShell)
                else "submodels"
                if isinstance(obj, model.Submodel)
                else "conceptDescriptions"
            )
            env[key].append(obj)
        return _json({k: v for k, v in env.items() if v})
    except _NotFound as exc:
        return _result(exc.status, exc.text)


# the profiles whose operations this API serves (checked by tests/api/test_aas_conformance.py)
PROFILES = [
    "https://admin-shell.io/aas/API/3/0/AssetAdministrationShellRepositoryServiceSpecification/SSP-002",
    "https://admin-shell.io/aas/API/3/0/SubmodelRepositoryServiceSpecification/SSP-002",
]


@router.get("/description", summary="GetDescription")
async def get_description() -> Response:
    return _json({"profiles": PROFILES})


# a path with a literal segment ($reference, $metadata, ...) before one with a parameter in
# its place: /shells/$reference must not be read as the shell called "$reference"
router.routes.sort(key=lambda route: str(getattr(route, "path", "")).count("{"))

# each route lists across twins and filters to those the caller may see (see module doc)
POLICY = {("GET", str(getattr(route, "path", ""))): listing(Role.VIEWER) for route in router.routes}
