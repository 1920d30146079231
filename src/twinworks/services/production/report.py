# ruff: noqa: E501 -- HTML and SVG markup reads better unwrapped
"""The what-if report: one PNG of plots and one self-contained HTML page.

The PNG has four panels: each KPI's change with its confidence interval, the
stations' utilisation in both arms, work in progress over time (mean of the
replications) and the throughput of every replication. The HTML page embeds the
PNG (base64) and adds the tables, the scenario, the fork state and the notes, so
the one file can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twinworks.services.production.whatif import WhatIfResult

__all__ = ["fmt_duration", "render_png", "write_report"]


def fmt_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _num(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:.0f}"


def render_png(result: WhatIfResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    fig.suptitle(f"What-if: {result.scenario.name}  ({len(result.runs)} replications per arm)")

    # 1: relative change of each KPI with its CI
    ax = axes[0][0]
    labels, mids, errs, colors = [], [], [], []
    for k in result.kpis:
        base = k.baseline.mean
        if math.isnan(base) or base == 0 or math.isnan(k.difference.mean):
            continue
        labels.append(k.label.split(" (")[0])
        mids.append(100 * k.difference.mean / abs(base))
        errs.append(
            100 * k.difference.half_width / abs(base)
            if math.isfinite(k.difference.half_width)
            else 0
        )
        colors.append({"better": "tab:green", "worse": "tab:red"}.get(k.verdict, "tab:gray"))
    ax.barh(labels, mids, xerr=errs, color=colors, capsize=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("change vs baseline (%), with confidence interval")
    ax.set_title("KPI change (green better, red worse, grey not significant)", fontsize=10)

    # 2: utilisation per station
    ax = axes[0][1]
    table = result.station_table()
    names = list(table)
    xs = range(len(names))
    b = [table[s]["baseline"].mean for s in names]
    x = [table[s]["scenario"].mean for s in names]
    be = [table[s]["baseline"].half_width for s in names]
    xe = [table[s]["scenario"].half_width for s in names]
    ax.bar([i - 0.2 for i in xs], b, 0.4, yerr=be, label="baseline", capsize=3)
    ax.bar([i + 0.2 for i in xs], x, 0.4, yerr=xe, label="scenario", capsize=3)
    ax.set_xticks(list(xs), names, rotation=45 if len(names) > 6 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("utilisation")
    ax.set_title("Station utilisation", fontsize=10)
    ax.legend()

    # 3: WIP over time, mean over replications
    ax = axes[1][0]
    for runs, label in ((result.baseline, "baseline"), (result.runs, "scenario")):
        traces = [r.trace for r in runs if r.trace]
        if not traces:
            continue
        length = min(len(t) for t in traces)
        ts = [traces[0][i][0] / 3600 for i in range(length)]
        wip = [sum(t[i][1] for t in traces) / len(traces) for i in range(length)]
        ax.plot(ts, wip, label=label)
    ax.set_xlabel("hours after the fork")
    ax.set_ylabel("parts in the line (mean)")
    ax.set_title("Work in progress", fontsize=10)
    ax.legend()

    # 4: throughput of each replication, paired
    ax = axes[1][1]
    tb = [r.kpis["throughput_per_h"] for r in result.baseline]
    tx = [r.kpis["throughput_per_h"] for r in result.runs]
    for i, (p, q) in enumerate(zip(tb, tx, strict=True)):
        ax.plot(
            [0, 1],
            [p, q],
            color="tab:gray",
            alpha=0.4,
            lw=0.8,
            label="one replication" if i == 0 else None,
        )
    ax.boxplot([tb, tx], positions=[0, 1], widths=0.3)
    ax.set_xticks([0, 1], ["baseline", "scenario"])
    ax.set_ylabel("parts/h")
    ax.set_title("Throughput per replication (same seeds)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.better{color:#1a7f37;font-weight:600}.worse{color:#c62828;font-weight:600}.small{color:#666;font-size:90%}
img{max-width:100%}
"""


def render_html(result: WhatIfResult, png: bytes) -> str:
    e = html.escape
    sc = result.scenario
    level = f"{sc.confidence * 100:g} %"
    rows = []
    for k in result.kpis:
        unit = f" [{k.unit}]" if k.unit else ""
        rows.append(
            "<tr>"
            f"<td>{e(k.label)}{e(unit)}</td>"
            f"<td>{_num(k.baseline.mean)} ± {_num(k.baseline.half_width, 2)}</td>"
            f"<td>{_num(k.scenario.mean)} ± {_num(k.scenario.half_width, 2)}</td>"
            f"<td>{_num(k.difference.mean)} [{_num(k.difference.low)}, {_num(k.difference.high)}]</td>"
            f"<td>{e(k.better)} is better</td>"
            f"<td class='{k.verdict.split()[0]}'>{e(k.verdict)}</td>"
            "</tr>"
        )
    srows = []
    for sid, arms in result.station_table().items():
        fork = result.state.stations.get(sid)
        srows.append(
            f"<tr><td>{e(sid)}</td><td>{_num(arms['baseline'].mean)} ± {_num(arms['baseline'].half_width, 2)}</td>"
            f"<td>{_num(arms['scenario'].mean)} ± {_num(arms['scenario'].half_width, 2)}</td>"
            f"<td>{len(fork.queue) if fork is not None else 0}</td>"
            f"<td>{e(fork.state if fork is not None else '-')}</td></tr>"
        )
    changes = (
        "".join(f"<li>{e(c)}</li>" for c in sc.describe()) or "<li>none (the baseline itself)</li>"
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes) or "<li>none</li>"
    from twinworks.timeutil import format_time

    img = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>What-if: {e(sc.name)}</title><style>{_STYLE}</style></head>
<body>
<h1>What-if: {e(sc.name)}</h1>
<p>{e(sc.description)}</p>
<p class="small">Line <b>{e(result.line_name)}</b>, forked at {e(format_time(result.state.origin))};
horizon {fmt_duration(sc.horizon)}; {len(result.runs)} replications per arm with common random numbers
(seeds {result.seeds[0]}…{result.seeds[-1]}); {level} confidence intervals (Student t);
computed in {result.elapsed_s:.2f} s.</p>
<h2>Changes</h2><ul>{changes}</ul>
<h2>KPIs</h2>
<table><tr><th>KPI</th><th>baseline (mean ± half-width)</th><th>scenario</th>
<th>difference [{level} CI, paired]</th><th>direction</th><th>verdict</th></tr>
{"".join(rows)}</table>
<h2>Plots</h2><img alt="what-if plots" src="data:image/png;base64,{img}">
<h2>Stations</h2>
<table><tr><th>station</th><th>utilisation, baseline</th><th>utilisation, scenario</th>
<th>queue at fork</th><th>state at fork</th></tr>{"".join(srows)}</table>
<h2>Notes and assumptions</h2><ul>{notes}</ul>
</body></html>
"""


def write_report(
    result: WhatIfResult, directory: str | Path, stem: str = "whatif"
) -> tuple[Path, Path]:
    """Write ``STEM.png`` and ``STEM.html`` into ``directory``; return their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    png = render_png(result)
    png_path = out / f"{stem}.png"
    html_path = out / f"{stem}.html"
    png_path.write_bytes(png)
    html_path.write_text(render_html(result, png), encoding="utf-8")
    return html_path, png_path
