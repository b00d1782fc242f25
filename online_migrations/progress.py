"""Progress of a copy, for people watching a long run: rows, rate, ETA, and a summary.

The row total is the server's estimate (InnoDB statistics), which can be off by tens of
percent; the ETA is only as good as that. Lines go to the `online_migrations` logger at INFO
every `interval` seconds; a DEBUG record with the numbers goes out twice a second for live
displays (the command draws a progress bar from them on a terminal).
"""

import logging
import time
from datetime import timedelta

from .sql import quote_name

logger = logging.getLogger("online_migrations")

TICK = 0.5


class Progress:
    def __init__(self, table: str, estimated_rows: int, interval: float):
        self.table = table
        self.estimated_rows = max(int(estimated_rows or 0), 0)
        self.interval = interval
        self.rows = 0
        self.chunks = 0
        self.started = time.monotonic()
        self._last_line = self._last_tick = self.started

    def add(self, rows: int) -> None:
        self.rows += rows
        self.chunks += 1
        now = time.monotonic()
        if now - self._last_tick >= TICK:
            self._last_tick = now
            logger.debug("%s", self.line(), extra={"progress": (self.rows, self.total)})
        if now - self._last_line >= self.interval:
            self._last_line = now
            logger.info("%s", self.line())

    @property
    def total(self) -> int:
        return max(self.estimated_rows, self.rows)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self) -> str:
        rate = self.rows / self.elapsed if self.elapsed > 0 else 0.0
        text = f"{quote_name(self.table)}: copied {self.rows:,} of ~{self.total:,} rows"
        if self.total:
            text += f" ({100 * self.rows / self.total:.0f}%)"
        text += f", {rate:,.0f} rows/s"
        if rate > 0 and self.total > self.rows:
            text += f", ETA {duration((self.total - self.rows) / rate)}"
        return text

    def finish(self, waits: dict[str, float]) -> None:
        """The summary line, marked as the last one of the copy: a live display takes its
        progress bar down there."""
        logger.info("%s", self.summary(waits), extra={"copy_done": True})

    def summary(self, waits: dict[str, float]) -> str:
        """The copy's totals, and where time went that was not copying (by reason)."""
        rate = self.rows / self.elapsed if self.elapsed > 0 else 0.0
        text = (
            f"{quote_name(self.table)}: copy done: {self.rows:,} rows in {self.chunks:,} chunks,"
            f" {duration(self.elapsed)} ({rate:,.0f} rows/s)"
        )
        spent = [f"{reason} {seconds:.1f}s" for reason, seconds in waits.items() if seconds >= 0.05]
        return text + ("; waited: " + ", ".join(spent) if spent else "")


def duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
