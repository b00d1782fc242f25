"""Order-independent checksums of a table's columns, computed by the server, and the
verification that the shadow table holds exactly the original's rows before the swap.

Two sets of rows are the same in the given columns exactly when their row counts and
checksums are equal (up to a 32-bit hash collision), whatever the columns are called.
"""

import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from .chunker import Chunk, Chunker
from .describe import Table
from .errors import OnlineMigrationError
from .plan import Plan, describe
from .session import Session
from .sql import quote_name

logger = logging.getLogger("online_migrations")

VERIFY_CHUNK_ROWS = 50_000
"""Snapshot reads lock nothing, so verification chunks can be longer than the copy's; they stay
bounded to keep old row versions (the undo log) from piling up behind one snapshot."""

VERIFY_CONNECTIONS = 2
"""Chunks are compared on this many connections at once: each compares its chunk of both
tables in a snapshot of its own, and the work is CPU-bound hashing on the server."""


def row_text(columns: Sequence[str], nullable: Sequence[bool] | None = None) -> str:
    """One row's columns as one string, the way pt-table-checksum spells it: CONCAT_WS skips
    NULLs, so a trailing string of ISNULL() flags says which of the `nullable` columns (all
    when not given) were NULL. It costs 30% less than QUOTE()-ing every column; what it cannot
    tell apart (a '#' moved across a column boundary) is not what a broken copy produces."""
    flagged = columns if nullable is None else [c for c, flag in zip(columns, nullable) if flag]
    parts = [quote_name(c) for c in columns]
    if flagged:
        parts.append("CONCAT(" + ", ".join(f"ISNULL({quote_name(c)})" for c in flagged) + ")")
    return "CONCAT_WS('#', " + ", ".join(parts) + ")"


def checksum_sql(table: str, columns: Sequence[str], where: str = "", nullable: Sequence[bool] | None = None) -> str:
    """`SELECT COUNT(*), <checksum>` over `columns`: BIT_XOR of each row's CRC32, which
    ignores row order. CRC32 rather than MD5 (pt-table-checksum's choice too): it halves the
    cost of verifying a big table, and a changed row goes unnoticed with odds of 2^-32."""
    return (
        f"SELECT COUNT(*), COALESCE(BIT_XOR(CRC32({row_text(columns, nullable)})), 0) FROM {quote_name(table)}"
        + (f" WHERE {where}" if where else "")
    )


def table_checksum(cursor, table: str, columns: Sequence[str]) -> tuple[int, int]:
    """(row count, checksum) of `columns` of `table`."""
    cursor.execute(checksum_sql(table, columns))
    count, value = cursor.fetchone()
    return int(count), int(value)


def verify(session: Session, plan: Plan) -> float:
    """Compare the original and the shadow table chunk by chunk, each chunk of both read in
    one consistent snapshot: the triggers' writes commit with the application's, so a
    snapshot sees both tables in step. A chunk that differs is read again (once, a moment
    later); if it still differs, the run stops before the swap with the keys that differ.
    Returns the seconds it took."""
    started = time.monotonic()
    comparison = _Comparison.of(plan, describe(session, plan.table), describe(session, plan.shadow))
    if comparison.skipped:
        logger.info("%s: not compared: %s", quote_name(plan.table), ", ".join(comparison.skipped))
    chunker = Chunker(session, plan.table, plan.key)
    # The walk ends at the original's last key; a last open chunk compares what lies beyond
    # it in either table (rows the application adds meanwhile, or rows left in the shadow
    # table by deletes that fired no trigger, a TRUNCATE say).
    walk = iter(lambda: chunker.next(VERIFY_CHUNK_ROWS), None)
    beyond = Chunk(chunker.limit, False, None)
    chunks = itertools.chain(walk, [beyond])
    workers = threading.local()
    opened: list[Session] = []

    def check(chunk: Chunk) -> None:
        if not hasattr(workers, "session"):
            workers.session = Session(session.alias, session.lock_wait_timeout)
            opened.append(workers.session)
        if not comparison.same(workers.session, chunk):
            time.sleep(0.2)
            if not comparison.same(workers.session, chunk):
                comparison.fail(workers.session, chunk)

    try:
        with ThreadPoolExecutor(VERIFY_CONNECTIONS) as pool:
            for _ in pool.map(check, chunks):
                pass
    finally:
        for worker in opened:
            worker.connection.close()
    seconds = time.monotonic() - started
    logger.info("%s: verified: the new table holds the same rows (%.1fs)", quote_name(plan.table), seconds)
    return seconds


@dataclass(frozen=True)
class _Comparison:
    """Which columns of the two tables are compared, and the queries that compare a chunk."""

    plan: Plan
    origin: list[str]
    dest: list[str]
    nullable: list[bool]
    """Flagged on both sides when either column can hold NULL, or equal rows would hash apart."""
    skipped: list[str]

    @classmethod
    def of(cls, plan: Plan, original: Table, new: Table) -> "_Comparison":
        """A column whose type changes is stored differently (a wider decimal, another
        charset), and one whose NULLs are filled holds other values there: they are left out,
        by name."""
        pairs, skipped = [], []
        filled = dict(plan.mapping.fills)
        for o, d in plan.mapping.pairs:
            a, b = original.column(o), new.column(d)
            if d in filled:
                skipped.append(f"{quote_name(o)} (its NULLs become {filled[d]})")
            elif (a.type, a.charset, a.collation) == (b.type, b.charset, b.collation):
                pairs.append((o, d))
            else:
                skipped.append(f"{quote_name(o)} ({a.type} -> {b.type})")
        nullable = [original.column(o).nullable or new.column(d).nullable for o, d in pairs]
        return cls(plan, [o for o, _ in pairs], [d for _, d in pairs], nullable, skipped)

    def same(self, session: Session, chunk: Chunk) -> bool:
        """Whether the chunk's rows are the same in both tables."""
        (where, params), (shadow_where, shadow_params) = self._conditions(chunk)
        with _snapshot(session):
            a = session.rows(checksum_sql(self.plan.table, self.origin, where, self.nullable), params)[0]
            b = session.rows(checksum_sql(self.plan.shadow, self.dest, shadow_where, self.nullable), shadow_params)[0]
        return a == b

    def fail(self, session: Session, chunk: Chunk) -> None:
        plan = self.plan
        (where, params), (shadow_where, shadow_params) = self._conditions(chunk)
        keys = ", ".join(map(quote_name, plan.key.columns))
        shadow_keys = ", ".join(map(quote_name, self._shadow_key))
        with _snapshot(session):
            a = dict(session.rows(f"SELECT CONCAT_WS(',', {keys}), MD5({row_text(self.origin, self.nullable)}) "
                                  f"FROM {quote_name(plan.table)} WHERE {where}", params))
            b = dict(session.rows(f"SELECT CONCAT_WS(',', {shadow_keys}), MD5({row_text(self.dest, self.nullable)}) "
                                  f"FROM {quote_name(plan.shadow)} WHERE {shadow_where}", shadow_params))
        differing = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        raise OnlineMigrationError(
            f"Verification failed: {quote_name(plan.shadow)} does not hold the same rows as {quote_name(plan.table)} "
            f"for the keys ({keys}) {', '.join(differing[:10])}{' and more' if len(differing) > 10 else ''}. The tables "
            "were not swapped and the original is untouched. Something wrote to the shadow table, or a trigger "
            "was missing for a while: throw the run away (`online_migration abort` or abort_migration()) and run "
            "the migration again."
        )

    @property
    def _shadow_key(self) -> tuple[str, ...]:
        return tuple(self.plan.mapping.dest_of(c) for c in self.plan.key.columns)

    def _conditions(self, chunk: Chunk):
        return chunk.condition(self.plan.key.columns), chunk.condition(self._shadow_key)


class _snapshot:
    """One REPEATABLE READ transaction with a consistent snapshot taken at its start."""

    def __init__(self, session: Session):
        self.session = session

    def __enter__(self):
        self.session.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        self.session.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")

    def __exit__(self, *exc):
        self.session.execute("COMMIT")
