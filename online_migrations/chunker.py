"""Key ranges to copy, walked along a unique key in index order.

Each boundary is found by one query that reads only the index (`ORDER BY key LIMIT 1 OFFSET
n-1`), so any key works the same way: integers in any order, strings, several columns. Rows
inserted above the last key seen at the start are the triggers' business, not the copy's.

The usual big table has an AUTO_INCREMENT key with few gaps, and there the boundary is
computed instead of scanned for: the next n values of an integer key hold at most n rows,
and about n where it is dense. So a single integer key with at least one row per two values
(by the server's estimate) is walked n values at a time: never more rows than asked for,
fewer where there are gaps, and no query but the copy's own.
"""

import time
from dataclasses import dataclass
from typing import Any, Sequence

from .session import Session
from .sql import quote_name


@dataclass(frozen=True)
class Key:
    """The unique, NOT NULL key that identifies a row in both tables."""

    index: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Chunk:
    lower: tuple | None
    """Key values the chunk starts after (or at, when `lower_inclusive`); None: the first row."""
    lower_inclusive: bool
    upper: tuple | None
    """Key values the chunk ends at, included: its last row's, or a computed bound. None: no
    end (the verification's last chunk, of whatever lies beyond the walk)."""

    def condition(self, columns: Sequence[str], qualifier: str = "") -> tuple[str, list]:
        """SQL condition and parameters selecting the chunk's rows."""
        parts = []
        if self.lower is not None:
            parts.append(compare(columns, ">=" if self.lower_inclusive else ">", self.lower, qualifier))
        if self.upper is not None:
            parts.append(compare(columns, "<=", self.upper, qualifier))
        return " AND ".join(sql for sql, _ in parts) or "TRUE", [p for _, params in parts for p in params]

    @property
    def first_value(self) -> int:
        """The smallest value of a one-column integer key the chunk can hold (it has a lower bound)."""
        return self.lower[0] + (0 if self.lower_inclusive else 1)


def compare(columns: Sequence[str], op: str, values: Sequence[Any], qualifier: str = "") -> tuple[str, list]:
    """Row comparison `(c1, c2, ...) op (v1, v2, ...)`, spelt out term by term.

    `(a, b) > (1, 2)` is not turned into an index range by every server version; the
    expanded form `a > 1 OR (a = 1 AND b > 2)` always is.
    """
    strict = op[0]
    names = [qualifier + quote_name(c) for c in columns]
    terms, params = [], []
    for i, name in enumerate(names):
        equal = [f"{n} = %s" for n in names[:i]]
        terms.append("(" + " AND ".join(equal + [f"{name} {strict} %s"]) + ")")
        params += list(values[: i + 1])
    if op.endswith("="):
        terms.append("(" + " AND ".join(f"{n} = %s" for n in names) + ")")
        params += list(values)
    return "(" + " OR ".join(terms) + ")", params


class Chunker:
    def __init__(
        self, session: Session, table: str, key: Key, start: Sequence | None = None, limit: Sequence | None = None,
        *, after: Sequence | None = None, dense: bool | None = None,
    ):
        """Walk from `start` (included) or from `after` (excluded), else from the first row,
        to `limit` (included), else to the last row there is now. `dense`: what the walk of
        the whole table found (a part of it cannot judge by the table's row estimate)."""
        self.session = session
        self.key = key
        self._columns = ", ".join(quote_name(c) for c in key.columns)
        self._source = f"{quote_name(table)} FORCE INDEX ({quote_name(key.index)})"
        self.limit = tuple(limit) if limit is not None else self._last_key()
        lower = start if start is not None else after
        self._lower = tuple(lower) if lower is not None else None
        self._lower_inclusive = start is not None
        self.done = self.limit is None
        self._first = None
        self.dense = False
        """Whether the key is one integer column dense enough to count in (see above)."""
        if not self.done and len(key.columns) == 1 and isinstance(self.limit[0], int):
            if self._lower is None:
                first = self._first_key()
                self._first = first[0] if first else None
            self.dense = isinstance(self._next_value(), int) and (self._is_dense(table) if dense is None else dense)

    def next(self, size: int) -> Chunk | None:
        """The next range of at most `size` rows, or None when the walk has passed `limit`."""
        if self.done:
            return None
        upper = self._boundary(size)
        if upper is None or upper == self.limit:
            upper, self.done = self.limit, True
        chunk = Chunk(self._lower, self._lower_inclusive, upper)
        self._lower, self._lower_inclusive = upper, False
        return chunk

    def _is_dense(self, table: str) -> bool:
        start = self._next_value()
        if start > self.limit[0]:
            return False
        return 2 * self.session.estimated_rows(table) >= self.limit[0] - start + 1

    def _next_value(self) -> int | None:
        """The smallest key value the next chunk can hold (dense keys only)."""
        return self._first if self._lower is None else self._remaining.first_value

    def _boundary(self, size: int) -> tuple | None:
        """Key of the `size`-th row of the next chunk (for a dense key, of the `size`-th key
        value), if it is below the limit."""
        if self.dense:
            upper = self._next_value() + int(size) - 1
            return (upper,) if upper < self.limit[0] else None
        where, params = self._remaining.condition(self.key.columns)
        rows = self.session.rows(
            f"SELECT {self._columns} FROM {self._source} WHERE {where}"
            f" ORDER BY {self._columns} LIMIT 1 OFFSET {int(size) - 1}",
            params,
        )
        return tuple(rows[0]) if rows else None

    @property
    def _remaining(self) -> Chunk:
        """What is left of the walk, as one range."""
        return Chunk(self._lower, self._lower_inclusive, self.limit)

    def _first_key(self) -> tuple | None:
        rows = self.session.rows(f"SELECT {self._columns} FROM {self._source} ORDER BY {self._columns} LIMIT 1")
        return tuple(rows[0]) if rows else None

    def _last_key(self) -> tuple | None:
        descending = ", ".join(f"{quote_name(c)} DESC" for c in self.key.columns)
        rows = self.session.rows(f"SELECT {self._columns} FROM {self._source} ORDER BY {descending} LIMIT 1")
        return tuple(rows[0]) if rows else None


class ChunkSizer:
    """Chunk sizes that aim at a duration, whatever the row width or the server's load.

    A chunk holds share locks on its rows until it commits (and, under
    innodb_autoinc_lock_mode below 2, the new table's AUTO-INC lock every insert needs), so its
    duration, not its row count, is what the application feels. While the application writes
    to the table, chunks aim at `busy_seconds`: its writes wait for at most that long, for a
    few percent of copy speed. While nobody else does, nobody can wait, and chunks aim at
    `target_seconds` for the last bit of speed.

    After each chunk the copy rate is smoothed and the next size set to `rate * target`, but
    never more than doubled or halved at once, and kept within [MIN_ROWS, MAX_ROWS], so that
    one slow chunk (a stall, a flush) cannot send the size swinging. The one exception is the
    safe direction: when the application starts writing, the size drops to the short target
    at once. A target of 0 keeps the initial size.
    """

    MIN_ROWS = 10
    MAX_ROWS = 200_000

    def __init__(self, initial: int, target_seconds: float, busy_seconds: float = 0.0):
        self.size = initial
        self.target = target_seconds
        self.busy_target = busy_seconds
        self.busy = False
        self._rate: float | None = None

    @property
    def watches_writes(self) -> bool:
        """Whether the application's writes change the target (worth asking about them)."""
        return bool(self.target and self.busy_target)

    def record(self, rows: int, seconds: float, busy: bool = False) -> None:
        if not self.target or rows <= 0:
            return
        rate = rows / max(seconds, 1e-4)
        self._rate = rate if self._rate is None else 0.5 * self._rate + 0.5 * rate
        became_busy = busy and not self.busy and self.watches_writes
        self.busy = busy and self.watches_writes
        wanted = self._rate * (self.busy_target if self.busy else self.target)
        floor = self.MIN_ROWS if became_busy else self.size / 2
        self.size = int(min(max(wanted, floor, self.MIN_ROWS), self.size * 2, self.MAX_ROWS))


FIRST_CHUNK_BYTES = 32 * 2**20
"""The most the first chunk reads. Its size in rows is a guess, and on a table of wide rows
(documents, JSON) the default's 2,000 rows can be gigabytes: a first chunk of a minute, its
rows locked all along, then sizes only halving at each chunk."""


def first_chunk_rows(session: Session, table: str, rows: int) -> int:
    """`rows`, or fewer where they would be more than FIRST_CHUNK_BYTES by the table's average
    row length (see Session.table_size)."""
    average = session.table_size(table).average_row
    return max(ChunkSizer.MIN_ROWS, min(rows, FIRST_CHUNK_BYTES // average)) if average else rows


BUSY_WINDOW = 10
"""Seconds after the application's last write to the table during which chunks stay short."""


class WriteWatch:
    """Whether the application writes to `table`, asked of the server at most once a second:
    UPDATE_TIME moves in whole seconds, so a chunk of 50 ms need not ask again."""

    def __init__(self, session: Session, table: str):
        self.session = session
        self.table = table
        self._asked = -1.0
        self._busy = False

    def busy(self) -> bool:
        if time.monotonic() - self._asked >= 1.0:
            self._busy = written_recently(self.session, self.table)
            self._asked = time.monotonic()
        return self._busy


def written_recently(session: Session, table: str, seconds: int = BUSY_WINDOW) -> bool:
    """Whether anyone wrote to `table` in the last `seconds` (to the second).

    Only the application writes to the original table (the copy writes to the shadow), and
    InnoDB keeps the time of each table's last change in memory, shown as UPDATE_TIME (live on
    MariaDB; MySQL 8 caches it unless information_schema_stats_expiry is 0, as our sessions set).
    """
    return bool(session.value(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s"
        " AND UPDATE_TIME >= NOW() - INTERVAL %s SECOND", [table, seconds],
    ))
