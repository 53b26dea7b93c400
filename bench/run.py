"""Run the benchmarks: `python bench/run.py [--quick] [--only W1,W3] [--out bench/out]`.

Prints one table per workload, writes `<out>/results.json` and `<out>/*.png`. Run it from the
repository root with the repository on PYTHONPATH (`make bench` does both, in `.venv-bench`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import django_env, report
from bench.common import Context, Section, Sizes, judge

WORKLOADS = {
    "W1": "bench.w1_run_cycle",
    "W2": "bench.w2_growing_cache",
    "W2b": "bench.w2b_history",
    "W3": "bench.w3_cache_hit",
    "W4": "bench.w4_many_sessions",
    "W5": "bench.w5_pages",
    "W6": "bench.w6_streaming",
    "W7": "bench.w7_cache_hit_http",
    "W10": "bench.w10_api",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that every workload runs")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3 (default: all)")
    parser.add_argument("--out", default="bench/out", help="folder for results.json and the plots")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases (path is printed)")
    return parser.parse_args(argv)


def selected(only: str) -> list[str]:
    if not only:
        return list(WORKLOADS)
    wanted = [key.strip() for key in only.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    return wanted


def run_one(key: str, ctx: Context) -> Section:
    """Run one workload; a crash becomes a section saying so, so the other workloads still run."""
    try:
        section = importlib.import_module(WORKLOADS[key]).run(ctx)
    except Exception:
        section = Section(key=key, title=f"{key}: crashed", notes=[traceback.format_exc()])
    judge(section.rows)
    return section


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    keys = selected(args.only)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="wfsite-bench-"))
    ctx = Context(sizes=Sizes.for_mode(args.quick), workdir=workdir)
    ctx.django_error = django_env.setup(workdir / "django.sqlite3")
    # The engine logs "Found cached blog post" at INFO, as upstream does; writing that is not what is measured.
    logging.getLogger("wfsite").setLevel(logging.WARNING)
    sections: list[Section] = []
    started = time.perf_counter()
    try:
        for key in keys:
            began = time.perf_counter()
            section = run_one(key, ctx)
            section.notes.append(f"{key} took {time.perf_counter() - began:.1f} s")
            sections.append(section)
            print(report.table(section), "\n", flush=True)
            for plot in section.plots:
                reason = report.draw(out, section, plot)
                if reason:
                    print(f"(no plot {plot.name}.png: {reason})")
            report.write_json(out / "results.json", sections, command, args.quick)
    finally:
        if ctx.stack is not None:
            ctx.stack.stop()
    print(f"Wrote {out / 'results.json'} in {time.perf_counter() - started:.0f} s.")
    if args.keep:
        print(f"Scratch databases kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    crashed = [s.key for s in sections if s.title.endswith("crashed")]
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
