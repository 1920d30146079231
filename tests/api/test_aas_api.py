"""The read-only AAS Part 2 API: shells and submodels of the real app with live values,
behind the same authentication and roles, answers checked with the IDTA's checker."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from aas_test_engines import file as aas_check

from twinworks.security import Grant, Role
from twinworks.spec.interop.aas_export import default_prefix, shell_id, submodel_id

pytestmark = pytest.mark.anyio

AAS = "http://test/api/aas/v3"
PREFIX = default_prefix("test-line")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def checked(data: dict[str, Any], model_type: str) -> dict[str, Any]:
    """The answer, after the IDTA checker accepted it as an AAS v3.0 object of that type."""
    key = {"AssetAdministrationShell": "assetAdministrationShells", "Submodel": "submodels"}
    result = aas_check.check_json_data({key[model_type]: [data]})
    assert result.ok(), "\n".join(result.to_lines())
    return data


async def test_shells_list_and_read(api: httpx.AsyncClient) -> None:
    answer = await api.get(f"{AAS}/shells")
    assert answer.status_code == 200
    shells = answer.json()["result"]
    assert [s["idShort"] for s in shells] == ["line1", "m1", "m2"]
    for shell in shells:
        checked(shell, "AssetAdministrationShell")
    one = (await api.get(f"{AAS}/shells/{b64(shell_id(PREFIX, 'm1'))}")).json()
    assert checked(one, "AssetAdministrationShell")["assetInformation"]["assetType"] == "machine"
    refs = (await api.get(f"{AAS}/shells/{b64(shell_id(PREFIX, 'm1'))}/submodel-refs")).json()
    assert sorted(r["keys"][0]["value"] for r in refs["result"]) == sorted(
        submodel_id(PREFIX, "m1", w) for w in ("OperationalData", "TechnicalData", "TimeSeries")
    )
    # paging: a cursor while there is more
    first = (await api.get(f"{AAS}/shells", params={"limit": 2})).json()
    assert len(first["result"]) == 2 and first["paging_metadata"]["cursor"]
    rest = await api.get(
        f"{AAS}/shells", params={"limit": 2, "cursor": first["paging_metadata"]["cursor"]}
    )
    assert [s["idShort"] for s in rest.json()["result"]] == ["m2"]
    assert "cursor" not in rest.json()["paging_metadata"]


async def test_submodels_serve_live_values(api: httpx.AsyncClient) -> None:
    now = time.time()
    body = {
        "points": [
            {"twin_id": "m1", "signal": "temperature", "ts": now, "value": 41.5, "unit": "degC"},
            {"twin_id": "m1", "signal": "state", "ts": now, "value": "running"},
        ]
    }
    assert (await api.post("/telemetry", json=body)).json()["stored"] == 2
    sm_id = b64(submodel_id(PREFIX, "m1", "OperationalData"))
    sm = (await api.get(f"{AAS}/submodels/{sm_id}")).json()
    checked(sm, "Submodel")
    value = (await api.get(f"{AAS}/submodels/{sm_id}/$value")).json()
    assert value["Reported"]["temperature"] == 41.5
    assert value["Reported"]["state"] == "running"
    assert value["Commands"] == {}  # Operations have no value
    assert value["Desired"] == {"speed": None}  # nothing written yet
    assert (await api.put("/twins/m1/desired/speed", json={"value": 85})).status_code < 300
    value = (await api.get(f"{AAS}/submodels/{sm_id}/$value")).json()
    assert value["Desired"] == {"speed": 85.0}
    element = await api.get(f"{AAS}/submodels/{sm_id}/submodel-elements/Reported.temperature")
    assert element.json()["modelType"] == "Property" and element.json()["value"] == "41.5"
    value = await api.get(f"{AAS}/submodels/{sm_id}/submodel-elements/Reported.temperature/$value")
    assert value.json() == {"temperature": 41.5}
    # a newer value shows at once: the submodel is built from the twin's state per request
    body["points"] = [
        {"twin_id": "m1", "signal": "temperature", "ts": now + 1, "value": 42.0, "unit": "degC"}
    ]
    await api.post("/telemetry", json=body)
    value = await api.get(f"{AAS}/submodels/{sm_id}/submodel-elements/Reported.temperature/$value")
    assert value.json() == {"temperature": 42.0}
    elements = (await api.get(f"{AAS}/submodels/{sm_id}/submodel-elements")).json()["result"]
    assert [e["idShort"] for e in elements] == ["Reported", "Desired", "Commands", "Relationships"]
    rel = (
        await api.get(
            f"{AAS}/submodels/{sm_id}/submodel-elements/Relationships.partOf.partOf_0/$value"
        )
    ).json()
    assert rel["partOf_0"]["second"]["keys"][0]["value"] == shell_id(PREFIX, "line1")


async def test_submodel_repository_filters(api: httpx.AsyncClient) -> None:
    everything = (await api.get(f"{AAS}/submodels")).json()["result"]
    # technical and operational data of three twins; time series of the two with telemetry
    assert len(everything) == 8
    for sm in everything:
        checked(sm, "Submodel")
    series = await api.get(
        f"{AAS}/submodels",
        params={"semanticId": b64("https://admin-shell.io/idta/TimeSeries/1/1")},
    )
    assert [s["id"] for s in series.json()["result"]] == [
        submodel_id(PREFIX, "m1", "TimeSeries"),
        submodel_id(PREFIX, "m2", "TimeSeries"),
    ]
    td = (await api.get(f"{AAS}/submodels", params={"idShort": "TechnicalData"})).json()
    assert len(td["result"]) == 3
    # level=core: the submodel's own elements, without what collections hold
    sm_id = b64(submodel_id(PREFIX, "m1", "OperationalData"))
    deep = (await api.get(f"{AAS}/submodels/{sm_id}")).json()
    core = (await api.get(f"{AAS}/submodels/{sm_id}", params={"level": "core"})).json()
    relationships = [e for e in deep["submodelElements"] if e["idShort"] == "Relationships"]
    assert relationships[0]["value"][0]["value"]  # partOf holds its RelationshipElement
    relationships = [e for e in core["submodelElements"] if e["idShort"] == "Relationships"]
    assert "value" not in relationships[0]
    # a shell's submodel through the shell, and only its own
    via_shell = await api.get(f"{AAS}/shells/{b64(shell_id(PREFIX, 'm1'))}/submodels/{sm_id}")
    assert via_shell.json() == deep
    other = await api.get(f"{AAS}/shells/{b64(shell_id(PREFIX, 'm2'))}/submodels/{sm_id}")
    assert other.status_code == 404
    by_asset = await api.get(
        f"{AAS}/shells",
        params={"assetIds": b64('{"name": "twinworks:twinId", "value": "m2"}')},
    )
    assert [s["idShort"] for s in by_asset.json()["result"]] == ["m2"]


async def test_errors_are_aas_results_never_500(api: httpx.AsyncClient) -> None:
    cases = [
        (f"{AAS}/shells/{b64('urn:nothing')}", 404, "no shell with the id 'urn:nothing'"),
        (f"{AAS}/shells/%%%", 400, "not base64url-encoded"),
        (f"{AAS}/submodels/{b64(shell_id(PREFIX, 'm1'))}", 404, "no submodel with the id"),
        (
            f"{AAS}/submodels/{b64(submodel_id(PREFIX, 'm1', 'OperationalData'))}"
            "/submodel-elements/Reported.nothing",
            404,
            "no element at idShortPath 'Reported.nothing'",
        ),
        (
            f"{AAS}/submodels/{b64(submodel_id(PREFIX, 'm1', 'OperationalData'))}"
            "/submodel-elements/Commands.start/$value",
            400,
            "Operation 'Commands.start' has no value",
        ),
        (f"{AAS}/shells?cursor=bm9wZQ", 400, "is not one this server gave"),
        (f"{AAS}/shells?limit=0", 400, "limit '0' is not a number from 1 to 1000"),
        (f"{AAS}/submodels?level=all", 400, "level 'all' is neither 'deep' nor 'core'"),
        (f"{AAS}/shells?assetIds=e30", 400, "is not a {name, value} object"),
    ]
    for url, status, text in cases:
        answer = await api.get(url)
        assert answer.status_code == status, (url, answer.text)
        (message,) = answer.json()["messages"]
        assert message["messageType"] == "Error" and text in message["text"], message


async def test_same_authentication_and_roles_as_the_rest(api: httpx.AsyncClient) -> None:
    anonymous = await api.get(f"{AAS}/shells", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    security = api.security  # type: ignore[attr-defined]
    security.users.add("m2viewer", [Grant(Role.VIEWER, "m2")])
    token = security.users.create_token("m2viewer", "tests").secret
    as_viewer = {"Authorization": f"Bearer {token}"}
    shells = (await api.get(f"{AAS}/shells", headers=as_viewer)).json()["result"]
    assert [s["idShort"] for s in shells] == ["m2"]
    # another twin's shell and submodels are not found, as if they did not exist
    hidden = await api.get(f"{AAS}/shells/{b64(shell_id(PREFIX, 'm1'))}", headers=as_viewer)
    assert hidden.status_code == 404
    sm = b64(submodel_id(PREFIX, "m1", "OperationalData"))
    assert (await api.get(f"{AAS}/submodels/{sm}/$value", headers=as_viewer)).status_code == 404
    security.users.add("nobody", [])
    token = security.users.create_token("nobody", "tests").secret
    denied = await api.get(f"{AAS}/shells", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 403


async def test_metadata_reference_path_and_serialization_forms(api: httpx.AsyncClient) -> None:
    sm_id = b64(submodel_id(PREFIX, "m1", "OperationalData"))
    base = f"{AAS}/submodels/{sm_id}"
    metadata = (await api.get(f"{base}/$metadata")).json()
    assert metadata["idShort"] == "OperationalData" and "submodelElements" not in metadata
    element = (await api.get(f"{base}/submodel-elements/Reported.temperature/$metadata")).json()
    assert element["valueType"] == "xs:double" and "value" not in element
    reference = (await api.get(f"{base}/submodel-elements/Reported.temperature/$reference")).json()
    assert [k["value"] for k in reference["keys"]] == [
        submodel_id(PREFIX, "m1", "OperationalData"),
        "Reported",
        "temperature",
    ]
    paths = (await api.get(f"{base}/$path")).json()
    assert "Reported.temperature" in paths and "Relationships.partOf.partOf_0" in paths
    core = (await api.get(f"{base}/$path", params={"level": "core"})).json()
    assert "Reported" in core and "Reported.temperature" not in core
    not_a_container = await api.get(f"{base}/submodel-elements/Reported.temperature/$path")
    assert not_a_container.status_code == 400
    env = (
        await api.get(
            f"{AAS}/serialization",
            params={"aasIds": b64(shell_id(PREFIX, "m2")), "includeConceptDescriptions": "false"},
        )
    ).json()
    assert [s["id"] for s in env["assetAdministrationShells"]] == [shell_id(PREFIX, "m2")]
    checked(env["assetAdministrationShells"][0], "AssetAdministrationShell")
    assert "conceptDescriptions" not in env
