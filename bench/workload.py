"""The table each run starts from, the application load around it, and the final check.

The load is the example project's `campaigns.load.Load`: the same fixed-rate transactions
the demo uses, each mirrored into `campaign_control`, so a run that lost or changed a row
shows up as a difference between the two tables.
"""

import functools
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import MySQLdb

from online_migrations.checksum import SHARING, checksum_sql
from online_migrations.chunker import BUSY_WINDOW

from .snapshot import manage
from .tools import NEW_INDEXES, Target


@dataclass(frozen=True)
class LoadSettings:
    rate: float
    threads: int
    settle: float
    """Seconds of load before the migration starts and after it ends, so the window shows
    the steady state on both sides (and the first writes after the swap)."""


@dataclass
class LoadResult:
    """The load report flattened for the results file."""

    seconds: float
    ops: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    longest_write_stall_ms: float
    swap_stall_ms: float | None = None

    @classmethod
    def of(cls, report: Any) -> "LoadResult":
        """From a campaigns.load.LoadReport."""
        every = report.latency_ms["all"]
        return cls(report.duration, report.ops, every["p50"], every["p99"], every["max"],
                   dict(report.errors), report.longest_write_stall_ms, report.swap_stall_ms)


@dataclass
class LoadTimeline:
    """When the load ran (time.time()) and each operation's (end, latency ms, kind): kept in
    memory only, to split the latencies by what the tool was doing."""

    start: float
    end: float
    ops: list[tuple[float, float, str]]

    def by_phase(self, bounds: list[tuple[str, float, float]], limit_ms: float) -> dict:
        """Per phase: its length, the operations that ended in it, how many took longer than
        `limit_ms`, their p99, and the longest time without a committed write that ended in it
        (from the write before, which may fall in an earlier phase)."""
        writes = sorted(when for when, _ms, kind in self.ops if kind in _load_module().WRITE_KINDS)
        gaps = list(zip(writes, writes[1:]))
        phases = []
        for name, start, end in bounds:
            latencies = sorted(ms for when, ms, _kind in self.ops if start <= when < end)
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None
            gap = max((after - before for before, after in gaps if start <= after < end), default=None)
            phases.append({"phase": name, "seconds": round(end - start, 2), "ops": len(latencies),
                           "over_limit": sum(ms > limit_ms for ms in latencies), "p99_ms": p99,
                           "longest_write_gap_ms": round(gap * 1000, 1) if gap is not None else None})
        return {"limit_ms": limit_ms, "phases": phases}


def connector(target: Target) -> Callable[[], MySQLdb.Connection]:
    return functools.partial(MySQLdb.connect, host=target.host, port=target.port, user=target.user,
                             password="", database=target.database, charset="utf8mb4")


def create_database(target: Target, log: Path) -> None:
    """The benchmark's database, then the engine's own tables (its run checkpoints), which
    `manage.py migrate online_migrations` creates. Only those: the example project's other
    apps are not measured, and `fill_campaigns --reset` creates `campaign` itself."""
    conn = MySQLdb.connect(host=target.host, port=target.port, user=target.user, password="")
    try:
        conn.cursor().execute(
            f"CREATE DATABASE IF NOT EXISTS `{target.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    finally:
        conn.close()
    if not (target.root / "online_migrations" / "migrations").is_dir():
        return  # an engine revision from before it kept tables of its own
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        subprocess.run([*manage(target.root), "migrate", "online_migrations"], env=target.env(),
                       stdout=out, stderr=subprocess.STDOUT, check=True)


def fresh_table(target: Target, rows: int, log: Path) -> None:
    """`campaign` in its original shape with `rows` generated rows, and its control copy.

    Through the example project's own `fill_campaigns --reset`, so the table is exactly the
    one the demo migrates. The binary logs of earlier runs are purged first: each run writes
    the whole table to them, and only disk space would remember it.
    """
    _execute(target, "RESET MASTER")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        subprocess.run([*manage(target.root), "fill_campaigns", str(rows), "--reset"],
                       env=target.env(), stdout=out, stderr=subprocess.STDOUT, check=True)
    _load_module().Load(connector(target)).prepare()
    quiesce(target)


def quiesce(target: Target, timeout: float = 300.0) -> None:
    """Wait until InnoDB has written out the fill's dirty pages and purged its undo logs.

    Otherwise the tool that runs next pays for the fill in the background: a blocking ALTER of
    200k rows took 2.4 s right after a fill and 0.7 s when it started three seconds later.
    Flushing is forced, at full speed (the default innodb_io_capacity of 200 pages/s would
    take minutes), for the wait only. Then the operating system writes out its own dirty pages
    (the fill's binary log, a gigabyte at 3M rows): left to the kernel's writeback, they
    stalled the commits of the load that ran next (a p99 of 90 ms with no migration at all).
    """
    hurry = {"innodb_io_capacity_max": 100_000, "innodb_io_capacity": 50_000, "innodb_max_dirty_pages_pct": 0}
    conn = connector(target)()
    try:
        with conn.cursor() as cursor:
            saved = {}
            for name, value in hurry.items():
                cursor.execute(f"SELECT @@GLOBAL.{name}")
                saved[name] = cursor.fetchone()[0]
                cursor.execute(f"SET GLOBAL {name} = %s", [value])
            try:
                deadline = time.monotonic() + timeout
                while _busy(cursor) and time.monotonic() < deadline:
                    time.sleep(0.5)
            finally:
                for name in reversed(list(saved)):
                    cursor.execute(f"SET GLOBAL {name} = %s", [saved[name]])
    finally:
        conn.close()
    os.sync()


def _busy(cursor: Any) -> bool:
    """More than ~16 MiB of dirty pages, or more than a few thousand undo logs to purge."""
    cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
    dirty = int(cursor.fetchone()[1])
    cursor.execute("SELECT COUNT FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rseg_history_len'")
    row = cursor.fetchone()
    history = int(row[0]) if row else 0
    return dirty > 1000 or history > 5000


def wait_until_quiet(target: Target) -> None:
    """Wait until nobody has written `campaign` for BUSY_WINDOW seconds. Our engine copies in
    short chunks while the table is being written (by the application, or here by the fill
    that just made it), so an idle run must start on a table that is idle by that measure."""
    conn = connector(target)()
    try:
        with conn.cursor() as cursor:
            while True:
                cursor.execute(
                    "SELECT TIMESTAMPDIFF(SECOND, UPDATE_TIME, NOW()) FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'campaign'"
                )
                (age,) = cursor.fetchone()
                if age is None or age > BUSY_WINDOW:
                    return
                time.sleep(BUSY_WINDOW + 1 - age)
    finally:
        conn.close()


def with_load(target: Target, settings: LoadSettings,
              action: Callable[[], object]) -> tuple[object, LoadResult, LoadTimeline]:
    """Run `action` inside a window of application load; its result and the load's report."""
    load = _load_module().Load(connector(target), rate=settings.rate, threads=settings.threads)
    start = time.time()
    load.start()
    try:
        time.sleep(settings.settle)
        result = action()
        time.sleep(settings.settle)
    finally:
        report = load.stop()
    return result, LoadResult.of(report), LoadTimeline(start, time.time(), report.timeline)


def load_alone(target: Target, settings: LoadSettings, seconds: float) -> tuple[LoadResult, LoadTimeline]:
    """The baseline: the same load for the same window, with no migration."""
    window = max(seconds - 2 * settings.settle, 0.0)
    _result, report, timeline = with_load(target, settings, lambda: time.sleep(window))
    return report, timeline


UNTOUCHED = "campaign_untouched"
"""A copy of `campaign` that the load never reads or writes (see server_alone)."""
COLUMNS = ("id", "name", "objective", "budget", "goal_value", "post_id", "start_date", "end_date")
"""The columns our verification compares (those the change keeps), as the original names them."""
NULLABLE = ("goal_value", "post_id", "start_date", "end_date")


def server_alone(target: Target, settings: LoadSettings) -> tuple[LoadResult, LoadTimeline, list[tuple[str, float, float]]]:
    """The load while the server does the two pieces of our run's work that it does at its own
    pace, on a copy of `campaign` the load never touches: the in-place build of the change's
    indexes (one ALTER, as our run makes it), then the verification's checksums (each chunk of
    SHARING's size read twice in one snapshot, as it reads the original and the new table).
    No trigger, lock or row is shared with the load, so what the load feels is the cores and
    the disk that work takes: the floor under those two phases of ours. Returns the load's
    report and timeline, and each piece's (phase, start, end)."""
    conn = connector(target)()
    conn.autocommit(True)
    bounds = []

    def work() -> None:
        with conn.cursor() as cursor:
            started = time.time()
            cursor.execute(f"ALTER TABLE `{UNTOUCHED}` {', '.join(NEW_INDEXES)}, ALGORITHM=INPLACE, LOCK=NONE")
            bounds.append(("index build alone", started, time.time()))
            started = time.time()
            cursor.execute(f"SELECT MAX(`id`) FROM `{UNTOUCHED}`")
            last = cursor.fetchone()[0] or 0
            values, flagged = ([f"`{column}`" for column in names] for names in (COLUMNS, NULLABLE))
            for low in range(0, last, SHARING.chunk_rows):
                sql = checksum_sql(UNTOUCHED, values, flagged, f"`id` > {low} AND `id` <= {low + SHARING.chunk_rows}")
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                for _ in range(2):  # the original's chunk, then the new table's
                    cursor.execute(sql)
                    cursor.fetchall()
                cursor.execute("COMMIT")
            bounds.append(("checksums alone", started, time.time()))

    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{UNTOUCHED}`")
            cursor.execute(f"CREATE TABLE `{UNTOUCHED}` LIKE `campaign`")
            cursor.execute(f"INSERT INTO `{UNTOUCHED}` SELECT * FROM `campaign`")
        quiesce(target)
        _result, report, timeline = with_load(target, settings, work)
        with conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE `{UNTOUCHED}`")
    finally:
        conn.close()
    return report, timeline, bounds


def table_equals_control(target: Target) -> bool:
    conn = connector(target)()
    try:
        with conn.cursor() as cursor:
            equal, _description = _load_module().compare_with_control(cursor)
        return equal
    finally:
        conn.close()


def _execute(target: Target, sql: str) -> None:
    conn = connector(target)()
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()



def _load_module() -> Any:
    """The snapshot's campaigns.load: benchmark.main puts its example_project on sys.path."""
    import campaigns.load

    return campaigns.load
