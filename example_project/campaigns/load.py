"""An application load on the `campaign` table, to watch an online migration under traffic.

Threads run transactions at a fixed total rate. Each write changes `campaign` and a
control table `campaign_control` (a copy that is never migrated) identically, in the
same transaction, so after the load stops the two must hold the same data: any
difference is a row the migration lost or corrupted (`compare_with_control`).

The load behaves like an application deployed with both schemas in mind: it uses the
current physical column names of the table and, when a statement fails because a
column is unknown (the swap happened), reads them again and redoes the operation.

Plain MySQLdb connections (a `connect` callable), no Django: the benchmark in `bench/`
imports this module too.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable

import MySQLdb

from online_migrations.checksum import table_checksum

logger = logging.getLogger(__name__)

ER_BAD_FIELD_ERROR = 1054
RETRIED_ERRORS = {1213: "deadlock", 1205: "lock_wait_timeout"}

# The columns of the original table, and the names each may have after the migration.
LOGICAL_COLUMNS = (
    "id", "name", "objective", "description", "budget",
    "goal_value", "post_id", "start_date", "end_date",
)
PHYSICAL_NAMES = {"name": ("name", "display_name"), "goal_value": ("goal_value", "goal_spend")}

DEFAULT_MIX = {"insert": 2.0, "update": 5.0, "delete": 1.0, "read": 2.0}
WRITE_KINDS = frozenset({"insert", "update", "delete"})
# Each update changes one of these groups of columns, like different application screens.
UPDATE_GROUPS = (
    ("objective", "budget"),
    ("goal_value", "post_id"),
    ("start_date", "end_date"),
    ("name",),
)

NAMES = ("Spring sale", "Soldes d'été ☀️", "Black Friday 🛍️", "Summer launch 🚀", "Año nuevo 🎉", "Retargeting")
OBJECTIVES = ("REACH", "LINK_CLICKS", "CONVERSIONS", "VIDEO_VIEWS", "POST_ENGAGEMENT", "APP_INSTALLS")
AUDIENCES = ("18–34 in Lyon", "lookalike audience", "cart abandoners 🛒", "fans of the page 👍")

Connect = Callable[[], Any]
Columns = dict[str, str]


def physical_columns(cursor: Any, table: str) -> Columns:
    """Map each logical column to its current name in `table` (absent columns are left out)."""
    cursor.execute(f"SHOW COLUMNS FROM `{table}`")
    present = {row[0] for row in cursor.fetchall()}
    columns = {}
    for logical in LOGICAL_COLUMNS:
        for name in PHYSICAL_NAMES.get(logical, (logical,)):
            if name in present:
                columns[logical] = name
                break
    return columns


def random_campaign(rng: random.Random) -> dict[str, Any]:
    """Values for every logical column but id, with NULLs where the table allows them."""
    start = None if rng.random() < 0.1 else datetime(2024, 1, 1) + timedelta(seconds=rng.randrange(94_608_000))
    end = None if start is None or rng.random() < 0.2 else start + timedelta(days=rng.randint(1, 90))
    return {
        "name": f"{rng.choice(NAMES)} #{rng.randrange(1_000_000)}",
        "objective": rng.choice(OBJECTIVES),
        "description": f"Load campaign — {rng.choice(AUDIENCES)}",
        "budget": Decimal(rng.randrange(5_000, 5_000_000)) / 100,
        "goal_value": None if rng.random() < 0.25 else Decimal(rng.randrange(100, 1_000_000)) / 100,
        "post_id": None if rng.random() < 0.3 else f"10{rng.randrange(10**9):09d}_{rng.randrange(10**6)}",
        "start_date": start,
        "end_date": end,
    }


def insert_sql(table: str, columns: Columns, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """INSERT of the values whose columns exist in `table` (e.g. no description once dropped)."""
    present = [logical for logical in values if logical in columns]
    names = ", ".join(f"`{columns[logical]}`" for logical in present)
    marks = ", ".join(["%s"] * len(present))
    return f"INSERT INTO `{table}` ({names}) VALUES ({marks})", [values[logical] for logical in present]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max (nearest rank) of latencies in ms; zeros when there are none."""
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {"p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1]}


@dataclass
class LoadReport:
    """What the load saw: throughput, latency from the scheduled time, errors, write stalls."""

    ops: int
    duration: float
    latency_ms: dict[str, dict[str, float]]
    errors: dict[str, int]
    longest_write_stall_ms: float
    swap_stall_ms: float | None = None
    """The gap between write commits around the first time the load found the table's columns
    renamed: how long the swap held the application's writes. None: no swap was seen."""
    timeline: list[tuple[float, float, str]] = field(default_factory=list, repr=False)
    """Each operation's end (time.time()), latency in ms and kind, in no order: to line them up
    with what else happened meanwhile (the benchmark splits them by the engine's phases)."""

    def summary(self) -> str:
        """A few human lines."""
        rate = self.ops / self.duration if self.duration else 0.0
        lines = [f"load: {self.ops:,} operations in {self.duration:.1f}s ({rate:,.1f} ops/s)"]
        lines.append(f"  latency ms (from scheduled time)  {'p50':>8} {'p99':>8} {'max':>8}")
        for kind, stats in self.latency_ms.items():
            lines.append(f"    {kind:<31}{stats['p50']:>8.1f} {stats['p99']:>8.1f} {stats['max']:>8.1f}")
        errors = ", ".join(f"{kind}={count}" for kind, count in sorted(self.errors.items()))
        lines.append(f"  retried/failed: {errors or 'none'}")
        lines.append(f"  longest gap between two write commits: {self.longest_write_stall_ms:,.0f} ms")
        if self.swap_stall_ms is not None:
            lines.append(f"  gap between write commits around the swap: {self.swap_stall_ms:,.0f} ms")
        return "\n".join(lines)


@dataclass
class _WorkerStats:
    """One thread's measurements, merged at stop (no lock on the hot path)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    timeline: list[tuple[float, float, str]] = field(default_factory=list)


class _Session:
    """A worker's connection, replaced when it breaks (a rollback fails)."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self.conn = self._open()

    def _open(self) -> Any:
        conn = self._connect()
        conn.autocommit(False)
        return conn

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except MySQLdb.MySQLError:
            self.close()
            self.conn = self._open()

    def close(self) -> None:
        try:
            self.conn.close()
        except MySQLdb.MySQLError:
            pass


class Load:
    """A fixed-rate transactional load on `table`, mirrored into `control`.

    Operations are scheduled ahead at `rate` per second in total, whatever the server
    does: when it stalls, the backlog runs late and the latency (measured from the
    scheduled time) shows it, instead of the load silently slowing down.
    """

    def __init__(
        self,
        connect: Connect,
        *,
        rate: float = 200.0,
        threads: int = 4,
        table: str = "campaign",
        control: str = "campaign_control",
        seed: int = 0,
        mix: dict[str, float] | None = None,
    ) -> None:
        mix = mix or DEFAULT_MIX
        unknown = set(mix) - WRITE_KINDS - {"read"}
        if unknown:
            raise ValueError(f"unknown operation kinds in mix: {sorted(unknown)}")
        self.connect = connect
        self.rate = rate
        self.threads = threads
        self.table = table
        self.control = control
        self.seed = seed
        self._kinds = list(mix)
        self._weights = list(mix.values())
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._stats: list[_WorkerStats] = []
        self._crashes: list[BaseException] = []
        self._columns: dict[str, Columns] = {}
        self._max_id = 0
        self._next_slot = 0
        self._started = 0.0
        self._last_write = 0.0
        self._longest_stall = 0.0
        self._write_commits: list[float] = []
        self._first_switch: float | None = None

    def prepare(self) -> None:
        """(Re)create the control table as a copy of the table's current rows."""
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS `{self.control}`")
                cursor.execute(f"CREATE TABLE `{self.control}` LIKE `{self.table}`")
                cursor.execute(f"INSERT INTO `{self.control}` SELECT * FROM `{self.table}`")
            conn.commit()
        finally:
            conn.close()

    def start(self) -> None:
        """Open the connections (so a connection problem fails here), then start the threads."""
        sessions = [_Session(self.connect) for _ in range(self.threads)]
        with sessions[0].conn.cursor() as cursor:
            self._refresh_columns(cursor)
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM `{self.table}`")
            (self._max_id,) = cursor.fetchone()
        sessions[0].conn.rollback()
        self._started = self._last_write = time.monotonic()
        for index, session in enumerate(sessions):
            worker = threading.Thread(target=self._work, args=(index, session), name=f"load-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> LoadReport:
        """Stop the threads (each finishes its current operation) and report."""
        self._stopping.set()
        for worker in self._workers:
            worker.join()
        duration = time.monotonic() - self._started
        if self._crashes:
            raise RuntimeError("a load thread crashed") from self._crashes[0]
        return self._report(duration)

    def _report(self, duration: float) -> LoadReport:
        latencies: dict[str, list[float]] = defaultdict(list)
        errors: Counter = Counter()
        timeline: list[tuple[float, float, str]] = []
        for stats in self._stats:
            for kind, values in stats.latencies.items():
                latencies[kind].extend(values)
            errors.update(stats.errors)
            timeline += stats.timeline
        every = [value for values in latencies.values() for value in values]
        latency_ms = {kind: percentiles(latencies[kind]) for kind in self._kinds if latencies[kind]}
        latency_ms["all"] = percentiles(every)
        return LoadReport(
            ops=len(every),
            duration=duration,
            latency_ms=latency_ms,
            errors=dict(errors),
            longest_write_stall_ms=self._longest_stall * 1000,
            swap_stall_ms=self._swap_stall() * 1000 if self._first_switch is not None else None,
            timeline=timeline,
        )

    def _swap_stall(self) -> float:
        """From the last write commit before the first schema switch to the first one after."""
        commits = sorted(self._write_commits)
        switch = self._first_switch
        before = max((t for t in commits if t <= switch), default=self._started)
        after = min((t for t in commits if t > switch), default=switch)
        return after - before

    def _work(self, index: int, session: _Session) -> None:
        """Run operations at their scheduled times until stopped."""
        rng = random.Random(self.seed * 1_000_003 + index)
        stats = _WorkerStats()
        try:
            while True:
                scheduled = self._started + self._take_slot() / self.rate
                delay = scheduled - time.monotonic()
                if (delay > 0 and self._stopping.wait(delay)) or self._stopping.is_set():
                    break
                kind = rng.choices(self._kinds, self._weights)[0]
                if self._run(session, kind, self._draw(kind, rng), stats):
                    latency = (time.monotonic() - scheduled) * 1000
                    stats.latencies[kind].append(latency)
                    stats.timeline.append((time.time(), latency, kind))
        except BaseException as exc:  # surfaced by stop(): a thread must not die silently
            self._crashes.append(exc)
        finally:
            session.close()
            with self._lock:
                self._stats.append(stats)

    def _take_slot(self) -> int:
        with self._lock:
            slot = self._next_slot
            self._next_slot += 1
            return slot

    def _draw(self, kind: str, rng: random.Random) -> dict[str, Any]:
        """The operation's parameters, drawn once so that a retry redoes the same operation."""
        if kind == "insert":
            return random_campaign(rng)
        params: dict[str, Any] = {"id": rng.randint(1, max(1, self._max_id))}
        if kind == "update":
            values = random_campaign(rng)
            params.update({column: values[column] for column in rng.choice(UPDATE_GROUPS)})
        return params

    def _run(self, session: _Session, kind: str, params: dict[str, Any], stats: _WorkerStats) -> bool:
        """Run one operation as a transaction, retrying it on schema switches and lock errors."""
        while True:
            columns = self._columns
            try:
                with session.conn.cursor() as cursor:
                    getattr(self, f"_{kind}")(cursor, columns, params)
                session.conn.commit()
            except MySQLdb.MySQLError as exc:
                session.rollback()
                code = exc.args[0] if exc.args else None
                if code == ER_BAD_FIELD_ERROR and self._schema_changed(session, columns):
                    stats.errors["schema_switch"] += 1
                    self._note_switch()
                elif code in RETRIED_ERRORS:
                    stats.errors[RETRIED_ERRORS[code]] += 1
                else:
                    self._count_other(stats, code, exc)
                    return False
                continue
            if kind in WRITE_KINDS:
                self._note_write_commit()
            return True

    def _count_other(self, stats: _WorkerStats, code: Any, exc: Exception) -> None:
        key = f"other:{code}"
        if not stats.errors[key]:
            logger.warning("load operation failed: %s", exc)
        stats.errors[key] += 1

    def _schema_changed(self, session: _Session, used: dict[str, Columns]) -> bool:
        """Read the column names again; False when the failed attempt already used these
        (then the unknown column is a real error, not a swap)."""
        with session.conn.cursor() as cursor:
            self._refresh_columns(cursor)
        session.conn.rollback()
        return self._columns != used

    def _refresh_columns(self, cursor: Any) -> None:
        self._columns = {table: physical_columns(cursor, table) for table in (self.table, self.control)}

    def _note_write_commit(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._longest_stall = max(self._longest_stall, now - self._last_write)
            self._last_write = now
            self._write_commits.append(now)

    def _note_switch(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._first_switch is None:
                self._first_switch = now

    def _insert(self, cursor: Any, columns: dict[str, Columns], params: dict[str, Any]) -> None:
        cursor.execute(*insert_sql(self.table, columns[self.table], params))
        new_id = cursor.lastrowid
        cursor.execute(*insert_sql(self.control, columns[self.control], {"id": new_id, **params}))
        self._max_id = max(self._max_id, new_id)

    def _update(self, cursor: Any, columns: dict[str, Columns], params: dict[str, Any]) -> None:
        for table in (self.table, self.control):
            names = columns[table]
            changed = [logical for logical in params if logical != "id" and logical in names]
            assignments = ", ".join(f"`{names[logical]}` = %s" for logical in changed)
            cursor.execute(
                f"UPDATE `{table}` SET {assignments} WHERE `id` = %s",
                [params[logical] for logical in changed] + [params["id"]],
            )

    def _delete(self, cursor: Any, columns: dict[str, Columns], params: dict[str, Any]) -> None:
        for table in (self.table, self.control):
            cursor.execute(f"DELETE FROM `{table}` WHERE `id` = %s", [params["id"]])

    def _read(self, cursor: Any, columns: dict[str, Columns], params: dict[str, Any]) -> None:
        names = ", ".join(f"`{name}`" for name in columns[self.table].values())
        cursor.execute(f"SELECT {names} FROM `{self.table}` WHERE `id` = %s", [params["id"]])
        cursor.fetchall()


def compare_with_control(cursor: Any, table: str = "campaign", control: str = "campaign_control") -> tuple[bool, str]:
    """Whether `table` and `control` hold the same rows, over the columns they share.

    Renamed columns are matched (name/display_name, goal_value/goal_spend) from SHOW
    COLUMNS, so this works before and after the migration. Run it with the load stopped.
    """
    table_columns = physical_columns(cursor, table)
    control_columns = physical_columns(cursor, control)
    shared = [logical for logical in LOGICAL_COLUMNS if logical in table_columns and logical in control_columns]
    table_sum = table_checksum(cursor, table, [table_columns[logical] for logical in shared])
    control_sum = table_checksum(cursor, control, [control_columns[logical] for logical in shared])
    equal = table_sum == control_sum
    pairs = [
        table_columns[logical] if table_columns[logical] == control_columns[logical]
        else f"{table_columns[logical]}={control_columns[logical]}"
        for logical in shared
    ]
    width = max(len(table), len(control))
    description = "\n".join([
        f"{table:<{width}}  {table_sum[0]:>12,} rows  checksum {table_sum[1]:016x}",
        f"{control:<{width}}  {control_sum[0]:>12,} rows  checksum {control_sum[1]:016x}",
        f"compared columns: {', '.join(pairs)}",
        "EQUAL: no row lost, added or changed" if equal else "DIFFERENT: the table does not match its control",
    ])
    return equal, description
