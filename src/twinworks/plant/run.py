"""Command line of the plant simulator: ``python -m twinworks.plant``.

    python -m twinworks.plant --host 127.0.0.1 --port 4840 --seed 42 --speed 1.0

prints exactly one line, ``READY opc.tcp://HOST:PORT/twinworks/cell``, on stdout
once the server accepts connections, logs to stderr, and exits 0 on SIGTERM or
SIGINT. :func:`serve` runs the same thing inside an existing event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from twinworks.errors import TwinworksError
from twinworks.plant.cell import MachiningCell
from twinworks.plant.clock import SimClock
from twinworks.plant.params import CellParams
from twinworks.plant.server import PlantSecurity, PlantServer
from twinworks.plant.truth_log import TruthLog

__all__ = ["PlantConfig", "build_parser", "main", "serve"]

_log = logging.getLogger("twinworks.plant")


@dataclass(frozen=True)
class PlantConfig:
    host: str = "127.0.0.1"
    port: int = 4840
    seed: int = 0
    speed: float = 1.0
    """Simulated seconds per wall second."""
    tick_s: float = 0.1
    """Wall seconds between publications."""
    step_s: float = 0.5
    """Simulated seconds per physics step."""
    truth_log: Path | None = None
    truth_log_interval_s: float = 0.0
    """Simulated seconds between truth-log rows; 0 logs every step."""
    security: PlantSecurity | None = None
    """Basic256Sha256 with certificates instead of an open endpoint."""


async def serve(
    config: PlantConfig,
    *,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the plant until ``stop`` is set; ``ready(endpoint)`` is called once it accepts
    connections."""
    stop = stop or asyncio.Event()
    clock = SimClock(config.speed)
    cell = MachiningCell(
        seed=config.seed, params=CellParams(step_s=config.step_s), start_time_s=clock.t0_s
    )
    log = TruthLog(config.truth_log, config.truth_log_interval_s) if config.truth_log else None
    try:
        if log is not None:
            log.open()
        plant = PlantServer(
            cell,
            clock,
            host=config.host,
            port=config.port,
            tick_s=config.tick_s,
            truth_log=log,
            security=config.security,
        )
        async with plant:
            _log.info("serving %s (seed %s, speed %sx)", plant.endpoint, config.seed, clock.speed)
            if ready is not None:
                ready(plant.endpoint)
            await plant.run(stop)
    finally:
        if log is not None:
            log.close()
    _log.info("plant stopped at simulation time %s", cell.time_s)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m twinworks.plant",
        description="Simulated machining cell (3 CNC machines and a conveyor) served over OPC UA.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=4840, help="TCP port; 0 picks a free one")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same plant")
    parser.add_argument(
        "--speed", type=_positive, default=1.0, help="simulated seconds per wall second (default 1)"
    )
    parser.add_argument(
        "--tick",
        type=_positive,
        default=0.1,
        dest="tick_s",
        help="wall seconds between publications",
    )
    parser.add_argument(
        "--step",
        type=_positive,
        default=0.5,
        dest="step_s",
        help="simulated seconds per physics step",
    )
    parser.add_argument("--truth-log", type=Path, help="write the hidden ground truth to this CSV")
    parser.add_argument(
        "--truth-log-interval",
        type=float,
        default=0.0,
        dest="truth_log_interval_s",
        help="simulated seconds between truth-log rows (default 0: every step)",
    )
    parser.add_argument(
        "--cert", type=Path, help="serve Basic256Sha256 only, with this certificate (PEM/DER)"
    )
    parser.add_argument("--key", type=Path, help="the certificate's private key (mode 0600)")
    parser.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        help="a client certificate allowed to connect (repeatable; none: any client certificate)",
    )
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ERROR")
    return parser


def _positive(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        print(
            f"unknown --log-level {args.log_level!r}; use DEBUG, INFO, WARNING or ERROR",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if level > logging.DEBUG:
        # asyncua warns at start-up that an unencrypted endpoint is unencrypted; that is the point
        logging.getLogger("asyncua").setLevel(max(level, logging.ERROR))
    if (args.cert is None) != (args.key is None):
        print("--cert and --key go together", file=sys.stderr)
        return 2
    security = PlantSecurity(args.cert, args.key, tuple(args.trust)) if args.cert else None
    config = PlantConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        speed=args.speed,
        tick_s=args.tick_s,
        step_s=args.step_s,
        truth_log=args.truth_log,
        truth_log_interval_s=args.truth_log_interval_s,
        security=security,
    )
    try:
        asyncio.run(_serve_until_signalled(config))
    except (OSError, TwinworksError) as exc:  # e.g. the port is taken, a key others can read
        print(f"plant could not start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_until_signalled(config: PlantConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(config, ready=_print_ready, stop=stop)


def _print_ready(endpoint: str) -> None:
    # the one line on stdout: whoever started us waits for it
    print(f"READY {endpoint}", flush=True)
