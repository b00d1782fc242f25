"""Application-like writers for the tests: every write goes to the migrated table and to a
control table in one transaction, so at the end the two must hold the same data."""

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from unittest import mock

from online_migrations import engine
from online_migrations.checksum import table_checksum
from online_migrations.sql import quote_name

from .conftest import connect

DEADLOCK, LOCK_WAIT_TIMEOUT, DUPLICATE = 1213, 1205, 1062
# MariaDB's error for the victim of a deadlock that was waiting for a table's AUTO-INC lock,
# which it takes for an UPDATE that changes an AUTO_INCREMENT key (the writers' key updates).
AUTOINC_DEADLOCK = 1467


@dataclass
class Spec:
    """What writers need to know about a table: its key and how to make values."""

    table: str
    key: tuple[str, ...]
    make_row: Callable[[random.Random], dict[str, Any]]
    """Values for the columns writers set (key columns included unless `auto_key`)."""
    auto_key: bool = False
    control: str = ""
    session: tuple[str, ...] = ()
    """Statements each writer runs on its connection first (its time zone, say)."""
    alias: str = "default"
    """The Django alias of the server the writers write to."""
    tolerated: Callable[[Exception], bool] = lambda error: False
    """Integrity errors the application meets with or without a migration (a parent deleted
    meanwhile, say): counted as skipped."""

    def __post_init__(self):
        self.control = self.control or f"{self.table}__control"


@dataclass
class Counts:
    inserts: int = 0
    updates: int = 0
    key_updates: int = 0
    deletes: int = 0
    retries: int = 0
    skipped: int = 0
    other_errors: list = field(default_factory=list)


class Writers:
    def __init__(self, spec: Spec, threads: int = 4, seed: int = 1):
        self.spec = spec
        self.threads = threads
        self.seed = seed
        self.counts = Counts()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._keys: list[tuple] = []

    def prepare(self, sql):
        """Control table = copy of the table now; call before the migration starts."""
        t, c = quote_name(self.spec.table), quote_name(self.spec.control)
        sql(f"DROP TABLE IF EXISTS {c}")
        sql(f"CREATE TABLE {c} LIKE {t}")
        sql(f"INSERT INTO {c} SELECT * FROM {t}")
        cols = ", ".join(map(quote_name, self.spec.key))
        self._keys = [tuple(r) for r in sql(f"SELECT {cols} FROM {t}")]

    def __enter__(self):
        for n in range(self.threads):
            worker = threading.Thread(target=self._work, args=(random.Random(self.seed * 1000 + n),), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> Counts:
        self._stop.set()
        for worker in self._workers:
            worker.join()
        self._workers = []
        return self.counts

    @property
    def writes(self) -> int:
        c = self.counts
        return c.inserts + c.updates + c.key_updates + c.deletes

    def _work(self, rnd: random.Random):
        conn = connect(self.spec.alias)
        for statement in self.spec.session:
            conn.cursor().execute(statement)
        conn.autocommit(False)
        try:
            while not self._stop.is_set():
                op = rnd.choice([self._insert, self._insert, self._update, self._update, self._update,
                                 self._update_key, self._delete])
                self._transaction(conn, op, rnd)
        finally:
            conn.close()

    def _transaction(self, conn, op, rnd):
        for _attempt in range(50):
            try:
                with conn.cursor() as cursor:
                    done = op(cursor, rnd)
                conn.commit()
                if done:
                    with self._lock:
                        done()
                return
            except conn.OperationalError as error:
                conn.rollback()
                if error.args[0] not in (DEADLOCK, LOCK_WAIT_TIMEOUT, AUTOINC_DEADLOCK):
                    self.counts.other_errors.append(error)
                    return
                self.counts.retries += 1
            except conn.IntegrityError as error:
                conn.rollback()
                if error.args[0] != DUPLICATE and not self.spec.tolerated(error):
                    self.counts.other_errors.append(error)
                self.counts.skipped += 1
                return
            except Exception as error:  # noqa: BLE001 - recorded and asserted on by the tests
                conn.rollback()
                self.counts.other_errors.append(error)
                return

    def _both(self, cursor, statement_for, params):
        for table in (self.spec.table, self.spec.control):
            cursor.execute(statement_for(quote_name(table)), params)
        return cursor.rowcount

    def _pick(self, rnd):
        with self._lock:
            return rnd.choice(self._keys) if self._keys else None

    def _where(self):
        return " AND ".join(f"{quote_name(c)} = %s" for c in self.spec.key)

    def _insert(self, cursor, rnd):
        row = self.spec.make_row(rnd)
        if self.spec.auto_key:
            cols = list(row)
            names = ", ".join(map(quote_name, cols))
            marks = ", ".join(["%s"] * len(cols))
            cursor.execute(f"INSERT INTO {quote_name(self.spec.table)} ({names}) VALUES ({marks})", list(row.values()))
            key = (cursor.lastrowid,)
            row = {self.spec.key[0]: key[0], **row}
            names = ", ".join(map(quote_name, row))
            cursor.execute(
                f"INSERT INTO {quote_name(self.spec.control)} ({names}) VALUES ({', '.join(['%s'] * len(row))})",
                list(row.values()),
            )
        else:
            names = ", ".join(map(quote_name, row))
            marks = ", ".join(["%s"] * len(row))
            self._both(cursor, lambda t: f"INSERT INTO {t} ({names}) VALUES ({marks})", list(row.values()))
            key = tuple(row[c] for c in self.spec.key)

        def done():
            self.counts.inserts += 1
            self._keys.append(key)
        return done

    def _update(self, cursor, rnd):
        key = self._pick(rnd)
        if key is None:
            return None
        row = {c: v for c, v in self.spec.make_row(rnd).items() if c not in self.spec.key}
        sets = ", ".join(f"{quote_name(c)} = %s" for c in row)
        self._both(cursor, lambda t: f"UPDATE {t} SET {sets} WHERE {self._where()}", list(row.values()) + list(key))

        def done():
            self.counts.updates += 1
        return done

    def _update_key(self, cursor, rnd):
        """Moves a row to another key: the path where a trigger must delete and insert."""
        key = self._pick(rnd)
        if key is None:
            return None
        if self.spec.auto_key:
            new_key = (rnd.randrange(1, 10**9),)
        else:
            fresh = self.spec.make_row(rnd)
            new_key = tuple(fresh[c] for c in self.spec.key)
        sets = ", ".join(f"{quote_name(c)} = %s" for c in self.spec.key)
        self._both(cursor, lambda t: f"UPDATE {t} SET {sets} WHERE {self._where()}", list(new_key) + list(key))

        def done():
            self.counts.key_updates += 1
            self._keys.append(new_key)
        return done

    def _delete(self, cursor, rnd):
        key = self._pick(rnd)
        if key is None:
            return None
        self._both(cursor, lambda t: f"DELETE FROM {t} WHERE {self._where()}", list(key))

        def done():
            self.counts.deletes += 1
        return done


def chunks_between_writes(writers: Writers, writes: int = 3):
    """Make the copy wait for the writers' next few writes before each chunk: on a small table
    the copy can otherwise be over before they meet a row it has not reached yet."""
    real = engine.copy_chunk

    def copy_chunk(*args, **kwargs):
        wanted, deadline = writers.writes + writes, time.monotonic() + 5
        while writers.writes < wanted and time.monotonic() < deadline:
            time.sleep(0.001)
        return real(*args, **kwargs)

    return mock.patch.object(engine, "copy_chunk", copy_chunk)


def assert_same_data(sql, table: str, columns: Sequence[str], control: str, control_columns: Sequence[str]):
    """The migrated table holds exactly the control table's rows, compared by checksum; on a
    difference, the differing rows are shown."""
    with sql.conn.cursor() as cursor:
        got = table_checksum(cursor, table, columns)
        expected = table_checksum(cursor, control, control_columns)
    if got != expected:
        a = set(sql(f"SELECT {', '.join(map(quote_name, columns))} FROM {quote_name(table)}"))
        b = set(sql(f"SELECT {', '.join(map(quote_name, control_columns))} FROM {quote_name(control)}"))
        raise AssertionError(
            f"{table} (count, checksum) {got} != control {expected}\n"
            f"only in table: {sorted(a - b, key=repr)[:5]}\nonly in control: {sorted(b - a, key=repr)[:5]}"
        )


class HeldMetadataLock:
    """Someone's open transaction that has read `table`, so holds its metadata lock, for
    `seconds`, while an application keeps running `statement` and its latencies are noted:
    what our DDL must wait for without stalling the application."""

    def __init__(self, table: str, statement: str, seconds: float = 3.0):
        self.table, self.statement, self.seconds = table, statement, seconds
        self.latencies: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def __enter__(self):
        self.holder = connect()
        self.holder.autocommit(False)
        with self.holder.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {quote_name(self.table)}")
        time.sleep(1.5)  # old enough to be reported as a long transaction
        self._worker = threading.Thread(target=self._application, daemon=True)
        self._worker.start()
        self._release = threading.Timer(self.seconds, self.holder.commit)
        self._release.start()
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.monotonic() - self.started
        self._stop.set()
        self._worker.join()
        self._release.join()
        self.holder.close()

    def while_held(self) -> list[float]:
        """Latencies of the application's statements started while the lock was held."""
        return [seconds for at, seconds in self.latencies if self.started < at < self.started + self.seconds - 0.5]

    def _application(self):
        app = connect()
        with app.cursor() as cursor:
            while not self._stop.is_set():
                started = time.monotonic()
                cursor.execute(self.statement)
                self.latencies.append((started, time.monotonic() - started))
                time.sleep(0.01)
        app.close()
