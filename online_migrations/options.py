"""The knobs of a run, with their defaults and their checks.

One dataclass serves every entry point, so an option means the same thing whether it comes
from a migration file, the command line or a direct call, and a misspelt one is an error
rather than silently ignored.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterator

from django.conf import settings

from .copier import STATEMENT_SECONDS
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


def option(default: Any, help: str) -> Any:
    """A field with its help text, which the command line and its --help show."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Options:
    chunk_size: int = option(
        2000, "Rows in the first chunk (fewer where they would be more than 32 MiB); with chunk_time 0, in every "
        "chunk.",
    )
    chunk_time: float = option(
        0.5,
        "Seconds one chunk should take while nobody else writes to the table. A chunk holds share "
        "locks on its rows until it commits, so chunk sizes follow the server's pace to keep that "
        "time. 0 keeps chunk_size fixed.",
    )
    busy_chunk_time: float = option(
        0.05,
        "Seconds one chunk should take while the application writes to the table (it did in the last "
        "10 s): it is copied by statements of busy_statement_time, each committed on its own. 0: "
        "chunk_time always.",
    )
    busy_statement_time: float = option(
        STATEMENT_SECONDS,
        "Seconds one statement of a busy chunk should take: the application's writes to its rows (with "
        "innodb_autoinc_lock_mode below 2, all its inserts) wait for the statement in progress. "
        "Halved, it left 1.1-2.5% of the benchmark load's operations during the copy over its p99 limit "
        "instead of 3.3-4.8%, for a loaded copy about 1.5 times as long.",
    )
    throttle: float = option(0.0, "Seconds to pause after each chunk, leaving the server room for the application.")
    keep_old_table: bool = option(
        False,
        "Keep the original table as _<table>_old after the swap instead of dropping it (its rows; its foreign "
        "keys are dropped, or they would refuse deletes in the tables they reference).",
    )
    postpone_cutover: bool = option(
        False,
        "After the copy, keep the new table in step and wait to swap until `online_migration cutover "
        "<table>` is run (migrate keeps waiting; stop it and run migrate again later if you like).",
    )
    defer_indexes: bool = option(
        True,
        "Build the new table's plain secondary indexes after the copy, in one in-place ALTER, instead of "
        "row by row during it (much faster); unique keys and those foreign keys need stay.",
    )
    verify: bool = option(
        True,
        "Before the swap, compare the two tables chunk by chunk (checksums of the copied columns in one "
        "snapshot); a difference stops the run, unswapped. Costs about one more read of both tables, "
        "done during the index build when the table is idle as the copy ends.",
    )
    lock_wait_timeout: int = option(
        1,
        "Seconds one DDL statement (triggers, swap, drops) may wait for a metadata lock before it gives "
        "way and retries. The application's queries queue behind a waiting DDL, so this stays short.",
    )
    max_child_rows: int = option(
        100000,
        "Largest child table (rows, by the server's estimate) whose foreign keys to the table are moved "
        "to the new table at the swap; a bigger child stops the run before it starts.",
    )
    ddl_retries: int = option(30, "Retries of a DDL statement after a metadata lock timeout.")
    copy_retries: int = option(
        20, "Retries of a chunk (or of one of its statements, where it commits them one by one) after a deadlock "
        "or a row lock timeout.",
    )
    reconnect_retries: int = option(8, "Reconnections after the copy loses its connection (backoff up to 10 s).")
    progress_interval: float = option(5.0, "Seconds between two progress lines in the log.")
    allow_drift: bool = option(
        False, "Go on when the live table differs from what the migration history says (logged as a warning)."
    )
    max_load: dict[str, float] | str | None = option(
        None,
        "Pause the copy while a global status variable is above its limit, e.g. "
        "'Threads_running=25,Threads_connected=400' (or a dict). "
        "Default: Threads_running above max(25, 2 x its value at start).",
    )
    critical_load: dict[str, float] | str | None = option(
        None,
        "Stop the copy (resumable) when a status variable is above its limit in two readings in a row. "
        "Default: Threads_running above max(50, 4 x its value at start, 2 x the max_load limit).",
    )
    max_lag: float = option(1.0, "Seconds a replica may lag behind before the copy pauses.")
    replicas: list[str] | str | None = option(
        None,
        "Replicas whose lag pauses the copy: Django database aliases or mysql://user:password@host:port "
        "URLs (a list, or one comma-separated string). Default: those the primary knows (SHOW SLAVE "
        "HOSTS; the replicas need report_host). An empty list or string: none.",
    )
    check_interval: float = option(1.0, "Seconds between two looks at the replicas, and between checks while paused.")
    unknown_lag_timeout: float = option(
        300.0,
        "Seconds a replica's lag may stay unknown (replication stopped) before the copy stops; it waits meanwhile.",
    )
    instant: bool = option(
        True,
        "Online operations: make the change with ALGORITHM=INSTANT, without a copy, when the server can "
        "(tried on an empty copy of the table first).",
    )

    @classmethod
    def from_kwargs(cls, where: str, **kwargs: Any) -> "Options":
        """Options from keyword arguments, over those of the command line, over the
        ONLINE_MIGRATIONS setting, over the defaults; None means "not given"."""
        configured = getattr(settings, "ONLINE_MIGRATIONS", {}) if settings.configured else {}
        cls._check_names("settings.ONLINE_MIGRATIONS", configured)
        cls._check_names(where, kwargs)
        given = {name: value for name, value in kwargs.items() if value is not None}
        options = replace(cls(), **{**configured, **_command_line.get(), **given})
        options._check(where)
        return options

    @classmethod
    def _check_names(cls, where: str, given: dict[str, Any]) -> None:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise OnlineMigrationError(
                f"{where}: unknown option(s) {', '.join(unknown)}. Known options are: {', '.join(sorted(known))}. "
                "Check the spelling in the migration file, the setting or the command line."
            )

    def _check(self, where: str) -> None:
        problems = []
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            problems.append(f"chunk_size must be a whole number of rows >= 1, not {self.chunk_size!r}")
        for name, zero_ok in (("throttle", True), ("progress_interval", True), ("chunk_time", True),
                              ("busy_chunk_time", True), ("busy_statement_time", False)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
                problems.append(f"{name} must be a number of seconds {'>= 0' if zero_ok else '> 0'}, not {value!r}")
        if not isinstance(self.lock_wait_timeout, int) or self.lock_wait_timeout < 1:
            problems.append(f"lock_wait_timeout must be a whole number of seconds >= 1, not {self.lock_wait_timeout!r}")
        for name in ("ddl_retries", "copy_retries", "reconnect_retries", "max_child_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                problems.append(f"{name} must be a whole number >= 0, not {value!r}")
        problems += throttle_problems(self)
        if problems:
            raise OnlineMigrationError(f"{where}: " + "; ".join(problems) + ".")
