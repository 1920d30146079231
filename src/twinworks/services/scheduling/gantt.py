# ruff: noqa: E501 -- HTML and SVG markup reads better unwrapped
"""Gantt charts of a schedule: a PNG (matplotlib) and a self-contained HTML page.

The HTML draws the chart as inline SVG with a tooltip on every bar (job,
operation, machine, start, end, setup), so it needs no JavaScript library;
after a rescheduling it marks the moved operations, the kept ones and *now*.
"""

from __future__ import annotations

import colorsys
import html
import io
import zlib
from collections.abc import Iterable, Mapping

from twinworks.services.scheduling.problem import OpKey, SchedulingProblem
from twinworks.services.scheduling.schedule import Schedule, kpis

__all__ = ["render_gantt_html", "render_gantt_png"]


def _color(job: str) -> str:
    hue = (zlib.crc32(job.encode()) % 360) / 360.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.62, 0.55)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _fmt(t: float, unit_s: float) -> str:
    if unit_s != 1.0:
        return f"{t:g}"
    t = int(t)
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _span(problem: SchedulingProblem, schedule: Schedule, now: int | None) -> tuple[int, int]:
    end = max(schedule.makespan, now or 0, 1)
    return 0, int(end * 1.02) + 1


def render_gantt_png(
    problem: SchedulingProblem,
    schedule: Schedule,
    *,
    title: str = "",
    now: int | None = None,
    moved: Iterable[OpKey] = (),
) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    moved_set = set(moved)
    machines = list(problem.machines)
    lo, hi = _span(problem, schedule, now)
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.45 * len(machines)))
    for w in problem.windows:
        if w.start < hi and w.end > lo and w.machine in machines:
            y = machines.index(w.machine)
            ax.broken_barh(
                [(max(w.start, lo), min(w.end, hi) - max(w.start, lo))],
                (y - 0.4, 0.8),
                facecolors="#dddddd",
                edgecolor="#999999",
                hatch="//",
                lw=0.5,
            )
    for a in schedule.assignments:
        y = machines.index(a.machine)
        if a.setup:
            ax.broken_barh([(a.start - a.setup, a.setup)], (y - 0.25, 0.5), facecolors="#bbbbbb")
        edge = "red" if a.key in moved_set else "black"
        ax.broken_barh(
            [(a.start, max(a.end - a.start, 0.001))],
            (y - 0.4, 0.8),
            facecolors=_color(a.job),
            edgecolor=edge,
            lw=1.6 if a.key in moved_set else 0.4,
        )
        if len(schedule.assignments) <= 120:
            ax.text(
                (a.start + a.end) / 2, y, a.job, ha="center", va="center", fontsize=6, clip_on=True
            )
    if now is not None:
        ax.axvline(now, color="red", lw=1.2, ls="--")
    ax.set_yticks(range(len(machines)), machines)
    ax.invert_yaxis()
    ax.set_xlim(lo, hi)
    unit = "s" if schedule.time_unit_s == 1.0 else "time units"
    ax.set_xlabel(f"time from plan start ({unit})")
    ax.set_title(
        title
        or f"{schedule.objective} = {schedule.value:g} ({schedule.status}, {schedule.solver})",
        fontsize=10,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def render_gantt_html(
    problem: SchedulingProblem,
    schedule: Schedule,
    *,
    title: str = "Schedule",
    now: int | None = None,
    moved: Iterable[OpKey] = (),
    kept: Iterable[OpKey] = (),
    summary: Mapping[str, object] | None = None,
) -> str:
    e = html.escape
    moved_set, kept_set = set(moved), set(kept)
    machines = list(problem.machines)
    lo, hi = _span(problem, schedule, now)
    width, left, row = 1000.0, 90.0, 26.0
    height = row * len(machines) + 40
    sx = (width - left - 10) / max(1, hi - lo)
    u = schedule.time_unit_s

    def x(t: float) -> float:
        return left + (t - lo) * sx

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" font-family="sans-serif" font-size="11">'
    ]
    parts.append(
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#aaa" stroke-width="2"/></pattern></defs>'
    )
    for i, m in enumerate(machines):
        y = 10 + i * row
        parts.append(f'<text x="4" y="{y + row * 0.62:.1f}">{e(m)}</text>')
        parts.append(
            f'<line x1="{left}" y1="{y + row:.1f}" x2="{width - 10}" y2="{y + row:.1f}" stroke="#eee"/>'
        )
    for w in problem.windows:
        if w.machine not in machines or w.end <= lo or w.start >= hi:
            continue
        y = 10 + machines.index(w.machine) * row
        x0, x1 = x(max(w.start, lo)), x(min(w.end, hi))
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 2:.1f}" width="{max(x1 - x0, 0.5):.1f}" height="{row - 4:.1f}" fill="url(#hatch)" stroke="#999">'
            f"<title>{e(w.reason)}: {e(_fmt(w.start, u))} – {e(_fmt(w.end, u))}</title></rect>"
        )
    for a in schedule.assignments:
        y = 10 + machines.index(a.machine) * row
        x0, x1 = x(a.start), x(a.end)
        stroke = "red" if a.key in moved_set else ("#333" if a.key in kept_set else "#555")
        sw = 2 if a.key in moved_set else 0.5
        op = problem.operation(a.key)
        tip = (
            f"{a.job}#{a.index} {op.name} on {a.machine}: {_fmt(a.start, u)} – {_fmt(a.end, u)}"
            + (f", setup {_fmt(a.setup, u)}" if a.setup else "")
            + (" (moved)" if a.key in moved_set else "")
            + (" (started, kept)" if a.key in kept_set else "")
        )
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 4:.1f}" width="{max(x1 - x0, 0.5):.1f}" height="{row - 8:.1f}" '
            f'fill="{_color(a.job)}" stroke="{stroke}" stroke-width="{sw}"><title>{e(tip)}</title></rect>'
        )
        if x1 - x0 > 28:
            parts.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{y + row * 0.62:.1f}" text-anchor="middle" font-size="9" pointer-events="none">{e(a.job)}</text>'
            )
    axis_y = 10 + row * len(machines) + 14
    for k in range(11):
        t = lo + (hi - lo) * k / 10
        parts.append(
            f'<text x="{x(t):.1f}" y="{axis_y:.1f}" text-anchor="middle" fill="#555">{e(_fmt(t, u))}</text>'
        )
    if now is not None:
        parts.append(
            f'<line x1="{x(now):.1f}" y1="6" x2="{x(now):.1f}" y2="{axis_y - 12:.1f}" stroke="red" stroke-dasharray="4 3"><title>now</title></line>'
        )
    parts.append("</svg>")
    facts = kpis(problem, schedule)
    rows = [
        ("objective", f"{schedule.objective} = {schedule.value:g}"),
        ("status", f"{schedule.status} ({schedule.solver}, {schedule.solve_time_s:.2f} s)"),
        ("lower bound", "–" if schedule.bound is None else f"{schedule.bound:g}"),
        ("makespan", _fmt(facts["makespan"], u)),
        ("weighted tardiness", f"{facts['weighted_tardiness']:g}"),
        ("late jobs", ", ".join(facts["late_jobs"]) or "none"),
    ]
    for key, value in (summary or {}).items():
        rows.append((str(key), str(value)))
    table = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    util = "".join(
        f"<tr><td>{e(m)}</td><td>{v:.1%}</td></tr>" for m, v in facts["utilisation"].items()
    )
    ops = "".join(
        f"<tr><td>{e(a.job)}#{a.index}</td><td>{e(a.machine)}</td><td>{e(_fmt(a.start, u))}</td>"
        f"<td>{e(_fmt(a.end, u))}</td><td>{'moved' if a.key in moved_set else ('kept' if a.key in kept_set else '')}</td></tr>"
        for a in sorted(schedule.assignments, key=lambda a: (a.start, a.machine))
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}table{{border-collapse:collapse;margin:.8em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}th{{background:#f3f3f3}}
details{{margin-top:1em}}</style></head><body>
<h1>{e(title)}</h1>
<p>Hover a bar for its details. Hatched: machine unavailable (maintenance, predicted failure, off shift).
Red outline: moved by the rescheduling; dashed red line: now.</p>
{"".join(parts)}
<h2>Summary</h2><table>{table}</table>
<h2>Utilisation</h2><table><tr><th>machine</th><th>busy share of the makespan</th></tr>{util}</table>
<details><summary>All operations ({len(schedule.assignments)})</summary>
<table><tr><th>operation</th><th>machine</th><th>start</th><th>end</th><th></th></tr>{ops}</table></details>
</body></html>
"""
