"""Copying one chunk: a single server-side statement, no rows through Python.

    INSERT IGNORE INTO shadow (new columns) SELECT old columns FROM table
    FORCE INDEX (key) WHERE <chunk> LOCK IN SHARE MODE

Why this shape (the same as pt-online-schema-change's):
- LOCK IN SHARE MODE reads the latest committed version of each row and holds it until the
  chunk commits, so a concurrent UPDATE or DELETE waits for the chunk and then reaches the
  shadow table through its trigger. Without it the copy could write a row that was deleted
  meanwhile back into the shadow table (lhm's resurrected deletes).
- IGNORE keeps a row the triggers already wrote: theirs is newer than ours. It also turns
  real errors into warnings, so every warning except that duplicate key stops the run.
- When the shadow table has an AUTO_INCREMENT column and the server runs with
  innodb_autoinc_lock_mode below 2 (MariaDB's default), an INSERT ... SELECT holds the table's
  AUTO-INC lock until it ends, and the triggers' inserts queue for it. Were the chunk then to
  wait for a row an application transaction holds, the two would deadlock and the
  application's insert fail (MariaDB says 1467, "Failed to read auto-increment value"). So in
  that case the INSERT runs with NOWAIT: a chunk that meets a lock gives up at once, rolls
  back, and is copied again the careful way, its share locks first taken by a plain locking
  SELECT before the INSERT takes the AUTO-INC lock (the waiting is done by then). Taking the
  locks first always would read every chunk twice (the benchmark measured 10% of the copy);
  on a table whose rows are busy, the next chunks go the careful way straight away.
- What a careful chunk can still meet is in the shadow table: the gap where its rows go, which
  an application transaction in REPEATABLE READ locks when its trigger looks for a row the
  copy has not reached (an UPDATE or DELETE of it). Waiting there with the AUTO-INC lock
  deadlocked with that transaction's next insert, and the application lost (40% of the
  transactions that update a row, then insert one, measured by hand). So the careful chunk
  first copies its last row alone, waiting for that gap if need be: the AUTO-INC lock is
  taken only once the row is in, and held to the end of that one-row statement. That row
  closes the gap below it: a later search there is for a row of the chunk, which waits for
  the chunk's share lock before its trigger runs. The rest of the chunk is then copied with
  NOWAIT (should it meet a lock after all, it rolls back and is copied again after a pause).
- Under that same AUTO-INC lock every application insert waits for the INSERT ... SELECT
  running at that moment (its trigger inserts too; updates do not, unless their trigger
  inserts: a row not copied yet whose key changes); and any write to a row of the chunk waits
  for the chunk's share lock on it. So while the application writes, a chunk is copied by
  statements of about busy_statement_time each (1 ms by default; sized by the time the
  statements have taken so far, see StatementCost), each in a transaction of its own: a write
  waits for one statement, not for the whole chunk. Their own transactions matter as much as
  their length: with the same statements in one transaction per 50 ms chunk, 7-9% of the
  benchmark load's operations during the copy were slower than its limit (the load alone's
  p99 x 1.5), against ~1% with a commit after each (and a copy ~55% slower, for the commits).
  Without the AUTO-INC lock (innodb_autoinc_lock_mode 2) a busy chunk was one 50 ms statement:
  3% of the operations during the copy over the limit, committed by ~1 ms statements
  0.2-0.8% (1M rows, three rounds each; the copy twice as long). A chunk is then only the unit
  of the checkpoint: a run resumed within one copies its rows again, which IGNORE makes
  harmless (the shadow table's rows, the triggers', are the newer ones). The statements'
  bounds are found as the chunks' are (Chunker), so a chunk of any key is cut.
"""

import re
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Iterator

from .chunker import Chunk, Chunker, Key
from .errors import OnlineMigrationError
from .mapping import ColumnMapping
from .session import ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, Session
from .sql import quote_name

ER_DUP_ENTRY = 1062
# "Cannot add or update a child row: a foreign key constraint fails".
ER_NO_REFERENCED_ROW = 1452
# Statement-based binary logging calls every INSERT ... SELECT unsafe; nothing is lost.
ER_BINLOG_UNSAFE_STATEMENT = 1592
_RECORDS = re.compile(r"Records:\s*(\d+)")
_DUPLICATE_KEY = re.compile(r"for key '(.*)'$")


CAREFUL_COPIES = 10
"""Statements (each in its own transaction) copied the careful way after one met a lock."""

STATEMENT_SECONDS = 0.001
"""The default of busy_statement_time: how long one INSERT ... SELECT should take while the
application's writes wait for each (see above), within the jitter of a millisecond-scale
statement. Measured at 1M rows under the benchmark's load (p50 ~1 ms, its p99 target ~2 ms),
with one transaction per 50 ms chunk: with statements of ~5 ms (2,000 rows) 12-18% of the
application's operations during the copy were over that target, ~2 ms (500 rows) 11-17%, ~1 ms
(200 rows) 2-5%, ~0.6 ms (100 rows) 2-3% for a copy 40% slower still. With each statement
committed on its own (two rounds each, an Intel Xeon): 1 ms 3.3-4.8% over a 5.1-5.4 s copy,
0.5 ms 1.1-2.5% over 8.1 s. The default keeps the loaded copy near pt-online-schema-change's
time; the option trades that for the application's latency."""


class StatementCost:
    """What an INSERT ... SELECT of the copy costs, fitted over the latest statements (each
    weighs DECAY of the one after it) as a fixed part plus a part per row, and how many rows the
    next one should take.

    Sized by rows per second alone (time / rows), statements shrank without end wherever the
    fixed part (the statement's round trip, parsing, its locks, a busy server's waits) came near
    the time wanted: a smaller statement took hardly less time, so it looked slower per row,
    so the next was smaller still. Under the benchmark's load on a slow day a 200,000-row copy
    went at 4,900 rows/s by ~17-row statements, against 53,000 in the round before. So the
    statements alternate between two sizes (a third below and above the wanted one) for the fit
    to tell the two parts apart, and a statement keeps as many rows as its fixed part is worth,
    up to `seconds` of rows: where no statement can be as short as `seconds`,
    the application waits for its fixed part and at most that much more, and at least half of
    the copy's time goes to rows. A fit is trusted only near the sizes it was made of: a
    statement takes at most GROWTH times the rows of the last one timed, so should noise make
    the fitted part per row far too small, the application does not wait for a statement of a
    whole chunk before the next timing corrects it."""

    DECAY = 0.95
    GROWTH = 3
    """Above the 2 between the alternating sizes, so that it never holds back a steady copy."""

    def __init__(self, seconds: float = STATEMENT_SECONDS) -> None:
        self.seconds = seconds
        """How long a statement should take (busy_statement_time)."""
        self._sums = [0.0] * 5  # weights, rows, seconds, rows², rows × seconds
        self._larger = False
        self._last = 0

    def timed(self, rows: int, seconds: float) -> None:
        """A statement's rows and time; one that found no rows (a gap in the key) says nothing."""
        if rows <= 0:
            return
        self._last = rows
        point = (1.0, rows, seconds, rows * rows, rows * seconds)
        self._sums = [self.DECAY * total + value for total, value in zip(self._sums, point)]

    def fit(self) -> tuple[float, float] | None:
        """(fixed seconds, seconds per row), or None until a statement was timed. Until the
        statements' sizes differ enough to tell, all of their time counts as per row."""
        weights, rows, seconds, squares, products = self._sums
        if not weights:
            return None
        spread = weights * squares - rows * rows
        if spread > 0.01 * rows * rows:
            per_row = (weights * products - rows * seconds) / spread
            fixed = (seconds - per_row * rows) / weights
            if per_row > 0 and fixed >= 0:
                return fixed, per_row
        return 0.0, max(seconds, 1e-6) / rows

    def rows_per_statement(self) -> int | None:
        """Rows for the next statement, alternately a third below and above the wanted size,
        at most GROWTH times the last one's; None until a statement was timed."""
        fitted = self.fit()
        if fitted is None:
            return None
        fixed, per_row = fitted
        wanted = max(self.seconds - fixed, min(fixed, self.seconds)) / per_row
        self._larger = not self._larger
        return max(1, min(round(wanted * (4 / 3 if self._larger else 2 / 3)), self.GROWTH * self._last))


@dataclass
class CopyStatement:
    table: str
    shadow: str
    mapping: ColumnMapping
    key: Key
    shadow_key: str
    """Name of the shadow table's index on the key columns: its duplicates are the expected ones."""
    autoinc_lock: bool = False
    """The INSERT holds the shadow table's AUTO-INC lock to its end (see above)."""
    application_zone: bool = False
    """The chunks run in the application's time zone (Session.application_zone), so that what
    the server makes of a value in a session's zone (a stored generated column computed from a
    TIMESTAMP, a TIMESTAMP filled from a literal) comes out as a plain ALTER TABLE makes it.
    Not for a key with a TIMESTAMP, whose bounds only UTC reads unambiguously."""
    dense_key: bool = False
    """The key is one integer column dense enough to count in (Chunker.dense): a statement's
    bounds are computed, not read."""
    careful: int = field(default=0, compare=False)
    """Statements still to copy the careful way."""
    cost: StatementCost = field(default_factory=StatementCost, compare=False)

    def sql(self, chunk: Chunk, nowait: bool = False, last_row: bool = False) -> tuple[str, list]:
        """The chunk's INSERT; `last_row`: of its last row alone (see above)."""
        where, params = chunk.condition(self.key.columns)
        dest = ", ".join(quote_name(c) for c in self.mapping.dest)
        origin = ", ".join(self.mapping.source(c) for c in self.mapping.origin)
        last = f" ORDER BY {', '.join(f'{quote_name(c)} DESC' for c in self.key.columns)} LIMIT 1" if last_row else ""
        insert = f"INSERT IGNORE INTO {quote_name(self.shadow)} ({dest}) SELECT {origin}{self._source(where, last)}"
        return insert + (" NOWAIT" if nowait else ""), params

    def lock_sql(self, chunk: Chunk) -> tuple[str, list]:
        where, params = chunk.condition(self.key.columns)
        return f"SELECT COUNT(*){self._source(where)}", params

    def _source(self, where: str, order: str = "") -> str:
        return (
            f" FROM {quote_name(self.table)} FORCE INDEX ({quote_name(self.key.index)})"
            f" WHERE {where}{order} LOCK IN SHARE MODE"
        )


def takes_autoinc_lock(session: Session, shadow: str) -> bool:
    """Whether an INSERT ... SELECT into `shadow` holds the table's AUTO-INC lock to its end."""
    if session.value("SELECT @@innodb_autoinc_lock_mode") >= 2:
        return False
    return bool(session.value(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s"
        " AND EXTRA LIKE %s", [shadow, "%auto_increment%"],
    ))


def copy_chunk(session: Session, statement: CopyStatement, chunk: Chunk, retries: int, *, busy: bool = False) -> int:
    """Copy one chunk; returns the number of rows read from the original table. `busy`: the
    application writes to the table, so the chunk goes by statements of `statement.cost.seconds`.

    A deadlock or row lock timeout rolls back the statement's transaction, so it is simply run
    again.
    """
    pieces = _walk(session, statement, chunk) if busy and statement.cost.fit() else [chunk]
    zone = session.application_zone() if statement.application_zone else nullcontext()
    with zone, session.implicit_transactions():
        return sum(
            session.retrying(
                lambda piece=piece: _copy_once(session, statement, piece), retry_on={ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT},
                retries=retries, what=f"copying a chunk of {quote_name(statement.table)}",
            )
            for piece in pieces
        )


def _walk(session: Session, statement: CopyStatement, chunk: Chunk) -> Iterator[Chunk]:
    """The chunk's rows by statements of StatementCost's sizes, walked as the chunks themselves
    are: any key."""
    inclusive = chunk.lower if chunk.lower_inclusive else None
    after = None if chunk.lower_inclusive else chunk.lower
    walk = Chunker(
        session, statement.table, statement.key, inclusive, chunk.upper, after=after, dense=statement.dense_key,
    )
    return iter(lambda: walk.next(statement.cost.rows_per_statement()), None)


def _copy_once(session: Session, statement: CopyStatement, piece: Chunk) -> int:
    if not statement.autoinc_lock:
        return _transaction(session, statement, piece)
    if statement.careful:
        statement.careful -= 1
    else:
        try:
            return _transaction(session, statement, piece, nowait=True)
        except session.connection.OperationalError as error:
            if error.args[0] != ER_LOCK_WAIT_TIMEOUT:
                raise
            statement.careful = CAREFUL_COPIES
    return _transaction(session, statement, piece, locks_first=True)


def _transaction(session: Session, statement: CopyStatement, piece: Chunk, *,
                 nowait: bool = False, locks_first: bool = False) -> int:
    """One statement's rows in their own transaction (begun by its first statement: see
    Session.implicit_transactions), committed only when the warnings are the expected ones:
    rows that would put changed data into the shadow table leave nothing there."""
    try:
        if locks_first:
            session.execute(*statement.lock_sql(piece))
            session.execute(*statement.sql(piece, last_row=True))
            _check_warnings(session, statement, piece)
        started = time.monotonic()
        session.execute(*statement.sql(piece, nowait or locks_first))
        elapsed = time.monotonic() - started
        rows = _records(session, statement, piece)
        statement.cost.timed(rows, elapsed)
        session.execute("COMMIT")
        return rows
    except BaseException:
        session.connection.rollback()
        raise


def _records(session: Session, statement: CopyStatement, chunk: Chunk) -> int:
    """Rows the INSERT read, after checking its warnings. info() describes the last statement:
    it is read before SHOW WARNINGS replaces it."""
    match = _RECORDS.search(session.connection.info() or "")
    _check_warnings(session, statement, chunk)
    return int(match.group(1)) if match else 0


def _check_warnings(session: Session, statement: CopyStatement, chunk: Chunk) -> None:
    unexpected = [
        (code, message)
        for code, message in session.warnings()
        if code != ER_BINLOG_UNSAFE_STATEMENT and not (code == ER_DUP_ENTRY and _is_key(message, statement.shadow_key))
    ]
    if unexpected:
        shown = "; ".join(f"{code}: {message}" for code, message in unexpected[:5])
        orphans = (
            " Some of those rows name a parent row that does not exist (written with foreign_key_checks=0, "
            "which a plain ALTER TABLE does not check again, but the new table's foreign key does): find them "
            "with a LEFT JOIN on the parent table, and delete them or point them at a parent."
            if any(code == ER_NO_REFERENCED_ROW for code, _ in unexpected) else ""
        )
        raise OnlineMigrationError(
            f"Copying {quote_name(statement.table)} into {quote_name(statement.shadow)} raised warnings "
            f"for the rows with keys from {chunk.lower} to {chunk.upper}: {shown}. The server would have "
            "changed or dropped data to fit the new schema, so the chunk was rolled back and the copy "
            f"stopped; the original table is untouched.{orphans} Fix the data, then run the migration again to "
            "resume; or fix the schema: throw this run away (abort_migration(), `online_migration abort <table>`) "
            "and start again."
        )


def _is_key(message: str, index: str) -> bool:
    """MariaDB names the key 'PRIMARY'; MySQL 8 names it 'table.PRIMARY'."""
    match = _DUPLICATE_KEY.search(message)
    return bool(match) and (match.group(1) == index or match.group(1).endswith("." + index))
