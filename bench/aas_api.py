"""AAS API read benchmark: one submodel's ``$value`` beside ``GET /api/v1/twins/{id}``.

Both are read in the same run, through the whole application in process (the
security guard, the routes, JSON), one request at a time, for the same twin of the
ten-station line after telemetry has been ingested:

1. ``GET /api/v1/twins/st03`` — the twin's own view (the baseline);
2. ``GET /api/aas/v3/submodels/{id}/$value`` — the operational-data submodel, built
   from the twin's live state at each request, as ValueOnly JSON;
3. ``GET /api/aas/v3/submodels/{id}/submodel-elements/Reported.queue_length/$value``.

The three are read in alternating half-second rounds, so that a change in the
machine's load affects them alike. Run: ``python bench/aas_api.py`` (``--seconds 2``
for a short run; seconds per endpoint). The last line is the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from pathlib import Path

import httpx

from twinworks.api import create_app
from twinworks.runtime import Runtime
from twinworks.security import Grant, Role, Security
from twinworks.spec import load_definition
from twinworks.spec.interop.aas_export import default_prefix, submodel_id
from twinworks.store import MemoryStore

LINE = Path(__file__).resolve().parent.parent / "examples" / "ten_station_line.yaml"
TWIN = "st03"


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def timed_reads(client: httpx.AsyncClient, url: str, seconds: float) -> tuple[int, float]:
    """Sequential GETs of ``url`` for about ``seconds``: (reads, elapsed); all must be 200."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        response = await client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:200]}")
        n += 1
    return n, time.perf_counter() - start


async def main(seconds: float) -> None:
    definition = load_definition(LINE)
    runtime = Runtime(definition, MemoryStore())
    security = Security.ephemeral()
    security.users.add("bench", [Grant(Role.ADMIN)])
    token = security.users.create_token("bench", "bench").secret
    app = create_app(runtime, security=security)
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            now = time.time()
            points = [
                {"twin_id": TWIN, "signal": "queue_length", "ts": now + i, "value": i % 5}
                for i in range(100)
            ] + [{"twin_id": TWIN, "signal": "state", "ts": now, "value": "cutting"}]
            (await client.post("/api/v1/telemetry", json={"points": points})).raise_for_status()
            sm = b64(submodel_id(default_prefix(definition.name), TWIN, "OperationalData"))
            urls = {
                "twin view": f"/api/v1/twins/{TWIN}",
                "submodel $value": f"/api/aas/v3/submodels/{sm}/$value",
                "element $value": (
                    f"/api/aas/v3/submodels/{sm}/submodel-elements/Reported.queue_length/$value"
                ),
            }
            for url in urls.values():  # warm-up: caches, first-request set-up
                await timed_reads(client, url, 0.2)
            # short alternating rounds, so that a change in machine load hits all three alike
            totals = {name: [0, 0.0] for name in urls}
            rounds = max(1, round(seconds / 0.5))
            for _ in range(rounds):
                for name, url in urls.items():
                    n, elapsed = await timed_reads(client, url, seconds / rounds)
                    totals[name][0] += n
                    totals[name][1] += elapsed
            rates = {name: n / elapsed for name, (n, elapsed) in totals.items()}
            for name, url in urls.items():
                print(f"{name:16s} {rates[name]:8.0f} reads/s   GET {url}")
    finally:
        await runtime.stop()
    ratio = rates["submodel $value"] / rates["twin view"]
    print(
        f"summary: AAS submodel $value {rates['submodel $value']:.0f} reads/s, "
        f"element $value {rates['element $value']:.0f} reads/s, "
        f"GET /api/v1/twins/{{id}} {rates['twin view']:.0f} reads/s "
        f"(submodel $value at {ratio:.0%} of the twin view), one client, in process"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint")
    args = parser.parse_args()
    asyncio.run(main(args.seconds))
