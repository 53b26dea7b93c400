"""Print a table per workload, write the raw numbers as JSON, and draw the plots (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any

from bench.common import Plot, Row, Section


def fmt_value(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "/s":
        return f"{value:,.0f} /s"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 1 else f"{value:,.1f} ms"
    if unit == "MB":
        return f"{value:,.2f} MB"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.3g} {unit}".strip()


def fmt_ratio(row: Row) -> str:
    if row.ratio is None:
        return ""
    short = (row.vs or "").split(" ")[0]
    return f"{row.ratio:.2f}x {short}"


def fmt_verdict(row: Row) -> str:
    if row.goal is None:
        return ""
    if row.value is None:
        return "n/a"
    if row.passed is None:
        return "n/a (no baseline)"
    return "PASS" if row.passed else "FAIL"


def table(section: Section) -> str:
    """Render a section as a plain-text table (rows: implementation, metric, value, ratio, goal, result)."""
    with_size = any(row.size is not None for row in section.rows)
    head = ["implementation", "metric", *(["size"] if with_size else []), "value", "ratio", "goal", "result"]
    lines = []
    for row in section.rows:
        value = row.note if row.value is None else fmt_value(row.value, row.unit)
        if row.value is not None and row.note:
            value += f" ({row.note})"
        cells = [
            row.impl,
            row.metric,
            *([str(row.size) if row.size is not None else ""] if with_size else []),
        ]
        cells += [value, fmt_ratio(row), row.goal.text if row.goal else "", fmt_verdict(row)]
        lines.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(head, *lines, strict=True)]
    out = [section.title, "-" * len(section.title)]
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    out.append("  ".join("-" * w for w in widths))
    out += [
        "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() for cells in lines
    ]
    out += [f"note: {note}" for note in section.notes]
    return "\n".join(out)


def environment() -> dict[str, Any]:
    versions = {}
    for package in ("phidata", "agno", "langgraph-checkpoint-sqlite", "django", "orjson", "matplotlib"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = None
    return {
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "packages": versions,
    }


def write_json(path: Path, sections: list[Section], command: str, quick: bool) -> None:
    data = {
        "command": command,
        "quick": quick,
        "environment": environment(),
        "workloads": [
            {
                "key": s.key,
                "lane": s.lane,
                "title": s.title,
                "notes": s.notes,
                "rows": [r.as_dict() for r in s.rows],
            }
            for s in sections
        ],
    }
    path.write_text(json.dumps(data, indent=2, default=str))


def draw(out: Path, section: Section, plot: Plot) -> str | None:
    """Draw one plot to `out/<name>.png`; return why not when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError:
        return "matplotlib is not installed here (the bench environment has it)"
    rows = [r for r in section.rows if r.metric == plot.metric and r.value is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.8))
    if all(r.size is None for r in rows):
        ax.barh([r.impl for r in rows], [r.value for r in rows])
        ax.set_xlabel(plot.ylabel or plot.metric)
        if plot.log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.invert_yaxis()
    else:
        for impl in dict.fromkeys(r.impl for r in rows):
            points = sorted((r.size, r.value) for r in rows if r.impl == impl and r.size is not None)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=impl)
        ax.set_xlabel(plot.xlabel)
        ax.set_ylabel(plot.ylabel or plot.metric)
        if plot.log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.legend(fontsize="small")
        ax.grid(True, which="both", alpha=0.3)
    ax.set_title(plot.title)
    fig.tight_layout()
    fig.savefig(out / f"{plot.name}.png", dpi=110)
    plt.close(fig)
    return None
