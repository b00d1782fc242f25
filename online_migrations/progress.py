"""Progress of a copy, for people watching a long run: rows, rate, ETA, and a summary.

The row total is the server's estimate (InnoDB statistics), which can be off by tens of
percent; the ETA says so by never pretending to more precision than it has.
"""

import logging
import time
from datetime import timedelta

from .sql import quote_name

logger = logging.getLogger("online_migrations")


class Progress:
    def __init__(self, table: str, estimated_rows: int, interval: float):
        self.table = table
        self.estimated_rows = max(int(estimated_rows or 0), 0)
        self.interval = interval
        self.rows = 0
        self.chunks = 0
        self.started = time.monotonic()
        self._last_report = self.started

    def add(self, rows: int) -> None:
        self.rows += rows
        self.chunks += 1
        now = time.monotonic()
        if now - self._last_report >= self.interval:
            self._last_report = now
            logger.info("%s", self.line())

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        total = max(self.estimated_rows, self.rows)
        text = f"{quote_name(self.table)}: copied {self.rows:,} of ~{total:,} rows"
        if total:
            text += f" ({100 * self.rows / total:.0f}%)"
        text += f", {rate:,.0f} rows/s"
        if rate > 0 and total > self.rows:
            text += f", ETA {_duration((total - self.rows) / rate)}"
        return text

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        return (
            f"{quote_name(self.table)}: copy done: {self.rows:,} rows in {self.chunks:,} chunks,"
            f" {_duration(elapsed)} ({rate:,.0f} rows/s)"
        )


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
