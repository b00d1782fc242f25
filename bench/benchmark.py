"""`python -m bench`: blocking ALTER vs pt-online-schema-change vs ours, idle and under load.

For each table size, every run starts from a freshly filled `campaign` table, so no tool
inherits another's buffer pool or fragmentation advantage more than the fill gives all of
them. The tools run one after another, never together: the machine is small and timings
taken side by side would measure the contention, not the tools.
"""

import argparse
import functools
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import report, snapshot
from .report import P99_LIMIT
from .server import PrivateServer, ServerConfig
from .tools import TOOLS, Target, Tool, load_phase_bounds, our_phases, run_tool
from .workload import (
    LoadResult, LoadSettings, create_database, fresh_table, load_alone, server_alone, table_equals_control,
    wait_until_quiet, with_load,
)

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
DATABASE = "om_bench"
QUICK_SIZES = [50_000]
DEFAULT_SIZES = [200_000, 1_000_000, 3_000_000]


@dataclass
class RunResult:
    size: int
    tool: str
    mode: str
    """"idle" or "load"."""
    ok: bool = True
    seconds: float | None = None
    peak_rss_kb: int | None = None
    equal: bool | None = None
    """Whether `campaign` holds the rows of `campaign_control` afterwards."""
    load: LoadResult | None = None
    phases: dict = field(default_factory=dict)
    load_phases: dict = field(default_factory=dict)
    """Ours under load: the application's latencies split by what our run was doing
    (LoadTimeline.by_phase), against the target's limit (P99_LIMIT x the round's baseline p99);
    the baseline: its whole window against the same limit."""
    repetition: int = 1
    load_average: float = 0.0
    """The machine's 1-minute load average when the run started: other people's processes
    on a shared machine show up here and explain an outlier."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, help="comma-separated row counts (default 200000,1000000,3000000)")
    parser.add_argument("--quick", action="store_true", help="one small size (50000 rows) and short settles: a smoke run")
    parser.add_argument("--rate", type=float, default=200.0, help="load operations per second (default 200)")
    parser.add_argument("--threads", type=int, default=4, help="load threads (default 4)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each tool and mode per size; the report shows the median and the range (default 1)")
    parser.add_argument("--port", type=int, default=3407, help="port of the private MariaDB (default 3407)")
    parser.add_argument("--buffer-pool", default="2G", help="InnoDB buffer pool of the private MariaDB (default 2G)")
    parser.add_argument("--source", default="HEAD",
                        help='engine to measure: a git revision (default HEAD), or "worktree" for the files as they are')
    parser.add_argument("--output", type=Path, default=HERE, help="folder for RESULTS.md, results.json, results.png")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    return args


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _stop_cleanly_on_signals()
    settings = LoadSettings(rate=args.rate, threads=args.threads, settle=1.0 if args.quick else 3.0)
    config = ServerConfig(datadir=CACHE / "mariadb" / "data", port=args.port, buffer_pool=args.buffer_pool)
    results: list[RunResult] = []
    args.output.mkdir(parents=True, exist_ok=True)
    root = CACHE / "snapshot"
    engine = snapshot.take(args.source, root)
    _say(f"measuring online_migrations {engine}")
    sys.path.insert(0, str(root / "example_project"))
    target = Target(config.host, config.port, DATABASE, root)
    snapshot.check(root, target.env())
    with PrivateServer(config) as server:
        create_database(target, CACHE / "logs" / "migrate.log")
        environment = report.environment(server.version(), config, settings, engine)
        for size in args.sizes:
            results += bench_size(target, size, settings, args.repeat)
            _publish(args.output, environment, results)
    failed = [r for r in results if not r.ok or r.equal is False]
    for r in failed:
        print(f"PROBLEM: {r.tool} {r.mode} {r.size:,} rows: ok={r.ok} equal={r.equal}")
    return 1 if failed else 0


def bench_size(target: Target, size: int, settings: LoadSettings, repeat: int) -> list[RunResult]:
    """Each tool idle, each under load, then the load alone for as long as our loaded run, and
    the load while the server alone does what our run asks of it at its own pace; all of it
    `repeat` times, so that a burst of noise hits one round, not one tool."""
    results = []
    for repetition in range(1, repeat + 1):
        round_results, phase_splits = [], []
        for mode in ("idle", "load"):
            for tool in TOOLS:
                if mode in tool.modes:
                    result, split = bench_tool(target, size, tool, mode, settings, repetition)
                    round_results.append(result)
                    phase_splits.append((result, split))
        ours = next(r for r in round_results if r.tool == "ours" and r.mode == "load")
        baseline, baseline_split = bench_baseline(target, size, settings, ours.load.seconds, repetition)
        alone, alone_split = bench_server_alone(target, size, settings, repetition)
        limit = P99_LIMIT * baseline.load.p99_ms
        for result, split in phase_splits + [(baseline, baseline_split), (alone, alone_split)]:
            if split:
                result.load_phases = split(limit)
        results += round_results + [baseline, alone]
    return results


def bench_tool(target: Target, size: int, tool: Tool, mode: str, settings: LoadSettings,
               repetition: int) -> tuple[RunResult, Callable[[float], dict] | None]:
    """The run's result and, for ours under load, how to split the application's latencies by
    our phases once the limit they are held to (from the baseline, measured later) is known."""
    what = f"{size:,} rows, round {repetition}: {tool.name} {mode}"
    _say(f"{what}: filling")
    fresh_table(target, size, CACHE / "logs" / f"{size}-fill.log")
    log = CACHE / "logs" / f"{size}-{mode}-{tool.name}-{repetition}.log"
    load_average = os.getloadavg()[0]
    _say(f"{what}: running (log: {log.relative_to(HERE.parent)})")
    split = None
    if mode == "load":
        run, load, timeline = with_load(target, settings, lambda: run_tool(tool, target, log))
        bounds = load_phase_bounds(run, log, (timeline.start, timeline.end)) if tool.name.startswith("ours") else []
        split = functools.partial(timeline.by_phase, bounds) if bounds else None
    else:
        wait_until_quiet(target)
        run, load = run_tool(tool, target, log), None
    result = RunResult(size, tool.name, mode, run.ok, run.seconds, run.peak_rss_kb, table_equals_control(target), load,
                       repetition=repetition, load_average=load_average)
    if tool.name.startswith("ours"):
        result.phases = {**run.steps, **our_phases(log)}
    _say(f"{what}: {'ok' if run.ok else 'FAILED'} in {run.seconds:.1f}s, "
         f"table {'equals' if result.equal else 'DIFFERS from'} control"
         + (f", p99 {load.p99_ms:.0f} ms, max {load.max_ms:.0f} ms" if load else ""))
    return result, split


def bench_baseline(target: Target, size: int, settings: LoadSettings, seconds: float,
                   repetition: int) -> tuple[RunResult, Callable[[float], dict]]:
    _say(f"{size:,} rows, round {repetition}: baseline: the load alone for {seconds:.1f}s")
    fresh_table(target, size, CACHE / "logs" / f"{size}-fill.log")
    load_average = os.getloadavg()[0]
    load, timeline = load_alone(target, settings, seconds)
    result = RunResult(size, "baseline", "load", equal=table_equals_control(target), load=load,
                       repetition=repetition, load_average=load_average)
    return result, functools.partial(timeline.by_phase, [("whole window", timeline.start, timeline.end)])


def bench_server_alone(target: Target, size: int, settings: LoadSettings,
                       repetition: int) -> tuple[RunResult, Callable[[float], dict]]:
    """workload.server_alone: the share of slow operations our index build and verification
    cannot go below on this machine, measured in the same round as the runs it explains."""
    _say(f"{size:,} rows, round {repetition}: the server alone: index build and checksums on an untouched copy")
    fresh_table(target, size, CACHE / "logs" / f"{size}-fill.log")
    load_average = os.getloadavg()[0]
    load, timeline, bounds = server_alone(target, settings)
    result = RunResult(size, "server-alone", "load", seconds=sum(end - start for _phase, start, end in bounds),
                       equal=table_equals_control(target), load=load, repetition=repetition,
                       load_average=load_average)
    return result, functools.partial(timeline.by_phase, bounds)


def _publish(folder: Path, environment: dict, results: list[RunResult]) -> None:
    """Raw results and the report after each size, so a run stopped halfway keeps what it
    measured."""
    runs = [asdict(r) for r in results]
    (folder / "results.json").write_text(json.dumps({"environment": environment, "runs": runs}, indent=1) + "\n")
    report.write(folder, environment, runs)


def _stop_cleanly_on_signals() -> None:
    """Ctrl-C and kill unwind through the `with PrivateServer` block, so mariadbd is stopped.
    A shell starts a background job with SIGINT ignored; Python would keep that, so the
    default handler is set again."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def _say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)
