"""The knobs of a run, with their defaults and their checks.

One dataclass serves every entry point, so an option means the same thing whether it comes
from a migration file, the command line or a direct call, and a misspelt one is an error
rather than silently ignored.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any, Iterator

from .errors import OnlineMigrationError
from .throttler import throttle_problems

_command_line: ContextVar[dict[str, Any]] = ContextVar("command_line", default={})


@contextmanager
def command_line_options(**given: Any) -> Iterator[None]:
    """Options from the command line, in force for every call made inside the block, also
    those from migration functions that do not pass their keyword arguments on (the seed's
    `rename(**kwargs)` calls `finish_migration(alias, table)`)."""
    token = _command_line.set({name: value for name, value in given.items() if value is not None})
    try:
        yield
    finally:
        _command_line.reset(token)


@dataclass(frozen=True)
class Options:
    chunk_size: int = 2000
    """Rows in the first chunk; with `chunk_time` 0, in every chunk."""

    chunk_time: float = 0.5
    """Seconds one chunk should take: each chunk holds share locks on its rows until it commits,
    so the sizes follow the server's pace to keep that time. 0 keeps `chunk_size` fixed."""

    throttle: float = 0.0
    """Seconds to sleep after each chunk, to leave the server room for the application."""

    keep_old_table: bool = False
    """Keep the original table (renamed `_<table>_old`) after the swap instead of dropping it."""

    lock_wait_timeout: int = 1
    """Seconds one DDL statement of ours may wait for a metadata lock before it gives way and
    retries; the application's queries queue behind a waiting DDL, so this stays short (the
    server's minimum is 1)."""

    ddl_retries: int = 30
    """How many times a DDL statement is retried after a metadata lock timeout."""

    copy_retries: int = 20
    """How many times one chunk is retried after a deadlock or a row lock timeout."""

    reconnect_retries: int = 8
    """How many times the copy reconnects after losing its connection (backoff up to 10 s)."""

    progress_interval: float = 5.0
    """Seconds between two progress lines in the log."""

    allow_drift: bool = False
    """Go on when the live table differs from what the migration history says (a warning is logged)."""

    max_load: dict[str, float] | str | None = None
    """Pause the copy while a global status variable is above its limit: {"Threads_running": 25}
    or "Threads_running=25,Threads_connected=400". Default: Threads_running above
    max(25, 2 x its value at start) (see `throttler.default_max_load`)."""

    critical_load: dict[str, float] | str | None = None
    """Stop the copy (it can be resumed) when a status variable stays above its limit for two
    readings. Default: Threads_running above max(50, 4 x at start, 2 x the max_load limit)."""

    max_lag: float = 1.0
    """Seconds a replica may lag behind before the copy pauses (pt-online-schema-change's default)."""

    replicas: list[str] | str | None = None
    """Replicas whose lag pauses the copy: Django database aliases or URLs
    "mysql://user:password@host:port" (a list, or one comma-separated string). None: found on
    the primary (SHOW SLAVE HOSTS, which needs report_host on the replicas); []: none."""

    check_interval: float = 1.0
    """Seconds between two looks at the replicas, and between two checks while paused."""

    unknown_lag_timeout: float = 300.0
    """Seconds a replica's lag may stay unknown (replication threads stopped) before the copy
    stops; it waits meanwhile."""

    @classmethod
    def from_kwargs(cls, where: str, **kwargs: Any) -> "Options":
        """Options from keyword arguments, over those of the command line, over the defaults;
        None means "not given"."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise OnlineMigrationError(
                f"{where}: unknown option(s) {', '.join(unknown)}. "
                f"Known options are: {', '.join(sorted(known))}. Check the spelling in the "
                "migration file or on the command line."
            )
        given = {name: value for name, value in kwargs.items() if value is not None}
        options = replace(cls(), **{**_command_line.get(), **given})
        options._check(where)
        return options

    def _check(self, where: str) -> None:
        problems = []
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            problems.append(f"chunk_size must be a whole number of rows >= 1, not {self.chunk_size!r}")
        for name in ("throttle", "progress_interval", "chunk_time"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                problems.append(f"{name} must be a number of seconds >= 0, not {value!r}")
        if not isinstance(self.lock_wait_timeout, int) or self.lock_wait_timeout < 1:
            problems.append(f"lock_wait_timeout must be a whole number of seconds >= 1, not {self.lock_wait_timeout!r}")
        for name in ("ddl_retries", "copy_retries", "reconnect_retries"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                problems.append(f"{name} must be a whole number >= 0, not {value!r}")
        problems += throttle_problems(self)
        if problems:
            raise OnlineMigrationError(f"{where}: " + "; ".join(problems) + ".")
