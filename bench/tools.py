"""The three ways to make the same schema change, each run as child processes.

Every tool runs outside the benchmark's process, the way an operator would run it, so its
wall time includes its start-up and its peak memory is its own (see run_command).
"""

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from .snapshot import manage

MIGRATION = ("campaigns", "0001_campaign")

# The new secondary indexes of campaigns/online_migrations/0001_campaign.py.
NEW_INDEXES = (
    "ADD INDEX `campaign_87a49a9a` (`post_id`)",
    "ADD INDEX `campaign_87a49a9z` (`objective`, `start_date`)",
)
# The whole change as one ALTER: CHANGE keeps the renamed columns in place, the added columns
# go last, as in DEST_TABLE_SQL.
ALTER_CLAUSE = ", ".join([
    "CHANGE COLUMN `name` `display_name` varchar(255) NOT NULL",
    "DROP COLUMN `description`",
    "CHANGE COLUMN `goal_value` `goal_spend` numeric(12, 2)",
    "ADD COLUMN `created_time` datetime",
    "ADD COLUMN `like_count` int",
    *NEW_INDEXES,
])


@dataclass(frozen=True)
class Target:
    """Where the tools connect (the private server and the benchmark's database), and the
    engine snapshot they run."""

    host: str
    port: int
    database: str
    root: Path
    user: str = "root"

    def env(self) -> dict[str, str]:
        """The environment the example project reads its database settings from."""
        return {
            **os.environ,
            "OM_DB_HOST": self.host, "OM_DB_PORT": str(self.port), "OM_DB_USER": self.user,
            "OM_DB_PASSWORD": "", "OM_DEMO_DB_NAME": self.database,
        }


@dataclass
class ToolRun:
    """One tool's run: total wall time, the largest child RSS, and each step's wall time."""

    ok: bool
    seconds: float
    peak_rss_kb: int
    steps: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    """Each step's start, time.time()."""


@dataclass(frozen=True)
class Tool:
    name: str
    label: str
    steps: Callable[[Target], list[tuple[str, list[str]]]]
    """(step name, argv) pairs run in order; a failed step stops the tool."""
    modes: tuple[str, ...] = ("idle", "load")


def _blocking_alter(target: Target) -> list[tuple[str, list[str]]]:
    sql = f"ALTER TABLE `campaign` {ALTER_CLAUSE}, ALGORITHM=COPY"
    return [("alter", ["mariadb", f"-h{target.host}", f"-P{target.port}", f"-u{target.user}", target.database, "-e", sql])]


def _pt_osc(target: Target) -> list[tuple[str, list[str]]]:
    """pt-osc with its defaults, but: no version check (it calls home and can hang on a
    machine without internet), no replica discovery (there are none), and --no-check-alter,
    without which it refuses column renames."""
    dsn = f"h={target.host},P={target.port},u={target.user},D={target.database},t=campaign"
    argv = ["pt-online-schema-change", "--no-version-check", "--recursion-method=none",
            "--nocheck-replication-filters", "--no-check-alter", "--alter", ALTER_CLAUSE, "--execute", dsn]
    return [("pt-osc", argv)]


def _ours(target: Target, *options: str) -> list[tuple[str, list[str]]]:
    app, migration = MIGRATION
    return [
        (action, [*manage(target.root), "online_migration", app, action, migration, *options])
        for action in ("run", "rename")
    ]


LONG_CHUNKS = ("--busy-chunk-time", "0")
"""The application feels a chunk for as long as it runs (its locks, and with
innodb_autoinc_lock_mode 1 the AUTO-INC lock every insert waits for), so while the
application writes, ours copies in chunks of busy_chunk_time (0.05 s) rather than chunk_time
(0.5 s). The loaded runs are repeated with that turned off, to show what it buys and costs."""

SHORT_STATEMENTS = ("--busy-statement-time", "0.0005")
"""A busy chunk goes by statements of busy_statement_time (1 ms), each of which the
application's inserts wait for; the loaded runs are repeated with statements half as long, to
show the other side of that trade: the application's latency against the copy's time."""

VARIANTS = {"ours-long": LONG_CHUNKS, "ours-short": SHORT_STATEMENTS}
"""Loaded runs of ours with other options, by tool name."""
VARIANT_LABELS = {"ours-long": "0.5 s chunks", "ours-short": "statements of 0.5 ms"}


TOOLS = [
    Tool("alter", "ALTER TABLE ... ALGORITHM=COPY (blocking)", _blocking_alter),
    Tool("pt-osc", "pt-online-schema-change", _pt_osc),
    Tool("ours", "online_migrations (run + rename)", _ours),
    *(Tool(name, "online_migrations " + " ".join(options), lambda target, options=options: _ours(target, *options),
           modes=("load",)) for name, options in VARIANTS.items()),
]


def run_tool(tool: Tool, target: Target, log: Path) -> ToolRun:
    """Run the tool's steps one after another, their output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    run = ToolRun(ok=True, seconds=0.0, peak_rss_kb=0)
    with open(log, "w") as out:
        for step, argv in tool.steps(target):
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            run.started[step] = time.time()
            code, seconds, rss_kb = run_command(argv, target.env(), out)
            run.steps[step] = seconds
            run.seconds += seconds
            run.peak_rss_kb = max(run.peak_rss_kb, rss_kb)
            if code != 0:
                out.write(f"exit status {code}\n")
                run.ok = False
                break
    return run


def run_command(argv: list[str], env: dict[str, str], out) -> tuple[int, float, int]:
    """Exit status, wall seconds and peak RSS (KiB) of one child process.

    The RSS comes from /usr/bin/time, not from our own wait4(): Linux carries the memory
    high-water mark over exec, so a child forked by this (large) Python process would report
    at least our size. /usr/bin/time is tiny, so its child's mark is the tool's own.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        started = time.monotonic()
        code = subprocess.call(["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv],
                               env=env, stdout=out, stderr=subprocess.STDOUT)
        seconds = time.monotonic() - started
        lines = rss.read().split()
    return code, seconds, int(lines[-1]) if lines and lines[-1].isdigit() else 0


_COPY_DONE = re.compile(r"copy done: ([\d,]+) rows in ([\d,]+) chunks")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) online_migrations INFO (.*)$")


def our_phases(log: Path) -> dict[str, float]:
    """Setup / copy seconds and chunk count of our run, from the engine's log lines, to see
    where the time goes (the copy's share, the cost of one chunk)."""
    phases = {}
    lines = _log_lines(log)
    for _when, text in lines:
        done = _COPY_DONE.search(text)
        if done:
            phases["chunks"] = int(done.group(2).replace(",", ""))
    times = _milestones(lines)
    if {"setup", "copy", "copied"} <= times.keys():
        phases["setup_s"] = times["copy"] - times["setup"]
        phases["copy_s"] = times["copied"] - times["copy"]
    return phases


LOAD_PHASES = ("before", "start-up, setup", "copy", "index build", "start-up, verification", "swap", "after")
"""What our run was doing, in order, as the application saw it: the load's window is cut at
the steps' starts and ends and at the engine's log lines."""


def load_phase_bounds(run: ToolRun, log: Path, window: tuple[float, float]) -> list[tuple[str, float, float]]:
    """(phase, start, end) in time.time() seconds over the load's `window`, for a run of ours
    (`run` then `rename`); a phase whose log line is missing is left out."""
    times = _milestones(_log_lines(log))
    if not {"copy", "copied", "verified"} <= times.keys() or not {"run", "rename"} <= run.started.keys():
        return []
    rename_end = run.started["rename"] + run.steps["rename"]
    edges = [window[0], run.started["run"], times["copy"], times["copied"], run.started["rename"],
             times["verified"], rename_end, window[1]]
    return list(zip(LOAD_PHASES, edges, edges[1:]))


def _milestones(lines: list[tuple[float, str]]) -> dict[str, float]:
    """time.time() of the engine's log lines (from _log_lines) that start or end a phase."""
    # The last verification line wins: `rename` verifies, or reuses the one made during `run`.
    markers = {"creating the shadow table": "setup", "copying rows into": "copy", "copy done": "copied",
               "verified:": "verified", "verified after the copy": "verified"}
    return {phase: when for when, text in lines for marker, phase in markers.items() if marker in text}


def _log_lines(log: Path) -> list[tuple[float, str]]:
    """The engine's INFO lines with their time (its log stamps local time to the millisecond)."""
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        match = _STAMP.match(line)
        if match:
            lines.append((datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp(), match.group(2)))
    return lines
