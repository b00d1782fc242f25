"""A database connection of the engine's own, opened with the settings of a Django alias.

The engine changes session variables (lock timeouts) and needs autocommit with one short
transaction per chunk; doing that on Django's shared connection would leak into the
application's own queries and break inside `atomic()`. So every run opens its own.
"""

import logging
import random
import re
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TypeVar

from django.db import connections
from MySQLdb.constants import FIELD_TYPE
from MySQLdb.converters import conversions

from .errors import OnlineMigrationError

logger = logging.getLogger("online_migrations")
T = TypeVar("T")

ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213
# "Access denied; you need (at least one of) the PROCESS privilege(s)", and other privileges.
ER_SPECIFIC_ACCESS_DENIED = 1227
# The connection is gone: server gone away, lost during a query, killed, cannot connect.
CONNECTION_LOST = {2006, 2013, 1927, 2003, 4031}


def _bit_number(value: bytes) -> int:
    return int.from_bytes(value, "big")


# MySQLdb's own converters (not Django's): key values must come back exactly as the server
# sent them. But a BIT as a number: as the bytes MySQLdb makes of it, a key bound read back
# would be compared as text ("Truncated incorrect DECIMAL value"), and the copy stop.
CONVERSIONS = {**conversions, FIELD_TYPE.BIT: _bit_number}
# Our sessions' time zone: one without daylight saving time, see Session._open.
UTC = "+00:00"
# What Session._bind leaves alone: `names` (`` inside), 'strings' and "strings" (\' or '' inside).
_QUOTED = re.compile(r"""(`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")""", re.DOTALL)
_PLACEHOLDER = re.compile(r"(%s)")


@dataclass(frozen=True)
class TableSize:
    rows: int
    data: int
    """Bytes of the rows (off-page BLOB and TEXT values included)."""
    index: int
    """Bytes of the secondary indexes."""
    average_row: int


class Session:
    def __init__(self, alias: str, lock_wait_timeout: int):
        self.alias = alias
        self.lock_wait_timeout = lock_wait_timeout
        self.waited = 0.0
        """Seconds lost to lock timeouts and deadlocks (failed tries and the pauses after them)."""
        wrapper = _mysql_wrapper(alias)
        self._connect = wrapper.Database.connect
        self._params = wrapper.get_connection_params()
        # utf8mb4 whatever the alias says: key values with emoji travel as query parameters.
        self._params["charset"] = "utf8mb4"
        self._params["conv"] = CONVERSIONS
        # An application's client-side timeouts (OPTIONS read_timeout, write_timeout) would drop
        # the connection in the middle of a long statement of ours (an index build, a drop).
        self._params.pop("read_timeout", None)
        self._params.pop("write_timeout", None)
        self._open()
        self.database = self.value("SELECT DATABASE()")

    def _open(self) -> None:
        self.connection = self._connect(**self._params)
        self.connection.autocommit(True)
        self.mariadb = "mariadb" in self.connection.get_server_info().lower()
        settings = {
            "lock_wait_timeout": "%s",
            "sql_mode": "%s",
            # TIMESTAMP values read in a zone with daylight saving time are ambiguous: the hour
            # repeated in autumn reads the same twice, and a chunk bounded by a key read there
            # would skip or repeat an hour of rows. In UTC every value we read names one
            # instant. `zone` (the alias's, or the server's) is kept for what must be read as
            # the application reads it (ColumnMapping.zone_shifts, `application_zone`).
            "time_zone": "%s",
            # A chunk waiting on an application row lock blocks others behind its own locks.
            "innodb_lock_wait_timeout": "1",
            # Our temporary tables stand in for real ones (the new schema is tried on one first):
            # they must get the engine a real table would, not the server's for temporary tables.
            "default_tmp_storage_engine": "@@session.default_storage_engine",
            # Server-wide caps against runaway queries: max_join_size would refuse our checks,
            # which read the whole table once; sql_select_limit would cut our lists short (of
            # triggers, say, which then seem dropped).
            "sql_big_selects": "1",
            "sql_select_limit": "18446744073709551615",
            # A chunk's warnings are checked one by one, and the server lists this many at most;
            # those of rows the triggers copied ahead (duplicates, expected) come first.
            "max_error_count": "65535",
            # A server-wide cap on statement time (against runaway queries) would kill the index
            # build or the drop of a big table, after the copy; our other statements are short.
            "max_statement_time" if self.mariadb else "max_execution_time": "0",
        }
        if not self.mariadb:
            # MySQL 8 caches information_schema.TABLES for a day by default; the row estimates
            # and the time of a table's last write (see chunker.written_recently) must be live.
            settings["information_schema_stats_expiry"] = "0"
        mode, self.zone, system_zone = self.rows(
            "SELECT @@session.sql_mode, @@session.time_zone, @@system_time_zone")[0]
        self._zone_is_utc = self.zone in (UTC, "UTC") or (self.zone == "SYSTEM" and system_zone == "UTC")
        self.execute("SET " + ", ".join(f"SESSION {name} = {value}" for name, value in settings.items()),
                     [self.lock_wait_timeout, copy_sql_mode(mode), UTC])

    def reconnect(self) -> None:
        """A new connection in place of a lost one, with the same session settings (named
        locks and temporary tables of the old one are gone with it)."""
        try:
            self.connection.close()
        except self.connection.Error:
            pass
        self._open()

    @contextmanager
    def application_zone(self) -> Iterator[None]:
        """For statements that someone else wrote (a new schema, Django's SQL): their TIMESTAMP
        literals (a default, a partition bound) mean what they would in the application's zone.
        Nothing to do where that zone is UTC (the copy asks for it at every chunk)."""
        if self._zone_is_utc:
            yield
            return
        self.execute("SET SESSION time_zone = %s", [self.zone])
        try:
            yield
        finally:
            self.execute("SET SESSION time_zone = %s", [UTC])

    @contextmanager
    def implicit_transactions(self) -> Iterator[None]:
        """Autocommit off: a transaction starts with its first statement and ends with COMMIT,
        sparing the round trip of a BEGIN, which was ~15% of a busy copy's ~1 ms statements."""
        self.connection.autocommit(False)
        try:
            yield
        except BaseException:
            with suppress(self.connection.Error):  # a lost connection comes back with autocommit on
                self.connection.autocommit(True)
            raise
        self.connection.autocommit(True)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.connection.close()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        """Run one statement; returns the affected row count."""
        with self.connection.cursor() as cursor:
            cursor.execute(self._bind(sql, params))
            return cursor.rowcount

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(self._bind(sql, params))
            return list(cursor.fetchall())

    def _bind(self, sql: str, params: Sequence[Any] | None) -> bytes:
        """`sql` with `params` in place of its %s placeholders. MySQLdb would apply Python's %
        to the whole text, quoted names too: a table or column named `discount%` would break
        the statement, or take a parameter's place. Here a quoted name or string is left as
        it is."""
        encoding = self.connection.encoding
        if params is None:
            return sql.encode(encoding)
        values = iter(params)
        pieces = []
        for n, part in enumerate(_QUOTED.split(sql)):
            if n % 2:  # a quoted name or string
                pieces.append(part.encode(encoding))
                continue
            for m, text in enumerate(_PLACEHOLDER.split(part)):
                pieces.append(self.connection.literal(next(values)) if m % 2 else text.encode(encoding))
        return b"".join(pieces)

    def value(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def warnings(self) -> list[tuple[int | None, str]]:
        """(code, message) of the last statement's warnings; free when there were none. The
        server lists at most `max_error_count`: those it counted but did not list come as one
        more, of code None, so that none can pass for an expected one unseen."""
        count = self.connection.warning_count()
        if not count:
            return []
        listed = [(code, message) for _level, code, message in self.rows("SHOW WARNINGS")]
        if count > len(listed):
            listed.append((None, f"and {count - len(listed)} more warnings the server did not list"))
        return listed

    def innodb_catalog(self, view: str, column: str, tables: Sequence[str]) -> list[list] | None:
        """[name, `column`] from InnoDB's catalog view `view` (TABLES, TABLESPACES: MariaDB
        calls them INNODB_SYS_...) for `tables`, one row per partition. None when a name is not
        plain ASCII letters, digits and underscores (InnoDB spells other names in an encoding
        of its own), or when the user may not read the view (that takes PROCESS)."""
        if not all(re.fullmatch(r"\w+", name, re.ASCII) for name in (self.database, *tables)):
            return None
        exact = [f"{self.database}/{table}".lower() for table in tables]
        partitions = [f"{name}#p#%".replace("_", "\\_") for name in exact]
        source = f"INNODB_SYS_{view}" if self.mariadb else f"INNODB_{view}"
        try:
            return [list(row) for row in self.rows(
                f"SELECT NAME, {column} FROM information_schema.{source} WHERE LOWER(NAME) IN "
                f"({', '.join(['%s'] * len(exact))})" + "".join(" OR LOWER(NAME) LIKE %s" for _ in partitions)
                + " ORDER BY NAME", [*exact, *partitions],
            )]
        except self.connection.OperationalError as error:
            if error.args[0] != ER_SPECIFIC_ACCESS_DENIED:
                raise
            return None

    def table_size(self, table: str) -> "TableSize":
        """The table's size by the server's statistics, unless they lag far behind its own
        InnoDB files (a table filled a moment ago, restored from a dump, say, shows 16 KiB):
        then by its files and its row count, which InnoDB keeps up to date."""
        (rows, data, index, average), = self.rows(
            "SELECT TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, AVG_ROW_LENGTH FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", [table],
        )
        rows, data, index, average = (int(value or 0) for value in (rows, data, index, average))
        files = sum(int(size or 0) for _name, size in self.innodb_catalog("TABLESPACES", "FILE_SIZE", [table]) or [])
        if files > 4 * data:
            data = max(data, files - index)
            average = data // rows if rows else average
        return TableSize(rows, data, index, average)

    def table_exists(self, table: str) -> bool:
        return bool(
            self.value(
                "SELECT COUNT(*) FROM information_schema.TABLES"
                " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                [table],
            )
        )

    def estimated_rows(self, table: str) -> int:
        """The server's row estimate (InnoDB statistics: off by tens of percent, but free)."""
        return int(self.value(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [table],
        ) or 0)

    def triggers_on(self, table: str) -> list[tuple[str, str]]:
        """(name, event) of every trigger on `table`."""
        return self.rows(
            "SELECT TRIGGER_NAME, EVENT_MANIPULATION FROM information_schema.TRIGGERS"
            " WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s"
            " ORDER BY TRIGGER_NAME",
            [table],
        )

    def ddl(self, sql: str, *, what: str, retries: int) -> None:
        """Run a DDL statement that needs a metadata lock without letting the application queue
        behind it for long: each try waits at most `lock_wait_timeout`, then gives way."""
        self.retrying(lambda: self.execute(sql), retry_on={ER_LOCK_WAIT_TIMEOUT}, retries=retries, what=what,
                      pause=self.lock_wait_timeout)

    def never_locked(self, retries: int) -> str:
        """How a DDL that ran out of tries (see `ddl`) is told to the user."""
        return (f"waited for the table's metadata lock {retries + 1} times ({self.lock_wait_timeout}s each) and never "
                "got it")

    def retrying(
        self, step: Callable[[], T], *, retry_on: set[int], retries: int, what: str, pause: float = 0.0,
    ) -> T:
        """Run `step`, again after a pause with jitter when it fails with one of the `retry_on`
        error codes (lock timeouts, deadlocks), up to `retries` more times.

        `pause` is added to every backoff: a DDL that timed out waiting for a metadata lock
        held the application's queries up meanwhile, and pausing at least as long as it waited
        lets them through before it queues again."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                return step()
            except self.connection.OperationalError as error:
                if error.args[0] not in retry_on or attempt >= retries:
                    raise
                delay = pause + backoff(attempt)
                attempt += 1
                logger.warning("%s: %s (try %d of %d); again in %.1fs", what, error.args[1], attempt, retries + 1, delay)
                time.sleep(delay)
                self.waited += time.monotonic() - started


def backoff(attempt: int) -> float:
    """Exponential backoff capped at 10 s, with full jitter so retries from several
    processes do not line up."""
    return random.uniform(0, min(10.0, 0.1 * 2**attempt))


# TRADITIONAL, a combination shown beside its parts, would bring them back.
ZERO_DATE_MODES = {"NO_ZERO_DATE", "NO_ZERO_IN_DATE", "TRADITIONAL"}
# Added: a row whose AUTO_INCREMENT key is 0 (written under this mode, as mysqldump writes)
# keeps it; without, the copy and the triggers would give it a new key, as a plain ALTER
# TABLE does without a word. Dropped: it refuses our checks' GROUP BY of an expression.
OUR_MODES, DROPPED_MODES = ["NO_AUTO_VALUE_ON_ZERO", "STRICT_ALL_TABLES"], {"ONLY_FULL_GROUP_BY", *ZERO_DATE_MODES}


def copy_sql_mode(mode: str) -> str:
    """The sql_mode of our sessions, and of the triggers, which keep the one they were created
    under. Strict: an application write, or a copied row, that the new table cannot hold fails,
    instead of being cut to fit without a word. But without NO_ZERO_DATE and NO_ZERO_IN_DATE:
    those refuse values, not conversions, and a zero date the original holds (written by an
    application session without them) must reach the new table as it is; the application's
    own statement has checked its values under its own mode already."""
    kept = [m for m in mode.split(",") if m and m not in DROPPED_MODES and m not in OUR_MODES]
    return ",".join([*kept, *OUR_MODES])


def _mysql_wrapper(alias: str):
    if alias not in connections.settings:
        raise OnlineMigrationError(
            f"Unknown database alias {alias!r}: it is not in settings.DATABASES "
            f"(known aliases: {', '.join(sorted(connections.settings))}). Pass one of those."
        )
    wrapper = connections[alias]
    if wrapper.vendor != "mysql":
        raise OnlineMigrationError(
            f"Database alias {alias!r} uses the {wrapper.vendor} backend: online table changes "
            "need MySQL or MariaDB (django.db.backends.mysql)."
        )
    return wrapper
