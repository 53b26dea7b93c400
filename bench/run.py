"""Run the benchmarks: `python bench/run.py [--quick] [--only W1,W3] [--lane all] [--out bench/out]`.

Prints one table per workload, writes `<out>/results.json` and `<out>/*.png`. Run it from the
repository root with the repository on PYTHONPATH (`make bench` does both, in `.venv-bench`).

Lanes: every workload runs on SQLite; those in POSTGRES_LANE run again on PostgreSQL (a database
of their own on the server at TEST_POSTGRES_URL), in a child process, since Django is set up
once per process. Without a reachable server that lane is skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import django_env, report
from bench.common import LANES, Context, Goal, Row, Section, Sizes, judge, unavailable

WORKLOADS = {
    "W1": "bench.w1_run_cycle",
    "W2": "bench.w2_growing_cache",
    "W2b": "bench.w2b_history",
    "W3": "bench.w3_cache_hit",
    "W4": "bench.w4_many_sessions",
    "W5": "bench.w5_pages",
    "W6": "bench.w6_streaming",
    "W7": "bench.w7_cache_hit_http",
    "W8": "bench.w8_web_tier",
    "W10": "bench.w10_api",
    "W11": "bench.w11_runs_list",
    "W12": "bench.w12_search",
}
# The workloads that also run on PostgreSQL.
POSTGRES_LANE = ("W1", "W2b", "W3", "W6", "W11", "W12")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that every workload runs")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3 (default: all)")
    parser.add_argument("--out", default="bench/out", help="folder for results.json and the plots")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases (path is printed)")
    parser.add_argument(
        "--lane",
        choices=("all", *LANES),
        default="all",
        help="all (default): SQLite, then PostgreSQL for the workloads in POSTGRES_LANE",
    )
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
    section.lane = ctx.lane
    if ctx.lane != "sqlite":
        section.title += f" [{LANES[ctx.lane]}]"
    judge(section.rows)
    return section


def run_lane(lane: str, keys: list[str], args: argparse.Namespace, done: list[Section]) -> list[Section]:
    """Run `keys` on the lane's database in this process; write results.json after each workload."""
    out, sections = Path(args.out), list(done)
    workdir = Path(tempfile.mkdtemp(prefix=f"wfsite-bench-{lane}-"))
    url, problem = f"sqlite:///{workdir / 'django.sqlite3'}", None
    if lane == "postgres":
        url, problem = django_env.postgres_lane_url()
    if problem is not None:
        print(f"PostgreSQL lane skipped: {problem}", flush=True)
        return sections + skipped_lane(lane, keys, problem)
    ctx = Context(sizes=Sizes.for_mode(args.quick), workdir=workdir, lane=lane)
    ctx.django_error = django_env.setup(url, workdir)
    try:
        for key in keys:
            began = time.perf_counter()
            section = run_one(key, ctx)
            section.notes.append(f"{key} took {time.perf_counter() - began:.1f} s")
            sections.append(section)
            print(report.table(section), "\n", flush=True)
            for plot in section.plots if lane == "sqlite" else []:
                reason = report.draw(out, section, plot)
                if reason:
                    print(f"(no plot {plot.name}.png: {reason})")
            report.write_json(out / "results.json", sections, args.command, args.quick)
    finally:
        if ctx.stack is not None:
            ctx.stack.stop()
        finish_lane(lane, url, workdir, keep=args.keep)
    return sections


def finish_lane(lane: str, url: str, workdir: Path, *, keep: bool) -> None:
    """Remove the lane's scratch databases, or say where they are kept."""
    if keep:
        print(f"Scratch databases kept: {workdir}" + (f" and {url}" if lane == "postgres" else ""))
        return
    shutil.rmtree(workdir, ignore_errors=True)
    if lane == "postgres" and not django_env.setup_error():
        from django.db import connections

        connections.close_all()
        django_env.postgres_lane_drop(url)


def skipped_lane(lane: str, keys: list[str], reason: str) -> list[Section]:
    """Sections saying that `keys` did not run on `lane`, and why."""
    return [
        Section(
            key=key,
            lane=lane,
            title=f"{key} [{LANES[lane]}]: skipped",
            rows=[unavailable(f"{LANES[lane]} lane", "every metric", reason)],
        )
        for key in keys
    ]


def postgres_lane(keys: list[str], args: argparse.Namespace, done: list[Section]) -> list[Section]:
    """Run the PostgreSQL lane of `keys` in a child process and add its sections to `done`."""
    if not keys:
        return done
    child_out = Path(args.out) / "postgres"
    command = [sys.executable, str(Path(__file__).resolve()), "--lane", "postgres", "--only", ",".join(keys)]
    command += [
        "--out",
        str(child_out),
        *(["--quick"] if args.quick else []),
        *(["--keep"] if args.keep else []),
    ]
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    subprocess.run(command, env=env, check=False)
    results = child_out / "results.json"
    if not results.exists():
        return done + [
            Section(key=key, lane="postgres", title=f"{key} [PostgreSQL]: crashed") for key in keys
        ]
    sections = done + [section_from(data) for data in json.loads(results.read_text())["workloads"]]
    report.write_json(Path(args.out) / "results.json", sections, args.command, args.quick)
    return sections


def section_from(data: dict) -> Section:
    """Rebuild a section from its results.json form."""
    rows = []
    for raw in data["rows"]:
        goal = Goal(**raw["goal"]) if raw.get("goal") else None
        rows.append(Row(**{**raw, "goal": goal}))
    return Section(key=data["key"], title=data["title"], rows=rows, notes=data["notes"], lane=data["lane"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    keys = selected(args.only)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    args.command = "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    # The engine logs "Found cached blog post" at INFO, as upstream does; writing that is not what is measured.
    logging.getLogger("wfsite").setLevel(logging.WARNING)
    started = time.perf_counter()
    sections: list[Section] = []
    if args.lane in ("all", "sqlite"):
        sections = run_lane("sqlite", keys, args, sections)
    postgres_keys = [key for key in keys if key in POSTGRES_LANE]
    if args.lane == "all":
        sections = postgres_lane(postgres_keys, args, sections)
    elif args.lane == "postgres" and postgres_keys:
        sections = run_lane("postgres", postgres_keys, args, sections)
    print(f"Wrote {Path(args.out) / 'results.json'} in {time.perf_counter() - started:.0f} s.")
    crashed = [s.key for s in sections if s.title.endswith("crashed")]
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
