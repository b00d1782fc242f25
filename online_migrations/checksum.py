"""Order-independent checksums of a table's columns, computed by the server, and the
verification that the shadow table holds exactly the original's rows before the swap.

Two sets of rows are the same in the given columns exactly when their row counts and
checksums are equal (up to a 32-bit hash collision), whatever the columns are called.
"""

import datetime
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from . import names
from .chunker import Chunk, Chunker
from .describe import INTEGER_BITS, TEXT_BYTES, Column, Table, base_type, decimal_digits
from .errors import OnlineMigrationError
from .mapping import in_zone
from .plan import Plan, describe
from .session import Session
from .sql import quote_name

logger = logging.getLogger("online_migrations")

@dataclass(frozen=True)
class Pace:
    """How many connections compare chunks at once, and how many rows a chunk has. Each
    connection compares its chunk of both tables in a snapshot of its own; the work is
    CPU-bound hashing on the server. Snapshot reads lock nothing, so chunks can be longer than
    the copy's; they stay bounded to keep old row versions (the undo log) from piling up
    behind one snapshot."""

    connections: int
    chunk_rows: int


ALONE = Pace(connections=2, chunk_rows=50_000)
"""Nothing else keeps the server busy."""
SHARING = Pace(connections=1, chunk_rows=10_000)
"""Something else needs the server's cores. The in-place index build works one, so one
connection is left the other (measured at 3M rows on 2 cores: the build took as long with the
verification beside it as without). The application writing to the table: measured at 1M rows
under the benchmark's load on 2 cores, one connection took the share of its operations over
the p99 target during the verification from 5-9% to 2-3%, for a verification twice as long.
Chunks are short because the build's last step waits for every open snapshot on the shadow
table, and the application's writes pile up old row versions behind a long one."""


def row_text(values: Sequence[str], flagged: Sequence[str]) -> str:
    """One row's values (SQL expressions) as one string, the way pt-table-checksum spells it:
    CONCAT_WS skips NULLs, so a trailing string of ISNULL() flags says which of the `flagged`
    values were NULL. It costs 30% less than QUOTE()-ing every column; what it cannot tell
    apart (a '#' moved across a column boundary) is not what a broken copy produces."""
    parts = list(values)
    if flagged:
        parts.append("CONCAT(" + ", ".join(f"ISNULL({value})" for value in flagged) + ")")
    return "CONCAT_WS('#', " + ", ".join(parts) + ")"


def checksum_sql(table: str, values: Sequence[str], flagged: Sequence[str], where: str = "") -> str:
    """`SELECT COUNT(*), <checksum>` of `values` (see row_text): BIT_XOR of each row's
    CRC32, which ignores row order. CRC32 rather than MD5 (pt-table-checksum's choice too): it
    halves the cost of verifying a big table, and a changed row goes unnoticed with odds of 2^-32."""
    return (
        f"SELECT COUNT(*), COALESCE(BIT_XOR(CRC32({row_text(values, flagged)})), 0) FROM {quote_name(table)}"
        + (f" WHERE {where}" if where else "")
    )


def table_checksum(cursor, table: str, columns: Sequence[str]) -> tuple[int, int]:
    """(row count, checksum) of `columns` of `table`."""
    quoted = [quote_name(c) for c in columns]
    cursor.execute(checksum_sql(table, quoted, quoted))
    count, value = cursor.fetchone()
    return int(count), int(value)


def verify(session: Session, plan: Plan, pace: Pace, stop: threading.Event | None = None) -> float:
    """Compare the original and the shadow table chunk by chunk, each chunk of both read in
    one consistent snapshot: the triggers' writes commit with the application's, so a
    snapshot sees both tables in step. A chunk that differs is read again (once, a moment
    later); if it still differs, the run stops before the swap with the keys that differ.
    Returns the seconds it took; once `stop` is set no further chunk is started, and the
    caller that set it must not take the tables as verified."""
    started = time.monotonic()
    comparison = _Comparison.of(session, plan, describe(session, plan.table), describe(session, plan.shadow))
    if comparison.skipped:
        logger.info("%s: not compared: %s", quote_name(plan.table), ", ".join(comparison.skipped))
    if comparison.by_original_keys:
        logger.info("%s: the key sorts differently in the new table (its character set or collation changes): "
                    "its rows are picked by the original's keys, and both tables counted at the end",
                    quote_name(plan.table))
    chunker = Chunker(session, plan.table, plan.key)
    # The walk ends at the original's last key; a last open chunk compares what lies beyond
    # it in either table (rows the application adds meanwhile, or rows left in the shadow
    # table by deletes that fired no trigger, a TRUNCATE say).
    walk = iter(lambda: chunker.next(pace.chunk_rows), None)
    beyond = Chunk(chunker.limit, False, None)
    chunks = itertools.chain(walk, [beyond])
    workers = threading.local()
    opened: list[Session] = []

    def check(chunk: Chunk) -> None:
        if stop is not None and stop.is_set():
            return
        if not hasattr(workers, "session"):
            workers.session = Session(session.alias, session.lock_wait_timeout)
            opened.append(workers.session)
        if not comparison.same(workers.session, chunk):
            time.sleep(0.2)
            if not comparison.same(workers.session, chunk):
                comparison.fail(workers.session, chunk)

    try:
        with ThreadPoolExecutor(pace.connections) as pool:
            for _ in pool.map(check, chunks):
                pass
    finally:
        for worker in opened:
            worker.connection.close()
    if comparison.by_original_keys and not (stop is not None and stop.is_set()):
        comparison.same_count(session)
    seconds = time.monotonic() - started
    if stop is not None and stop.is_set():
        return seconds
    logger.info("%s: verified: the new table holds the same rows (%.1fs)", quote_name(plan.table), seconds)
    return seconds


def verify_from_next_second(
    session: Session, plan: Plan, unless: threading.Event, stop: threading.Event,
) -> tuple[float, dict] | None:
    """Verify, starting on the server's next whole second (and a little after, for commits
    being made visible), unless `unless` is set before then (None); returns the seconds the
    comparison took and the marks that `still_holds` compares with. Whatever is committed
    before that second, the comparison sees; whatever is committed from it on moves a table's
    UPDATE_TIME to it or later."""
    now = session.value("SELECT NOW(6)")
    since = now.replace(microsecond=0) + datetime.timedelta(seconds=1)
    if unless.wait((since - now).total_seconds() + 0.1):
        return None
    marks = {"since": since.isoformat(sep=" "), "table_ids": innodb_table_ids(session, plan)}
    return verify(session, plan, SHARING, stop), marks


def still_holds(session: Session, plan: Plan, marks: dict) -> bool:
    """Whether neither table has changed since a verification that began with `marks`: no
    commit since its second (UPDATE_TIME, kept by InnoDB to the second; unknown, NULL, after
    a restart), and the same InnoDB tables (a TRUNCATE, which fires no trigger and leaves
    UPDATE_TIME alone, a rebuild or a partition change gives new ones)."""
    if marks["table_ids"] is None or innodb_table_ids(session, plan) != marks["table_ids"]:
        return False
    return session.value(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        " AND TABLE_NAME IN (%s, %s) AND UPDATE_TIME < %s", [plan.table, plan.shadow, marks["since"]],
    ) == 2


def innodb_table_ids(session: Session, plan: Plan) -> list[list] | None:
    """[name, id] of the InnoDB tables behind both tables (one per partition); None when they
    cannot be read (see Session.innodb_catalog): then the verification is simply done again
    before the swap."""
    return session.innodb_catalog("TABLES", "TABLE_ID", [plan.table, plan.shadow])


def _stored_fill(session: Session, column: Column, table: Table, fill: str) -> str:
    """`fill` as `column` stores it (a date literal in a DATETIME gains its time), as a
    utf8mb4 string literal: written to a temporary column of the same type and read back."""
    probe = quote_name(names.probe_table(table.name))
    charset, collation = table.charset_of(column), table.collation_of(column)
    type_ = column.type.replace(" compressed", "")  # MariaDB's column compression: the same text
    definition = " ".join([type_, *([f"CHARACTER SET {charset}"] if charset else []),
                           *([f"COLLATE {collation}"] if collation else [])])
    session.execute(f"DROP TEMPORARY TABLE IF EXISTS {probe}")
    session.execute(f"CREATE TEMPORARY TABLE {probe} (v {definition})")
    try:
        with session.application_zone():  # as the copy and the triggers store it
            session.execute(f"INSERT INTO {probe} VALUES ({fill})")
        hexed = session.value(f"SELECT HEX(CONVERT(CONCAT(v) USING utf8mb4)) FROM {probe}")
    finally:
        session.execute(f"DROP TEMPORARY TABLE IF EXISTS {probe}")
    return f"CONVERT(X'{hexed}' USING utf8mb4)"


_UNSWAPPED = (
    "The tables were not swapped and the original is untouched. Something wrote to the shadow table, or a trigger "
    "was missing for a while: throw the run away (`online_migration abort` or abort_migration()) and run the "
    "migration again."
)
_VARIABLE_TEXT = {"varchar", *TEXT_BYTES}
_LONG_VALUES = {*TEXT_BYTES, "tinyblob", "blob", "mediumblob", "longblob", "json"}
_CHARACTER_TEXT = {"char", *_VARIABLE_TEXT}


def same_text(before: str, after: str) -> bool:
    """Whether a value copied from a column of type `before` into one of type `after` reads
    as the same text (given that it fits, which the copy makes sure of): integers, strings
    and decimals of one scale do, whatever their width; a CHAR read drops trailing spaces,
    so a CHAR can become a VARCHAR, not the other way round."""
    if before == after:
        return True
    if "zerofill" in before or "zerofill" in after:
        return False
    old, new = base_type(before), base_type(after)
    if old in INTEGER_BITS and new in INTEGER_BITS:
        return True
    if old in {"enum", *_CHARACTER_TEXT} and new in _VARIABLE_TEXT:  # an ENUM reads as its label
        return True
    digits = decimal_digits(before), decimal_digits(after)
    return None not in digits and digits[0][1] == digits[1][1]


@dataclass(frozen=True)
class _Comparison:
    """Which columns of the two tables are compared, and the queries that compare a chunk."""

    plan: Plan
    origin: list[str]
    dest: list[str]
    """The compared values of each table, SQL expressions in pairs; each pair is of one
    character set (or none), so that CONCAT_WS joins both rows in the same one."""
    origin_flagged: list[str]
    dest_flagged: list[str]
    """Values that can be NULL in either table, flagged on both sides, or equal rows would hash apart."""
    skipped: list[str]
    by_original_keys: bool
    """The key sorts differently in the new table (another character set or collation): a
    range of the original's key is another set of rows there, so the new table's rows of a
    chunk are those with the original's keys of the chunk, and rows only the new table has
    are found by counting both whole (`same_count`)."""

    @classmethod
    def of(cls, session: Session, plan: Plan, original: Table, new: Table) -> "_Comparison":
        """Every copied column whose values read the same in the new type (same_text): text
        whose character set changes read in utf8mb4 on both sides (CONVERT costs a quarter
        more, so only there), and a column whose NULLs are filled, with the fill as the new
        column stores it (`_stored_fill`) where the original is NULL, a TIMESTAMP made
        DATETIME or back, both read in the application's time zone, and an ENUM whose list
        changes, label by label. The others (a decimal's scale, a datetime's precision, a SET's
        list) are left out, by name."""
        by_original_keys = any(
            (original.charset_of(a), original.collation_of(a)) != (new.charset_of(b), new.collation_of(b))
            for a, b in ((original.column(c), new.column(plan.mapping.dest_of(c))) for c in plan.key.columns)
        )
        comparison = cls(plan, [], [], [], [], [], by_original_keys)
        filled, shifted = dict(plan.mapping.fills), dict(plan.mapping.zone_shifts)
        for o, d in plan.mapping.pairs:
            a, b = original.column(o), new.column(d)
            before, after = quote_name(o), quote_name(d)
            if d in shifted and a.type.replace("timestamp", "datetime") == b.type.replace("timestamp", "datetime"):
                # Both read in the application's time zone (see ColumnMapping.zone_shifts).
                zone = plan.mapping.zone
                before, after = (in_zone(before, zone), after) if shifted[d] == "datetime" else (before, in_zone(after, zone))
            elif base_type(a.type) == base_type(b.type) == "enum" and new.collation_of(b):
                # The copy matched each label to the new list under the new column's collation
                # ('paid' is 'Paid' under a _ci one): compared by that collation's weights.
                charset, collation = new.charset_of(b), new.collation_of(b)
                before = f"HEX(WEIGHT_STRING(CONVERT(CONCAT({before}) USING {charset}) COLLATE {collation}))"
                after = f"HEX(WEIGHT_STRING(CONCAT({after}) COLLATE {collation}))"
            elif not same_text(a.type, b.type):
                comparison.skipped.append(f"{quote_name(o)} ({a.type} -> {b.type})")
                continue
            if d in filled:
                stored = _stored_fill(session, b, new, filled[d])
                before, after = f"CONVERT(COALESCE({before}, {stored}) USING utf8mb4)", f"CONVERT({after} USING utf8mb4)"
            elif original.charset_of(a) != new.charset_of(b):
                before, after = f"CONVERT({before} USING utf8mb4)", f"CONVERT({after} USING utf8mb4)"
            if {base_type(a.type), base_type(b.type)} & _LONG_VALUES:
                # A row's values joined past max_allowed_packet come out NULL, and the row would
                # hash as nothing on both sides: a long value is joined as its own hash instead.
                before, after = f"CRC32({before})", f"CRC32({after})"
            comparison.origin.append(before)
            comparison.dest.append(after)
            if (a.nullable or b.nullable) and d not in filled:
                comparison.origin_flagged.append(before)
                comparison.dest_flagged.append(after)
        return comparison

    def same(self, session: Session, chunk: Chunk) -> bool:
        """Whether the chunk's rows are the same in both tables."""
        (where, params), (shadow_where, shadow_params) = self._conditions(chunk)
        with _snapshot(session):
            a = session.rows(checksum_sql(self.plan.table, self.origin, self.origin_flagged, where), params)[0]
            b = session.rows(checksum_sql(self.plan.shadow, self.dest, self.dest_flagged, shadow_where), shadow_params)[0]
        return a == b

    def fail(self, session: Session, chunk: Chunk) -> None:
        plan = self.plan
        (where, params), (shadow_where, shadow_params) = self._conditions(chunk)
        keys = ", ".join(map(quote_name, plan.key.columns))
        shadow_keys = ", ".join(map(quote_name, self._shadow_key))
        with _snapshot(session):
            origin, dest = row_text(self.origin, self.origin_flagged), row_text(self.dest, self.dest_flagged)
            a = dict(session.rows(f"SELECT CONCAT_WS(',', {keys}), MD5({origin}) "
                                  f"FROM {quote_name(plan.table)} WHERE {where}", params))
            b = dict(session.rows(f"SELECT CONCAT_WS(',', {shadow_keys}), MD5({dest}) "
                                  f"FROM {quote_name(plan.shadow)} WHERE {shadow_where}", shadow_params))
        differing = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        raise OnlineMigrationError(
            f"Verification failed: {quote_name(plan.shadow)} does not hold the same rows as {quote_name(plan.table)} "
            f"for the keys ({keys}) {', '.join(differing[:10])}{' and more' if len(differing) > 10 else ''}. "
            + _UNSWAPPED
        )

    def same_count(self, session: Session) -> None:
        """With `by_original_keys`, after every chunk matched: whether the new table holds
        rows the original does not (read again once, a moment later, like a chunk)."""
        plan = self.plan
        keys = ", ".join(map(quote_name, plan.key.columns))
        shadow_keys = ", ".join(map(quote_name, self._shadow_key))
        counts = f"SELECT (SELECT COUNT(*) FROM {quote_name(plan.table)}), (SELECT COUNT(*) FROM {quote_name(plan.shadow)})"
        for attempt in range(2):
            time.sleep(0.2 * attempt)
            with _snapshot(session):
                original, shadow = session.rows(counts)[0]
                if original == shadow:
                    return
                if attempt:
                    extra = session.rows(
                        f"SELECT {shadow_keys} FROM {quote_name(plan.shadow)} WHERE ({shadow_keys}) NOT IN "
                        f"(SELECT {keys} FROM {quote_name(plan.table)}) LIMIT 10"
                    )
        named = f": it has rows the original does not, e.g. the keys ({shadow_keys}) " + ", ".join(
            ", ".join(map(repr, row)) for row in extra) if extra else ""
        raise OnlineMigrationError(
            f"Verification failed: {quote_name(plan.shadow)} holds {shadow} rows, the original {original}{named}. "
            + _UNSWAPPED
        )

    @property
    def _shadow_key(self) -> tuple[str, ...]:
        return tuple(self.plan.mapping.dest_of(c) for c in self.plan.key.columns)

    def _conditions(self, chunk: Chunk):
        """The chunk's rows in each table: by key range, or in the new table by the
        original's keys in that range (`by_original_keys`)."""
        where, params = chunk.condition(self.plan.key.columns)
        if not self.by_original_keys:
            return (where, params), chunk.condition(self._shadow_key)
        keys = ", ".join(map(quote_name, self.plan.key.columns))
        shadow_keys = ", ".join(map(quote_name, self._shadow_key))
        return (where, params), (f"({shadow_keys}) IN (SELECT {keys} FROM {quote_name(self.plan.table)} WHERE {where})",
                                 params)


class _snapshot:
    """One REPEATABLE READ transaction with a consistent snapshot taken at its start."""

    def __init__(self, session: Session):
        self.session = session

    def __enter__(self):
        self.session.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        self.session.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")

    def __exit__(self, *exc):
        self.session.execute("COMMIT")
