"""Benchmark: an 8-hour shift of a ten-station line with failures, twinworks vs bare SimPy.

    python bench/des.py [--runs 7] [--seed 0]

The line is examples/ten_station_line.yaml (ten stations in series with finite
buffers, breakdowns and repairs, a conveyor between stations 5 and 6, Poisson
arrivals). The same line is written a second time in bare SimPy -- the least
code that simulates it -- and both are timed over the same seeds. Printed: per
variant the median and best wall time of one 8-hour run and the parts finished
(the two should agree statistically: it is the same line), then one summary line
with the overhead ratio (target: twinworks under 1 s and at most 2x bare SimPy).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import simpy

from twinworks.services.production.des import LineState, simulate
from twinworks.services.production.line import LineModel, line_from_definition
from twinworks.spec import load_definition

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ten_station_line.yaml"
HORIZON_S = 8 * 3600.0
# a Monday 06:00 UTC: the start of the early shift, so the whole run is worked time
ORIGIN = datetime(2026, 3, 2, 6, 0, tzinfo=UTC).timestamp()


def bare_simpy(line: LineModel, seed: int, horizon_s: float) -> int:
    """The same line in plain SimPy: buffers, machines with failures, the conveyor."""
    env = simpy.Environment()
    ids = list(line.stations)
    product = next(iter(line.products.values()))
    stations = [line.stations[s] for s in ids]
    buffers = [simpy.Store(env, capacity=s.buffer or math.inf) for s in stations]
    conveyors = {
        k: simpy.Resource(env, capacity=t.capacity or 10**9) for k, t in line.transports.items()
    }
    done = [0]

    def lognormal(rng: random.Random, mean: float, cv: float) -> float:
        s2 = math.log1p(cv * cv)
        return rng.lognormvariate(math.log(mean) - s2 / 2, math.sqrt(s2))

    def ride(conveyor: str, req: Any, part: int, dest: int) -> Any:
        yield env.timeout(line.transports[conveyor].time.mean)
        yield buffers[dest].put(part)
        conveyors[conveyor].release(req)

    def machine(i: int) -> Any:
        spec = stations[i]
        rng = random.Random(f"{seed}/bare/{i}")
        step = product.steps[i].times[0]
        assert spec.mtbf is not None and spec.mttr is not None
        ttf = rng.expovariate(1.0 / spec.mtbf)
        while True:
            part = yield buffers[i].get()
            left = lognormal(rng, step.mean, step.cv)
            while left > 0:
                if ttf < left:
                    yield env.timeout(ttf)
                    left -= ttf
                    yield env.timeout(lognormal(rng, spec.mttr.mean, spec.mttr.cv))
                    ttf = rng.expovariate(1.0 / spec.mtbf)
                else:
                    yield env.timeout(left)
                    ttf -= left
                    left = 0
            if i == len(stations) - 1:
                done[0] += 1
                continue
            via = line.links.get((ids[i], ids[i + 1]), "")
            if via:
                req = conveyors[via].request()
                yield req
                env.process(ride(via, req, part, i + 1))
            else:
                yield buffers[i + 1].put(part)

    def enter(part: int) -> Any:
        yield buffers[0].put(part)

    def source() -> Any:
        rng = random.Random(f"{seed}/bare/arrivals")
        assert line.interarrival is not None
        n = 0
        while True:
            yield env.timeout(rng.expovariate(1.0 / line.interarrival.mean))
            n += 1
            env.process(enter(n))

    for i in range(len(stations)):
        env.process(machine(i))
    env.process(source())
    env.run(until=horizon_s)
    return done[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per variant")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    line = line_from_definition(load_definition(EXAMPLE))
    state = LineState(origin=ORIGIN)
    simulate(line, HORIZON_S, args.seed, state)  # warm imports and caches
    bare_simpy(line, args.seed, HORIZON_S)
    tw_times, bare_times, tw_parts, bare_parts = [], [], [], []
    for run in range(args.runs):
        seed = args.seed + run
        t0 = time.perf_counter()
        result = simulate(line, HORIZON_S, seed, state)
        tw_times.append(time.perf_counter() - t0)
        tw_parts.append(result.completed)
        t0 = time.perf_counter()
        bare_parts.append(bare_simpy(line, seed, HORIZON_S))
        bare_times.append(time.perf_counter() - t0)
    print(f"line: {len(line.stations)} stations, 8 h shift, failures on, {args.runs} runs")
    print(f"{'variant':<12}{'median s':>10}{'best s':>10}{'parts (mean)':>14}")
    for name, times, parts in (
        ("twinworks", tw_times, tw_parts),
        ("bare simpy", bare_times, bare_parts),
    ):
        print(
            f"{name:<12}{statistics.median(times):>10.4f}{min(times):>10.4f}"
            f"{statistics.mean(parts):>14.1f}"
        )
    ratio = statistics.median(tw_times) / statistics.median(bare_times)
    print(
        f"summary: 8 h of a 10-station line in {statistics.median(tw_times):.3f} s "
        f"(target < 1 s); overhead over bare SimPy {ratio:.2f}x (target <= 2x)"
    )


if __name__ == "__main__":
    main()
